//! The usual container (runc spec-like mounts, devices, masked and
//! read-only paths, sysctls, read-only root) with the new mount API and
//! the legacy fallbacks, --no-pivot, and a shared root propagation.

use super::*;
use crate::rootfs::sys;
use nix::sys::stat::{major, minor, stat, SFlag};
use std::os::unix::fs::MetadataExt;

fn standard_mounts() -> serde_json::Value {
    serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "hosts", "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/data", "source": "data", "options": ["rbind", "nosuid"]}
    ])
}

fn standard_spec() -> Spec {
    make_spec(serde_json::json!({
        "root": {"path": "rootfs", "readonly": true},
        "mounts": standard_mounts(),
        "linux": {
            "sysctl": {"kernel.shmmax": "123456789", "kernel.msgmax": "4321"},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 416, "uid": 1, "gid": 2},
                        {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200}],
            "maskedPaths": ["/proc/kcore", "/proc/timer_list", "/proc/acpi", "/proc/keys", "/sys/firmware", "/proc/scsi", "/does/not/exist"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/no/such/path"]
        }
    }))
}

fn run_standard(dir: &Path) {
    let rootfs = bundle(dir);
    write_sources(dir);
    let spec = standard_spec();
    validate(&spec, dir).expect("validate");
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, false).expect("pivot");
    finalize(&spec).expect("finalize");
    check_standard();
}

fn check_standard() {
    // The old root is gone.
    assert!(!Path::new("/hosts").exists());
    assert_eq!(
        std::fs::read_to_string("/etc/hostname").unwrap(),
        "container\n"
    );
    // Kernel filesystems are what they claim to be.
    assert_eq!(fs_magic("/proc"), libc::PROC_SUPER_MAGIC);
    assert_eq!(fs_magic("/sys"), libc::SYSFS_MAGIC);
    assert_eq!(fs_magic("/dev"), libc::TMPFS_MAGIC);
    assert_eq!(fs_magic("/dev/pts"), DEVPTS_SUPER_MAGIC);
    assert_eq!(fs_magic("/dev/shm"), libc::TMPFS_MAGIC);
    assert_erofs("/sys/gantry-x");
    // Devices: defaults 0666 root-owned, config devices as configured.
    for (p, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ] {
        let st = stat(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(
            st.st_mode & SFlag::S_IFMT.bits(),
            SFlag::S_IFCHR.bits(),
            "{p}"
        );
        assert_eq!((major(st.st_rdev), minor(st.st_rdev)), (maj, min), "{p}");
        assert_eq!(st.st_mode & 0o7777, 0o666, "{p}");
        assert_eq!((st.st_uid, st.st_gid), (0, 0), "{p}");
    }
    let fuse = stat("/dev/fuse").unwrap();
    assert_eq!(
        (
            major(fuse.st_rdev),
            minor(fuse.st_rdev),
            fuse.st_mode & 0o7777
        ),
        (10, 229, 0o640)
    );
    assert_eq!((fuse.st_uid, fuse.st_gid), (1, 2));
    assert_eq!(major(stat("/dev/net/tun").unwrap().st_rdev), 10);
    // /dev symlinks.
    assert_eq!(
        std::fs::read_link("/dev/fd").unwrap(),
        Path::new("/proc/self/fd")
    );
    assert_eq!(
        std::fs::read_link("/dev/stderr").unwrap(),
        Path::new("/proc/self/fd/2")
    );
    assert_eq!(
        std::fs::read_link("/dev/ptmx").unwrap(),
        Path::new("pts/ptmx")
    );
    // Binds: content from the bundle, ro where asked.
    assert_eq!(
        std::fs::read_to_string("/etc/hosts").unwrap(),
        "127.0.0.1 gantry\n"
    );
    assert_erofs("/etc/hosts");
    assert_eq!(std::fs::read_to_string("/data/file").unwrap(), "data\n");
    std::fs::write("/data/new", "ok").expect("rw bind stays writable");
    // Sysctls were written before /proc/sys became read-only.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax")
            .unwrap()
            .trim(),
        "123456789"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax")
            .unwrap()
            .trim(),
        "4321"
    );
    assert_erofs("/proc/sys/kernel/shmmax");
    if Path::new("/proc/sysrq-trigger").exists() {
        assert_erofs("/proc/sysrq-trigger");
    }
    // Masked: files are the null device, directories one empty ro tmpfs.
    let timers = stat("/proc/timer_list").unwrap();
    assert_eq!((major(timers.st_rdev), minor(timers.st_rdev)), (1, 3));
    assert!(std::fs::read("/proc/timer_list").unwrap().is_empty());
    if Path::new("/proc/keys").exists() {
        assert!(std::fs::read("/proc/keys").unwrap().is_empty());
    }
    let firmware = std::fs::metadata("/sys/firmware").unwrap();
    assert_eq!(std::fs::read_dir("/sys/firmware").unwrap().count(), 0);
    assert_eq!(fs_magic("/sys/firmware"), libc::TMPFS_MAGIC);
    assert_erofs("/sys/firmware/x");
    for d in ["/proc/acpi", "/proc/scsi"] {
        if let Some(m) = std::fs::metadata(d).ok().filter(|_| sys::new_api()) {
            assert_eq!(
                m.dev(),
                firmware.dev(),
                "{d} should share the one masking tmpfs"
            );
        }
    }
    // Read-only root, writable tmpfs mounts.
    assert_erofs("/newfile");
    std::fs::write("/dev/shm/x", "ok").expect("/dev/shm writable");
    // cgroups: read-only, one entry per host hierarchy.
    assert_erofs("/sys/fs/cgroup/x");
    check_cgroups();
}

