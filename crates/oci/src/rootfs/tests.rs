//! Real mount tests (root only). Each test re-executes the test binary to
//! run its body alone in a child with a private mount namespace, so the
//! multi-threaded harness never shares a namespace with a pivot_root and
//! nothing can leak onto the host: the child's mounts die with it, and the
//! parent removes the temporary bundle afterwards.

use super::*;
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{major, minor, stat, SFlag};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

const CHILD: &str = "GANTRY_ROOTFS_TEST_CHILD";
const DIR: &str = "GANTRY_ROOTFS_TEST_DIR";

const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Runs `body` in a re-executed child (see the module doc). Returns without
/// doing anything when not root: mounts need CAP_SYS_ADMIN.
fn in_child(name: &str, body: fn(&Path)) {
    let full = name.trim_start_matches("gantry_oci::");
    if std::env::var(CHILD).as_deref() == Ok(full) {
        let dir = PathBuf::from(std::env::var(DIR).expect("bundle dir from the parent"));
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC).expect("unshare");
        sys::mount(None, c"/", None, (libc::MS_REC | libc::MS_PRIVATE) as u64, None).expect("make / private");
        body(&dir);
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("{full}: skipped, needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", full, "--test-threads=1", "--nocapture"])
        .env(CHILD, full)
        .env(DIR, dir.path())
        .output()
        .expect("running the child");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child {full} failed:\n{text}");
}

macro_rules! child_test {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            in_child(concat!(module_path!(), "::", stringify!($name)), $body);
        }
    };
}

/// A bundle with a busybox rootfs: bin/busybox (+ sh), and the usual dirs.
fn bundle(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "container\n").unwrap();
    rootfs
}

fn spec(json: serde_json::Value) -> Spec {
    let mut base = serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/"},
        "linux": {"namespaces": [{"type": "mount"}, {"type": "ipc"}]}
    });
    merge(&mut base, json);
    serde_json::from_value(base).unwrap()
}

fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn ctx<'a>(spec: &'a Spec, rootfs: &'a Path, bundle: &'a Path) -> RootfsContext<'a> {
    RootfsContext { spec, rootfs, bundle, in_userns: false, new_cgroupns: false }
}

fn fs_magic(p: &str) -> i64 {
    nix::sys::statfs::statfs(p).unwrap_or_else(|e| panic!("statfs {p}: {e}")).filesystem_type().0 as i64
}

fn assert_erofs(p: &str) {
    let e = std::fs::write(p, "x").expect_err(p);
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{p}: {e}");
}

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
    spec(serde_json::json!({
        "root": {"path": "rootfs", "readonly": true},
        "mounts": standard_mounts(),
        "linux": {
            "sysctl": {"kernel.shmmax": "123456789", "kernel.msgmax": "4321"},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 416, "uid": 1, "gid": 2},
                        {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200}],
            "maskedPaths": ["/proc/kcore", "/proc/acpi", "/proc/keys", "/sys/firmware", "/proc/scsi", "/does/not/exist"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/no/such/path"]
        }
    }))
}

