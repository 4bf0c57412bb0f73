//! `checkpoint` / `restore` through criu: a busybox counter (an increasing number written
//! to /count every 50 ms) is checkpointed (its processes gone, the container removed, as
//! runc does), restored (the count goes on from where it stopped, not from 0), then killed
//! and deleted without leftovers; `--leave-running` keeps it running; foreground restore
//! waits for the process like `run`; a restore from a missing image path fails and leaves
//! nothing.
//!
//! criu is `GANTRY_TEST_CRIU` (default `criu` in PATH), passed to the runtime as `--criu`.
//! The real checkpoint/restore path runs where `criu check` passes; where it does not (an
//! old criu on a new kernel), the tests assert instead that checkpoint fails with criu's
//! reason and leaves the container running.

#[macro_use]
mod common;
use common::*;
use gantry_testutil::check::{cgroup_dirs, existing_cgroups, pid_alive};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COUNTER: &str = "exec </dev/null >/dev/null 2>&1; i=0; \
                       while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done";

fn criu() -> String {
    std::env::var("GANTRY_TEST_CRIU")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "criu".into())
}

/// Ok when `criu check` passes, else what it reported.
fn criu_check() -> Result<(), String> {
    let out = Command::new(criu())
        .arg("check")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {} check: {e}", criu()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// A runtime command with `--criu`.
fn cr(rt: &Runtime, args: &[&str]) -> Out {
    let bin = criu();
    let mut all = vec!["--criu", bin.as_str()];
    all.extend_from_slice(args);
    rt.cmd(&all)
}

/// The counter's value: None while the file is missing or being rewritten.
fn count(b: &Bundle) -> Option<u64> {
    std::fs::read_to_string(b.in_rootfs("count"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[track_caller]
fn wait_count_above(b: &Bundle, n: u64) -> u64 {
    let mut last = None;
    wait_until(T, &format!("the counter to pass {n}"), || {
        last = count(b);
        last.is_some_and(|c| c > n)
    });
    last.unwrap_or_default()
}

/// A counter container in its own absolute cgroup; returns (id, cgroupsPath, bundle).
fn counter(rt: &Runtime) -> (String, String, Bundle) {
    let id = unique_id("cr");
    let cg = format!("/gantry-test-{id}");
    let b = Bundle::new();
    b.writable().sh(COUNTER).cgroups_path(&cg);
    rt.run_detached(&id, &b).ok();
    wait_count_above(&b, 3);
    (id, cg, b)
}

fn images() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gantry-cr-img-")
        .tempdir()
        .expect("image temp dir")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The count file stays put for a while: nothing writes it any more. Returns the count it
/// holds, or `seen` (the last count read before the checkpoint) when criu froze the shell
/// between truncating the file and writing it.
#[track_caller]
fn assert_count_frozen(path: &Path, seen: u64) -> u64 {
    let before = std::fs::read_to_string(path).expect("reading the count");
    std::thread::sleep(Duration::from_millis(300));
    let after = std::fs::read_to_string(path).expect("reading the count");
    assert_eq!(before, after, "the counter still runs");
    before.trim().parse().unwrap_or(seen)
}

/// True when criu works here; otherwise asserts the clear failure instead (see
/// [`assert_checkpoint_fails_clearly`]) and the caller's test is over.
fn criu_works_or_fails_clearly(rt: &Runtime) -> bool {
    match criu_check() {
        Ok(()) => true,
        Err(why) => {
            assert_checkpoint_fails_clearly(rt, &why);
            false
        }
    }
}

/// Where criu cannot work: checkpoint fails naming criu's reason, the container runs on.
fn assert_checkpoint_fails_clearly(rt: &Runtime, why: &str) {
    eprintln!("criu check fails here; asserting the clear failure. criu said:\n{why}");
    let (id, _cg, b) = counter(rt);
    let img = images();
    let dir = img.path().join("img");
    let out = cr(
        rt,
        &["checkpoint", "--image-path", path_str(&dir), id.as_str()],
    );
    assert!(
        !out.success(),
        "checkpoint succeeded although criu check fails:\n{out}"
    );
    if !rt.runc_deviates("runc reports only 'criu failed: type DUMP errno 0' and the log's name") {
        assert_clear_error(rt, &out, &["criu"]);
        let line = out.error_lines()[0].to_string();
        let first = why
            .lines()
            .filter_map(|l| l.split_once("): ").map(|(_, m)| m.trim()))
            .find(|m| !m.contains("RLIMIT_NOFILE"));
        if let Some(reason) = first {
            assert!(
                line.contains(reason),
                "error does not give criu's reason {reason:?}:\n{out}"
            );
        }
    }
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    let n = count(&b).unwrap_or_default();
    wait_count_above(&b, n);
    rt.delete_force(&id).ok();
}

#[test]
fn checkpoint_then_restore_continues_the_count() {
    need_root!();
    let rt = rt();
    if !criu_works_or_fails_clearly(&rt) {
        return;
    }
    let (id, cg, b) = counter(&rt);
    let pid = rt.pid(&id);
    let img = images();
    let dir = img.path().join("img");
    let seen = wait_count_above(&b, 0);
    cr(&rt, &["checkpoint", "--image-path", path_str(&dir), &id]).ok();
    assert!(
        dir.join("inventory.img").is_file(),
        "no images in {}",
        dir.display()
    );
    wait_until(T, "the checkpointed init to be gone", || !pid_alive(pid));
    // runc removes a checkpointed container (so that restore may reuse the id).
    assert_eq!(
        rt.status(&id),
        None,
        "the container is still there after checkpoint"
    );
    assert!(
        existing_cgroups(&cg).is_empty(),
        "cgroup left after checkpoint"
    );
    let saved = assert_count_frozen(&b.in_rootfs("count"), seen);

    let pid_file = img.path().join("pid");
    cr(
        &rt,
        &[
            "restore",
            "-d",
            "--image-path",
            path_str(&dir),
            "--bundle",
            b.path_str(),
            "--pid-file",
            path_str(&pid_file),
            &id,
        ],
    )
    .ok();
    let state = wait_for_status(&rt, &id, "running", T);
    let new_pid = state["pid"].as_i64().expect("pid") as i32;
    assert!(pid_alive(new_pid));
    assert_eq!(read_trim(&pid_file), new_pid.to_string());
    let dirs = cgroup_dirs(new_pid);
    assert!(!dirs.is_empty(), "restored init {new_pid} is in no cgroup");
    for d in dirs {
        assert!(
            d.ends_with(cg.trim_start_matches('/')),
            "restored init is in {}, not in {cg}",
            d.display()
        );
    }
    // The first value seen after restore already continues the old count.
    let mut first = None;
    wait_until(T, "a count after restore", || {
        first = count(&b).filter(|&c| c != saved);
        first.is_some()
    });
    let first = first.unwrap_or_default();
    assert!(first > saved, "count restarted: {first} after {saved}");
    wait_count_above(&b, first);

    rt.kill(&id, "KILL").ok();
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
    assert_eq!(rt.status(&id), None);
    assert!(!rt.root().join(&id).exists(), "state dir left behind");
    assert!(existing_cgroups(&cg).is_empty(), "cgroup left behind: {cg}");
    assert!(!pid_alive(new_pid));
}

#[test]
fn leave_running_keeps_the_container_running() {
    need_root!();
    let rt = rt();
    if !criu_works_or_fails_clearly(&rt) {
        return;
    }
    let (id, _cg, b) = counter(&rt);
    let pid = rt.pid(&id);
    let img = images();
    let dir = img.path().join("img");
    let work = img.path().join("work");
    cr(
        &rt,
        &[
            "checkpoint",
            "--leave-running",
            "--image-path",
            path_str(&dir),
            "--work-path",
            path_str(&work),
            &id,
        ],
    )
    .ok();
    assert!(
        dir.join("inventory.img").is_file(),
        "no images in {}",
        dir.display()
    );
    assert!(
        work.join("dump.log").is_file(),
        "criu's log is not in the work path"
    );
    let state = rt.state(&id);
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"].as_i64(), Some(pid as i64));
    let n = count(&b).unwrap_or_default();
    wait_count_above(&b, n);
    rt.delete_force(&id).ok();
}

#[test]
fn foreground_restore_waits_for_the_process() {
    need_root!();
    let rt = rt();
    if !criu_works_or_fails_clearly(&rt) {
        return;
    }
    let (id, _cg, b) = counter(&rt);
    let img = images();
    let dir = img.path().join("img");
    let seen = wait_count_above(&b, 0);
    cr(&rt, &["checkpoint", "--image-path", path_str(&dir), &id]).ok();
    let saved = assert_count_frozen(&b.in_rootfs("count"), seen);
    let bin = criu();
    let (mut child, _out, err, cmdline) = rt.spawn(
        &[
            "--criu",
            &bin,
            "restore",
            "--image-path",
            path_str(&dir),
            "--bundle",
            b.path_str(),
            &id,
        ],
        Stdio::null(),
    );
    wait_count_above(&b, saved);
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "`{cmdline}` did not wait"
    );
    rt.kill(&id, "KILL").ok();
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "`{cmdline}` did not return after the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert_eq!(status.code(), Some(137), "`{cmdline}`: {status}\n{stderr}");
    assert_eq!(
        rt.status(&id),
        None,
        "foreground restore left the container behind"
    );
}

#[test]
fn restore_from_a_missing_image_path_fails_and_leaves_nothing() {
    need_root!();
    let rt = rt();
    let id = unique_id("crmiss");
    let cg = format!("/gantry-test-{id}");
    let b = Bundle::new();
    b.writable().sh(COUNTER).cgroups_path(&cg);
    let img = images();
    let missing: PathBuf = img.path().join("no-such-checkpoint");
    let out = cr(
        &rt,
        &[
            "restore",
            "-d",
            "--image-path",
            path_str(&missing),
            "--bundle",
            b.path_str(),
            &id,
        ],
    );
    assert_clear_error(&rt, &out, &[path_str(&missing)]);
    assert_eq!(rt.status(&id), None);
    assert!(!rt.root().join(&id).exists(), "state dir left behind");
    assert!(existing_cgroups(&cg).is_empty(), "cgroup left behind: {cg}");
    assert!(rt.list_ids().is_empty());
    assert!(
        gantry_testutil::check::mounts_under(rt.root()).is_empty(),
        "mounts left under the runtime root"
    );
}

#[test]
fn bind_mounts_come_back_after_restore() {
    need_root!();
    let rt = rt();
    if !criu_works_or_fails_clearly(&rt) {
        return;
    }
    let id = unique_id("crbind");
    let host = images();
    let data = host.path().join("data");
    std::fs::create_dir(&data).expect("creating the bind source");
    let b = Bundle::new();
    b.writable()
        .sh(&COUNTER.replace("/count", "/data/count"))
        .add_mount(json!({
            "destination": "/data", "type": "bind", "source": path_str(&data),
            "options": ["rbind", "rw"]
        }));
    rt.run_detached(&id, &b).ok();
    let host_count = || read_trim(&data.join("count")).parse::<u64>().ok();
    let mut seen = 0;
    wait_until(T, "the counter in the bind mount", || {
        seen = host_count().unwrap_or_default();
        seen > 0
    });
    let dir = host.path().join("img");
    cr(&rt, &["checkpoint", "--image-path", path_str(&dir), &id]).ok();
    let saved = assert_count_frozen(&data.join("count"), seen);
    cr(
        &rt,
        &[
            "restore",
            "-d",
            "--image-path",
            path_str(&dir),
            "--bundle",
            b.path_str(),
            &id,
        ],
    )
    .ok();
    wait_until(
        T,
        "the restored counter to write through the bind mount",
        || host_count().is_some_and(|c| c > saved),
    );
    rt.delete_force(&id).ok();
    assert!(gantry_testutil::check::mounts_under(&data).is_empty());
}

#[test]
fn restore_failing_in_criu_leaves_nothing() {
    need_root!();
    let rt = rt();
    let id = unique_id("crbad");
    let cg = format!("/gantry-test-{id}");
    let b = Bundle::new();
    b.writable().sh(COUNTER).cgroups_path(&cg);
    let img = images();
    // Looks like a checkpoint until criu reads it.
    std::fs::write(img.path().join("inventory.img"), "not a criu image").unwrap();
    std::fs::write(
        img.path().join("descriptors.json"),
        r#"["/dev/null","/dev/null","/dev/null"]"#,
    )
    .unwrap();
    let out = cr(
        &rt,
        &[
            "restore",
            "-d",
            "--image-path",
            path_str(img.path()),
            "--bundle",
            b.path_str(),
            &id,
        ],
    );
    assert_clear_error(&rt, &out, &["criu"]);
    assert_eq!(rt.status(&id), None);
    assert!(!rt.root().join(&id).exists(), "state dir left behind");
    assert!(existing_cgroups(&cg).is_empty(), "cgroup left behind: {cg}");
    assert!(
        gantry_testutil::check::mounts_under(rt.root()).is_empty(),
        "mounts left under the runtime root"
    );
}

/// Starts `args` (run -d or restore -d) with stdout on a new pipe; returns its read end.
fn detached_with_stdout_pipe(
    rt: &Runtime,
    args: &[&str],
) -> std::io::BufReader<std::process::ChildStdout> {
    let bin = criu();
    let mut child = rt
        .command()
        .arg("--criu")
        .arg(&bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the runtime");
    let stdout = child.stdout.take().expect("stdout pipe");
    let status = child.wait().expect("waiting for the runtime");
    assert!(status.success(), "{args:?}: {status}");
    std::io::BufReader::new(stdout)
}

/// The next number the container printed (lines are whole: each is one small write).
fn next_number(r: &mut impl std::io::BufRead) -> u64 {
    let mut line = String::new();
    r.read_line(&mut line)
        .expect("reading the container's stdout");
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {line:?}"))
}

#[test]
fn restore_hands_a_piped_stdout_to_the_new_caller() {
    need_root!();
    let rt = rt();
    if !criu_works_or_fails_clearly(&rt) {
        return;
    }
    let id = unique_id("crpipe");
    let b = Bundle::new();
    // stdin and stderr reopened inside (criu cannot dump the host's /dev/null); stdout
    // stays the caller's pipe.
    b.writable()
        .sh("exec </dev/null 2>/dev/null; i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done");
    let mut first = detached_with_stdout_pipe(&rt, &["run", "-d", "--bundle", b.path_str(), &id]);
    let mut last = 0;
    while last < 3 {
        last = next_number(&mut first);
    }
    let img = images();
    let dir = img.path().join("img");
    cr(&rt, &["checkpoint", "--image-path", path_str(&dir), &id]).ok();
    let mut second = detached_with_stdout_pipe(
        &rt,
        &[
            "restore",
            "-d",
            "--image-path",
            path_str(&dir),
            "--bundle",
            b.path_str(),
            &id,
        ],
    );
    let next = next_number(&mut second);
    assert!(next > last, "restored counter printed {next} after {last}");
    assert_eq!(next_number(&mut second), next + 1);
    rt.delete_force(&id).ok();
}
