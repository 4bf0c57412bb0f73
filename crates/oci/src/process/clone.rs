//! clone3(2): create the init directly inside its new namespaces (and, on
//! cgroup v2, directly inside its cgroup), which saves the unshare + fork
//! dance and a cgroup migration.

use crate::error::{Context, Result};
use std::os::fd::RawFd;

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks with `flags` (namespace CLONE_* bits). Returns 0 in the child and the
/// child's pid in the parent, like fork(2).
///
/// The caller must be single-threaded: the child continues with a copy of the
/// parent's memory and only one thread.
pub fn fork_into(flags: u64, cgroup_fd: Option<RawFd>) -> Result<i32> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 with a zero stack behaves like fork: the child resumes
    // here on a copy of our stack. `args` outlives the call, and the size
    // passed matches the struct the kernel reads.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if ret >= 0 {
        return Ok(ret as i32);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ENOSYS) && cgroup_fd.is_none() {
        // Kernels before 5.3: the classic clone with a null stack is fork-like.
        // SAFETY: as above; a null stack makes the child share a copy of ours.
        let ret =
            unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0) };
        if ret >= 0 {
            return Ok(ret as i32);
        }
        return Err(std::io::Error::last_os_error()).ctx(|| "clone".into());
    }
    Err(err).ctx(|| format!("clone3 (flags {flags:#x})"))
}
