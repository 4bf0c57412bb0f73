//! Container operations, one file each: create, start, kill, delete, run,
//! pause/resume, list, checkpoint/restore (through criu). A [`Container`]
//! is a locked handle on one container's state directory under the runtime
//! root.

mod checkpoint;
mod create;
mod delete;
mod exec;
mod foreground;
mod kill;
mod list;
mod pause;
mod restore;
mod run;
mod start;
mod update;

pub use checkpoint::CheckpointOpts;
pub use create::{create, CreateOpts};
pub use delete::destroy;
pub use exec::ExecOpts;
pub use kill::parse_signal;
pub use list::list;
pub use restore::{restore, restore_foreground, RestoreOpts};
pub use run::{run_foreground, RunOpts};

use crate::error::{Context, Error, Result};
use crate::state::{State, Status};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// A container whose state directory we hold locked: concurrent commands on
/// the same container wait for each other.
pub struct Container {
    pub state: State,
    pub dir: PathBuf,
    _lock: Flock<File>,
}

/// runc's rule: letters, digits and `_ + - .`, not `.` or `..`, no `/`.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if id.len() > 1024 {
        return bad("is longer than 1024 bytes");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        return bad("may only contain letters, digits, '_', '+', '-' and '.'");
    }
    Ok(())
}

/// Removes what a failed create or restore made, in reverse order, unless
/// disarmed once the container stands.
pub(crate) struct Undo<'a> {
    dir: &'a Path,
    cgroup: Option<crate::cgroups::CgroupManager>,
    pid: Option<i32>,
    armed: bool,
}

impl<'a> Undo<'a> {
    fn new(dir: &'a Path) -> Self {
        Undo {
            dir,
            cgroup: None,
            pid: None,
            armed: true,
        }
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        let _ = std::fs::remove_dir_all(self.dir);
    }
}

/// Makes `<root>/<id>` (0700; the root too if missing); an existing one means
/// the id is taken.
fn make_state_dir(root: &Path, id: &str) -> Result<PathBuf> {
    ensure_root(root)?;
    let dir = root.join(id);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::AlreadyExists(id.into()))
        }
        Err(e) => Err(Error::path("creating the state directory", &dir, e)),
    }
}

/// Creates the container's cgroup with its resources. Always with a device
/// policy: with no resources section runc still denies all but the standard
/// devices and those the config creates.
fn make_cgroup(
    cgroup: &crate::cgroups::CgroupManager,
    linux: &oci_spec::runtime::Linux,
) -> Result<()> {
    cgroup.create()?;
    let no_resources = oci_spec::runtime::LinuxResources::default();
    cgroup.apply_with_devices(
        linux.resources().as_ref().unwrap_or(&no_resources),
        &linux.devices().clone().unwrap_or_default(),
    )
}

/// Creates the runtime root (0700) if missing.
pub fn ensure_root(root: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| Error::path("creating the runtime root", root, e))
}

fn lock_dir(dir: &Path, id: &str) -> Result<Flock<File>> {
    let f = match File::open(dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(id.into()))
        }
        Err(e) => return Err(Error::path("opening", dir, e)),
    };
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("locking {}", dir.display()), e))
}

impl Container {
    /// Loads and locks container `id` under `root`.
    pub fn load(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let dir = root.join(id);
        let lock = lock_dir(&dir, id)?;
        // A delete may have removed the directory while we waited for the lock.
        let state = State::load(&dir, id)?;
        Ok(Container {
            state,
            dir,
            _lock: lock,
        })
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn status(&self) -> Status {
        self.state.status(&self.dir)
    }

    fn bad_status(&self, status: Status, what: &str) -> Error {
        Error::BadStatus {
            id: self.id().into(),
            status: status.to_string(),
            what: what.into(),
        }
    }

    /// `runc state`'s JSON.
    pub fn oci_state(&self) -> serde_json::Value {
        self.state.to_oci_json(self.status())
    }

    /// Pids of every process in the container (its cgroup).
    pub fn pids(&self) -> Result<Vec<i32>> {
        self.state.cgroup.pids()
    }
}

/// Waits up to `timeout` for `pid` to exit (or turn zombie). A pidfd makes
/// this an event wait rather than a poll loop.
pub(crate) fn wait_gone(pid: i32, timeout: std::time::Duration) -> Result<bool> {
    // SAFETY: pidfd_open with a pid and no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Ok(true); // already gone
    }
    // SAFETY: the kernel gave us this descriptor; we own it now.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    let mut pfd = [nix::poll::PollFd::new(
        std::os::fd::AsFd::as_fd(&fd),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
    let n = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::from(ms))
        .ctx(|| "waiting for a process".into())?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "web-1", "x_y.z+1", "ABC123"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "sp ace", "ü"] {
            let e = validate_id(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "error names the id: {e}");
        }
    }

    #[test]
    fn signals_by_name_and_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE")
            .unwrap_err()
            .to_string()
            .contains("NOPE"));
        assert!(parse_signal("99").is_err());
    }
}
