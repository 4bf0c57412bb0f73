//! `start`: release a created container's init by reading its exec fifo.

use super::Container;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{spec_state_json, Status, EXEC_FIFO};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::os::fd::AsFd;

impl Container {
    /// Returns as soon as the init has been released; the program runs on.
    pub fn start(&mut self) -> Result<()> {
        let status = self.status();
        if status != Status::Created {
            return Err(self.bad_status(status, "only a created container can be started"));
        }
        if self.state.spec.process().is_none() {
            // Created from a config without `process`: nothing to start, and
            // the init must not linger waiting for a start that cannot come.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.state.init_pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            return Err(Error::Spec(
                "process: not set, there is nothing to start".into(),
            ));
        }
        let path = self.dir.join(EXEC_FIFO);
        // Non-blocking open succeeds even without a writer; we then wait for
        // the init's byte, noticing if it died meanwhile.
        let fd = nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| format!("opening {}", path.display()))?;
        let mut buf = [0u8; 1];
        loop {
            match nix::unistd::read(&fd, &mut buf) {
                Ok(1) => break,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {}
                Err(e) => return Err(Error::sys("reading the exec fifo", e)),
            }
            if self.state.live_init().is_none() {
                return Err(Error::Init(
                    "the container's init exited before it could be started".into(),
                ));
            }
            let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut pfd, PollTimeout::from(100u16));
        }
        std::fs::remove_file(&path).map_err(|e| Error::path("removing", &path, e))?;
        let st = spec_state_json(
            self.id(),
            Status::Running,
            self.state.init_pid,
            &self.state.bundle,
            &self.state.spec,
        );
        // runtime-spec: a failing poststart hook is a warning; the container
        // keeps running (crun does the same; runc 1.1 kills it instead).
        hooks::run_warn(&self.state.spec, Kind::Poststart, &st);
        Ok(())
    }
}
