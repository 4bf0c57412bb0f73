//! `process`: args, env, cwd, user (uid, gid, umask, additionalGids), the five capability
//! sets, noNewPrivileges, rlimits, oomScoreAdj, sysctl, and apparmor/selinux when the LSM is
//! not enabled.

#[macro_use]
mod common;
use common::*;
use gantry_testutil::caps;

/// The container's /proc/self/status as (key, value) lines.
fn status_of(rt: &Runtime, b: &Bundle) -> Vec<(String, String)> {
    b.args(&["cat", "/proc/self/status"]);
    let out = rt.run(&unique_id("proc"), b).ok();
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field<'a>(status: &'a [(String, String)], key: &str) -> &'a str {
    status
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key}"))
}

fn cap(status: &[(String, String)], key: &str) -> u64 {
    u64::from_str_radix(field(status, key), 16).unwrap()
}

#[test]
fn args_env_and_cwd() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello world", "EMPTY="]);
        c["process"]["cwd"] = json!("/etc");
    })
    .args(&[
        "sh",
        "-c",
        "echo \"$0|$1|$GREETING|$EMPTY|$PATH\"; pwd",
        "zero",
        "one two",
    ]);
    let out = rt.run(&unique_id("proc"), &b).ok();
    assert_eq!(
        out.stdout, "zero|one two|hello world||/bin\n/etc\n",
        "{out}"
    );
}

#[test]
fn env_is_exactly_what_the_config_says_plus_home() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| c["process"]["env"] = json!(["PATH=/bin", "A=1"]))
        .args(&["env"]);
    let out = rt.run(&unique_id("proc"), &b).ok();
    let mut vars: Vec<&str> = out.stdout.lines().collect();
    vars.sort();
    // runc adds HOME from the user's passwd entry when the config does not set it.
    assert_eq!(vars, ["A=1", "HOME=/root", "PATH=/bin"], "{out}");
}

#[test]
fn user_ids_groups_and_home() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000, "additionalGids": [10, 20] })
    })
    .sh("id -u; id -g; id -G; echo $HOME");
    let out = rt.run(&unique_id("proc"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "1000");
    let mut groups: Vec<&str> = lines[2].split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["10", "1000", "20"], "{out}");
    assert_eq!(lines[3], "/home/user", "{out}");
}

/// The process's stdio belongs to its user (as runc hands it over), so a non-root
/// process can reopen it as /dev/stdout; the runtime's pipes are 0600 root's otherwise.
#[test]
fn a_non_root_user_can_reopen_its_stdio() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 }))
        .sh("echo out >/proc/self/fd/1 && echo err >/proc/self/fd/2");
    let out = rt.run(&unique_id("proc"), &b).ok();
    assert_eq!(out.stdout, "out\n", "{out}");
    assert!(out.stderr.contains("err"), "{out}");
}

#[test]
fn umask() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| c["process"]["user"]["umask"] = json!(0o027))
        .args(&["sh", "-c", "umask"]);
    assert_eq!(rt.run(&unique_id("proc"), &b).ok().stdout.trim(), "0027");
    let b = Bundle::new();
    b.args(&["sh", "-c", "umask"]);
    assert_eq!(
        rt.run(&unique_id("proc"), &b).ok().stdout.trim(),
        "0022",
        "runc's default umask"
    );
}

#[test]
fn all_five_capability_sets() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_KILL"]
        });
    });
    let s = status_of(&rt, &b);
    // After exec as non-root with no file caps, permitted and effective are the ambient set.
    assert_eq!(
        cap(&s, "CapBnd"),
        caps::mask(&[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_AUDIT_WRITE"
        ])
    );
    assert_eq!(
        cap(&s, "CapInh"),
        caps::mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(cap(&s, "CapAmb"), caps::mask(&["CAP_KILL"]));
    assert_eq!(cap(&s, "CapPrm"), caps::mask(&["CAP_KILL"]));
    assert_eq!(cap(&s, "CapEff"), caps::mask(&["CAP_KILL"]));
}

