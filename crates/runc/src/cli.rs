//! runc 1.1's command line, flag for flag (see `runc --help`).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "gantry-runc",
    about = "gantry-runc: a runc-compatible OCI runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Enable debug logging.
    #[arg(long)]
    pub debug: bool,
    /// Where to write logs (default: stderr).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Root directory for container state (tmpfs recommended).
    #[arg(long, default_value = "/run/gantry-runc")]
    pub root: PathBuf,
    /// Path to the criu binary for checkpoint and restore.
    #[arg(long, default_value = "criu")]
    pub criu: String,
    /// Use systemd to manage cgroups.
    #[arg(long = "systemd-cgroup")]
    pub systemd_cgroup: bool,
    /// Rootless container mode: true, false or auto.
    #[arg(long, default_value = "auto")]
    pub rootless: String,
    /// Print the version.
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new specification file (config.json).
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// Generate a configuration for a rootless container.
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container (its process waits for `start`).
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Create and start a container.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Detach from the container's process.
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
        /// Do not make this process a subreaper (accepted for compatibility).
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Print a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init (or all its processes).
    Kill {
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
        /// Send the signal to every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Delete containers and their resources.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Kill a running container first.
        #[arg(short, long)]
        force: bool,
    },
    /// List containers.
    List {
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only the container ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a new process inside a running container.
    Exec(ExecArgs),
    /// List the processes running inside a container.
    #[command(trailing_var_arg = true)]
    Ps {
        id: String,
        /// table or json.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Options passed to ps(1) (default: -ef).
        #[arg(allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Update a container's resource limits.
    Update(UpdateArgs),
    /// Display container events (stats, OOM).
    Events {
        id: String,
        /// Print stats once and exit.
        #[arg(long)]
        stats: bool,
        /// Stats collection interval (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Show what this runtime supports (runtime-spec features JSON).
    Features,
    /// Suspend every process of a container.
    Pause { id: String },
    /// Resume a paused container.
    Resume { id: String },
    /// Checkpoint a running container with criu.
    Checkpoint(CheckpointArgs),
    /// Restore a container from a checkpoint made with criu.
    Restore(RestoreArgs),
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    pub id: String,
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra descriptors (3..3+N) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup of the container: [controller:]path, repeatable.
    #[arg(long)]
    pub cgroup: Vec<String>,
}

#[derive(Args, Debug)]
#[command(trailing_var_arg = true)]
pub struct ExecArgs {
    pub id: String,
    /// The command and its arguments (unless --process is given).
    #[arg(allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// A process.json (runtime-spec process) to run instead of COMMAND.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Current working directory in the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE), repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// uid[:gid] to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ids, repeatable.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process.
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process.
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability (bounding, effective, permitted), repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in an existing sub-cgroup of the container: [controller:]path, repeatable.
    #[arg(long)]
    pub cgroup: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    pub id: String,
    /// JSON file with the new linux.resources ("-" for stdin).
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (bytes, or with a k/m/g suffix; -1 for unlimited).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit.
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

/// criu options shared by checkpoint and restore (runc's names).
#[derive(Args, Debug)]
pub struct CriuArgs {
    /// Where the checkpoint images are (default: ./checkpoint).
    #[arg(long = "image-path", value_name = "DIR")]
    pub image_path: Option<PathBuf>,
    /// Where criu writes its log and temporary files (default: the image path).
    #[arg(long = "work-path", value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections.
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs (a process attached to the caller's terminal).
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks.
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// criu's cgroups mode: soft, full, strict or ignore.
    #[arg(long = "manage-cgroups-mode", value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// A previous (pre-)dump's images, relative to the image path.
    #[arg(long = "parent-path", value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint.
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Dump memory only (for a later dump with --parent-path).
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    pub id: String,
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the restored container's process.
    #[arg(short, long)]
    pub detach: bool,
    /// Unix socket that receives the pty master of a terminal container.
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// File to write the restored init's pid to.
    #[arg(long = "pid-file", value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for compatibility: criu sets up the root itself.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for compatibility.
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

/// runc parses flags with Go's rules, where `-name` is the same as `--name`, and
/// callers rely on it (containerd's go-runc passes `-no-subreaper` to `restore`).
/// Rewrites such arguments to clap's `--name` when `name` is a long flag of the
/// command or of the subcommand being parsed, up to the subcommand's first operand
/// (where Go's parser stops too); anything else is left as it is.
pub fn go_style_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    // Building clap's command tree costs memory and time: only when some argument
    // could be a Go-style long flag.
    let go_style = |a: &std::ffi::OsString| {
        a.to_str()
            .is_some_and(|s| s.len() > 2 && s.starts_with('-') && !s.starts_with("--"))
    };
    if !args.iter().skip(1).any(go_style) {
        return args;
    }
    let root = <Cli as clap::CommandFactory>::command();
    // Long flag names, and whether each takes a value.
    let longs = |c: &clap::Command| -> Vec<(String, bool)> {
        c.get_arguments()
            .filter_map(|a| {
                let takes = a.get_action().takes_values();
                a.get_long().map(|l| (l.to_string(), takes))
            })
            .collect()
    };
    let mut known = longs(&root);
    let mut in_sub = false;
    let mut out = Vec::new();
    let mut rest = args.into_iter();
    out.extend(rest.next());
    while let Some(arg) = rest.next() {
        let Some(s) = arg.to_str().map(String::from) else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            out.push(arg);
            break;
        }
        let flag = s.strip_prefix("--").or_else(|| s.strip_prefix('-'));
        match flag.filter(|f| f.len() > 1) {
            Some(f) => {
                let (name, inline_value) = match f.split_once('=') {
                    Some((n, _)) => (n, true),
                    None => (f, false),
                };
                match known.iter().find(|(k, _)| k == name) {
                    Some((_, takes)) => {
                        out.push(format!("--{f}").into());
                        if *takes && !inline_value {
                            out.extend(rest.next());
                        }
                    }
                    None => out.push(arg),
                }
            }
            None if s.starts_with('-') => out.push(arg),
            None if in_sub => {
                out.push(arg);
                break;
            }
            None => {
                if let Some(sub) = root.find_subcommand(&s) {
                    known.extend(longs(sub));
                }
                in_sub = true;
                out.push(arg);
            }
        }
    }
    out.extend(rest);
    out
}

#[cfg(test)]
mod go_style_tests {
    use super::go_style_args;
    use std::ffi::OsString;

    fn rewrite(args: &[&str]) -> Vec<String> {
        go_style_args(args.iter().map(OsString::from))
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        assert_eq!(
            rewrite(&[
                "runc",
                "-root",
                "/r",
                "restore",
                "-no-subreaper",
                "-pid-file=p",
                "-bundle",
                "b",
                "c1"
            ]),
            [
                "runc",
                "--root",
                "/r",
                "restore",
                "--no-subreaper",
                "--pid-file=p",
                "--bundle",
                "b",
                "c1"
            ]
        );
    }

    #[test]
    fn short_flags_unknown_names_and_operands_are_kept() {
        assert_eq!(
            rewrite(&["runc", "exec", "-t", "c1", "ls", "-detach"]),
            ["runc", "exec", "-t", "c1", "ls", "-detach"]
        );
        assert_eq!(
            rewrite(&["runc", "kill", "-bogus", "c1", "-9", "--", "-all"]),
            ["runc", "kill", "-bogus", "c1", "-9", "--", "-all"]
        );
    }
}
