//! cgroups on this machine's layout (v1 controllers, plus the hybrid cgroup2 mount):
//! `cgroupsPath` absolute and relative, resources written to the controller files, a
//! resource whose controller is missing refused, and the cgroup removed on delete.

#[macro_use]
mod common;
use common::*;
use gantry_testutil::check::{cgroup_dir, cgroup_dirs, existing_cgroups};
use std::path::Path;

fn v1(controller: &str) -> bool {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("cgroup.procs")
        .exists()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// Starts `sleep` with `resources` in the absolute cgroup `/gantry-test-<id>`.
fn with_resources(rt: &Runtime, resources: Value) -> (String, String, i32, Bundle) {
    let id = unique_id("cg");
    let cg = format!("/gantry-test-{id}");
    let b = Bundle::new();
    b.args(&["sleep", "1000"]).cgroups_path(&cg).config(|c| {
        for (k, v) in resources.as_object().unwrap() {
            c["linux"]["resources"][k] = v.clone();
        }
    });
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    (id, cg, pid, b)
}

#[test]
fn absolute_cgroups_path_in_every_hierarchy_and_removed_on_delete() {
    need_root!();
    let rt = rt();
    let (id, cg, pid, _b) = with_resources(&rt, json!({}));
    let dirs = cgroup_dirs(pid);
    assert!(!dirs.is_empty());
    for dir in &dirs {
        assert!(
            dir.ends_with(cg.trim_start_matches('/')),
            "{} is not at {cg}",
            dir.display()
        );
        let procs = read(dir, "cgroup.procs");
        assert!(
            procs.lines().any(|p| p == pid.to_string()),
            "{pid} not in {}",
            dir.display()
        );
    }
    rt.delete_force(&id).ok();
    let left = existing_cgroups(&cg);
    assert!(left.is_empty(), "cgroups left after delete: {left:?}");
}

#[test]
fn relative_cgroups_path_is_nested_and_removed() {
    need_root!();
    let rt = rt();
    let id = unique_id("cg");
    let rel = format!("gantry-test-rel/{id}");
    let b = Bundle::new();
    b.args(&["sleep", "1000"]).cgroups_path(&rel);
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    let mem = cgroup_dir(pid, "memory").expect("memory cgroup");
    assert!(
        mem.ends_with(&rel),
        "{} does not end with {rel}",
        mem.display()
    );
    let dirs = cgroup_dirs(pid);
    assert!(
        dirs.iter().all(|d| d.ends_with(&rel) && d.is_dir()),
        "{dirs:?}"
    );
    rt.delete_force(&id).ok();
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    // The runtime made the parents too, but may leave them (runc does): tidy up after it.
    for d in &dirs {
        let _ = std::fs::remove_dir(d.parent().unwrap());
    }
    assert!(left.is_empty(), "cgroups left after delete: {left:?}");
}

#[test]
fn default_cgroup_is_private_and_removed_after_run() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("cg");
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    let mine = cgroup_dir(std::process::id() as i32, "memory").unwrap();
    let theirs = cgroup_dir(pid, "memory").unwrap();
    assert_ne!(mine, theirs, "the container shares the caller's cgroup");
    rt.delete_force(&id).ok();
    assert!(!theirs.exists(), "{} left after delete", theirs.display());
}

#[test]
fn memory_resources() {
    need_root!();
    if !v1("memory") {
        eprintln!("skipped: no v1 memory controller");
        return;
    }
    let rt = rt();
    let mut memory =
        json!({ "limit": 67108864, "reservation": 33554432, "disableOOMKiller": true });
    let swap = Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
    if swap {
        memory["swap"] = json!(134217728);
    }
    let swappiness = Path::new("/sys/fs/cgroup/memory/memory.swappiness").exists();
    if swappiness {
        memory["swappiness"] = json!(17);
    }
    let (id, _, pid, _b) = with_resources(&rt, json!({ "memory": memory }));
    let dir = cgroup_dir(pid, "memory").unwrap();
    assert_eq!(read(&dir, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&dir, "memory.soft_limit_in_bytes"), "33554432");
    assert!(read(&dir, "memory.oom_control").contains("oom_kill_disable 1"));
    if swap {
        assert_eq!(read(&dir, "memory.memsw.limit_in_bytes"), "134217728");
    }
    if swappiness {
        assert_eq!(read(&dir, "memory.swappiness"), "17");
    }
    rt.delete_force(&id).ok();
}

#[test]
fn cpu_and_cpuset_resources() {
    need_root!();
    let rt = rt();
    let mut cpu =
        json!({ "shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0" });
    // Realtime budgets exist only with CONFIG_RT_GROUP_SCHED.
    let realtime = Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists();
    if realtime {
        cpu["realtimeRuntime"] = json!(10000);
        cpu["realtimePeriod"] = json!(1000000);
    }
    let (id, _, pid, _b) = with_resources(&rt, json!({ "cpu": cpu }));
    let dir = cgroup_dir(pid, "cpu").unwrap();
    assert_eq!(read(&dir, "cpu.shares"), "512");
    assert_eq!(read(&dir, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&dir, "cpu.cfs_period_us"), "100000");
    if realtime {
        assert_eq!(read(&dir, "cpu.rt_runtime_us"), "10000");
        assert_eq!(read(&dir, "cpu.rt_period_us"), "1000000");
    }
    let set = cgroup_dir(pid, "cpuset").unwrap();
    assert_eq!(read(&set, "cpuset.cpus"), "0");
    assert_eq!(read(&set, "cpuset.mems"), "0");
    rt.delete_force(&id).ok();
}

