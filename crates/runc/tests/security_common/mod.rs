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

    /// Runs `args` to completion, output captured in files (not pipes: a container that
    /// inherits them must not keep the call from returning).
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        let mut out = tempfile::tempfile().expect("stdout capture");
        let mut err = tempfile::tempfile().expect("stderr capture");
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.path.display()));
        let status = gantry_testutil::runtime::wait_timeout(&mut child, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{} {args:?} did not finish", self.path.display()));
        let read = |f: &mut fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            f.read_to_end(&mut v).unwrap();
            v
        };
        Output {
            status,
            stdout: read(&mut out),
            stderr: read(&mut err),
        }
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

/// CVEs this machine's runc (Debian 1.1.5+ds1-1+deb12u1, which backports the fix for
/// CVE-2024-21626) is known to be vulnerable to: under runc a test for one of these reports
/// what the attack achieved instead of failing.
pub const RUNC_115_VULNERABLE: &[&str] = &[
    "CVE-2024-45310",
    "CVE-2025-31133",
    "CVE-2025-52565",
    "CVE-2025-52881",
];

/// Fails the test when `escaped` describes a successful attack, except under runc 1.1.5 for
/// a CVE it is known to be vulnerable to, where the outcome is reported (gantry-only check).
#[track_caller]
pub fn assert_withstood(rt: &Runtime, cve: &str, escaped: Option<String>) {
    match escaped {
        None => eprintln!("{cve}: {} withstood the attack", rt.name()),
        Some(how) if rt.is_runc() && RUNC_115_VULNERABLE.contains(&cve) => {
            eprintln!("{cve}: runc 1.1.5 is vulnerable, as expected (gantry-only assertion): {how}")
        }
        Some(how) => panic!("{cve}: {} did not withstand the attack: {how}", rt.name()),
    }
}

/// A host directory the attacks aim at (outside every rootfs), removed on drop.
pub struct HostTarget {
    pub dir: tempfile::TempDir,
}

impl HostTarget {
    pub fn new() -> HostTarget {
        HostTarget {
            dir: tempfile::Builder::new()
                .prefix("gantry-sec-host-")
                .tempdir()
                .expect("host target dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Mounts an attack left in the directory (detached as they are found).
    pub fn mounts(&self) -> Option<String> {
        let mut mounts = gantry_testutil::check::mounts_under(self.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in &mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        (!mounts.is_empty()).then(|| format!("host mounts {mounts:?}"))
    }

    /// Files or directories an attack created in the directory (the marker excepted).
    pub fn files(&self) -> Option<String> {
        let found: Vec<String> = fs::read_dir(self.path())
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name() != "marker")
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        (!found.is_empty()).then(|| format!("created on the host: {found:?}"))
    }

    /// Mounts and files together.
    pub fn damage(&self) -> Option<String> {
        match (self.mounts(), self.files()) {
            (None, None) => None,
            (m, f) => Some(format!(
                "{} {}",
                m.unwrap_or_default(),
                f.unwrap_or_default()
            )),
        }
    }
}

/// Creates (and force-deletes) `rounds` containers from `b` while a background thread
/// swaps rootfs entries `dir` and `link` (renameat2 RENAME_EXCHANGE, atomic) as fast as it
/// can. Stops early once `target` shows damage. Returns (created, refused, swaps).
pub fn race_creates(
    rt: &Runtime,
    b: &gantry_testutil::Bundle,
    dir: &str,
    link: &str,
    target: &HostTarget,
    rounds: usize,
) -> (usize, usize, u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        let (a, l) = (b.in_rootfs(dir), b.in_rootfs(link));
        std::thread::spawn(move || {
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &a,
                    nix::fcntl::AT_FDCWD,
                    &l,
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                );
                flips += 1;
            }
            flips
        })
    };
    let (mut created, mut refused) = (0, 0);
    for _ in 0..rounds {
        let id = gantry_testutil::unique_id("sec-race");
        if rt.create(&id, b).success() {
            created += 1;
        } else {
            refused += 1;
        }
        let _ = rt.delete_force(&id);
        if target.damage().is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    eprintln!("{created} created, {refused} refused, {flips} swaps");
    (created, refused, flips)
}
