//! Test support: a real containerd on a private address, root and state under a temp
//! dir, run in its own mount namespace with a tmpfs on /run (the stock shim and ctr's
//! fifos use /run/containerd; the host's is never touched), a locally built busybox image,
//! and `ctr` run inside the same namespace. Everything is torn down on drop.
//! GANTRY_TEST_CONTAINERD=DIR takes containerd and ctr (and, for the stock runtime,
//! containerd-shim-runc-v2) from DIR instead of Debian's 1.6 in /usr/bin; a 2.x one gets
//! a version 3 config.

#![allow(dead_code)]

use sha2::{Digest, Sha256};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const IMAGE: &str = "docker.io/gantry/busybox:latest";

/// The directory given by GANTRY_TEST_CONTAINERD, if any.
fn containerd_dir() -> Option<PathBuf> {
    std::env::var("GANTRY_TEST_CONTAINERD")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
}

/// A binary of the containerd under test: from GANTRY_TEST_CONTAINERD, else /usr/bin.
fn containerd_tool(name: &str) -> String {
    let dir = containerd_dir().unwrap_or_else(|| PathBuf::from("/usr/bin"));
    let p = dir.join(name);
    assert!(p.exists(), "{} missing", p.display());
    p.display().to_string()
}

fn ctr_bin() -> String {
    containerd_tool("ctr")
}

