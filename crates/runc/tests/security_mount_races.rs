//! CVE-2021-30465, CVE-2019-19921, CVE-2023-27561, CVE-2023-28642: mount destinations that
//! are (or race to become) symlinks to host paths, a rootfs whose /proc is a symlink, and
//! mounts into /proc. Every attack aims at a host directory outside the rootfs; the verdict is
//! that nothing was created or mounted there.

#[macro_use]
mod common;
mod security_common;

use common::*;
use security_common::*;

fn mounts_through(dir: &str) -> Vec<Value> {
    vec![
        json!({"destination": format!("{dir}/tmpfs/sub"), "type": "tmpfs", "source": "tmpfs"}),
        json!({"destination": format!("{dir}/file"), "type": "bind", "source": "hostsrc",
               "options": ["bind"]}),
        json!({"destination": format!("{dir}/dir"), "type": "bind", "source": "hostdir",
               "options": ["rbind"]}),
    ]
}

fn sources(b: &Bundle) {
    std::fs::write(b.path().join("hostsrc"), "bind source\n").unwrap();
    std::fs::create_dir_all(b.path().join("hostdir")).unwrap();
}

#[test]
fn symlinked_mount_destinations_stay_in_the_rootfs() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let host = target.path().to_str().unwrap();
    let b = Bundle::new();
    sources(&b);
    std::os::unix::fs::symlink(host, b.in_rootfs("abs")).unwrap();
    std::os::unix::fs::symlink(format!("../../../../../../../..{host}"), b.in_rootfs("rel"))
        .unwrap();
    b.args(&["true"]);
    for m in mounts_through("/abs")
        .into_iter()
        .chain(mounts_through("/rel"))
    {
        b.add_mount(m);
    }
    let id = unique_id("sec-symlink-dest");
    let out = rt.create(&id, &b);
    // Refusing is fine; succeeding is fine if everything landed inside the rootfs.
    let damage = target.damage();
    let _ = rt.delete_force(&id);
    assert!(damage.is_none(), "CVE-2021-30465: {damage:?}\n{out}");
    if out.success() {
        assert!(
            b.in_rootfs(format!("{host}/file").trim_start_matches('/'))
                .exists(),
            "the destination was not resolved inside the rootfs"
        );
    }
}

/// A background thread swaps a directory in the rootfs with a symlink to the host
/// (atomically, as fast as it can) while containers are created with mounts below it.
/// Mounts on the host are CVE-2021-30465; directories or files created on the host by the
/// destination's creation are CVE-2024-45310 (also tested in `security_host_state.rs`).
#[test]
fn racing_symlink_swap_during_create_never_escapes() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let b = Bundle::new();
    sources(&b);
    std::fs::create_dir(b.in_rootfs("vol")).unwrap();
    std::os::unix::fs::symlink(target.path(), b.in_rootfs("vol-link")).unwrap();
    b.args(&["true"]);
    for m in mounts_through("/vol") {
        b.add_mount(m);
    }
    race_creates(&rt, &b, "vol", "vol-link", &target, 25);
    let mounts = target.mounts();
    assert!(mounts.is_none(), "CVE-2021-30465: {mounts:?}");
    assert_withstood(&rt, "CVE-2024-45310", target.files());
}

#[test]
fn proc_that_is_a_symlink_is_refused_or_contained() {
    need_root!();
    let rt = rt();
    let target = HostTarget::new();
    let b = Bundle::new();
    std::fs::remove_dir(b.in_rootfs("proc")).unwrap();
    std::os::unix::fs::symlink(target.path(), b.in_rootfs("proc")).unwrap();
    b.args(&["sh", "-c", "cat /proc/self/attr/current; true"]);
    let id = unique_id("sec-proc-link");
    let out = rt.create(&id, &b);
    let damage = target.damage();
    let _ = rt.delete_force(&id);
    assert!(damage.is_none(), "CVE-2019-19921: {damage:?}\n{out}");
    if rt.is_gantry() {
        assert_clear_error(&rt, &out, &["/proc"]);
    }
}

#[test]
fn mounts_onto_proc_files_are_refused() {
    need_root!();
    let rt = rt();
    for dest in [
        "/proc/self/attr",
        "/proc/self/attr/exec",
        "/proc/sys",
        "/proc/sys/kernel/core_pattern",
        "/proc/thread-self/attr/current",
    ] {
        let b = Bundle::new();
        sources(&b);
        let source = if dest.ends_with("attr") || dest == "/proc/sys" {
            "hostdir"
        } else {
            "hostsrc"
        };
        b.args(&["true"]).add_mount(
            json!({"destination": dest, "type": "bind", "source": source,
                              "options": ["bind"]}),
        );
        let id = unique_id("sec-proc-mount");
        let out = rt.create(&id, &b);
        let _ = rt.delete_force(&id);
        assert!(
            !out.success(),
            "CVE-2023-27561: a bind mount onto {dest} was accepted\n{out}"
        );
        assert_clear_error(&rt, &out, &["proc", dest]);
        assert!(
            check::mounts_under(b.path()).is_empty(),
            "mounts left for {dest}"
        );
    }
}
