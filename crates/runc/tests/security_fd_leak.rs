//! CVE-2024-21626: a runtime descriptor of a host directory leaking into the container, and a
//! `process.cwd` of `/proc/self/fd/N` that makes the container start *inside* that host
//! directory (from where `..` walks the host's tree). Checks: the cwd attack never shows the
//! container a host file (for create/run and for exec), and the container's processes hold
//! only 0, 1, 2 and the descriptors they were asked to get.
//!
//! Upstream runc 1.1.5 is vulnerable (fixed in 1.1.12); Debian's 1.1.5+ds1-1+deb12u1 carries
//! the fix, and passes.

#[macro_use]
mod common;
mod security_common;

use common::*;
use security_common::*;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

/// Descriptor numbers a runtime typically holds while it sets a process up.
const FDS: std::ops::RangeInclusive<u32> = 3..=12;

/// In the container: print the cwd and try to read the host marker by walking up from it.
fn probe(marker: &str) -> String {
    format!("pwd; cat ../../../../../../../../../..{marker} 2>/dev/null; true")
}

fn marker_file(target: &HostTarget, id: &str) -> (String, String) {
    let path = target.path().join("marker");
    let secret = format!("host-secret-{id}");
    std::fs::write(&path, &secret).unwrap();
    (path.to_str().unwrap().to_string(), secret)
}

#[test]
fn cwd_through_a_leaked_descriptor_never_reaches_the_host() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let mut escaped = Vec::new();
    for n in FDS {
        let id = unique_id("sec-cwd");
        let (marker, secret) = marker_file(&target, &id);
        let b = Bundle::new();
        b.sh(&probe(&marker))
            .config(|c| c["process"]["cwd"] = json!(format!("/proc/self/fd/{n}")));
        let out = rt.run(&id, &b);
        if out.stdout.contains(&secret) || out.stdout.starts_with("(unreachable)") {
            escaped.push(format!("cwd /proc/self/fd/{n}: {}", out.stdout.trim()));
        }
        let _ = rt.delete_force(&id);
    }
    assert_withstood(
        &rt,
        "CVE-2024-21626",
        (!escaped.is_empty()).then(|| escaped.join("; ")),
    );
}

#[test]
fn exec_cwd_through_a_leaked_descriptor_never_reaches_the_host() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let id = unique_id("sec-cwd-exec");
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    rt.run_detached(&id, &b).ok();
    let mut escaped = Vec::new();
    for n in FDS {
        let (marker, secret) = marker_file(&target, &format!("{id}-{n}"));
        let cwd = format!("/proc/self/fd/{n}");
        let out = rt.cmd(&["exec", "--cwd", &cwd, &id, "sh", "-c", &probe(&marker)]);
        if out.stdout.contains(&secret) || out.stdout.starts_with("(unreachable)") {
            escaped.push(format!("exec --cwd {cwd}: {}", out.stdout.trim()));
        }
    }
    assert_withstood(
        &rt,
        "CVE-2024-21626",
        (!escaped.is_empty()).then(|| escaped.join("; ")),
    );
}

/// Descriptor numbers process `pid` holds, as seen from the host.
fn fds_of(pid: i32) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn only_stdio_and_preserved_descriptors_reach_the_container() {
    need_root!();
    let rt = rt();
    let id = unique_id("sec-fds");
    let b = Bundle::new();
    b.args(&["sleep", "1000"]);
    // Two extra descriptors, asked for with --preserve-fds 1: only fd 3 may arrive.
    let extra = tempfile::tempfile().unwrap();
    let extra2 = tempfile::tempfile().unwrap();
    let (fd_a, fd_b) = (
        std::os::fd::AsRawFd::as_raw_fd(&extra),
        std::os::fd::AsRawFd::as_raw_fd(&extra2),
    );
    let mut cmd = rt.command();
    cmd.args([
        "run",
        "-d",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path_str(),
        &id,
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: fcntl/dup2 on descriptors this process owns, in the child before exec.
    unsafe {
        cmd.pre_exec(move || {
            // Move both out of the way first: either may already be 3 or 4, and dup2 onto
            // itself would keep its close-on-exec flag.
            let (a, b) = (
                libc::fcntl(fd_a, libc::F_DUPFD, 100),
                libc::fcntl(fd_b, libc::F_DUPFD, 100),
            );
            if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().expect("run -d --preserve-fds");
    assert!(status.success(), "run -d --preserve-fds 1 failed");
    let init = rt.pid(&id);
    assert_eq!(fds_of(init), vec![0, 1, 2, 3], "the init's descriptors");

    // An exec'd process gets 0, 1, 2 only.
    let tag = format!("{}", 1000 + std::process::id() % 1000);
    rt.cmd(&["exec", "-d", &id, "sleep", &tag]).ok();
    let mut pid = None;
    wait_until(T, "the exec'd sleep", || {
        pid = find_process(format!("sleep\0{tag}\0").as_bytes());
        pid.is_some()
    });
    assert_eq!(
        fds_of(pid.unwrap()),
        vec![0, 1, 2],
        "the exec'd process's descriptors"
    );
    // And from inside: the exec'd sleep as the container sees it.
    let ns = ns_pid(pid.unwrap()).unwrap();
    let out = rt.exec(&id, &["ls", &format!("/proc/{ns}/fd")]).ok();
    let seen: Vec<&str> = out.stdout.split_whitespace().collect();
    assert_eq!(seen, ["0", "1", "2"], "seen from inside the container");
}
