//! `kill` (by name, SIG-name and number; `--all`) and `delete` (`--force` on a running one);
//! what is left after each.

#[macro_use]
mod common;
use common::*;

fn running(rt: &Runtime, b: &Bundle) -> (String, i32) {
    let id = unique_id("kill");
    rt.run_detached(&id, b).ok();
    let pid = rt.pid(&id);
    (id, pid)
}

#[test]
fn kill_accepts_names_sig_names_and_numbers() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    for signal in ["KILL", "SIGKILL", "9"] {
        let (id, pid) = running(&rt, &b);
        rt.kill(&id, signal).ok();
        wait_for_status(&rt, &id, "stopped", T);
        wait_until(T, "the init to die", || !check::pid_alive(pid));
        rt.delete(&id).ok();
    }
}

#[test]
fn kill_defaults_to_sigterm_and_delivers_other_signals() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable().sh(
        "trap 'echo usr1 >> /got' USR1; trap 'echo term >> /got; exit 0' TERM; \
         echo ready > /ready; while :; do sleep 0.05; done",
    );
    let (id, _) = running(&rt, &b);
    wait_for_file(&b.in_rootfs("ready"), T);
    rt.kill(&id, "USR1").ok();
    wait_until(T, "USR1 to arrive", || {
        common::read_trim(&b.in_rootfs("got")) == "usr1"
    });
    assert_eq!(rt.state(&id)["status"], "running");
    rt.cmd(&["kill", &id]).ok();
    wait_for_status(&rt, &id, "stopped", T);
    assert_eq!(common::read_trim(&b.in_rootfs("got")), "usr1\nterm");
    rt.delete(&id).ok();
}

#[test]
fn kill_all_reaches_every_process() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("sleep 1000 & sleep 1001 & wait");
    let (id, _) = running(&rt, &b);
    let mut pids: Vec<i64> = Vec::new();
    wait_until(T, "three processes", || {
        pids = serde_json::from_str(&rt.ps(&id, &["--format", "json"]).stdout).unwrap_or_default();
        pids.len() == 3
    });
    rt.kill_all(&id, "KILL").ok();
    wait_for_status(&rt, &id, "stopped", T);
    for pid in pids {
        wait_until(T, "every container process to die", || {
            !check::pid_alive(pid as i32)
        });
    }
    rt.delete(&id).ok();
}

#[test]
fn kill_of_unknown_or_stopped_container_fails() {
    need_root!();
    let rt = rt();
    let unknown = unique_id("nosuch");
    assert_clear_error(&rt, &rt.kill(&unknown, "KILL"), &[&unknown]);
    let b = Bundle::new();
    b.args(&["true"]);
    let (id, _) = running(&rt, &b);
    wait_for_status(&rt, &id, "stopped", T);
    rt.kill(&id, "KILL").fail();
    rt.delete(&id).ok();
}

#[test]
fn kill_rejects_an_unknown_signal() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let (id, _) = running(&rt, &b);
    assert_clear_error(&rt, &rt.kill(&id, "SIGNOPE"), &["SIGNOPE", "NOPE"]);
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();
}

#[test]
fn delete_refuses_a_running_container_without_force() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let (id, pid) = running(&rt, &b);
    rt.delete(&id).fail();
    assert_eq!(rt.state(&id)["status"], "running");
    assert!(check::pid_alive(pid));
    rt.delete_force(&id).ok();
}

#[test]
fn delete_force_kills_and_removes_everything() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let cg = format!("/gantry-test-{}", unique_id("cg"));
    let mark = format!("GANTRY_TEST_MARK={}", unique_id("mark"));
    let _sweep = check::Sweep::new(&cg, &mark);
    b.sh("sleep 1000 & exec sleep 1001")
        .cgroups_path(&cg)
        .env(&mark);
    let (id, pid) = running(&rt, &b);
    assert!(
        !check::processes_with(&mark).is_empty(),
        "the marker does not find the container"
    );
    assert!(
        !check::existing_cgroups(&cg).is_empty(),
        "container cgroup {cg} not created"
    );
    rt.delete_force(&id).ok();
    wait_until(T, "the init to die", || !check::pid_alive(pid));
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
    assert!(rt.list_ids().is_empty());
}

#[test]
fn delete_of_an_unknown_container() {
    need_root!();
    let rt = rt();
    let id = unique_id("nosuch");
    assert_clear_error(&rt, &rt.delete(&id), &[&id]);
    // runc treats a forced delete of a missing container as done; containerd relies on it.
    rt.delete_force(&id).ok();
}

#[test]
fn concurrent_force_deletes_leave_nothing() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let cg = format!("/gantry-test-{}", unique_id("cg"));
    let mark = format!("GANTRY_TEST_MARK={}", unique_id("mark"));
    let _sweep = check::Sweep::new(&cg, &mark);
    b.args(&["sleep", "1000"]).cgroups_path(&cg).env(&mark);
    let (id, pid) = running(&rt, &b);
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| rt.delete_force(&id))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert!(o.code().is_some(), "a concurrent delete crashed:\n{o}");
    }
    wait_until(T, "the init to die", || !check::pid_alive(pid));
    check::assert_nothing_left(&rt, &id, b.path(), &cg, &mark);
}