fn write_sources(dir: &Path) {
    std::fs::write(dir.join("hosts"), "127.0.0.1 gantry\n").unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/file"), "data\n").unwrap();
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
    assert_eq!(std::fs::read_to_string("/etc/hostname").unwrap(), "container\n");
    // Kernel filesystems are what they claim to be.
    assert_eq!(fs_magic("/proc"), libc::PROC_SUPER_MAGIC);
    assert_eq!(fs_magic("/sys"), libc::SYSFS_MAGIC);
    assert_eq!(fs_magic("/dev"), libc::TMPFS_MAGIC);
    assert_eq!(fs_magic("/dev/pts"), DEVPTS_SUPER_MAGIC);
    assert_eq!(fs_magic("/dev/shm"), libc::TMPFS_MAGIC);
    assert_erofs("/sys/kernel/profiling");
    // Devices: defaults 0666 root-owned, config devices as configured.
    for (p, maj, min) in [("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0)] {
        let st = stat(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(st.st_mode & SFlag::S_IFMT.bits(), SFlag::S_IFCHR.bits(), "{p}");
        assert_eq!((major(st.st_rdev), minor(st.st_rdev)), (maj, min), "{p}");
        assert_eq!(st.st_mode & 0o7777, 0o666, "{p}");
        assert_eq!((st.st_uid, st.st_gid), (0, 0), "{p}");
    }
    let fuse = stat("/dev/fuse").unwrap();
    assert_eq!((major(fuse.st_rdev), minor(fuse.st_rdev), fuse.st_mode & 0o7777), (10, 229, 0o640));
    assert_eq!((fuse.st_uid, fuse.st_gid), (1, 2));
    assert_eq!(major(stat("/dev/net/tun").unwrap().st_rdev), 10);
    // /dev symlinks.
    assert_eq!(std::fs::read_link("/dev/fd").unwrap(), Path::new("/proc/self/fd"));
    assert_eq!(std::fs::read_link("/dev/stderr").unwrap(), Path::new("/proc/self/fd/2"));
    assert_eq!(std::fs::read_link("/dev/ptmx").unwrap(), Path::new("pts/ptmx"));
    // Binds: content from the bundle, ro where asked.
    assert_eq!(std::fs::read_to_string("/etc/hosts").unwrap(), "127.0.0.1 gantry\n");
    assert_erofs("/etc/hosts");
    assert_eq!(std::fs::read_to_string("/data/file").unwrap(), "data\n");
    std::fs::write("/data/new", "ok").expect("rw bind stays writable");
    // Sysctls were written before /proc/sys became read-only.
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap().trim(), "123456789");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap().trim(), "4321");
    assert_erofs("/proc/sys/kernel/shmmax");
    assert_erofs("/proc/sysrq-trigger");
    // Masked: files are the null device, directories one empty ro tmpfs.
    let kcore = stat("/proc/kcore").unwrap();
    assert_eq!((major(kcore.st_rdev), minor(kcore.st_rdev)), (1, 3));
    assert!(std::fs::read("/proc/kcore").unwrap().is_empty());
    assert!(std::fs::read("/proc/keys").unwrap().is_empty());
    let firmware = std::fs::metadata("/sys/firmware").unwrap();
    assert_eq!(std::fs::read_dir("/sys/firmware").unwrap().count(), 0);
    assert_eq!(fs_magic("/sys/firmware"), libc::TMPFS_MAGIC);
    assert_erofs("/sys/firmware/x");
    for d in ["/proc/acpi", "/proc/scsi"] {
        if let Ok(m) = std::fs::metadata(d) {
            assert_eq!(m.dev(), firmware.dev(), "{d} should share the one masking tmpfs");
        }
    }
    // Read-only root, writable tmpfs mounts.
    assert_erofs("/newfile");
    std::fs::write("/dev/shm/x", "ok").expect("/dev/shm writable");
    // cgroups: read-only, one entry per host hierarchy.
    assert_erofs("/sys/fs/cgroup/x");
    check_cgroups();
}

fn check_cgroups() {
    let host_has_v1 = super::mountinfo::read().is_ok();
    assert!(host_has_v1);
    let entries: Vec<_> = std::fs::read_dir("/sys/fs/cgroup").unwrap().map(|e| e.unwrap().file_name()).collect();
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

child_test!(symlinked_destinations_stay_in_the_rootfs, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    // Attacks: absolute and relative links to the host's /etc, and a /proc
    // that is a symlink (CVE-2019-19921 class).
    std::os::unix::fs::symlink("/etc", rootfs.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", rootfs.join("rel")).unwrap();
    let marker = format!("gantry-escape-{}", std::process::id());
    let spec = spec(serde_json::json!({"mounts": [
        {"destination": format!("/abs/{marker}"), "type": "tmpfs", "source": "tmpfs"},
        {"destination": format!("/rel/{marker}-file"), "type": "bind", "source": "hosts", "options": ["bind"]},
        {"destination": "/abs/../rel/../../etc/passwd-x", "type": "bind", "source": "hosts", "options": ["bind"]}
    ]}));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    assert!(!Path::new("/etc").join(&marker).exists(), "escaped onto the host's /etc");
    assert!(!Path::new("/etc").join(format!("{marker}-file")).exists());
    assert!(!Path::new("/etc/passwd-x").exists());
    assert_eq!(fs_magic(rootfs.join("etc").join(&marker).to_str().unwrap()), libc::TMPFS_MAGIC);
    assert_eq!(std::fs::read_to_string(rootfs.join("etc").join(format!("{marker}-file"))).unwrap(), "127.0.0.1 gantry\n");
    assert!(rootfs.join("etc/passwd-x").is_file());

    // proc through a symlinked /proc is refused.
    let root2 = dir.join("rootfs2");
    std::fs::create_dir_all(root2.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root2.join("proc")).unwrap();
    let spec = spec(serde_json::json!({"mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}));
    let e = prepare(&ctx(&spec, &root2, dir)).unwrap_err().to_string();
    assert!(e.contains("ordinary directory"), "{e}");
    assert_ne!(fs_magic(root2.join("elsewhere").to_str().unwrap()), libc::PROC_SUPER_MAGIC);
});

child_test!(mounts_inside_proc_are_refused, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    for dest in ["/proc/sys/kernel/core_pattern", "/proc/self/attr"] {
        let spec = spec(serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": dest, "type": "bind", "source": "hosts", "options": ["bind"]}
        ]}));
        let e = prepare(&ctx(&spec, &rootfs, dir)).unwrap_err().to_string();
        assert!(e.contains("inside /proc"), "{e}");
    }
    // lxcfs-style files are allowed.
    let spec = spec(serde_json::json!({"mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/proc/uptime", "type": "bind", "source": "hosts", "options": ["bind", "ro"]}
    ]}));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    assert_eq!(std::fs::read_to_string(rootfs.join("proc/uptime")).unwrap(), "127.0.0.1 gantry\n");
});

