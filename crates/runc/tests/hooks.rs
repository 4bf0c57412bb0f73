//! Hooks: every kind runs at its point of the lifecycle with the state JSON on stdin, its
//! args and env; a hook that fails or outlives its timeout fails the operation, and the
//! container is cleaned up.

#[macro_use]
mod common;
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const HOST_KINDS: [&str; 5] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "poststart",
    "poststop",
];

/// A hook that records its stdin, argv and env under `dir` (as the hook sees the path).
fn recorder(sh: &str, dir: &str, kind: &str) -> Value {
    json!({
        "path": sh,
        "args": ["sh", "-c", format!("cat > {dir}/{kind}.json; echo \"$0 $1 $HOOK_VAR\" > {dir}/{kind}.args; echo {kind} >> {dir}/order"), kind, "second-arg"],
        "env": [format!("HOOK_VAR={kind}-env"), "PATH=/usr/bin:/bin"]
    })
}

const RUNC_POSTSTART: &str = "runc 1.1 runs poststart hooks during create, not after start";

/// The order the hooks must run in; runc 1.1 runs poststart early.
fn full_order(rt: &Runtime) -> &'static str {
    if rt.runc_deviates(RUNC_POSTSTART) {
        "prestart\ncreateRuntime\ncreateContainer\npoststart\nstartContainer\npoststop"
    } else {
        "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop"
    }
}

/// A writable bundle whose hooks all record into rootfs/hooks; returns that host dir.
fn recording_bundle() -> (Bundle, PathBuf) {
    let b = Bundle::new();
    b.writable();
    let dir = b.in_rootfs("hooks");
    std::fs::create_dir(&dir).unwrap();
    let host_dir = dir.to_str().unwrap().to_string();
    b.config(|c| {
        let mut hooks = serde_json::Map::new();
        for kind in HOST_KINDS {
            hooks.insert(kind.into(), json!([recorder("/bin/sh", &host_dir, kind)]));
        }
        // startContainer runs inside the container, after pivot_root: container paths.
        hooks.insert(
            "startContainer".into(),
            json!([recorder("/bin/sh", "/hooks", "startContainer")]),
        );
        c["hooks"] = Value::Object(hooks);
    });
    (b, dir)
}

fn recorded(dir: &std::path::Path, kind: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{kind}.json")))
        .unwrap_or_else(|e| panic!("{kind} hook did not run: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{kind} got no state JSON ({e}): {text:?}"))
}

#[test]
fn every_hook_runs_in_order_with_state_args_and_env() {
    need_root!();
    let rt = rt();
    let (b, dir) = recording_bundle();
    b.args(&["sleep", "1000"]);
    let id = unique_id("hooks");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    let after_create = if rt.runc_deviates(RUNC_POSTSTART) {
        "prestart\ncreateRuntime\ncreateContainer\npoststart"
    } else {
        "prestart\ncreateRuntime\ncreateContainer"
    };
    assert_eq!(common::read_trim(&dir.join("order")), after_create);
    rt.start(&id).ok();
    wait_until(T, "poststart", || dir.join("poststart.json").exists());
    rt.kill(&id, "KILL").ok();
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
    assert_eq!(common::read_trim(&dir.join("order")), full_order(&rt));
    for kind in HOST_KINDS.iter().chain(&["startContainer"]) {
        let state = recorded(&dir, kind);
        assert_eq!(state["id"], id.as_str(), "{kind}: {state}");
        assert_eq!(state["bundle"], b.path_str(), "{kind}: {state}");
        assert!(state["ociVersion"].as_str().is_some(), "{kind}: {state}");
        let want_status = match *kind {
            "poststop" => "stopped",
            "poststart" if rt.is_runc() => "created",
            "poststart" => "running",
            _ => "created",
        };
        if state["status"] != want_status {
            // The runtime spec says "creating" before create returns; runc 1.1 says "created".
            assert!(
                state["status"] == "creating"
                    && ["prestart", "createRuntime", "createContainer"].contains(kind),
                "{kind}: status {} (want {want_status}): {state}",
                state["status"]
            );
        }
        let in_container = ["createContainer", "startContainer"].contains(kind);
        let runc_view = in_container
            && state["pid"] == 1
            && rt.runc_deviates(
                "runc 1.1 gives in-container hooks the pid as the container sees it (1)",
            );
        if !runc_view && *kind != "poststop" {
            assert_eq!(
                state["pid"], pid,
                "{kind}: the host's pid of the init: {state}"
            );
        }
        let args = common::read_trim(&dir.join(format!("{kind}.args")));
        assert_eq!(
            args,
            format!("{kind} second-arg {kind}-env"),
            "{kind} argv/env"
        );
    }
}

/// Asserts that creating with one failing hook of `kind` fails and leaves nothing behind.
fn failing_hook_fails_create(kind: &str, hook: Value, needles: &[&str]) -> Duration {
    let rt = rt();
    let b = Bundle::new();
    let id = unique_id("hookfail");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    b.args(&["sleep", "1000"])
        .cgroups_path(&cg)
        .env(&mark)
        .config(|c| c["hooks"] = json!({ kind: [hook] }));
    let t0 = Instant::now();
    let out = rt.create(&id, &b);
    let took = t0.elapsed();
    assert_clear_error(&rt, &out, needles);
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    took
}

