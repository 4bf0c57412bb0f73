//! A process's stdio. stdout/stderr fifos are handed to the container directly (no copy
//! in the shim), as are `file://` logs; `binary://` starts the logging binary with the
//! read ends of two pipes (fds 3 and 4) and waits for it to close fd 5; stdin goes
//! through a pipe so CloseIO can give the process EOF; with a terminal, the console
//! master runc sends over `--console-socket` is kept (for resize) and copied to/from
//! the fifos by the shim's loop.

use crate::backend::ProcessIo;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::path::PathBuf;

/// One copy the loop drives: bytes from `src` to `dst`.
pub struct Copier {
    pub src: File,
    pub dst: Option<File>,
    /// Finished (EOF or CloseIO); kept in place so copier indices stay stable.
    pub done: bool,
}

impl Copier {
    pub fn fd(&self) -> RawFd {
        self.src.as_raw_fd()
    }

    /// Stops copying and closes the destination.
    pub fn close(&mut self) {
        self.dst = None;
        self.done = true;
    }

    /// Moves what is readable now; true when data moved. At EOF the copier closes its
    /// destination, which gives the reader EOF in turn.
    pub fn pump(&mut self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        let n = match self.src.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return false,
            // A console master reads EIO once the last slave is closed.
            Err(_) => 0,
        };
        if n == 0 {
            self.close();
            return false;
        }
        if let Some(dst) = self.dst.as_mut() {
            if let Err(e) = write_all_bounded(dst, &buf[..n]) {
                crate::log::warn(&format!("copying stdio: {e}"));
            }
        }
        true
    }
}

/// Writes with a bound on how long a reader that went away can stall the shim.
fn write_all_bounded(dst: &mut File, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match dst.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut pfd = [nix::poll::PollFd::new(
                    dst.as_fd(),
                    nix::poll::PollFlags::POLLOUT,
                )];
                let ready = nix::poll::poll(&mut pfd, 1000u16).map_err(std::io::Error::from)?;
                if ready == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("reader stalled, {} bytes dropped", data.len()),
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn open_fifo(path: &str, read: bool, nonblock: bool) -> Result<File, String> {
    let mut o = OpenOptions::new();
    if read {
        o.read(true);
    } else {
        // Read-write: opening never blocks waiting for a reader, and writes never raise
        // EPIPE while the client (ctr) is away.
        o.read(true).write(true);
    }
    if nonblock {
        o.custom_flags(libc::O_NONBLOCK);
    }
    o.open(path)
        .map_err(|e| format!("opening stdio fifo {path}: {e}"))
}

fn set_nonblocking(f: &File) {
    if let Ok(flags) = nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_GETFL) {
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        let _ = nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_SETFL(flags));
    }
}

fn pipe() -> Result<(File, File), String> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("creating a stdin pipe: {e}"))?;
    Ok((File::from(r), File::from(w)))
}

/// Where a process's output goes, from containerd's stdout string.
#[derive(Debug, PartialEq)]
enum Output<'a> {
    Fifo,
    File(&'a str),
    Binary { path: &'a str, query: &'a str },
}

fn output_kind(stdout: &str) -> Output<'_> {
    if let Some(rest) = stdout.strip_prefix("file://") {
        return Output::File(rest.split('?').next().unwrap_or(rest));
    }
    if let Some(rest) = stdout.strip_prefix("binary://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        return Output::Binary { path, query };
    }
    Output::Fifo
}

