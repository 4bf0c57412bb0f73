//! Devices: the default /dev nodes and symlinks, devpts' ptmx, `linux.devices` (mknod with
//! mode and owner, the cgroup device allow list) and the bind-mount fallback in a user
//! namespace.

#[macro_use]
mod common;
use common::*;

/// `stat` of each path inside the container: (type-major-minor-mode-uid-gid) lines.
const STAT: &str = "stat -c '%n %F %t:%T %a %u:%g'";

fn userns(b: &Bundle) {
    let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    b.namespace("user", None).config(|c| {
        c["linux"]["uidMappings"] = map.clone();
        c["linux"]["gidMappings"] = map.clone();
    });
}

#[test]
fn default_devices_exist() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh(&format!(
        "{STAT} /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty"
    ));
    let out = rt.run(&unique_id("dev"), &b).ok();
    let want = [
        "/dev/null character special file 1:3 666 0:0",
        "/dev/zero character special file 1:5 666 0:0",
        "/dev/full character special file 1:7 666 0:0",
        "/dev/random character special file 1:8 666 0:0",
        "/dev/urandom character special file 1:9 666 0:0",
        "/dev/tty character special file 5:0 666 0:0",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn default_devices_work() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("echo gone > /dev/null && head -c 5 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c");
    let out = rt.run(&unique_id("dev"), &b).ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["5", "5"],
        "{out}"
    );
}

#[test]
fn dev_symlinks_and_ptmx() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh(
        "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done; \
          stat -c '%F %a' /dev/pts/ptmx",
    );
    let out = rt.run(&unique_id("dev"), &b).ok();
    let want = [
        "fd /proc/self/fd",
        "stdin /proc/self/fd/0",
        "stdout /proc/self/fd/1",
        "stderr /proc/self/fd/2",
        "ptmx pts/ptmx",
        "character special file 666",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn linux_devices_are_created_with_mode_and_owner() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.config(|c| {
        c["linux"]["devices"] = json!([
            { "path": "/dev/gantry-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666, "uid": 0, "gid": 0 },
            { "path": "/dev/gantry-owned", "type": "c", "major": 1, "minor": 5, "fileMode": 0o640, "uid": 1000, "gid": 1000 },
            { "path": "/dev/sub/fifo", "type": "p", "fileMode": 0o600 }
        ]);
        let allow = c["linux"]["resources"]["devices"].as_array_mut().unwrap();
        allow.push(json!({ "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" }));
        allow.push(json!({ "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" }));
    })
    .sh(&format!("{STAT} /dev/gantry-null /dev/gantry-owned /dev/sub/fifo; echo x > /dev/gantry-null && echo wrote"));
    let out = rt.run(&unique_id("dev"), &b).ok();
    let want = [
        "/dev/gantry-null character special file 1:3 666 0:0",
        "/dev/gantry-owned character special file 1:5 640 1000:1000",
        "/dev/sub/fifo fifo 0:0 600 0:0",
        "wrote",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{out}");
}

#[test]
fn device_cgroup_denies_what_is_not_allowed() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    // /dev/kmsg's numbers: a node that exists but that the default deny-all list leaves out.
    b.config(|c| {
        c["linux"]["devices"] = json!([
            { "path": "/dev/denied", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666 }
        ]);
    })
    .sh("if head -c 1 /dev/denied >/dev/null 2>&1; then echo opened; else echo denied; fi");
    let out = rt.run(&unique_id("dev"), &b).ok();
    assert_eq!(out.stdout, "denied\n", "{out}");
}

#[test]
fn user_namespace_devices_are_bind_mounted() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    userns(&b);
    // In a user namespace mknod is refused, so the host's node is bound in (it must exist).
    b.config(|c| {
        c["linux"]["devices"] = json!([
            { "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o644 }
        ]);
    })
    .sh(&format!(
        "{STAT} /dev/kmsg /dev/null; echo x > /dev/null && echo null-ok"
    ));
    let out = rt.run(&unique_id("dev"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("/dev/kmsg character special file 1:b "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("/dev/null character special file 1:3 "),
        "{out}"
    );
    assert_eq!(lines[2], "null-ok", "{out}");
}

/// stdio on the host's /dev/null is swapped for the container's own /dev/null: no host
/// device node stays open in the container, and criu can checkpoint it (runc 1.1 keeps it).
#[test]
fn host_dev_null_stdio_becomes_the_containers() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("stat -L -c %d:%i /proc/self/fd/0; stat -c %d:%i /dev/null");
    let id = unique_id("null");
    let out = rt
        .command()
        .args(["run", "--bundle", b.path_str(), &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if lines[0] != lines[1] && rt.runc_deviates("runc 1.1 keeps the host's /dev/null as stdio") {
        return;
    }
    assert_eq!(lines[0], lines[1], "stdin is not the container's /dev/null");
}