child_test!(swapped_dev_null_is_not_used_for_masking, |dir| {
    let rootfs = bundle(dir);
    let spec = spec(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"maskedPaths": ["/proc/kcore"]}
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

child_test!(no_pivot_moves_and_chroots, |dir| {
    let rootfs = bundle(dir);
    let spec = spec(serde_json::json!({
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}
    }));
    prepare(&ctx(&spec, &rootfs, dir)).expect("prepare");
    pivot(&rootfs, true).expect("move root");
    finalize(&spec).expect("finalize");
    assert_eq!(std::fs::read_to_string("/etc/hostname").unwrap(), "container\n");
    assert_eq!(fs_magic("/proc"), libc::PROC_SUPER_MAGIC);
    assert!(std::fs::read("/proc/kcore").unwrap().is_empty());
    // The host's procfs mounts were detached from the namespace.
    let procs = super::mountinfo::read().unwrap().into_iter().filter(|m| m.fs_type == "proc").count();
    assert_eq!(procs, 1, "only the container's procfs should remain");
});

child_test!(bind_options_propagation_and_recursive_attrs, |dir| {
    let rootfs = bundle(dir);
    write_sources(dir);
    // A source with a submount, to see what "r" options reach.
    let src = dir.join("vol");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let c = |p: &Path| mount::c_path(p).unwrap();
    sys::mount(Some(c"tmpfs"), &c(&src.join("sub")), Some(c"tmpfs"), 0, None).unwrap();
    std::fs::write(src.join("sub/f"), "sub").unwrap();
    std::fs::write(rootfs.join("etc/orig"), "from image").unwrap();
    let spec = spec(serde_json::json!({"mounts": [
        {"destination": "/rro", "type": "bind", "source": "vol", "options": ["rbind", "rro", "rshared"]},
        {"destination": "/toponly", "type": "bind", "source": "vol", "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/nonrec", "type": "bind", "source": "vol", "options": ["bind", "private"]},
        {"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "rslave", "rnoexec"]},
        {"destination": "/dev/fuse-file", "type": "bind", "source": "hosts", "options": ["bind", "rw", "slave"]}
    ]}));
    let mut ctx = ctx(&spec, &rootfs, dir);
    ctx.in_userns = true;
    prepare(&ctx).expect("prepare");
    let at = |p: &str| rootfs.join(p).to_str().unwrap().to_string();
    assert_erofs(&at("rro/x"));
    assert_erofs(&at("rro/sub/x"));
    assert_erofs(&at("toponly/x"));
    std::fs::write(at("toponly/sub/x"), "ok").expect("ro is not recursive");
    assert_eq!(fs_magic(&at("nonrec/sub")), fs_magic(&at("nonrec")), "bind without rbind skips submounts");
    assert_eq!(std::fs::read_to_string(at("etc/orig")).unwrap(), "from image");
    assert_eq!(std::fs::read_to_string(at("etc/hostname")).unwrap(), "container\n");
    assert_eq!(fs_magic(&at("etc")), libc::TMPFS_MAGIC);
    let mounts = super::mountinfo::read().unwrap();
    let find = |p: &str| mounts.iter().filter(|m| m.mount_point == rootfs.join(p)).last().unwrap().clone();
    assert!(find("rro").is_shared() && find("rro/sub").is_shared());
    assert!(!find("toponly").is_shared());
    assert!(find("tmp").optional.iter().all(|o| !o.starts_with("shared:")));
    // in_userns: devices are binds of the host's nodes.
    assert!(mounts.iter().any(|m| m.mount_point == rootfs.join("dev/null")));
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
    let spec = spec(serde_json::json!({"mounts": [
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
    let top = if fs_magic("/sys/fs/cgroup") == libc::TMPFS_MAGIC { "/sys/fs/cgroup/memory" } else { "/sys/fs/cgroup" };
    let procs = std::fs::read_to_string(format!("{top}/cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l.trim() == std::process::id().to_string()), "{procs}");
});

child_test!(console_is_bound_and_symlinks_replaced, |dir| {
    let rootfs = bundle(dir);
    let spec = spec(serde_json::json!({"mounts": [
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
    assert_eq!(std::fs::read_to_string("/etc/hostname").unwrap(), "container\n");
    let st = std::fs::symlink_metadata("/etc/hostname").unwrap();
    assert!(st.is_file());
});
