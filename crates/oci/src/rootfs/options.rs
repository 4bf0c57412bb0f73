//! Parsing a config.json mount's `options` into what the kernel takes:
//! mount(2) flags, flags to clear, propagation changes, recursive
//! mount_setattr attributes, and the fs-specific data string.

use super::sys::MountAttr;
use super::sys::{
    MOUNT_ATTR_ATIME_MASK, MOUNT_ATTR_NOATIME, MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME,
    MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_RELATIME, MOUNT_ATTR_STRICTATIME,
};

const MS_NOSYMFOLLOW: u64 = 256;

/// A mount's options, sorted by how they reach the kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// MS_* flags for mount(2) (MS_BIND and MS_REC included).
    pub flags: u64,
    /// MS_* flags the options explicitly turn off ("rw", "suid", ...).
    pub clear: u64,
    /// Propagation changes (MS_PRIVATE, MS_SLAVE|MS_REC, ...), in order.
    pub propagation: Vec<u64>,
    /// Recursive attributes ("rro", "rnosuid", ...) for mount_setattr with AT_RECURSIVE.
    pub recursive: MountAttr,
    /// Everything the runtime does not know: passed to the filesystem.
    pub data: Vec<String>,
    /// runc's "tmpcopyup": copy the destination's contents into a new tmpfs.
    pub tmpcopyup: bool,
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND as u64 != 0
    }

    pub fn is_rec(&self) -> bool {
        self.flags & libc::MS_REC as u64 != 0
    }

    pub fn data(&self) -> String {
        self.data.join(",")
    }

    /// The non-recursive attribute change a bind mount needs after the
    /// bind itself: what the options set or clear beyond MS_BIND/MS_REC.
    pub fn bind_attr(&self) -> MountAttr {
        let mut a = MountAttr::default();
        for (ms, attr) in [
            (libc::MS_RDONLY as u64, MOUNT_ATTR_RDONLY),
            (libc::MS_NOSUID as u64, MOUNT_ATTR_NOSUID),
            (libc::MS_NODEV as u64, MOUNT_ATTR_NODEV),
            (libc::MS_NOEXEC as u64, MOUNT_ATTR_NOEXEC),
            (libc::MS_NODIRATIME as u64, MOUNT_ATTR_NODIRATIME),
            (MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW),
        ] {
            if self.flags & ms != 0 {
                a.attr_set |= attr;
            } else if self.clear & ms != 0 {
                a.attr_clr |= attr;
            }
        }
        let atime = [
            (libc::MS_NOATIME as u64, MOUNT_ATTR_NOATIME),
            (libc::MS_STRICTATIME as u64, MOUNT_ATTR_STRICTATIME),
            (libc::MS_RELATIME as u64, MOUNT_ATTR_RELATIME),
        ];
        if let Some((_, attr)) = atime.iter().find(|(ms, _)| self.flags & ms != 0) {
            a.attr_clr |= MOUNT_ATTR_ATIME_MASK;
            a.attr_set |= attr;
        } else if self.clear & (libc::MS_NOATIME | libc::MS_STRICTATIME | libc::MS_RELATIME) as u64
            != 0
        {
            // "atime", "norelatime", "nostrictatime": back to the kernel default.
            a.attr_clr |= MOUNT_ATTR_ATIME_MASK;
            a.attr_set |= MOUNT_ATTR_RELATIME;
        }
        a
    }
}

/// Every option the runtime understands itself (for `features`); others
/// are passed to the filesystem as data.
pub const KNOWN: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Set-flag options of mount(8) and runc.
fn set_flag(opt: &str) -> Option<u64> {
    Some(match opt {
        "ro" => libc::MS_RDONLY,
        "nosuid" => libc::MS_NOSUID,
        "nodev" => libc::MS_NODEV,
        "noexec" => libc::MS_NOEXEC,
        "sync" => libc::MS_SYNCHRONOUS,
        "dirsync" => libc::MS_DIRSYNC,
        "remount" => libc::MS_REMOUNT,
        "mand" => libc::MS_MANDLOCK,
        "noatime" => libc::MS_NOATIME,
        "nodiratime" => libc::MS_NODIRATIME,
        "relatime" => libc::MS_RELATIME,
        "strictatime" => libc::MS_STRICTATIME,
        "lazytime" => libc::MS_LAZYTIME,
        "silent" => libc::MS_SILENT,
        "bind" => libc::MS_BIND,
        "rbind" => libc::MS_BIND | libc::MS_REC,
        "nosymfollow" => return Some(MS_NOSYMFOLLOW),
        _ => return None,
    } as u64)
}

/// Clear-flag options: the option names the default, i.e. the flag off.
fn clear_flag(opt: &str) -> Option<u64> {
    Some(match opt {
        "rw" => libc::MS_RDONLY,
        "suid" => libc::MS_NOSUID,
        "dev" => libc::MS_NODEV,
        "exec" => libc::MS_NOEXEC,
        "async" => libc::MS_SYNCHRONOUS,
        "nomand" => libc::MS_MANDLOCK,
        "atime" => libc::MS_NOATIME,
        "diratime" => libc::MS_NODIRATIME,
        "norelatime" => libc::MS_RELATIME,
        "nostrictatime" => libc::MS_STRICTATIME,
        "nolazytime" => libc::MS_LAZYTIME,
        "loud" => libc::MS_SILENT,
        "symfollow" => return Some(MS_NOSYMFOLLOW),
        "defaults" => 0,
        _ => return None,
    } as u64)
}

pub fn propagation_flag(opt: &str) -> Option<u64> {
    Some(match opt {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    } as u64)
}

