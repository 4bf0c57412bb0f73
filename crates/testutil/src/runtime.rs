//! The OCI runtime under test: gantry-runc by default, or whatever `GANTRY_TEST_RUNTIME`
//! names (a path, or a command such as `runc` or `crun` looked up in PATH). Each handle has
//! its own private `--root`; dropping it force-deletes every container still there.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bundle::Bundle;
use crate::check::pid_alive;

/// The variable naming another runtime to run the suite against.
pub const RUNTIME_ENV: &str = "GANTRY_TEST_RUNTIME";

/// How long any single runtime command may take before the test fails instead of hanging.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Cleanup (on drop) waits less: it runs after a failure, often against a wedged container.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A container id unique to this process and call (`<prefix>-<pid>-<n>`).
pub fn unique_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// What a finished runtime command did. Its output was captured in files (not pipes), so a
/// container that inherits stdio after `create`/`run -d` cannot keep the call from returning;
/// [`Out::stdout_now`] rereads what such a container wrote later.
#[derive(Debug)]
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub cmdline: String,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, or `None` when the runtime itself was killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics (showing the command and its output) unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Panics unless the command failed with an exit code (not a crash by signal).
    #[track_caller]
    pub fn fail(self) -> Out {
        assert!(!self.success(), "expected failure:\n{self}");
        assert!(
            self.status.signal().is_none(),
            "runtime died by a signal instead of failing:\n{self}"
        );
        self
    }

    /// What the command's stdout file holds now (a detached container may have added to it).
    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Non-empty stderr lines.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\n[{}]\n--- stdout ---\n{}--- stderr ---\n{}",
            self.cmdline, self.status, self.stdout, self.stderr
        )
    }
}

/// A runtime binary plus a private state root.
pub struct Runtime {
    bin: PathBuf,
    from_env: bool,
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Runtime {
    /// The runtime under test: `$GANTRY_TEST_RUNTIME` if set, else `default_bin` (integration
    /// tests pass `env!("CARGO_BIN_EXE_gantry-runc")`).
    pub fn new(default_bin: impl AsRef<Path>) -> Runtime {
        let (bin, from_env) = match std::env::var(RUNTIME_ENV) {
            Ok(v) if !v.trim().is_empty() => (resolve(v.trim()), true),
            _ => (default_bin.as_ref().to_path_buf(), false),
        };
        let dir = tempfile::Builder::new()
            .prefix("gantry-rt-")
            .tempdir()
            .expect("creating runtime temp dir");
        let root = dir.path().join("root");
        fs::create_dir(&root).expect("creating runtime root");
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).expect("chmod root");
        fs::create_dir(dir.path().join("io")).expect("creating io dir");
        Runtime {
            bin,
            from_env,
            dir,
            root,
        }
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private `--root` every command gets.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The binary's file name (`runc`, `crun`, `gantry-runc`...).
    pub fn name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// True unless `GANTRY_TEST_RUNTIME` names a runtime other than gantry's.
    pub fn is_gantry(&self) -> bool {
        !self.from_env || self.name().contains("gantry")
    }

    pub fn is_runc(&self) -> bool {
        self.name() == "runc"
    }

    /// For behaviour the issue asks of gantry that runc 1.1 does not have: returns true (and
    /// says so on stderr) when the runtime under test is runc, so the caller can skip.
    pub fn runc_deviates(&self, what: &str) -> bool {
        if self.is_runc() {
            eprintln!("skipped under runc (known runc 1.1 deviation): {what}");
            true
        } else {
            false
        }
    }

    /// A command for the runtime with `--root` already set.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Runs the runtime with `args` (after `--root`), stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Out {
        self.cmd_stdin(args, Stdio::null())
    }

