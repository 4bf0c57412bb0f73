//! `delete`: remove a container's cgroup and state, after making sure no
//! process of it survives; poststop hooks run last.

use super::{wait_gone, Container};
use crate::error::{Error, Result};
use crate::hooks::{self, Kind};
use crate::state::{spec_state_json, Status};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

impl Container {
    /// Deletes the container. A created container is always deletable (its
    /// init never ran user code); a running or paused one only with `force`.
    pub fn delete(self, force: bool) -> Result<()> {
        match self.status() {
            Status::Stopped | Status::Created => {}
            s @ (Status::Running | Status::Paused | Status::Creating) => {
                if !force {
                    return Err(Error::BadStatus {
                        id: self.id().into(),
                        status: s.to_string(),
                        what: "cannot delete a container that is not stopped (use --force)".into(),
                    });
                }
            }
        }
        destroy(self)
    }
}

/// Kills whatever is left, removes the cgroup and the state directory, then
/// runs the poststop hooks. Everything is attempted even if a step fails;
/// the first error is returned (a poststop failure is only a warning).
pub fn destroy(c: Container) -> Result<()> {
    let mut first_err: Option<Error> = None;
    let mut note = |r: Result<()>| {
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    };
    if let Some(pid) = c.state.live_init() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        // A frozen task cannot die; thaw so the kill lands.
        let _ = c.state.cgroup.thaw();
        if !wait_gone(pid, Duration::from_secs(10))? {
            note(Err(Error::Other(format!(
                "container init {pid} did not die after SIGKILL"
            ))));
        }
    }
    // Without its own pid namespace the container's other processes outlive
    // the init: kill them through the cgroup.
    note(kill_leftovers(&c));
    note(c.state.cgroup.destroy());
    note(std::fs::remove_dir_all(&c.dir).map_err(|e| Error::path("removing", &c.dir, e)));
    let st = spec_state_json(c.id(), Status::Stopped, 0, &c.state.bundle, &c.state.spec);
    // runtime-spec: a failing poststop hook is a warning; deletion goes on.
    hooks::run_warn(&c.state.spec, Kind::Poststop, &st);
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn kill_leftovers(c: &Container) -> Result<()> {
    for _ in 0..100 {
        let pids = match c.state.cgroup.pids() {
            Ok(p) => p,
            Err(_) => return Ok(()), // cgroup already gone
        };
        if pids.is_empty() {
            return Ok(());
        }
        for pid in &pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::Other(format!(
        "processes of container {} survived SIGKILL",
        c.id()
    )))
}
