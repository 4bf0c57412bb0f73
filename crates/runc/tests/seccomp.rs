//! `linux.seccomp`: actions, errnoRet and defaultErrnoRet, argument filters, KILL, the
//! architectures list, flags, SCMP_ACT_NOTIFY with a seccomp agent (fd + state over
//! listenerPath), `exec` under the container's filter, with and without noNewPrivileges
//! (the two load points), and bad profiles refused with one clear line.

#[macro_use]
mod common;
use common::*;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Instant;

/// A bundle with a writable root, a cgroup and a marker for leftover checks.
struct Case {
    rt: Runtime,
    id: String,
    cg: String,
    mark: String,
    b: Bundle,
    _sweep: check::Sweep,
}

fn case(prefix: &str) -> Case {
    let rt = rt();
    let id = unique_id(prefix);
    let cg = format!("/gantry-test-{id}");
    let mark = format!("GANTRY_TEST_MARK={id}");
    let sweep = check::Sweep::new(&cg, &mark);
    let b = Bundle::new();
    b.writable().cgroups_path(&cg).env(&mark);
    // KILL and TRAP end processes with SIGSYS, which would dump core.
    b.config(|c| {
        c["process"]["rlimits"] = json!([
            {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
        ])
    });
    Case {
        rt,
        id,
        cg,
        mark,
        b,
        _sweep: sweep,
    }
}

/// defaultAction ALLOW with one rule for mkdir (busybox may use mkdir or mkdirat).
fn deny_mkdir(rule: Value) -> Value {
    let mut r = json!({ "names": ["mkdir", "mkdirat"] });
    for (k, v) in rule.as_object().unwrap() {
        r[k] = v.clone();
    }
    json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [r] })
}

const TRY_MKDIR: &str = "mkdir /made 2>&1; echo rc=$?";

/// Runs `script` in the foreground with `seccomp` (None: no section) and returns stdout.
fn run_with(c: &Case, seccomp: Option<Value>, script: &str) -> String {
    c.b.config(|cfg| match &seccomp {
        Some(s) => cfg["linux"]["seccomp"] = s.clone(),
        None => {
            cfg["linux"].as_object_mut().unwrap().remove("seccomp");
        }
    })
    .sh(script);
    let id = unique_id(&c.id);
    let out = c.rt.run(&id, &c.b).ok();
    out.stdout
}

#[test]
fn mkdir_errno_is_eperm_by_default_and_works_without_a_filter() {
    need_root!();
    let c = case("sc-errno");
    let filtered = run_with(
        &c,
        Some(deny_mkdir(json!({"action": "SCMP_ACT_ERRNO"}))),
        TRY_MKDIR,
    );
    assert!(
        filtered.contains("Operation not permitted") && filtered.contains("rc=1"),
        "{filtered}"
    );
    assert!(!c.b.in_rootfs("made").exists());
    let plain = run_with(&c, None, TRY_MKDIR);
    assert_eq!(plain.trim(), "rc=0", "{plain}");
    assert!(c.b.in_rootfs("made").is_dir());
}

/// Without noNewPrivileges the filter must go in while the process still holds
/// CAP_SYS_ADMIN (before the capability drop); with it, just before exec. Both must filter,
/// for root and for a user without any capability.
#[test]
fn filter_loads_with_and_without_no_new_privileges() {
    need_root!();
    let c = case("sc-nnp");
    let s = deny_mkdir(json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 122}));
    for (nnp, user) in [
        (false, json!({"uid": 0, "gid": 0})),
        (true, json!({"uid": 0, "gid": 0})),
        (false, json!({"uid": 1000, "gid": 1000})),
        (true, json!({"uid": 1000, "gid": 1000})),
    ] {
        c.b.config(|cfg| {
            cfg["process"]["noNewPrivileges"] = json!(nnp);
            cfg["process"]["user"] = user.clone();
        });
        // /tmp is world-writable, so only the filter can stop uid 1000.
        let out = run_with(&c, Some(s.clone()), "mkdir /tmp/x 2>&1; echo rc=$?");
        assert!(
            out.contains("Disk quota exceeded"),
            "noNewPrivileges={nnp} user={user}: {out}"
        );
    }
}

