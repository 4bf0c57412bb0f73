//! The shim's log: containerd 1.6 opens a fifo named `log` in the bundle for reading
//! and copies what the shim writes there into its own log. Lines are logfmt-like.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

static LOG: Mutex<Option<File>> = Mutex::new(None);
static DEBUG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Opens the `log` fifo in the current directory (the bundle). Without a reader (the
/// shim started by hand) logging goes nowhere rather than blocking.
pub fn open_fifo(debug: bool) {
    DEBUG.store(debug, std::sync::atomic::Ordering::Relaxed);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("log");
    if let Ok(f) = f {
        // Writes must not fail with EAGAIN once open: blocking is the fifo's back-pressure.
        let _ = nix::fcntl::fcntl(
            &f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_WRONLY),
        );
        *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }
}

fn write(level: &str, msg: &str) {
    let mut guard = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = guard.as_mut() {
        let t = crate::proto::now();
        let _ = writeln!(
            f,
            "time={}.{:09} level={level} msg={msg:?} runtime=io.containerd.gantry.v2",
            t.seconds, t.nanos
        );
    }
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn error(msg: &str) {
    write("error", msg);
}

pub fn debug(msg: &str) {
    if DEBUG.load(std::sync::atomic::Ordering::Relaxed) {
        write("debug", msg);
    }
}
