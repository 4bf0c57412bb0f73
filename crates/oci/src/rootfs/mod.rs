//! The container's filesystem view: mounts, devices, pivot_root, masked and
//! read-only paths. (Placeholder interface; the implementation lands here.)

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::Path;

/// What the init stage knows when it builds the rootfs.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    /// Absolute host path of the rootfs.
    pub rootfs: &'a Path,
    /// Absolute host path of the bundle (relative bind sources resolve here).
    pub bundle: &'a Path,
    /// The init runs in a new user namespace: mknod is impossible, bind devices.
    pub in_userns: bool,
    /// The container has its own cgroup namespace (affects cgroup mounts).
    pub new_cgroupns: bool,
}

/// Runs in the container's mount namespace, before pivot_root: propagation,
/// the rootfs bind, every config mount, devices and /dev symlinks.
pub fn prepare(ctx: &RootfsContext) -> Result<()> {
    // TEMPORARY (lead's scaffolding until the rootfs module lands).
    use nix::mount::{mount, MsFlags};
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).map_err(|e| Error::Mount(e.to_string()))?;
    mount(Some(ctx.rootfs), ctx.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).map_err(|e| Error::Mount(e.to_string()))?;
    mount(Some("proc"), &ctx.rootfs.join("proc"), Some("proc"), MsFlags::empty(), None::<&str>).map_err(|e| Error::Mount(e.to_string()))?;
    Ok(())
}

/// Makes the rootfs the container's `/` (pivot_root, or MS_MOVE + chroot).
pub fn pivot(rootfs: &Path, _no_pivot: bool) -> Result<()> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let e = |e: nix::Error| Error::Mount(e.to_string());
    nix::unistd::chdir(rootfs).map_err(e)?;
    nix::unistd::pivot_root(".", ".").map_err(e)?;
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).map_err(e)?;
    umount2(".", MntFlags::MNT_DETACH).map_err(e)?;
    nix::unistd::chdir("/").map_err(e)?;
    Ok(())
}

/// After pivot_root: masked paths, read-only paths, read-only root.
pub fn finalize(_spec: &Spec) -> Result<()> {
    Ok(())
}

/// Checks mounts and sysctls before anything is created.
pub fn validate(_spec: &Spec, _bundle: &Path) -> Result<()> {
    Ok(())
}

/// Binds the terminal's pty slave onto /dev/console.
pub fn mount_console(_slave: &Path) -> Result<()> {
    Ok(())
}