#[test]
fn errno_ret_values() {
    need_root!();
    let c = case("sc-errnoret");
    for (ret, text) in [
        (122, "Disk quota exceeded"),
        (38, "Function not implemented"),
        (30, "Read-only file system"),
    ] {
        let out = run_with(
            &c,
            Some(deny_mkdir(
                json!({"action": "SCMP_ACT_ERRNO", "errnoRet": ret}),
            )),
            TRY_MKDIR,
        );
        assert!(out.contains(text), "errnoRet {ret}: {out}");
    }
}

/// The host's x86_64 syscall names (from the kernel headers), for allow-lists.
fn all_syscall_names() -> Option<Vec<String>> {
    let text = std::fs::read_to_string("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").ok()?;
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#define __NR_"))
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect();
    (names.len() > 300).then_some(names)
}

#[test]
fn default_errno_ret_applies_to_everything_not_allowed() {
    need_root!();
    let Some(names) = all_syscall_names() else {
        eprintln!("skipped: no x86_64 kernel headers to build an allow-list from");
        return;
    };
    let c = case("sc-deferrno");
    let allowed: Vec<String> = names
        .into_iter()
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .collect();
    let s = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 122,
        "syscalls": [{ "names": allowed, "action": "SCMP_ACT_ALLOW" }]
    });
    let out = run_with(&c, Some(s), TRY_MKDIR);
    assert!(out.contains("Disk quota exceeded"), "{out}");
}

#[test]
fn argument_filters() {
    need_root!();
    let c = case("sc-args");
    // linux32 calls personality(PER_LINUX32 = 8); linux64 personality(PER_LINUX = 0).
    let script = "linux32 true 2>&1; echo rc32=$?; linux64 true 2>&1; echo rc64=$?";
    let rule = |op: &str, value: u64, value_two: Option<u64>| {
        let mut arg = json!({"index": 0, "value": value, "op": op});
        if let Some(v2) = value_two {
            arg["valueTwo"] = json!(v2);
        }
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["personality"], "action": "SCMP_ACT_ERRNO",
                           "errnoRet": 122, "args": [arg] }]
        })
    };
    let check = |s: Value, deny32: bool, deny64: bool| {
        let out = run_with(&c, Some(s.clone()), script);
        assert_eq!(out.contains("rc32=0"), !deny32, "{s}: {out}");
        assert_eq!(out.contains("rc64=0"), !deny64, "{s}: {out}");
        if deny32 || deny64 {
            assert!(out.contains("Disk quota exceeded"), "{s}: {out}");
        }
    };
    check(rule("SCMP_CMP_EQ", 8, None), true, false);
    check(rule("SCMP_CMP_NE", 8, None), false, true);
    check(rule("SCMP_CMP_GT", 0, None), true, false);
    check(rule("SCMP_CMP_LT", 8, None), false, true);
    check(rule("SCMP_CMP_GE", 9, None), false, false);
    check(rule("SCMP_CMP_LE", 8, None), true, true);
    // MASKED_EQ: value is the mask, valueTwo the bits it must equal.
    check(rule("SCMP_CMP_MASKED_EQ", 0x8, Some(0x8)), true, false);
    check(rule("SCMP_CMP_MASKED_EQ", 0x8, Some(0)), false, true);
}

#[test]
fn kill_actions_kill_the_process() {
    need_root!();
    let c = case("sc-kill");
    for action in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
    ] {
        c.b.config(|cfg| cfg["linux"]["seccomp"] = deny_mkdir(json!({ "action": action })))
            .args(&["mkdir", "/killed"]);
        let id = unique_id(&c.id);
        let out = c.rt.run(&id, &c.b);
        assert_eq!(out.code(), Some(128 + libc::SIGSYS), "{action}:\n{out}");
        assert!(!c.b.in_rootfs("killed").exists(), "{action}");
    }
    // TRAP sends SIGSYS too, which kills a program that does not handle it.
    c.b.config(|cfg| cfg["linux"]["seccomp"] = deny_mkdir(json!({"action": "SCMP_ACT_TRAP"})));
    let out = c.rt.run(&unique_id(&c.id), &c.b);
    assert_eq!(
        out.code(),
        Some(128 + libc::SIGSYS),
        "SCMP_ACT_TRAP:\n{out}"
    );
}

