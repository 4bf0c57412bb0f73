//! `run`: create and start in one, in the foreground (stdio relayed, signals forwarded, the
//! container's exit status as ours, 128+N when it is killed by signal N) or detached.

#[macro_use]
mod common;
use common::*;
use std::process::Stdio;

#[test]
fn foreground_run_exits_with_the_container_status() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("exit 7");
    let id = unique_id("run");
    let out = rt.run(&id, &b);
    assert_eq!(out.code(), Some(7), "{out}");
    assert!(
        rt.status(&id).is_none(),
        "a foreground run must delete its container"
    );
}

#[test]
fn foreground_run_relays_stdio() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("echo to-stdout; echo to-stderr >&2; cat");
    let input = b.path().join("input");
    std::fs::write(&input, "from-stdin\n").unwrap();
    let id = unique_id("run");
    let args = ["run", "--bundle", b.path_str(), id.as_str()];
    let out = rt
        .cmd_stdin(&args, Stdio::from(std::fs::File::open(&input).unwrap()))
        .ok();
    assert_eq!(out.stdout, "to-stdout\nfrom-stdin\n", "{out}");
    assert!(out.stderr.contains("to-stderr"), "{out}");
}

#[test]
fn foreground_run_killed_by_signal_exits_128_plus_n() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("run");
    let (mut child, _, _, cmdline) =
        rt.spawn(&["run", "--bundle", b.path_str(), &id], Stdio::null());
    wait_until(T, "the container to run", || {
        rt.status(&id).as_deref() == Some("running")
    });
    rt.kill(&id, "KILL").ok();
    let status = gantry_testutil::runtime::wait_timeout(&mut child, T)
        .unwrap_or_else(|| panic!("{cmdline} did not exit after its container was killed"));
    assert_eq!(status.code(), Some(128 + 9), "{cmdline}: {status}");
}

#[test]
fn foreground_run_of_a_process_killing_itself_exits_128_plus_n() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    // Outside a pid namespace the shell is not an init, so its own SIGTERM kills it.
    b.remove_namespace("pid").sh("kill -TERM $$; sleep 5");
    let out = rt.run(&unique_id("run"), &b);
    assert_eq!(out.code(), Some(128 + 15), "{out}");
}

#[test]
fn foreground_run_forwards_signals() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
    let id = unique_id("run");
    let (mut child, out, _, cmdline) =
        rt.spawn(&["run", "--bundle", b.path_str(), &id], Stdio::null());
    wait_until(T, "the container to print ready", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("ready")
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = gantry_testutil::runtime::wait_timeout(&mut child, T)
        .unwrap_or_else(|| panic!("{cmdline} did not exit after SIGTERM"));
    assert_eq!(status.code(), Some(3), "{cmdline}: {status}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("got-term"));
}

#[test]
fn detached_run_returns_with_the_container_running() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id("run");
    rt.run_detached(&id, &b).ok();
    let state = rt.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    assert!(check::pid_alive(state["pid"].as_i64().unwrap() as i32));
    rt.kill(&id, "KILL").ok();
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
}

#[test]
fn detached_run_hands_its_stdio_to_the_container() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("echo detached-output");
    let id = unique_id("run");
    let out = rt.run_detached(&id, &b).ok();
    wait_for_status(&rt, &id, "stopped", T);
    assert_eq!(out.stdout_now(), "detached-output\n");
    rt.delete(&id).ok();
}

#[test]
fn run_with_flags_after_the_id() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("echo after-id");
    let id = unique_id("run");
    let out = rt.cmd(&["run", &id, "--bundle", b.path_str()]).ok();
    assert_eq!(out.stdout, "after-id\n");
}
