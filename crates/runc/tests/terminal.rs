//! `process.terminal` with `--console-socket`: the runtime hands the pty master to a unix
//! socket over SCM_RIGHTS; the test types into it and reads the container's output back.

#[macro_use]
mod common;
use common::*;
use gantry_testutil::console::{read_until, write_all, ConsoleSocket};

fn tty_bundle(script: &str) -> Bundle {
    let b = Bundle::new();
    b.config(|c| c["process"]["terminal"] = json!(true))
        .sh(script);
    b
}

#[test]
fn console_socket_receives_a_working_pty_master() {
    need_root!();
    let rt = rt();
    let b = tty_bundle("tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; read line; echo got-$line");
    let sock = ConsoleSocket::new(b.path());
    let id = unique_id("tty");
    rt.create_with(&id, &b, &["--console-socket", sock.path_str()])
        .ok();
    let master = sock.receive_master(T);
    rt.start(&id).ok();
    let before = read_until(&master, "is-a-tty", T);
    assert!(before.contains("/dev/pts/0"), "{before:?}");
    assert!(before.contains("is-a-tty"), "{before:?}");
    write_all(&master, "hello\n");
    let after = read_until(&master, "got-hello", T);
    assert!(after.contains("got-hello"), "{after:?}");
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
}

#[test]
fn console_size_is_applied() {
    need_root!();
    let rt = rt();
    let b = tty_bundle("stty size");
    b.config(|c| c["process"]["consoleSize"] = json!({ "height": 40, "width": 100 }));
    let sock = ConsoleSocket::new(b.path());
    let id = unique_id("tty");
    let out = rt
        .cmd(&[
            "run",
            "-d",
            "--console-socket",
            sock.path_str(),
            "--bundle",
            b.path_str(),
            &id,
        ])
        .ok();
    let master = sock.receive_master(T);
    let text = read_until(&master, "40 100", T);
    assert!(text.contains("40 100"), "{text:?}\n{out}");
    wait_for_status(&rt, &id, "stopped", T);
    rt.delete(&id).ok();
}

#[test]
fn detached_terminal_needs_a_console_socket() {
    need_root!();
    let rt = rt();
    let b = tty_bundle("true");
    let id = unique_id("tty");
    assert_clear_error(&rt, &rt.create(&id, &b), &["console"]);
    assert!(rt.status(&id).is_none());
}

#[test]
fn console_socket_without_terminal_is_refused() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["true"]);
    let sock = ConsoleSocket::new(b.path());
    let id = unique_id("tty");
    let out = rt.create_with(&id, &b, &["--console-socket", sock.path_str()]);
    assert_clear_error(&rt, &out, &["console", "terminal"]);
    assert!(rt.status(&id).is_none());
}

/// `run` in the foreground with a terminal and no console socket: the runtime relays the
/// pty itself between its own terminal and the container, and exits with the status.
#[test]
fn foreground_run_relays_its_own_terminal() {
    need_root!();
    let rt = rt();
    let b = tty_bundle("tty; read line; echo got-$line; exit 3");
    let id = unique_id("tty");
    // Give the runtime a terminal of its own: a pty whose slave is its stdio.
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let mut cmd = rt.command();
    cmd.args(["run", "--bundle", b.path_str(), &id])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    let master = pty.master;
    let before = read_until(&master, "/dev/pts/", T);
    assert!(before.contains("/dev/pts/0"), "{before:?}");
    write_all(&master, "typed\n");
    let after = read_until(&master, "got-typed", T);
    assert!(after.contains("got-typed"), "{after:?}");
    let status = gantry_testutil::runtime::wait_timeout(&mut child, T).expect("run exits");
    assert_eq!(status.code(), Some(3));
    assert!(rt.status(&id).is_none(), "foreground run cleans up");
}
