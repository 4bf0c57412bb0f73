//! runc's `tmpcopyup` mount extension: a new tmpfs starts with a copy of
//! the directory it covers. Everything is descriptor-relative and never
//! follows a symlink, since the source is the container's rootfs.

use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstat, fstatat, mkdirat, mknodat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

fn no_follow() -> OFlag {
    OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Copies the contents, modes and owners of directory `src` into `dst`.
pub fn copy_dir(src: BorrowedFd, dst: BorrowedFd) -> io::Result<()> {
    let st = fstat(src)?;
    nix::sys::stat::fchmod(dst, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    fchown(
        dst,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    copy_entries(src, dst)
}

fn copy_entries(src: BorrowedFd, dst: BorrowedFd) -> io::Result<()> {
    let fd: OwnedFd = openat(
        src,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | no_follow(),
        Mode::empty(),
    )?;
    let mut dir = Dir::from_fd(fd)?;
    let names: Vec<_> = dir
        .iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.to_bytes() != b"." && n.to_bytes() != b"..")
        .collect();
    for name in names {
        let name = name.as_c_str();
        let st = fstatat(src, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(dst, name, perm)?;
                let s = openat(
                    src,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | no_follow(),
                    Mode::empty(),
                )?;
                let d = openat(
                    dst,
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | no_follow(),
                    Mode::empty(),
                )?;
                copy_entries(s.as_fd(), d.as_fd())?;
            }
            SFlag::S_IFREG => {
                let s = openat(src, name, OFlag::O_RDONLY | no_follow(), Mode::empty())?;
                let d = openat(
                    dst,
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | no_follow(),
                    perm,
                )?;
                io::copy(&mut File::from(s), &mut File::from(d))?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(src, name)?;
                symlinkat(target.as_os_str(), dst, name)?;
            }
            _ => mknodat(dst, name, kind, perm, st.st_rdev)?,
        }
        fchownat(
            dst,
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind != SFlag::S_IFLNK {
            // The umask trimmed the mode at creation; the fresh tmpfs is ours
            // alone, so following cannot leave it.
            fchmodat(dst, name, perm, FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}
