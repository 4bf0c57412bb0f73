//! A busybox-static root filesystem, built once and cached in the temp dir under a name
//! derived from the busybox binary, so every test process after the first only copies it.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Bumped whenever the layout below changes, so stale caches are not reused.
const LAYOUT_VERSION: u32 = 1;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:user:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\ntty:x:5:\nuser:x:1000:\nnobody:x:65534:\n";

/// The cached rootfs (read-only by convention: tests copy it with [`copy_rootfs`]).
pub fn busybox_rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| build_cached().unwrap_or_else(|e| panic!("busybox rootfs: {e}")))
}

/// Copies the cached rootfs to `dest` (which must not exist) with `cp -a`.
pub fn copy_rootfs(dest: &Path) {
    let src = busybox_rootfs();
    let status = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dest)
        .status()
        .unwrap_or_else(|e| panic!("running cp -a {} {}: {e}", src.display(), dest.display()));
    assert!(
        status.success(),
        "cp -a {} {} failed: {status}",
        src.display(),
        dest.display()
    );
}

fn build_cached() -> Result<PathBuf, String> {
    let binary = fs::read(BUSYBOX)
        .map_err(|e| format!("reading {BUSYBOX} (install busybox-static): {e}"))?;
    let mut hasher = DefaultHasher::new();
    binary.hash(&mut hasher);
    LAYOUT_VERSION.hash(&mut hasher);
    let tmp = std::env::temp_dir();
    let final_dir = tmp.join(format!("gantry-test-rootfs-{:016x}", hasher.finish()));
    if final_dir.join("bin/busybox").exists() {
        return Ok(final_dir);
    }
    // Built under a private name and renamed into place, so concurrent test processes never
    // see a half-built tree: the loser of the rename race just throws its copy away.
    let work = tmp.join(format!(
        ".gantry-test-rootfs-build-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let built = populate(&work);
    let result = built.and_then(|()| match fs::rename(&work, &final_dir) {
        Ok(()) => Ok(()),
        Err(_) if final_dir.join("bin/busybox").exists() => Ok(()),
        Err(e) => Err(format!(
            "renaming {} to {}: {e}",
            work.display(),
            final_dir.display()
        )),
    });
    let _ = fs::remove_dir_all(&work);
    result.map(|()| final_dir)
}

fn populate(root: &Path) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    for dir in [
        "",
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "run",
        "root",
        "home",
        "home/user",
        "mnt",
    ] {
        let p = root.join(dir);
        fs::create_dir_all(&p).map_err(|e| io("creating", &p, e))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod", &p, e))?;
    }
    let tmp = root.join("tmp");
    fs::create_dir(&tmp).map_err(|e| io("creating", &tmp, e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|e| io("chmod", &tmp, e))?;
    let bb = root.join("bin/busybox");
    fs::copy(BUSYBOX, &bb).map_err(|e| io("copying busybox to", &bb, e))?;
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).map_err(|e| io("chmod", &bb, e))?;

    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .map_err(|e| format!("running {BUSYBOX} --list: {e}"))?;
    if !list.status.success() {
        return Err(format!("{BUSYBOX} --list failed: {}", list.status));
    }
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = root.join("bin").join(applet);
        symlink("busybox", &link).map_err(|e| io("symlinking", &link, e))?;
    }
    for (name, text) in [
        ("etc/passwd", PASSWD),
        ("etc/group", GROUP),
        ("etc/hostname", "busybox\n"),
    ] {
        let p = root.join(name);
        fs::write(&p, text).map_err(|e| io("writing", &p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_has_busybox_applets_and_users() {
        if !Path::new(BUSYBOX).exists() {
            eprintln!("skipped: {BUSYBOX} missing (install busybox-static)");
            return;
        }
        let root = busybox_rootfs();
        assert_eq!(
            fs::read_link(root.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(root.join("bin/true").exists());
        let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        assert!(passwd.contains("user:x:1000:1000:"));
        for dir in ["proc", "sys", "dev", "tmp", "etc", "run"] {
            assert!(root.join(dir).is_dir(), "{dir} missing");
        }
        let copy = tempfile::tempdir().unwrap();
        copy_rootfs(&copy.path().join("rootfs"));
        assert!(copy.path().join("rootfs/bin/busybox").is_file());
    }
}
