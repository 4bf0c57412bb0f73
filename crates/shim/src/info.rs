//! `-info`: containerd 2.x runs the shim with `-info` (the Create options `Any` on stdin)
//! before creating a task, and reads a `containerd.types.RuntimeInfo` from stdout: the
//! shim's name and version, and the OCI runtime's features (runtime-spec features.md,
//! carried as JSON under containerd's type URL for them) — the in-process backend's own
//! or, when the options name a runtime binary, what `<binary> features` prints.

use crate::proto::{Any, RuncOptions, RuntimeInfo, RuntimeVersion};
use prost::Message;
use std::io::{Read, Write};

/// containerd's type URL for `features.Features` (a JSON type registered with typeurl).
const FEATURES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub const RUNTIME_NAME: &str = "io.containerd.gantry.v2";

/// The options `Any` containerd passed, if any, and the runtime binary it names.
fn read_options(input: &[u8]) -> Result<(Option<Any>, Option<String>), String> {
    if input.is_empty() {
        return Ok((None, None));
    }
    let any = Any::decode(input).map_err(|e| format!("decoding the runtime options: {e}"))?;
    let mut binary = None;
    if any.type_url.ends_with("containerd.runc.v1.Options") {
        let o = RuncOptions::decode(any.value.as_slice())
            .map_err(|e| format!("decoding runc options: {e}"))?;
        binary = (!o.binary_name.is_empty()).then_some(o.binary_name);
    }
    Ok((Some(any), binary))
}

/// The features document of the backend the options choose.
fn features(binary: Option<&str>) -> Result<Vec<u8>, String> {
    let Some(binary) = binary else {
        return serde_json::to_vec(&gantry_oci::features::features())
            .map_err(|e| format!("encoding features: {e}"));
    };
    let out = std::process::Command::new(binary)
        .arg("features")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running {binary} features: {e}"))?;
    if !out.status.success() {
        return Err(format!("{binary} features: {}", out.status));
    }
    Ok(out.stdout)
}

/// Builds the RuntimeInfo for the options on `input`. A runtime binary without a
/// `features` command (crun 1.8, runsc) still gets an answer, without features, as
/// the stock shim gives.
pub fn runtime_info(input: &[u8]) -> Result<RuntimeInfo, String> {
    let (options, binary) = read_options(input)?;
    let features = match features(binary.as_deref()) {
        Ok(json) => Some(Any {
            type_url: FEATURES_TYPE.into(),
            value: json,
        }),
        Err(e) => {
            crate::log::debug(&format!("no runtime features: {e}"));
            None
        }
    };
    Ok(RuntimeInfo {
        name: RUNTIME_NAME.into(),
        version: Some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: String::new(),
        }),
        options,
        features,
        annotations: Default::default(),
    })
}

pub fn info() -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("reading the runtime options: {e}"))?;
    let info = runtime_info(&input)?;
    let mut out = std::io::stdout();
    out.write_all(&info.encode_to_vec())
        .and_then(|()| out.flush())
        .map_err(|e| format!("writing the runtime info: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_process_info_carries_our_features() {
        let info = runtime_info(&[]).unwrap();
        assert_eq!(info.name, RUNTIME_NAME);
        assert_eq!(info.options, None);
        let f = info.features.expect("features");
        assert_eq!(f.type_url, FEATURES_TYPE);
        let doc: serde_json::Value = serde_json::from_slice(&f.value).unwrap();
        assert!(doc["ociVersionMax"].is_string(), "{doc}");
    }

    #[test]
    fn options_are_echoed_and_a_missing_binary_gives_no_features() {
        let o = RuncOptions {
            binary_name: "/nonexistent/runc".into(),
            ..Default::default()
        };
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.encode_to_vec(),
        };
        let info = runtime_info(&any.encode_to_vec()).unwrap();
        assert_eq!(info.options, Some(any));
        assert_eq!(info.features, None);
    }

    #[test]
    fn garbage_options_are_an_error() {
        let e = runtime_info(&[0xff, 0xff, 0xff]).unwrap_err();
        assert!(e.contains("runtime options"), "{e}");
    }
}
