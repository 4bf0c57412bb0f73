//! What this runtime really supports, in runtime-spec's features.md shape
//! (`gantry-runc features`). Every list is derived from the code or the
//! running kernel, never written out by hand twice.

use crate::state::OCI_VERSION;
use serde_json::{json, Value};

pub fn features() -> Value {
    let caps: Vec<String> = {
        let mut v: Vec<String> = caps::runtime::procfs_all_supported(None)
            .unwrap_or_else(|_| caps::all())
            .into_iter()
            .map(|c| c.to_string())
            .collect();
        v.sort();
        v
    };
    let mode = crate::cgroups::host_mode().ok();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false,
                "hostMode": mode.map(|m| format!("{m:?}").to_lowercase()),
            },
            "seccomp": crate::seccomp::features(),
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "io.github.gantry.runtime.version": env!("CARGO_PKG_VERSION")
        }
    })
}