#[test]
fn root_capabilities_follow_the_bounding_set() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let s = status_of(&rt, &b);
    let default = caps::mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    for set in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(cap(&s, set), default, "{set}");
    }
    // Exec as root counts as privileged, which clears the ambient set.
    assert_eq!(cap(&s, "CapAmb"), 0);
    // Without CAP_SYS_ADMIN root cannot set the hostname; with it, it can.
    let b = Bundle::new();
    b.sh("hostname changed 2>/dev/null && echo allowed || echo refused");
    assert_eq!(rt.run(&unique_id("proc"), &b).ok().stdout, "refused\n");
    let b = Bundle::new();
    b.config(|c| {
        for set in ["bounding", "permitted", "effective"] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
    })
    .sh("hostname changed 2>/dev/null && echo allowed || echo refused");
    assert_eq!(rt.run(&unique_id("proc"), &b).ok().stdout, "allowed\n");
}

#[test]
fn unknown_capability_names_are_refused() {
    // runtime-spec: "Any value which cannot be mapped to a relevant kernel interface MUST
    // cause an error" (runtime-tools' process_capabilities_fail). runc 1.1 only warns.
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["process"]["capabilities"]["bounding"]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_GANTRY_BOGUS"))
    })
    .args(&["echo", "ran"]);
    let id = unique_id("proc");
    let out = rt.run(&id, &b);
    if rt.runc_deviates("runc 1.1 ignores unknown capabilities with a warning") {
        return;
    }
    assert_clear_error(&rt, &out, &["CAP_GANTRY_BOGUS"]);
    assert!(rt.status(&id).is_none());
}

#[test]
fn no_new_privileges() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    assert_eq!(field(&status_of(&rt, &b), "NoNewPrivs"), "1");
    let b = Bundle::new();
    b.config(|c| c["process"]["noNewPrivileges"] = json!(false));
    assert_eq!(field(&status_of(&rt, &b), "NoNewPrivs"), "0");
}

#[test]
fn rlimits() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["process"]["rlimits"] = json!([
            { "type": "RLIMIT_NOFILE", "soft": 512, "hard": 777 },
            { "type": "RLIMIT_CORE", "soft": 0, "hard": 4096 },
            { "type": "RLIMIT_NPROC", "soft": 300, "hard": 400 }
        ])
    })
    .args(&["cat", "/proc/self/limits"]);
    let out = rt.run(&unique_id("proc"), &b).ok();
    let limit = |name: &str| -> Vec<String> {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}"));
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(String::from)
            .collect()
    };
    assert_eq!(limit("Max open files"), ["512", "777"]);
    assert_eq!(limit("Max core file size"), ["0", "4096"]);
    assert_eq!(limit("Max processes"), ["300", "400"]);
}

#[test]
fn oom_score_adj() {
    need_root!();
    let rt = rt();
    let mine: i32 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Raising is always allowed; lowering needs CAP_SYS_RESOURCE in the host's eyes.
    let want = (mine + 123).min(1000);
    let b = Bundle::new();
    b.config(|c| c["process"]["oomScoreAdj"] = json!(want))
        .args(&["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(
        rt.run(&unique_id("proc"), &b).ok().stdout.trim(),
        want.to_string()
    );
}

#[test]
fn sysctl() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1" })
    })
    .sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced");
    assert_eq!(rt.run(&unique_id("proc"), &b).ok().stdout, "1\n1\n");
}

#[test]
fn sysctl_outside_the_containers_namespaces_is_refused() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.remove_namespace("network")
        .config(|c| c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" }));
    let id = unique_id("proc");
    assert_clear_error(&rt, &rt.run(&id, &b), &["net.ipv4.ip_forward"]);
    assert!(rt.status(&id).is_none());
}

#[test]
fn apparmor_and_selinux_without_the_lsm() {
    need_root!();
    if std::path::Path::new("/sys/kernel/security/apparmor").exists()
        || std::path::Path::new("/sys/fs/selinux/enforce").exists()
    {
        eprintln!("skipped: an LSM is enabled on this machine");
        return;
    }
    let rt = rt();
    // runc 1.1 refuses both when the LSM is off, failing the container's start.
    let b = Bundle::new();
    b.config(|c| c["process"]["apparmorProfile"] = json!("gantry-test-profile"))
        .args(&["true"]);
    let id = unique_id("lsm");
    assert_clear_error(&rt, &rt.run(&id, &b), &["apparmor"]);
    assert!(rt.status(&id).is_none());
    let b = Bundle::new();
    b.config(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0"))
        .args(&["true"]);
    let id = unique_id("lsm");
    assert_clear_error(&rt, &rt.run(&id, &b), &["selinux"]);
    assert!(rt.status(&id).is_none());
}