#[test]
fn failing_hooks_fail_create_and_clean_up() {
    need_root!();
    // Repeated: the hook exits before reading its stdin, and a runtime that lets the
    // resulting EPIPE/SIGPIPE kill it only does so some of the time.
    for kind in ["prestart", "createRuntime", "createContainer"] {
        for _ in 0..4 {
            let hook = json!({ "path": "/bin/sh", "args": ["sh", "-c", "exit 3"] });
            failing_hook_fails_create(kind, hook, &[kind, "hook"]);
        }
    }
}

#[test]
fn missing_hook_binary_fails_create() {
    need_root!();
    let hook = json!({ "path": "/nonexistent/gantry-hook" });
    failing_hook_fails_create("createRuntime", hook, &["/nonexistent/gantry-hook"]);
}

#[test]
fn hook_timeout_fails_create() {
    need_root!();
    let hook = json!({ "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 });
    let took = failing_hook_fails_create("createRuntime", hook, &["timeout", "timed out"]);
    assert!(
        took < Duration::from_secs(15),
        "the timeout was not enforced: {took:?}"
    );
}

#[test]
fn failing_start_container_hook_fails_start() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let id = unique_id("hookfail");
    b.writable().sh("touch /ran; exec sleep 1000").config(|c| {
        c["hooks"] =
            json!({ "startContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", "exit 4"] }] })
    });
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    // start returns at once, so it cannot report this failure (runc exits 0 here): what
    // matters is that the process never runs and the container ends stopped.
    rt.start(&id);
    wait_until(T, "the init to die", || !check::pid_alive(pid));
    wait_for_status(&rt, &id, "stopped", T);
    assert!(
        !b.in_rootfs("ran").exists(),
        "the process ran although startContainer failed"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn failing_poststart_hook_is_a_warning_and_the_container_runs_on() {
    // runtime-spec: "If any poststart hook fails, the runtime MUST log a warning, but the
    // remaining hooks and lifecycle continue as if the hook had succeeded" (crun does so,
    // and runtime-tools' poststart_fail checks it); the second hook must still run.
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let id = unique_id("hookfail");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let second = b.path().join("second-ran");
    b.args(&["sleep", "1000"])
        .cgroups_path(&cg)
        .env(&mark)
        .config(|c| {
            c["hooks"] = json!({ "poststart": [
                { "path": "/bin/sh", "args": ["sh", "-c", "exit 5"] },
                { "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", second.display())] }
            ] })
        });
    if rt.runc_deviates("runc 1.1 fails create when a poststart hook fails") {
        assert!(!rt.create(&id, &b).success());
        return;
    }
    rt.create(&id, &b).ok();
    let out = rt.start(&id).ok();
    assert!(
        out.stderr.contains("poststart"),
        "a warning names the hook:\n{out}"
    );
    assert!(second.exists(), "the remaining poststart hook ran");
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
}

#[test]
fn failing_poststop_hook_does_not_stop_delete() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let id = unique_id("hookfail");
    let second = b.path().join("second-ran");
    b.args(&["true"]).config(|c| {
        c["hooks"] = json!({ "poststop": [
            { "path": "/bin/sh", "args": ["sh", "-c", "exit 6"] },
            { "path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", second.display())] }
        ] })
    });
    rt.run_detached(&id, &b).ok();
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id);
    assert!(
        rt.status(&id).is_none(),
        "a failing poststop hook kept the container"
    );
    assert!(!rt.root().join(&id).exists());
    if !rt.runc_deviates("runc 1.1 stops at the first failing poststop hook") {
        assert!(second.exists(), "the remaining poststop hook ran");
    }
}

#[test]
fn foreground_run_runs_poststop() {
    need_root!();
    let rt = rt();
    let (b, dir) = recording_bundle();
    b.args(&["true"]);
    let id = unique_id("hooks");
    rt.run(&id, &b).ok();
    let state = recorded(&dir, "poststop");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(common::read_trim(&dir.join("order")), full_order(&rt));
}

#[test]
fn hooks_that_do_not_read_their_stdin_are_fine() {
    need_root!();
    let rt = rt();
    // A hook may exit without reading the state: writing it then hits a closed pipe, which
    // must not kill the runtime (SIGPIPE) or fail the operation. Racy by nature: repeat.
    for _ in 0..5 {
        let b = Bundle::new();
        let hook = json!([{ "path": "/bin/sh", "args": ["sh", "-c", "exec 0<&-; exit 0"] }]);
        b.args(&["true"]).config(|c| {
            c["hooks"] = json!({ "prestart": hook, "createRuntime": hook, "poststart": hook, "poststop": hook })
        });
        let id = unique_id("hookstdin");
        rt.run(&id, &b).ok();
        assert!(rt.status(&id).is_none());
    }
}
