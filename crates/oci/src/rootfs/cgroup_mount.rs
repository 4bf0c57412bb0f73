//! `cgroup` and `cgroup2` mounts.
//!
//! With a new cgroup namespace the container mounts the hierarchies itself
//! and sees its own cgroup as the root. Without one, mounting would show the
//! host's whole tree, so (the simple correct choice, like runc for v1) we
//! bind the container's own cgroup directories from the host instead.
//!
//! Layouts: v2 (cgroup2 at /sys/fs/cgroup), v1 (a tmpfs holding one mount
//! per hierarchy), hybrid (v1 plus cgroup2 at `unified`).

use super::attach;
use super::mount_spec::{c_path, MountKind, Spec};
use super::mountinfo::{self, MountInfo};
use super::options::MountOptions;
use super::secure_path::{self, Kind};
use super::sys::{self, MountAttr};
use super::RootfsContext;
use crate::error::{Context, Error, Result};
use nix::fcntl::OFlag;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

const HOST_CGROUP: &str = "/sys/fs/cgroup";

/// One line of /proc/self/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// Controllers ("cpu,cpuacct", "name=systemd"); empty for v2.
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<Membership> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _id = f.next()?;
            let ctrl = f.next()?;
            let path = f.next()?;
            let controllers = ctrl
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some(Membership {
                controllers,
                path: path.into(),
            })
        })
        .collect()
}

/// The host's cgroup mounts directly under /sys/fs/cgroup (or on it).
struct Layout {
    v1: Vec<MountInfo>,
    unified: Option<MountInfo>,
}

fn layout() -> Result<Layout> {
    let host = Path::new(HOST_CGROUP);
    let mut v1: Vec<MountInfo> = Vec::new();
    let mut unified = None;
    for m in mountinfo::read()? {
        let here = m.mount_point == host || m.mount_point.parent() == Some(host);
        match m.fs_type.as_str() {
            "cgroup" if here && m.mount_point != host => {
                v1.retain(|o| o.mount_point != m.mount_point);
                v1.push(m);
            }
            "cgroup2" if here => unified = Some(m),
            _ => {}
        }
    }
    Ok(Layout { v1, unified })
}

/// The options a v1 hierarchy is mounted again with: its controllers and
/// name, without per-mount flags or the release agent.
fn v1_data(m: &MountInfo) -> String {
    m.super_options
        .iter()
        .filter(|o| *o != "rw" && *o != "ro" && !o.starts_with("release_agent="))
        .cloned()
        .collect::<Vec<_>>()
        .join(",")
}

/// The container's cgroup as /proc/self/cgroup lines would show it once the
/// init is inside.
fn members_of(cg: &crate::cgroups::CgroupManager) -> Vec<Membership> {
    let line = |d: &crate::cgroups::CgroupDir, controllers: Vec<String>| Membership {
        controllers,
        path: Path::new("/").join(d.path.strip_prefix(&d.mount).unwrap_or(&d.path)),
    };
    cg.v1
        .iter()
        .map(|d| line(d, d.controllers.clone()))
        .chain(cg.unified.iter().map(|d| line(d, Vec::new())))
        .collect()
}

/// The host directory holding this process's cgroup in hierarchy `m`.
fn own_dir(m: &MountInfo, members: &[Membership], v2: bool) -> PathBuf {
    let found = members.iter().find(|mb| {
        if v2 {
            mb.controllers.is_empty()
        } else {
            !mb.controllers.is_empty() && mb.controllers.iter().all(|c| m.super_options.contains(c))
        }
    });
    match found.and_then(|mb| mb.path.strip_prefix(&m.root).ok()) {
        Some(rel) => m.mount_point.join(rel),
        None => m.mount_point.clone(),
    }
}

