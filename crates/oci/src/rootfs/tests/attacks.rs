//! The CVE classes: symlinked destinations, mounts in or into /proc, a
//! swapped /dev/null for masking, a symlink planted at /dev/console.

use super::*;
use nix::sys::stat::stat;

child_test!(symlinked_destinations_stay_in_the_rootfs, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    // Attacks: absolute and relative links to the host's /etc, and a /proc
    // that is a symlink (CVE-2019-19921 class).
    std::os::unix::fs::symlink("/etc", rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", rootfs.join("rel")).unwrap();
    let marker = format!("gantry-escape-{}", std::process::id());
    let spec = make_spec(serde_json::json!({"mounts": [
        {"destination": format!("/abs/{marker}"), "type": "tmpfs", "source": "tmpfs"},
        {"destination": format!("/rel/{marker}-file"), "type": "bind", "source": "hosts", "options": ["bind"]},
        {"destination": "/abs/../rel/../../etc/passwd-x", "type": "bind", "source": "hosts", "options": ["bind"]}
    ]}));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "escaped onto the host's /etc"
    );
    assert!(!Path::new("/etc").join(format!("{marker}-file")).exists());
    assert!(!Path::new("/etc/passwd-x").exists());
    assert_eq!(
        fs_magic(rootfs.join("etc").join(&marker).to_str().unwrap()),
        libc::TMPFS_MAGIC
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc").join(format!("{marker}-file"))).unwrap(),
        "127.0.0.1 gantry\n"
    );
    assert!(rootfs.join("etc/passwd-x").is_file());

    // proc through a symlinked /proc is refused.
    let root2 = dir.join("rootfs2");
    std::fs::create_dir_all(root2.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root2.join("proc")).unwrap();
    let spec2 = make_spec(
        serde_json::json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}),
    );
    let e = prepare(&ctx(&spec2, &root2, dir)).unwrap_err().to_string();
    assert!(e.contains("ordinary directory"), "{e}");
    assert_ne!(
        fs_magic(root2.join("elsewhere").to_str().unwrap()),
        libc::PROC_SUPER_MAGIC
    );
});

child_test!(mounts_inside_proc_are_refused, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    for dest in ["/proc/sys/kernel/core_pattern", "/proc/self/attr"] {
        let bad = make_spec(serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": dest, "type": "bind", "source": "hosts", "options": ["bind"]}
        ]}));
        let e = prepare(&ctx(&bad, &rootfs, dir)).unwrap_err().to_string();
        assert!(e.contains("inside /proc"), "{e}");
    }
    // A symlink into procfs does not dodge the check (CVE-2019-16884 class).
    std::os::unix::fs::symlink("/proc/self", rootfs.join("data")).unwrap();
    let sneaky = make_spec(serde_json::json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/data/attr", "type": "tmpfs", "source": "tmpfs"}
    ]}));
    let e = prepare(&ctx(&sneaky, &rootfs, dir))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/data/attr") && e.contains("procfs"), "{e}");
    // lxcfs-style files are allowed.
    let spec = make_spec(serde_json::json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/proc/uptime", "type": "bind", "source": "hosts", "options": ["bind", "ro"]}
    ]}));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("proc/uptime")).unwrap(),
        "127.0.0.1 gantry\n"
    );
});

child_test!(swapped_dev_null_is_not_used_for_masking, |dir| {
    let rootfs = bundle(dir);
    let spec = make_spec(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"maskedPaths": ["/proc/timer_list"]}
    }));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, false).expect("pivot");
    // CVE-2025-31133: /dev/null raced into a symlink to a procfs file.
    std::fs::remove_file("/dev/null").unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", "/dev/null").unwrap();
    let e = finalize(&spec).unwrap_err().to_string();
    assert!(e.contains("/dev/null"), "{e}");
    // A regular file is refused too.
    std::fs::remove_file("/dev/null").unwrap();
    std::fs::write("/dev/null", "").unwrap();
    assert!(finalize(&spec).is_err());
});

child_test!(console_is_bound_and_symlinks_replaced, |dir| {
    let rootfs = bundle(dir);
    let spec = make_spec(serde_json::json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}
    ]}));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, false).expect("pivot");
    finalize(&spec).expect("finalize");
    // CVE-2025-52565: a symlink planted at /dev/console is replaced.
    std::os::unix::fs::symlink("/etc/hostname", "/dev/console").unwrap();
    let master = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR).unwrap();
    nix::pty::grantpt(&master).unwrap();
    nix::pty::unlockpt(&master).unwrap();
    let slave = nix::pty::ptsname_r(&master).unwrap();
    mount_console(Path::new(&slave)).expect("mount_console");
    let (c, s) = (stat("/dev/console").unwrap(), stat(slave.as_str()).unwrap());
    assert_eq!(c.st_rdev, s.st_rdev);
    assert_eq!(
        std::fs::read_to_string("/etc/hostname").unwrap(),
        "container\n"
    );
    let st = std::fs::symlink_metadata("/etc/hostname").unwrap();
    assert!(st.is_file());
});