/// Decodes `%XX` escapes (and `+`) of a URI query part.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
    while i < b.len() {
        match (b[i], hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a `binary://` logger and returns the write ends for stdout and stderr.
fn start_logger(
    path: &str,
    query: &str,
    id: &str,
    namespace: &str,
) -> Result<(File, File), String> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let mut cmd = std::process::Command::new(unescape(path));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        cmd.arg(unescape(k));
        if !v.is_empty() {
            cmd.arg(unescape(v));
        }
    }
    // containerd gives the logger exactly these two variables.
    cmd.env_clear()
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: runs in the forked child before exec; fcntl and dup2 are async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Move the sources above 3-5 first so placing one cannot clobber another.
            let mut high = [0; 3];
            for (i, fd) in fds.iter().enumerate() {
                high[i] = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 10);
                if high[i] < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, fd) in high.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("starting logging binary {path}: {e}"))?;
    drop((out_r, err_r, ready_w));
    // Ready when the logger closes (or writes to) fd 5; one that never does is not
    // waited for forever.
    let mut pfd = [nix::poll::PollFd::new(
        ready_r.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    match nix::poll::poll(&mut pfd, 10_000u16) {
        Ok(0) => Err(format!("logging binary {path} did not become ready in 10s")),
        Ok(_) => Ok((out_w, err_w)),
        Err(e) => Err(format!("waiting for logging binary {path}: {e}")),
    }
}

/// The stdio of a process without a terminal: what the runtime gets and the stdin copier.
pub fn prepare(
    stdin: &str,
    stdout: &str,
    stderr: &str,
    id: &str,
    namespace: &str,
) -> Result<(ProcessIo, Vec<Copier>), String> {
    let mut copiers = Vec::new();
    let stdin_io = if stdin.is_empty() {
        None
    } else {
        let fifo = open_fifo(stdin, true, true)?;
        let (r, w) = pipe()?;
        set_nonblocking(&w);
        copiers.push(Copier {
            src: fifo,
            dst: Some(w),
            done: false,
        });
        Some(r)
    };
    let out = |path: &str| -> Result<Option<File>, String> {
        if path.is_empty() {
            Ok(None)
        } else {
            open_fifo(path, false, false).map(Some)
        }
    };
    let (stdout, stderr) = match output_kind(stdout) {
        Output::Fifo => (out(stdout)?, out(stderr)?),
        Output::File(path) => {
            if let Some(dir) = Path::new(path).parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating log directory {}: {e}", dir.display()))?;
            }
            let f = OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open(path)
                .map_err(|e| format!("opening log file {path}: {e}"))?;
            let f2 = f
                .try_clone()
                .map_err(|e| format!("duplicating log file {path}: {e}"))?;
            (Some(f), Some(f2))
        }
        Output::Binary { path, query } => {
            let (o, e) = start_logger(path, query, id, namespace)?;
            (Some(o), Some(e))
        }
    };
    let io = ProcessIo {
        stdin: stdin_io,
        stdout,
        stderr,
    };
    Ok((io, copiers))
}

/// A listening socket runc connects to with `--console-socket` to send the pty master.
pub struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket, String> {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // /tmp, not the bundle: a socket path must stay under 108 bytes.
        let path = std::env::temp_dir().join(format!("gantry-pty-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .map_err(|e| format!("binding console socket {}: {e}", path.display()))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// Takes the master runc sent (runc has exited by now, so this never waits long).
    pub fn receive(&self) -> Result<File, String> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        let (conn, _) = self.listener.accept().map_err(|e| {
            format!(
                "console socket {}: no connection from the runtime: {e}",
                self.path.display()
            )
        })?;
        let mut data = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("receiving the console master: {e}"))?;
        for cmsg in msg.cmsgs().map_err(|e| format!("console message: {e}"))? {
            if let ControlMessageOwned::ScmRights(fds) = cmsg {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just installed this descriptor for us; nothing
                    // else owns it.
                    let master = unsafe { OwnedFd::from_raw_fd(fd) };
                    return Ok(File::from(master));
                }
            }
        }
        Err("the runtime sent no console master".into())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copiers between a console master and the stdin/stdout fifos.
pub fn console_copiers(master: &File, stdin: &str, stdout: &str) -> Result<Vec<Copier>, String> {
    let mut copiers = Vec::new();
    if !stdout.is_empty() {
        let out = open_fifo(stdout, false, false)?;
        set_nonblocking(&out);
        let src = master
            .try_clone()
            .map_err(|e| format!("duplicating the console master: {e}"))?;
        set_nonblocking(&src);
        copiers.push(Copier {
            src,
            dst: Some(out),
            done: false,
        });
    }
    if !stdin.is_empty() {
        let fifo = open_fifo(stdin, true, true)?;
        let dst = master
            .try_clone()
            .map_err(|e| format!("duplicating the console master: {e}"))?;
        copiers.push(Copier {
            src: fifo,
            dst: Some(dst),
            done: false,
        });
    }
    Ok(copiers)
}

/// Sets a console's window size.
pub fn resize(master: &File, width: u32, height: u32) -> Result<(), String> {
    let ws = libc::winsize {
        ws_row: height as u16,
        ws_col: width as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if rc < 0 {
        return Err(format!(
            "resizing the console: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_uris() {
        assert_eq!(output_kind("/run/fifo/x-stdout"), Output::Fifo);
        assert_eq!(
            output_kind("file:///var/log/c.log"),
            Output::File("/var/log/c.log")
        );
        assert_eq!(
            output_kind("binary:///usr/bin/logger?a=1&b"),
            Output::Binary {
                path: "/usr/bin/logger",
                query: "a=1&b"
            }
        );
    }

    #[test]
    fn query_unescaping() {
        assert_eq!(unescape("%2Ftmp%2Fx+y"), "/tmp/x y");
        assert_eq!(unescape("100%"), "100%");
    }
}
