//! CVE-2025-31133 (maskedPaths through a swapped /dev/null), CVE-2025-52565 (/dev/console
//! bind mount aimed elsewhere), CVE-2025-52881 (procfs writes redirected to other files).
//! The rootfs plants symlinks where the runtime expects its own devices, or the config
//! mounts files over the procfs files the runtime writes; the verdict is what the container
//! ends up with and whether anything outside it changed.
//!
//! runc 1.1.5 is vulnerable to all three (fixed in runc 1.2.8 / 1.3.3 / 1.4.0-rc.3): under
//! runc the outcome is reported, not asserted.

#[macro_use]
mod common;
mod security_common;

use common::*;
use gantry_testutil::console::{read_until, ConsoleSocket};
use security_common::*;

/// The bundle without the /dev tmpfs, so /dev comes from the (attacker's) rootfs.
fn rootfs_dev(b: &Bundle) {
    b.writable().config(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/dev");
    });
}

/// What the planted /dev/null points at: a procfs file of the container's own IPC namespace,
/// so that even a vulnerable runtime cannot change anything on the host through it (aiming
/// it at /proc/sys/kernel/core_pattern, as the real exploit does, let runc 1.1.5 overwrite
/// the host's core_pattern during development of this test).
const DECOY: &str = "/proc/sys/kernel/shm_rmid_forced";

#[test]
fn masked_paths_use_the_real_null_device_not_a_planted_symlink() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    rootfs_dev(&b);
    let null = b.in_rootfs("dev/null");
    let _ = std::fs::remove_file(&null);
    std::os::unix::fs::symlink(DECOY, &null).unwrap();
    // The masked paths that are files on this kernel (absent ones are skipped by design).
    let masked: Vec<String> = b.read_config()["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| std::path::Path::new(p).is_file())
        .map(String::from)
        .collect();
    assert!(!masked.is_empty(), "no masked file exists on this host");
    // Read-only probes only, and no redirection to /dev/null (it is the attacker's link).
    b.sh(&format!(
        "stat -c '%n %F %t:%T' {} > /res 2>&1; true",
        masked.join(" ")
    ));
    let id = unique_id("sec-devnull");
    let out = rt.run(&id, &b);
    let res = read_trim(&b.in_rootfs("res"));
    let _ = rt.delete_force(&id);
    let mut escaped = Vec::new();
    if out.success() {
        for path in &masked {
            let want = format!("{path} character special file 1:3");
            if !res.lines().any(|l| l == want) {
                escaped.push(format!("{path} is not masked by the null device: {res:?}"));
            }
        }
    } else if rt.is_gantry() {
        assert_clear_error(&rt, &out, &["/dev/null"]);
    }
    assert_withstood(
        &rt,
        "CVE-2025-31133",
        (!escaped.is_empty()).then(|| escaped.join("; ")),
    );
}

#[test]
fn dev_console_symlink_is_replaced_not_followed() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let victim = target.path().join("marker");
    std::fs::write(&victim, "untouched\n").unwrap();
    let b = Bundle::new();
    rootfs_dev(&b);
    let console = b.in_rootfs("dev/console");
    let _ = std::fs::remove_file(&console);
    std::os::unix::fs::symlink(&victim, &console).unwrap();
    b.config(|c| c["process"]["terminal"] = json!(true))
        .sh("stat -c '%F %t' /dev/console > /res 2>&1; \
         stat -c '%F %t' $(readlink -f /dev/console) >> /res 2>&1; echo done");
    let sock = ConsoleSocket::new(b.path());
    let id = unique_id("sec-console");
    let out = rt.create_with(&id, &b, &["--console-socket", sock.path_str()]);
    let mut escaped = Vec::new();
    if out.success() {
        let master = sock.receive_master(T);
        rt.start(&id).ok();
        read_until(&master, "done", T);
        wait_for_status(&rt, &id, "stopped", T);
        let res = read_trim(&b.in_rootfs("res"));
        // A pty slave: major 136..143 (0x88..0x8f).
        if !res.starts_with("character special file 8") {
            escaped.push(format!("/dev/console is not the pty: {res:?}"));
        }
    } else if rt.is_gantry() {
        assert_clear_error(&rt, &out, &["console"]);
    }
    let _ = rt.delete_force(&id);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    if let Some(d) = target.mounts() {
        escaped.push(d);
    }
    assert_withstood(
        &rt,
        "CVE-2025-52565",
        (!escaped.is_empty()).then(|| escaped.join("; ")),
    );
}

/// The runtime writes linux.sysctl values into procfs; a config (or volume) that puts an
/// ordinary file where the sysctl file should be must not receive the write, and the
/// write must not be redirected anywhere else.
#[test]
fn sysctl_writes_are_not_redirected() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let decoy = target.path().join("marker");
    std::fs::write(&decoy, "0\n").unwrap();
    let mut escaped = Vec::new();
    for (dest, source) in [
        ("/proc/sys/kernel/shm_rmid_forced", decoy.clone()),
        ("/proc/sys/kernel", target.path().to_path_buf()),
    ] {
        let b = Bundle::new();
        b.args(&["cat", "/proc/sys/kernel/shm_rmid_forced"])
            .config(|c| {
                c["linux"]["sysctl"] = json!({ "kernel.shm_rmid_forced": "1" });
                c["mounts"].as_array_mut().unwrap().push(json!({
                    "destination": dest, "type": "bind",
                    "source": source.to_str().unwrap(), "options": ["bind"]
                }));
            });
        let id = unique_id("sec-sysctl");
        let out = rt.run(&id, &b);
        let _ = rt.delete_force(&id);
        let now = std::fs::read_to_string(&decoy).unwrap();
        if now != "0\n" {
            escaped.push(format!(
                "the sysctl write landed in {} via {dest}",
                decoy.display()
            ));
        }
        if out.success() {
            escaped.push(format!("a bind mount onto {dest} was accepted"));
        } else if rt.is_gantry() {
            assert_clear_error(&rt, &out, &["proc", dest]);
        }
    }
    assert_withstood(
        &rt,
        "CVE-2025-52881",
        (!escaped.is_empty()).then(|| escaped.join("; ")),
    );
}
