//! An OCI bundle in a temp dir: a private copy of the busybox rootfs and a config.json that
//! starts as runc's default spec (terminal off), with helpers to edit it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::check::mounts_under;
use crate::rootfs::copy_rootfs;
use crate::spec::default_spec;

/// A bundle directory, removed (after detaching any mount a buggy runtime left in it) on drop.
pub struct Bundle {
    dir: tempfile::TempDir,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    /// A bundle with `rootfs/` (busybox) and runc's default config.json, `terminal: false`.
    pub fn new() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("gantry-bundle-")
            .tempdir()
            .expect("creating bundle temp dir");
        // Traversable by others, so containers in a user namespace (mapped to an
        // unprivileged host uid) can still reach their rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .expect("chmod bundle dir");
        copy_rootfs(&dir.path().join("rootfs"));
        let bundle = Bundle { dir };
        bundle.write_config(&default_spec(false));
        bundle
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The bundle path as a string, for command lines.
    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().expect("bundle path is UTF-8")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.json")
    }

    pub fn read_config(&self) -> Value {
        let path = self.config_path();
        let text =
            fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
    }

    pub fn write_config(&self, config: &Value) {
        let text = serde_json::to_string_pretty(config).expect("serializing config");
        self.write_config_raw(&text);
    }

    /// Writes config.json verbatim (for malformed-input tests).
    pub fn write_config_raw(&self, text: &str) {
        let path = self.config_path();
        fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Edits config.json in place.
    pub fn config(&self, edit: impl FnOnce(&mut Value)) -> &Self {
        let mut config = self.read_config();
        edit(&mut config);
        self.write_config(&config);
        self
    }

    pub fn args(&self, args: &[&str]) -> &Self {
        self.config(|c| c["process"]["args"] = json!(args))
    }

    /// Runs `sh -c script` in the container.
    pub fn sh(&self, script: &str) -> &Self {
        self.args(&["sh", "-c", script])
    }

    /// Adds (or replaces) one `KEY=value` entry of `process.env`.
    pub fn env(&self, entry: &str) -> &Self {
        let key = entry.split('=').next().unwrap_or(entry).to_string();
        self.config(|c| {
            let env = c["process"]["env"]
                .as_array_mut()
                .expect("process.env is an array");
            env.retain(|e| e.as_str().and_then(|s| s.split('=').next()) != Some(key.as_str()));
            env.push(json!(entry));
        })
    }

    pub fn add_mount(&self, mount: Value) -> &Self {
        self.config(|c| {
            c["mounts"]
                .as_array_mut()
                .expect("mounts is an array")
                .push(mount)
        })
    }

    /// Adds a namespace of `kind`, joining `path` when given (replacing an entry of that kind).
    pub fn namespace(&self, kind: &str, path: Option<&str>) -> &Self {
        self.remove_namespace(kind);
        let entry = match path {
            Some(p) => json!({ "type": kind, "path": p }),
            None => json!({ "type": kind }),
        };
        self.config(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces is an array")
                .push(entry)
        })
    }

    pub fn remove_namespace(&self, kind: &str) -> &Self {
        self.config(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .expect("namespaces is an array")
                .retain(|n| n["type"] != kind)
        })
    }

    /// Lets the container write to its rootfs (the default spec mounts it read-only).
    pub fn writable(&self) -> &Self {
        self.config(|c| c["root"]["readonly"] = json!(false))
    }

    pub fn cgroups_path(&self, path: &str) -> &Self {
        self.config(|c| c["linux"]["cgroupsPath"] = json!(path))
    }

    /// A path inside the rootfs, as the host sees it.
    pub fn in_rootfs(&self, path: &str) -> PathBuf {
        self.rootfs().join(path.trim_start_matches('/'))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Removing the tree through a leaked bind mount would delete whatever it exposes.
        let mut leaked = mounts_under(self.path());
        leaked.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in &leaked {
            eprintln!("gantry-testutil: detaching mount left under the bundle: {m}");
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
