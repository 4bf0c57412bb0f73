//! What the host offers: the cgroup hierarchies mounted (from
//! /proc/self/mountinfo) and the calling process's own cgroup in each of them
//! (from /proc/self/cgroup), parsed once, plus the host's mode.
//!
//! Mount points are never assumed: a host may mount its hierarchies anywhere,
//! co-mount controllers (`cpu,cpuacct`) and show only a subtree of a hierarchy
//! (the mountinfo `root` field) inside a container.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// cgroup v1 controllers only.
    #[default]
    Legacy,
    /// v1 controllers plus a cgroup2 mount beside them (usually
    /// /sys/fs/cgroup/unified) that may hold some controllers.
    Hybrid,
    /// Pure cgroup v2.
    Unified,
}

/// One v1 hierarchy as the calling process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Hierarchy {
    /// Controllers bound to it, e.g. ["cpu", "cpuacct"] or ["name=systemd"].
    pub controllers: Vec<String>,
    /// Where it is mounted (already joined onto the base directory).
    pub mount: PathBuf,
    /// The caller's own cgroup, relative to the mounted root ("/" = the mount).
    pub own: String,
}

/// The cgroup2 hierarchy as the calling process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnifiedHierarchy {
    pub mount: PathBuf,
    pub own: String,
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub mode: Mode,
    pub v1: Vec<V1Hierarchy>,
    pub unified: Option<UnifiedHierarchy>,
}

struct Mount<'a> {
    root: String,
    point: String,
    fstype: &'a str,
    super_opts: Vec<&'a str>,
}

impl Host {
    /// Reads the layout as the calling process sees it.
    pub fn read() -> Result<Host> {
        let mountinfo = read_proc("/proc/self/mountinfo")?;
        let own = read_proc("/proc/self/cgroup")?;
        Host::parse(&mountinfo, &own, Path::new("/"))
    }

    /// Parses mountinfo and /proc/self/cgroup contents; every mount point is
    /// re-rooted onto `base` (so tests can point the manager at a tempdir).
    pub fn parse(mountinfo: &str, self_cgroup: &str, base: &Path) -> Result<Host> {
        let mounts: Vec<Mount> = mountinfo.lines().filter_map(parse_mount_line).collect();
        let rebase = |point: &str| base.join(point.trim_start_matches('/'));

        let mut v1 = Vec::new();
        let mut unified_own = None;
        for line in self_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                unified_own = Some(path.to_string());
                continue;
            }
            let controllers: Vec<String> = ctrls.split(',').map(str::to_string).collect();
            let mut candidates = mounts.iter().filter(|m| {
                m.fstype == "cgroup"
                    && controllers
                        .iter()
                        .all(|c| m.super_opts.contains(&c.as_str()))
            });
            // Several mounts of one hierarchy may exist (bind mounts); prefer
            // one whose root contains our cgroup.
            let chosen = candidates
                .clone()
                .find(|m| under_root(path, &m.root))
                .or_else(|| candidates.next());
            if let Some(m) = chosen {
                v1.push(V1Hierarchy {
                    controllers,
                    mount: rebase(&m.point),
                    own: relative_to_root(path, &m.root),
                });
            }
        }

        let cg2: Vec<&Mount> = mounts.iter().filter(|m| m.fstype == "cgroup2").collect();
        let standard = cg2.iter().find(|m| m.point == "/sys/fs/cgroup");
        let unified = standard.or(cg2.first()).map(|m| UnifiedHierarchy {
            mount: rebase(&m.point),
            own: relative_to_root(unified_own.as_deref().unwrap_or("/"), &m.root),
        });

        let real_v1 = v1
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        let mode = match (&unified, real_v1) {
            (Some(_), _) if standard.is_some() => Mode::Unified,
            (Some(_), false) => Mode::Unified,
            (Some(_), true) => Mode::Hybrid,
            (None, true) => Mode::Legacy,
            (None, false) => {
                return Err(Error::Cgroup(
                    "no cgroup hierarchy is mounted (nothing of type cgroup or cgroup2 in /proc/self/mountinfo)"
                        .into(),
                ))
            }
        };
        if mode == Mode::Unified {
            // Named v1 hierarchies left over on a v2 host are not ours to use.
            v1.clear();
        }
        Ok(Host { mode, v1, unified })
    }
}

/// The host's cgroup mode as the calling process sees it.
pub fn host_mode() -> Result<Mode> {
    Ok(Host::read()?.mode)
}

