//! Real mount tests (root only). Each test re-executes the test binary to
//! run its body alone in a child with a private mount namespace, so the
//! multi-threaded harness never shares a namespace with a pivot_root and
//! nothing can leak onto the host: the child's mounts die with it, and the
//! parent removes the temporary bundle afterwards.

mod attacks;
mod options;
mod standard;
mod userns;

use super::*;
use nix::sched::{unshare, CloneFlags};
use std::path::PathBuf;
use std::process::Command;

pub(super) const CHILD: &str = "GANTRY_ROOTFS_TEST_CHILD";
pub(super) const DIR: &str = "GANTRY_ROOTFS_TEST_DIR";

pub(super) const CGROUP_SUPER_MAGIC: i64 = 0x27e0eb;
pub(super) const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
pub(super) const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Runs `body` in a re-executed child (see the module doc). Returns without
/// doing anything when not root: mounts need CAP_SYS_ADMIN.
pub(super) fn in_child(name: &str, body: fn(&Path)) {
    let full = name.trim_start_matches("gantry_oci::");
    if std::env::var(CHILD).as_deref() == Ok(full) {
        let dir = PathBuf::from(std::env::var(DIR).expect("bundle dir from the parent"));
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC).expect("unshare");
        sys::mount(
            None,
            c"/",
            None,
            (libc::MS_REC | libc::MS_PRIVATE) as u64,
            None,
        )
        .expect("make / private");
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "child {full} failed:\n{text}"
    );
}

/// A test whose body runs in a re-executed child (see [`in_child`]).
macro_rules! child_test {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            in_child(concat!(module_path!(), "::", stringify!($name)), $body);
        }
    };
}

/// A bundle with a busybox rootfs: bin/busybox (+ sh), and the usual dirs.
pub(super) fn bundle(dir: &Path) -> PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/hostname"), "container\n").unwrap();
    rootfs
}

pub(super) fn make_spec(json: serde_json::Value) -> Spec {
    let mut base = serde_json::json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
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

pub(super) fn ctx<'a>(spec: &'a Spec, rootfs: &'a Path, bundle: &'a Path) -> RootfsContext<'a> {
    RootfsContext {
        spec,
        rootfs,
        bundle,
        in_userns: false,
        new_cgroupns: false,
        cgroup: None,
    }
}

pub(super) fn fs_magic(p: &str) -> i64 {
    nix::sys::statfs::statfs(p)
        .unwrap_or_else(|e| panic!("statfs {p}: {e}"))
        .filesystem_type()
        .0 as i64
}

pub(super) fn assert_erofs(p: &str) {
    let e = std::fs::write(p, "x").expect_err(p);
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{p}: {e}");
}

/// Bind sources in the bundle: a file and a directory.
pub(super) fn write_sources(dir: &Path) {
    std::fs::write(dir.join("hosts"), "127.0.0.1 gantry\n").unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/file"), "data\n").unwrap();
}

pub(super) use child_test;
