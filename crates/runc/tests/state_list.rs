//! `state` (runc's JSON) and `list` (`-q`, table, `--format json`), plus `ps`.

#[macro_use]
mod common;
use common::*;

#[test]
fn state_reports_runc_fields() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]).config(|c| {
        c["annotations"] = json!({ "org.gantry.test": "yes" });
    });
    let id = unique_id("state");
    rt.create(&id, &b).ok();
    let s = rt.state(&id);
    assert_eq!(s["id"], id.as_str(), "{s}");
    assert_eq!(s["status"], "created", "{s}");
    assert!(s["pid"].as_i64().unwrap_or(0) > 0, "{s}");
    assert_eq!(s["bundle"], b.path_str(), "{s}");
    assert_eq!(s["rootfs"], b.rootfs().to_str().unwrap(), "{s}");
    assert!(
        s["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{s}"
    );
    let created = s["created"].as_str().expect("created timestamp");
    assert!(
        created.len() >= 20 && created.contains('T'),
        "created is RFC 3339: {created}"
    );
    assert_eq!(s["owner"], "", "runc reports an empty owner for root: {s}");
    assert_eq!(s["annotations"]["org.gantry.test"], "yes", "{s}");
    rt.delete_force(&id).ok();
}

#[test]
fn state_of_an_unknown_container_fails() {
    need_root!();
    let rt = rt();
    let id = unique_id("nosuch");
    let out = rt.cmd(&["state", &id]);
    assert_clear_error(&rt, &out, &[&id]);
    assert!(out.stdout.trim().is_empty(), "{out}");
}

#[test]
fn list_shows_containers_in_every_form() {
    need_root!();
    let rt = rt();
    assert!(rt.list_ids().is_empty(), "a fresh root lists nothing");
    assert!(rt.list_json().is_empty());

    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let (a, c) = (unique_id("list"), unique_id("list"));
    rt.create(&a, &b).ok();
    rt.create(&c, &b).ok();
    rt.start(&c).ok();

    let mut ids = rt.list_ids();
    ids.sort();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(ids, want);

    let items = rt.list_json();
    assert_eq!(items.len(), 2, "{items:?}");
    for item in &items {
        let id = item["id"].as_str().expect("list json has ids");
        let want_status = if id == a { "created" } else { "running" };
        assert_eq!(item["status"], want_status, "{item}");
        assert_eq!(item["bundle"], b.path_str(), "{item}");
        assert_eq!(item["pid"], rt.pid(id), "{item}");
        assert!(item["created"].as_str().is_some(), "{item}");
    }

    let table = rt.cmd(&["list"]).ok().stdout;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{table}"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&a) && r.contains("created")),
        "{table}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with(&c) && r.contains("running")),
        "{table}"
    );

    let table_flag = rt.cmd(&["list", "--format", "table"]).ok().stdout;
    assert_eq!(table_flag.lines().count(), 3, "{table_flag}");

    rt.delete_force(&a).ok();
    rt.delete_force(&c).ok();
    assert!(rt.list_ids().is_empty());
}

#[test]
fn ps_lists_the_container_processes() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("sleep 1000 & exec sleep 1001");
    let id = unique_id("ps");
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    wait_until(T, "two processes in the container", || {
        let out = rt.ps(&id, &["--format", "json"]);
        serde_json::from_str::<Vec<i64>>(&out.stdout)
            .map(|v| v.len() == 2)
            .unwrap_or(false)
    });
    let pids: Vec<i64> =
        serde_json::from_str(&rt.ps(&id, &["--format", "json"]).ok().stdout).unwrap();
    assert!(pids.contains(&(pid as i64)), "{pids:?} lacks init {pid}");
    let table = rt.ps(&id, &[]).ok().stdout;
    assert!(
        table.lines().next().unwrap_or_default().contains("PID"),
        "{table}"
    );
    assert!(table.contains("sleep 1001"), "{table}");
    rt.delete_force(&id).ok();
}
