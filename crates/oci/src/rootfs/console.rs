//! /dev/console: the terminal's pty slave bound over it, as runc does.
//! /dev/console must be a plain file or device we own: a symlink planted
//! there would aim the bind (and later console writes) at anything
//! (CVE-2025-52565), so it is replaced, never followed.

use super::attach::bind_fd;
use super::secure_path::{self, Kind};
use super::sys::MountAttr;
use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, major, SFlag};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub fn mount(root: BorrowedFd, slave: &Path) -> Result<()> {
    let src = secure_path::open(root, slave, OFlag::O_PATH | OFlag::O_NOFOLLOW)
        .map_err(|e| Error::path("console: opening the pty", slave, e.into()))?;
    let st = fstat(src.as_fd()).map_err(|e| Error::path("console: stat", slave, e.into()))?;
    // Unix98 pty slaves have majors 136..=143.
    if st.st_mode & SFlag::S_IFMT.bits() != SFlag::S_IFCHR.bits()
        || !(136..=143).contains(&major(st.st_rdev))
    {
        return Err(Error::Mount(format!(
            "console: {} is not a pty slave",
            slave.display()
        )));
    }
    let target = console_target(root)?;
    bind_fd(src.as_fd(), target.as_fd(), false, &MountAttr::default())
        .map_err(|e| Error::path("console: binding onto /dev/console", slave, e))?;
    Ok(())
}

fn console_target(root: BorrowedFd) -> Result<OwnedFd> {
    let path = Path::new("/dev/console");
    let err = |e: Errno| Error::path("console: preparing", path, e.into());
    match secure_path::open(root, path, OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => {
            let st = fstat(fd.as_fd()).map_err(err)?;
            let fmt = st.st_mode & SFlag::S_IFMT.bits();
            if fmt == SFlag::S_IFREG.bits() || fmt == SFlag::S_IFCHR.bits() {
                return Ok(fd);
            }
            let (dev, name) = secure_path::parent_of(root, path)?;
            nix::unistd::unlinkat(
                dev.as_fd(),
                name.as_os_str(),
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(err)?;
        }
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(err(e)),
    }
    secure_path::open_or_create(root, path, Kind::File)
}
