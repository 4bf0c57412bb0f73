//! Mount options end to end: recursive attributes, propagation, remount,
//! tmpcopyup, device binds, and cgroup namespaces.

use super::standard::check_cgroups;
use super::*;
use crate::rootfs::{mount_spec, sys};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{major, minor, stat};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

child_test!(bind_options_propagation_and_recursive_attrs, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    // A source with a submount, to see what "r" options reach.
    let src = dir.join("vol");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let c = |p: &Path| mount_spec::c_path(p).unwrap();
    sys::mount(
        Some(c"tmpfs"),
        &c(&src.join("sub")),
        Some(c"tmpfs"),
        0,
        None,
    )
    .unwrap();
    std::fs::write(src.join("sub/f"), "sub").unwrap();
    std::fs::write(rootfs.join("etc/orig"), "from image").unwrap();
    let spec = make_spec(serde_json::json!({"mounts": [
        {"destination": "/rro", "type": "bind", "source": "vol", "options": ["rbind", "rro", "rshared"]},
        {"destination": "/toponly", "type": "bind", "source": "vol", "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/nonrec", "type": "bind", "source": "vol", "options": ["bind", "private"]},
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "rslave", "rnoexec"]},
        {"destination": "/dev/fuse-file", "type": "bind", "source": "hosts", "options": ["bind", "rw", "slave"]},
        {"destination": "/remounted", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/remounted", "type": "tmpfs", "source": "tmpfs", "options": ["remount", "ro"]},
        {"destination": "/nonrec", "type": "bind", "source": "vol", "options": ["bind", "remount", "ro"]}
    ]}));
    let mut ctx = ctx(&spec, &rootfs, dir);
    ctx.in_userns = true;
    prepare(&ctx).expect("prepare");
    let at = |p: &str| rootfs.join(p).to_str().unwrap().to_string();
    assert_erofs(&at("rro/x"));
    assert_erofs(&at("rro/sub/x"));
    assert_erofs(&at("toponly/x"));
    std::fs::write(at("toponly/sub/x"), "ok").expect("ro is not recursive");
    assert_erofs(&at("remounted/x"));
    assert_erofs(&at("nonrec/x"));
    assert_eq!(fs_magic(&at("remounted")), libc::TMPFS_MAGIC);
    let dev = |p: &str| std::fs::metadata(at(p)).unwrap().dev();
    assert_eq!(
        dev("nonrec/sub"),
        dev("nonrec"),
        "bind without rbind skips submounts"
    );
    assert_ne!(dev("rro/sub"), dev("rro"), "rbind takes submounts");
    assert_eq!(
        std::fs::read_to_string(at("etc/orig")).unwrap(),
        "from image"
    );
    assert_eq!(
        std::fs::read_to_string(at("etc/hostname")).unwrap(),
        "container\n"
    );
    assert_eq!(fs_magic(&at("etc")), libc::TMPFS_MAGIC);
    let mounts = super::mountinfo::read().unwrap();
    let find = |p: &str| {
        let found = mounts.iter().rfind(|m| m.mount_point == rootfs.join(p));
        found
            .unwrap_or_else(|| {
                panic!(
                    "{p} not in {}",
                    std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap()
                )
            })
            .clone()
    };
    assert!(find("rro").is_shared() && find("rro/sub").is_shared());
    assert!(!find("toponly").is_shared());
    assert!(find("tmp")
        .optional
        .iter()
        .all(|o| !o.starts_with("shared:")));
    // in_userns: devices are binds of the host's nodes.
    assert!(mounts
        .iter()
        .any(|m| m.mount_point == rootfs.join("dev/null")));
    let st = stat(rootfs.join("dev/null").as_path()).unwrap();
    assert_eq!((major(st.st_rdev), minor(st.st_rdev)), (1, 3));
    // rnoexec reached the tmpfs.
    let f = rootfs.join("tmp/x");
    std::fs::write(&f, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = Command::new(&f).status().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
});

child_test!(cgroup_namespace_mounts_the_hierarchies, |dir| {
    let rootfs = bundle(dir);
    unshare(CloneFlags::CLONE_NEWCGROUP).expect("cgroupns");
    let spec = make_spec(serde_json::json!({"mounts": [
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}
    ]}));
    let mut ctx = ctx(&spec, &rootfs, dir);
    ctx.new_cgroupns = true;
    prepare(&ctx).expect("prepare");
    pivot(&rootfs, false).expect("pivot");
    finalize(&spec).expect("finalize");
    check_cgroups();
    // The cgroupns root: our own cgroup shows as the top, with cgroup.procs.
    let top = if fs_magic("/sys/fs/cgroup") == libc::TMPFS_MAGIC {
        "/sys/fs/cgroup/memory"
    } else {
        "/sys/fs/cgroup"
    };
    let procs = std::fs::read_to_string(format!("{top}/cgroup.procs")).unwrap();
    assert!(
        procs
            .lines()
            .any(|l| l.trim() == std::process::id().to_string()),
        "{procs}"
    );
});
