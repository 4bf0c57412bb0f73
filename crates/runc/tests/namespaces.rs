//! Namespaces: the default set is new, absent kinds stay the host's, user namespaces map
//! ids, cgroup and time namespaces, and joining an existing namespace by path.

#[macro_use]
mod common;
use common::*;
use std::collections::HashMap;

const KINDS: [&str; 7] = ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user"];

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The container's namespace links, by kind, for the bundle as configured.
fn container_ns(rt: &Runtime, b: &Bundle) -> HashMap<String, String> {
    b.sh("for n in pid net ipc uts mnt cgroup user; do echo $n $(readlink /proc/self/ns/$n); done");
    let out = rt.run(&unique_id("ns"), b).ok();
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn default_namespaces_are_new_and_others_are_the_hosts() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let ns = container_ns(&rt, &b);
    for kind in KINDS {
        let inside = ns
            .get(kind)
            .unwrap_or_else(|| panic!("no {kind} namespace line: {ns:?}"));
        let new = ["pid", "net", "ipc", "uts", "mnt"].contains(&kind);
        assert_eq!(
            inside != &host_ns(kind),
            new,
            "{kind}: container {inside}, host {}",
            host_ns(kind)
        );
    }
}

#[test]
fn a_namespace_left_out_is_shared_with_the_host() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.remove_namespace("network").remove_namespace("ipc");
    let ns = container_ns(&rt, &b);
    assert_eq!(ns["net"], host_ns("net"));
    assert_eq!(ns["ipc"], host_ns("ipc"));
    assert_ne!(ns["uts"], host_ns("uts"));
}

#[test]
fn pid_namespace_makes_the_process_pid_1() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("echo $$; ps -o pid | wc -l");
    let out = rt.run(&unique_id("ns"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1", "{out}");
}

#[test]
fn network_namespace_has_only_loopback() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("ls /sys/class/net");
    assert_eq!(rt.run(&unique_id("ns"), &b).ok().stdout.trim(), "lo");
}

#[test]
fn uts_namespace_sets_the_hostname() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| c["hostname"] = json!("gantry-box"))
        .args(&["hostname"]);
    assert_eq!(rt.run(&unique_id("ns"), &b).ok().stdout, "gantry-box\n");
}

#[test]
fn uts_namespace_sets_the_domainname() {
    need_root!();
    let rt = rt();
    if rt.runc_deviates("runc 1.1 ignores `domainname` (runtime-spec 1.1, runc 1.2)") {
        return;
    }
    let b = Bundle::new();
    b.config(|c| c["domainname"] = json!("gantry.test"))
        .args(&["cat", "/proc/sys/kernel/domainname"]);
    assert_eq!(rt.run(&unique_id("ns"), &b).ok().stdout, "gantry.test\n");
}

#[test]
fn user_namespace_maps_ids() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.namespace("user", None)
        .config(|c| {
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map.clone();
        })
        .sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox");
    let out = rt.run(&unique_id("userns"), &b).ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[1], ["0", "100000", "65536"], "{out}");
    assert_eq!(lines[2], ["0"], "{out}");
    // Host root owns the rootfs and is unmapped inside: the overflow uid shows.
    assert_eq!(lines[3], ["65534"], "{out}");
}

#[test]
fn user_namespace_process_runs_as_the_mapped_host_uid() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let map = json!([{ "containerID": 0, "hostID": 200000, "size": 65536 }]);
    b.namespace("user", None)
        .config(|c| {
            c["linux"]["uidMappings"] = map.clone();
            c["linux"]["gidMappings"] = map.clone();
        })
        .args(&["sleep", "1000"]);
    let id = unique_id("userns");
    rt.run_detached(&id, &b).ok();
    let pid = rt.pid(&id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("200000"),
        "{uid_line}"
    );
    rt.delete_force(&id).ok();
}

#[test]
fn cgroup_namespace_roots_the_cgroup_view() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.namespace("cgroup", None).sh("cat /proc/self/cgroup");
    let out = rt.run(&unique_id("cgns"), &b).ok();
    for line in out.stdout.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup path not at the namespace root: {line}\n{out}"
        );
    }
    assert_ne!(container_ns(&rt, &b)["cgroup"], host_ns("cgroup"));
}

#[test]
fn time_namespace_offsets_the_clocks() {
    need_root!();
    if !std::path::Path::new("/proc/self/ns/time").exists() {
        eprintln!("skipped: kernel has no time namespaces");
        return;
    }
    let rt = rt();
    if rt.runc_deviates("runc 1.1 does not support time namespaces (added in 1.2)") {
        return;
    }
    let b = Bundle::new();
    b.namespace("time", None)
        .config(|c| {
            c["linux"]["timeOffsets"] = json!({ "monotonic": { "secs": 864000, "nanosecs": 0 },
                                                 "boottime": { "secs": 864000, "nanosecs": 0 } })
        })
        .sh("cut -d' ' -f1 /proc/uptime; readlink /proc/self/ns/time");
    let out = rt.run(&unique_id("timens"), &b).ok();
    let mut lines = out.stdout.lines();
    let uptime: f64 = lines.next().and_then(|l| l.parse().ok()).expect("uptime");
    assert!(
        uptime >= 864000.0,
        "boottime offset not applied: uptime {uptime}\n{out}"
    );
    assert_ne!(lines.next().unwrap_or_default(), host_ns("time"));
}

#[test]
fn joining_namespaces_by_path() {
    need_root!();
    let rt = rt();
    let holder = Bundle::new();
    holder
        .config(|c| c["hostname"] = json!("holder"))
        .args(&["sleep", "1000"]);
    let holder_id = unique_id("nsholder");
    rt.run_detached(&holder_id, &holder).ok();
    let pid = rt.pid(&holder_id);
    let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();

    let b = Bundle::new();
    b.namespace("network", Some(&format!("/proc/{pid}/ns/net")))
        .namespace("uts", Some(&format!("/proc/{pid}/ns/uts")))
        .config(|c| c["hostname"] = Value::Null)
        .sh("readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname");
    let out = rt.run(&unique_id("nsjoin"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [net.to_str().unwrap(), uts.to_str().unwrap(), "holder"],
        "{out}"
    );
    rt.delete_force(&holder_id).ok();
}
