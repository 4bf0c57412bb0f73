//! Mounts: the default set, bind/rbind (ro, rw), tmpfs and its options, cgroup v1/v2,
//! propagation flags and rootfsPropagation, maskedPaths, readonlyPaths, a read-only root,
//! `--no-pivot`; and that nothing leaks into the host's mount table.

#[macro_use]
mod common;
use common::*;
use std::path::{Path, PathBuf};

/// A host mount made by the test, detached on drop (also when the test fails).
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("mounting tmpfs on {}: {e}", at.display()));
        HostMount(at.to_path_buf())
    }

    /// Binds `dir` on itself and makes it a shared peer group, so propagation is observable.
    fn shared(dir: &Path) -> HostMount {
        use nix::mount::MsFlags;
        nix::mount::mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>).unwrap();
        let m = HostMount(dir.to_path_buf());
        nix::mount::mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap();
        m
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The mountinfo line (inside the container) whose mount point is `dest`.
fn mountinfo_line<'a>(mountinfo: &'a str, dest: &str) -> &'a str {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(dest))
        .unwrap_or_else(|| panic!("no mount at {dest} in:\n{mountinfo}"))
}

fn fs_type(line: &str) -> &str {
    let after = line.split(" - ").nth(1).unwrap_or_default();
    after.split(' ').next().unwrap_or_default()
}

fn mount_opts(line: &str) -> Vec<&str> {
    line.split(' ')
        .nth(5)
        .unwrap_or_default()
        .split(',')
        .collect()
}

#[test]
fn default_mounts_are_made_with_their_types() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.args(&["cat", "/proc/self/mountinfo"]);
    let out = rt.run(&unique_id("mnt"), &b).ok();
    let mi = out.stdout.as_str();
    for (dest, ty) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/sys/fs/cgroup/memory", "cgroup"),
    ] {
        assert_eq!(fs_type(mountinfo_line(mi, dest)), ty, "type of {dest}");
    }
    let sys = mount_opts(mountinfo_line(mi, "/sys"));
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(sys.contains(&o), "/sys lacks {o}: {sys:?}");
    }
    assert!(mount_opts(mountinfo_line(mi, "/sys/fs/cgroup/memory")).contains(&"ro"));
    assert!(
        mount_opts(mountinfo_line(mi, "/")).contains(&"ro"),
        "the default root is read-only"
    );
}

#[test]
fn bind_mounts_rw_and_ro() {
    need_root!();
    let rt = rt();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("hello"), "from-host").unwrap();
    let src = host.path().to_str().unwrap();
    let b = Bundle::new();
    b.add_mount(json!({ "destination": "/mnt/rw", "type": "bind", "source": src, "options": ["bind", "rw"] }))
        .add_mount(json!({ "destination": "/mnt/ro", "type": "none", "source": src, "options": ["rbind", "ro"] }))
        .sh("cat /mnt/ro/hello; echo; echo from-container > /mnt/rw/written; \
             if echo x > /mnt/ro/nope 2>/dev/null; then echo ro-writable; else echo ro-refused; fi");
    let out = rt.run(&unique_id("mnt"), &b).ok();
    assert_eq!(out.stdout, "from-host\nro-refused\n", "{out}");
    assert_eq!(
        common::read_trim(&host.path().join("written")),
        "from-container"
    );
    assert!(!host.path().join("nope").exists());
    assert!(
        check::mounts_under(b.path()).is_empty(),
        "container mounts leaked to the host"
    );
}

#[test]
fn rbind_carries_submounts_and_bind_does_not() {
    need_root!();
    let rt = rt();
    let host = tempfile::tempdir().unwrap();
    let sub = HostMount::tmpfs(&host.path().join("sub"));
    std::fs::write(sub.0.join("inner"), "inner").unwrap();
    let src = host.path().to_str().unwrap();
    let b = Bundle::new();
    b.add_mount(
        json!({ "destination": "/mnt/r", "type": "bind", "source": src, "options": ["rbind"] }),
    )
    .add_mount(
        json!({ "destination": "/mnt/b", "type": "bind", "source": src, "options": ["bind"] }),
    )
    .sh("cat /mnt/r/sub/inner; echo; ls /mnt/b/sub | wc -l");
    let out = rt.run(&unique_id("mnt"), &b).ok();
    assert_eq!(out.stdout, "inner\n0\n", "{out}");
}

