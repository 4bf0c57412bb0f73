//! `linux.readonlyPaths` and `root.readonly`.

use super::attach::{bind_fd, set_attr};
use super::secure_path;
use super::sys::{self, MountAttr};
use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

fn ro() -> MountAttr {
    MountAttr {
        attr_set: sys::MOUNT_ATTR_RDONLY,
        ..Default::default()
    }
}

/// Each path is bound onto itself read-only, mounts below it included (a
/// writable submount would undo the point of the option).
pub fn apply(root: BorrowedFd, paths: &[String]) -> Result<()> {
    for p in paths {
        let path = Path::new(p);
        let fd = match secure_path::open_path(root, path) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::path("readonlyPaths: resolving", path, e.into())),
        };
        // (Without mount_setattr only the top mount becomes read-only.)
        bind_fd(fd.as_fd(), fd.as_fd(), true, &ro())
            .map_err(|e| Error::path("readonlyPaths", path, e))?;
    }
    Ok(())
}

/// `root.readonly`: the container's / (only that mount, as runc does; the
/// config mounts keep their own options). Flags the kernel locked in a user
/// namespace are kept by mount_setattr, or by reading them for a remount.
pub fn root(root: BorrowedFd) -> Result<()> {
    set_attr(root, false, &ro()).ctx(|| "root.readonly: remounting / read-only".into())
}