#[test]
fn pids_limit_is_enforced() {
    need_root!();
    let rt = rt();
    let (id, _, pid, _b) = with_resources(&rt, json!({ "pids": { "limit": 42 } }));
    assert_eq!(read(&cgroup_dir(pid, "pids").unwrap(), "pids.max"), "42");
    rt.delete_force(&id).ok();

    let b = Bundle::new();
    b.config(|c| c["linux"]["resources"]["pids"] = json!({ "limit": 3 }))
        .sh("for i in 1 2 3 4 5 6; do sleep 2 & done; wait");
    let out = rt.run(&unique_id("cg"), &b);
    assert!(
        !out.success() || out.stderr.contains("fork"),
        "six processes under pids.max 3:\n{out}"
    );
}

#[test]
fn block_io_throttle() {
    need_root!();
    if !v1("blkio") {
        eprintln!("skipped: no v1 blkio controller");
        return;
    }
    // Throttling takes whole disks: use the root filesystem's, if it is one.
    let dev = nix::sys::stat::stat("/").unwrap().st_dev;
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    if Path::new(&format!("/sys/dev/block/{major}:{minor}/partition")).exists()
        || !Path::new(&format!("/sys/dev/block/{major}:{minor}")).exists()
    {
        eprintln!("skipped: / is not on a whole disk");
        return;
    }
    let rt = rt();
    let rule = json!([{ "major": major, "minor": minor, "rate": 1048576 }]);
    let (id, _, pid, _b) = with_resources(
        &rt,
        json!({ "blockIO": { "throttleReadBpsDevice": rule, "throttleWriteIOPSDevice": [{ "major": major, "minor": minor, "rate": 100 }] } }),
    );
    let dir = cgroup_dir(pid, "blkio").unwrap();
    assert_eq!(
        read(&dir, "blkio.throttle.read_bps_device"),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        read(&dir, "blkio.throttle.write_iops_device"),
        format!("{major}:{minor} 100")
    );
    rt.delete_force(&id).ok();
}

#[test]
fn device_rules_are_written_to_the_devices_cgroup() {
    need_root!();
    if !v1("devices") {
        eprintln!("skipped: no v1 devices controller");
        return;
    }
    let rt = rt();
    let (id, _, pid, _b) = with_resources(
        &rt,
        json!({ "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 42, "minor": 42, "access": "rw" }
        ] }),
    );
    let list = read(&cgroup_dir(pid, "devices").unwrap(), "devices.list");
    assert!(list.lines().any(|l| l == "c 42:42 rw"), "{list}");
    assert!(
        list.lines().any(|l| l == "c 1:3 rwm"),
        "default /dev/null rule missing: {list}"
    );
    assert!(
        !list.lines().any(|l| l == "a *:* rwm"),
        "deny-all not applied: {list}"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn resources_of_a_missing_controller_fail_clearly() {
    need_root!();
    let cases = [
        (
            "net_cls",
            json!({ "network": { "classID": 1048577 } }),
            vec!["net_cls", "classID", "network"],
        ),
        (
            "hugetlb",
            json!({ "hugepageLimits": [{ "pageSize": "2MB", "limit": 4194304 }] }),
            vec!["hugetlb", "hugepage"],
        ),
    ];
    for (controller, resources, needles) in cases {
        let present = v1(controller)
            || std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.subtree_control")
                .map(|s| s.split_whitespace().any(|c| c == controller))
                .unwrap_or(false);
        if present {
            eprintln!("skipped {controller}: the controller is available here");
            continue;
        }
        let rt = rt();
        let id = unique_id("cg");
        let cg = format!("/gantry-test-{id}");
        let mark = format!("GANTRY_TEST_MARK={id}");
        let _sweep = check::Sweep::new(&cg, &mark);
        let b = Bundle::new();
        b.args(&["sleep", "1000"])
            .cgroups_path(&cg)
            .env(&mark)
            .config(|c| {
                for (k, v) in resources.as_object().unwrap() {
                    c["linux"]["resources"][k] = v.clone();
                }
            });
        assert_clear_error(&rt, &rt.run_detached(&id, &b), &needles);
        check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    }
}

#[test]
fn unified_resources_on_v1_are_refused() {
    need_root!();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        eprintln!("skipped: pure cgroup v2 host");
        return;
    }
    let rt = rt();
    let id = unique_id("cg");
    let cg = format!("/gantry-test-{id}");
    let b = Bundle::new();
    b.args(&["true"])
        .cgroups_path(&cg)
        .config(|c| c["linux"]["resources"]["unified"] = json!({ "pids.max": "10" }));
    assert_clear_error(&rt, &rt.run_detached(&id, &b), &["unified"]);
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &id);
}