#[test]
fn tmpfs_with_options() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=710"]
    }))
    .add_mount(json!({
        "destination": "/mnt/rot", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]
    }))
    .sh("stat -c %a /mnt/t; grep ' /mnt/t ' /proc/self/mountinfo; \
         if touch /mnt/rot/x 2>/dev/null; then echo rot-writable; else echo rot-refused; fi");
    let out = rt.run(&unique_id("mnt"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "710", "{out}");
    assert_eq!(fs_type(lines[1]), "tmpfs");
    let opts = mount_opts(lines[1]);
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&o), "{o} missing: {}", lines[1]);
    }
    assert!(lines[1].contains("size=1024k"), "{}", lines[1]);
    assert_eq!(lines[2], "rot-refused");
}

#[test]
fn cgroup_v1_and_v2_mounts() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.add_mount(json!({ "destination": "/mnt/cg2", "type": "cgroup2", "source": "cgroup2", "options": ["ro"] }))
        .sh("test -f /sys/fs/cgroup/memory/memory.limit_in_bytes && echo v1; \
             test -f /mnt/cg2/cgroup.controllers && echo v2");
    let out = rt.run(&unique_id("mnt"), &b).ok();
    assert_eq!(out.stdout, "v1\nv2\n", "{out}");
}

#[test]
fn rslave_bind_receives_host_mounts_rprivate_does_not() {
    need_root!();
    let rt = rt();
    let host = tempfile::tempdir().unwrap();
    let shared = HostMount::shared(host.path());
    let src = shared.0.to_str().unwrap();
    let b = Bundle::new();
    b.add_mount(json!({ "destination": "/mnt/slave", "type": "bind", "source": src, "options": ["rbind", "rslave"] }))
        .add_mount(json!({ "destination": "/mnt/priv", "type": "bind", "source": src, "options": ["rbind", "rprivate"] }))
        .sh("touch /mnt/slave/ready; while [ ! -e /mnt/slave/go ]; do sleep 0.05; done; \
             cat /mnt/slave/late/file; echo; ls /mnt/priv/late | wc -l; \
             grep ' /mnt/slave ' /proc/self/mountinfo");
    let id = unique_id("prop");
    let run = rt.run_detached(&id, &b).ok();
    wait_for_file(&shared.0.join("ready"), T);
    let late = HostMount::tmpfs(&shared.0.join("late"));
    std::fs::write(late.0.join("file"), "propagated").unwrap();
    std::fs::write(shared.0.join("go"), "").unwrap();
    wait_for_status(&rt, &id, "stopped", T);
    let out = run.stdout_now();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("propagated"),
        "rslave missed a host mount:\n{out}"
    );
    assert_eq!(
        lines.get(1).copied(),
        Some("0"),
        "rprivate received a host mount:\n{out}"
    );
    assert!(
        lines.get(2).is_some_and(|l| l.contains("master:")),
        "not a slave:\n{out}"
    );
    rt.delete(&id).ok();
    drop(late);
}

#[test]
fn rshared_bind_mount() {
    need_root!();
    let rt = rt();
    let host = tempfile::tempdir().unwrap();
    let b = Bundle::new();
    b.add_mount(json!({
        "destination": "/mnt/sh", "type": "bind", "source": host.path().to_str().unwrap(),
        "options": ["rbind", "rshared"]
    }))
    .args(&["cat", "/proc/self/mountinfo"]);
    let out = rt.run(&unique_id("prop"), &b).ok();
    assert!(
        mountinfo_line(&out.stdout, "/mnt/sh").contains("shared:"),
        "{out}"
    );
}

#[test]
fn rootfs_propagation_shared() {
    need_root!();
    let rt = rt();
    if rt.runc_deviates(
        "runc 1.1 applies rootfsPropagation before pivot_root and then makes the rootfs's parent \
         private, so / ends up private when the bundle is not its own mount",
    ) {
        return;
    }
    let b = Bundle::new();
    b.config(|c| c["linux"]["rootfsPropagation"] = json!("shared"))
        .args(&["cat", "/proc/self/mountinfo"]);
    let out = rt.run(&unique_id("prop"), &b).ok();
    assert!(
        mountinfo_line(&out.stdout, "/").contains("shared:"),
        "{out}"
    );
}