    /// Runs the runtime with `args` and the given stdin, output captured, with a timeout.
    #[track_caller]
    pub fn cmd_stdin(&self, args: &[&str], stdin: Stdio) -> Out {
        self.try_cmd(args, stdin, COMMAND_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Runtime::cmd_stdin`], but a hung command is an `Err` (it was killed), not a panic:
    /// for cleanup paths, which must never panic.
    pub fn try_cmd(&self, args: &[&str], stdin: Stdio, timeout: Duration) -> Result<Out, String> {
        let (mut child, out, err, cmdline) = self.spawn(args, stdin);
        let status = wait_timeout(&mut child, timeout)
            .ok_or_else(|| format!("`{cmdline}` did not finish within {timeout:?}"))?;
        Ok(Out {
            status,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
            cmdline,
            stdout_path: out,
            stderr_path: err,
        })
    }

    /// Starts the runtime with `args` without waiting: for foreground `run` tests that signal
    /// it. Returns the child and its stdout/stderr capture files.
    pub fn spawn(&self, args: &[&str], stdin: Stdio) -> (Child, PathBuf, PathBuf, String) {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let out = self.dir.path().join(format!("io/{n}.out"));
        let err = self.dir.path().join(format!("io/{n}.err"));
        let cmdline = format!(
            "{} --root {} {}",
            self.bin.display(),
            self.root.display(),
            args.join(" ")
        );
        let child = self
            .command()
            .args(args)
            .stdin(stdin)
            .stdout(File::create(&out).expect("creating stdout capture"))
            .stderr(File::create(&err).expect("creating stderr capture"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning `{cmdline}`: {e}"));
        (child, out, err, cmdline)
    }

    pub fn spec(&self, bundle_dir: &Path, rootless: bool) -> Out {
        let dir = bundle_dir.to_str().expect("UTF-8 path");
        let mut args = vec!["spec", "--bundle", dir];
        if rootless {
            args.push("--rootless");
        }
        self.cmd(&args)
    }

    pub fn create(&self, id: &str, bundle: &Bundle) -> Out {
        self.create_with(id, bundle, &[])
    }

    /// `create [extra...] --bundle B ID`.
    pub fn create_with(&self, id: &str, bundle: &Bundle, extra: &[&str]) -> Out {
        let mut args = vec!["create"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--bundle", bundle.path_str(), id]);
        self.cmd(&args)
    }

    pub fn start(&self, id: &str) -> Out {
        self.cmd(&["start", id])
    }

    /// Foreground `run --bundle B ID`: returns when the container exits.
    pub fn run(&self, id: &str, bundle: &Bundle) -> Out {
        self.cmd(&["run", "--bundle", bundle.path_str(), id])
    }

    pub fn run_detached(&self, id: &str, bundle: &Bundle) -> Out {
        self.cmd(&["run", "-d", "--bundle", bundle.path_str(), id])
    }

    /// Parsed `state ID`; panics if the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]).ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}):\n{out}"))
    }

    /// The `status` field of `state ID`, or `None` when state fails (no such container).
    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.cmd(&["state", id]);
        if !out.success() {
            return None;
        }
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        let state = self.state(id);
        state["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no pid: {state}")) as i32
    }

    pub fn kill(&self, id: &str, signal: &str) -> Out {
        self.cmd(&["kill", id, signal])
    }

    pub fn kill_all(&self, id: &str, signal: &str) -> Out {
        self.cmd(&["kill", "--all", id, signal])
    }

    pub fn delete(&self, id: &str) -> Out {
        self.cmd(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Out {
        self.cmd(&["delete", "--force", id])
    }

    /// Container ids from `list -q`.
    #[track_caller]
    pub fn list_ids(&self) -> Vec<String> {
        let out = self.cmd(&["list", "-q"]).ok();
        out.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Parsed `list --format json` (runc prints `null` when there is nothing).
    #[track_caller]
    pub fn list_json(&self) -> Vec<Value> {
        let out = self.cmd(&["list", "--format", "json"]).ok();
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(Value::Array(items)) => items,
            Ok(Value::Null) => Vec::new(),
            other => panic!("list --format json gave {other:?}:\n{out}"),
        }
    }

    pub fn ps(&self, id: &str, extra: &[&str]) -> Out {
        let mut args = vec!["ps"];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn exec(&self, id: &str, cmd: &[&str]) -> Out {
        let mut args = vec!["exec", id];
        args.extend_from_slice(cmd);
        self.cmd(&args)
    }

    /// Ids with a state directory under the root.
    fn ids_in_root(&self) -> Vec<String> {
        fs::read_dir(&self.root)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Never panics: a panic here during a failing test's unwinding would abort the binary.
        for id in self.ids_in_root() {
            let pid = self
                .try_cmd(&["state", &id], Stdio::null(), CLEANUP_TIMEOUT)
                .ok()
                .and_then(|out| out.stdout.parse::<Value>().ok())
                .and_then(|v| v["pid"].as_i64())
                .unwrap_or(0) as i32;
            match self.try_cmd(&["delete", "--force", &id], Stdio::null(), CLEANUP_TIMEOUT) {
                Ok(out) if out.success() => {}
                Ok(out) => eprintln!("gantry-testutil: cleanup of {id} failed:\n{out}"),
                Err(e) => eprintln!("gantry-testutil: cleanup of {id} failed: {e}"),
            }
            // A runtime that failed to reap its container must not leave it running.
            if pid > 0 && pid_alive(pid) {
                eprintln!(
                    "gantry-testutil: {id}'s process {pid} survived delete --force; killing it"
                );
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Waits for `child`, killing it and returning `None` after `timeout`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => panic!("waiting for child {}: {e}", child.id()),
        }
    }
}

/// A path as is, or a bare name looked up in PATH.
fn resolve(name: &str) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{RUNTIME_ENV}={name}: not found in PATH"))
}
