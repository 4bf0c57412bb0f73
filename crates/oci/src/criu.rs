//! criu(8) command lines for `checkpoint` and `restore`, and turning a failed
//! run into an error that says what criu said.
//!
//! We drive the `criu` CLI rather than its swrk RPC: everything checkpoint
//! and restore need is a flag, and the log file criu writes is where its
//! reasons are (the RPC answers only with an errno).

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

/// `--manage-cgroups=MODE`: how criu treats the cgroups of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupsMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

impl FromStr for CgroupsMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "soft" => Ok(CgroupsMode::Soft),
            "full" => Ok(CgroupsMode::Full),
            "strict" => Ok(CgroupsMode::Strict),
            "ignore" => Ok(CgroupsMode::Ignore),
            _ => Err(Error::Other(format!(
                "--manage-cgroups-mode {s:?}: expected soft, full, strict or ignore"
            ))),
        }
    }
}

impl CgroupsMode {
    fn as_str(self) -> &'static str {
        match self {
            CgroupsMode::Soft => "soft",
            CgroupsMode::Full => "full",
            CgroupsMode::Strict => "strict",
            CgroupsMode::Ignore => "ignore",
        }
    }
}

/// What checkpoint and restore share: where images live and the criu
/// options with runc's flag names.
#[derive(Debug, Clone)]
pub struct CriuOpts {
    /// The criu binary (runc's global `--criu`).
    pub bin: PathBuf,
    pub image_path: PathBuf,
    /// Where criu puts its log and temporary files (default: the images).
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub file_locks: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub manage_cgroups_mode: Option<CgroupsMode>,
}

impl Default for CriuOpts {
    fn default() -> Self {
        CriuOpts {
            bin: PathBuf::from("criu"),
            image_path: PathBuf::from("checkpoint"),
            work_path: None,
            tcp_established: false,
            file_locks: false,
            ext_unix_sk: false,
            shell_job: false,
            manage_cgroups_mode: None,
        }
    }
}

/// One criu run being assembled.
pub struct Invocation {
    bin: PathBuf,
    action: &'static str,
    args: Vec<OsString>,
    log: PathBuf,
}

impl Invocation {
    /// `criu ACTION` with the images, work dir, log and the shared flags.
    pub fn new(action: &'static str, opts: &CriuOpts) -> Self {
        let log_name = format!("{action}.log");
        let log_dir = opts.work_path.as_ref().unwrap_or(&opts.image_path);
        let mut inv = Invocation {
            bin: opts.bin.clone(),
            action,
            args: Vec::new(),
            log: log_dir.join(&log_name),
        };
        inv.arg("--images-dir").arg(&opts.image_path);
        if let Some(w) = &opts.work_path {
            inv.arg("--work-dir").arg(w);
        }
        // The log goes to the work dir; -v4 so a failure can be explained.
        inv.arg("--log-file").arg(&log_name).arg("-v4");
        match opts.manage_cgroups_mode {
            Some(m) => inv.arg(format!("--manage-cgroups={}", m.as_str())),
            None => inv.arg("--manage-cgroups"),
        };
        for (on, flag) in [
            (opts.tcp_established, "--tcp-established"),
            (opts.file_locks, "--file-locks"),
            (opts.ext_unix_sk, "--ext-unix-sk"),
            (opts.shell_job, "--shell-job"),
        ] {
            if on {
                inv.arg(flag);
            }
        }
        inv
    }

    pub fn arg(&mut self, a: impl Into<OsString>) -> &mut Self {
        self.args.push(a.into());
        self
    }

    /// An external mount: at dump KEY is the mount point in the container
    /// and VAL the name recorded; at restore KEY is that name and VAL the
    /// host path bound in its place.
    pub fn ext_mount(&mut self, key: &Path, val: &Path) -> &mut Self {
        let mut m = OsString::from(key);
        m.push(":");
        m.push(val);
        self.arg("--ext-mount-map").arg(m)
    }

