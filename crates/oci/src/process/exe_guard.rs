//! CVE-2019-5736: the container must never be able to open the runtime's own
//! binary for writing.
//!
//! The init and every `exec` child are forks of the runtime, so until they
//! execve the user's program their `/proc/PID/exe` is the runtime binary, and
//! a container program whose interpreter is `#!/proc/self/exe` makes that
//! execve run the runtime binary inside the container. A container process
//! that gets hold of that file (an O_PATH or O_RDONLY descriptor through
//! `/proc/PID/exe`) reopens it for writing through `/proc/self/fd/N` once no
//! process runs it any more, and replaces the host's runtime.
//!
//! The defence: the process that forks into containers runs from a file that
//! cannot be written through the path `/proc/self/exe` names. The kernel
//! hands out exactly that path (mount + dentry) to anyone opening
//! `/proc/PID/exe`, so it is enough that the *mount* is read-only: every
//! write through it fails with EROFS, whatever the file's permissions.
//!
//! - If `/proc/self/exe` already lies on a read-only mount (the binary is on
//!   a read-only /usr, or an administrator bind-mounted it read-only onto
//!   itself once) or is a write-sealed memfd, nothing is done: zero cost.
//! - Otherwise we re-exec once from a *detached* read-only bind mount of our
//!   own binary (open_tree(OPEN_TREE_CLONE) + mount_setattr(RDONLY) +
//!   execveat): two cheap syscalls and one exec, no copy. The mount belongs
//!   to no namespace, nobody can reach it by path, and the kernel frees it
//!   when the last process running from it exits.
//! - Without the new mount API or the privilege for it (old kernels,
//!   rootless), we fall back to runc 1.1's defence: a sealed memfd copy.
//!
//! runc 1.1 copies its binary into a memfd on every call (about 70 % of a
//! `runc exec`, runc#4432); runc ≥ 1.2 mounts a read-only overlayfs over the
//! binary's directory for the same reason we use a read-only bind mount.

use crate::error::{Error, Result};
use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

/// Set across our own re-exec so that a second pass that still finds a
/// writable binary stops with an error instead of looping.
const REEXEC_MARK: &str = "_GANTRY_EXE_GUARDED";

const OPEN_TREE_CLONE: u32 = 1;
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MFD_EXEC: u32 = 0x10;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// How `/proc/self/exe` is protected against writes from a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// On a read-only mount: writes through the exe path fail with EROFS.
    ReadOnlyMount,
    /// A memfd sealed against writes, growth and shrinking.
    SealedMemfd,
    /// Writable: a container could replace the runtime binary.
    Writable,
}

/// How the running binary is protected right now (costs one open, one
/// fstatvfs and one fcntl).
pub fn protection() -> Result<Protection> {
    let exe = File::open("/proc/self/exe")
        .map_err(|e| Error::path("opening our own binary", "/proc/self/exe", e))?;
    Ok(protection_of(&exe))
}

fn protection_of(exe: &File) -> Protection {
    if let Ok(st) = nix::sys::statvfs::fstatvfs(exe) {
        if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return Protection::ReadOnlyMount;
        }
    }
    // SAFETY: F_GET_SEALS on a descriptor we own; EINVAL for non-memfds.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    let needed = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK;
    if seals >= 0 && seals & needed == needed {
        return Protection::SealedMemfd;
    }
    Protection::Writable
}

/// Call first thing in `main` of any binary that forks into containers
/// (create, run, exec, restore). Returns when `/proc/self/exe` is safe; if it
/// is not, re-executes the process (same argv and environment) from a
/// read-only clone of itself and never returns. Errors only when no
/// protection can be set up: the caller must then refuse to run containers.
pub fn ensure_protected() -> Result<()> {
    let exe = File::open("/proc/self/exe")
        .map_err(|e| Error::path("opening our own binary", "/proc/self/exe", e))?;
    let second_pass = std::env::var_os(REEXEC_MARK).is_some();
    if protection_of(&exe) != Protection::Writable {
        if second_pass {
            // Edition 2021: not unsafe; we are still single-threaded here.
            std::env::remove_var(REEXEC_MARK);
        }
        return Ok(());
    }
    if second_pass {
        return Err(Error::Other(
            "CVE-2019-5736 guard: re-executed from a read-only copy of the runtime binary, \
             but /proc/self/exe is still writable; refusing to run containers"
                .into(),
        ));
    }
    let clone = match readonly_clone(&exe) {
        Ok(fd) => fd,
        Err(clone_err) => sealed_memfd(exe).map_err(|e| {
            Error::Other(format!(
                "CVE-2019-5736 guard: cannot protect the runtime binary: read-only bind \
                 mount failed ({clone_err}), sealed memfd copy failed ({e})"
            ))
        })?,
    };
    std::env::set_var(REEXEC_MARK, "1");
    let err = reexec(&clone);
    std::env::remove_var(REEXEC_MARK);
    Err(Error::sys(
        "CVE-2019-5736 guard: re-executing from a protected copy of the runtime binary",
        err,
    ))
}

/// A detached, read-only bind mount of the file `exe` refers to.
fn readonly_clone(exe: &File) -> std::io::Result<OwnedFd> {
    // SAFETY: open_tree on a descriptor we own with an empty path and
    // AT_EMPTY_PATH; the kernel returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            exe.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as u32 | OPEN_TREE_CLONE | libc::O_CLOEXEC as u32,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid descriptor, empty path with AT_EMPTY_PATH, and a
    // mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as u32,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(tree)
}

/// runc 1.1's defence: a copy of the binary in a memfd sealed against every
/// change (costs a copy of the binary; only used when bind mounts cannot be).
fn sealed_memfd(mut exe: File) -> std::io::Result<OwnedFd> {
    let create = |flags: u32| {
        // SAFETY: memfd_create with a NUL-terminated name.
        unsafe { libc::memfd_create(c"gantry-runc".as_ptr(), flags) }
    };
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let mut fd = create(base | MFD_EXEC);
    if fd < 0 {
        // Kernels before 6.3 do not know MFD_EXEC (memfds are executable there).
        fd = create(base);
    }
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this descriptor.
    let mut memfd = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    std::io::copy(&mut exe, &mut memfd)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS on a memfd we own.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(memfd.into())
}

/// execveat(fd, "", argv, environ, AT_EMPTY_PATH) with our own argv and
/// environment; returns only on failure.
fn reexec(fd: &OwnedFd) -> std::io::Error {
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(OsString::into_vec(a)).unwrap_or_default())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of pointers into CStrings that outlive
    // the call; on success the call does not return.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    std::io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_memfd_counts_as_protected_and_refuses_writes() {
        let exe = File::open("/proc/self/exe").unwrap();
        let memfd = sealed_memfd(exe).expect("sealed memfd");
        let f = File::from(memfd);
        assert_eq!(protection_of(&f), Protection::SealedMemfd);
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", f.as_raw_fd()));
        let e = match reopened {
            Ok(mut w) => std::io::Write::write_all(&mut w, b"x").unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
    }

    #[test]
    fn a_readonly_clone_refuses_writes_through_its_path() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: open_tree needs CAP_SYS_ADMIN");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("binary");
        std::fs::write(&file, b"original").unwrap();
        let tree = readonly_clone(&File::open(&file).unwrap()).expect("open_tree");
        let via = format!("/proc/self/fd/{}", tree.as_raw_fd());
        let ro = File::open(&via).unwrap();
        assert_eq!(protection_of(&ro), Protection::ReadOnlyMount);
        let e = std::fs::OpenOptions::new()
            .append(true)
            .open(&via)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"original");
    }
}