pub(super) fn check_cgroups() {
    let entries: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!entries.is_empty());
    let magic = fs_magic("/sys/fs/cgroup");
    if magic == libc::TMPFS_MAGIC {
        assert!(Path::new("/sys/fs/cgroup/memory").exists(), "{entries:?}");
        assert_eq!(fs_magic("/sys/fs/cgroup/memory"), CGROUP_SUPER_MAGIC);
        assert_erofs("/sys/fs/cgroup/memory/x");
        if Path::new("/sys/fs/cgroup/unified").exists() {
            assert_eq!(fs_magic("/sys/fs/cgroup/unified"), CGROUP2_SUPER_MAGIC);
        }
    } else {
        assert_eq!(magic, CGROUP2_SUPER_MAGIC);
    }
}

child_test!(standard_container, run_standard);

child_test!(legacy_mount_calls, |dir| {
    // Old kernels: no open_tree/move_mount/mount_setattr/fsmount.
    sys::force_legacy(true);
    run_standard(dir);
});

child_test!(no_pivot_moves_and_chroots, |dir| {
    let rootfs = bundle(dir);
    let spec = make_spec(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "mode=755"]}],
        "linux": {"maskedPaths": ["/proc/timer_list"], "readonlyPaths": ["/proc/sys"]}
    }));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, true).expect("move root");
    finalize(&spec).expect("finalize");
    assert_eq!(
        std::fs::read_to_string("/etc/hostname").unwrap(),
        "container\n"
    );
    assert_eq!(fs_magic("/proc"), libc::PROC_SUPER_MAGIC);
    assert!(std::fs::read("/proc/timer_list").unwrap().is_empty());
    // A read-only /dev still got its nodes first.
    assert_eq!(major(stat("/dev/null").unwrap().st_rdev), 1);
    assert_erofs("/dev/x");
    // The host's procfs mounts were detached from the namespace.
    let procs = super::mountinfo::read()
        .unwrap()
        .into_iter()
        .filter(|m| m.fs_type == "proc" && m.root == Path::new("/"))
        .count();
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    assert_eq!(
        procs, 1,
        "only the container's procfs should remain:\n{info}"
    );
});

child_test!(shared_root_propagation_still_pivots, |dir| {
    let rootfs = bundle(dir);
    let spec = make_spec(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"rootfsPropagation": "rshared"}
    }));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, false).expect("pivot");
    finalize(&spec).expect("finalize");
    let mounts = super::mountinfo::read().unwrap();
    let root = mounts
        .iter()
        .find(|m| m.mount_point == Path::new("/"))
        .unwrap();
    assert!(root.is_shared(), "{root:?}");
    assert_eq!(
        std::fs::read_to_string("/etc/hostname").unwrap(),
        "container\n"
    );
});