    /// The command line, for logs and tests.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Runs criu with our stdio (a restore hands them to the restored tree
    /// through --inherit-fd) and an empty signal mask (a foreground restore
    /// blocks signals to forward them; criu needs SIGCHLD). `what` names
    /// the operation in the error.
    pub fn run(&self, what: &str) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(self.action).args(&self.args);
        // SAFETY: sigprocmask is async-signal-safe and touches only the
        // child's own mask between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let empty = nix::sys::signal::SigSet::empty();
                nix::sys::signal::sigprocmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&empty),
                    None,
                )
                .map_err(std::io::Error::from)
            });
        }
        let status = cmd.status().map_err(|e| {
            Error::Other(format!(
                "{what}: running criu ({}): {e} (install criu or pass --criu PATH)",
                self.bin.display()
            ))
        })?;
        if status.success() {
            return Ok(());
        }
        let reasons = errors_in_log(&self.log);
        let reasons = if reasons.is_empty() {
            "no error in its log".to_string()
        } else {
            reasons.join("; ")
        };
        Err(Error::Other(format!(
            "{what}: criu {} failed ({status}): {reasons} (criu binary {}; log {})",
            self.action,
            self.bin.display(),
            self.log.display()
        )))
    }
}

/// The first few `Error (file:line): message` lines of a criu log, message
/// only. criu logs a failed RLIMIT_NOFILE raise as an error and carries on:
/// it explains nothing, so it is left out.
pub fn errors_in_log(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find("Error (")?..];
            let msg = rest[rest.find("): ").map(|i| i + 3)?..].trim();
            Some(msg.to_string())
        })
        .filter(|m| !m.contains("RLIMIT_NOFILE"))
        .take(5)
        .collect()
}

/// The link targets of `pid`'s descriptors 0..2 (runc's descriptors.json):
/// a restore gives the pipes among them back as the caller's stdio.
pub fn stdio_links(pid: i32) -> Vec<String> {
    (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_flags_and_log_in_work_dir() {
        let opts = CriuOpts {
            image_path: "/img".into(),
            work_path: Some("/work".into()),
            tcp_established: true,
            shell_job: true,
            manage_cgroups_mode: Some(CgroupsMode::Strict),
            ..Default::default()
        };
        let mut inv = Invocation::new("dump", &opts);
        inv.ext_mount(Path::new("/data"), Path::new("/data"));
        let args: Vec<String> = inv
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("--images-dir /img --work-dir /work --log-file dump.log -v4"));
        assert!(args.contains(&"--manage-cgroups=strict".to_string()));
        assert!(args.contains(&"--tcp-established".to_string()));
        assert!(args.contains(&"--shell-job".to_string()));
        assert!(!args.contains(&"--file-locks".to_string()));
        assert!(joined.ends_with("--ext-mount-map /data:/data"));
        assert_eq!(inv.log, Path::new("/work/dump.log"));
    }

    #[test]
    fn log_errors_are_extracted_without_noise() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dump.log");
        std::fs::write(
            &log,
            "(00.01) Warn  (criu/kerndat.c:1637): no nftables\n\
             (00.02) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: EPERM\n\
             (00.03) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n\
             (00.04) Error (criu/crtools.c:260): Could not initialize kernel features detection.\n",
        )
        .unwrap();
        assert_eq!(
            errors_in_log(&log),
            vec![
                "vdso: Unexpected rt vDSO area bounds".to_string(),
                "Could not initialize kernel features detection.".to_string()
            ]
        );
        assert!(errors_in_log(&dir.path().join("missing.log")).is_empty());
    }

    #[test]
    fn cgroups_modes_parse() {
        assert_eq!(
            "full".parse::<CgroupsMode>().unwrap().as_str(),
            CgroupsMode::Full.as_str()
        );
        let e = "loose".parse::<CgroupsMode>().unwrap_err().to_string();
        assert!(e.contains("loose"), "{e}");
    }
}
