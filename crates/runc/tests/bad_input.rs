//! Bad input: malformed or invalid config.json, unknown or duplicate ids, invalid ids,
//! missing bundles. Each must fail with one clear error line naming the culprit, and leave
//! nothing behind: no state dir, cgroup, mount or process.

#[macro_use]
mod common;
use common::*;

/// Creates a container from a bundle broken by `breakage`; asserts a clear error naming one
/// of `needles` and that nothing is left.
fn refused(breakage: impl FnOnce(&Bundle), needles: &[&str]) {
    let rt = rt();
    let id = unique_id("bad");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let b = Bundle::new();
    b.args(&["sleep", "1000"]).cgroups_path(&cg).env(&mark);
    breakage(&b);
    let out = rt.create(&id, &b);
    assert_clear_error(&rt, &out, needles);
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    assert!(rt.list_ids().is_empty(), "list shows a failed container");
}

#[test]
fn malformed_config_json() {
    need_root!();
    refused(
        |b| b.write_config_raw("{ \"ociVersion\": \"1.0.2\", \"process\": "),
        &["config.json"],
    );
}

#[test]
fn config_json_of_the_wrong_shape() {
    need_root!();
    refused(
        |b| {
            b.config(|c| c["process"]["args"] = json!("not-a-list"));
        },
        &["args", "config.json"],
    );
}

#[test]
fn missing_config_json() {
    need_root!();
    refused(
        |b| std::fs::remove_file(b.config_path()).unwrap(),
        &["config.json"],
    );
}

#[test]
fn unknown_namespace_type() {
    need_root!();
    refused(
        |b| {
            b.namespace("bogusns", None);
        },
        &["bogusns"],
    );
}

#[test]
fn missing_or_empty_args() {
    need_root!();
    refused(
        |b| {
            b.config(|c| {
                c["process"].as_object_mut().unwrap().remove("args");
            });
        },
        &["args"],
    );
    refused(
        |b| {
            b.config(|c| c["process"]["args"] = json!([]));
        },
        &["args"],
    );
}

#[test]
fn executable_not_found() {
    need_root!();
    refused(
        |b| {
            b.args(&["/no/such/binary"]);
        },
        &["/no/such/binary"],
    );
}

#[test]
fn bad_mount_type() {
    need_root!();
    refused(
        |b| {
            b.add_mount(json!({ "destination": "/mnt/bad", "type": "nosuchfs", "source": "none" }));
        },
        &["/mnt/bad", "nosuchfs"],
    );
}

#[test]
fn bind_mount_of_a_missing_source() {
    need_root!();
    refused(
        |b| {
            b.add_mount(json!({ "destination": "/mnt/bad", "type": "bind", "source": "/no/such/source", "options": ["rbind"] }));
        },
        &["/no/such/source", "/mnt/bad"],
    );
}

#[test]
fn missing_rootfs() {
    need_root!();
    refused(
        |b| std::fs::remove_dir_all(b.rootfs()).unwrap(),
        &["rootfs"],
    );
}

#[test]
fn root_outside_the_bundle() {
    need_root!();
    let rt = rt();
    if rt.runc_deviates("runc 1.1 accepts a relative root.path that climbs out of the bundle") {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let escape = format!(
        "../{}",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    refused(
        |b| {
            b.config(|c| c["root"]["path"] = json!(escape));
        },
        &[&escape, "root"],
    );
}

#[test]
fn hostname_without_a_uts_namespace() {
    need_root!();
    refused(
        |b| {
            b.remove_namespace("uts");
        },
        &["hostname", "uts"],
    );
}

#[test]
fn unknown_rlimit() {
    need_root!();
    refused(
        |b| {
            b.config(|c| {
                c["process"]["rlimits"] = json!([{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }])
            });
        },
        &["RLIMIT_BOGUS"],
    );
}

#[test]
fn unknown_container_id() {
    need_root!();
    let rt = rt();
    let id = unique_id("nosuch");
    for args in [
        vec!["start", &id],
        vec!["state", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        assert_clear_error(&rt, &rt.cmd(&args), &[&id]);
    }
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn duplicate_id_is_refused_and_the_first_is_untouched() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("dup");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    let other = Bundle::new();
    other.args(&["true"]);
    assert_clear_error(&rt, &rt.create(&id, &other), &[&id]);
    let state = rt.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    assert_eq!(
        state["bundle"],
        b.path_str(),
        "the duplicate overwrote the state"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn invalid_ids() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["true"]);
    let escape = format!("gantry-escape-{}", std::process::id());
    let parent = rt.root().parent().unwrap().to_path_buf();
    for id in ["a/b", "..", ".", "../x", &format!("../{escape}"), "/abs"] {
        let out = rt.create(id, &b);
        assert_clear_error(&rt, &out, &[id, "id"]);
    }
    assert!(
        !parent.join(&escape).exists(),
        "an invalid id created a dir outside --root"
    );
    assert!(
        std::fs::read_dir(rt.root()).unwrap().next().is_none(),
        "--root is not empty"
    );
}

#[test]
fn missing_bundle() {
    need_root!();
    let rt = rt();
    let id = unique_id("bad");
    let out = rt.cmd(&["create", "--bundle", "/no/such/bundle", &id]);
    assert_clear_error(&rt, &out, &["/no/such/bundle"]);
    assert!(!rt.root().join(&id).exists());
}

#[test]
fn missing_id_argument() {
    let rt = rt();
    let b = Bundle::new();
    assert_clear_error(&rt, &rt.cmd(&["create", "--bundle", b.path_str()]), &["id"]);
    assert_clear_error(&rt, &rt.cmd(&["start"]), &["id"]);
}

#[test]
fn failed_run_leaves_nothing() {
    need_root!();
    let rt = rt();
    let id = unique_id("bad");
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let _sweep = check::Sweep::new(&cg, &mark);
    let b = Bundle::new();
    b.args(&["/no/such/binary"]).cgroups_path(&cg).env(&mark);
    assert_clear_error(&rt, &rt.run(&id, &b), &["/no/such/binary"]);
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    assert_clear_error(&rt, &rt.run_detached(&id, &b), &["/no/such/binary"]);
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
}
