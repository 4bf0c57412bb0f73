//! Applying one config.json mount inside the rootfs.
//!
//! The target is always an O_PATH descriptor resolved inside the rootfs
//! (secure_path); mount(2) gets `/proc/self/fd/N` (the host's procfs: this
//! runs before pivot_root) or the new mount API gets the descriptor itself.

use super::options::{self, MountOptions};
use super::secure_path::{self, Kind};
use super::sys::{self, MountAttr};
use super::{cgroup_mount, copyup, RootfsContext};
use crate::error::{Context, Error, Result};
use nix::fcntl::OFlag;
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
            return Err(Error::Spec(format!("mounts: destination {name:?} must be an absolute path")));
        }
        if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
            return Err(Error::Unsupported(format!("mount {name}: id-mapped mounts are not supported")));
        }
        let mut opts = options::parse(mount.options().as_deref().unwrap_or_default());
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
                    return Err(Error::Spec(format!("mount {name}: invalid mount type {t:?}")))
                }
                t => MountKind::Fs(t.to_string()),
            }
        };
        if opts.tmpcopyup && kind != MountKind::Fs("tmpfs".into()) {
            return Err(Error::Spec(format!("mount {name}: tmpcopyup is only valid for tmpfs")));
        }
        let dest = secure_path::clean(raw);
        let spec = Spec { mount, dest, kind, opts };
        spec.check_proc()?;
        Ok(spec)
    }

    /// Nothing may be mounted in /proc but procfs itself on /proc and the
    /// files lxcfs emulates (CVE-2019-16884 class: a fake /proc).
    fn check_proc(&self) -> Result<()> {
        let Ok(rest) = self.dest.strip_prefix("/proc") else { return Ok(()) };
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
        let src = self.source().filter(|s| !s.as_os_str().is_empty()).ok_or_else(|| {
            Error::Spec(format!("mount {}: a bind mount needs a source", self.dest.display()))
        })?;
        Ok(if src.is_relative() { bundle.join(src) } else { src })
    }

    fn fs_source(&self) -> Result<CString> {
        let s = match self.mount.source() {
            Some(s) if !s.as_os_str().is_empty() => s.as_os_str().as_bytes().to_vec(),
            _ => self.mount.typ().clone().unwrap_or_default().into_bytes(),
        };
        CString::new(s).map_err(|_| Error::Spec(format!("mount {}: source contains NUL", self.dest.display())))
    }

    fn err(&self, what: &str) -> impl FnOnce() -> String + '_ {
        let what = what.to_string();
        move || format!("mount {}: {what}", self.dest.display())
    }
}

fn is_procfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type().0 as i64 == libc::PROC_SUPER_MAGIC)
}

pub fn c_path(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| Error::Spec(format!("path {:?} contains NUL", p)))
}

/// Applies one mount. `strip_ro` defers MS_RDONLY (for /dev, which gets
/// device nodes before it is made read-only).
pub fn apply(root: BorrowedFd, ctx: &RootfsContext, m: &Spec, strip_ro: bool) -> Result<()> {
    match &m.kind {
        MountKind::Bind => apply_bind(root, ctx, m),
        MountKind::Proc | MountKind::Sysfs => apply_kernel_fs(root, m),
        MountKind::Cgroup | MountKind::Cgroup2 => cgroup_mount::apply(root, ctx, m),
        MountKind::Fs(t) => apply_fs(root, m, t, strip_ro),
    }
}

fn apply_bind(root: BorrowedFd, ctx: &RootfsContext, m: &Spec) -> Result<()> {
    let source = m.bind_source(ctx.bundle)?;
    let meta = std::fs::metadata(&source).map_err(|e| Error::path("bind source", &source, e))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = secure_path::open_or_create(root, &m.dest, kind)?;
    bind(&c_path(&source)?, target.as_fd(), &m.opts, (root, &m.dest))
        .ctx(m.err(&format!("binding {}", source.display())))?;
    Ok(())
}

