//! CVE-2024-45310 (files created on the host through a racing shared volume), CVE-2022-29162
//! (inheritable capabilities beyond the spec), CVE-2023-25809 (cgroup directories writable
//! from inside), and commands aimed at a container whose init died and whose pid may now be
//! a stranger's (exec must not join the stranger's namespaces, kill must not signal it).
//!
//! runc 1.1.5 is vulnerable to CVE-2024-45310 (fixed in runc 1.1.14): reported, not asserted.

#[macro_use]
mod common;
mod security_common;

use common::*;
use security_common::*;

/// Destinations whose parents the runtime must create, below a directory that a background
/// thread keeps swapping with a symlink to a host directory.
#[test]
fn racing_volume_never_creates_files_on_the_host() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let b = Bundle::new();
    std::fs::write(b.path().join("src-file"), "x").unwrap();
    std::fs::create_dir(b.in_rootfs("shared")).unwrap();
    std::os::unix::fs::symlink(target.path(), b.in_rootfs("shared-link")).unwrap();
    b.args(&["true"])
        .add_mount(
            json!({"destination": "/shared/made/by/runtime", "type": "tmpfs",
                          "source": "tmpfs"}),
        )
        .add_mount(
            json!({"destination": "/shared/file-made-by-runtime", "type": "bind",
                          "source": "src-file", "options": ["bind"]}),
        );
    race_creates(&rt, &b, "shared", "shared-link", &target, 25);
    assert!(target.mounts().is_none(), "mounts on the host");
    assert_withstood(&rt, "CVE-2024-45310", target.files());
}

