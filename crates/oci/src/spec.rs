//! Reading a bundle's config.json and refusing what we cannot run faithfully.
//!
//! Validation happens in the parent, before anything is created, so that a bad
//! config fails with one line naming the field and leaves nothing behind.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// A parsed bundle: its config and the absolute paths the runtime needs.
pub struct Bundle {
    pub spec: Spec,
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute rootfs directory.
    pub rootfs: PathBuf,
}

/// Loads `<bundle>/config.json`, resolves the rootfs and validates the spec.
pub fn load_bundle(bundle: &Path) -> Result<Bundle> {
    let dir = std::fs::canonicalize(bundle).map_err(|e| Error::path("bundle", bundle, e))?;
    let config = dir.join("config.json");
    let text = std::fs::read(&config).map_err(|e| Error::path("reading", &config, e))?;
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::Spec(e.to_string()))?;
    check_capability_names(&value)?;
    crate::seccomp::check_json(&value)?;
    let spec: Spec = serde_json::from_value(value).map_err(|e| Error::Spec(e.to_string()))?;
    let rootfs = resolve_rootfs(&spec, &dir)?;
    validate(&spec)?;
    Ok(Bundle { spec, dir, rootfs })
}

/// A capability name that is no Linux capability at all is an error naming
/// it (runtime-spec: "Any value which cannot be mapped to a relevant kernel
/// interface MUST cause an error"). A real one this kernel lacks is dropped
/// later with a warning (see process::capabilities), as runc does, so configs
/// written for newer kernels still run.
fn check_capability_names(v: &serde_json::Value) -> Result<()> {
    let Some(sets) = v
        .pointer("/process/capabilities")
        .and_then(|c| c.as_object())
    else {
        return Ok(());
    };
    for (set, list) in sets {
        for cap in list.as_array().into_iter().flatten() {
            if serde_json::from_value::<oci_spec::runtime::Capability>(cap.clone()).is_err() {
                return Err(Error::Spec(format!(
                    "process.capabilities.{set}: unknown capability {cap}"
                )));
            }
        }
    }
    Ok(())
}

fn resolve_rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Spec("root: missing (root.path is required)".into()))?;
    let path = root.path();
    if path.as_os_str().is_empty() {
        return Err(Error::Spec("root.path: empty".into()));
    }
    if path.is_relative() && path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(Error::Spec(format!(
            "root.path {:?}: a relative root must stay inside the bundle",
            path
        )));
    }
    let joined = bundle.join(path);
    let abs = std::fs::canonicalize(&joined)
        .map_err(|e| Error::Spec(format!("root.path {}: {e}", joined.display())))?;
    if !abs.is_dir() {
        return Err(Error::Spec(format!(
            "root.path {}: not a directory",
            abs.display()
        )));
    }
    Ok(abs)
}

/// Checks the parts of the spec that the runtime itself owns (namespaces,
/// process, id mappings); mounts and sysctls are checked by [`crate::rootfs`].
pub fn validate(spec: &Spec) -> Result<()> {
    // runtime-spec lets `process` be absent at create (then `start` refuses).
    if let Some(process) = spec.process() {
        validate_process(process)?;
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Spec("linux: missing".into()))?;
    let mut seen = HashSet::new();
    let mut user_ns = None;
    for ns in linux.namespaces().iter().flatten() {
        if !seen.insert(ns.typ()) {
            return Err(Error::Spec(format!(
                "linux.namespaces: {} namespace listed twice",
                ns_name(ns.typ())
            )));
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(Error::Spec(format!(
                    "linux.namespaces: {} path {:?} must be absolute",
                    ns_name(ns.typ()),
                    p
                )));
            }
            if !p.exists() {
                return Err(Error::Spec(format!(
                    "linux.namespaces: {} path {} does not exist",
                    ns_name(ns.typ()),
                    p.display()
                )));
            }
        }
        if ns.typ() == LinuxNamespaceType::User {
            user_ns = Some(ns.path().is_some());
        }
        if ns.typ() == LinuxNamespaceType::Time
            && ns.path().is_none()
            && !Path::new("/proc/self/ns/time").exists()
        {
            return Err(Error::Spec(
                "linux.namespaces: time namespaces are not supported by this kernel".into(),
            ));
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    match user_ns {
        Some(false) if !has_maps => {
            return Err(Error::Spec(
                "linux.uidMappings/gidMappings: a new user namespace needs id mappings".into(),
            ))
        }
        None if has_maps => {
            return Err(Error::Spec(
                "linux.uidMappings: id mappings given without a user namespace".into(),
            ))
        }
        _ => {}
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !seen.contains(&LinuxNamespaceType::Time)
    {
        return Err(Error::Spec(
            "linux.timeOffsets: given without a time namespace".into(),
        ));
    }
    for (name, who) in [
        (spec.hostname(), "hostname"),
        (spec.domainname(), "domainname"),
    ] {
        if name.as_ref().is_some_and(|n| !n.is_empty()) && !seen.contains(&LinuxNamespaceType::Uts)
        {
            return Err(Error::Spec(format!(
                "{who}: setting it needs a new uts namespace"
            )));
        }
    }
    Ok(())
}

/// The checks on `process` (also used for `exec`'s process).
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<()> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => {
            return Err(Error::Spec(
                "process.args: must name the program to run".into(),
            ))
        }
    }
    if !process.cwd().is_absolute() {
        return Err(Error::Spec(format!(
            "process.cwd {:?}: must be an absolute path",
            process.cwd()
        )));
    }
    for var in process.env().iter().flatten() {
        if !var.contains('=') {
            return Err(Error::Spec(format!("process.env {var:?}: not KEY=VALUE")));
        }
    }
    crate::process::init::validate_lsm(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    Ok(())
}

/// The name runtime-spec uses for a namespace type.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Result<Spec> {
        serde_json::from_value(v).map_err(|e| Error::Spec(e.to_string()))
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "process": { "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/" },
            "root": { "path": "rootfs" },
            "linux": { "namespaces": [{"type": "pid"}, {"type": "mount"}] }
        })
    }

    #[test]
    fn valid_spec_passes() {
        validate(&spec(base()).unwrap()).unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|v| v["process"]["args"] = serde_json::json!([])),
                "process.args",
            ),
            (
                Box::new(|v| v["process"]["cwd"] = serde_json::json!("rel")),
                "process.cwd",
            ),
            (
                Box::new(|v| v["process"]["env"] = serde_json::json!(["NOEQUALS"])),
                "process.env",
            ),
            (
                Box::new(|v| {
                    v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "pid"}])
                }),
                "listed twice",
            ),
            (
                Box::new(|v| v["linux"]["namespaces"] = serde_json::json!([{"type": "user"}])),
                "id mappings",
            ),
            (
                Box::new(|v| v["hostname"] = serde_json::json!("h")),
                "uts namespace",
            ),
        ];
        for (mutate, want) in cases {
            let mut v = base();
            mutate(&mut v);
            let e = validate(&spec(v).unwrap()).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should mention {want:?}");
        }
    }

    #[test]
    fn unknown_namespace_type_is_a_parse_error() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        let e = spec(v).unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
