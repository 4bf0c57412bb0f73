//! Test support: a private daemon on a temp dir (gantryd, or the real containerd when
//! `GANTRY_TEST_DAEMON=containerd`), stopped and removed on drop, driven by the real `ctr`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const CTR: &str = "/usr/bin/ctr";

/// Which daemon the tests run against.
pub fn daemon_kind() -> String {
    std::env::var("GANTRY_TEST_DAEMON").unwrap_or_else(|_| "gantryd".into())
}

pub fn is_containerd() -> bool {
    daemon_kind() == "containerd"
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
    /// TOML appended to the generated config.toml (tables only).
    extra_config: String,
    /// Run gantryd even when the tests run against containerd (for helper daemons).
    force_gantryd: bool,
    /// Run containerd even when the tests run against gantryd, with its local content store
    /// disabled so that a content proxy plugin is its content store.
    containerd_front: bool,
}

impl Daemon {
    /// Starts a daemon with a private root, state and socket under a fresh temp dir.
    pub fn start() -> Daemon {
        Daemon::start_with("", false)
    }

    /// Starts a daemon whose config.toml ends with `extra` (TOML tables); `gantryd_only`
    /// starts gantryd whatever daemon the tests run against.
    pub fn start_with(extra: &str, gantryd_only: bool) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("gantryd-test")
            .tempdir()
            .expect("temp dir");
        let mut d = Daemon {
            sock: dir.path().join("d.sock"),
            dir,
            child: None,
            extra_config: extra.to_string(),
            force_gantryd: gantryd_only,
            containerd_front: false,
        };
        d.spawn();
        d
    }

    /// Starts the real containerd whatever the tests run against, without its local content
    /// store: `extra` must configure a content proxy plugin, which containerd 1.6 then uses
    /// under its own metadata.
    pub fn start_containerd_front(extra: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("gantryd-test")
            .tempdir()
            .expect("temp dir");
        let mut d = Daemon {
            sock: dir.path().join("d.sock"),
            dir,
            child: None,
            extra_config: extra.to_string(),
            force_gantryd: false,
            containerd_front: true,
        };
        d.spawn();
        d
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn write_config(&self) {
        let p = self.dir.path();
        // One file that both daemons read: containerd's keys; plugins that would reach
        // outside the temp dir (or are not needed) are disabled for containerd.
        let cfg = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [{local_content}"io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[debug]
  address = ""
  level = "info"

{metrics}
# Deletions (such as the temporary lease of `ctr content ingest`) would otherwise trigger a
# collection at once and race the test's next step; synchronous deletes still collect.
[plugins."io.containerd.gc.v1.scheduler"]
  schedule_delay = "60s"
"#,
            root = p.join("root").display(),
            state = p.join("state").display(),
            sock = self.sock.display(),
            local_content = if self.containerd_front {
                "\"io.containerd.content.v1.content\", "
            } else {
                ""
            },
            metrics = if self.extra_config.contains("[metrics]") {
                ""
            } else {
                "[metrics]\n  address = \"\"\n"
            },
        );
        let cfg = format!("{cfg}\n{}\n", self.extra_config);
        std::fs::write(self.config_path(), cfg).expect("writing config.toml");
    }

    fn spawn(&mut self) {
        self.write_config();
        let bin = if self.containerd_front || (is_containerd() && !self.force_gantryd) {
            "/usr/bin/containerd".to_string()
        } else {
            env!("CARGO_BIN_EXE_gantryd").to_string()
        };
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log file");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.sock.exists() {
                let out = self.ctr_raw(&["version"]);
                if out.status.success() {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("{bin} exited with {status}; log:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{bin} did not come up; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Stops the daemon with SIGTERM and returns its exit status (SIGKILL after 10 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same directories after [`Daemon::kill9`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Stops and starts the daemon again on the same directories.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn ctr_raw(&self, args: &[&str]) -> Output {
        Command::new(CTR)
            .arg("--address")
            .arg(&self.sock)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running ctr")
    }

    /// Runs ctr and asserts success; returns stdout.
    pub fn ctr(&self, args: &[&str]) -> String {
        let out = self.ctr_raw(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed ({}): {}\nstdout: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs ctr with stdin from a file and asserts success.
    pub fn ctr_stdin(&self, args: &[&str], input: &Path) -> Output {
        Command::new(CTR)
            .arg("--address")
            .arg(&self.sock)
            .args(args)
            .stdin(std::fs::File::open(input).expect("stdin file"))
            .output()
            .expect("running ctr")
    }

    /// Runs ctr, asserts it fails, and returns stderr.
    pub fn ctr_fail(&self, args: &[&str]) -> String {
        let out = self.ctr_raw(args);
        assert!(
            !out.status.success(),
            "ctr {args:?} should have failed; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// sha256 of bytes as `sha256:<hex>`.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(data);
    let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Builds an OCI image archive (oci-layout, index.json, blobs) holding busybox-static as
/// one uncompressed layer, named `name` through containerd's and OCI's ref annotations.
/// Returns the archive path and the manifest digest.
pub fn busybox_oci_archive(dir: &Path, name: &str) -> (PathBuf, String) {
    let work = dir.join("oci-build");
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .expect("busybox-static at /bin/busybox");
    let layer_tar = work.join("layer.tar");
    let st = Command::new("tar")
        .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer_tar)
        .arg("bin")
        .status()
        .expect("tar");
    assert!(st.success());
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| -> (String, usize) {
        let d = sha256(data);
        std::fs::write(blobs.join(&d[7..]), data).unwrap();
        (d, data.len())
    };
    let layer = std::fs::read(&layer_tar).unwrap();
    let (layer_d, layer_n) = put(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/busybox","sh"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_d}"]}}}}"#
    );
    let (cfg_d, cfg_n) = put(config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg_d}","size":{cfg_n}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_d}","size":{layer_n}}}]}}"#
    );
    let (man_d, man_n) = put(manifest.as_bytes());
    let tag = name.rsplit(':').next().unwrap_or("latest");
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{man_d}","size":{man_n},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"io.containerd.image.name":"{name}","org.opencontainers.image.ref.name":"{tag}"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join("busybox-oci.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .args(["oci-layout", "index.json", "blobs"])
        .status()
        .expect("tar");
    assert!(st.success());
    (archive, man_d)
}

