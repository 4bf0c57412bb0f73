//! containerd 1.6.20 driving the shim under test (ours, or the stock runc shim with
//! GANTRY_TEST_SHIM_RUNTIME=io.containerd.runc.v2) through `ctr`. Needs root. Tests
//! without a binary use the shim's default backend (ours: gantry-oci in process; the
//! stock shim: runc); the others name the runc-compatible binary (BinaryName).

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Containerd, IMAGE};

fn run(
    c: &Containerd,
    binary: Option<&Path>,
    extra: &[&str],
    id: &str,
    cmd: &[&str],
) -> support::Output {
    let mut args = c.run_args(binary);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(IMAGE.into());
    args.push(id.into());
    args.extend(cmd.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.ctr(&args)
}

fn task_status(c: &Containerd, id: &str) -> String {
    let out = c.ctr(&["tasks", "ls"]);
    out.stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("")
        .to_string()
}

fn wait_status(c: &Containerd, id: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = task_status(c, id);
        if st == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} is {st:?}, want {want}\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn echo_and_exit_code(binary: Option<&Path>) {
    let c = Containerd::start_for(binary);
    let events = c.events();
    let t = Instant::now();
    let out = run(&c, binary, &["--rm"], "echo1", &["echo", "hi"]);
    eprintln!(
        "ctr run --rm echo hi via {} ({}): {:?}",
        support::runtime(),
        binary
            .map(|b| b.display().to_string())
            .unwrap_or("default backend".into()),
        t.elapsed()
    );
    assert_eq!(out.code, 0, "ctr run: {}\n{}", out.stderr, c.log());
    assert_eq!(out.stdout, "hi\n");
    // The exit happens before Start has returned; it must still be reported, after
    // TaskStart and before TaskDelete.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        events.stop("echo1"),
        [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete"
        ],
        "task events for echo1"
    );
    let out = run(
        &c,
        binary,
        &["--rm"],
        "exit7",
        &["sh", "-c", "echo out; echo err >&2; exit 7"],
    );
    assert_eq!(out.code, 7, "exit code not propagated: {}", out.stderr);
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err"), "stderr: {}", out.stderr);
    assert!(
        c.ctr(&["containers", "ls", "-q"]).stdout.trim().is_empty(),
        "--rm left a container"
    );
}