/// CapInh of a process, from its /proc status line.
fn cap_inh(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapInh:"))
        .unwrap_or_else(|| panic!("no CapInh in {status:?}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
fn inheritable_capabilities_never_exceed_the_spec() {
    need_root!();
    let rt = rt();
    // The default spec names no inheritable set: the init and exec'd processes get none.
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("sec-capinh");
    rt.run_detached(&id, &b).ok();
    let init = std::fs::read_to_string(format!("/proc/{}/status", rt.pid(&id))).unwrap();
    assert_eq!(
        cap_inh(&init),
        0,
        "CVE-2022-29162: the init's inheritable set"
    );
    let out = rt.exec(&id, &["cat", "/proc/self/status"]).ok();
    assert_eq!(
        cap_inh(&out.stdout),
        0,
        "CVE-2022-29162: exec's inheritable set"
    );
    let out = rt
        .cmd(&[
            "exec",
            "--cap",
            "CAP_SYS_ADMIN",
            &id,
            "cat",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(
        cap_inh(&out.stdout),
        0,
        "CVE-2022-29162: exec --cap's inheritable set"
    );
    rt.delete_force(&id).ok();

    // Exactly what the spec asks for: CAP_KILL (bit 5, in the default bounding set) only.
    let b = Bundle::new();
    b.args(&["cat", "/proc/self/status"]).config(|c| {
        c["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    });
    let out = rt.run(&unique_id("sec-capinh"), &b).ok();
    assert_eq!(
        cap_inh(&out.stdout),
        1 << 5,
        "CVE-2022-29162: the spec's inheritable set"
    );
}

fn cgroup_write_probe() -> &'static str {
    // Creating a cgroup or moving ourselves must fail; report each success.
    "for d in /sys/fs/cgroup /sys/fs/cgroup/*; do \
       [ -d \"$d\" ] || continue; \
       mkdir \"$d/gantry-sec-probe\" 2>/res.err && echo \"mkdir-ok $d\" >> /res; \
       [ -f \"$d/cgroup.procs\" ] && ( echo $$ > \"$d/cgroup.procs\" ) 2>>/res.err \
         && echo \"procs-ok $d\" >> /res; \
     done; grep ' /sys/fs/cgroup' /proc/self/mountinfo >> /res.mnt; true"
}

#[test]
fn cgroup_hierarchy_is_read_only_inside() {
    need_root!();
    let rt = rt();
    for userns in [false, true] {
        let b = Bundle::new();
        b.writable().sh(cgroup_write_probe());
        if userns {
            let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
            b.namespace("user", None).config(|c| {
                c["linux"]["uidMappings"] = map.clone();
                c["linux"]["gidMappings"] = map.clone();
            });
            // The busybox rootfs belongs to host root; let the mapped root write /res.
            let chown = std::process::Command::new("chown")
                .args(["-R", "100000:100000"])
                .arg(b.rootfs())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let id = unique_id("sec-cgroup-ro");
        let cg = format!("/gantry-test-{id}");
        b.cgroups_path(&cg);
        let out = rt.run(&id, &b);
        let res = read_trim(&b.in_rootfs("res"));
        let mnt = read_trim(&b.in_rootfs("res.mnt"));
        let _ = rt.delete_force(&id);
        check::remove_cgroups(&check::existing_cgroups(&format!("{cg}/gantry-sec-probe")));
        assert!(out.success(), "{out}");
        assert!(
            res.is_empty(),
            "CVE-2023-25809 (userns: {userns}): cgroup hierarchy writable from inside: {res}"
        );
        // Every cgroup filesystem the container sees is mounted read-only.
        let cgroupfs: Vec<&str> = mnt
            .lines()
            .filter(|l| {
                l.split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.starts_with("cgroup ") || t.starts_with("cgroup2 "))
            })
            .collect();
        assert!(!cgroupfs.is_empty(), "no cgroup mount inside: {mnt}");
        for l in cgroupfs {
            let opts = l.split_whitespace().nth(5).unwrap_or("");
            assert!(
                opts.split(',').any(|f| f == "ro"),
                "CVE-2023-25809 (userns: {userns}): a cgroup mount is writable: {l}"
            );
        }
    }
}

/// The init died (killed from the host): exec and kill must fail, clearly, and run nothing.
#[test]
fn exec_and_kill_refuse_a_container_whose_init_died() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable().args(&["sleep", "1000"]);
    let id = unique_id("sec-dead-init");
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    wait_for_status(&rt, &id, "stopped", T);
    let out = rt.exec(&id, &["touch", "/ran"]);
    assert_clear_error(&rt, &out, &["stopped", "not running", &id]);
    assert!(!b.in_rootfs("ran").exists());
    let out = rt.kill(&id, "KILL");
    assert_clear_error(&rt, &out, &["stopped", "not running", &id]);
    rt.delete(&id).ok();
}

/// The init died and its pid now belongs to a stranger (simulated by pointing the state at a
/// host process, with the init's start time kept): exec must not join the stranger's (here:
/// the host's) namespaces, kill must not signal it.
#[test]
fn exec_and_kill_never_reach_a_process_that_took_the_init_pid() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("sec-pid-reuse");
    rt.run_detached(&id, &b).ok();
    let mut stranger = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let state_file = rt.root().join(&id).join("state.json");
    let mut state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    // gantry-runc and runc name the field differently.
    let key = ["init_pid", "init_process_pid"]
        .into_iter()
        .find(|k| state.get(*k).is_some())
        .expect("a pid field in state.json");
    let init = state[key].as_i64().unwrap();
    state[key] = json!(stranger.id());
    std::fs::write(&state_file, state.to_string()).unwrap();

    let host_file = HostTarget::new();
    let touched = host_file.path().join("joined-the-host");
    let out = rt.exec(&id, &["touch", touched.to_str().unwrap()]);
    assert!(!out.success(), "exec into a reused pid succeeded:\n{out}");
    assert!(!touched.exists(), "exec ran in the stranger's namespaces");
    let out = rt.kill(&id, "KILL");
    assert!(!out.success(), "kill of a reused pid succeeded:\n{out}");
    assert!(
        stranger.try_wait().unwrap().is_none(),
        "kill signalled the process that took the init's pid"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
    // Put the real pid back so the container is cleaned up.
    state[key] = json!(init);
    std::fs::write(&state_file, state.to_string()).unwrap();
    rt.delete_force(&id).ok();
}
