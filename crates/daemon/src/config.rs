//! config.toml with containerd's keys (version 2 layout) and embedded defaults, so that the
//! same file starts gantryd or containerd.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What `gantryd config default` prints; also the base every loaded config starts from.
pub const DEFAULT_CONFIG: &str = r#"version = 2
root = "/var/lib/gantry"
state = "/run/gantry"
disabled_plugins = []
required_plugins = []

[grpc]
  address = "/run/gantry/gantryd.sock"
  uid = 0
  gid = 0
  max_recv_message_size = 16777216
  max_send_message_size = 16777216

[debug]
  level = ""

[metrics]
  address = ""

[proxy_plugins]

[plugins]
  [plugins."io.containerd.gc.v1.scheduler"]
    pause_threshold = 0.02
    deletion_threshold = 0
    mutation_threshold = 100
    schedule_delay = "0s"
    startup_delay = "100ms"
  [plugins."io.containerd.grpc.v1.content"]
    serve_without_namespace = false
"#;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    #[serde(default)]
    pub version: i64,
    pub root: PathBuf,
    pub state: PathBuf,
    #[serde(default)]
    pub disabled_plugins: Vec<String>,
    #[serde(default)]
    pub required_plugins: Vec<String>,
    pub grpc: Grpc,
    #[serde(default)]
    pub debug: Debug,
    #[serde(default)]
    pub metrics: Metrics,
    #[serde(default)]
    pub proxy_plugins: BTreeMap<String, toml::Value>,
    #[serde(default)]
    pub plugins: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grpc {
    pub address: String,
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default)]
    pub max_recv_message_size: usize,
    #[serde(default)]
    pub max_send_message_size: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Debug {
    #[serde(default)]
    pub level: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub address: String,
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(bv) => merge(bv, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

impl Config {
    /// The defaults, overlaid with the file at `path` if given.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let mut v: toml::Value =
            toml::from_str(DEFAULT_CONFIG).expect("embedded default config parses");
        if let Some(p) = path {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("reading config {}: {e}", p.display()))?;
            let file: toml::Value = toml::from_str(&text)
                .map_err(|e| format!("parsing config {}: {e}", p.display()))?;
            merge(&mut v, file);
        }
        v.try_into()
            .map_err(|e: toml::de::Error| format!("invalid config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.root, PathBuf::from("/var/lib/gantry"));
        assert_eq!(c.grpc.address, "/run/gantry/gantryd.sock");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "root = \"/x\"\n[grpc]\naddress = \"/y.sock\"\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.root, PathBuf::from("/x"));
        assert_eq!(c.state, PathBuf::from("/run/gantry"));
        assert_eq!(c.grpc.address, "/y.sock");
        assert_eq!(c.grpc.max_recv_message_size, 16777216);
        std::fs::write(&p, "root = [").unwrap();
        assert!(Config::load(Some(&p)).unwrap_err().contains("c.toml"));
    }
}
