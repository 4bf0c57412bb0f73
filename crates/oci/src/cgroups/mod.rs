//! Control groups: v1, v2 and hybrid hierarchies behind one manager.
//!
//! [`CgroupManager::new`] resolves where the container's cgroup lives in every
//! hierarchy (no side effects); the other methods act on those directories.
//! The manager is plain data (paths) so that it can be kept in state.json and
//! used again by later commands.
//!
//! Each resource goes to the v1 controller when one is mounted, else to the
//! cgroup2 hierarchy when it offers the controller (hybrid hosts may keep a
//! few controllers, e.g. hugetlb, on v2), else it is an error naming the
//! controller. Files: `host` (mountinfo, mode), `paths` (cgroupsPath),
//! `v1`/`v2`/`convert` (resources), `devices*` (device access), `freezer`,
//! `stats`.

mod convert;
mod devices;
mod devices_bpf;
mod devices_v1;
mod freezer;
mod fs;
mod host;
mod oom;
mod paths;
mod stats;
mod v1;
mod v2;

pub use host::{host_mode, Host, Mode, UnifiedHierarchy, V1Hierarchy};
pub use oom::OomWatcher;
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryEntry, MemoryStats, PidsStats, Stats,
    Throttling,
};

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxResources};
use serde::{Deserialize, Serialize};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct CgroupDir {
    /// Controllers of the hierarchy (v1 only; v2 lists them in its files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted.
    pub mount: PathBuf,
    /// The container's cgroup directory, below `mount`.
    pub path: PathBuf,
}

/// Where a container's cgroup lives in every hierarchy; persisted in the
/// container state so that later commands (kill --all, delete, ps) find it.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct CgroupManager {
    #[serde(default)]
    pub mode: Mode,
    /// One entry per mounted v1 hierarchy (named ones included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub v1: Vec<CgroupDir>,
    /// The cgroup2 directory (pure v2, or hybrid's extra hierarchy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<CgroupDir>,
}

