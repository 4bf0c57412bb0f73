//! The container's filesystem view: mounts, devices, pivot_root, masked and
//! read-only paths, sysctls.
//!
//! Order (the init stage drives it): [`prepare`] in the new mount namespace
//! (propagation, rootfs bind, config mounts, devices, /dev symlinks), the
//! createContainer hooks, [`pivot`], [`finalize`] (sysctls, read-only and
//! masked paths, read-only root), then [`mount_console`] if there is a
//! terminal. [`validate`] runs in the parent before anything is created.
//!
//! Every path inside the rootfs is resolved with openat2(RESOLVE_IN_ROOT)
//! and mounted onto by descriptor (secure_path, sys): symlinks in the
//! container's rootfs can never lead a mount out of it.

// MS_* are c_ulong (u64 here, u32 on 32-bit targets): the casts to u64
// are needed for portability even where clippy sees them as no-ops.
#![allow(clippy::unnecessary_cast)]

mod attach;
mod cgroup_mount;
mod console;
mod copyup;
mod devices;
mod masked;
mod mount;
mod mount_spec;
mod mountinfo;
mod options;
mod pivot;
mod propagation;
mod readonly;
mod secure_path;
mod sys;
mod sysctl;
mod validate;

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Mount options the runtime handles itself (runtime-spec `features`).
pub use options::KNOWN as MOUNT_OPTIONS;

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
    /// The container's cgroup: without a cgroup namespace its directories are
    /// what a cgroup mount shows. The init may not be inside it yet (the
    /// parent moves it in concurrently), so /proc/self/cgroup cannot tell.
    pub cgroup: Option<&'a crate::cgroups::CgroupManager>,
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path("opening", path, e.into()))
}

/// Runs in the container's mount namespace, before pivot_root: propagation,
/// the rootfs bind, every config mount, devices and /dev symlinks.
pub fn prepare(ctx: &RootfsContext) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    propagation::prepare_root(
        ctx.rootfs,
        linux.and_then(|l| l.rootfs_propagation().as_deref()),
    )?;
    // Opened after the bind, so the descriptor is on the rootfs mount itself.
    let root = open_dir(ctx.rootfs)?;
    let mounts = ctx
        .spec
        .mounts()
        .iter()
        .flatten()
        .map(mount_spec::Spec::new)
        .collect::<Result<Vec<_>>>()?;
    let is_dev = |m: &&mount_spec::Spec| m.dest == Path::new("/dev");
    let dev_bind = mounts
        .iter()
        .filter(is_dev)
        .any(|m| m.kind == mount_spec::MountKind::Bind);
    // A read-only /dev gets its nodes first, then becomes read-only.
    let dev_ro = !dev_bind
        && mounts
            .iter()
            .rfind(is_dev)
            .is_some_and(|m| m.opts.flags & libc::MS_RDONLY as u64 != 0);
    for m in &mounts {
        mount::apply(root.as_fd(), ctx, m, dev_ro && m.dest == Path::new("/dev"))?;
    }
    if !dev_bind {
        let nodes = devices::plan(
            linux
                .and_then(|l| l.devices().as_deref())
                .unwrap_or_default(),
        )?;
        let dev = devices::open_dev(root.as_fd())?;
        devices::create(root.as_fd(), dev.as_fd(), &nodes, ctx.in_userns)?;
        let devpts = mounts.iter().any(|m| {
            m.dest == Path::new("/dev/pts") && m.kind == mount_spec::MountKind::Fs("devpts".into())
        });
        devices::symlinks(dev.as_fd(), devpts)?;
    }
    if dev_ro {
        let dev = secure_path::open_path(root.as_fd(), Path::new("/dev"))
            .map_err(|e| Error::path("reopening", "/dev", e.into()))?;
        let attr = sys::MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        attach::set_attr(dev.as_fd(), false, &attr)
            .map_err(|e| Error::path("making read-only", "/dev", e))?;
    }
    Ok(())
}

/// Makes the rootfs the container's `/` (pivot_root, or MS_MOVE + chroot).
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        pivot::move_root(rootfs)
    } else {
        pivot::pivot(rootfs)
    }
}

/// After pivot_root: the explicit root propagation, sysctls (before
/// /proc/sys may become read-only), read-only paths, masked paths, and a
/// read-only root.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    propagation::apply_after_pivot(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    if let Some(map) = linux.and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(map)?;
    }
    let ro_paths = linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or_default();
    let masked = linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or_default();
    let ro_root = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if ro_paths.is_empty() && masked.is_empty() && !ro_root {
        return Ok(());
    }
    let root = open_dir(Path::new("/"))?;
    readonly::apply(root.as_fd(), ro_paths)?;
    masked::apply(root.as_fd(), masked)?;
    if ro_root {
        readonly::root(root.as_fd())?;
    }
    Ok(())
}

/// Checks mounts, devices, paths and sysctls before anything is created.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    validate::validate(spec, bundle)
}

/// Binds the terminal's pty slave (a path in the container, e.g.
/// /dev/pts/0) onto /dev/console. Runs after pivot_root.
pub fn mount_console(slave: &Path) -> Result<()> {
    mount_console_in(Path::new("/"), slave)
}

/// [`mount_console`] for a root that is not (yet) `/`.
pub fn mount_console_in(root: &Path, slave: &Path) -> Result<()> {
    let root = open_dir(root)?;
    console::mount(root.as_fd(), slave)
}

/// Creates every config mount's destination in `rootfs` (resolved inside it), for criu:
/// a restore mounts onto what the dumped container had, and a fresh rootfs (say a new
/// snapshot of the image) lacks the directories the original runtime made. Mounts
/// below a tmpfs are skipped: criu brings back the tmpfs with its content.
pub fn make_mountpoints(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    let root = open_dir(rootfs)?;
    let mounts = spec
        .mounts()
        .iter()
        .flatten()
        .map(mount_spec::Spec::new)
        .collect::<Result<Vec<_>>>()?;
    let tmpfs: Vec<&Path> = mounts
        .iter()
        .filter(|m| m.kind == mount_spec::MountKind::Fs("tmpfs".into()))
        .map(|m| m.dest.as_path())
        .collect();
    for m in &mounts {
        if tmpfs.iter().any(|t| m.dest != *t && m.dest.starts_with(t)) {
            continue;
        }
        let kind = match m.kind {
            mount_spec::MountKind::Bind => {
                let source = m.bind_source(bundle)?;
                match std::fs::metadata(&source) {
                    Ok(meta) if !meta.is_dir() => secure_path::Kind::File,
                    _ => secure_path::Kind::Dir,
                }
            }
            _ => secure_path::Kind::Dir,
        };
        m.target(root.as_fd(), kind)?;
    }
    Ok(())
}
