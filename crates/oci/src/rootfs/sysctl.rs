//! `linux.sysctl`: only the namespaced keys runc allows, each only when the
//! container has the namespace that makes it its own; written through a
//! /proc verified to be procfs, without following symlinks or crossing
//! mounts (CVE-2025-52881: procfs writes redirected elsewhere).

use crate::error::{Error, Result};
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;

const IPC_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Which namespaces the container has (listed in the config, new or joined).
#[derive(Debug, Default, Clone, Copy)]
pub struct Namespaces {
    pub ipc: bool,
    pub net: bool,
    pub uts: bool,
}

impl Namespaces {
    pub fn of(spec: &Spec) -> Self {
        let mut n = Namespaces::default();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in list {
            match ns.typ() {
                LinuxNamespaceType::Ipc => n.ipc = true,
                // Joining the host's own network namespace is no isolation.
                LinuxNamespaceType::Network => {
                    n.net = !matches!(ns.path(), Some(p) if same_ns(p, "net"))
                }
                LinuxNamespaceType::Uts => n.uts = true,
                _ => {}
            }
        }
        n
    }
}

fn same_ns(path: &Path, kind: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (
        std::fs::metadata(path),
        std::fs::metadata(format!("/proc/self/ns/{kind}")),
    ) else {
        return false;
    };
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The dotted form of a key (runc also accepts `net/ipv4/ip_forward`).
fn dotted(key: &str) -> String {
    if key.contains('/') {
        key.trim_matches('/').replace('/', ".")
    } else {
        key.to_string()
    }
}

/// The path below /proc/sys: dots are separators unless the key already
/// uses slashes (interface names such as eth0.100 need that form).
fn proc_path(key: &str) -> String {
    if key.contains('/') {
        key.trim_matches('/').to_string()
    } else {
        key.replace('.', "/")
    }
}

pub fn check(key: &str, ns: Namespaces) -> Result<()> {
    let k = dotted(key);
    let bad = |why: &str| Err(Error::Spec(format!("linux.sysctl {key:?}: {why}")));
    if k.is_empty() || k.split('.').any(|p| p.is_empty() || p == "..") {
        return bad("not a sysctl name");
    }
    if IPC_KEYS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        return if ns.ipc {
            Ok(())
        } else {
            bad("not allowed in the host's ipc namespace")
        };
    }
    if k.starts_with("net.") {
        return if ns.net {
            Ok(())
        } else {
            bad("not allowed in the host's network namespace")
        };
    }
    if k == "kernel.hostname" || k == "kernel.domainname" {
        return if ns.uts {
            Ok(())
        } else {
            bad("not allowed in the host's uts namespace")
        };
    }
    bad("not namespaced: only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.* and kernel.{host,domain}name may be set")
}

pub fn validate(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let ns = Namespaces::of(spec);
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    keys.into_iter().try_for_each(|k| check(k, ns))
}

/// Writes the sysctls; runs in the container after pivot_root.
pub fn apply(map: &HashMap<String, String>) -> Result<()> {
    if map.is_empty() {
        return Ok(());
    }
    let proc = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path("linux.sysctl: opening", "/proc", e.into()))?;
    let magic = super::sys::fs_type(proc.as_fd())
        .map_err(|e| Error::path("linux.sysctl: statfs", "/proc", e))?;
    if magic != libc::PROC_SUPER_MAGIC {
        return Err(Error::Mount(
            "linux.sysctl: /proc in the container is not a procfs".into(),
        ));
    }
    let how = OpenHow::new()
        .flags(OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    for (key, value) in map {
        let rel = format!("sys/{}", proc_path(key));
        let fd = openat2(proc.as_fd(), rel.as_str(), how)
            .map_err(|e| Error::Spec(format!("linux.sysctl {key:?}: opening /proc/{rel}: {e}")))?;
        nix::unistd::write(&fd, value.as_bytes())
            .map_err(|e| Error::Spec(format!("linux.sysctl {key:?}: writing {value:?}: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_keys_with_their_namespace() {
        let none = Namespaces::default();
        let all = Namespaces {
            ipc: true,
            net: true,
            uts: true,
        };
        for k in [
            "kernel.msgmax",
            "kernel.sem",
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "net.ipv4.ip_forward",
            "net/ipv4/conf/eth0.100/forwarding",
            "kernel.hostname",
            "kernel.domainname",
        ] {
            assert!(check(k, all).is_ok(), "{k}");
            let e = check(k, none).unwrap_err().to_string();
            assert!(e.contains(k) && e.contains("host's"), "{e}");
        }
        for k in [
            "kernel.core_pattern",
            "vm.overcommit_memory",
            "kernel.msg",
            "fs.file-max",
            "kernel..sem",
            "",
        ] {
            assert!(check(k, all).is_err(), "{k}");
        }
    }

    #[test]
    fn key_to_path() {
        assert_eq!(proc_path("net.ipv4.ip_forward"), "net/ipv4/ip_forward");
        assert_eq!(
            proc_path("net/ipv4/conf/eth0.100/forwarding"),
            "net/ipv4/conf/eth0.100/forwarding"
        );
    }
}
