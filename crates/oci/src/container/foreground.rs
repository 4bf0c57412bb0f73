//! Staying in the foreground with a container process: signal forwarding,
//! terminal relay, reaping. Shared by `run` and `exec`.

use crate::error::{Context, Result};
use crate::process::console;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Where a terminal's pty master goes: the caller's console socket if it
/// gave one, else a socketpair whose other end (returned second) we relay
/// ourselves. (None, None) when the process has no terminal.
pub fn console_target(
    terminal: bool,
    given: Option<OwnedFd>,
) -> Result<(Option<OwnedFd>, Option<OwnedFd>)> {
    match (terminal, given) {
        (false, given) => Ok((given, None)),
        (true, Some(g)) => Ok((Some(g), None)),
        (true, None) => {
            let (a, b) = nix::sys::socket::socketpair(
                nix::sys::socket::AddressFamily::Unix,
                nix::sys::socket::SockType::Stream,
                None,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            )
            .ctx(|| "console socketpair".into())?;
            Ok((Some(a), Some(b)))
        }
    }
}

/// Blocks the signals we forward (before the child exists, so none is lost;
/// the child restores its mask before exec) and returns a signalfd for them.
pub fn block_signals() -> Result<SignalFd> {
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut sigs = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
    ] {
        sigs.remove(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&sigs), None)
        .ctx(|| "blocking signals".into())?;
    SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC).ctx(|| "signalfd".into())
}

/// Forwards signals to `pid`, relays the terminal, reaps; returns the init's
/// exit code.
pub fn supervise(pid: i32, sfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let stdin = std::io::stdin();
    let mut stdin_open = master.is_some();
    let mut code = None;
    while code.is_none() {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.ctx(|| "poll".into())?,
        };
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(info.ssi_signo as i32).ok();
                match sig {
                    Some(Signal::SIGCHLD) => code = reap(pid),
                    Some(Signal::SIGWINCH) => {
                        if let (Some(m), Some((r, c))) = (master, console::size_of(0)) {
                            let _ = console::resize(m.as_raw_fd(), r, c);
                        }
                    }
                    Some(s) => {
                        let _ = kill(Pid::from_raw(pid), s);
                    }
                    None => {}
                }
            }
        }
        if let Some(m) = master {
            if ready.get(1) == Some(&true) && !copy(m.as_fd(), std::io::stdout().as_fd()) {
                // EIO: the last holder of the slave closed it.
            }
            if ready.get(2) == Some(&true) && !copy(stdin.as_fd(), m.as_fd()) {
                stdin_open = false;
            }
        }
    }
    if let Some(m) = master {
        // Drain what the container wrote just before it exited.
        let _ = nix::fcntl::fcntl(
            m,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        );
        while copy(m.as_fd(), std::io::stdout().as_fd()) {}
    }
    Ok(code.unwrap_or(0))
}

/// Reaps every exited child; Some(code) once the init is among them.
fn reap(init: i32) -> Option<i32> {
    let mut code = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == init => code = Some(c),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == init => code = Some(128 + s as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}

/// Copies one chunk; false at EOF or error.
fn copy(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match nix::unistd::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// Puts our stdin terminal in raw mode for the duration of the run.
pub struct RawTerminal {
    saved: Option<termios::Termios>,
}

impl RawTerminal {
    pub fn enter(master: &OwnedFd) -> Result<Self> {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return Ok(RawTerminal { saved: None });
        };
        if let Some((r, c)) = console::size_of(0) {
            console::resize(master.as_raw_fd(), r, c)?;
        }
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw)
            .ctx(|| "setting the terminal raw".into())?;
        Ok(RawTerminal { saved: Some(saved) })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(s) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, s);
        }
    }
}
