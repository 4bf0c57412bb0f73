//! OOM notifications from a container's memory cgroup: cgroup v1 through an eventfd
//! registered on `memory.oom_control`; cgroup v2 by watching `memory.events` (kernfs
//! wakes pollers with POLLPRI when it changes) for a rising `oom_kill` count.

use std::fs::File;
use std::io::{Read, Seek};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

pub enum OomWatch {
    V1 {
        efd: File,
        /// Kept open: the registration lives as long as this descriptor.
        _control: File,
        dir: PathBuf,
    },
    V2 {
        events: File,
        kills: u64,
    },
}

/// The memory cgroup directory of `pid` (v1 `memory` hierarchy, else the v2 one).
fn memory_cgroup(pid: u32) -> Option<(PathBuf, bool)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some((PathBuf::from(format!("/sys/fs/cgroup/memory{path}")), true));
        }
    }
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = PathBuf::from(format!("/sys/fs/cgroup{path}"));
    dir.join("memory.events").exists().then_some((dir, false))
}

fn oom_kills(events: &mut File) -> u64 {
    let mut text = String::new();
    let _ = events.rewind();
    let _ = events.read_to_string(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

impl OomWatch {
    /// Starts watching the memory cgroup the container's init is in.
    pub fn new(pid: u32) -> Result<OomWatch, String> {
        let (dir, v1) =
            memory_cgroup(pid).ok_or_else(|| format!("no memory cgroup found for pid {pid}"))?;
        if !v1 {
            let mut events = File::open(dir.join("memory.events"))
                .map_err(|e| format!("opening {}/memory.events: {e}", dir.display()))?;
            let kills = oom_kills(&mut events);
            return Ok(OomWatch::V2 { events, kills });
        }
        let control_path = dir.join("memory.oom_control");
        let control = File::open(&control_path)
            .map_err(|e| format!("opening {}: {e}", control_path.display()))?;
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(format!("eventfd: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let efd = File::from(unsafe { OwnedFd::from_raw_fd(raw) });
        let reg = format!("{} {}", efd.as_raw_fd(), control.as_raw_fd());
        std::fs::write(dir.join("cgroup.event_control"), reg)
            .map_err(|e| format!("registering for OOM events in {}: {e}", dir.display()))?;
        Ok(OomWatch::V1 {
            efd,
            _control: control,
            dir,
        })
    }

    /// The descriptor to poll and the events to poll it for.
    pub fn poll_spec(&self) -> (RawFd, i16) {
        match self {
            OomWatch::V1 { efd, .. } => (efd.as_raw_fd(), libc::POLLIN),
            OomWatch::V2 { events, .. } => (events.as_raw_fd(), libc::POLLPRI),
        }
    }

    /// Called when the descriptor is ready: `Some(true)` for an OOM, `Some(false)` for a
    /// wake-up that was not one, `None` once the cgroup is gone (stop watching).
    pub fn check(&mut self) -> Option<bool> {
        match self {
            OomWatch::V1 { efd, dir, .. } => {
                let mut buf = [0u8; 8];
                let _ = efd.read(&mut buf);
                // The kernel also signals the eventfd when the cgroup is removed.
                if !dir.join("cgroup.event_control").exists() {
                    return None;
                }
                Some(true)
            }
            OomWatch::V2 { events, kills } => {
                let now = oom_kills(events);
                let oom = now > *kills;
                *kills = now;
                Some(oom)
            }
        }
    }
}
