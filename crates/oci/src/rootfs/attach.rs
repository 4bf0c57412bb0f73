//! Mount primitives on descriptors: binding a host path or an fd onto a
//! target fd, changing attributes and propagation. Each uses the new mount
//! API (open_tree, mount_setattr, move_mount) and falls back to mount(2)
//! on `/proc/self/fd/N` where the kernel lacks it.

use super::options::MountOptions;
use super::secure_path;
use super::sys::{self, MountAttr};
use nix::fcntl::OFlag;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

/// Binds `source` (a host path) onto `target`, then applies the options'
/// attributes and propagation. With the new mount API the attributes are
/// set on the detached copy, so the mount never appears writable.
/// `at` (root descriptor, container path of `target`) finds the new mount
/// again on kernels without the new API.
pub fn bind(
    source: &CString,
    target: BorrowedFd,
    opts: &MountOptions,
    at: (BorrowedFd, &Path),
) -> std::io::Result<()> {
    let attr = opts.bind_attr();
    let plain = attr.is_empty() && opts.recursive.is_empty() && opts.propagation.is_empty();
    let flags = opts.flags & (libc::MS_BIND | libc::MS_REC) as u64;
    if plain {
        return sys::mount(Some(source), &sys::fd_path(target), None, flags, None);
    }
    if sys::new_api() {
        let mut tflags = sys::OPEN_TREE_CLONE;
        if opts.is_rec() {
            tflags |= libc::AT_RECURSIVE as u32;
        }
        match sys::open_tree(cwd(), source, tflags) {
            Ok(tree) => {
                if !attr.is_empty() {
                    sys::mount_setattr(tree.as_fd(), false, &attr)?;
                }
                if !opts.recursive.is_empty() {
                    sys::mount_setattr(tree.as_fd(), true, &opts.recursive)?;
                }
                sys::move_mount(tree.as_fd(), target)?;
                return propagate(tree.as_fd(), &opts.propagation);
            }
            Err(e) if sys::note_enosys(&e) => {}
            Err(e) => return Err(e),
        }
    }
    sys::mount(Some(source), &sys::fd_path(target), None, flags, None)?;
    // The bind now sits on top of `target`; reach it through its path.
    let top = secure_path::open_path(at.0, at.1)?;
    set_attr(top.as_fd(), false, &attr)?;
    set_attr(top.as_fd(), true, &opts.recursive)?;
    propagate(top.as_fd(), &opts.propagation)
}

fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "descriptor" for every *at call for the
    // life of the process.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Changes attributes of the mount whose root `fd` is: mount_setattr, or a
/// bind remount that keeps the flags the kernel locked (statfs).
pub fn set_attr(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> std::io::Result<()> {
    if attr.is_empty() {
        return Ok(());
    }
    if sys::new_api() {
        match sys::mount_setattr(fd, recursive, attr) {
            Err(e) if sys::note_enosys(&e) => {}
            r => return r,
        }
    }
    if recursive {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "recursive mount attributes need mount_setattr (Linux 5.12 or later)",
        ));
    }
    trusted_proc()?;
    let keep = (libc::MS_RDONLY
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME
        | libc::MS_STRICTATIME) as u64;
    let current = sys::mount_flags(fd)? & keep;
    let mut flags = (current & !sys::attr_to_ms(attr.attr_clr)) | sys::attr_to_ms(attr.attr_set);
    if attr.attr_clr & sys::MOUNT_ATTR_ATIME_MASK != 0 {
        flags &= !((libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_RELATIME) as u64);
        flags |= sys::attr_to_ms(attr.attr_set & sys::MOUNT_ATTR_ATIME_MASK);
    }
    flags |= (libc::MS_BIND | libc::MS_REMOUNT) as u64;
    sys::mount(None, &sys::fd_path(fd), None, flags, None)
}

/// Applies propagation changes (MS_PRIVATE, MS_SHARED|MS_REC, ...) in order.
pub fn propagate(fd: BorrowedFd, changes: &[u64]) -> std::io::Result<()> {
    for &p in changes {
        let rec = p & libc::MS_REC as u64 != 0;
        let attr = MountAttr {
            propagation: p & !(libc::MS_REC as u64),
            ..Default::default()
        };
        if sys::new_api() {
            match sys::mount_setattr(fd, rec, &attr) {
                Err(e) if sys::note_enosys(&e) => {}
                r => {
                    r?;
                    continue;
                }
            }
        }
        sys::mount(None, &sys::fd_path(fd), None, p, None)?;
    }
    Ok(())
}

/// Binds the object `src` refers to onto `dst`, both descriptors, with
/// `attr` set before the copy becomes visible. After pivot_root this avoids
/// trusting the container's /proc; the legacy fallback checks it first.
pub fn bind_fd(
    src: BorrowedFd,
    dst: BorrowedFd,
    recursive: bool,
    attr: &MountAttr,
) -> std::io::Result<OwnedFd> {
    if sys::new_api() {
        let mut flags = sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32;
        if recursive {
            flags |= libc::AT_RECURSIVE as u32;
        }
        match sys::open_tree(src, c"", flags) {
            Ok(tree) => {
                if !attr.is_empty() {
                    sys::mount_setattr(tree.as_fd(), recursive, attr)?;
                }
                sys::move_mount(tree.as_fd(), dst)?;
                return Ok(tree);
            }
            Err(e) if sys::note_enosys(&e) => {}
            Err(e) => return Err(e),
        }
    }
    trusted_proc()?;
    let mut flags = libc::MS_BIND as u64;
    if recursive {
        flags |= libc::MS_REC as u64;
    }
    sys::mount(
        Some(&sys::fd_path(src)),
        &sys::fd_path(dst),
        None,
        flags,
        None,
    )?;
    let top = std::fs::read_link(sys::fd_path(dst).to_str().unwrap_or_default())?;
    let top: OwnedFd = nix::fcntl::open(
        &top,
        OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )?;
    set_attr(top.as_fd(), false, attr)?;
    Ok(top)
}

/// /proc/self/fd paths are only meaningful when /proc is really procfs.
pub fn trusted_proc() -> std::io::Result<()> {
    let st = nix::sys::statfs::statfs("/proc/self/fd")?;
    if st.filesystem_type().0 as i64 != libc::PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(
            "/proc is not a procfs; refusing to use /proc/self/fd",
        ));
    }
    Ok(())
}
