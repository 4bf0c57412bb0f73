//! `kill`: signal the init, or every process of the container.

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::str::FromStr;

/// Parses `KILL`, `SIGKILL`, `kill` or `9` (runc accepts all four forms).
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::Other(format!("unknown signal {s:?}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| Error::Other(format!("unknown signal {s:?}")))
}

impl Container {
    pub fn kill(&self, sig: Signal, all: bool) -> Result<()> {
        let status = self.status();
        if status == Status::Stopped {
            return Err(self.bad_status(status, "container not running"));
        }
        if all {
            for pid in self.pids()? {
                let _ = kill(Pid::from_raw(pid), sig);
            }
            return Ok(());
        }
        signal_init(self.state.init_pid, self.state.init_start_time, sig)
    }
}

/// Signals the init through a pidfd taken *before* checking its start time:
/// a pid that was reused after the check still names the dead init, so the
/// signal can never reach another process.
fn signal_init(pid: i32, start_time: u64, sig: Signal) -> Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open with a pid and no flags; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOSYS) {
            return Err(Error::sys(format!("signalling the init (pid {pid})"), e));
        }
        // Before Linux 5.3: only the start-time check protects us.
        if crate::state::proc_stat(pid).map(|(_, t)| t) != Some(start_time) {
            return Err(Error::Other(format!(
                "the container's init (pid {pid}) is gone"
            )));
        }
        return kill(Pid::from_raw(pid), sig)
            .map_err(|e| Error::sys(format!("signalling pid {pid}"), e));
    }
    // SAFETY: the kernel just gave us this descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if crate::state::proc_stat(pid).map(|(_, t)| t) != Some(start_time) {
        return Err(Error::Other(format!(
            "the container's init (pid {pid}) is gone: not signalling pid {pid}"
        )));
    }
    // SAFETY: pidfd_send_signal with a pidfd we own, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!("signalling the init (pid {pid})"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}