pub fn apply(root: BorrowedFd, ctx: &RootfsContext, m: &Spec) -> Result<()> {
    let lay = layout()?;
    let members = if ctx.new_cgroupns {
        Vec::new()
    } else if let Some(cg) = ctx.cgroup {
        members_of(cg)
    } else {
        parse_proc_cgroup(
            &std::fs::read_to_string("/proc/thread-self/cgroup")
                .ctx(|| "reading /proc/thread-self/cgroup".into())?,
        )
    };
    let flags = m.opts.flags & !((libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT) as u64);
    if m.kind == MountKind::Cgroup2 || lay.v1.is_empty() {
        let u = lay.unified.as_ref().ok_or_else(|| {
            Error::Mount(format!(
                "{}: the host has no cgroup2 hierarchy",
                m.dest.display()
            ))
        })?;
        let target = m.target(root, Kind::Dir)?;
        hierarchy(root, ctx, &m.dest, target.as_fd(), u, &members, flags, true)?;
        return finish(root, &m.dest, &m.opts);
    }
    // v1 / hybrid: a tmpfs to hold the hierarchies, read-only at the end.
    let target = m.target(root, Kind::Dir)?;
    let tmp_flags = flags & !(libc::MS_RDONLY as u64);
    sys::mount(
        Some(c"tmpfs"),
        &sys::fd_path(target.as_fd()),
        Some(c"tmpfs"),
        tmp_flags,
        Some(c"mode=755"),
    )
    .ctx(|| {
        format!(
            "mount {}: tmpfs for the cgroup hierarchies",
            m.dest.display()
        )
    })?;
    let top = secure_path::open(root, &m.dest, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(|e| Error::path("reopening", &m.dest, e.into()))?;
    let all = lay
        .v1
        .iter()
        .map(|h| (h, false))
        .chain(lay.unified.iter().map(|u| (u, true)));
    for (h, v2) in all {
        let name = h
            .mount_point
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        let dest = m.dest.join(&name);
        // The tmpfs is new and ours: no lookup needed before mkdir.
        let sub = secure_path::create_dir(top.as_fd(), &name)
            .map_err(|e| Error::path("creating", &dest, e.into()))?;
        hierarchy(root, ctx, &dest, sub.as_fd(), h, &members, flags, v2)?;
        // cpu -> cpu,cpuacct, as the host has them.
        let n = name.to_string_lossy();
        if n.contains(',') {
            for part in n.split(',') {
                match nix::unistd::symlinkat(name.as_path(), top.as_fd(), part) {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(Error::path("cgroup symlink", m.dest.join(part), e.into()))
                    }
                }
            }
        }
    }
    if flags & libc::MS_RDONLY as u64 != 0 {
        let attr = MountAttr {
            attr_set: sys::MOUNT_ATTR_RDONLY,
            ..Default::default()
        };
        attach::set_attr(top.as_fd(), false, &attr)
            .ctx(|| format!("mount {}: making it read-only", m.dest.display()))?;
    }
    finish(root, &m.dest, &m.opts)
}

/// One hierarchy at `target`: mounted in the cgroupns, or the own cgroup
/// directory bound from the host.
#[allow(clippy::too_many_arguments)]
fn hierarchy(
    root: BorrowedFd,
    ctx: &RootfsContext,
    dest: &Path,
    target: BorrowedFd,
    h: &MountInfo,
    members: &[Membership],
    flags: u64,
    v2: bool,
) -> Result<()> {
    if ctx.new_cgroupns {
        let (fstype, data) = if v2 {
            (c"cgroup2", None)
        } else {
            (c"cgroup", Some(v1_data(h)))
        };
        let data = data.map(|d| CString::new(d).unwrap_or_default());
        return sys::mount(
            Some(fstype),
            &sys::fd_path(target),
            Some(fstype),
            flags,
            data.as_deref(),
        )
        .ctx(|| {
            format!(
                "mount {}: cgroup hierarchy {}",
                dest.display(),
                h.mount_point.display()
            )
        });
    }
    let source = own_dir(h, members, v2);
    let mut opts = MountOptions {
        flags: flags | (libc::MS_BIND | libc::MS_REC) as u64,
        ..Default::default()
    };
    opts.clear = 0;
    attach::bind(&c_path(&source)?, target, &opts, (root, dest))
        .ctx(|| format!("mount {}: binding {}", dest.display(), source.display()))
}

/// Recursive attributes and propagation asked for on the cgroup mount.
fn finish(root: BorrowedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.recursive.is_empty() && opts.propagation.is_empty() {
        return Ok(());
    }
    let top =
        secure_path::open_path(root, dest).map_err(|e| Error::path("reopening", dest, e.into()))?;
    attach::set_attr(top.as_fd(), true, &opts.recursive)
        .ctx(|| format!("mount {}: recursive options", dest.display()))?;
    attach::propagate(top.as_fd(), &opts.propagation)
        .ctx(|| format!("mount {}: propagation", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_dir_follows_proc_self_cgroup() {
        let members =
            parse_proc_cgroup("12:cpu,cpuacct:/ctr/a\n1:name=systemd:/sys/x\n0::/ctr/a\n");
        let cpu = mountinfo::parse_line(
            "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
        )
        .unwrap();
        assert_eq!(
            own_dir(&cpu, &members, false),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/ctr/a")
        );
        assert_eq!(v1_data(&cpu), "cpu,cpuacct");
        let sd = mountinfo::parse_line(
            "31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd",
        )
        .unwrap();
        assert_eq!(
            own_dir(&sd, &members, false),
            PathBuf::from("/sys/fs/cgroup/systemd/sys/x")
        );
        let u = mountinfo::parse_line(
            "32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate",
        )
        .unwrap();
        assert_eq!(
            own_dir(&u, &members, true),
            PathBuf::from("/sys/fs/cgroup/unified/ctr/a")
        );
    }
}