/// The major version `containerd --version` reports (its third word, e.g. "v2.3.4" or
/// Debian's "1.6.20~ds1"): 2 and later take a version 3 config.
pub fn containerd_major() -> u32 {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    *MAJOR.get_or_init(|| {
        let bin = containerd_tool("containerd");
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("{bin} --version: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.split_whitespace()
            .nth(2)
            .and_then(|v| v.trim_start_matches('v').split('.').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{bin} --version printed no version: {text:?}"))
    })
}

/// The runtime under test: ours unless GANTRY_TEST_SHIM_RUNTIME names another
/// (io.containerd.runc.v2 runs the same tests against containerd's stock shim).
/// The working criu the tests were pointed at (`GANTRY_TEST_CRIU`), if any.
pub fn criu() -> Option<PathBuf> {
    std::env::var("GANTRY_TEST_CRIU")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
}

pub fn runtime() -> String {
    std::env::var("GANTRY_TEST_SHIM_RUNTIME").unwrap_or_else(|_| "io.containerd.gantry.v2".into())
}

/// The crun the crun tests name, and the temp dir holding it (if any) to keep until the
/// test ends: /usr/bin/crun itself, or with containerd 2.x a wrapper, also called `crun`
/// (the name `start_for` looks for), that lowers the bundle's ociVersion to 1.1.0 first.
/// containerd 2.3 writes specs of runtime-spec 1.3.0, which Debian's crun 1.8.1 refuses
/// ("unknown version specified") whichever shim runs it.
pub fn crun() -> (Option<tempfile::TempDir>, PathBuf) {
    let crun = PathBuf::from("/usr/bin/crun");
    if containerd_major() < 2 {
        return (None, crun);
    }
    let dir = tempfile::Builder::new()
        .prefix("gshim-crun")
        .tempdir_in("/tmp")
        .unwrap();
    let wrapper = dir.path().join("crun");
    std::fs::write(
        &wrapper,
        format!(
            r#"#!/bin/sh
b= prev=
for a in "$@"; do
  case "$prev" in --bundle|-b) b=$a ;; esac
  case "$a" in --bundle=*) b=${{a#--bundle=}} ;; esac
  prev=$a
done
if [ -n "$b" ] && [ -f "$b/config.json" ]; then
  sed -i 's/"ociVersion":"[^"]*"/"ociVersion":"1.1.0"/' "$b/config.json"
fi
exec {} "$@"
"#,
            crun.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    (Some(dir), wrapper)
}

/// gantry-runc, the runc-compatible binary tests use as BinaryName.
pub fn gantry_runc() -> PathBuf {
    let p = std::env::var("GANTRY_RUNC")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/gantry-runc")
        });
    assert!(
        p.exists(),
        "{} missing: build it with `cargo build -p gantry-runc`",
        p.display()
    );
    p.canonicalize().expect("canonical gantry-runc path")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Containerd {
    pub dir: tempfile::TempDir,
    pub sock: String,
    pub namespace: String,
    holder: Option<Child>,
    child: Option<Child>,
    /// Set while Drop cleans up: a command that times out then must not panic (a panic
    /// in a destructor aborts the test run and leaves the daemon and shims behind).
    cleaning: std::cell::Cell<bool>,
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes an OCI image layout holding busybox (from busybox-static) and tars it.
fn build_image(dir: &Path) -> PathBuf {
    let rootfs = dir.join("image-rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("copying /bin/busybox (install busybox-static)");
    for applet in [
        "sh", "echo", "sleep", "cat", "true", "false", "ls", "ps", "id", "hostname",
    ] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    let layer = dir.join("layer.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&layer)
            .arg("."),
    );
    let layout = dir.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> (String, usize) {
        let h = sha256_hex(data);
        std::fs::write(blobs.join(&h), data).unwrap();
        (format!("sha256:{h}"), data.len())
    };
    let (layer_digest, layer_size) = put(&std::fs::read(&layer).unwrap());
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}],
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let tar = dir.join("busybox-oci.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tar)
            .args(["oci-layout", "index.json", "blobs"]),
    );
    tar
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("running a helper command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// cgroup2's controller list on this machine's hybrid layout: crun 1.8.1 refuses hybrid
/// cgroups while it can read it, so tests that drive crun hide it (in their namespace).
const HYBRID_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

impl Containerd {
    pub fn start() -> Containerd {
        Containerd::start_for(None)
    }

    /// A containerd whose mount namespace suits `binary` as the runc-compatible runtime:
    /// for crun, an empty file is bound over the hybrid cgroup2 controller list.
    pub fn start_for(binary: Option<&Path>) -> Containerd {
        let hide_controllers = binary.and_then(|b| b.file_name()) == Some("crun".as_ref())
            && Path::new(HYBRID_CONTROLLERS).exists();
        let dir = tempfile::Builder::new()
            .prefix("gshim")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let sock = d.join("c.sock").display().to_string();
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_containerd-shim-gantry-v2"),
            bin.join("containerd-shim-gantry-v2"),
        )
        .unwrap();
        // GANTRY_TEST_CRIU goes first in containerd's (and so the shims' and runc's) PATH
        // as `criu`, the name both shims look up.
        if let Some(criu) = criu() {
            std::os::unix::fs::symlink(criu, bin.join("criu")).unwrap();
        }
        let config = if containerd_major() >= 2 {
            config_v3(d, &sock)
        } else {
            format!(
                r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[debug]
  level = "debug"
# Else containerd makes /opt/containerd on the host.
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
# What CRI would use (the plugin is disabled here; ctr names the runtime directly and
# containerd finds containerd-shim-gantry-v2 on PATH).
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.gantry]
  runtime_type = "io.containerd.gantry.v2"
"#,
                root = d.join("root").display(),
                state = d.join("state").display(),
                opt = d.join("opt").display(),
            )
        };
        std::fs::write(d.join("config.toml"), config).unwrap();
        let empty = d.join("empty");
        std::fs::write(&empty, "").unwrap();
        // The mount namespace is held by a sleeping process, so containerd can be
        // killed and started again inside the same one.
        let mut holder = Command::new("/bin/sleep");
        holder.arg("infinity").stdin(Stdio::null());
        // SAFETY: runs in the forked child before exec; only raw syscalls.
        unsafe {
            holder.pre_exec(move || {
                use nix::mount::{mount, MsFlags};
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )?;
                mount(
                    Some("tmpfs"),
                    "/run",
                    Some("tmpfs"),
                    MsFlags::empty(),
                    Some("mode=755"),
                )?;
                if hide_controllers {
                    mount(
                        Some(empty.as_path()),
                        HYBRID_CONTROLLERS,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )?;
                }
                Ok(())
            });
        }
        let holder = holder.spawn().expect("starting the namespace holder");
        // Wait until the holder is in its own namespace before anyone joins it.
        let own = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        while std::fs::read_link(format!("/proc/{}/ns/mnt", holder.id()))
            .ok()
            .as_ref()
            == Some(&own)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Unique per daemon: runc's cgroups are /<namespace>/<id>, shared by all daemons.
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let namespace = format!("gtest{}-{seq}", std::process::id());
        let mut c = Containerd {
            dir,
            sock,
            namespace,
            holder: Some(holder),
            child: None,
            cleaning: std::cell::Cell::new(false),
        };
        c.start_daemon();
        let tar = build_image(c.dir.path());
        let out = c.ctr(&["images", "import", tar.to_str().unwrap()]);
        assert_eq!(out.code, 0, "import: {}{}", out.stdout, out.stderr);
        c
    }

    /// Starts containerd (again) in the held namespace and waits until it answers.
    pub fn start_daemon(&mut self) {
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("containerd.log"))
            .unwrap();
        // containerd looks its shims up in PATH: the stock runc shim must be the one
        // that comes with the containerd under test, not Debian's in /usr/bin.
        let mut path = vec![d.join("bin")];
        path.extend(containerd_dir());
        let path = format!(
            "{}:{}",
            std::env::join_paths(path).unwrap().to_string_lossy(),
            std::env::var("PATH").unwrap_or_default()
        );
        let ns = std::fs::File::open(format!("/proc/{}/ns/mnt", self.pid()))
            .expect("the held mount namespace");
        let containerd = containerd_tool("containerd");
        let mut cmd = Command::new(&containerd);
        cmd.arg("--config")
            .arg(d.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: runs in the forked child before exec; setns is a plain syscall.
        unsafe {
            cmd.pre_exec(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
                Ok(())
            });
        }
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("starting {containerd}: {e}")),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ctr(&["version"]).code == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not come up:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// kill -9 containerd (its shims and containers stay).
    pub fn kill_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The namespace holder's pid: the way into containerd's mount namespace.
    fn pid(&self) -> u32 {
        self.holder.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Runs `ctr -a SOCK -n NS ARGS` in containerd's mount namespace (60 s limit).
    pub fn ctr(&self, args: &[&str]) -> Output {
        let ctr = ctr_bin();
        let mut full = vec![ctr.as_str(), "-a", &self.sock, "-n", &self.namespace];
        full.extend_from_slice(args);
        self.in_namespace(&full)
    }

    /// Like `ctr` but with a terminal on ctr's stdio (through `script`), for `-t`.
    pub fn ctr_tty(&self, args: &[&str]) -> Output {
        let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut line = vec![
            quote(&ctr_bin()),
            "-a".into(),
            quote(&self.sock),
            "-n".into(),
            quote(&self.namespace),
        ];
        line.extend(args.iter().map(|a| quote(a)));
        self.in_namespace(&["/usr/bin/script", "-qec", &line.join(" "), "/dev/null"])
    }

    /// Starts a program in containerd's mount namespace, stdout and stderr to files.
    fn spawn_in_namespace(&self, argv: &[&str], out: &Path, err: &Path) -> std::io::Result<Child> {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out)?)
            .stderr(std::fs::File::create(err)?);
        let ns = std::fs::File::open(format!("/proc/{}/ns/mnt", self.pid()))?;
        // SAFETY: runs in the forked child before exec; setns is a plain syscall.
        unsafe {
            cmd.pre_exec(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
                Ok(())
            });
        }
        cmd.spawn()
    }

    /// `ctr events` in the background; `Events::stop` returns what it printed.
    pub fn events(&self) -> Events {
        let out = self.dir.path().join("events.out");
        let err = self.dir.path().join("events.err");
        let child = self
            .spawn_in_namespace(
                &[
                    &ctr_bin(),
                    "-a",
                    &self.sock,
                    "-n",
                    &self.namespace,
                    "events",
                ],
                &out,
                &err,
            )
            .expect("starting ctr events");
        // Give the subscription a moment to be in place before the test acts.
        std::thread::sleep(Duration::from_millis(300));
        Events { child, out }
    }

    /// Runs a program in containerd's mount namespace with a 60 s limit.
    fn in_namespace(&self, argv: &[&str]) -> Output {
        let out_path = self.dir.path().join(".ctr.out");
        let err_path = self.dir.path().join(".ctr.err");
        let mut child = match self.spawn_in_namespace(argv, &out_path, &err_path) {
            Ok(c) => c,
            Err(e) => {
                return Output {
                    code: -1,
                    stdout: String::new(),
                    stderr: format!("running {argv:?} in containerd's mount namespace: {e}"),
                }
            }
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                if self.cleaning.get() || std::thread::panicking() {
                    eprintln!("cleanup: {argv:?} timed out");
                    return Output {
                        code: -1,
                        stdout: String::new(),
                        stderr: format!("{argv:?} timed out"),
                    };
                }
                panic!("{argv:?} timed out\ncontainerd log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }

    /// Mount points of containerd's mount namespace that lie under this daemon's temp dir.
    pub fn mounts_under_dir(&self) -> Vec<String> {
        let needle = self.dir.path().display().to_string();
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid()))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .filter(|m| m.starts_with(&needle))
            .collect()
    }

    /// `ctr run` args selecting the runtime under test and, optionally, its runc binary.
    pub fn run_args(&self, binary: Option<&Path>) -> Vec<String> {
        let rt = runtime();
        let mut args = vec!["run".to_string(), "--runtime".into(), rt.clone()];
        if let Some(b) = binary {
            if rt == "io.containerd.runc.v2" {
                args.push(format!("--runc-binary={}", b.display()));
            } else {
                let cfg = self.dir.path().join("runtime-options.toml");
                std::fs::write(&cfg, format!("BinaryName = \"{}\"\n", b.display())).unwrap();
                args.push(format!("--runtime-config-path={}", cfg.display()));
            }
        }
        args
    }

    /// Pids of this containerd's shims: processes with containerd's shim flags whose
    /// command line mentions its temp dir (a runtime's helpers, such as runsc's sandbox
    /// and gofer, mention the bundle too but are not shims).
    pub fn shim_pids(&self) -> Vec<i32> {
        self.pids_mentioning_dir(Some("-namespace"))
    }

    /// Pids of processes (other than containerd and the holder) whose command line
    /// mentions this containerd's temp dir, and the argument `arg` if given.
    fn pids_mentioning_dir(&self, arg: Option<&str>) -> Vec<i32> {
        let needle = self.dir.path().display().to_string();
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid as u32 == self.pid() || Some(pid as u32) == self.child.as_ref().map(|c| c.id()) {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let has_arg = arg.is_none_or(|a| cmdline.split(|b| *b == 0).any(|w| w == a.as_bytes()));
            if has_arg && String::from_utf8_lossy(&cmdline).contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.cleaning.set(true);
        // GANTRY_TEST_LOG_DIR=DIR keeps each daemon's log (named by its namespace).
        if let Ok(dir) = std::env::var("GANTRY_TEST_LOG_DIR") {
            let _ = std::fs::write(
                Path::new(&dir).join(format!("{}.log", self.namespace)),
                self.log(),
            );
        }
        // Tasks first (kills container processes), then containers, then the daemon.
        if self
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
        {
            let tasks = self.ctr(&["tasks", "ls", "-q"]).stdout;
            for t in tasks.lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["tasks", "kill", "-a", "-s", "SIGKILL", t]);
                let _ = self.ctr(&["tasks", "delete", "-f", t]);
            }
            let cs = self.ctr(&["containers", "ls", "-q"]).stdout;
            for c in cs.lines().filter(|l| !l.is_empty()) {
                let _ = self.ctr(&["containers", "delete", c]);
            }
        }
        let shims = self.pids_mentioning_dir(None);
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut holder) = self.holder.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
        for pid in shims.into_iter().chain(self.pids_mentioning_dir(None)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Whatever still runs in this namespace's container cgroups (containerd died
        // before it could delete them), then the cgroups themselves.
        let ns_dir = |ctl: &Path| ctl.join(&self.namespace);
        let mem = ns_dir(Path::new("/sys/fs/cgroup/memory"));
        for leaf in std::fs::read_dir(&mem).into_iter().flatten().flatten() {
            let procs =
                std::fs::read_to_string(leaf.path().join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        let controllers: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|d| d.path())
            .collect();
        for ctl in &controllers {
            for leaf in std::fs::read_dir(ns_dir(ctl))
                .into_iter()
                .flatten()
                .flatten()
            {
                if leaf.path().is_dir() {
                    let _ = std::fs::remove_dir(leaf.path());
                }
            }
            let _ = std::fs::remove_dir(ns_dir(ctl));
        }
    }
}

