//! The container lifecycle and runc's exec-fifo semantics: `create` leaves the init blocked
//! until `start`, `start` returns at once and only works on a created container, and `state`
//! reports created → running → stopped.

#[macro_use]
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn create_blocks_the_process_until_start() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable().sh("echo ran > /ran; exec sleep 1000");
    let id = unique_id("life");
    rt.create(&id, &b).ok();

    let state = rt.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    let pid = state["pid"].as_i64().expect("created container has a pid") as i32;
    assert!(
        check::pid_alive(pid),
        "init {pid} of a created container is not alive"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!b.in_rootfs("ran").exists(), "the process ran before start");

    let t0 = Instant::now();
    rt.start(&id).ok();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "start took {:?}",
        t0.elapsed()
    );
    wait_for_file(&b.in_rootfs("ran"), T);
    assert_eq!(rt.state(&id)["status"], "running");
    assert_eq!(rt.pid(&id), pid, "start must not replace the init process");

    rt.kill(&id, "KILL").ok();
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
    assert!(rt.status(&id).is_none(), "state still works after delete");
    wait_until(T, "init to be reaped", || !check::pid_alive(pid));
}

#[test]
fn start_returns_while_the_container_keeps_running() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    let t0 = Instant::now();
    rt.start(&id).ok();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "start waited for the container"
    );
    assert_eq!(rt.state(&id)["status"], "running");
    rt.delete_force(&id).ok();
}

#[test]
fn status_moves_created_running_stopped() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable()
        .sh("while [ ! -e /go ]; do sleep 0.05; done; exit 0");
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    assert_eq!(rt.state(&id)["status"], "created");
    rt.start(&id).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    std::fs::write(b.in_rootfs("go"), "").unwrap();
    let state = wait_for_status(&rt, &id, "stopped", T);
    // A stopped container keeps its id and bundle in state; runc reports pid 0.
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["pid"], 0, "{state}");
    rt.delete(&id).ok();
    assert!(rt.status(&id).is_none());
}

#[test]
fn start_fails_unless_created() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable().sh("while [ ! -e /go ]; do sleep 0.05; done");
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    rt.start(&id).fail();
    assert_eq!(
        rt.state(&id)["status"],
        "running",
        "a failed start disturbed the container"
    );
    std::fs::write(b.in_rootfs("go"), "").unwrap();
    wait_for_status(&rt, &id, "stopped", T);
    rt.start(&id).fail();
    rt.delete(&id).ok();
    rt.start(&id).fail();
    rt.start(&unique_id("never-created")).fail();
}

#[test]
fn concurrent_starts_start_once() {
    need_root!();
    let rt = rt();
    if rt.runc_deviates(
        "runc 1.1 takes no lock across `start`s: a loser that saw `created` can block forever \
         on the exec fifo the winner already consumed",
    ) {
        return;
    }
    let b = Bundle::new();
    b.writable().sh("echo x >> /starts; exec sleep 1000");
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| rt.start(&id))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outs.iter().filter(|o| o.success()).count();
    assert_eq!(ok, 1, "exactly one concurrent start must win: {outs:#?}");
    wait_for_file(&b.in_rootfs("starts"), T);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        common::read_trim(&b.in_rootfs("starts")),
        "x",
        "the process ran more than once"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn delete_of_a_created_container_kills_its_init() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    rt.delete(&id).ok();
    assert!(rt.status(&id).is_none());
    wait_until(T, "the created init to die", || !check::pid_alive(pid));
    assert!(!rt.root().join(&id).exists(), "state dir left after delete");
}

#[test]
fn flags_may_follow_the_container_id() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    let pid_file = b.path().join("pidfile");
    rt.cmd(&[
        "create",
        &id,
        "--bundle",
        b.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(rt.state(&id)["status"], "created");
    assert!(pid_file.exists());
    rt.cmd(&["delete", &id, "--force"]).ok();
    assert!(rt.status(&id).is_none());
}

#[test]
fn pid_file_holds_the_init_pid() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    let pid_file = b.path().join("init.pid");
    rt.create_with(&id, &b, &["--pid-file", pid_file.to_str().unwrap()])
        .ok();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written by create");
    let pid: i32 = written.trim().parse().expect("pid file holds a number");
    assert_eq!(pid, rt.pid(&id));
    rt.delete_force(&id).ok();
}

#[test]
fn state_dir_is_private() {
    need_root!();
    use std::os::unix::fs::PermissionsExt;
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    rt.create(&id, &b).ok();
    let dir = rt.root().join(&id);
    let mode = std::fs::metadata(&dir)
        .expect("state dir under --root")
        .permissions()
        .mode();
    let expected = if rt.is_runc() { 0o711 } else { 0o700 };
    if mode & 0o777 != 0o700 {
        rt.runc_deviates(&format!("state dir mode is {:o}, not 0700", mode & 0o777));
    }
    assert_eq!(mode & 0o777, expected, "mode of {}", dir.display());
    rt.delete_force(&id).ok();
    assert!(!dir.exists());
}

#[test]
fn create_accepts_short_bundle_flag_and_no_new_keyring() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("life");
    rt.cmd(&["create", "-b", b.path_str(), "--no-new-keyring", &id])
        .ok();
    assert_eq!(rt.state(&id)["bundle"], b.path_str());
    rt.delete_force(&id).ok();
}

#[test]
fn preserve_fds_passes_extra_descriptors() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("cat <&3; cat <&4");
    let (f3, f4) = (b.path().join("fd3"), b.path().join("fd4"));
    std::fs::write(&f3, "three\n").unwrap();
    std::fs::write(&f4, "four\n").unwrap();
    let id = unique_id("life");
    // The shell opens fds 3 and 4 and then becomes the runtime, as a caller such as podman would.
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", "exec 3<\"$0\" 4<\"$1\"; shift; exec \"$@\""])
        .arg(&f3)
        .arg(&f4)
        .arg(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(["run", "--preserve-fds", "2", "--bundle", b.path_str(), &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "three\nfour\n");
}
