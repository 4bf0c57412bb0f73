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
        kill(Pid::from_raw(self.state.init_pid), sig)
            .map_err(|e| Error::sys(format!("signalling pid {}", self.state.init_pid), e))
    }
}
