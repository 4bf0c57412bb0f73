//! Raw system calls the rootfs code needs and nix does not wrap: the new
//! mount API (open_tree, move_mount, mount_setattr, fsopen/fsmount) and a
//! mount(2) that takes C strings we already hold. Everything here is
//! descriptor based so that callers never hand the kernel a path it could
//! resolve through a symlink planted in the container's rootfs.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

pub const OPEN_TREE_CLONE: u32 = 1;
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

const FSOPEN_CLOEXEC: u32 = 1;
const FSCONFIG_SET_STRING: u32 = 1;
const FSCONFIG_CMD_CREATE: u32 = 6;
const FSMOUNT_CLOEXEC: u32 = 1;

/// Set when the kernel lacks the new mount API; later calls go straight to
/// the mount(2) fallback instead of failing with ENOSYS again.
static NO_NEW_API: AtomicBool = AtomicBool::new(false);

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

impl MountAttr {
    pub fn is_empty(&self) -> bool {
        self.attr_set == 0 && self.attr_clr == 0 && self.propagation == 0
    }
}

fn check(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(r: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(r)? as RawFd;
    // SAFETY: the kernel just returned this new descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the new mount API may be tried (kernel ≥ 5.12 for mount_setattr).
pub fn new_api() -> bool {
    !NO_NEW_API.load(Ordering::Relaxed)
}

/// Remembers ENOSYS so that the caller's fallback is used from now on.
pub fn note_enosys(e: &io::Error) -> bool {
    let missing = e.raw_os_error() == Some(libc::ENOSYS);
    if missing {
        NO_NEW_API.store(true, Ordering::Relaxed);
    }
    missing
}

/// Forces the mount(2) fallbacks; tests use it to exercise old-kernel paths.
#[cfg(test)]
pub fn force_legacy(on: bool) {
    NO_NEW_API.store(on, Ordering::Relaxed);
}

/// `/proc/self/fd/N`: a magic link the kernel resolves to exactly the object
/// behind the descriptor, never by re-walking its path.
pub fn fd_path(fd: BorrowedFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in a number")
}

pub fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// mount(2).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: u64,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a NUL-terminated string that outlives the call
    // or NULL, which mount(2) accepts for source, type and data.
    let r = unsafe {
        libc::mount(
            p(source),
            target.as_ptr(),
            p(fstype),
            flags as libc::c_ulong,
            p(data).cast(),
        )
    };
    check(r as libc::c_long).map(drop)
}

/// open_tree(2): a detached copy (OPEN_TREE_CLONE) of the mount at `path`.
pub fn open_tree(dir: BorrowedFd, path: &CStr, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: valid descriptor and NUL-terminated path.
    owned(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dir.as_raw_fd(),
            path.as_ptr(),
            flags | libc::O_CLOEXEC as u32,
        )
    })
}

/// move_mount(2) between two descriptors.
pub fn move_mount(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    let empty = c"";
    // SAFETY: valid descriptors and empty NUL-terminated paths with the
    // matching *_EMPTY_PATH flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// mount_setattr(2) on the mount `fd` refers to (`recursive`: and below).
pub fn mount_setattr(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: valid descriptor, empty path with AT_EMPTY_PATH, and a
    // mount_attr struct of the size we pass.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// A new, detached filesystem instance of `fstype` (fsopen + fsconfig +
/// fsmount), mounted with MOUNT_ATTR_* `attrs`.
pub fn fsmount(fstype: &CStr, options: &[(&CStr, &CStr)], attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: NUL-terminated fs type name.
    let fs = owned(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (k, v) in options {
        // SAFETY: valid fs context descriptor, NUL-terminated key and value.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        })?;
    }
    // SAFETY: valid fs context descriptor; CMD_CREATE takes no key or value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    // SAFETY: valid fs context descriptor.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

/// The filesystem magic (`f_type`) of what `fd` refers to.
pub fn fs_type(fd: BorrowedFd) -> io::Result<i64> {
    let st = nix::sys::statfs::fstatfs(fd)?;
    Ok(st.filesystem_type().0 as i64)
}

/// The MS_* flags the kernel reports for the mount `fd` is on (statvfs
/// f_flag, whose ST_* bits equal MS_*), to preserve the ones it locked when
/// remounting.
pub fn mount_flags(fd: BorrowedFd) -> io::Result<u64> {
    Ok(nix::sys::statvfs::fstatvfs(fd)?.flags().bits() as u64)
}

/// Translates MOUNT_ATTR_* into the MS_* flags a legacy remount takes.
pub fn attr_to_ms(attr: u64) -> u64 {
    let mut ms = 0;
    for (a, m) in [
        (MOUNT_ATTR_RDONLY, libc::MS_RDONLY),
        (MOUNT_ATTR_NOSUID, libc::MS_NOSUID),
        (MOUNT_ATTR_NODEV, libc::MS_NODEV),
        (MOUNT_ATTR_NOEXEC, libc::MS_NOEXEC),
        (MOUNT_ATTR_NODIRATIME, libc::MS_NODIRATIME),
        (MOUNT_ATTR_NOSYMFOLLOW, 256),
    ] {
        if attr & a != 0 {
            ms |= m;
        }
    }
    match attr & MOUNT_ATTR_ATIME_MASK {
        MOUNT_ATTR_NOATIME => ms |= libc::MS_NOATIME,
        MOUNT_ATTR_STRICTATIME => ms |= libc::MS_STRICTATIME,
        _ => {}
    }
    ms as u64
}
