//! Applying one config.json mount inside the rootfs.
//!
//! The target is always an O_PATH descriptor resolved inside the rootfs
//! (secure_path); mount(2) gets `/proc/self/fd/N` (the host's procfs: this
//! runs before pivot_root) or the new mount API gets the descriptor itself.

use super::attach::{bind, propagate, set_attr};
use super::mount_spec::{c_path, MountKind, Spec};
use super::secure_path::{self, Kind};
use super::sys;
use super::{cgroup_mount, copyup, RootfsContext};
use crate::error::{Context, Error, Result};
use nix::fcntl::OFlag;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Applies one mount. `strip_ro` defers MS_RDONLY (for /dev, which gets
/// device nodes before it is made read-only).
pub fn apply(root: BorrowedFd, ctx: &RootfsContext, m: &Spec, strip_ro: bool) -> Result<()> {
    match &m.kind {
        MountKind::Bind => apply_bind(root, ctx, m),
        MountKind::Proc | MountKind::Sysfs => apply_kernel_fs(root, m),
        MountKind::Cgroup | MountKind::Cgroup2 => cgroup_mount::apply(root, ctx, m),
        MountKind::Fs(t) => apply_fs(root, m, t, strip_ro),
    }
}

fn apply_bind(root: BorrowedFd, ctx: &RootfsContext, m: &Spec) -> Result<()> {
    if m.opts.flags & libc::MS_REMOUNT as u64 != 0 {
        // "bind,remount,ro": change the bind already at the destination.
        let top = secure_path::open_path(root, &m.dest)
            .map_err(|e| Error::path("remount", &m.dest, e.into()))?;
        set_attr(top.as_fd(), false, &m.opts.bind_attr()).ctx(m.err("remounting"))?;
        return post_mount(top.as_fd(), m);
    }
    let source = m.bind_source(ctx.bundle)?;
    let meta = std::fs::metadata(&source).map_err(|e| Error::path("bind source", &source, e))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = m.target(root, kind)?;
    bind(&c_path(&source)?, target.as_fd(), &m.opts, (root, &m.dest))
        .ctx(m.err(&format!("binding {}", source.display())))?;
    Ok(())
}

/// proc and sysfs: only on a real directory (never through a symlink), and
/// verified by statfs afterwards (CVE-2019-19921, CVE-2019-16884).
fn apply_kernel_fs(root: BorrowedFd, m: &Spec) -> Result<()> {
    let (fstype, magic) = match m.kind {
        MountKind::Proc => (c"proc", libc::PROC_SUPER_MAGIC),
        _ => (c"sysfs", libc::SYSFS_MAGIC),
    };
    let name = fstype.to_str().unwrap_or_default();
    let target = open_plain_dir(root, &m.dest, name)?;
    let data = c_data(m)?;
    sys::mount(
        Some(&m.fs_source()?),
        &sys::fd_path(target.as_fd()),
        Some(fstype),
        m.opts.flags,
        data.as_deref(),
    )
    .ctx(m.err(&format!("mounting {name}")))?;
    let top = open_plain_dir(root, &m.dest, name)?;
    let got = sys::fs_type(top.as_fd()).ctx(m.err("statfs"))?;
    if got != magic {
        return Err(Error::Mount(format!(
            "{}: expected a {name} filesystem after mounting it, found type {got:#x}",
            m.dest.display()
        )));
    }
    post_mount(top.as_fd(), m)
}

/// An O_PATH descriptor of a directory that is not a symlink, created if
/// missing.
fn open_plain_dir(root: BorrowedFd, dest: &Path, fs: &str) -> Result<OwnedFd> {
    match secure_path::open(
        root,
        dest,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY,
    ) {
        Ok(fd) => Ok(fd),
        Err(nix::errno::Errno::ENOENT) => secure_path::open_or_create(root, dest, Kind::Dir),
        Err(e) => Err(Error::Mount(format!(
            "{}: filesystem {fs:?} must be mounted on an ordinary directory ({e})",
            dest.display()
        ))),
    }
}

fn c_data(m: &Spec) -> Result<Option<CString>> {
    let d = m.opts.data();
    if d.is_empty() {
        return Ok(None);
    }
    CString::new(d)
        .map(Some)
        .map_err(|_| Error::Spec(format!("mount {}: options contain NUL", m.dest.display())))
}

/// Recursive attributes and propagation for a mount we just made.
fn post_mount(top: BorrowedFd, m: &Spec) -> Result<()> {
    set_attr(top, true, &m.opts.recursive).ctx(m.err("applying recursive mount options"))?;
    propagate(top, &m.opts.propagation).ctx(m.err("changing mount propagation"))
}

fn apply_fs(root: BorrowedFd, m: &Spec, fstype: &str, strip_ro: bool) -> Result<()> {
    let c_type = CString::new(fstype).map_err(|_| Error::Spec("mount type contains NUL".into()))?;
    let data = c_data(m)?;
    let mut flags = m.opts.flags;
    if strip_ro {
        flags &= !(libc::MS_RDONLY as u64);
    }
    if flags & libc::MS_REMOUNT as u64 != 0 {
        // A remount acts on the mount already at the destination.
        let top = secure_path::open_path(root, &m.dest)
            .map_err(|e| Error::path("remount", &m.dest, e.into()))?;
        sys::mount(
            None,
            &sys::fd_path(top.as_fd()),
            Some(&c_type),
            flags,
            data.as_deref(),
        )
        .ctx(m.err("remounting"))?;
        return post_mount(top.as_fd(), m);
    }
    let target = m.target(root, Kind::Dir)?;
    // tmpcopyup reads the directory the tmpfs is about to hide.
    let under = if m.opts.tmpcopyup {
        Some(
            secure_path::open(root, &m.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .ctx(m.err("opening for tmpcopyup"))?,
        )
    } else {
        None
    };
    sys::mount(
        Some(&m.fs_source()?),
        &sys::fd_path(target.as_fd()),
        Some(&c_type),
        flags,
        data.as_deref(),
    )
    .ctx(m.err(&format!("mounting {fstype}")))?;
    let needs_top =
        under.is_some() || !m.opts.recursive.is_empty() || !m.opts.propagation.is_empty();
    if needs_top {
        let top = secure_path::open(root, &m.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(m.err("reopening"))?;
        if let Some(under) = under {
            copyup::copy_dir(under.as_fd(), top.as_fd()).ctx(m.err("tmpcopyup"))?;
        }
        post_mount(top.as_fd(), m)?;
    }
    Ok(())
}
