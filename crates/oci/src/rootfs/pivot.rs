//! Making the rootfs the container's `/`.
//!
//! pivot_root(".", "."): stacks the old root on top of the new one, so it
//! can be detached from inside without a put_old directory in the rootfs.
//! With --no-pivot (ramdisks, where pivot_root is impossible): MS_MOVE the
//! rootfs onto / and chroot, after hiding the host's proc and sysfs mounts
//! that chroot would otherwise leave in the namespace.

use super::mount_spec::c_path;
use super::{mountinfo, sys};
use crate::error::{Context, Result};
use nix::fcntl::OFlag;
use nix::mount::MntFlags;
use nix::sys::stat::Mode;
use std::path::Path;

pub fn pivot(rootfs: &Path) -> Result<()> {
    let dir = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let old = nix::fcntl::open("/", dir, Mode::empty()).ctx(|| "opening the old /".into())?;
    let new = nix::fcntl::open(rootfs, dir, Mode::empty())
        .ctx(|| format!("opening the rootfs {}", rootfs.display()))?;
    nix::unistd::fchdir(&new).ctx(|| format!("chdir to the rootfs {}", rootfs.display()))?;
    nix::unistd::pivot_root(".", ".").ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    nix::unistd::fchdir(&old).ctx(|| "chdir to the old root".into())?;
    // The old root must not propagate our unmount to the host.
    sys::mount(
        None,
        c".",
        None,
        (libc::MS_SLAVE | libc::MS_REC) as u64,
        None,
    )
    .ctx(|| "making the old root a slave".into())?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".into())
}

pub fn move_root(rootfs: &Path) -> Result<()> {
    hide_host_kernel_fs(rootfs)?;
    nix::unistd::chdir(rootfs).ctx(|| format!("chdir to the rootfs {}", rootfs.display()))?;
    sys::mount(
        Some(&c_path(rootfs)?),
        c"/",
        None,
        libc::MS_MOVE as u64,
        None,
    )
    .ctx(|| format!("moving the rootfs {} onto /", rootfs.display()))?;
    nix::unistd::chroot(".").ctx(|| "chroot into the rootfs".into())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".into())
}

/// Host procfs/sysfs mounts outside the rootfs stay in the namespace under
/// chroot; the kernel lets a user namespace mount procfs when a full one is
/// visible there, so detach them (or cover them when that is refused).
fn hide_host_kernel_fs(rootfs: &Path) -> Result<()> {
    let mut mounts: Vec<_> = mountinfo::read()?
        .into_iter()
        .filter(|m| matches!(m.fs_type.as_str(), "proc" | "sysfs"))
        .filter(|m| !m.mount_point.starts_with(rootfs) && !rootfs.starts_with(&m.mount_point))
        .collect();
    // Deepest first, so parents are still there while children go.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.mount_point.as_os_str().len()));
    for m in mounts {
        let target = c_path(&m.mount_point)?;
        match nix::mount::umount2(&m.mount_point, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(_) => {
                sys::mount(
                    Some(c"tmpfs"),
                    &target,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY as u64,
                    None,
                )
                .ctx(|| {
                    format!(
                        "covering the host's {} for --no-pivot",
                        m.mount_point.display()
                    )
                })?;
            }
        }
    }
    Ok(())
}
