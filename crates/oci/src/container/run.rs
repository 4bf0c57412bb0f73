//! `run`: create + start; in the foreground, stay as the container's parent:
//! relay the terminal, forward signals, reap, and exit with its status.

use super::create::create_relaying;
use super::foreground::{block_signals, supervise, RawTerminal};
use super::{destroy, Container, CreateOpts};
use crate::error::{Error, Result};
use crate::process::console;
use std::os::fd::{AsRawFd, OwnedFd};

pub struct RunOpts {
    pub create: CreateOpts,
    /// Connected console socket given by the caller (--console-socket).
    pub console: Option<OwnedFd>,
}

/// Runs the container in the foreground and returns its exit code
/// (128+N when killed by signal N).
pub fn run_foreground(opts: RunOpts) -> Result<i32> {
    let sfd = block_signals()?;

    let (mut c, relay_end) = create_relaying(&opts.create, opts.console, true)?;
    let master = relay_end
        .map(|s| console::recv_fd(s.as_raw_fd()))
        .transpose()?;
    let id = c.id().to_string();
    let pid = c.state.init_pid;
    let _raw = match &master {
        Some(m) => Some(RawTerminal::enter(m)?),
        None => None,
    };
    if let Err(e) = c.start() {
        let _ = destroy(c);
        return Err(e);
    }
    // Unlock while the container runs so state/kill from others work.
    drop(c);
    let code = supervise(pid, &sfd, master.as_ref())?;
    match Container::load(&opts.create.root, &id) {
        Ok(c) => destroy(c)?,
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    Ok(code)
}