/// A private docker-registry (Debian's distribution 2.8) on 127.0.0.1, storage in a temp dir,
/// stopped and removed on drop.
pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl Registry {
    pub fn start() -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("gantryd-registry")
            .tempdir()
            .expect("temp dir");
        // A port free now; the registry binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("log file");
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("starting /usr/bin/docker-registry");
        let mut r = Registry {
            dir,
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _, _)) = r.http("GET", "/v2/", &[]) {
                return r;
            }
            if let Some(st) = r.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("docker-registry exited with {st}; log:\n{}", r.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not come up; log:\n{}",
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// One HTTP/1.1 request (`path` with its query); returns status, headers and body.
    fn http(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, String, Vec<u8>)> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )?;
        s.write_all(body)?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp)?;
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(resp.len());
        let head = String::from_utf8_lossy(&resp[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, head, resp[(split + 4).min(resp.len())..].to_vec()))
    }

    /// Pushes `data` as a blob of `repo` (monolithic upload: POST, then PUT with the digest);
    /// returns its digest.
    pub fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let dgst = sha256(data);
        let (st, head, _) = self
            .http("POST", &format!("/v2/{repo}/blobs/uploads/"), &[])
            .expect("starting a blob upload");
        assert_eq!(st, 202, "blob upload start: {head}");
        let location = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no Location in {head}"));
        // The Location may be absolute; the request line wants the path and query.
        let path = match location.find("/v2/") {
            Some(i) => location[i..].to_string(),
            None => location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let (st, head, _) = self
            .http("PUT", &format!("{path}{sep}digest={dgst}"), data)
            .expect("finishing a blob upload");
        assert_eq!(st, 201, "blob upload: {head}");
        dgst
    }

    /// `127.0.0.1:PORT/REPO@DIGEST`, as ctr takes a remote object.
    pub fn reference(&self, repo: &str, dgst: &str) -> String {
        format!("127.0.0.1:{}/{repo}@{dgst}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
