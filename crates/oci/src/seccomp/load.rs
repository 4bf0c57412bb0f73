//! The child's half: install the compiled program with the raw seccomp(2)
//! call at the point the spec allows (see the module docs for the order),
//! and hand a notify fd's number to the parent.

use super::kernel::{FLAG_NEW_LISTENER, SECCOMP_SET_MODE_FILTER};
use super::Program;
use crate::error::{Error, Result};
use crate::process::sync::{Channel, Msg};

/// The places in the container process's set-up where a filter may be
/// installed, in the order they are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Point {
    /// Still privileged: before the capability sets and the user change.
    BeforeCapsDrop,
    /// Set-up done, the parent still listening.
    BeforeReady,
    /// Nothing left but execve.
    BeforeExec,
}

impl Program {
    /// The latest point this program may be installed at.
    fn point(&self) -> Point {
        if !self.no_new_privs {
            // Without no_new_privs only CAP_SYS_ADMIN allows the install.
            Point::BeforeCapsDrop
        } else if self.listener.is_some() {
            Point::BeforeReady
        } else {
            Point::BeforeExec
        }
    }

    /// Installs the filter if `at` is (or is past) its point and it is not
    /// installed yet. A notify filter's fd number goes to the parent over
    /// `sync`, and this waits until the parent holds a copy.
    pub fn load_at(&self, at: Point, sync: &Channel) -> Result<()> {
        if self.loaded.get() || at < self.point() {
            return Ok(());
        }
        let prog = libc::sock_fprog {
            len: self.filter.len() as u16,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.filter`, which outlives the call;
        // the kernel copies the program.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            let hint = if e.raw_os_error() == Some(libc::EACCES) {
                " (neither no_new_privs nor CAP_SYS_ADMIN)"
            } else {
                ""
            };
            return Err(Error::sys(
                format!(
                    "loading the seccomp filter ({} instructions, flags {:#x}){hint}",
                    self.filter.len(),
                    self.flags
                ),
                e,
            ));
        }
        self.loaded.set(true);
        if self.flags & FLAG_NEW_LISTENER != 0 {
            let fd = r as i32;
            let sent = sync
                .send(&Msg::SeccompFd(fd))
                .and_then(|_| sync.expect(Msg::SeccompDone));
            // SAFETY: the kernel just gave us this descriptor; the parent
            // has its own copy (or failed, and the container is going away).
            unsafe { libc::close(fd) };
            sent?;
        }
        Ok(())
    }
}
