//! `update` (resources of a live container), `events` (stats, OOM) and `features`.

#[macro_use]
mod common;
use common::*;

fn memory_limit_of(pid: i32) -> Option<String> {
    let dir = check::cgroup_dir(pid, "memory")?;
    ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .map(|s| s.trim().to_string())
}

#[test]
fn update_changes_live_limits() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("upd");
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    rt.cmd(&["update", "--memory", "64m", "--pids-limit", "50", &id])
        .ok();
    assert_eq!(memory_limit_of(pid).as_deref(), Some("67108864"));
    let pids_dir = check::cgroup_dir(pid, "pids").unwrap();
    assert_eq!(
        std::fs::read_to_string(pids_dir.join("pids.max"))
            .unwrap()
            .trim(),
        "50"
    );
    let res = b.path().join("res.json");
    std::fs::write(&res, json!({ "memory": { "limit": 33554432 } }).to_string()).unwrap();
    rt.cmd(&["update", "-r", res.to_str().unwrap(), &id]).ok();
    assert_eq!(memory_limit_of(pid).as_deref(), Some("33554432"));
    // Nonsense is refused and the container is unaffected.
    assert_clear_error(
        &rt,
        &rt.cmd(&["update", "--memory", "lots", &id]),
        &["memory", "lots"],
    );
    assert_eq!(memory_limit_of(pid).as_deref(), Some("33554432"));
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();
}

#[test]
fn events_stats_once() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("ev");
    rt.run_detached(&id, &b).ok();
    let out = rt.cmd(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{ev}"
    );
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    rt.delete_force(&id).ok();
}

#[test]
fn events_reports_oom() {
    need_root!();
    let rt = rt();
    if !rt.is_gantry() && rt.runc_deviates("runc 1.1's events stream is checked only for gantry") {
        return;
    }
    let b = Bundle::new();
    b.config(|c| c["linux"]["resources"]["memory"] = json!({ "limit": 16 * 1024 * 1024 }))
        .sh("sleep 1; x=a; while true; do x=$x$x; done");
    let id = unique_id("oom");
    rt.run_detached(&id, &b).ok();
    let (mut child, out, _err, _) = rt.spawn(
        &["events", "--interval", "1s", &id],
        std::process::Stdio::null(),
    );
    wait_until(T, "an oom event", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("\"oom\"")
    });
    let _ = child.kill();
    let _ = child.wait();
    rt.delete_force(&id).ok();
}

#[test]
fn features_lists_what_is_supported() {
    need_root!();
    let rt = rt();
    let out = rt.cmd(&["features"]).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(f["ociVersionMax"].as_str().is_some());
    let ns: Vec<&str> = f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for want in ["mount", "pid", "network", "user", "cgroup"] {
        assert!(ns.contains(&want), "{want} missing: {ns:?}");
    }
    let opts: Vec<&str> = f["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for want in ["ro", "rbind", "nosuid", "rprivate"] {
        assert!(opts.contains(&want), "{want} missing");
    }
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
}
