//! Which namespaces a container creates and which it joins by path.

use crate::error::{Context, Result};
use crate::spec::ns_name;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::AsFd;
use std::path::PathBuf;

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // nix has no constant for it; CLONE_NEWTIME is 0x80.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// The container's namespace plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Namespaces to create.
    pub new: CloneFlags,
    /// Namespaces to join, user namespace first (joining it first gives the
    /// rights needed for the others).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Self {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            join: vec![],
        };
        for ns in spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            match ns.path() {
                Some(p) => plan.join.push((ns.typ(), p.clone())),
                None => plan.new |= flag(ns.typ()),
            }
        }
        plan.join
            .sort_by_key(|(t, _)| *t != LinuxNamespaceType::User);
        plan
    }

    pub fn creates(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(flag(t))
    }

    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.creates(t) || self.join.iter().any(|(j, _)| *j == t)
    }

    /// Joins every namespace given by path (setns). For pid and time
    /// namespaces this only affects children created afterwards.
    pub fn join_all(&self) -> Result<()> {
        for (t, path) in &self.join {
            let f = std::fs::File::open(path)
                .ctx(|| format!("opening {} namespace {}", ns_name(*t), path.display()))?;
            nix::sched::setns(f.as_fd(), flag(*t))
                .ctx(|| format!("joining {} namespace {}", ns_name(*t), path.display()))?;
        }
        Ok(())
    }
}
