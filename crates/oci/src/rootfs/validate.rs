//! Checks of mounts, devices, paths and sysctls made in the parent before
//! anything is forked, so a bad config fails with one line naming the
//! mount or field, and nothing is left behind.

use super::devices;
use super::mount_spec::{MountKind, Spec as MountSpec};
use super::{propagation, sysctl};
use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use std::path::Path;

/// Filesystems the kernel may not list in /proc/filesystems until their
/// module is loaded by the mount itself.
const COMMON_FS: &[&str] = &[
    "tmpfs",
    "proc",
    "sysfs",
    "devpts",
    "mqueue",
    "cgroup",
    "cgroup2",
    "overlay",
    "ramfs",
    "hugetlbfs",
    "bpf",
    "securityfs",
    "debugfs",
    "tracefs",
    "fuse",
    "fusectl",
    "configfs",
    "binfmt_misc",
    "pstore",
    "efivarfs",
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "9p",
    "virtiofs",
    "ext2",
    "ext3",
    "ext4",
    "xfs",
    "btrfs",
    "vfat",
    "iso9660",
    "squashfs",
    "erofs",
    "zfs",
    "autofs",
    "devtmpfs",
    "nsfs",
];

fn fs_known(t: &str) -> bool {
    if COMMON_FS.contains(&t) || t.starts_with("fuse.") || t.starts_with("fuseblk") {
        return true;
    }
    let listed = std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some(t)));
    listed || module_provides(t)
}

/// modules.alias names `fs-TYPE` for every filesystem module.
fn module_provides(t: &str) -> bool {
    let Ok(u) = nix::sys::utsname::uname() else {
        return false;
    };
    let path = Path::new("/lib/modules")
        .join(u.release())
        .join("modules.alias");
    let needle = format!("alias fs-{t} ");
    std::fs::read_to_string(path).is_ok_and(|s| s.lines().any(|l| l.starts_with(&needle)))
}

pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    let linux = spec.linux().as_ref();
    propagation::root_flag(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    for m in spec.mounts().iter().flatten() {
        let ms = MountSpec::new(m)?;
        match &ms.kind {
            MountKind::Bind => {
                let src = ms.bind_source(bundle)?;
                std::fs::metadata(&src).map_err(|e| {
                    Error::Spec(format!("mount {}: bind source {}: {e}", ms.dest.display(), src.display()))
                })?;
            }
            MountKind::Fs(t) if !fs_known(t) => {
                return Err(Error::Spec(format!(
                    "mount {}: unknown mount type {t:?} (not a filesystem this kernel knows, and no bind option)",
                    ms.dest.display()
                )))
            }
            _ => {}
        }
    }
    if let Some(l) = linux {
        for (field, paths) in [
            ("maskedPaths", l.masked_paths()),
            ("readonlyPaths", l.readonly_paths()),
        ] {
            for p in paths.iter().flatten() {
                if !p.starts_with('/') {
                    return Err(Error::Spec(format!(
                        "linux.{field} {p:?}: must be an absolute path"
                    )));
                }
            }
        }
        let devs = l.devices().clone().unwrap_or_default();
        for d in &devs {
            if !d.path().is_absolute() {
                return Err(Error::Spec(format!(
                    "linux.devices {:?}: path must be absolute",
                    d.path()
                )));
            }
        }
        devices::plan(&devs)?;
    }
    sysctl::validate(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        let base = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},"#;
        serde_json::from_str(&format!("{base}{json}}}")).unwrap()
    }

    fn err(json: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        validate(&spec(json), dir.path()).unwrap_err().to_string()
    }

    #[test]
    fn good_config_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hosts"), "").unwrap();
        let s = spec(
            r#""mounts":[{"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]},
            {"destination":"/etc/hosts","type":"bind","source":"hosts","options":["rbind","ro","rprivate"]},
            {"destination":"/mnt","source":"/tmp","options":["bind"]},
            {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]},
            {"destination":"/proc/cpuinfo","type":"bind","source":"/proc/cpuinfo","options":["bind"]}],
            "linux":{"rootfsPropagation":"rprivate","namespaces":[{"type":"ipc"},{"type":"network"}],
            "sysctl":{"kernel.shmmax":"1000","net.ipv4.ip_forward":"1"},
            "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"],
            "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}"#,
        );
        validate(&s, dir.path()).unwrap();
    }

    #[test]
    fn relative_destination() {
        let e = err(r#""mounts":[{"destination":"data","type":"tmpfs"}]"#);
        assert!(e.contains("\"data\"") && e.contains("absolute"), "{e}");
    }

    #[test]
    fn unknown_type_without_bind() {
        let e = err(r#""mounts":[{"destination":"/x","type":"nosuchfs","source":"x"}]"#);
        assert!(e.contains("/x") && e.contains("nosuchfs"), "{e}");
        let e = err(r#""mounts":[{"destination":"/y","type":"none","source":"/tmp"}]"#);
        assert!(e.contains("/y") && e.contains("bind"), "{e}");
    }

    #[test]
    fn idmapped_mounts_are_refused_not_ignored() {
        let e = err(
            r#""mounts":[{"destination":"/m","type":"bind","source":"/tmp","options":["rbind","idmap"]}]"#,
        );
        assert!(e.contains("/m") && e.contains("idmap"), "{e}");
    }

    #[test]
    fn missing_bind_source() {
        let e = err(
            r#""mounts":[{"destination":"/data","type":"bind","source":"no/such/dir","options":["rbind"]}]"#,
        );
        assert!(e.contains("/data") && e.contains("no/such/dir"), "{e}");
    }

    #[test]
    fn unknown_root_propagation() {
        let e = err(r#""linux":{"rootfsPropagation":"sideways"}"#);
        assert!(
            e.contains("rootfsPropagation") && e.contains("sideways"),
            "{e}"
        );
    }

    #[test]
    fn sysctl_needs_its_namespace() {
        let e = err(r#""linux":{"sysctl":{"net.ipv4.ip_forward":"1"}}"#);
        assert!(e.contains("net.ipv4.ip_forward"), "{e}");
        let e = err(
            r#""linux":{"namespaces":[{"type":"ipc"}],"sysctl":{"kernel.core_pattern":"|/x"}}"#,
        );
        assert!(e.contains("kernel.core_pattern"), "{e}");
    }

    #[test]
    fn proc_mounts_are_restricted() {
        let e = err(
            r#""mounts":[{"destination":"/proc/sys","type":"bind","source":"/tmp","options":["bind"]}]"#,
        );
        assert!(e.contains("/proc/sys") && e.contains("inside /proc"), "{e}");
        let e = err(r#""mounts":[{"destination":"/proc","type":"tmpfs","source":"tmpfs"}]"#);
        assert!(e.contains("/proc"), "{e}");
        let e = err(r#""mounts":[{"destination":"/proc/../proc/self","type":"tmpfs"}]"#);
        assert!(e.contains("/proc/self"), "{e}");
    }

    #[test]
    fn paths_must_be_absolute() {
        let e = err(r#""linux":{"maskedPaths":["proc/kcore"]}"#);
        assert!(e.contains("maskedPaths") && e.contains("proc/kcore"), "{e}");
        let e = err(r#""linux":{"devices":[{"path":"dev/x","type":"c","major":1,"minor":3}]}"#);
        assert!(e.contains("dev/x"), "{e}");
    }
}
