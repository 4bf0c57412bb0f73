//! Waiting and leftover checks: container status with a timeout, and whether a container
//! left a cgroup, a mount, a process or a state directory behind.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::runtime::Runtime;

/// Polls `cond` until it holds; panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `state ID` reports `status`; returns that state.
#[track_caller]
pub fn wait_for_status(rt: &Runtime, id: &str, status: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let state = rt.state(id);
        if state["status"] == status {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {id} to be {status}; last state: {state}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until `path` exists (a marker a container writes).
#[track_caller]
pub fn wait_for_file(path: &Path, timeout: Duration) {
    wait_until(timeout, &format!("{} to exist", path.display()), || {
        path.exists()
    });
}

/// Whether `pid` names a live (non-zombie) process.
pub fn pid_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name, which may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Mount points (from /proc/self/mountinfo) at or below `path`.
pub fn mounts_under(path: &Path) -> Vec<String> {
    let prefix = path.to_string_lossy().trim_end_matches('/').to_string();
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|m| *m == prefix || m.starts_with(&format!("{prefix}/")))
        .collect()
}

fn unescape_mount_path(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// A cgroup hierarchy: where it is mounted, and what it holds (`memory`, `name=systemd`, or
/// empty for cgroup2).
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The cgroup hierarchies mounted in this mount namespace.
pub fn hierarchies() -> Vec<Hierarchy> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(fstype), Some(opts)) = (fields.get(sep + 1), fields.get(sep + 3)) else {
            continue;
        };
        // Only a hierarchy's root mount tells where its cgroups live.
        if fields.get(3) != Some(&"/") {
            continue;
        }
        let mountpoint = PathBuf::from(unescape_mount_path(fields[4]));
        match *fstype {
            "cgroup2" => out.push(Hierarchy {
                mountpoint,
                controllers: Vec::new(),
                v2: true,
            }),
            "cgroup" => {
                let controllers = opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
                    .map(String::from)
                    .collect();
                out.push(Hierarchy {
                    mountpoint,
                    controllers,
                    v2: false,
                })
            }
            _ => {}
        }
    }
    out
}

/// The directories of the cgroups `pid` is in, one per mounted hierarchy.
pub fn cgroup_dirs(pid: i32) -> Vec<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let hs = hierarchies();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let wanted: Vec<&str> = ctrls.split(',').filter(|c| !c.is_empty()).collect();
        let h = hs.iter().find(|h| {
            if wanted.is_empty() {
                h.v2
            } else {
                !h.v2 && wanted.iter().all(|w| h.controllers.iter().any(|c| c == w))
            }
        });
        if let Some(h) = h {
            out.push(h.mountpoint.join(path.trim_start_matches('/')));
        }
    }
    out
}

/// The v1 cgroup directory of `pid` for `controller` (e.g. `memory`).
pub fn cgroup_dir(pid: i32, controller: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _ = parts.next();
        let ctrls = parts.next()?;
        let path = parts.next()?;
        ctrls
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })?;
    let h = hierarchies()
        .into_iter()
        .find(|h| !h.v2 && h.controllers.iter().any(|c| c == controller))?;
    Some(h.mountpoint.join(path.trim_start_matches('/')))
}

/// Directories named by an absolute `cgroupsPath` that exist in any hierarchy.
pub fn existing_cgroups(cgroups_path: &str) -> Vec<PathBuf> {
    hierarchies()
        .into_iter()
        .map(|h| h.mountpoint.join(cgroups_path.trim_start_matches('/')))
        .filter(|p| p.exists())
        .collect()
}

/// Processes whose command line or environment holds `marker`.
pub fn processes_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me && pid_alive(pid))
        .filter(|pid| {
            ["cmdline", "environ"].iter().any(|f| {
                fs::read(format!("/proc/{pid}/{f}"))
                    .map(|b| String::from_utf8_lossy(&b).contains(marker))
                    .unwrap_or(false)
            })
        })
        .collect()
}

/// Asserts that container `id` left nothing behind: no state dir under the runtime's root,
/// no id in `list`, no cgroup at the absolute `cgroups_path`, no mount under the bundle and
/// no process carrying `marker`. Whatever is found is also removed (processes killed,
/// cgroups emptied and removed, mounts detached) before the test fails, so a buggy runtime
/// does not leak into the machine.
#[track_caller]
pub fn assert_nothing_left(
    rt: &Runtime,
    id: &str,
    bundle: &Path,
    cgroups_path: &str,
    marker: &str,
) {
    let mut problems = Vec::new();
    let state_dir = rt.root().join(id);
    if state_dir.exists() {
        problems.push(format!("state dir {} left behind", state_dir.display()));
    }
    if rt.cmd(&["state", id]).success() {
        problems.push(format!("state {id} still succeeds"));
    }
    // The init may take a moment to die after the runtime gave up on it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut procs = processes_with(marker);
    while !procs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        procs = processes_with(marker);
    }
    if !procs.is_empty() {
        problems.push(format!("processes left behind: {procs:?}"));
        procs.iter().for_each(|&p| sigkill(p));
    }
    let cgroups = existing_cgroups(cgroups_path);
    if !cgroups.is_empty() {
        problems.push(format!("cgroups left behind: {cgroups:?}"));
        remove_cgroups(&cgroups);
    }
    let mut mounts = mounts_under(bundle);
    if !mounts.is_empty() {
        problems.push(format!("mounts left behind: {mounts:?}"));
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in &mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
    assert!(
        problems.is_empty(),
        "container {id} left things behind:\n{}",
        problems.join("\n")
    );
}

/// On drop (also when the test panics), kills processes carrying `marker` and removes the
/// cgroup at the absolute `cgroups_path`, so a failed assertion does not leak a half-made
/// container. Checks nothing: pair it with [`assert_nothing_left`].
pub struct Sweep {
    cgroups_path: String,
    marker: String,
}

impl Sweep {
    pub fn new(cgroups_path: &str, marker: &str) -> Sweep {
        Sweep {
            cgroups_path: cgroups_path.to_string(),
            marker: marker.to_string(),
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        processes_with(&self.marker).into_iter().for_each(sigkill);
        remove_cgroups(&existing_cgroups(&self.cgroups_path));
    }
}

fn sigkill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// Kills every process in `dirs` (cgroup directories) and removes them, deepest first.
pub fn remove_cgroups(dirs: &[PathBuf]) {
    let mut dirs = dirs.to_vec();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
    for dir in &dirs {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            procs
                .lines()
                .filter_map(|p| p.trim().parse().ok())
                .for_each(sigkill);
            if fs::remove_dir(dir).is_ok() || !dir.exists() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount_path("/tmp/a\\040b\\011c"), "/tmp/a b\tc");
    }

    #[test]
    fn this_process_is_alive_and_in_its_cgroups() {
        let me = std::process::id() as i32;
        assert!(pid_alive(me));
        assert!(!pid_alive(i32::MAX));
        for dir in cgroup_dirs(me) {
            assert!(dir.is_dir(), "{} is not a directory", dir.display());
        }
    }

    #[test]
    fn mounts_under_finds_only_that_subtree() {
        assert!(mounts_under(Path::new("/proc"))
            .iter()
            .any(|m| m == "/proc"));
        assert!(mounts_under(Path::new("/no/such/dir")).is_empty());
    }
}
