//! Reading and writing cgroup control files with as few syscalls as the
//! kernel allows (open, one write, close) and errors that name the file and
//! the value.

use crate::error::{Error, Result};
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

/// Writes `value` into `dir/file`; the file must exist (cgroupfs files are
/// never created, so a missing one means a missing controller or feature).
/// O_TRUNC as runc opens them: cgroupfs ignores it, plain files (tests) need it.
pub fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let res = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|e| {
        let what = if e.kind() == ErrorKind::NotFound {
            format!("cgroup: cannot write {value:?}: {} does not exist (controller or feature not available)", path.display())
        } else {
            format!("cgroup: the kernel refused {value:?} for {}", path.display())
        };
        Error::Sys { what, source: e }
    })
}

/// The whole of a small kernel file: open, read until EOF, close. (std's
/// read_to_string also asks for the size and position, which procfs and
/// cgroupfs cannot tell anyway.)
pub fn read_small(path: &Path) -> std::io::Result<String> {
    let f = std::fs::File::open(path)?;
    let mut s = String::with_capacity(4096);
    f.take(u64::MAX).read_to_string(&mut s)?;
    Ok(s)
}

/// The trimmed contents of `dir/file`.
pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    match read_small(&path) {
        Ok(s) => Ok(s.trim().to_string()),
        Err(e) => Err(Error::path("reading cgroup file", path, e)),
    }
}

/// Like [`read`], but None when the file does not exist.
pub fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match read_small(&path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::path("reading cgroup file", path, e)),
    }
}

/// A file holding one unsigned number ("max" reads as u64::MAX).
pub fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    match read_opt(dir, file)? {
        None => Ok(None),
        Some(s) if s == "max" => Ok(Some(u64::MAX)),
        Some(s) => s.parse().map(Some).map_err(|_| {
            Error::Cgroup(format!(
                "{}: unexpected content {s:?}",
                dir.join(file).display()
            ))
        }),
    }
}

/// "key value" lines (memory.stat, cpu.stat, cgroup.events) as pairs.
pub fn keyed(content: &str) -> impl Iterator<Item = (&str, u64)> {
    content.lines().filter_map(|l| {
        let (k, v) = l.split_once(' ')?;
        Some((k, v.trim().parse().ok()?))
    })
}

/// Whether `dir/file` exists.
pub fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}

/// The pids listed in `dir/cgroup.procs`; an absent cgroup has none.
pub fn procs(dir: &Path) -> Result<Vec<i32>> {
    Ok(read_opt(dir, "cgroup.procs")?
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}