#[test]
fn log_and_trace_actions_run() {
    need_root!();
    let c = case("sc-log");
    let out = run_with(
        &c,
        Some(deny_mkdir(json!({"action": "SCMP_ACT_LOG"}))),
        TRY_MKDIR,
    );
    assert_eq!(out.trim(), "rc=0", "SCMP_ACT_LOG allows: {out}");
    // TRACE without a tracer fails the syscall with ENOSYS.
    let out = run_with(
        &c,
        Some(deny_mkdir(json!({"action": "SCMP_ACT_TRACE"}))),
        "mkdir /traced 2>&1; echo rc=$?",
    );
    assert!(out.contains("Function not implemented"), "{out}");
}

#[test]
fn architectures_flags_and_unknown_syscall_names() {
    need_root!();
    let c = case("sc-arch");
    let mut s = deny_mkdir(json!({"action": "SCMP_ACT_ERRNO"}));
    s["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    // A name this libseccomp does not know (a newer syscall) is skipped, as runc does.
    s["syscalls"][0]["names"]
        .as_array_mut()
        .unwrap()
        .push(json!("gantry_future_syscall"));
    let out = run_with(&c, Some(s.clone()), TRY_MKDIR);
    assert!(out.contains("Operation not permitted"), "{out}");
    if c.rt.runc_deviates("runc 1.1 refuses every seccomp flag") {
        return;
    }
    for flags in [
        json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
        json!(["SECCOMP_FILTER_FLAG_TSYNC"]),
        json!([]),
    ] {
        s["flags"] = flags.clone();
        let out = run_with(&c, Some(s.clone()), TRY_MKDIR);
        assert!(
            out.contains("Operation not permitted"),
            "flags {flags}: {out}"
        );
    }
}

/// One bad profile: `create` and `run` fail with one line naming one of `needles`, and
/// leave nothing; the process never ran unfiltered.
fn refused(seccomp: Value, needles: &[&str]) {
    let c = case("sc-bad");
    c.b.sh("touch /ran; exec sleep 1000")
        .config(|cfg| cfg["linux"]["seccomp"] = seccomp.clone());
    for out in [c.rt.create(&c.id, &c.b), c.rt.run(&c.id, &c.b)] {
        assert_clear_error(&c.rt, &out, needles);
        check::assert_nothing_left(&c.rt, &c.id, c.b.path(), &c.cg, &c.mark);
    }
    assert!(!c.b.in_rootfs("ran").exists(), "ran despite {seccomp}");
}

#[test]
fn bad_profiles_are_refused_clearly() {
    need_root!();
    refused(
        json!({"defaultAction": "SCMP_ACT_BOGUS"}),
        &["defaultAction", "SCMP_ACT_BOGUS"],
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
        &["architectures", "SCMP_ARCH_VAX"],
    );
    refused(
        deny_mkdir(json!({"action": "SCMP_ACT_EXPLODE"})),
        &["syscalls[0].action", "SCMP_ACT_EXPLODE"],
    );
    refused(
        deny_mkdir(json!({"action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ROUGHLY"}]})),
        &["op", "SCMP_CMP_ROUGHLY"],
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}),
        &["flags", "SECCOMP_FILTER_FLAG_FAST"],
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}),
        &["architectures", "SCMP_ARCH_S390X"],
    );
    refused(
        json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/none.sock"}),
        &["defaultAction", "SCMP_ACT_NOTIFY"],
    );
    // Nobody listens at listenerPath: the fd cannot be handed over.
    let dir = tempfile::tempdir().unwrap();
    let mut s = deny_mkdir(json!({"action": "SCMP_ACT_NOTIFY"}));
    s["listenerPath"] = json!(dir.path().join("nobody.sock"));
    refused(s, &["listenerPath", "seccomp agent"]);
}

