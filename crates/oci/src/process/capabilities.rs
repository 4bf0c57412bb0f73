//! The five capability sets of process.capabilities, applied around the
//! switch to the container user so that a non-root user keeps exactly the
//! capabilities the spec grants — no more (CVE-2022-29162: inheritable is
//! never wider than the spec says).

use crate::error::{Error, Result};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

/// Converts a spec capability set to the caps crate's, keeping only those the
/// running kernel knows (runc does the same, so newer configs still run).
pub fn to_caps(set: &Capabilities) -> Result<CapsHashSet> {
    let known = known_caps();
    let mut out = CapsHashSet::new();
    for c in set {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let cap = Capability::from_str(&name)
            .map_err(|_| Error::Spec(format!("process.capabilities: unknown capability {name}")))?;
        if known.contains(&cap) {
            out.insert(cap);
        } else {
            eprintln!("warning: {name} is not supported by this kernel: ignored");
        }
    }
    Ok(out)
}

/// The sets to apply, parsed before any privilege is dropped.
pub struct Plan {
    bounding: Option<CapsHashSet>,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl Plan {
    pub fn new(spec_caps: Option<&LinuxCapabilities>) -> Result<Option<Self>> {
        let Some(c) = spec_caps else { return Ok(None) };
        let conv = |s: &Option<Capabilities>| -> Result<CapsHashSet> {
            s.as_ref()
                .map(to_caps)
                .transpose()
                .map(Option::unwrap_or_default)
        };
        Ok(Some(Plan {
            bounding: c.bounding().as_ref().map(to_caps).transpose()?,
            effective: conv(c.effective())?,
            permitted: conv(c.permitted())?,
            inheritable: conv(c.inheritable())?,
            ambient: conv(c.ambient())?,
        }))
    }

    /// Step 1, while still fully privileged: shrink the bounding set and ask
    /// the kernel to keep permitted caps across the uid change.
    pub fn before_user_switch(&self) -> Result<()> {
        if let Some(b) = &self.bounding {
            for cap in known_caps().iter().copied().filter(|c| !b.contains(c)) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                    Error::Other(format!("dropping {cap} from the bounding set: {e}"))
                })?;
            }
        }
        set_keepcaps(true)
    }

    /// Step 2, after setresuid: install the exact sets.
    pub fn after_user_switch(&self) -> Result<()> {
        let err = |what: &str, e: caps::errors::CapsError| {
            Error::Other(format!("setting {what} capabilities: {e}"))
        };
        // Each capset must leave effective ⊆ permitted, and inheritable needs
        // CAP_SETPCAP while it is still effective: inheritable, then
        // effective, then permitted.
        caps::set(None, CapSet::Inheritable, &self.inheritable).map_err(|e| {
            // The usual cause: a capability the runtime itself does not hold
            // (e.g. CAP_SYS_RESOURCE dropped from this host's bounding set).
            let bounding = caps::read(None, CapSet::Bounding).unwrap_or_default();
            let mut missing: Vec<String> = self
                .inheritable
                .iter()
                .filter(|c| !bounding.contains(c))
                .map(|c| c.to_string())
                .collect();
            missing.sort();
            if missing.is_empty() {
                err("inheritable", e)
            } else {
                Error::Spec(format!(
                    "process.capabilities.inheritable: {} not in the runtime's bounding set",
                    missing.join(", ")
                ))
            }
        })?;
        caps::set(None, CapSet::Effective, &self.effective).map_err(|e| err("effective", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted).map_err(|e| err("permitted", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
        for cap in &self.ambient {
            // Raising an ambient cap needs it permitted and inheritable; runc
            // skips the ones that are not, so do we.
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap).map_err(|e| err("ambient", e))?;
            }
        }
        set_keepcaps(false)
    }
}

/// The capabilities this kernel knows (read once per process).
fn known_caps() -> &'static CapsHashSet {
    static KNOWN: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| caps::runtime::procfs_all_supported(None).unwrap_or_else(|_| caps::all()))
}

fn set_keepcaps(on: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(on).map_err(|e| Error::sys("prctl(PR_SET_KEEPCAPS)", e))
}
