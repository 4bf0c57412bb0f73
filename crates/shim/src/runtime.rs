//! The runc-compatible backend: every operation execs the runtime binary (runc, crun,
//! gantry-runc ...) with `--root` and a JSON log file whose last error becomes the
//! operation's error. Each call waits for its own child before returning, so the
//! shim's reaper (which only runs between calls) never steals a runtime's exit status.

use crate::backend::{Backend, CheckpointSpec, Choice, ProcessIo};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn stdio(f: Option<File>) -> Stdio {
    f.map(Stdio::from).unwrap_or_else(Stdio::null)
}

pub struct Runtime {
    pub binary: String,
    pub root: String,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    no_pivot: bool,
    no_new_keyring: bool,
    log: PathBuf,
}

impl Runtime {
    pub fn new(binary: String, choice: &Choice, bundle: &Path) -> Runtime {
        Runtime {
            binary,
            root: choice.root.clone(),
            systemd_cgroup: choice.systemd_cgroup,
            no_pivot: choice.no_pivot,
            no_new_keyring: choice.no_new_keyring,
            log: bundle.join("log.json"),
        }
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        cmd
    }

    /// The last error the runtime logged, for a failed call's message.
    fn logged_error(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["level"] == "error" || v["level"] == "fatal")
            .and_then(|v| v["msg"].as_str().map(String::from))
            .unwrap_or_default()
    }

    /// A failed call's error: the runtime's last logged error, else its stderr.
    fn failure(&self, what: &str, out: &std::process::Output) -> String {
        let mut msg = self.logged_error();
        if msg.is_empty() {
            msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        format!("{what}: {} {}: {msg}", self.binary, out.status)
    }

    fn run(&self, what: &str, mut cmd: Command) -> Result<Vec<u8>, String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: running {}: {e}", self.binary))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(self.failure(what, &out))
    }

    /// Like `run` but the child's stdio is the container's: waits on the status only.
    fn run_with_io(&self, what: &str, mut cmd: Command, io: ProcessIo) -> Result<(), String> {
        cmd.stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        let status = cmd
            .status()
            .map_err(|e| format!("{what}: running {}: {e}", self.binary))?;
        if status.success() {
            return Ok(());
        }
        Err(format!(
            "{what}: {} {status}: {}",
            self.binary,
            self.logged_error()
        ))
    }

    /// The container's statistics read straight from the cgroup its config names.
    fn cgroup_stats(&self, id: &str) -> Result<serde_json::Value, String> {
        let config = self.log.with_file_name("config.json");
        let text = std::fs::read_to_string(&config)
            .map_err(|e| format!("reading {}: {e}", config.display()))?;
        let spec: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("parsing {}: {e}", config.display()))?;
        let path = spec["linux"]["cgroupsPath"].as_str().unwrap_or_default();
        if self.systemd_cgroup || path.is_empty() {
            return Err(format!("no cgroup path to read in {}", config.display()));
        }
        let cgroup = gantry_oci::cgroups::CgroupManager::new(Some(Path::new(path)), id)
            .map_err(|e| format!("cgroup {path}: {e}"))?;
        let stats = cgroup
            .stats()
            .map_err(|e| format!("reading cgroup {path}: {e}"))?;
        serde_json::to_value(stats).map_err(|e| format!("statistics of cgroup {path}: {e}"))
    }

    /// `checkpoint` or `restore` with the criu flags both take.
    fn criu_command(&self, verb: &str, spec: &CheckpointSpec) -> Command {
        let mut cmd = self.command();
        if let Some(criu) = &spec.criu {
            cmd.arg("--criu").arg(criu);
        }
        cmd.arg(verb).arg("--image-path").arg(&spec.image_path);
        if let Some(w) = &spec.work_path {
            cmd.arg("--work-path").arg(w);
        }
        let flags = [
            (spec.tcp_established, "--tcp-established"),
            (spec.ext_unix_sk, "--ext-unix-sk"),
            (spec.shell_job, "--shell-job"),
            (spec.file_locks, "--file-locks"),
        ];
        cmd.args(flags.iter().filter(|f| f.0).map(|f| f.1));
        for ns in &spec.empty_namespaces {
            cmd.arg("--empty-ns").arg(ns);
        }
        if let Some(mode) = &spec.cgroups_mode {
            cmd.arg("--manage-cgroups-mode").arg(mode);
        }
        cmd
    }

    fn simple(&self, what: &str, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut cmd = self.command();
        cmd.args(args).stdin(Stdio::null());
        self.run(what, cmd)
    }
}

