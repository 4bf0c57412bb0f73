//! `exec`: a new process joins the running container's namespaces and cgroup
//! and gets the process attributes the flags (or --process) ask for.

#[macro_use]
mod common;
use common::*;

fn running_sleeper(rt: &Runtime) -> (String, Bundle) {
    let b = Bundle::new();
    b.config(|c| c["hostname"] = json!("exec-host"))
        .args(&["sleep", "1000"]);
    let id = unique_id("exec");
    rt.run_detached(&id, &b).ok();
    (id, b)
}

#[test]
fn exec_joins_namespaces_and_cgroup() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    let out = rt
        .exec(
            &id,
            &[
                "sh",
                "-c",
                "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
            ],
        )
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "exec-host", "uts namespace: {out}");
    assert!(lines[1].parse::<i32>().unwrap() > 1, "pid namespace: {out}");
    assert_eq!(
        lines[2].trim(),
        "sleep 1000",
        "sees the container's init as pid 1: {out}"
    );
    // The exec'd process lives in the container's cgroup: ps lists it.
    let child = rt.cmd(&["exec", "-d", &id, "sleep", "999"]);
    child.ok();
    wait_until(T, "two pids", || {
        serde_json::from_str::<Vec<i64>>(&rt.ps(&id, &["--format", "json"]).stdout)
            .map(|p| p.len() == 2)
            .unwrap_or(false)
    });
    rt.delete_force(&id).ok();
}

#[test]
fn exec_exit_status_is_propagated() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    assert_eq!(rt.exec(&id, &["sh", "-c", "exit 7"]).code(), Some(7));
    assert_eq!(rt.exec(&id, &["sh", "-c", "kill -9 $$"]).code(), Some(137));
    rt.delete_force(&id).ok();
}

/// As for `run`: an exec'd non-root process owns its stdio and can reopen it.
#[test]
fn exec_as_non_root_can_reopen_its_stdio() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    let out = rt
        .cmd(&[
            "exec",
            "-u",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "echo out >/proc/self/fd/1",
        ])
        .ok();
    assert_eq!(out.stdout, "out\n", "{out}");
    rt.delete_force(&id).ok();
}

#[test]
fn exec_flags_env_cwd_user_caps() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    let out = rt
        .cmd(&[
            "exec",
            "-e",
            "FOO=bar",
            "--cwd",
            "/tmp",
            "-u",
            "1000:1000",
            "-g",
            "10",
            &id,
            "sh",
            "-c",
            "echo $FOO; pwd; id -u; id -g; id -G",
        ])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..4], ["bar", "/tmp", "1000", "1000"], "{out}");
    assert!(
        lines[4].split_whitespace().any(|g| g == "10"),
        "additional gid: {out}"
    );
    let caps = |extra: &[&str]| {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[id.as_str(), "sh", "-c", "grep CapEff /proc/self/status"]);
        let out = rt.cmd(&args).ok();
        u64::from_str_radix(out.stdout.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    assert_eq!(caps(&[]) & CAP_SYS_ADMIN, 0);
    assert_ne!(caps(&["--cap", "CAP_SYS_ADMIN"]) & CAP_SYS_ADMIN, 0);
    let nnp = rt
        .cmd(&[
            "exec",
            "--no-new-privs",
            &id,
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ])
        .ok();
    assert!(nnp.stdout.contains('1'), "{nnp}");
    rt.delete_force(&id).ok();
}

#[test]
fn exec_with_a_process_file() {
    need_root!();
    let rt = rt();
    let (id, b) = running_sleeper(&rt);
    let process = json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["sh", "-c", "echo from-process-json $X"],
        "env": ["PATH=/bin", "X=1"],
        "cwd": "/"
    });
    let file = b.path().join("process.json");
    std::fs::write(&file, process.to_string()).unwrap();
    let out = rt
        .cmd(&["exec", "--process", file.to_str().unwrap(), &id])
        .ok();
    assert_eq!(out.stdout.trim(), "from-process-json 1");
    rt.delete_force(&id).ok();
}

