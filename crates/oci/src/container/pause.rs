//! `pause` / `resume`: the cgroup freezer.

use super::Container;
use crate::error::Result;
use crate::state::Status;

impl Container {
    pub fn pause(&self) -> Result<()> {
        match self.status() {
            Status::Running | Status::Created => self.state.cgroup.freeze(),
            s => Err(self.bad_status(s, "only a running container can be paused")),
        }
    }

    pub fn resume(&self) -> Result<()> {
        match self.status() {
            Status::Paused => self.state.cgroup.thaw(),
            s => Err(self.bad_status(s, "container not paused")),
        }
    }
}