/// What the test's seccomp agent saw: the state JSON and the syscalls it answered.
struct AgentSaw {
    state: Value,
    answered: Vec<i32>,
}

/// A seccomp agent on a unix socket: takes one connection, reads the state JSON and the fd
/// (SCM_RIGHTS), then fails every notified syscall with `errno` until no process uses the
/// filter any more.
fn start_agent(path: PathBuf, errno: i32) -> std::thread::JoinHandle<Result<AgentSaw, String>> {
    let listener = UnixListener::bind(&path).expect("binding the agent socket");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + T;
        let mut stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() > deadline {
                        return Err("no runtime connected to the agent".into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = recvmsg::<()>(
                stream.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            )
            .map_err(|e| format!("recvmsg: {e}"))?;
            let fd = msg
                .cmsgs()
                .map_err(|e| format!("cmsgs: {e}"))?
                .find_map(|c| match c {
                    ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                    _ => None,
                })
                .ok_or("no fd came with the state")?;
            (msg.bytes, fd)
        };
        // SAFETY: the descriptor arrived with SCM_RIGHTS and is ours alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Usually all of it came with the fd; read on only while the JSON is cut short (runc
        // 1.1 keeps the connection open, so EOF cannot mark the end).
        let mut json_bytes = buf[..len].to_vec();
        let state: Value = loop {
            match serde_json::from_slice(&json_bytes) {
                Ok(v) => break v,
                Err(e) if e.is_eof() => {
                    let mut more = [0u8; 4096];
                    match stream.read(&mut more) {
                        Ok(n) if n > 0 => json_bytes.extend_from_slice(&more[..n]),
                        r => return Err(format!("state cut short ({r:?}): {e}")),
                    }
                }
                Err(e) => {
                    let text = String::from_utf8_lossy(&json_bytes).into_owned();
                    return Err(format!("state is not JSON ({e}): {text:?}"));
                }
            }
        };
        let mut answered = Vec::new();
        while Instant::now() < deadline {
            let mut pfd = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd that lives across the call.
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n <= 0 {
                continue;
            }
            if pfd.revents & libc::POLLIN != 0 {
                // SAFETY: an all-zero seccomp_notif is valid, and the kernel fills it.
                let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
                // SAFETY: the ioctl writes one seccomp_notif into `req`.
                let r = unsafe {
                    libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req)
                };
                if r < 0 {
                    continue; // the notifying process went away
                }
                let mut resp = libc::seccomp_notif_resp {
                    id: req.id,
                    val: 0,
                    error: -errno,
                    flags: 0,
                };
                // SAFETY: the ioctl reads one seccomp_notif_resp.
                unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
                answered.push(req.data.nr);
            } else if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                break; // no process uses the filter any more
            }
        }
        Ok(AgentSaw { state, answered })
    })
}

#[test]
fn notify_sends_fd_and_state_to_the_agent() {
    need_root!();
    let c = case("sc-notify");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let agent = start_agent(sock.clone(), libc::EDQUOT);
    let mut s = deny_mkdir(json!({"action": "SCMP_ACT_NOTIFY"}));
    s["listenerPath"] = json!(sock);
    s["listenerMetadata"] = json!("gantry-test-metadata");
    c.b.config(|cfg| cfg["linux"]["seccomp"] = s).sh(TRY_MKDIR);
    let out = c.rt.run(&c.id, &c.b).ok();
    let saw = agent.join().unwrap().unwrap();
    assert!(out.stdout.contains("Disk quota exceeded"), "{out}");
    assert!(!c.b.in_rootfs("made").exists());
    assert!(!saw.answered.is_empty(), "the agent answered no syscall");
    assert!(
        saw.answered
            .iter()
            .all(|&nr| nr == libc::SYS_mkdir as i32 || nr == libc::SYS_mkdirat as i32),
        "only mkdir is notified: {:?}",
        saw.answered
    );
    let st = &saw.state;
    assert_eq!(st["fds"], json!(["seccompFd"]), "{st}");
    assert_eq!(st["metadata"], "gantry-test-metadata", "{st}");
    assert!(st["pid"].as_i64().unwrap_or(0) > 0, "{st}");
    assert!(st["ociVersion"].is_string(), "{st}");
    assert_eq!(st["state"]["id"], c.id.as_str(), "{st}");
    assert_eq!(st["state"]["status"], "creating", "{st}");
    assert_eq!(st["state"]["pid"], st["pid"], "{st}");
    let bundle = std::fs::canonicalize(c.b.path()).unwrap();
    assert_eq!(st["state"]["bundle"], json!(bundle), "{st}");
}

