//! The parent's half of SCMP_ACT_NOTIFY: take the listener fd out of the
//! container process and send it to the seccomp agent at `listenerPath`,
//! as runc does: one message on a fresh unix stream connection whose data
//! is the runtime-spec container process state JSON and whose SCM_RIGHTS
//! carries the fd (named "seccompFd" in `fds`).

use super::Program;
use crate::error::{Context, Error, Result};
use crate::process::sync::{Channel, Msg};
use crate::state::OCI_VERSION;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde_json::{json, Value};
use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// Handles the child's `SeccompFd(child_fd)`: copies the fd from process
/// `pid` with pidfd_getfd, tells the child it may go on (the agent is sent
/// the fd afterwards; a notified syscall simply waits for it), then sends it
/// to the agent with `state` (the runtime-spec state object as JSON text).
pub fn forward(
    program: Option<&Program>,
    pid: i32,
    child_fd: i32,
    sync: &Channel,
    state: &str,
) -> Result<()> {
    let listener = program.and_then(|p| p.listener.as_ref()).ok_or_else(|| {
        Error::Init("sent a seccomp notify fd but no listener is configured".into())
    })?;
    let fd = take_fd(pid, child_fd)?;
    sync.send(&Msg::SeccompDone)?;
    let state: Value = serde_json::from_str(state)
        .map_err(|e| Error::Other(format!("seccomp: encoding the container state: {e}")))?;
    let mut msg = json!({
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = listener.metadata.as_ref().filter(|m| !m.is_empty()) {
        msg["metadata"] = json!(m);
    }
    let path = &listener.path;
    let mut sock = UnixStream::connect(path).map_err(|e| {
        Error::Other(format!(
            "linux.seccomp.listenerPath {}: connecting to the seccomp agent: {e}",
            path.display()
        ))
    })?;
    let data = msg.to_string().into_bytes();
    let fds = [fd.as_raw_fd()];
    let sent = sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx(|| format!("sending the seccomp fd to the agent at {}", path.display()))?;
    // A stream may take the data in parts; the fd went with the first.
    if sent < data.len() {
        sock.write_all(&data[sent..])
            .map_err(|e| Error::path("sending the seccomp state to", path, e))?;
    }
    Ok(())
}

/// A copy of descriptor `fd` of process `pid`.
fn take_fd(pid: i32, fd: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the result is checked.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| format!("seccomp: pidfd_open({pid})"));
    }
    // SAFETY: the kernel just gave us this descriptor.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd with a pidfd we own, a descriptor number and no
    // flags; the result is checked.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error())
            .ctx(|| format!("seccomp: taking the notify fd {fd} from process {pid}"));
    }
    // SAFETY: as above; pidfd_getfd returns a new descriptor (CLOEXEC).
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}
