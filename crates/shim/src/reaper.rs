//! The subreaper: the shim adopts every orphan of its containers, learns of exits through
//! a signalfd for SIGCHLD, and reaps them all between requests.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Makes this process the subreaper and returns the SIGCHLD signalfd. The shim has one
/// thread, so blocking SIGCHLD here means no signal escapes the signalfd.
pub fn setup() -> Result<SignalFd, String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("becoming a child subreaper: {e}"))?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block()
        .map_err(|e| format!("blocking SIGCHLD: {e}"))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("creating the SIGCHLD signalfd: {e}"))
}

/// An exit: pid and status as containerd reports it (128+signal for a signalled death).
pub type Exit = (u32, u32);

/// Drains the signalfd and reaps every child that has exited.
pub fn reap(sfd: &mut SignalFd) -> Vec<Exit> {
    while let Ok(Some(_)) = sfd.read_signal() {}
    let mut exits = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => exits.push((pid.as_raw() as u32, code as u32)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                exits.push((pid.as_raw() as u32, 128 + sig as u32))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
    exits
}

/// Waits for one child that is known to be dying (killed by `delete --force`).
pub fn wait_for(pid: u32) -> Option<u32> {
    match waitpid(Pid::from_raw(pid as i32), None) {
        Ok(WaitStatus::Exited(_, code)) => Some(code as u32),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as u32),
        _ => None,
    }
}
