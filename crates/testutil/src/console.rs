//! The test side of `--console-socket`: a unix socket that receives the container's pty
//! master over SCM_RIGHTS, as containerd and podman receive it from runc.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};

/// A listening console socket in `dir`.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("binding console socket {}: {e}", path.display()));
        listener
            .set_nonblocking(true)
            .expect("nonblocking console socket");
        ConsoleSocket { listener, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("UTF-8 socket path")
    }

    /// Accepts the runtime's connection and returns the fd it sent.
    pub fn receive_master(&self, timeout: Duration) -> OwnedFd {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "no connection on the console socket"
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accepting on console socket: {e}"),
            }
        };
        stream
            .set_nonblocking(false)
            .expect("blocking console stream");
        stream
            .set_read_timeout(Some(timeout))
            .expect("console stream timeout");
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .expect("recvmsg on console socket");
        for c in msg.cmsgs().expect("console message control data") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: SCM_RIGHTS just installed this fd in our table; nothing else owns it.
                    return unsafe { OwnedFd::from_raw_fd(fd) };
                }
            }
        }
        panic!("console socket message carried no file descriptor");
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads from a pty master until the text read contains `needle`, the other side closes, or
/// `timeout` passes; returns everything read.
pub fn read_until(master: &OwnedFd, needle: &str, timeout: Duration) -> String {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(master, FcntlArg::F_GETFL).expect("F_GETFL on pty master");
    fcntl(
        master,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .expect("O_NONBLOCK on pty master");
    let deadline = Instant::now() + timeout;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(needle) && Instant::now() < deadline {
        match nix::unistd::read(master, &mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(5)),
            // EIO: every slave fd is closed, the container is gone.
            Err(_) => break,
        }
    }
    text
}

/// Writes all of `text` to a pty master.
pub fn write_all(master: &OwnedFd, text: &str) {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        match nix::unistd::write(master, rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("writing to pty master: {e}"),
        }
    }
}
