//! Helpers shared by the `security_*` tests: a private copy of the runtime binary (an
//! attack that succeeds corrupts only the copy), commands run with that copy, the host
//! libraries a dynamically linked binary needs inside a busybox rootfs, and waiting for
//! a file an in-container attacker writes.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gantry_testutil::Runtime;

/// A copy of the runtime under test in a temp dir, run with the same `--root` as `rt`.
pub struct PrivateBinary {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub original: Vec<u8>,
    root: PathBuf,
}

impl PrivateBinary {
    pub fn of(rt: &Runtime) -> PrivateBinary {
        let dir = tempfile::Builder::new()
            .prefix("gantry-sec-bin-")
            .tempdir()
            .expect("temp dir for the binary copy");
        let path = dir.path().join(rt.name());
        let original = fs::read(rt.bin()).expect("reading the runtime binary");
        fs::write(&path, &original).expect("copying the runtime binary");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod copy");
        PrivateBinary {
            _dir: dir,
            path,
            original,
            root: rt.root().to_path_buf(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.root).args(args);
        c
    }

    /// Runs `args` to completion, output captured.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.path.display()))
    }

    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// True while the copy is byte for byte what it was.
    pub fn intact(&self) -> bool {
        fs::read(&self.path)
            .map(|b| b == self.original)
            .unwrap_or(false)
    }
}

/// Copies the shared libraries (and loader) `binary` needs into `rootfs` at the same
/// paths, so that the binary can run inside a busybox container, as it could in any
/// distribution image.
pub fn install_libs_for(binary: &Path, rootfs: &Path) {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .expect("running ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let path = match line.split("=>").nth(1) {
            Some(rest) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let real = fs::canonicalize(path).expect("resolving a library");
        let dest = rootfs.join(path.trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            // /lib64 may be a symlink in the rootfs: create_dir_all follows it.
            fs::create_dir_all(parent).expect("library directory in the rootfs");
        }
        fs::copy(&real, &dest).expect("copying a library into the rootfs");
    }
}

/// Waits for a file an in-container script writes; returns its trimmed content.
#[track_caller]
pub fn wait_for_content(path: &Path, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(s) = fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return s.trim().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} was not written within {timeout:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of a host process whose NUL-separated cmdline starts with `prefix`.
pub fn find_process(prefix: &[u8]) -> Option<i32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = fs::read(e.path().join("cmdline")).ok()?;
        cmd.starts_with(prefix).then_some(pid)
    })
}

/// The innermost pid of host process `pid` (its pid inside its own pid namespace).
pub fn ns_pid(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}