fn read_proc(path: &str) -> Result<String> {
    super::fs::read_small(Path::new(path)).map_err(|e| Error::path("reading", path, e))
}

fn parse_mount_line(line: &str) -> Option<Mount<'_>> {
    let (pre, post) = line.split_once(" - ")?;
    let mut pre = pre.split(' ');
    let (_id, _parent, _dev) = (pre.next()?, pre.next()?, pre.next()?);
    let root = unescape(pre.next()?);
    let point = unescape(pre.next()?);
    let mut post = post.split(' ');
    let fstype = post.next()?;
    if fstype != "cgroup" && fstype != "cgroup2" {
        return None;
    }
    let _source = post.next()?;
    let super_opts = post.next().unwrap_or("").split(',').collect();
    Some(Mount {
        root,
        point,
        fstype,
        super_opts,
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn under_root(path: &str, root: &str) -> bool {
    root == "/" || path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// `path` (from /proc/self/cgroup, relative to the hierarchy's real root) as
/// seen below a mount that shows only `root`. A cgroup outside the mounted
/// subtree (cgroup namespaces) is taken to be the mount itself.
fn relative_to_root(path: &str, root: &str) -> String {
    if root == "/" {
        return path.to_string();
    }
    match path.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MI: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CG: &str = "\
9:name=systemd:/user.slice
4:memory:/process_api/abc
3:cpuset:/
1:cpu,cpuacct:/
0::/user.slice
";

    #[test]
    fn hybrid_layout() {
        let h = Host::parse(HYBRID_MI, HYBRID_CG, Path::new("/base")).unwrap();
        assert_eq!(h.mode, Mode::Hybrid);
        assert_eq!(h.v1.len(), 4);
        let cpu =
            h.v1.iter()
                .find(|x| x.controllers == ["cpu", "cpuacct"])
                .unwrap();
        assert_eq!(cpu.mount, Path::new("/base/sys/fs/cgroup/cpu,cpuacct"));
        let mem = h.v1.iter().find(|x| x.controllers == ["memory"]).unwrap();
        assert_eq!(mem.own, "/process_api/abc");
        let sd =
            h.v1.iter()
                .find(|x| x.controllers == ["name=systemd"])
                .unwrap();
        assert_eq!(sd.own, "/user.slice");
        let u = h.unified.unwrap();
        assert_eq!(u.mount, Path::new("/base/sys/fs/cgroup/unified"));
        assert_eq!(u.own, "/user.slice");
    }

    #[test]
    fn pure_v2_ignores_named_v1() {
        let mi = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n\
                  50 30 0:40 / /run/systemd-v1 rw - cgroup cgroup rw,name=systemd\n";
        let h = Host::parse(mi, "1:name=systemd:/\n0::/init.scope\n", Path::new("/")).unwrap();
        assert_eq!(h.mode, Mode::Unified);
        assert!(h.v1.is_empty());
        assert_eq!(h.unified.unwrap().own, "/init.scope");
    }

    #[test]
    fn legacy_and_container_roots() {
        // Inside a container the mount shows only the container's subtree.
        let mi = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n\
                  36 31 0:33 /docker/abc /sys/fs/cgroup/my\\040pids ro - cgroup cgroup rw,pids\n";
        let h = Host::parse(
            mi,
            "5:pids:/docker/abc/sub\n4:memory:/docker/abc\n0::/\n",
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(h.mode, Mode::Legacy);
        assert!(h.unified.is_none());
        let pids = h.v1.iter().find(|x| x.controllers == ["pids"]).unwrap();
        assert_eq!(pids.mount, Path::new("/sys/fs/cgroup/my pids"));
        assert_eq!(pids.own, "/sub");
        assert_eq!(
            h.v1.iter()
                .find(|x| x.controllers == ["memory"])
                .unwrap()
                .own,
            "/"
        );
    }

    #[test]
    fn nothing_mounted() {
        let err = Host::parse(
            "22 1 0:3 / /proc rw - proc proc rw\n",
            "0::/\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no cgroup hierarchy"), "{err}");
    }

    #[test]
    fn unmounted_hierarchy_skipped() {
        let mi = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let h = Host::parse(mi, "6:net_cls,net_prio:/\n4:memory:/\n", Path::new("/")).unwrap();
        assert_eq!(h.v1.len(), 1);
    }
}