#[test]
fn exec_runs_under_the_containers_filter() {
    need_root!();
    let c = case("sc-exec");
    c.b.config(|cfg| {
        cfg["linux"]["seccomp"] = deny_mkdir(json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 122}));
        // The exec'd process inherits it unless --no-new-privs: both load points.
        cfg["process"]["noNewPrivileges"] = json!(false);
    })
    .args(&["sleep", "1000"]);
    c.rt.run_detached(&c.id, &c.b).ok();
    for extra in [&[][..], &["--no-new-privs"][..]] {
        let mut args = vec!["exec"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[&c.id, "sh", "-c", "mkdir /viaexec 2>&1; echo rc=$?"]);
        let out = c.rt.cmd(&args).ok();
        assert!(
            out.stdout.contains("Disk quota exceeded"),
            "{extra:?}: {out}"
        );
        assert!(!c.b.in_rootfs("viaexec").exists());
    }
    // A user without capabilities, as the filter's early load must cope with.
    let out =
        c.rt.cmd(&[
            "exec",
            "--user",
            "1000:1000",
            &c.id,
            "sh",
            "-c",
            "mkdir /tmp/u 2>&1; echo rc=$?",
        ])
        .ok();
    assert!(out.stdout.contains("Disk quota exceeded"), "{out}");
    c.rt.kill(&c.id, "KILL").ok();
    wait_for_status(&c.rt, &c.id, "stopped", T);
    c.rt.delete(&c.id).ok();
}

#[test]
fn exec_notify_reaches_the_agent_with_running_state() {
    need_root!();
    let c = case("sc-execnotify");
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let mut s = deny_mkdir(json!({"action": "SCMP_ACT_NOTIFY"}));
    s["listenerPath"] = json!(sock);
    // The init's own filter goes to a first agent, the exec's to a second.
    let first = start_agent(sock.clone(), libc::EDQUOT);
    c.b.config(|cfg| cfg["linux"]["seccomp"] = s)
        .args(&["sleep", "1000"]);
    c.rt.run_detached(&c.id, &c.b).ok();
    let init_pid = c.rt.pid(&c.id);
    std::fs::remove_file(&sock).unwrap();
    let second = start_agent(sock.clone(), libc::EROFS);
    let out =
        c.rt.exec(&c.id, &["sh", "-c", "mkdir /viaexec 2>&1; echo rc=$?"])
            .ok();
    assert!(out.stdout.contains("Read-only file system"), "{out}");
    let saw = second.join().unwrap().unwrap();
    assert_eq!(saw.state["state"]["status"], "running", "{}", saw.state);
    assert_eq!(saw.state["state"]["pid"], init_pid, "{}", saw.state);
    assert_ne!(
        saw.state["pid"], init_pid,
        "the exec'd process's pid: {}",
        saw.state
    );
    c.rt.kill(&c.id, "KILL").ok();
    wait_for_status(&c.rt, &c.id, "stopped", T);
    c.rt.delete(&c.id).ok();
    let first = first.join().unwrap().unwrap();
    assert_eq!(first.state["state"]["status"], "creating");
}

