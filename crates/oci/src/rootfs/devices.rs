//! Device nodes in the container's /dev: the defaults every container gets
//! and `linux.devices`. mknod where we may; in a user namespace (where mknod
//! is impossible) the host's node is bind-mounted instead, as runc does.

use super::secure_path::{self, Kind};
use super::sys;
use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A device to create: (path, type, major, minor, mode, uid, gid).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

const DEFAULTS: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

pub fn kind_of(t: LinuxDeviceType) -> Option<SFlag> {
    match t {
        LinuxDeviceType::C | LinuxDeviceType::U => Some(SFlag::S_IFCHR),
        LinuxDeviceType::B => Some(SFlag::S_IFBLK),
        LinuxDeviceType::P => Some(SFlag::S_IFIFO),
        LinuxDeviceType::A => None,
    }
}

/// The default devices, replaced by any `linux.devices` entry of the same path.
pub fn plan(devices: &[LinuxDevice]) -> Result<Vec<Node>> {
    let mut nodes: Vec<Node> = DEFAULTS
        .iter()
        .map(|&(p, major, minor)| Node {
            path: p.into(),
            kind: SFlag::S_IFCHR,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect();
    for d in devices {
        let path = secure_path::clean(d.path());
        let kind = kind_of(d.typ()).ok_or_else(|| {
            Error::Spec(format!(
                "linux.devices {}: type \"a\" is not a device",
                path.display()
            ))
        })?;
        let node = Node {
            path: path.clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        nodes.retain(|n| n.path != path);
        nodes.push(node);
    }
    Ok(nodes)
}

/// The container's /dev (created if missing), shared by the steps below.
pub fn open_dev(root: BorrowedFd) -> Result<OwnedFd> {
    secure_path::open_or_create(root, Path::new("/dev"), Kind::Dir)
}

/// Creates every node inside `root`; nodes directly in /dev use `dev`.
pub fn create(root: BorrowedFd, dev: BorrowedFd, nodes: &[Node], in_userns: bool) -> Result<()> {
    // Modes are exact, as in the config: no umask trimming.
    let old = (!in_userns).then(|| nix::sys::stat::umask(Mode::empty()));
    let res = nodes.iter().try_for_each(|n| {
        let (parent, name) = if n.path.parent() == Some(Path::new("/dev")) {
            (None, n.path.file_name().unwrap_or_default().to_owned())
        } else {
            let (p, name) = secure_path::parent_of(root, &n.path)?;
            (Some(p), name)
        };
        let dir = parent.as_ref().map_or(dev, |p| p.as_fd());
        if in_userns {
            bind_host(root, n)
        } else {
            mknod(dir, &name, n)
        }
    });
    if let Some(old) = old {
        nix::sys::stat::umask(old);
    }
    res
}

fn mknod(dir: BorrowedFd, name: &OsStr, n: &Node) -> Result<()> {
    let err = |e: Errno| Error::path("creating device", &n.path, e.into());
    let dev = makedev(n.major, n.minor);
    let perm = Mode::from_bits_truncate(n.mode);
    match mknodat(dir, name, n.kind, perm, dev) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            // Keep an identical node; replace anything else the rootfs put
            // there (a regular file or symlink named like a device).
            let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err)?;
            let same = st.st_mode & SFlag::S_IFMT.bits() == n.kind.bits()
                && (n.kind == SFlag::S_IFIFO || st.st_rdev == dev);
            if !same {
                nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir)
                    .map_err(err)?;
                mknodat(dir, name, n.kind, perm, dev).map_err(err)?;
            } else if st.st_mode & 0o7777 != n.mode {
                nix::sys::stat::fchmodat(
                    dir,
                    name,
                    perm,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(err)?;
            }
        }
        Err(e) => return Err(err(e)),
    }
    // mknod already made it ours; chown only when the config asks otherwise.
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    if n.uid != uid || n.gid != gid {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(n.uid)),
            Some(Gid::from_raw(n.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(err)?;
    }
    Ok(())
}

/// In a user namespace: an empty file bound over by the host's node.
fn bind_host(root: BorrowedFd, n: &Node) -> Result<()> {
    let target: OwnedFd = secure_path::open_or_create(root, &n.path, Kind::File)?;
    let source = super::mount_spec::c_path(&n.path)?;
    sys::mount(
        Some(&source),
        &sys::fd_path(target.as_fd()),
        None,
        libc::MS_BIND as u64,
        None,
    )
    .map_err(|e| Error::path("binding the host device", &n.path, e))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core, and /dev/ptmx when devpts is
/// mounted at /dev/pts.
pub fn symlinks(dev: BorrowedFd, ptmx: bool) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    if ptmx {
        match nix::unistd::unlinkat(dev, "ptmx", nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(Error::path("replacing", "/dev/ptmx", e.into())),
        }
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(Error::path(
                    "creating symlink",
                    Path::new("/dev").join(name),
                    e.into(),
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_devices_replace_defaults() {
        let d: LinuxDevice = serde_json::from_str(
            r#"{"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":420,"uid":5,"gid":6}"#,
        )
        .unwrap();
        let fuse: LinuxDevice =
            serde_json::from_str(r#"{"path":"/dev/fuse","type":"c","major":10,"minor":229}"#)
                .unwrap();
        let nodes = plan(&[d, fuse]).unwrap();
        assert_eq!(nodes.len(), 7);
        let null = nodes
            .iter()
            .find(|n| n.path == Path::new("/dev/null"))
            .unwrap();
        assert_eq!((null.mode, null.uid, null.gid), (0o644, 5, 6));
        let fuse = nodes
            .iter()
            .find(|n| n.path == Path::new("/dev/fuse"))
            .unwrap();
        assert_eq!((fuse.major, fuse.minor, fuse.mode), (10, 229, 0o666));
    }

    #[test]
    fn type_a_is_not_a_device() {
        let d: LinuxDevice = serde_json::from_str(r#"{"path":"/dev/x","type":"a"}"#).unwrap();
        assert!(plan(&[d]).unwrap_err().to_string().contains("/dev/x"));
    }
}