/// Binds `source` (a host path) onto `target`, then applies the options'
/// attributes and propagation. With the new mount API the attributes are
/// set on the detached copy, so the mount never appears writable.
/// `at` (root descriptor, container path of `target`) finds the new mount
/// again on kernels without the new API.
pub fn bind(source: &CString, target: BorrowedFd, opts: &MountOptions, at: (BorrowedFd, &Path)) -> std::io::Result<()> {
    let attr = opts.bind_attr();
    let plain = attr.is_empty() && opts.recursive.is_empty() && opts.propagation.is_empty();
    let flags = opts.flags & (libc::MS_BIND | libc::MS_REC) as u64;
    if plain {
        return sys::mount(Some(source), &sys::fd_path(target), None, flags, None);
    }
    if sys::new_api() {
        let mut tflags = sys::OPEN_TREE_CLONE;
        if opts.is_rec() {
            tflags |= libc::AT_RECURSIVE as u32;
        }
        match sys::open_tree(cwd(), source, tflags) {
            Ok(tree) => {
                if !attr.is_empty() {
                    sys::mount_setattr(tree.as_fd(), false, &attr)?;
                }
                if !opts.recursive.is_empty() {
                    sys::mount_setattr(tree.as_fd(), true, &opts.recursive)?;
                }
                sys::move_mount(tree.as_fd(), target)?;
                return propagate(tree.as_fd(), &opts.propagation);
            }
            Err(e) if sys::note_enosys(&e) => {}
            Err(e) => return Err(e),
        }
    }
    sys::mount(Some(source), &sys::fd_path(target), None, flags, None)?;
    // The bind now sits on top of `target`; reach it through its path.
    let top = secure_path::open_path(at.0, at.1)?;
    set_attr(top.as_fd(), false, &attr)?;
    set_attr(top.as_fd(), true, &opts.recursive)?;
    propagate(top.as_fd(), &opts.propagation)
}

fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is a valid "descriptor" for every *at call for the
    // life of the process.
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Changes attributes of the mount whose root `fd` is: mount_setattr, or a
/// bind remount that keeps the flags the kernel locked (statfs).
pub fn set_attr(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> std::io::Result<()> {
    if attr.is_empty() {
        return Ok(());
    }
    if sys::new_api() {
        match sys::mount_setattr(fd, recursive, attr) {
            Err(e) if sys::note_enosys(&e) => {}
            r => return r,
        }
    }
    if recursive {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "recursive mount attributes need mount_setattr (Linux 5.12 or later)",
        ));
    }
    trusted_proc()?;
    let keep = (libc::MS_RDONLY
        | libc::MS_NOSUID
        | libc::MS_NODEV
        | libc::MS_NOEXEC
        | libc::MS_NOATIME
        | libc::MS_NODIRATIME
        | libc::MS_RELATIME
        | libc::MS_STRICTATIME) as u64;
    let current = sys::mount_flags(fd)? & keep;
    let mut flags = (current & !sys::attr_to_ms(attr.attr_clr)) | sys::attr_to_ms(attr.attr_set);
    if attr.attr_clr & sys::MOUNT_ATTR_ATIME_MASK != 0 {
        flags &= !((libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_RELATIME) as u64);
        flags |= sys::attr_to_ms(attr.attr_set & sys::MOUNT_ATTR_ATIME_MASK);
    }
    flags |= (libc::MS_BIND | libc::MS_REMOUNT) as u64;
    sys::mount(None, &sys::fd_path(fd), None, flags, None)
}

/// Applies propagation changes (MS_PRIVATE, MS_SHARED|MS_REC, ...) in order.
pub fn propagate(fd: BorrowedFd, changes: &[u64]) -> std::io::Result<()> {
    for &p in changes {
        let rec = p & libc::MS_REC as u64 != 0;
        let attr = MountAttr { propagation: p & !(libc::MS_REC as u64), ..Default::default() };
        if sys::new_api() {
            match sys::mount_setattr(fd, rec, &attr) {
                Err(e) if sys::note_enosys(&e) => {}
                r => {
                    r?;
                    continue;
                }
            }
        }
        sys::mount(None, &sys::fd_path(fd), None, p, None)?;
    }
    Ok(())
}

/// proc and sysfs: only on a real directory (never through a symlink), and
/// verified by statfs afterwards (CVE-2019-19921, CVE-2019-16884).
fn apply_kernel_fs(root: BorrowedFd, m: &Spec) -> Result<()> {
    let (fstype, magic) = match m.kind {
        MountKind::Proc => (c"proc", libc::PROC_SUPER_MAGIC),
        _ => (c"sysfs", libc::SYSFS_MAGIC),
    };
    let name = fstype.to_str().unwrap_or_default();
    let target = open_plain_dir(root, &m.dest, name)?;
    let data = c_data(m)?;
    sys::mount(Some(&m.fs_source()?), &sys::fd_path(target.as_fd()), Some(fstype), m.opts.flags, data.as_deref())
        .ctx(m.err(&format!("mounting {name}")))?;
    let top = open_plain_dir(root, &m.dest, name)?;
    let got = sys::fs_type(top.as_fd()).ctx(m.err("statfs"))?;
    if got != magic {
        return Err(Error::Mount(format!(
            "{}: expected a {name} filesystem after mounting it, found type {got:#x}",
            m.dest.display()
        )));
    }
    post_mount(top.as_fd(), m)
}

