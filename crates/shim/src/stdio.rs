//! A process's stdio. The process gets pipes; the shim's loop copies between them and
//! containerd's fifos or a `file://` log (stdin through a pipe too, so CloseIO can give
//! the process EOF). `binary://` starts the logging binary with the read ends of two
//! pipes (fds 3 and 4) and waits for it to close fd 5. With a terminal, the console
//! master runc sends over `--console-socket` is kept (for resize) and copied to/from
//! the fifos.

use crate::backend::ProcessIo;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::path::PathBuf;

/// One copy the loop drives: bytes from `src` to `dst`. Both ends are non-blocking;
/// what `dst` cannot take yet waits in `pending`, and `src` is not read again until it
/// is gone, so a reader that stops reading slows the writer down (the pipe fills and
/// the process blocks) instead of stalling the shim or losing output.
pub struct Copier {
    pub src: File,
    pub dst: Option<File>,
    pending: Vec<u8>,
    /// Finished (EOF or CloseIO); kept in place so copier indices stay stable.
    pub done: bool,
}

impl Copier {
    pub fn new(src: File, dst: File) -> Copier {
        set_nonblocking(&src);
        set_nonblocking(&dst);
        Copier {
            src,
            dst: Some(dst),
            pending: Vec::new(),
            done: false,
        }
    }

    /// The descriptor and poll events the loop should wait on: the destination while
    /// output is pending, else the source.
    pub fn poll_spec(&self) -> (RawFd, i16) {
        match &self.dst {
            Some(dst) if !self.pending.is_empty() => (dst.as_raw_fd(), libc::POLLOUT),
            _ => (self.src.as_raw_fd(), libc::POLLIN),
        }
    }

    /// Stops copying and closes the destination.
    pub fn close(&mut self) {
        self.dst = None;
        self.pending = Vec::new();
        self.done = true;
    }

    /// Moves what can move now; true when data moved. At EOF (once everything read has
    /// been written) the copier closes its destination, which gives the reader EOF.
    pub fn pump(&mut self) -> bool {
        if !self.pending.is_empty() {
            return self.flush();
        }
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
        self.pending.extend_from_slice(&buf[..n]);
        self.flush();
        true
    }

    /// Writes as much pending output as the destination takes; true when some went.
    fn flush(&mut self) -> bool {
        let Some(dst) = self.dst.as_mut() else {
            self.pending.clear();
            return false;
        };
        let mut written = 0;
        while written < self.pending.len() {
            match dst.write(&self.pending[written..]) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // The reader is gone for good: keep draining the source so the
                    // process never blocks on a full pipe, and drop what it writes.
                    crate::log::warn(&format!("copying stdio: {e}"));
                    written = self.pending.len();
                }
            }
        }
        self.pending.drain(..written);
        written > 0
    }
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

/// A pipe owned by `(uid, gid)` (root's, unchanged, when both are 0).
fn owned_pipe((uid, gid): (u32, u32)) -> Result<(File, File), String> {
    let (r, w) = pipe()?;
    if (uid, gid) != (0, 0) {
        // Both ends share one inode: chowning one is enough.
        std::os::unix::fs::fchown(&r, Some(uid), Some(gid))
            .map_err(|e| format!("giving the stdio pipes to {uid}:{gid}: {e}"))?;
    }
    Ok((r, w))
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

/// The stdio of a process without a terminal: what the runtime gets and the copiers.
/// The process only ever sees pipes (or /dev/null), never containerd's fifos or a log
/// file on the host: criu can dump a pipe and reconnect it on restore (`--inherit-fd`),
/// while a path outside the container's mounts makes the dump fail.
/// `owner` (the runtime options' IoUid/IoGid) owns the pipes, so a process in a user
/// namespace can reopen them through /proc/self/fd.
pub fn prepare(
    [stdin, stdout, stderr]: [&str; 3],
    id: &str,
    namespace: &str,
    owner: (u32, u32),
) -> Result<(ProcessIo, Vec<Copier>), String> {
    let mut copiers = Vec::new();
    let stdin_io = if stdin.is_empty() {
        None
    } else {
        let fifo = open_fifo(stdin, true, true)?;
        let (r, w) = owned_pipe(owner)?;
        copiers.push(Copier::new(fifo, w));
        Some(r)
    };
    // A pipe whose read end the shim copies into `dst`; the write end is the process's.
    let mut piped = |dst: File| -> Result<File, String> {
        let (r, w) = owned_pipe(owner)?;
        copiers.push(Copier::new(r, dst));
        Ok(w)
    };
    let (stdout, stderr) = match output_kind(stdout) {
        Output::Fifo => {
            let out = (!stdout.is_empty())
                .then(|| open_fifo(stdout, false, true).and_then(&mut piped))
                .transpose()?;
            let err = (!stderr.is_empty())
                .then(|| open_fifo(stderr, false, true).and_then(&mut piped))
                .transpose()?;
            (out, err)
        }
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
            (Some(piped(f)?), Some(piped(f2)?))
        }
        // The logger's own pipes go to the process as they are.
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
    let dup = || {
        master
            .try_clone()
            .map_err(|e| format!("duplicating the console master: {e}"))
    };
    let mut copiers = Vec::new();
    if !stdout.is_empty() {
        copiers.push(Copier::new(dup()?, open_fifo(stdout, false, true)?));
    }
    if !stdin.is_empty() {
        copiers.push(Copier::new(open_fifo(stdin, true, true)?, dup()?));
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
