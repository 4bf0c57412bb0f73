//! The message channel between the runtime (parent) and the container's init.
//!
//! A SOCK_SEQPACKET socketpair keeps message boundaries, so each message is
//! one datagram: a tag byte followed by its payload.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent → init: id maps written and cgroup joined; go on.
    Go,
    /// init → parent: mounts are done; run the prestart/createRuntime hooks.
    RunHooks,
    /// parent → init: hooks ran.
    HooksDone,
    /// init → parent: set up, waiting on the exec fifo.
    Ready,
    /// intermediate → parent: the init's pid.
    Pid(i32),
    /// either way: what failed.
    Error(String),
    /// child → parent: the seccomp notify fd's number in the child, for the
    /// parent to copy with pidfd_getfd.
    SeccompFd(i32),
    /// parent → child: the notify fd was copied.
    SeccompDone,
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "creating the sync socketpair".into())?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(16);
        match msg {
            Msg::Go => buf.push(b'g'),
            Msg::RunHooks => buf.push(b'h'),
            Msg::HooksDone => buf.push(b'd'),
            Msg::Ready => buf.push(b'r'),
            Msg::Pid(p) => {
                buf.push(b'p');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Error(e) => {
                buf.push(b'e');
                buf.extend_from_slice(e.as_bytes());
            }
            Msg::SeccompFd(fd) => {
                buf.push(b'f');
                buf.extend_from_slice(&fd.to_le_bytes());
                // Sent under the just-loaded filter: write(2) is the one
                // syscall SCMP_ACT_NOTIFY is refused for (see crate::seccomp).
                nix::unistd::write(&self.fd, &buf).ctx(|| "sync: write".into())?;
                return Ok(());
            }
            Msg::SeccompDone => buf.push(b'F'),
        }
        send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL).ctx(|| "sync: send".into())?;
        Ok(())
    }

    /// Receives one message; Ok(None) when the other side closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.ctx(|| "sync: recv".into())?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let payload = &buf[1..n];
        Ok(Some(match buf[0] {
            b'g' => Msg::Go,
            b'h' => Msg::RunHooks,
            b'd' => Msg::HooksDone,
            b'r' => Msg::Ready,
            b'p' if payload.len() == 4 => {
                Msg::Pid(i32::from_le_bytes(payload.try_into().unwrap_or_default()))
            }
            b'e' => Msg::Error(String::from_utf8_lossy(payload).into_owned()),
            b'f' if payload.len() == 4 => {
                Msg::SeccompFd(i32::from_le_bytes(payload.try_into().unwrap_or_default()))
            }
            b'F' => Msg::SeccompDone,
            t => return Err(Error::Other(format!("sync: unexpected message tag {t}"))),
        }))
    }

    /// Receives and insists on `want`; an Error message or EOF becomes an Err.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Error(e)) => Err(Error::Init(e)),
            Some(m) => Err(Error::Other(format!("sync: expected {want:?}, got {m:?}"))),
            None => Err(Error::Init(format!("exited before sending {want:?}"))),
        }
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}