#[test]
fn exec_detached_writes_a_pid_file() {
    need_root!();
    let rt = rt();
    let (id, b) = running_sleeper(&rt);
    let pidfile = b.path().join("exec.pid");
    rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "500",
    ])
    .ok();
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(check::pid_alive(pid));
    rt.delete_force(&id).ok();
    wait_until(T, "the exec'd process to die with the container", || {
        !check::pid_alive(pid)
    });
}

#[test]
fn exec_into_stopped_or_unknown_fails_clearly() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["true"]);
    let id = unique_id("exec");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    wait_for_status(&rt, &id, "stopped", T);
    assert_clear_error(&rt, &rt.exec(&id, &["true"]), &["stopped", "not running"]);
    assert_clear_error(
        &rt,
        &rt.exec("gantry-no-such-container", &["true"]),
        &["gantry-no-such-container", "not exist"],
    );
    let (id2, _b2) = running_sleeper(&rt);
    assert_clear_error(
        &rt,
        &rt.exec(&id2, &["/no/such/binary"]),
        &["/no/such/binary", "no such file"],
    );
    rt.delete(&id).ok();
    rt.delete_force(&id2).ok();
}

#[test]
fn exec_into_paused_fails_and_resume_works() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    rt.cmd(&["pause", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "paused");
    assert_clear_error(&rt, &rt.exec(&id, &["true"]), &["paused"]);
    rt.cmd(&["resume", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    rt.exec(&id, &["true"]).ok();
    assert!(
        !rt.cmd(&["resume", &id]).success(),
        "resume of a running container fails"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn exec_into_a_sub_cgroup() {
    need_root!();
    let rt = rt();
    let (id, _b) = running_sleeper(&rt);
    let pid = rt.pid(&id);
    // Make a sub-cgroup "sub" of the container's cgroup in every hierarchy.
    let dirs = check::cgroup_dirs(pid);
    assert!(!dirs.is_empty());
    for d in &dirs {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                let _ = std::fs::write(d.join("sub").join(f), v.trim());
            }
        }
    }
    let out = rt.cmd(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    let out = out.ok();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.contains("name=systemd"))
        .collect();
    assert!(!lines.is_empty(), "{out}");
    for l in &lines {
        assert!(l.ends_with("/sub"), "not in the sub-cgroup: {l}\n{out}");
    }
    assert_clear_error(
        &rt,
        &rt.cmd(&["exec", "--cgroup", "nope", &id, "true"]),
        &["nope"],
    );
    assert_clear_error(
        &rt,
        &rt.cmd(&["exec", "--cgroup", "../x", &id, "true"]),
        &["../x", ".."],
    );
    rt.delete_force(&id).ok();
    for d in &dirs {
        let _ = std::fs::remove_dir(d.join("sub"));
    }
}

#[test]
fn exec_with_a_terminal_through_the_console_socket() {
    // As containerd's shims use it: detached, the pty master handed to the socket.
    need_root!();
    use gantry_testutil::console::{read_until, write_all, ConsoleSocket};
    let rt = rt();
    let (id, b) = running_sleeper(&rt);
    let sock = ConsoleSocket::new(b.path());
    let pidfile = b.path().join("tty-exec.pid");
    rt.cmd(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        sock.path_str(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty; read l; echo got-$l",
    ])
    .ok();
    let master = sock.receive_master(T);
    let before = read_until(&master, "/dev/pts/", T);
    assert!(before.contains("/dev/pts/"), "{before:?}");
    write_all(&master, "x\n");
    let after = read_until(&master, "got-x", T);
    assert!(after.contains("got-x"), "{after:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until(T, "the exec'd shell to exit", || !check::pid_alive(pid));
    rt.delete_force(&id).ok();
}

#[test]
fn exec_with_an_invalid_process_file_fails_clearly() {
    need_root!();
    let rt = rt();
    let (id, b) = running_sleeper(&rt);
    let file = b.path().join("bad-process.json");
    std::fs::write(&file, "{\"args\": 42}").unwrap();
    let out = rt.cmd(&["exec", "--process", file.to_str().unwrap(), &id]);
    assert_clear_error(&rt, &out, &["bad-process.json", "process"]);
    assert_eq!(
        rt.state(&id)["status"],
        "running",
        "the container is unaffected"
    );
    rt.delete_force(&id).ok();
}
