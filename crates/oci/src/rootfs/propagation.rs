//! Mount propagation of the container's mount namespace, and the rootfs
//! bind onto itself that pivot_root needs.

use super::mountinfo;
use super::options::propagation_flag;
use super::sys;
use crate::error::{Context, Error, Result};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The propagation `linux.rootfsPropagation` asks for (runc's default:
/// rslave, so host mounts still reach the container but not the reverse).
pub fn root_flag(value: Option<&str>) -> Result<u64> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok((libc::MS_SLAVE | libc::MS_REC) as u64),
        Some(v) => propagation_flag(v).ok_or_else(|| {
            Error::Spec(format!(
                "linux.rootfsPropagation {v:?}: unknown propagation"
            ))
        }),
    }
}

fn c(path: &Path) -> Result<std::ffi::CString> {
    sys::cstring(&String::from_utf8_lossy(path.as_os_str().as_bytes()))
        .ctx(|| format!("path {}", path.display()))
}

/// Sets the namespace's propagation, makes the rootfs's parent mount
/// private (pivot_root refuses shared parents, and our bind must not
/// propagate back to the host) and binds the rootfs onto itself.
pub fn prepare_root(rootfs: &Path, propagation: Option<&str>) -> Result<()> {
    let mut flag = root_flag(propagation)?;
    // An unbindable / would refuse the rootfs bind below: start from rslave
    // and leave unbindable to apply_after_pivot, on the new root.
    if flag & libc::MS_UNBINDABLE as u64 != 0 {
        flag = (libc::MS_SLAVE | libc::MS_REC) as u64;
    }
    sys::mount(None, c"/", None, flag, None)
        .ctx(|| "setting the propagation of / in the container".into())?;
    let rec = (libc::MS_REC as u64) & flag != 0;
    let unshared = flag & (libc::MS_SLAVE | libc::MS_PRIVATE) as u64 != 0;
    // After a recursive slave/private change nothing is shared any more:
    // reading mountinfo would only cost time.
    if !(rec && unshared) {
        make_parent_private(rootfs)?;
    }
    let target = c(rootfs)?;
    sys::mount(
        Some(&target),
        &target,
        None,
        (libc::MS_BIND | libc::MS_REC) as u64,
        None,
    )
    .ctx(|| format!("binding the rootfs {} onto itself", rootfs.display()))
}

fn make_parent_private(rootfs: &Path) -> Result<()> {
    let mounts = mountinfo::read()?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = parent.filter(|m| m.is_shared()) {
        sys::mount(
            None,
            &c(&m.mount_point)?,
            None,
            libc::MS_PRIVATE as u64,
            None,
        )
        .ctx(|| {
            format!(
                "making {} (the rootfs's parent mount) private",
                m.mount_point.display()
            )
        })?;
    }
    Ok(())
}

/// Re-applies an explicit rootfsPropagation to the new `/` after pivot_root
/// (the rootfs bind itself was made private/slave through its parent).
pub fn apply_after_pivot(propagation: Option<&str>) -> Result<()> {
    if let Some(v) = propagation.filter(|v| !v.is_empty()) {
        let flag = root_flag(Some(v))?;
        sys::mount(None, c"/", None, flag, None)
            .ctx(|| format!("linux.rootfsPropagation {v:?} on the new /"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_rslave_and_unknown_is_refused() {
        assert_eq!(
            root_flag(None).unwrap(),
            (libc::MS_SLAVE | libc::MS_REC) as u64
        );
        assert_eq!(
            root_flag(Some("")).unwrap(),
            (libc::MS_SLAVE | libc::MS_REC) as u64
        );
        assert_eq!(
            root_flag(Some("rshared")).unwrap(),
            (libc::MS_SHARED | libc::MS_REC) as u64
        );
        let e = root_flag(Some("sideways")).unwrap_err().to_string();
        assert!(
            e.contains("rootfsPropagation") && e.contains("sideways"),
            "{e}"
        );
    }
}