impl Backend for Runtime {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String> {
        let mut cmd = self.command();
        cmd.args(["create", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file);
        if self.no_pivot {
            cmd.arg("--no-pivot");
        }
        if self.no_new_keyring {
            cmd.arg("--no-new-keyring");
        }
        if let Some(sock) = console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(id);
        self.run_with_io(&format!("creating container {id}"), cmd, io)
    }

    fn exec(
        &self,
        id: &str,
        process_json: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String> {
        let mut cmd = self.command();
        cmd.args(["exec", "--detach", "--process"])
            .arg(process_json)
            .arg("--pid-file")
            .arg(pid_file);
        if let Some(sock) = console_socket {
            cmd.arg("--console-socket").arg(sock);
        }
        cmd.arg(id);
        self.run_with_io(&format!("exec in container {id}"), cmd, io)
    }

    fn start(&self, id: &str) -> Result<(), String> {
        self.simple(&format!("starting container {id}"), &["start", id])
            .map(drop)
    }

    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), String> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.simple(&format!("signalling container {id}"), &args)
            .map(drop)
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), String> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.simple(&format!("deleting container {id}"), &args)
            .map(drop)
    }

    fn pause(&self, id: &str) -> Result<(), String> {
        self.simple(&format!("pausing container {id}"), &["pause", id])
            .map(drop)
    }

    fn resume(&self, id: &str) -> Result<(), String> {
        self.simple(&format!("resuming container {id}"), &["resume", id])
            .map(drop)
    }

    /// Applies new resources (an OCI LinuxResources JSON document).
    fn update(&self, id: &str, resources: &[u8]) -> Result<(), String> {
        use std::io::Write;
        let what = format!("updating container {id}");
        let mut cmd = self.command();
        cmd.args(["update", "--resources", "-", id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{what}: running {}: {e}", self.binary))?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(resources);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{what}: waiting for {}: {e}", self.binary))?;
        if out.status.success() {
            return Ok(());
        }
        Err(self.failure(&what, &out))
    }

    fn stats(&self, id: &str) -> Result<serde_json::Value, String> {
        let out = match self.simple(
            &format!("reading statistics of container {id}"),
            &["events", "--stats", id],
        ) {
            Ok(out) => out,
            // Not every runtime has `events` (crun has none): read the cgroup ourselves.
            Err(e) => return self.cgroup_stats(id).map_err(|why| format!("{e}; {why}")),
        };
        let mut v: serde_json::Value = serde_json::from_slice(&out)
            .map_err(|e| format!("parsing the statistics of container {id}: {e}"))?;
        Ok(v["data"].take())
    }

    fn checkpoint(&self, id: &str, spec: &CheckpointSpec) -> Result<(), String> {
        let mut cmd = self.criu_command("checkpoint", spec);
        if !spec.exit {
            cmd.arg("--leave-running");
        }
        cmd.arg(id).stdin(Stdio::null());
        self.run(&format!("checkpointing container {id}"), cmd)
            .map(drop)
    }

    fn restore(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        spec: &CheckpointSpec,
        io: ProcessIo,
    ) -> Result<(), String> {
        let mut cmd = self.criu_command("restore", spec);
        // The shim is the subreaper that reaps the restored init, as with `create`.
        if self.no_pivot {
            cmd.arg("--no-pivot");
        }
        cmd.args(["--detach", "--no-subreaper", "--bundle"])
            .arg(bundle)
            .arg("--pid-file")
            .arg(pid_file)
            .arg(id);
        self.run_with_io(&format!("restoring container {id}"), cmd, io)
    }

    fn ps(&self, id: &str) -> Result<Vec<u32>, String> {
        let out = self.simple(
            &format!("listing processes of container {id}"),
            &["ps", "--format", "json", id],
        )?;
        serde_json::from_slice::<Vec<u32>>(&out)
            .map_err(|e| format!("parsing the process list of container {id}: {e}"))
    }
}