/// An O_PATH descriptor of a directory that is not a symlink, created if
/// missing.
fn open_plain_dir(root: BorrowedFd, dest: &Path, fs: &str) -> Result<OwnedFd> {
    match secure_path::open(root, dest, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_DIRECTORY) {
        Ok(fd) => Ok(fd),
        Err(nix::errno::Errno::ENOENT) => secure_path::open_or_create(root, dest, Kind::Dir),
        Err(e) => Err(Error::Mount(format!(
            "{}: filesystem {fs:?} must be mounted on an ordinary directory ({e})",
            dest.display()
        ))),
    }
}

fn c_data(m: &Spec) -> Result<Option<CString>> {
    let d = m.opts.data();
    if d.is_empty() {
        return Ok(None);
    }
    CString::new(d).map(Some).map_err(|_| Error::Spec(format!("mount {}: options contain NUL", m.dest.display())))
}

/// Recursive attributes and propagation for a mount we just made.
fn post_mount(top: BorrowedFd, m: &Spec) -> Result<()> {
    set_attr(top, true, &m.opts.recursive).ctx(m.err("applying recursive mount options"))?;
    propagate(top, &m.opts.propagation).ctx(m.err("changing mount propagation"))
}

fn apply_fs(root: BorrowedFd, m: &Spec, fstype: &str, strip_ro: bool) -> Result<()> {
    let c_type = CString::new(fstype).map_err(|_| Error::Spec("mount type contains NUL".into()))?;
    let data = c_data(m)?;
    let mut flags = m.opts.flags;
    if strip_ro {
        flags &= !(libc::MS_RDONLY as u64);
    }
    if flags & libc::MS_REMOUNT as u64 != 0 {
        // A remount acts on the mount already at the destination.
        let top = secure_path::open_path(root, &m.dest).map_err(|e| Error::path("remount", &m.dest, e.into()))?;
        sys::mount(None, &sys::fd_path(top.as_fd()), Some(&c_type), flags, data.as_deref())
            .ctx(m.err("remounting"))?;
        return post_mount(top.as_fd(), m);
    }
    let target = secure_path::open_or_create(root, &m.dest, Kind::Dir)?;
    // tmpcopyup reads the directory the tmpfs is about to hide.
    let under = if m.opts.tmpcopyup {
        Some(secure_path::open(root, &m.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY).ctx(m.err("opening for tmpcopyup"))?)
    } else {
        None
    };
    sys::mount(Some(&m.fs_source()?), &sys::fd_path(target.as_fd()), Some(&c_type), flags, data.as_deref())
        .ctx(m.err(&format!("mounting {fstype}")))?;
    let needs_top = under.is_some() || !m.opts.recursive.is_empty() || !m.opts.propagation.is_empty();
    if needs_top {
        let top = secure_path::open(root, &m.dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY).ctx(m.err("reopening"))?;
        if let Some(under) = under {
            copyup::copy_dir(under.as_fd(), top.as_fd()).ctx(m.err("tmpcopyup"))?;
        }
        post_mount(top.as_fd(), m)?;
    }
    Ok(())
}

/// Binds the object `src` refers to onto `dst`, both descriptors, with
/// `attr` set before the copy becomes visible. After pivot_root this avoids
/// trusting the container's /proc; the legacy fallback checks it first.
pub fn bind_fd(src: BorrowedFd, dst: BorrowedFd, recursive: bool, attr: &MountAttr) -> std::io::Result<OwnedFd> {
    if sys::new_api() {
        let mut flags = sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32;
        if recursive {
            flags |= libc::AT_RECURSIVE as u32;
        }
        match sys::open_tree(src, c"", flags) {
            Ok(tree) => {
                if !attr.is_empty() {
                    sys::mount_setattr(tree.as_fd(), recursive, attr)?;
                }
                sys::move_mount(tree.as_fd(), dst)?;
                return Ok(tree);
            }
            Err(e) if sys::note_enosys(&e) => {}
            Err(e) => return Err(e),
        }
    }
    trusted_proc()?;
    let mut flags = libc::MS_BIND as u64;
    if recursive {
        flags |= libc::MS_REC as u64;
    }
    sys::mount(Some(&sys::fd_path(src)), &sys::fd_path(dst), None, flags, None)?;
    let top = std::fs::read_link(sys::fd_path(dst).to_str().unwrap_or_default())?;
    let top: OwnedFd = nix::fcntl::open(&top, OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW, nix::sys::stat::Mode::empty())?;
    set_attr(top.as_fd(), false, attr)?;
    Ok(top)
}

/// /proc/self/fd paths are only meaningful when /proc is really procfs.
pub fn trusted_proc() -> std::io::Result<()> {
    let st = nix::sys::statfs::statfs("/proc/self/fd")?;
    if st.filesystem_type().0 as i64 != libc::PROC_SUPER_MAGIC {
        return Err(std::io::Error::other("/proc is not a procfs; refusing to use /proc/self/fd"));
    }
    Ok(())
}