/// The version 3 config containerd 2.x takes, equivalent to the version 2 one above, with
/// everything 2.x would otherwise put on the host kept under `d`: CRI (and its image and
/// sandbox plugins, which create /etc/cni/net.d) and NRI (/run/nri) are disabled, and the
/// shims' sockets (2.x hands the shim a socket_dir, /run/containerd/s by default) and the
/// opt plugin's directory live in the temp dir. socket_dir (`<temp dir>/s`, 18 bytes)
/// stays far below containerd's 42-byte limit.
fn config_v3(d: &Path, sock: &str) -> String {
    format!(
        r#"version = 3
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.runtime",
  "io.containerd.cri.v1.images",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.nri.v1.nri",
]
[grpc]
  address = "{sock}"
[debug]
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "{sockets}"
# What CRI would use (the plugin is disabled here; ctr names the runtime directly and
# containerd finds containerd-shim-gantry-v2 on PATH).
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.gantry]
  runtime_type = "io.containerd.gantry.v2"
"#,
        root = d.join("root").display(),
        state = d.join("state").display(),
        opt = d.join("opt").display(),
        sockets = d.join("s").display(),
    )
}

/// VmRSS and Pss of a process, for the record (from /proc/PID/status and smaps_rollup).
pub fn memory(pid: i32) -> String {
    let field = |file: &str, key: &str| -> String {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l[key.len()..].trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "VmRSS {} Pss {} (anonymous {}, file {})",
        field("status", "VmRSS:"),
        field("smaps_rollup", "Pss:"),
        field("status", "RssAnon:"),
        field("status", "RssFile:")
    )
}

/// A running `ctr events`.
pub struct Events {
    child: Child,
    out: PathBuf,
}

impl Events {
    /// Stops the subscription and returns the topics seen for `container`, in order.
    pub fn stop(mut self, container: &str) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let needle = format!("\"container_id\":\"{container}\"");
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .filter_map(|l| {
                l.split_whitespace()
                    .find(|w| w.starts_with("/tasks/"))
                    .map(String::from)
            })
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
