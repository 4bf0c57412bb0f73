//! OOM notifications for a container's cgroup: v1's eventfd registered on
//! memory.oom_control, v2's memory.events `oom_kill` counter watched with
//! inotify. Both give one pollable descriptor.

use super::CgroupManager;
use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

pub struct OomWatcher {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    /// The eventfd counts OOM events; the oom_control fd must stay open.
    V1 { _control: std::fs::File },
    /// inotify on memory.events; compare the oom_kill counter.
    V2 { events: PathBuf, last: u64 },
}

impl OomWatcher {
    /// None when the container has no memory controller to watch.
    pub fn new(cg: &CgroupManager) -> Result<Option<Self>> {
        if let Some(dir) = cg.v1_dir("memory") {
            let control_path = dir.join("memory.oom_control");
            let control = std::fs::File::open(&control_path)
                .map_err(|e| Error::path("opening", &control_path, e))?;
            // SAFETY: eventfd with valid flags returns a new descriptor or -1.
            let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if efd < 0 {
                return Err(std::io::Error::last_os_error()).ctx(|| "eventfd".into());
            }
            // SAFETY: efd is a fresh descriptor we own.
            let efd = unsafe { OwnedFd::from_raw_fd(efd) };
            let reg = dir.join("cgroup.event_control");
            std::fs::write(&reg, format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()))
                .map_err(|e| Error::path("registering for OOM events in", &reg, e))?;
            return Ok(Some(OomWatcher {
                fd: efd,
                kind: Kind::V1 { _control: control },
            }));
        }
        let Some(dir) = cg.unified.as_ref().map(|u| u.path.clone()) else {
            return Ok(None);
        };
        let events = dir.join("memory.events");
        if !events.exists() {
            return Ok(None);
        }
        // SAFETY: inotify_init1 with valid flags.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return Err(std::io::Error::last_os_error()).ctx(|| "inotify_init1".into());
        }
        // SAFETY: ifd is a fresh descriptor we own.
        let ifd = unsafe { OwnedFd::from_raw_fd(ifd) };
        let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Cgroup("memory.events path has a NUL byte".into()))?;
        // SAFETY: a valid inotify fd and C string.
        if unsafe { libc::inotify_add_watch(ifd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("watching {}", events.display()));
        }
        let last = oom_kills(&events);
        Ok(Some(OomWatcher {
            fd: ifd,
            kind: Kind::V2 { events, last },
        }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Call when fd() is readable: true if an OOM happened since last time.
    pub fn consume(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let _ = nix::unistd::read(&self.fd, &mut buf);
        match &mut self.kind {
            Kind::V1 { .. } => true,
            Kind::V2 { events, last } => {
                let now = oom_kills(events);
                let fired = now > *last;
                *last = now;
                fired
            }
        }
    }
}

fn oom_kills(events: &std::path::Path) -> u64 {
    std::fs::read_to_string(events)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}