/// Recursive attributes (runtime-spec 1.1 "rro" and friends): (set, clear).
fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    let atime = |a| (a, MOUNT_ATTR_ATIME_MASK);
    Some(match opt {
        "rro" => (MOUNT_ATTR_RDONLY, 0),
        "rrw" => (0, MOUNT_ATTR_RDONLY),
        "rnosuid" => (MOUNT_ATTR_NOSUID, 0),
        "rsuid" => (0, MOUNT_ATTR_NOSUID),
        "rnodev" => (MOUNT_ATTR_NODEV, 0),
        "rdev" => (0, MOUNT_ATTR_NODEV),
        "rnoexec" => (MOUNT_ATTR_NOEXEC, 0),
        "rexec" => (0, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (MOUNT_ATTR_NODIRATIME, 0),
        "rdiratime" => (0, MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (MOUNT_ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, MOUNT_ATTR_NOSYMFOLLOW),
        "rnoatime" => atime(MOUNT_ATTR_NOATIME),
        "rstrictatime" => atime(MOUNT_ATTR_STRICTATIME),
        // The atime modes are an enum: "not noatime" is the kernel default.
        "rrelatime" | "ratime" | "rnorelatime" | "rnostrictatime" => atime(MOUNT_ATTR_RELATIME),
        _ => return None,
    })
}

/// Parses a mount's options. Never fails: whatever is not a known flag is
/// filesystem data, as with mount(8).
pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_ref();
        if let Some(f) = set_flag(opt) {
            o.flags |= f;
            o.clear &= !f;
        } else if let Some(f) = clear_flag(opt) {
            o.flags &= !f;
            o.clear |= f;
        } else if let Some(p) = propagation_flag(opt) {
            o.propagation.push(p);
        } else if let Some((set, clr)) = recursive_attr(opt) {
            let r = &mut o.recursive;
            if clr & MOUNT_ATTR_ATIME_MASK != 0 {
                r.attr_set &= !MOUNT_ATTR_ATIME_MASK;
            }
            r.attr_set = (r.attr_set & !clr) | set;
            r.attr_clr = (r.attr_clr & !set) | clr;
        } else if opt == "tmpcopyup" {
            o.tmpcopyup = true;
        } else if !opt.is_empty() {
            o.data.push(opt.to_string());
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const RO: u64 = libc::MS_RDONLY as u64;
    const BIND: u64 = libc::MS_BIND as u64;
    const REC: u64 = libc::MS_REC as u64;

    #[test]
    fn flags_data_and_propagation_are_separated() {
        let o = parse(&["rbind", "ro", "nosuid", "rprivate", "mode=755", "size=64k"]);
        assert_eq!(o.flags, BIND | REC | RO | libc::MS_NOSUID as u64);
        assert_eq!(
            o.propagation,
            vec![(libc::MS_PRIVATE | libc::MS_REC) as u64]
        );
        assert_eq!(o.data(), "mode=755,size=64k");
        assert!(o.is_bind() && o.is_rec());
    }

    #[test]
    fn later_options_win() {
        let o = parse(&["ro", "rw"]);
        assert_eq!(o.flags & RO, 0);
        assert_eq!(o.clear & RO, RO);
        let o = parse(&["rw", "ro"]);
        assert_eq!(o.flags & RO, RO);
        assert_eq!(o.clear & RO, 0);
    }

    #[test]
    fn every_known_option_is_handled_by_the_runtime() {
        for opt in KNOWN {
            assert!(parse(&[opt]).data.is_empty(), "{opt} was taken as fs data");
        }
        assert_eq!(parse(&["mode=755", "uid=5"]).data.len(), 2);
    }

    #[test]
    fn each_set_flag_has_its_kernel_value() {
        let cases: [(&str, libc::c_ulong); 8] = [
            ("sync", libc::MS_SYNCHRONOUS),
            ("dirsync", libc::MS_DIRSYNC),
            ("mand", libc::MS_MANDLOCK),
            ("noatime", libc::MS_NOATIME),
            ("strictatime", libc::MS_STRICTATIME),
            ("lazytime", libc::MS_LAZYTIME),
            ("silent", libc::MS_SILENT),
            ("remount", libc::MS_REMOUNT),
        ];
        for (opt, flag) in cases {
            assert_eq!(parse(&[opt]).flags, flag as u64, "{opt}");
        }
    }

    #[test]
    fn recursive_attributes() {
        let o = parse(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(
            o.recursive.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.recursive.attr_clr, MOUNT_ATTR_ATIME_MASK);
        let o = parse(&["rro", "rrw"]);
        assert_eq!(o.recursive.attr_set, 0);
        assert_eq!(o.recursive.attr_clr, MOUNT_ATTR_RDONLY);
        let o = parse(&["rnoatime", "rstrictatime"]);
        assert_eq!(o.recursive.attr_set, MOUNT_ATTR_STRICTATIME);
    }

    #[test]
    fn bind_attr_sets_and_clears() {
        let a = parse(&["bind", "ro", "nodev", "suid", "noatime"]).bind_attr();
        assert_eq!(
            a.attr_set,
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOATIME
        );
        assert_eq!(a.attr_clr, MOUNT_ATTR_NOSUID | MOUNT_ATTR_ATIME_MASK);
        assert!(parse(&["rbind"]).bind_attr().is_empty());
        assert!(parse(&["rbind", "rprivate"]).bind_attr().is_empty());
        let a = parse(&["bind", "atime"]).bind_attr();
        assert_eq!(
            (a.attr_set, a.attr_clr),
            (MOUNT_ATTR_RELATIME, MOUNT_ATTR_ATIME_MASK)
        );
    }

    #[test]
    fn tmpcopyup_is_an_extension_not_data() {
        let o = parse(&["tmpcopyup", "mode=1777"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.data(), "mode=1777");
    }
}
