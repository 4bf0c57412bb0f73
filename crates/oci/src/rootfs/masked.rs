//! `linux.maskedPaths`: files get /dev/null bound over them (after checking
//! that it really is the null device, CVE-2025-31133), directories a
//! read-only tmpfs. All directories share ONE tmpfs, bound onto each
//! (runc#5275: Kubernetes masks many paths, one superblock each is slow).

use super::attach::{bind_fd, trusted_proc};
use super::secure_path;
use super::sys::{self, MountAttr};
use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, major, minor, SFlag};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

#[derive(Default)]
struct Masker {
    null: Option<OwnedFd>,
    /// The shared tmpfs, once mounted somewhere.
    tmpfs: Option<OwnedFd>,
}

pub fn apply(root: BorrowedFd, paths: &[String]) -> Result<()> {
    let mut m = Masker::default();
    for p in paths {
        let path = Path::new(p);
        let fd = match secure_path::open_path(root, path) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(Error::path("maskedPaths: resolving", path, e.into())),
        };
        let st = fstat(fd.as_fd()).map_err(|e| Error::path("maskedPaths: stat", path, e.into()))?;
        let res = if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits() {
            m.dir(fd.as_fd())
        } else {
            m.file(root, fd.as_fd())
        };
        res.map_err(|e| match e {
            Error::Sys { source, .. } => Error::path("maskedPaths: masking", path, source),
            e => e,
        })?;
    }
    Ok(())
}

impl Masker {
    fn file(&mut self, root: BorrowedFd, target: BorrowedFd) -> Result<()> {
        if self.null.is_none() {
            self.null = Some(verified_null(root)?);
        }
        let null = self.null.as_ref().map(|f| f.as_fd()).expect("set above");
        bind_fd(null, target, false, &MountAttr::default())
            .map_err(|e| Error::sys("binding /dev/null", e))?;
        Ok(())
    }

    fn dir(&mut self, target: BorrowedFd) -> Result<()> {
        if let Some(t) = &self.tmpfs {
            bind_fd(t.as_fd(), target, false, &MountAttr::default())
                .map_err(|e| Error::sys("binding the masking tmpfs", e))?;
            return Ok(());
        }
        if sys::new_api() {
            match sys::fsmount(c"tmpfs", &[], sys::MOUNT_ATTR_RDONLY) {
                Ok(t) => {
                    sys::move_mount(t.as_fd(), target)
                        .map_err(|e| Error::sys("attaching the masking tmpfs", e))?;
                    self.tmpfs = Some(t);
                    return Ok(());
                }
                Err(e) if sys::note_enosys(&e) => {}
                Err(e) => return Err(Error::sys("creating the masking tmpfs", e)),
            }
        }
        // Old kernels: one tmpfs per directory, as runc 1.1 does.
        trusted_proc().map_err(|e| Error::sys("masking a directory", e))?;
        sys::mount(
            Some(c"tmpfs"),
            &sys::fd_path(target),
            Some(c"tmpfs"),
            libc::MS_RDONLY as u64,
            None,
        )
        .map_err(|e| Error::sys("mounting the masking tmpfs", e))
    }
}

/// The container's /dev/null, refused unless it is the character device
/// 1:3 (a swapped-in symlink or file would turn masking into exposure).
fn verified_null(root: BorrowedFd) -> Result<OwnedFd> {
    let p = Path::new("/dev/null");
    let fd = secure_path::open(root, p, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(|e| Error::path("maskedPaths: opening", p, e.into()))?;
    let st = fstat(fd.as_fd()).map_err(|e| Error::path("maskedPaths: stat", p, e.into()))?;
    let chr = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits();
    if !chr || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3 {
        return Err(Error::Mount("maskedPaths: /dev/null in the container is not the null device (1:3); refusing to mask with it".into()));
    }
    Ok(fd)
}
