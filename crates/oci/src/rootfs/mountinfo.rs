//! /proc/thread-self/mountinfo (mount namespaces are per thread: a caller
//! that unshared one must read its own), read only when needed (cgroup v1
//! hierarchies, the rootfs's parent mount, host proc/sys for --no-pivot):
//! it can be long on busy hosts.

use crate::error::{Context, Result};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Path inside the filesystem that is mounted (bind mounts, cgroupns views).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields: "shared:N", "master:N", ...
    pub optional: Vec<String>,
    pub fs_type: String,
    pub super_options: Vec<String>,
}

impl MountInfo {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
}

/// The kernel escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let _id = l.next()?;
    let _parent = l.next()?;
    let _dev = l.next()?;
    let root = unescape(l.next()?);
    let mount_point = unescape(l.next()?);
    let _opts = l.next()?;
    let optional = l.map(str::to_string).collect();
    let mut r = right.split(' ');
    let fs_type = r.next()?.to_string();
    let _source = r.next()?;
    let super_options = r
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    Some(MountInfo {
        root: root.into(),
        mount_point: mount_point.into(),
        optional,
        fs_type,
        super_options,
    })
}

pub fn read() -> Result<Vec<MountInfo>> {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo")
        .ctx(|| "reading /proc/thread-self/mountinfo".into())?;
    Ok(text.lines().filter_map(parse_line).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse_line(
            "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime shared:1 master:2 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(m.root, PathBuf::from("/mnt1"));
        assert_eq!(m.mount_point, PathBuf::from("/mnt/with space"));
        assert!(m.is_shared());
        assert_eq!(m.fs_type, "ext3");
        assert_eq!(m.super_options, vec!["rw", "errors=continue"]);
        let c = parse_line(
            "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
        )
        .unwrap();
        assert!(!c.is_shared());
        assert_eq!(c.super_options, vec!["rw", "cpu", "cpuacct"]);
    }
}