#[test]
fn notify_in_a_user_namespace() {
    need_root!();
    let c = case("sc-usernotify");
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c.b.namespace("user", None).config(|cfg| {
        cfg["linux"]["uidMappings"] = map.clone();
        cfg["linux"]["gidMappings"] = map.clone();
    });
    let dir = tempfile::tempdir().unwrap();
    for nnp in [true, false] {
        let sock = dir.path().join(format!("agent-{nnp}.sock"));
        let agent = start_agent(sock.clone(), libc::EDQUOT);
        let mut s = deny_mkdir(json!({"action": "SCMP_ACT_NOTIFY"}));
        s["listenerPath"] = json!(sock);
        c.b.config(|cfg| {
            cfg["linux"]["seccomp"] = s;
            cfg["process"]["noNewPrivileges"] = json!(nnp);
        })
        // /tmp is world-writable: only the agent's answer can stop the mkdir.
        .sh("mkdir /tmp/viauserns 2>&1; echo rc=$?");
        let out = c.rt.run(&unique_id(&c.id), &c.b).ok();
        let saw = agent.join().unwrap().unwrap();
        assert!(
            out.stdout.contains("Disk quota exceeded"),
            "nnp={nnp}: {out}"
        );
        assert!(!saw.answered.is_empty(), "nnp={nnp}");
        assert_eq!(saw.state["state"]["status"], "creating", "{}", saw.state);
    }
}

/// startContainer hooks run programs from the container's rootfs: they must not escape the
/// filter, even where the filter goes in as late as possible (noNewPrivileges).
#[test]
fn start_container_hooks_run_under_the_filter() {
    need_root!();
    let c = case("sc-hook");
    for nnp in [true, false] {
        let _ = std::fs::remove_file(c.b.in_rootfs("hook.out"));
        c.b.config(|cfg| {
            cfg["linux"]["seccomp"] =
                deny_mkdir(json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 122}));
            cfg["process"]["noNewPrivileges"] = json!(nnp);
            cfg["hooks"] = json!({ "startContainer": [{
                "path": "/bin/sh",
                "args": ["sh", "-c", "mkdir /hookdir >/hook.out 2>&1; echo rc=$? >>/hook.out"]
            }]});
        })
        .args(&["true"]);
        c.rt.run(&unique_id(&c.id), &c.b).ok();
        let out = read_trim(&c.b.in_rootfs("hook.out"));
        assert!(out.contains("Disk quota exceeded"), "nnp={nnp}: {out:?}");
        assert!(!c.b.in_rootfs("hookdir").exists());
    }
}

#[test]
fn features_list_seccomp_support() {
    need_root!();
    let rt = rt();
    let out = rt.cmd(&["features"]).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    let s = &f["linux"]["seccomp"];
    assert_eq!(s["enabled"], true, "{s}");
    let list = |key: &str| -> Vec<String> {
        s[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} missing: {s}"))
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    let actions = list("actions");
    for a in [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_TRACE",
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
        "SCMP_ACT_ALLOW",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {s}");
    }
    assert_eq!(list("operators").len(), 7, "{s}");
    let archs = list("archs");
    for a in ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"] {
        assert!(archs.iter().any(|x| x == a), "{a}: {s}");
    }
    if !rt.runc_deviates("runc 1.1 lists no seccomp flags") {
        let flags = list("supportedFlags");
        assert!(flags.iter().any(|x| x == "SECCOMP_FILTER_FLAG_LOG"), "{s}");
    }
}

/// runtime-tools' linux_seccomp case: a profile that denies getcwd. The runtime's own cwd
/// check (CVE-2024-21626) runs before the filter goes in, so the container still starts.
#[test]
fn a_denied_getcwd_does_not_break_the_runtimes_cwd_check() {
    need_root!();
    let c = case("sc-getcwd");
    for nnp in [false, true] {
        c.b.config(|cfg| {
            cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]});
            cfg["process"]["noNewPrivileges"] = json!(nnp);
            cfg["process"]["cwd"] = json!("/tmp");
        })
        .args(&["echo", "started"]);
        let out = c.rt.run(&unique_id(&c.id), &c.b);
        if !out.success()
            && c.rt
                .runc_deviates("runc 1.1 checks the cwd with getcwd under the filter")
        {
            continue;
        }
        assert_eq!(out.ok().stdout, "started\n", "noNewPrivileges={nnp}");
    }
}
