//! `spec`: the default config.json runc writes (byte-for-byte in meaning), `--bundle`,
//! `--rootless`, and refusing to overwrite.

#[macro_use]
mod common;
use common::*;
use gantry_testutil::default_spec;

fn read(dir: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(dir.join("config.json")).expect("spec wrote config.json");
    serde_json::from_str(&text).expect("spec wrote JSON")
}

#[test]
fn spec_writes_runcs_default_config() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    rt.spec(dir.path(), false).ok();
    let mut got = read(dir.path());
    let version = got["ociVersion"].take();
    assert!(
        version.as_str().is_some_and(|v| v.starts_with("1.")),
        "ociVersion {version}"
    );
    let mut want = default_spec(true);
    want["ociVersion"] = Value::Null;
    assert_eq!(got, want, "spec differs from runc's default");
}

#[test]
fn spec_defaults_to_the_current_directory() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let status = rt
        .command()
        .arg("spec")
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(read(dir.path())["process"]["args"], json!(["sh"]));
}

#[test]
fn spec_refuses_to_overwrite_config_json() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "keep me").unwrap();
    let out = rt.spec(dir.path(), false);
    assert_clear_error(&rt, &out, &["config.json"]);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "keep me"
    );
}

#[test]
fn spec_rootless_maps_the_caller() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    rt.spec(dir.path(), true).ok();
    let c = read(dir.path());
    let kinds: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["type"].as_str())
        .collect();
    assert!(kinds.contains(&"user"), "{kinds:?}");
    assert!(
        !kinds.contains(&"network"),
        "rootless keeps the host network: {kinds:?}"
    );
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    assert_eq!(
        c["linux"]["uidMappings"],
        json!([{ "containerID": 0, "hostID": uid, "size": 1 }])
    );
    assert_eq!(
        c["linux"]["gidMappings"],
        json!([{ "containerID": 0, "hostID": gid, "size": 1 }])
    );
    assert!(
        c["linux"]["resources"].is_null(),
        "rootless sets no resources"
    );
    let sys = c["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/sys")
        .unwrap();
    assert_eq!(sys["source"], "/sys", "rootless bind-mounts /sys: {sys}");
    assert!(
        sys["options"].as_array().unwrap().contains(&json!("rbind")),
        "{sys}"
    );
}

#[test]
fn spec_output_runs_as_is() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    std::fs::remove_file(b.config_path()).unwrap();
    rt.spec(b.path(), false).ok();
    b.config(|c| c["process"]["terminal"] = json!(false))
        .args(&["echo", "from-spec"]);
    let out = rt.run(&unique_id("spec"), &b).ok();
    assert_eq!(out.stdout, "from-spec\n");
}
