//! The runtime options containerd hands the shim, in one shape: `containerd.runc.v1.Options`
//! itself, or `runtimeoptions.v1.Options` naming a TOML file with the same keys (what
//! `ctr run --runtime-config-path` and CRI's runtime config files carry). Absent options
//! are runc's defaults: in process, our state root, criu from PATH.

use crate::proto::{Any, RuncOptions, RuntimeOptions};
use prost::Message;

pub fn from_any(options: Option<&Any>) -> Result<RuncOptions, String> {
    // An empty Any (containerd sends one on restore) is no options, as for the stock
    // shim, which looks only at a value.
    let Some(any) = options.filter(|a| !a.value.is_empty()) else {
        return Ok(RuncOptions::default());
    };
    if any.type_url.ends_with("containerd.runc.v1.Options") {
        return RuncOptions::decode(any.value.as_slice())
            .map_err(|e| format!("decoding runc options: {e}"));
    }
    if any.type_url.ends_with("runtimeoptions.v1.Options") {
        let o = RuntimeOptions::decode(any.value.as_slice())
            .map_err(|e| format!("decoding runtime options: {e}"))?;
        if o.config_path.is_empty() {
            return Ok(RuncOptions::default());
        }
        let text = std::fs::read_to_string(&o.config_path)
            .map_err(|e| format!("reading runtime config {}: {e}", o.config_path))?;
        return from_toml(&text).map_err(|e| format!("runtime config {}: {e}", o.config_path));
    }
    Err(format!(
        "runtime options of type {:?} are not understood (want containerd.runc.v1.Options)",
        any.type_url
    ))
}

/// The options' TOML form: `Key = value` lines with runc.v1.Options' Go field names.
fn from_toml(text: &str) -> Result<RuncOptions, String> {
    let mut o = RuncOptions::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {line:?} is not `Key = value`"));
        };
        let (k, v) = (k.trim(), v.trim());
        let text = || v.trim_matches('"').to_string();
        let flag = || match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{k} = {v}: want true or false")),
        };
        let id = || {
            v.parse::<u32>()
                .map_err(|e| format!("{k} = {v}: want a number: {e}"))
        };
        match k {
            "BinaryName" => o.binary_name = text(),
            "Root" => o.root = text(),
            "CriuPath" => o.criu_path = text(),
            "CriuImagePath" => o.criu_image_path = text(),
            "CriuWorkPath" => o.criu_work_path = text(),
            "ShimCgroup" => o.shim_cgroup = text(),
            "SystemdCgroup" => o.systemd_cgroup = flag()?,
            "NoPivotRoot" => o.no_pivot_root = flag()?,
            "NoNewKeyring" => o.no_new_keyring = flag()?,
            "IoUid" => o.io_uid = id()?,
            "IoGid" => o.io_gid = id()?,
            // Unknown keys are ignored, as Go's TOML decoding into the struct does.
            _ => {}
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_are_decoded() {
        let o = RuncOptions {
            binary_name: "runc".into(),
            root: "/r".into(),
            criu_path: "/opt/criu/criu".into(),
            systemd_cgroup: true,
            no_pivot_root: true,
            io_uid: 1000,
            ..Default::default()
        };
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.encode_to_vec(),
        };
        assert_eq!(from_any(Some(&any)).unwrap(), o);
        assert_eq!(from_any(None).unwrap(), RuncOptions::default());
        let empty = Any {
            type_url: String::new(),
            value: Vec::new(),
        };
        assert_eq!(from_any(Some(&empty)).unwrap(), RuncOptions::default());
    }

    #[test]
    fn toml_has_every_key() {
        let o = from_toml(
            "# runc options\nBinaryName = \"/usr/sbin/runc\"\nRoot = \"/r\"\nCriuPath = \"/c\"\n\
             CriuImagePath = \"/i\"\nCriuWorkPath = \"/w\"\nShimCgroup = \"/shims\"\n\
             SystemdCgroup = true\nNoPivotRoot = true\nNoNewKeyring = true\nIoUid = 1000\n\
             IoGid = 1001\nSomethingNew = 1\n",
        )
        .unwrap();
        let want = RuncOptions {
            binary_name: "/usr/sbin/runc".into(),
            root: "/r".into(),
            criu_path: "/c".into(),
            criu_image_path: "/i".into(),
            criu_work_path: "/w".into(),
            shim_cgroup: "/shims".into(),
            systemd_cgroup: true,
            no_pivot_root: true,
            no_new_keyring: true,
            io_uid: 1000,
            io_gid: 1001,
        };
        assert_eq!(o, want);
    }

    #[test]
    fn bad_values_and_types_name_what_is_wrong() {
        let e = from_toml("NoPivotRoot = yes").unwrap_err();
        assert!(e.contains("NoPivotRoot"), "{e}");
        let e = from_toml("IoUid = -1").unwrap_err();
        assert!(e.contains("IoUid"), "{e}");
        let any = Any {
            type_url: "example.Other".into(),
            value: vec![1],
        };
        let e = from_any(Some(&any)).unwrap_err();
        assert!(e.contains("example.Other"), "{e}");
    }
}
