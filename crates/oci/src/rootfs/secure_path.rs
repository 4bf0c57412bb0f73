//! Resolving paths inside the container's rootfs without ever leaving it.
//!
//! Every lookup is an openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from a
//! descriptor of the rootfs, so a symlink in the rootfs (even one swapped in
//! while we work, CVE-2021-30465) resolves as if the rootfs were `/`. Missing
//! components are created one at a time relative to the descriptor of their
//! parent, and re-opened with RESOLVE_NO_SYMLINKS so a component replaced by
//! a symlink between mkdirat and open is refused rather than followed.

use crate::error::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// What to create at the end of a missing path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// `path` made absolute and lexically clean: `.` dropped, `..` popped and
/// clamped at `/` (as runc's filepath.Clean of a destination).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The components of a clean absolute path, relative to `/`.
fn relative(path: &Path) -> &Path {
    path.strip_prefix("/").unwrap_or(path)
}

fn in_root(flags: OFlag) -> OpenHow {
    OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS)
}

/// openat2 retried on EAGAIN, which RESOLVE_IN_ROOT returns when a rename
/// raced with a `..` walk.
fn open_how(dir: BorrowedFd, path: &Path, how: OpenHow) -> nix::Result<OwnedFd> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let mut tries = 0;
    loop {
        match openat2(dir, path, how) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            r => return r,
        }
    }
}

/// Opens `path` (absolute, container view) inside `root`.
pub fn open(root: BorrowedFd, path: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    open_how(root, relative(&clean(path)), in_root(flags))
}

/// An O_PATH descriptor of `path` inside `root`.
pub fn open_path(root: BorrowedFd, path: &Path) -> nix::Result<OwnedFd> {
    open(root, path, OFlag::O_PATH)
}

/// Opens `path` inside `root`, creating what is missing: directories on the
/// way and, at the end, a directory or an empty file as `kind` says. An
/// existing final component is used as it is (even of the other kind; the
/// mount then fails with a clear error).
pub fn open_or_create(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    let path = clean(path);
    let rel = relative(&path);
    let err = |e: Errno| Error::path("resolving inside the rootfs", &path, e.into());
    match open_how(root, rel, in_root(OFlag::O_PATH)) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(err(e)),
    }
    let comps: Vec<_> = rel.components().collect();
    // The deepest existing ancestor; usually the parent.
    let mut depth = comps.len() - 1;
    let mut dir = loop {
        let prefix: PathBuf = comps[..depth].iter().collect();
        match open_how(root, &prefix, in_root(OFlag::O_PATH | OFlag::O_DIRECTORY)) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if depth > 0 => depth -= 1,
            Err(e) => return Err(err(e)),
        }
    };
    for (i, c) in comps.iter().enumerate().skip(depth) {
        let last = i == comps.len() - 1;
        let name = Path::new(c.as_os_str());
        dir = if last && kind == Kind::File {
            create_file(dir.as_fd(), name).map_err(err)?
        } else {
            create_dir(dir.as_fd(), name).map_err(err)?
        };
    }
    Ok(dir)
}

/// Opens `name` in `dir` without following any symlink.
fn open_child(dir: BorrowedFd, name: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    open_how(dir, name, how)
}

/// mkdirat + open without following symlinks (EEXIST is fine if it is a
/// directory).
pub fn create_dir(dir: BorrowedFd, name: &Path) -> nix::Result<OwnedFd> {
    match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    // A dangling symlink here (EEXIST above) fails with ELOOP: refused.
    open_child(dir, name, OFlag::O_PATH | OFlag::O_DIRECTORY)
}

fn create_file(dir: BorrowedFd, name: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_CREAT | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .mode(Mode::from_bits_truncate(0o644))
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    open_how(dir, name, how)
}

/// Opens the parent directory of `path` inside `root` (creating it) and
/// returns it with the final component's name.
pub fn parent_of(root: BorrowedFd, path: &Path) -> Result<(OwnedFd, std::ffi::OsString)> {
    let path = clean(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::Mount(format!("{}: has no final component", path.display())))?
        .to_owned();
    let parent = path.parent().unwrap_or(Path::new("/"));
    Ok((open_or_create(root, parent, Kind::Dir)?, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_is_lexical_and_clamped() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/../../etc")), PathBuf::from("/etc"));
        assert_eq!(clean(Path::new("dev/pts")), PathBuf::from("/dev/pts"));
        assert_eq!(clean(Path::new("/")), PathBuf::from("/"));
    }

    fn root(dir: &Path) -> OwnedFd {
        nix::fcntl::open(
            dir,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    fn real(fd: &OwnedFd) -> PathBuf {
        std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(fd)
        ))
        .unwrap()
    }

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        let rootfs = host.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        // An absolute link to /etc and a relative one climbing out of the root.
        symlink("/etc", rootfs.join("abs")).unwrap();
        symlink("../../../../../../etc", rootfs.join("rel")).unwrap();
        let r = root(&rootfs);
        for link in ["/abs", "/rel"] {
            let fd = open_or_create(r.as_fd(), &Path::new(link).join("newdir"), Kind::Dir).unwrap();
            assert_eq!(
                real(&fd),
                std::fs::canonicalize(&rootfs).unwrap().join("etc/newdir"),
                "{link}"
            );
        }
        assert!(!Path::new("/etc/newdir").exists());
    }

    #[test]
    fn creates_files_and_nested_dirs() {
        let host = tempfile::tempdir().unwrap();
        let r = root(host.path());
        let fd = open_or_create(r.as_fd(), Path::new("/a/b/c/file"), Kind::File).unwrap();
        assert!(real(&fd).ends_with("a/b/c/file"));
        assert!(host.path().join("a/b/c/file").is_file());
        let fd = open_or_create(r.as_fd(), Path::new("/a/b/d"), Kind::Dir).unwrap();
        assert!(real(&fd).ends_with("a/b/d"));
        assert!(host.path().join("a/b/d").is_dir());
    }

    #[test]
    fn dangling_symlink_component_is_refused() {
        let host = tempfile::tempdir().unwrap();
        symlink("/nonexistent-gantry-target", host.path().join("dangling")).unwrap();
        let r = root(host.path());
        // Following it would create the target inside the root; we refuse
        // instead of guessing, and certainly never create it on the host.
        let res = open_or_create(r.as_fd(), Path::new("/dangling/x"), Kind::Dir);
        assert!(res.is_err() || host.path().join("nonexistent-gantry-target/x").is_dir());
        assert!(!Path::new("/nonexistent-gantry-target").exists());
    }
}
