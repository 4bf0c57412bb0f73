//! Global flags: `--version`, `-h`, `--log` / `--log-format`, `--debug`, `--root`.

#[macro_use]
mod common;
use common::*;

#[test]
fn version_and_help() {
    let rt = rt();
    let v = rt.cmd(&["--version"]).ok();
    assert!(v.stdout.contains("version"), "{v}");
    assert!(
        v.stdout.contains("spec:"),
        "runc prints the runtime-spec version: {v}"
    );
    for flag in ["-h", "--help"] {
        let h = rt.cmd(&[flag]).ok();
        for cmd in [
            "create", "start", "run", "state", "kill", "delete", "list", "spec",
        ] {
            assert!(
                h.stdout.contains(cmd),
                "{flag} does not mention {cmd}:\n{h}"
            );
        }
    }
}

#[test]
fn unknown_command_fails() {
    let rt = rt();
    rt.cmd(&["frobnicate"]).fail();
}

#[test]
fn log_json_goes_to_the_log_file() {
    need_root!();
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runtime.log");
    let id = unique_id("nosuch");
    let out = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        &id,
    ]);
    out.fail();
    let text = std::fs::read_to_string(&log).expect("log file written");
    let entries: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l:?} is not JSON: {e}"))
        })
        .collect();
    let err = entries
        .iter()
        .find(|e| e["level"] == "error")
        .expect("an error entry");
    assert!(
        err["msg"].as_str().is_some() && err["time"].as_str().is_some(),
        "{err}"
    );
}

#[test]
fn log_text_and_debug() {
    need_root!();
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runtime.log");
    let b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("log");
    rt.cmd(&[
        "--debug",
        "--log",
        log.to_str().unwrap(),
        "run",
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    let text = std::fs::read_to_string(&log).expect("log file written");
    assert!(
        text.contains("level=debug"),
        "--debug logs debug lines in text format:\n{text}"
    );
}

#[test]
fn root_is_created_and_used() {
    need_root!();
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nested/root");
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("root");
    let root_s = root.to_str().unwrap();
    let bin = rt.bin().to_path_buf();
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .arg("--root")
            .arg(root_s)
            .args(args)
            .status()
            .unwrap()
    };
    assert!(run(&["create", "--bundle", b.path_str(), &id]).success());
    assert!(root.join(&id).is_dir(), "state lives under --root");
    assert!(run(&["delete", "--force", &id]).success());
    assert!(!root.join(&id).exists());
}

#[test]
fn systemd_cgroup_flag() {
    need_root!();
    let rt = rt();
    if rt.runc_deviates("runc supports --systemd-cgroup; gantry must refuse it clearly") {
        return;
    }
    let b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("systemd");
    let out = rt.cmd(&["--systemd-cgroup", "run", "--bundle", b.path_str(), &id]);
    assert_clear_error(&rt, &out, &["systemd"]);
    assert!(rt.status(&id).is_none());
}

#[test]
fn rootless_flag_values() {
    need_root!();
    let rt = rt();
    for value in ["false", "auto"] {
        let b = Bundle::new();
        b.args(&["echo", value]);
        let id = unique_id("rootless");
        let out = rt
            .cmd(&["--rootless", value, "run", "--bundle", b.path_str(), &id])
            .ok();
        assert_eq!(out.stdout.trim(), value);
    }
    let id = unique_id("rootless");
    rt.cmd(&["--rootless", "maybe", "state", &id]).fail();
}
