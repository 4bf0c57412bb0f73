//! In a real user namespace: device binds and locked mount flags.

use super::*;
use crate::rootfs::{mount_spec, sys};
use nix::sys::stat::{major, minor, stat};

const USERNS_STAGE: &str = "GANTRY_ROOTFS_USERNS_STAGE";
const USERNS_TEST: &str =
    "rootfs::tests::userns::user_namespace_binds_devices_and_keeps_locked_flags";

/// In a user namespace (set up by util-linux unshare around a third exec of
/// the test binary): mknod is impossible, so devices are binds, and the
/// flags the kernel locked on inherited mounts (nosuid, nodev here) must
/// survive a read-only bind, with the new mount API and the legacy remount.
#[test]
fn user_namespace_binds_devices_and_keeps_locked_flags() {
    if std::env::var(USERNS_STAGE).is_ok() {
        let dir = PathBuf::from(std::env::var(DIR).expect("bundle dir"));
        sys::force_legacy(std::env::var(USERNS_STAGE).as_deref() == Ok("legacy"));
        userns_body(&dir);
        return;
    }
    in_child(USERNS_TEST, |dir| {
        // Inherited by the user namespace below, where its flags are locked.
        let locked = dir.join("locked");
        std::fs::create_dir(&locked).unwrap();
        let flags = (libc::MS_NOSUID | libc::MS_NODEV) as u64;
        sys::mount(
            Some(c"tmpfs"),
            &mount_spec::c_path(&locked).unwrap(),
            Some(c"tmpfs"),
            flags,
            None,
        )
        .unwrap();
        std::fs::write(locked.join("f"), "locked").unwrap();
        for stage in ["new", "legacy"] {
            let work = dir.join(stage);
            std::fs::create_dir(&work).unwrap();
            let exe = std::env::current_exe().unwrap();
            let out = Command::new("unshare")
                .args([
                    "--user",
                    "--map-root-user",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--net",
                    "--ipc",
                ])
                .arg(exe)
                .args(["--exact", USERNS_TEST, "--test-threads=1", "--nocapture"])
                .env_remove(CHILD)
                .env(USERNS_STAGE, stage)
                .env(DIR, &work)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.status.success() && text.contains("1 passed"),
                "{stage} stage failed:\n{text}"
            );
        }
    });
}

fn userns_body(work: &Path) {
    let rootfs = bundle(work);
    let locked = work.parent().unwrap().join("locked");
    let spec = make_spec(serde_json::json!({
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro", "nosuid", "nodev", "noexec"]},
            {"destination": "/locked", "type": "bind", "source": locked, "options": ["bind", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "user"}, {"type": "pid"}, {"type": "network"}, {"type": "ipc"}],
            "maskedPaths": ["/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys"]
        }
    }));
    let mut c = ctx(&spec, &rootfs, work);
    c.in_userns = true;
    prepare(&c).expect("prepare in a user namespace");
    pivot(&rootfs, false).expect("pivot");
    finalize(&spec).expect("finalize");
    let null = stat("/dev/null").unwrap();
    assert_eq!((major(null.st_rdev), minor(null.st_rdev)), (1, 3));
    std::fs::write("/dev/null", "discarded").expect("the bound null device works");
    assert_eq!(std::fs::read_to_string("/locked/f").unwrap(), "locked");
    assert_erofs("/locked/x");
    let flags = nix::sys::statvfs::statvfs("/locked").unwrap().flags();
    use nix::sys::statvfs::FsFlags;
    assert!(
        flags.contains(FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_RDONLY),
        "{flags:?}"
    );
    assert!(std::fs::read("/proc/timer_list").unwrap().is_empty());
    assert_erofs("/proc/sys/kernel/domainname");
    assert_erofs("/newfile");
}