#[test]
fn masked_paths_hide_files_and_directories() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    std::fs::create_dir_all(b.in_rootfs("secret-dir")).unwrap();
    std::fs::write(b.in_rootfs("secret-dir/key"), "hidden").unwrap();
    std::fs::write(b.in_rootfs("secret-file"), "hidden").unwrap();
    b.config(|c| {
        let masked = c["linux"]["maskedPaths"].as_array_mut().unwrap();
        masked.push(json!("/secret-dir"));
        masked.push(json!("/secret-file"));
        masked.push(json!("/does-not-exist"));
    })
    .sh("wc -c < /proc/keys; ls /secret-dir | wc -l; wc -c < /secret-file; ls /sys/firmware | wc -l");
    let out = rt.run(&unique_id("mask"), &b).ok();
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "0", "0", "0"], "{out}");
}

#[test]
fn readonly_paths_and_writable_root() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.writable()
        .config(|c| {
            c["linux"]["readonlyPaths"]
                .as_array_mut()
                .unwrap()
                .push(json!("/home"))
        })
        .sh("for p in /proc/sys/kernel/domainname /home/x /root/x; do \
               if echo y > $p 2>/dev/null; then echo $p writable; else echo $p refused; fi; done");
    let out = rt.run(&unique_id("ro"), &b).ok();
    assert_eq!(
        out.stdout, "/proc/sys/kernel/domainname refused\n/home/x refused\n/root/x writable\n",
        "{out}"
    );
    assert_eq!(common::read_trim(&b.in_rootfs("root/x")), "y");
}

#[test]
fn readonly_root_refuses_writes() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.sh("if touch /x 2>/dev/null; then echo writable; else echo refused; fi; touch /tmp/y 2>&1 || true");
    let out = rt.run(&unique_id("ro"), &b).ok();
    assert!(out.stdout.starts_with("refused\n"), "{out}");
    assert!(!b.in_rootfs("x").exists());
}

#[test]
fn no_pivot_runs_in_the_rootfs() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    std::fs::write(b.in_rootfs("etc/marker"), "bundle-root\n").unwrap();
    b.sh("cat /etc/marker; test -e /proc/self/exe && echo proc-ok");
    let id = unique_id("nopivot");
    let run = rt.create_with(&id, &b, &["--no-pivot"]).ok();
    rt.start(&id).ok();
    wait_for_status(&rt, &id, "stopped", T);
    assert_eq!(run.stdout_now(), "bundle-root\nproc-ok\n");
    rt.delete(&id).ok();
}

#[test]
fn container_mounts_stay_out_of_the_host() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    b.add_mount(json!({ "destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs" }))
        .args(&["sleep", "1000"]);
    let id = unique_id("leak");
    let before = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    rt.run_detached(&id, &b).ok();
    assert!(
        check::mounts_under(b.path()).is_empty(),
        "{:?}",
        check::mounts_under(b.path())
    );
    rt.delete_force(&id).ok();
    let after = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .count();
    assert!(check::mounts_under(b.path()).is_empty());
    // Other tests may mount concurrently, so only this bundle's absence is exact.
    let _ = (before, after);
}

/// Without a cgroup namespace the cgroup mount shows the container's own cgroup
/// (bound from the host), never the runtime's: the init may not have been moved
/// into its cgroup yet when the mounts are made.
#[test]
fn cgroup_mount_without_cgroupns_shows_the_containers_own_cgroup() {
    need_root!();
    let rt = rt();
    let b = Bundle::new();
    let id = unique_id("cgown");
    let cg = format!("/gantry-test-{id}");
    b.cgroups_path(&cg)
        .remove_namespace("cgroup")
        .args(&["cat", "/proc/self/mountinfo"]);
    let out = rt.run(&id, &b).ok();
    let roots: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" - cgroup "))
        .filter_map(|l| l.split_whitespace().nth(3))
        .collect();
    assert!(!roots.is_empty(), "no cgroup v1 mounts:\n{out}");
    for root in roots {
        assert!(
            root.ends_with(&cg),
            "a cgroup mount shows {root}, not {cg}:\n{out}"
        );
    }
}
