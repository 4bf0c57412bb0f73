//! The v1 devices controller: reset to the policy's default with "a", then
//! write each exception, skipping the writes when the cgroup already holds
//! exactly this policy (an `update` must not briefly cut a running
//! container off its devices).

use super::devices::Policy;
use super::fs;
use crate::error::Result;
use std::collections::BTreeSet;
use std::path::Path;

pub fn apply(dir: &Path, policy: &Policy) -> Result<()> {
    if !policy.default_allow {
        // devices.list of a default-deny cgroup lists exactly its allowed exceptions.
        let want: BTreeSet<String> = policy.exceptions.iter().map(|e| e.v1_line()).collect();
        let current = fs::read(dir, "devices.list")?;
        let have: BTreeSet<String> = current.lines().map(str::to_string).collect();
        if have == want && !want.is_empty() {
            return Ok(());
        }
    }
    let (reset, exceptions) = if policy.default_allow {
        ("devices.allow", "devices.deny")
    } else {
        ("devices.deny", "devices.allow")
    };
    fs::write(dir, reset, "a")?;
    for e in &policy.exceptions {
        fs::write(dir, exceptions, &e.v1_line())?;
    }
    Ok(())
}
