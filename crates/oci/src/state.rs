//! A container's persisted state (`<root>/<id>/state.json`) and its status.
//!
//! The status is never stored: it is derived each time from the init process
//! (alive? same start time?), the exec fifo (still there → created) and the
//! freezer, exactly as runc derives it, so a crashed init reads as stopped.

use crate::cgroups::CgroupManager;
use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// runtime-spec version we implement, reported in `state`.
pub const OCI_VERSION: &str = "1.2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What we keep on disk for a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub init_pid: i32,
    /// Start time of the init (clock ticks since boot, /proc/PID/stat field 22):
    /// guards against pid reuse.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 creation time.
    pub created: String,
    pub owner: String,
    pub cgroup: CgroupManager,
    /// The config as it was at create time (later commands must not re-read
    /// a bundle that may have changed).
    pub spec: Spec,
}

impl State {
    pub fn annotations(&self) -> HashMap<String, String> {
        self.spec.annotations().clone().unwrap_or_default()
    }

    /// Writes state.json atomically (temp file + rename) so that a killed
    /// runtime never leaves a half-written state behind.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(".state.json.tmp");
        let path = dir.join(STATE_FILE);
        let data =
            serde_json::to_vec(self).map_err(|e| Error::Other(format!("encoding state: {e}")))?;
        let mut f = fs::File::create(&tmp).map_err(|e| Error::path("writing", &tmp, e))?;
        f.write_all(&data)
            .map_err(|e| Error::path("writing", &tmp, e))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(|e| Error::path("writing", &path, e))
    }

    pub fn load(dir: &Path, id: &str) -> Result<Self> {
        let path = dir.join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(Error::path("reading", &path, e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::Other(format!("{}: corrupt state: {e}", path.display())))
    }

    /// The init process as it stands now: Some(pid) while it lives (and is
    /// the same process we started), None once it exited or was reaped.
    pub fn live_init(&self) -> Option<i32> {
        if self.init_pid <= 0 {
            return None;
        }
        match proc_stat(self.init_pid) {
            Some((state, start))
                if start == self.init_start_time && state != 'Z' && state != 'X' =>
            {
                Some(self.init_pid)
            }
            _ => None,
        }
    }

    pub fn status(&self, dir: &Path) -> Status {
        if self.live_init().is_none() {
            return Status::Stopped;
        }
        if dir.join(EXEC_FIFO).exists() {
            return Status::Created;
        }
        if self.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }

    /// The JSON `runc state` prints (runtime-spec state plus runc's extras).
    pub fn to_oci_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.init_pid
        };
        // Key order as runc prints it (serde_json keeps insertion order).
        let mut v = serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        let ann = self.annotations();
        if !ann.is_empty() {
            v["annotations"] = serde_json::json!(ann);
        }
        v
    }
}

/// (state letter, start time) from /proc/PID/stat, or None if it is gone.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parens: fields resume after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // After the state letter come fields 4.., start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// The hook/state JSON of runtime-spec (`ociVersion,id,status,pid,bundle,annotations`).
pub fn spec_state_json(id: &str, status: Status, pid: i32, bundle: &Path, spec: &Spec) -> String {
    let mut v = serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": id,
        "status": status.as_str(),
        "pid": pid,
        "bundle": bundle,
    });
    if let Some(a) = spec.annotations().as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::json!(a);
    }
    v.to_string()
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_own_start_time() {
        let me = std::process::id() as i32;
        let (state, start) = proc_stat(me).expect("own stat");
        assert!(state == 'R' || state == 'S');
        assert!(start > 0);
        assert_eq!(proc_stat(me).unwrap().1, start, "start time is stable");
    }

    #[test]
    fn dead_pid_has_no_stat() {
        assert!(proc_stat(i32::MAX).is_none());
    }
}