fn detached_exec_kill_delete(binary: Option<&Path>) {
    let c = Containerd::start_for(binary);
    let out = run(&c, binary, &["-d"], "d1", &["sleep", "1000"]);
    assert_eq!(out.code, 0, "ctr run -d: {}\n{}", out.stderr, c.log());
    wait_status(&c, "d1", "RUNNING");
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "one shim per container expected: {shims:?}");
    if support::runtime() == "io.containerd.gantry.v2" {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", shims[0])).unwrap();
        let argv0 =
            String::from_utf8_lossy(cmdline.split(|b| *b == 0).next().unwrap()).into_owned();
        assert!(
            argv0.ends_with("containerd-shim-gantry-v2"),
            "not our shim: {argv0}"
        );
        // CVE-2019-5736: the serving shim forks container inits, so its binary must
        // not be writable through /proc/PID/exe (it runs from a read-only copy).
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{}/exe", shims[0]));
        assert!(
            w.is_err(),
            "the shim's binary is writable through /proc/PID/exe"
        );
    }
    eprintln!(
        "shim {} memory: {}",
        support::runtime(),
        support::memory(shims[0])
    );

    let out = c.ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        "d1",
        "sh",
        "-c",
        "echo exec-ok; exit 3",
    ]);
    assert_eq!(out.stdout, "exec-ok\n", "exec: {}", out.stderr);
    assert_eq!(out.code, 3, "exec exit code: {}", out.stderr);

    let pids = c.ctr(&["tasks", "ps", "d1"]);
    assert_eq!(pids.code, 0, "ps: {}", pids.stderr);
    assert_eq!(
        pids.stdout.lines().count(),
        2,
        "one process expected:\n{}",
        pids.stdout
    );

    let out = c.ctr(&["tasks", "metrics", "d1"]);
    assert_eq!(out.code, 0, "metrics: {}", out.stderr);
    // The stock shim finds a task's cgroup through its init pid, which under runsc is the
    // sandbox's; it answers with empty metrics there. Ours reads the configured cgroup.
    let stock_under_runsc = support::runtime() == "io.containerd.runc.v2"
        && binary.and_then(|b| b.file_name()) == Some("runsc".as_ref());
    if stock_under_runsc {
        eprintln!(
            "stock shim under runsc: metrics not checked:\n{}",
            out.stdout
        );
    }
    let pids_current = out
        .stdout
        .lines()
        .find(|l| l.starts_with("pids.current"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    if !stock_under_runsc {
        assert_eq!(pids_current, Some(1), "metrics:\n{}", out.stdout);
        assert!(
            out.stdout.contains("memory.usage_in_bytes"),
            "metrics:\n{}",
            out.stdout
        );
    }

    assert_eq!(c.ctr(&["tasks", "pause", "d1"]).code, 0);
    wait_status(&c, "d1", "PAUSED");
    assert_eq!(c.ctr(&["tasks", "resume", "d1"]).code, 0);
    wait_status(&c, "d1", "RUNNING");

    let out = c.ctr(&["tasks", "kill", "-s", "SIGKILL", "d1"]);
    assert_eq!(out.code, 0, "kill: {}", out.stderr);
    wait_status(&c, "d1", "STOPPED");
    let out = c.ctr(&["tasks", "delete", "d1"]);
    assert_eq!(out.code, 0, "task delete: {}", out.stderr);
    assert_eq!(c.ctr(&["containers", "delete", "d1"]).code, 0);
    assert!(c.ctr(&["tasks", "ls", "-q"]).stdout.trim().is_empty());
    // The shim exits once its last container is deleted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.shim_pids().is_empty() {
        assert!(
            Instant::now() < deadline,
            "shim still running: {:?}",
            c.shim_pids()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_rm_echo_and_exit_code() {
    echo_and_exit_code(None);
}

#[test]
fn detached_run_exec_pause_kill_delete() {
    detached_exec_kill_delete(None);
}

#[test]
fn runc_binary_echo_and_exit_code() {
    echo_and_exit_code(Some(Path::new("/usr/sbin/runc")));
}

#[test]
fn runc_binary_detached_exec_kill_delete() {
    detached_exec_kill_delete(Some(Path::new("/usr/sbin/runc")));
}

#[test]
fn crun_binary_echo_and_exit_code() {
    let (_dir, crun) = support::crun();
    echo_and_exit_code(Some(&crun));
}

#[test]
fn crun_binary_detached_exec_kill_delete() {
    let (_dir, crun) = support::crun();
    detached_exec_kill_delete(Some(&crun));
}

/// gVisor's runsc (Debian package runsc) behind a wrapper adding `--network=none`: its
/// default sandbox network refuses the network namespace ctr gives a container here
/// ("cannot run with network enabled in root network namespace"). Runtime options carry
/// only a binary name, so extra flags need a wrapper (as with any runc-compatible binary).
fn runsc_wrapper() -> tempfile::TempDir {
    assert!(
        Path::new("/usr/bin/runsc").exists(),
        "/usr/bin/runsc missing: apt-get install runsc"
    );
    let dir = tempfile::Builder::new()
        .prefix("gshim-runsc")
        .tempdir_in("/tmp")
        .unwrap();
    let wrapper = dir.path().join("runsc");
    std::fs::write(
        &wrapper,
        "#!/bin/sh\nexec /usr/bin/runsc --network=none \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

#[test]
fn runsc_binary_echo_and_exit_code() {
    let dir = runsc_wrapper();
    echo_and_exit_code(Some(&dir.path().join("runsc")));
}

#[test]
fn runsc_binary_detached_exec_kill_delete() {
    let dir = runsc_wrapper();
    detached_exec_kill_delete(Some(&dir.path().join("runsc")));
}

#[test]
fn gantry_runc_binary_echo_and_exit_code() {
    echo_and_exit_code(Some(&support::gantry_runc()));
}

#[test]
fn gantry_runc_binary_detached_exec_kill_delete() {
    detached_exec_kill_delete(Some(&support::gantry_runc()));
}

#[test]
fn terminal_run() {
    let c = Containerd::start();
    let mut args = c.run_args(None);
    args.extend(
        [
            "-t",
            "--rm",
            IMAGE,
            "t1",
            "sh",
            "-c",
            "tty; echo term-ok; exit 5",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr_tty(&args);
    assert_eq!(
        out.code,
        5,
        "ctr run -t: {}{}\n{}",
        out.stdout,
        out.stderr,
        c.log()
    );
    assert!(
        out.stdout.contains("/dev/pts/"),
        "not a terminal: {:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains("term-ok"),
        "output lost: {:?}",
        out.stdout
    );
}

#[test]
fn killed_shim_is_cleaned_up() {
    let c = Containerd::start();
    let out = run(&c, None, &["-d"], "k1", &["sleep", "4242"]);
    assert_eq!(out.code, 0, "ctr run -d: {}\n{}", out.stderr, c.log());
    wait_status(&c, "k1", "RUNNING");
    assert!(!c.mounts_under_dir().is_empty(), "no rootfs mount seen");
    let init: i32 = c
        .ctr(&["tasks", "ls"])
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("task pid");
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "{shims:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shims[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // containerd notices the dead shim, runs `SHIM delete` and forgets the task.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.ctr(&["tasks", "ls", "-q"]).stdout.trim().is_empty() {
        assert!(
            Instant::now() < deadline,
            "task survived its shim\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // `tasks ls` already skips a task whose shim is gone; the cleanup (`SHIM delete`)
    // may still be running, so wait for its effects.
    while !c.mounts_under_dir().is_empty() || Path::new(&format!("/proc/{init}")).exists() {
        assert!(
            Instant::now() < deadline,
            "rootfs {:?} or init {init} left behind\n{}",
            c.mounts_under_dir(),
            c.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = c.ctr(&["containers", "delete", "k1"]);
    assert_eq!(out.code, 0, "container delete: {}", out.stderr);
}

#[test]
fn oom_kill_is_reported() {
    let c = Containerd::start();
    let events = c.events();
    let out = run(
        &c,
        None,
        &["--rm", "--memory-limit", "16777216"],
        "oom1",
        // The sleep lets the stock shim, too, be watching before the OOM happens.
        &[
            "sh",
            "-c",
            "sleep 1; busybox dd if=/dev/zero of=/dev/null bs=64M count=1",
        ],
    );
    assert_eq!(out.code, 137, "dd should be OOM-killed: {}", out.stderr);
    std::thread::sleep(Duration::from_millis(200));
    let topics = events.stop("oom1");
    let oom = topics.iter().position(|t| t == "/tasks/oom");
    let exit = topics.iter().position(|t| t == "/tasks/exit");
    assert!(
        oom.is_some() && oom < exit,
        "TaskOOM before TaskExit expected: {topics:?}"
    );
}

#[test]
fn containerd_restart_keeps_tasks_and_reports_missed_exits() {
    let mut c = Containerd::start();
    for id in ["r1", "r2"] {
        let out = run(&c, None, &["-d"], id, &["sleep", "1000"]);
        assert_eq!(out.code, 0, "ctr run -d {id}: {}", out.stderr);
        wait_status(&c, id, "RUNNING");
    }
    let r2_pid: i32 = c
        .ctr(&["tasks", "ls"])
        .stdout
        .lines()
        .find(|l| l.starts_with("r2 "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("r2's pid");
    c.kill_daemon();
    // r2 dies while containerd is down; its exit must still reach containerd.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(r2_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    c.start_daemon();
    wait_status(&c, "r1", "RUNNING");
    // containerd 2.x (not 1.6) deletes, when it loads its shims again, the task of a shim
    // that lists no process (core/runtime/v2/shim_load.go, shouldCleanupShim): r2 is not
    // kept STOPPED but goes, with the stock shim as with ours. Only its container stays.
    let r2_reaped = support::containerd_major() >= 2;
    if r2_reaped {
        let deadline = Instant::now() + Duration::from_secs(20);
        while c
            .ctr(&["tasks", "ls", "-q"])
            .stdout
            .lines()
            .any(|l| l == "r2")
        {
            assert!(Instant::now() < deadline, "r2's task stays\n{}", c.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    } else {
        wait_status(&c, "r2", "STOPPED");
    }
    let out = c.ctr(&[
        "tasks",
        "exec",
        "--exec-id",
        "after",
        "r1",
        "echo",
        "still-here",
    ]);
    assert_eq!(
        out.stdout, "still-here\n",
        "exec after restart: {}",
        out.stderr
    );
    for id in ["r1", "r2"] {
        if id == "r2" && r2_reaped {
            assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
            continue;
        }
        let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
        wait_status(&c, id, "STOPPED");
        let out = c.ctr(&["tasks", "delete", id]);
        assert_eq!(out.code, 0, "delete {id}: {}", out.stderr);
        assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.shim_pids().is_empty() {
        assert!(Instant::now() < deadline, "shims left: {:?}", c.shim_pids());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn file_and_binary_log_uris() {
    let c = Containerd::start();
    let log = c.dir.path().join("logs/file.log");
    let uri = format!("--log-uri=file://{}", log.display());
    let out = run(
        &c,
        None,
        &["--rm", &uri],
        "lf",
        &["sh", "-c", "echo to-file; echo err-file >&2"],
    );
    assert_eq!(out.code, 0, "file log run: {}", out.stderr);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("to-file") && text.contains("err-file"),
        "file log: {text:?}"
    );

    // A logger in the binary:// protocol: stdout on fd 3, stderr on fd 4, ready by
    // closing fd 5; the query becomes its arguments.
    let logger = c.dir.path().join("logger.sh");
    let out_file = c.dir.path().join("binary.log");
    std::fs::write(
        &logger,
        // The identity is written before the logger reports ready: the stock shim sends
        // its logger SIGTERM once the task's output is closed, so nothing may follow it.
        "#!/bin/sh\necho \"$CONTAINER_NAMESPACE/$CONTAINER_ID\" > \"$2.env\"\nexec 5>&-\n/bin/cat <&3 >> \"$2\" &\n/bin/cat <&4 >> \"$2\"\nwait\n",
    )
    .unwrap();
    std::fs::set_permissions(&logger, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let uri = format!(
        "--log-uri=binary://{}?out={}",
        logger.display(),
        out_file.display()
    );
    let out = run(
        &c,
        None,
        &["--rm", &uri],
        "lb",
        &["sh", "-c", "echo to-binary; echo err-binary >&2"],
    );
    assert_eq!(out.code, 0, "binary log run: {}", out.stderr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        if text.contains("to-binary") && text.contains("err-binary") {
            let env = std::fs::read_to_string(out_file.with_extension("log.env")).unwrap();
            assert_eq!(env, format!("{}/lb\n", c.namespace), "logger environment");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "logger output incomplete: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Containers carrying the same group (`flag` sets it) are served by one shim.
fn grouped_containers_share_one_shim(flag: &[&str]) {
    let c = Containerd::start();
    for id in ["g1", "g2"] {
        let mut extra = vec!["-d"];
        extra.extend_from_slice(flag);
        let out = run(&c, None, &extra, id, &["sleep", "1000"]);
        assert_eq!(out.code, 0, "ctr run -d {id}: {}\n{}", out.stderr, c.log());
        wait_status(&c, id, "RUNNING");
    }
    assert_eq!(
        c.shim_pids().len(),
        1,
        "one shim for the group expected: {:?}",
        c.shim_pids()
    );
    // The first container goes; the shim stays for the second.
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", "g1"]);
    wait_status(&c, "g1", "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", "g1"]).code, 0);
    assert_eq!(c.ctr(&["containers", "delete", "g1"]).code, 0);
    let out = c.ctr(&["tasks", "exec", "--exec-id", "x", "g2", "echo", "g2-ok"]);
    assert_eq!(out.stdout, "g2-ok\n", "exec in g2: {}", out.stderr);
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", "g2"]);
    wait_status(&c, "g2", "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", "g2"]).code, 0);
    assert_eq!(c.ctr(&["containers", "delete", "g2"]).code, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.shim_pids().is_empty() {
        assert!(Instant::now() < deadline, "shim left: {:?}", c.shim_pids());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn group_label_shares_one_shim() {
    grouped_containers_share_one_shim(&["--label", "io.containerd.runc.v2.group=pod1"]);
}

/// CRI's sandbox annotation: one shim per pod, as containerd's runc shim does.
#[test]
fn sandbox_annotation_shares_one_shim() {
    grouped_containers_share_one_shim(&["--annotation", "io.kubernetes.cri.sandbox-id=pod1"]);
}

/// The counter the checkpoint tests' container keeps in /dev/shm (a tmpfs criu dumps).
/// The shell truncates the file before each write, so an empty read is retried.
fn counter(c: &Containerd, id: &str, exec_id: &str) -> u64 {
    for attempt in 0.. {
        let exec = format!("{exec_id}-{attempt}");
        let out = c.ctr(&["tasks", "exec", "--exec-id", &exec, id, "cat", "/dev/shm/n"]);
        assert_eq!(out.code, 0, "exec in {id}: {}\n{}", out.stderr, c.log());
        if let Ok(n) = out.stdout.trim().parse() {
            return n;
        }
        assert!(attempt < 20, "counter of {id} reads {:?}", out.stdout);
        std::thread::sleep(Duration::from_millis(20));
    }
    unreachable!()
}

/// Checkpoint and restore through ctr, on a container whose stdio is containerd's fifos
/// (ctr's default). `ctr containers checkpoint --task` pauses the task, dumps it, leaves
/// it running (ctr 1.6 sends `--exit` only to runtimes named io.containerd.runc.*, so
/// both shims get the same request; `--exit` is tested in direct.rs) and stores the
/// dump as a checkpoint image; `ctr containers restore --live` brings the process back
/// with its memory: a counter it keeps goes on from where it was. Without a working
/// criu (GANTRY_TEST_CRIU) the checkpoint fails with criu's reason and the task keeps
/// running. (Only one task checkpoint per container spec: containerd 1.6 fails a second
/// one with AlreadyExists when it stores the unchanged spec again, and `ctr containers
/// checkpoint` then silently leaves the task out of the image.)
fn checkpoint_with_criu_or_its_reason(binary: Option<&Path>) {
    let c = Containerd::start_for(binary);
    let id = "ck1";
    let script = "i=0; while :; do i=$((i+1)); echo $i >/dev/shm/n; sleep 0.05; done";
    let out = run(&c, binary, &["-d"], id, &["sh", "-c", script]);
    assert_eq!(out.code, 0, "ctr run -d {id}: {}\n{}", out.stderr, c.log());
    wait_status(&c, id, "RUNNING");
    // Let the counter get well past what a fresh start reaches in the time a restore
    // takes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while counter(&c, id, "n0") < 60 {
        assert!(
            Instant::now() < deadline,
            "the counter of {id} does not move"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = c.events();
    let out = c.ctr(&["containers", "checkpoint", "--task", id, "ck1-image"]);
    if support::criu().is_none() {
        drop(events);
        assert_ne!(out.code, 0, "checkpoint without a working criu succeeded");
        assert!(
            out.stderr.contains("criu"),
            "the error does not name criu: {}",
            out.stderr
        );
        eprintln!("checkpoint without a working criu: {}", out.stderr.trim());
        wait_status(&c, id, "RUNNING");
        let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
        wait_status(&c, id, "STOPPED");
        assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
        assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
        return;
    }
    assert_eq!(
        out.code,
        0,
        "checkpoint with {:?}: {}\n{}",
        support::criu(),
        out.stderr,
        c.log()
    );
    let images = c.ctr(&["images", "ls", "-q"]).stdout;
    assert!(
        images.lines().any(|l| l == "ck1-image"),
        "the checkpoint is not an image: {images}"
    );
    wait_status(&c, id, "RUNNING");
    let before = counter(&c, id, "n1");
    let topics = events.stop(id);
    // containerd 1.6's runc shim publishes no TaskCheckpointed; ours does.
    if support::runtime() == "io.containerd.gantry.v2" {
        assert!(
            topics.iter().any(|t| t == "/tasks/checkpointed"),
            "no /tasks/checkpointed event: {topics:?}"
        );
    }
    // Throw the container away and bring it back from the image.
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    wait_status(&c, id, "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
    assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);

    let events = c.events();
    let out = c.ctr(&["containers", "restore", "--live", id, "ck1-image"]);
    assert_eq!(
        out.code,
        0,
        "ctr containers restore: {}\n{}",
        out.stderr,
        c.log()
    );
    wait_status(&c, id, "RUNNING");
    let after = counter(&c, id, "n2");
    assert!(
        after + 20 >= before && after > 40,
        "the restored counter reads {after}, the original read {before} after its dump: \
         the process started afresh instead of being restored"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        counter(&c, id, "n3") > after,
        "the restored process does not run"
    );
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    wait_status(&c, id, "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
    assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
    let topics = events.stop(id);
    let create = topics.iter().position(|t| t == "/tasks/create");
    let start = topics.iter().position(|t| t == "/tasks/start");
    assert!(
        create.is_some() && create < start,
        "restore events out of order: {topics:?}"
    );
}

#[test]
fn checkpoint_in_process() {
    checkpoint_with_criu_or_its_reason(None);
}

#[test]
fn runc_binary_checkpoint() {
    checkpoint_with_criu_or_its_reason(Some(Path::new("/usr/sbin/runc")));
}

#[test]
fn gantry_runc_binary_checkpoint() {
    checkpoint_with_criu_or_its_reason(Some(&support::gantry_runc()));
}

/// The runtime options' CriuPath (here from a runtime config file, as CRI passes it) is
/// the criu the shim runs rather than the one in PATH. Ours only: ctr has no way to hand
/// the stock shim runc options beyond its binary.
fn criu_path_option_is_used(binary: Option<&Path>) {
    if support::runtime() != "io.containerd.gantry.v2" {
        eprintln!(
            "skipped: ctr 1.6 cannot pass CriuPath to {}",
            support::runtime()
        );
        return;
    }
    let c = Containerd::start();
    let id = "ckp";
    let criu = "/nonexistent/gantry-criu";
    let cfg = c.dir.path().join("criu-options.toml");
    let mut toml = format!("CriuPath = \"{criu}\"\n");
    if let Some(b) = binary {
        toml += &format!("BinaryName = \"{}\"\n", b.display());
    }
    std::fs::write(&cfg, toml).unwrap();
    let cfg_arg = format!("--runtime-config-path={}", cfg.display());
    let out = run(&c, None, &["-d", &cfg_arg], id, &["sleep", "1000"]);
    assert_eq!(out.code, 0, "ctr run -d {id}: {}\n{}", out.stderr, c.log());
    wait_status(&c, id, "RUNNING");
    let out = c.ctr(&["tasks", "checkpoint", id]);
    assert_ne!(out.code, 0, "checkpoint with a missing criu succeeded");
    assert!(
        out.stderr.contains(criu),
        "the error does not name {criu}: {}",
        out.stderr
    );
    eprintln!("checkpoint with CriuPath {criu}: {}", out.stderr.trim());
    wait_status(&c, id, "RUNNING");
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    wait_status(&c, id, "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
    assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
}

#[test]
fn criu_path_option_in_process() {
    criu_path_option_is_used(None);
}

#[test]
fn criu_path_option_with_runc_binary() {
    criu_path_option_is_used(Some(Path::new("/usr/sbin/runc")));
}

/// Removes the test's shim cgroups (once the shim in them has exited).
struct ShimCgroups(Vec<PathBuf>);

impl Drop for ShimCgroups {
    fn drop(&mut self) {
        for dir in &self.0 {
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// runc.v1.Options beyond the binary: ShimCgroup puts the serving shim in an existing
/// cgroup, IoUid/IoGid own the process's stdio pipes, NoPivotRoot and NoNewKeyring reach
/// the runtime (seen in the arguments a runc wrapper records). Ours only: ctr 1.6 sends
/// these fields to no runtime (its `--runtime-config-path` TOML goes to non-runc
/// runtimes, and for io.containerd.runc.v2 it sets only BinaryName, Root and
/// SystemdCgroup).
fn runc_options_reach_shim_and_runtime(binary: Option<&Path>) {
    if support::runtime() != "io.containerd.gantry.v2" {
        eprintln!(
            "skipped: ctr 1.6 cannot pass these options to {}",
            support::runtime()
        );
        return;
    }
    let c = Containerd::start();
    let name = format!("gshimcg-{}", std::process::id());
    let cgroups = ShimCgroups(
        ["memory", "pids"]
            .iter()
            .map(|ctl| Path::new("/sys/fs/cgroup").join(ctl).join(&name))
            .collect(),
    );
    for dir in &cgroups.0 {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut toml = format!(
        "ShimCgroup = \"/{name}\"\nIoUid = 1000\nIoGid = 1001\nNoPivotRoot = true\n\
         NoNewKeyring = true\n"
    );
    let args_log = c.dir.path().join("runtime-args.log");
    if let Some(b) = binary {
        let wrapper = c.dir.path().join("runc-wrapper");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
                args_log.display(),
                b.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        toml += &format!("BinaryName = \"{}\"\n", wrapper.display());
    }
    let cfg = c.dir.path().join("options.toml");
    std::fs::write(&cfg, toml).unwrap();
    let cfg_arg = format!("--runtime-config-path={}", cfg.display());

    let out = run(
        &c,
        None,
        &["--rm", &cfg_arg],
        "own1",
        &["ls", "-lnL", "/proc/self/fd/1"],
    );
    assert_eq!(out.code, 0, "ctr run: {}\n{}", out.stderr, c.log());
    // The runtime then hands the process's stdio to the process's user (root here), as
    // runc does: only the group stays IoGid's.
    let owner: Vec<&str> = out.stdout.split_whitespace().skip(2).take(2).collect();
    assert_eq!(owner, ["0", "1001"], "stdout pipe: {}", out.stdout);

    let id = "cg1";
    let out = run(&c, None, &["-d", &cfg_arg], id, &["sleep", "1000"]);
    assert_eq!(out.code, 0, "ctr run -d {id}: {}\n{}", out.stderr, c.log());
    wait_status(&c, id, "RUNNING");
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "shims: {shims:?}");
    for dir in &cgroups.0 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == shims[0].to_string()),
            "shim {} is not in {}: {procs:?}",
            shims[0],
            dir.display()
        );
    }
    if binary.is_some() {
        let log = std::fs::read_to_string(&args_log).unwrap();
        let create = log
            .lines()
            .find(|l| l.contains(" create "))
            .unwrap_or_else(|| panic!("no create in {log}"));
        assert!(
            create.contains("--no-pivot") && create.contains("--no-new-keyring"),
            "{create}"
        );
    }
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    wait_status(&c, id, "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
    assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
    drop(c);
    drop(cgroups);
}

#[test]
fn runc_options_in_process() {
    runc_options_reach_shim_and_runtime(None);
}

#[test]
fn runc_options_with_runc_binary() {
    runc_options_reach_shim_and_runtime(Some(Path::new("/usr/sbin/runc")));
}

/// Output well beyond a pipe's buffer, on stdout and stderr at once, reaches ctr whole:
/// the shim copies the process's pipes into containerd's fifos without losing or
/// reordering a byte, and the process waits (not the shim) while ctr is slow to read.
fn large_output_arrives_whole(binary: Option<&Path>) {
    let c = Containerd::start_for(binary);
    let script = "busybox head -c 4194304 /dev/zero >&2 & \
                  busybox head -c 10485760 /dev/zero; wait";
    let out = run(&c, binary, &["--rm"], "big1", &["sh", "-c", script]);
    assert_eq!(out.code, 0, "ctr run: {}\n{}", out.stderr, c.log());
    assert_eq!(out.stdout.len(), 10 << 20, "stdout bytes");
    assert!(out.stdout.bytes().all(|b| b == 0));
    assert_eq!(
        out.stderr.bytes().filter(|b| *b == 0).count(),
        4 << 20,
        "stderr bytes"
    );
}

#[test]
fn large_output_in_process() {
    large_output_arrives_whole(None);
}

#[test]
fn large_output_with_runc_binary() {
    large_output_arrives_whole(Some(Path::new("/usr/sbin/runc")));
}

/// A detached task whose output nobody reads blocks on its full pipe; the shim does not:
/// it keeps answering at once, and the task can still be killed and deleted.
fn unread_output_blocks_the_task_not_the_shim(binary: Option<&Path>) {
    let c = Containerd::start_for(binary);
    let id = "flood1";
    let script = "busybox head -c 104857600 /dev/zero; echo done >/dev/shm/done; sleep 1000";
    let out = run(&c, binary, &["-d"], id, &["sh", "-c", script]);
    assert_eq!(out.code, 0, "ctr run -d: {}\n{}", out.stderr, c.log());
    wait_status(&c, id, "RUNNING");
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let t = Instant::now();
        let out = c.ctr(&["tasks", "ps", id]);
        assert_eq!(out.code, 0, "ctr tasks ps: {}", out.stderr);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the shim took {:?} to answer while the task floods its stdout",
            t.elapsed()
        );
    }
    let probe = c.ctr(&["tasks", "exec", "--exec-id", "p1", id, "ls", "/dev/shm"]);
    assert!(
        !probe.stdout.contains("done"),
        "100 MiB went nowhere: the output was not held back"
    );
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    wait_status(&c, id, "STOPPED");
    assert_eq!(c.ctr(&["tasks", "delete", id]).code, 0, "{}", c.log());
    assert_eq!(c.ctr(&["containers", "delete", id]).code, 0);
}

#[test]
fn unread_output_in_process() {
    unread_output_blocks_the_task_not_the_shim(None);
}

#[test]
fn unread_output_with_runc_binary() {
    unread_output_blocks_the_task_not_the_shim(Some(Path::new("/usr/sbin/runc")));
}