/// Where one resource is written.
enum Target<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl CgroupManager {
    /// Resolves (does not create) the cgroup for `cgroups_path` (absolute, or
    /// relative to the caller's own cgroup) or, when None, for `<own>/<id>`.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Self> {
        Self::from_host(&Host::read()?, cgroups_path, id)
    }

    /// As [`new`](Self::new), against a given host layout (tests use a fake
    /// one rooted in a temporary directory: see [`Host::parse`]).
    pub fn from_host(host: &Host, cgroups_path: Option<&Path>, id: &str) -> Result<Self> {
        let mut v1 = Vec::with_capacity(host.v1.len());
        for h in &host.v1 {
            let rel = paths::resolve(cgroups_path, id, &h.own)?;
            v1.push(CgroupDir {
                controllers: h.controllers.clone(),
                mount: h.mount.clone(),
                path: h.mount.join(rel.trim_start_matches('/')),
            });
        }
        let unified = match &host.unified {
            Some(u) if host.mode != Mode::Legacy => {
                let rel = paths::resolve(cgroups_path, id, &u.own)?;
                Some(CgroupDir {
                    controllers: Vec::new(),
                    mount: u.mount.clone(),
                    path: u.mount.join(rel.trim_start_matches('/')),
                })
            }
            _ => None,
        };
        Ok(CgroupManager {
            mode: host.mode,
            v1,
            unified,
        })
    }

    /// The cgroup directory when the host is pure cgroup v2 (for
    /// clone3(CLONE_INTO_CGROUP)); None on v1 and hybrid hosts.
    pub fn unified_dir(&self) -> Option<&Path> {
        match self.mode {
            Mode::Unified => self.unified.as_ref().map(|d| d.path.as_path()),
            _ => None,
        }
    }

    /// Every directory of the container's cgroup (v1 hierarchies, then v2).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.v1
            .iter()
            .chain(self.unified.iter())
            .map(|d| d.path.as_path())
    }

    /// The container's directory in the v1 hierarchy holding `controller`.
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// Creates the cgroup in every hierarchy (parents included), fills a new
    /// v1 cpuset from its ancestors and delegates v2 controllers.
    pub fn create(&self) -> Result<()> {
        for d in self.v1.iter().chain(self.unified.iter()) {
            std::fs::create_dir_all(&d.path)
                .map_err(|e| Error::path("creating cgroup", &d.path, e))?;
        }
        for d in &self.v1 {
            if d.controllers.iter().any(|c| c == "cpuset") {
                v1::init_cpuset(&d.mount, &d.path)?;
            }
        }
        if let Some(u) = &self.unified {
            v2::enable_controllers(&u.mount, &u.path)?;
        }
        Ok(())
    }

    /// Applies `r` as `create` does in runc: device rules always (the spec's,
    /// then the default allowed devices).
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.apply_with_devices(r, &[])
    }

    /// As [`apply`](Self::apply), also allowing the devices the spec creates
    /// (`linux.devices`), as runc does.
    pub fn apply_with_devices(&self, r: &LinuxResources, created: &[LinuxDevice]) -> Result<()> {
        let rules = devices::container_rules(r.devices().as_deref(), created)?;
        self.set(r, Some(&rules))
    }

    /// Applies `r` to a running container (`update`): device rules only when
    /// `r` has some.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        match r.devices() {
            Some(d) if !d.is_empty() => self.apply(r),
            _ => self.set(r, None),
        }
    }

    /// Replaces the device policy with exactly `rules`, without runc's
    /// default devices (for callers that build the whole list themselves).
    pub fn set_device_rules(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        let mut parsed = Vec::with_capacity(rules.len());
        for r in rules {
            parsed.extend(devices::Rule::from_spec(r)?);
        }
        self.set_devices(&parsed, !parsed.is_empty())
    }

    fn set(&self, r: &LinuxResources, device_rules: Option<&[devices::Rule]>) -> Result<()> {
        let mut v2_ctrls: Option<Vec<String>> = None;
        if let Some(cpu) = r.cpu() {
            if cpu.cpus().as_deref().is_some_and(|s| !s.is_empty())
                || cpu.mems().as_deref().is_some_and(|s| !s.is_empty())
            {
                // v1 and v2 share the cpuset file names.
                let (Target::V1(d) | Target::V2(d)) =
                    self.target("cpuset", "cpuset", "cpu.cpus/cpu.mems", &mut v2_ctrls)?;
                v1::set_cpuset(d, cpu)?;
            }
        }
        if let Some(rules) = device_rules {
            self.set_devices(rules, r.devices().as_ref().is_some_and(|d| !d.is_empty()))?;
        }
        if let Some(m) = r.memory().as_ref().filter(|m| v1::memory_is_set(m)) {
            match self.target("memory", "memory", "memory", &mut v2_ctrls)? {
                Target::V1(d) => v1::set_memory(d, m)?,
                Target::V2(d) => v2::set_memory(d, m)?,
            }
        }
        if let Some(c) = r.cpu().as_ref().filter(|c| v1::cpu_is_set(c)) {
            match self.target("cpu", "cpu", "cpu", &mut v2_ctrls)? {
                Target::V1(d) => v1::set_cpu(d, c)?,
                Target::V2(d) => v2::set_cpu(d, c)?,
            }
        }
        if let Some(p) = r.pids().as_ref().filter(|p| p.limit() != 0) {
            match self.target("pids", "pids", "pids.limit", &mut v2_ctrls)? {
                Target::V1(d) => v1::set_pids(d, p.limit())?,
                Target::V2(d) => v2::set_pids(d, p.limit())?,
            }
        }
        if let Some(b) = r.block_io().as_ref().filter(|b| v1::blkio_is_set(b)) {
            match self.target("blkio", "io", "blockIO", &mut v2_ctrls)? {
                Target::V1(d) => v1::set_blkio(d, b)?,
                Target::V2(d) => v2::set_io(d, b)?,
            }
        }
        if let Some(h) = r.hugepage_limits().as_ref().filter(|h| !h.is_empty()) {
            match self.target("hugetlb", "hugetlb", "hugepageLimits", &mut v2_ctrls)? {
                Target::V1(d) => v1::set_hugetlb(d, h)?,
                Target::V2(d) => v2::set_hugetlb(d, h)?,
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id().filter(|id| *id != 0) {
                let d = self.v1_only("net_cls", "network.classID")?;
                v1::set_net_cls(d, id)?;
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                let d = self.v1_only("net_prio", "network.priorities")?;
                v1::set_net_prio(d, p)?;
            }
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            let Some(dir) = &self.unified else {
                return Err(Error::Cgroup(
                    "unified resources need a cgroup v2 hierarchy; this host has only cgroup v1"
                        .into(),
                ));
            };
            let ctrls = self.v2_controllers(&mut v2_ctrls)?;
            v2::set_unified(&dir.path, u, ctrls)?;
        }
        Ok(())
    }

    fn v2_controllers<'a>(&self, cache: &'a mut Option<Vec<String>>) -> Result<&'a [String]> {
        if cache.is_none() {
            *cache = Some(match &self.unified {
                Some(d) => v2::controllers(&d.path)?,
                None => Vec::new(),
            });
        }
        Ok(cache.as_deref().unwrap_or_default())
    }

    /// v1 when the controller is mounted there, else v2 when the cgroup has
    /// it; `what` names the spec field for the error.
    fn target(
        &self,
        v1name: &str,
        v2name: &str,
        what: &str,
        cache: &mut Option<Vec<String>>,
    ) -> Result<Target<'_>> {
        if let Some(d) = self.v1_dir(v1name) {
            return Ok(Target::V1(d));
        }
        if let Some(u) = &self.unified {
            if self.v2_controllers(cache)?.iter().any(|c| c == v2name) {
                return Ok(Target::V2(&u.path));
            }
        }
        Err(Error::Cgroup(format!(
            "{what} is set but the {v1name} controller is not available on this host"
        )))
    }

    fn v1_only(&self, controller: &str, what: &str) -> Result<&Path> {
        self.v1_dir(controller).ok_or_else(|| {
            Error::Cgroup(format!(
                "{what} is set but the {controller} controller is not mounted on this host"
            ))
        })
    }

    fn set_devices(&self, rules: &[devices::Rule], spec_has_rules: bool) -> Result<()> {
        let policy = devices::Policy::from_rules(rules);
        if let Some(d) = self.v1_dir("devices") {
            return devices_v1::apply(d, &policy);
        }
        if let Some(u) = &self.unified {
            return devices_bpf::apply(&u.path, &policy);
        }
        if spec_has_rules {
            return Err(Error::Cgroup(
                "devices rules are set but no devices controller or cgroup v2 is available".into(),
            ));
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup: one write into each hierarchy's cgroup.procs.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        self.add_pid_to(pid, &[])
    }

    /// As [`add_pid`](Self::add_pid), into existing sub-cgroups of the
    /// container (`exec --cgroup`): each entry is (controller or None for
    /// every hierarchy, path relative to the container's cgroup).
    pub fn add_pid_to(&self, pid: i32, subs: &[(Option<String>, String)]) -> Result<()> {
        for (_, sub) in subs {
            let rel = Path::new(sub);
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::Cgroup(format!(
                    "sub-cgroup {sub:?}: must be a relative path without '..' inside the container's cgroup"
                )));
            }
        }
        let pid = pid.to_string();
        let dirs = self
            .v1
            .iter()
            .map(|d| (d.controllers.as_slice(), d.path.as_path()))
            .chain(self.unified.iter().map(|d| (&[][..], d.path.as_path())));
        for (controllers, dir) in dirs {
            // A controller-specific entry wins over a general one.
            let sub = subs
                .iter()
                .find(|(c, _)| c.as_ref().is_some_and(|c| controllers.contains(c)))
                .or_else(|| subs.iter().find(|(c, _)| c.is_none()));
            let target = match sub {
                Some((_, s)) => dir.join(s),
                None => dir.to_path_buf(),
            };
            if sub.is_some() && !target.is_dir() {
                return Err(Error::Cgroup(format!(
                    "sub-cgroup {} does not exist",
                    target.display()
                )));
            }
            fs::write(&target, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    /// Every process in the container's cgroup (sub-cgroups included on v2).
    pub fn pids(&self) -> Result<Vec<i32>> {
        if self.mode == Mode::Unified || self.v1.is_empty() {
            let mut out = Vec::new();
            if let Some(u) = &self.unified {
                collect_pids(&u.path, &mut out)?;
            }
            return Ok(out);
        }
        let dir = ["pids", "devices", "memory", "freezer"]
            .iter()
            .find_map(|c| self.v1_dir(c))
            .unwrap_or(self.v1[0].path.as_path());
        fs::procs(dir)
    }

    /// Where freezing happens: the v1 freezer, else v2's cgroup.freeze.
    fn freezer(&self) -> Result<Target<'_>> {
        if let Some(d) = self.v1_dir("freezer") {
            return Ok(Target::V1(d));
        }
        match &self.unified {
            Some(u) => Ok(Target::V2(&u.path)),
            None => Err(Error::Cgroup(
                "the freezer controller is not available on this host".into(),
            )),
        }
    }

    /// Freezes every process of the container and waits until they are.
    pub fn freeze(&self) -> Result<()> {
        match self.freezer()? {
            Target::V1(d) => freezer::v1_freeze(d),
            Target::V2(d) => freezer::v2_set(d, true),
        }
    }

    pub fn thaw(&self) -> Result<()> {
        match self.freezer()? {
            Target::V1(d) => freezer::v1_thaw(d),
            Target::V2(d) => freezer::v2_set(d, false),
        }
    }

    /// Whether the cgroup is frozen (false when it does not exist).
    pub fn is_frozen(&self) -> Result<bool> {
        match self.freezer() {
            Ok(Target::V1(d)) => freezer::v1_is_frozen(d),
            Ok(Target::V2(d)) => freezer::v2_is_frozen(d),
            Err(_) => Ok(false),
        }
    }

    /// Removes the cgroup (and any sub-cgroups) from every hierarchy.
    /// Directories already gone are fine; a busy one is retried briefly
    /// (the kernel lags a moment behind the death of the last process).
    pub fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for p in self.paths() {
            if let Err(e) = remove_tree(p) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Current resource usage.
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        let mut cache = None;
        let v2_has = |c: &str, cache: &mut Option<Vec<String>>| -> Result<Option<&Path>> {
            match &self.unified {
                Some(u) if self.v2_controllers(cache)?.iter().any(|x| x == c) => {
                    Ok(Some(u.path.as_path()))
                }
                _ => Ok(None),
            }
        };
        if let Some(d) = self.v1_dir("memory") {
            stats::v1_memory(d, &mut s.memory)?;
        } else if let Some(d) = v2_has("memory", &mut cache)? {
            stats::v2_memory(d, &mut s.memory)?;
        }
        if let Some(d) = self.v1_dir("cpuacct") {
            stats::v1_cpuacct(d, &mut s.cpu)?;
            if let Some(d) = self.v1_dir("cpu") {
                stats::v1_cpu_throttling(d, &mut s.cpu)?;
            }
        } else if let (Mode::Unified, Some(u)) = (self.mode, &self.unified) {
            stats::v2_cpu(&u.path, &mut s.cpu)?;
        }
        if let Some(d) = self.v1_dir("pids") {
            stats::pids(d, &mut s.pids)?;
        } else if let Some(d) = v2_has("pids", &mut cache)? {
            stats::pids(d, &mut s.pids)?;
        }
        if let Some(d) = self.v1_dir("blkio") {
            stats::v1_blkio(d, &mut s.blkio)?;
        } else if let Some(d) = v2_has("io", &mut cache)? {
            stats::v2_io(d, &mut s.blkio)?;
        }
        Ok(s)
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    out.extend(fs::procs(dir)?);
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::path("listing cgroup", dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| Error::path("listing cgroup", dir, e))?;
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(e.path());
        }
    }
    Ok(out)
}

/// rmdir, deepest first.
fn remove_tree(dir: &Path) -> Result<()> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut delay = Duration::from_millis(5);
    for attempt in 0..6 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 5 => {
                std::thread::sleep(delay);
                delay *= 2;
            }
            Err(e) => {
                let what = if e.raw_os_error() == Some(libc::EBUSY) {
                    "removing cgroup (it still has processes)"
                } else {
                    "removing cgroup"
                };
                return Err(Error::path(what, dir, e));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
