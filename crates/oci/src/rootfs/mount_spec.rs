//! A config.json mount parsed once: its kind, clean destination and
//! options, and the checks that need no rootfs (the /proc rules) or only a
//! descriptor of the target (resolving into procfs).

use super::options::{self, MountOptions};
use super::secure_path::{self, Kind};
use super::sys;
use crate::error::{Error, Result};
use oci_spec::runtime::Mount;
use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Paths under /proc that may be bind-mounted over (lxcfs and friends);
/// anything else under /proc is refused, as runc does.
pub const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// How a config mount is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Proc,
    Sysfs,
    /// `cgroup`: whatever the host has (v1, v2 or hybrid).
    Cgroup,
    /// `cgroup2`: the unified hierarchy only.
    Cgroup2,
    /// Any other filesystem, mounted by type name with its data.
    Fs(String),
}

/// A config mount, parsed once.
pub struct Spec<'a> {
    pub mount: &'a Mount,
    pub dest: PathBuf,
    pub kind: MountKind,
    pub opts: MountOptions,
}

impl<'a> Spec<'a> {
    /// Parses and checks what can be checked without touching the rootfs.
    pub fn new(mount: &'a Mount) -> Result<Self> {
        let raw = mount.destination();
        let name = raw.display();
        if !raw.is_absolute() {
            return Err(Error::Spec(format!(
                "mounts: destination {name:?} must be an absolute path"
            )));
        }
        if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
            return Err(Error::Unsupported(format!(
                "mount {name}: id-mapped mounts are not supported"
            )));
        }
        let mut opts = options::parse(mount.options().as_deref().unwrap_or_default());
        if opts.data.iter().any(|d| d == "idmap" || d == "ridmap") {
            return Err(Error::Unsupported(format!(
                "mount {name}: id-mapped mounts (idmap) are not supported"
            )));
        }
        let typ = mount.typ().as_deref().unwrap_or("");
        if typ == "bind" {
            // A "bind" type without the option is still meant as a bind.
            opts.flags |= libc::MS_BIND as u64;
        }
        let kind = if opts.is_bind() {
            MountKind::Bind
        } else {
            match typ {
                "" | "none" => {
                    return Err(Error::Spec(format!(
                        "mount {name}: no type given and no bind option: unknown mount type"
                    )))
                }
                "proc" => MountKind::Proc,
                "sysfs" => MountKind::Sysfs,
                "cgroup" => MountKind::Cgroup,
                "cgroup2" => MountKind::Cgroup2,
                t if t.contains('/') || t.contains(',') => {
                    return Err(Error::Spec(format!(
                        "mount {name}: invalid mount type {t:?}"
                    )))
                }
                t => MountKind::Fs(t.to_string()),
            }
        };
        if opts.tmpcopyup && kind != MountKind::Fs("tmpfs".into()) {
            return Err(Error::Spec(format!(
                "mount {name}: tmpcopyup is only valid for tmpfs"
            )));
        }
        let dest = secure_path::clean(raw);
        let spec = Spec {
            mount,
            dest,
            kind,
            opts,
        };
        spec.check_proc()?;
        Ok(spec)
    }

    /// Nothing may be mounted in /proc but procfs itself on /proc and the
    /// files lxcfs emulates (CVE-2019-16884 class: a fake /proc).
    fn check_proc(&self) -> Result<()> {
        let Ok(rest) = self.dest.strip_prefix("/proc") else {
            return Ok(());
        };
        if rest.as_os_str().is_empty() {
            return match &self.kind {
                MountKind::Proc => Ok(()),
                MountKind::Bind if self.source().is_some_and(|s| is_procfs(&s)) => Ok(()),
                _ => Err(Error::Spec(format!(
                    "mount /proc: only a proc filesystem may be mounted on /proc (got {})",
                    self.mount.typ().as_deref().unwrap_or("a bind mount")
                ))),
            };
        }
        if self.kind == MountKind::Bind && PROC_ALLOWED.iter().any(|p| Path::new(p) == self.dest) {
            return Ok(());
        }
        Err(Error::Spec(format!(
            "mount {}: cannot be mounted because it is inside /proc",
            self.dest.display()
        )))
    }

    /// The bind source on the host (relative sources are relative to the bundle).
    pub fn source(&self) -> Option<PathBuf> {
        self.mount.source().clone()
    }

    pub fn bind_source(&self, bundle: &Path) -> Result<PathBuf> {
        let src = self
            .source()
            .filter(|s| !s.as_os_str().is_empty())
            .ok_or_else(|| {
                Error::Spec(format!(
                    "mount {}: a bind mount needs a source",
                    self.dest.display()
                ))
            })?;
        Ok(if src.is_relative() {
            bundle.join(src)
        } else {
            src
        })
    }

    pub fn fs_source(&self) -> Result<CString> {
        let s = match self.mount.source() {
            Some(s) if !s.as_os_str().is_empty() => s.as_os_str().as_bytes().to_vec(),
            _ => self.mount.typ().clone().unwrap_or_default().into_bytes(),
        };
        CString::new(s).map_err(|_| {
            Error::Spec(format!(
                "mount {}: source contains NUL",
                self.dest.display()
            ))
        })
    }

    /// The destination inside `root`, created if missing. A destination
    /// that resolves into procfs through a symlink (say /data -> /proc/self)
    /// is refused like a literal /proc path: covering procfs files would
    /// redirect the runtime's later /proc writes (CVE-2019-16884 class).
    pub fn target(&self, root: BorrowedFd, kind: Kind) -> Result<OwnedFd> {
        let fd = secure_path::open_or_create(root, &self.dest, kind)?;
        let on_proc = sys::fs_type(fd.as_fd()).map_err(|e| Error::path("statfs", &self.dest, e))?
            == libc::PROC_SUPER_MAGIC;
        if on_proc && !PROC_ALLOWED.iter().any(|p| Path::new(p) == self.dest) {
            return Err(Error::Mount(format!(
                "{}: resolves into procfs; refusing to mount over it",
                self.dest.display()
            )));
        }
        Ok(fd)
    }

    pub fn err(&self, what: &str) -> impl FnOnce() -> String + '_ {
        let what = what.to_string();
        move || format!("mount {}: {what}", self.dest.display())
    }
}

fn is_procfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p)
        .is_ok_and(|s| s.filesystem_type().0 as i64 == libc::PROC_SUPER_MAGIC)
}

pub fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("path {:?} contains NUL", p)))
}
