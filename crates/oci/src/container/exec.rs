//! `exec`: run another process inside a running container — join its
//! namespaces and cgroup, then apply the process spec as the init does.

use super::foreground::{block_signals, console_target, supervise, RawTerminal};
use super::Container;
use crate::error::{Context, Error, Result};
use crate::namespaces::flag;
use crate::process::clone::fork_into;
use crate::process::console;
use crate::process::init::apply_process;
use crate::process::sync::{self, Msg};
use crate::seccomp::{Point, Program};
use crate::spec::ns_name;
use crate::state::{spec_state_json, Status};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub struct ExecOpts {
    pub process: Process,
    /// Connected --console-socket, for a terminal process.
    pub console: Option<OwnedFd>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// Existing sub-cgroups to run in (`exec --cgroup [controller:]path`).
    pub cgroup: Vec<(Option<String>, String)>,
}

/// Namespaces in the order they are joined: user first (it grants the
/// rights for the rest), mount last among those that change paths.
const ORDER: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => ns_name(other),
    }
}

impl Container {
    /// Runs `opts.process` in the container. Foreground: returns its exit
    /// code; detached: returns 0 once it runs.
    pub fn exec(self, opts: ExecOpts) -> Result<i32> {
        let status = self.status();
        if matches!(status, Status::Stopped | Status::Paused) {
            return Err(self.bad_status(status, &format!("cannot exec in a {status} container")));
        }
        crate::spec::validate_process(&opts.process)?;
        let pid = self.state.init_pid;
        // runtime-spec's process has no seccomp of its own: an exec'd
        // process gets the container's filter, compiled at create.
        let seccomp = self
            .state
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| {
                let nnp = opts.process.no_new_privileges().unwrap_or(false);
                crate::seccomp::for_exec(&self.dir, s, nnp)
            })
            .transpose()?;
        let in_userns = self
            .state
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::User);
        let ns = open_namespaces(pid, self.state.init_start_time)?;
        let terminal = opts.process.terminal().unwrap_or(false);
        let (console, relay_end) = match (terminal, opts.console) {
            (true, None) if opts.detach => {
                return Err(Error::Spec(
                    "a terminal for a detached exec needs --console-socket".into(),
                ))
            }
            (t, given) => console_target(t, given)?,
        };
        let sfd = if opts.detach {
            None
        } else {
            Some(block_signals()?)
        };
        let (parent_end, child_end) = sync::pair()?;
        let mid = fork_into(0, None)?;
        if mid == 0 {
            // Not ours to hold: the parent's end (so the parent's death is
            // seen as EOF) and the container lock.
            // SAFETY: closing descriptors this forked copy never uses.
            unsafe {
                libc::close(parent_end.raw_fd());
                libc::close(self._lock.as_raw_fd());
            }
            let r = (|| -> Result<i32> {
                for (t, f) in &ns {
                    nix::sched::setns(f.as_fd(), flag(*t))
                        .ctx(|| format!("joining the container's {} namespace", ns_name(*t)))?;
                }
                let child = fork_into(0, None)?;
                if child == 0 {
                    let err = exec_child(
                        &child_end,
                        &opts.process,
                        in_userns,
                        console.as_ref(),
                        opts.preserve_fds,
                        seccomp.as_ref(),
                    );
                    let _ = child_end.send(&Msg::Error(err.to_string()));
                    // SAFETY: leave without running the parent's cleanups.
                    unsafe { libc::_exit(127) };
                }
                Ok(child)
            })();
            let msg = match r {
                Ok(p) => Msg::Pid(p),
                Err(e) => Msg::Error(e.to_string()),
            };
            let code = i32::from(child_end.send(&msg).is_err());
            // SAFETY: as above.
            unsafe { libc::_exit(code) };
        }
        drop(console);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(mid), None);
        let child = match parent_end.recv()? {
            Some(Msg::Pid(p)) => p,
            Some(Msg::Error(e)) => return Err(Error::Init(e)),
            m => return Err(Error::Init(format!("exec set-up failed: {m:?}"))),
        };
        let kill_child = || {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        if let Err(e) = self.state.cgroup.add_pid_to(child, &opts.cgroup) {
            kill_child();
            return Err(e);
        }
        parent_end.send(&Msg::Go)?;
        let master = match relay_end
            .map(|s| console::recv_fd(s.as_raw_fd()))
            .transpose()
        {
            Ok(m) => m,
            Err(e) => {
                kill_child();
                return Err(e);
            }
        };
        loop {
            match parent_end.recv()? {
                Some(Msg::Ready) => break,
                Some(Msg::SeccompFd(fd)) => {
                    let st = spec_state_json(
                        self.id(),
                        Status::Running,
                        pid,
                        &self.state.bundle,
                        &self.state.spec,
                    );
                    let sent =
                        crate::seccomp::forward(seccomp.as_ref(), child, fd, &parent_end, &st);
                    if let Err(e) = sent {
                        kill_child();
                        return Err(e);
                    }
                }
                Some(Msg::Error(e)) => return Err(Error::Init(e)),
                m => return Err(Error::Init(format!("exec: unexpected {m:?}"))),
            }
        }
        if let Some(pf) = &opts.pid_file {
            std::fs::write(pf, child.to_string())
                .map_err(|e| Error::path("writing the pid file", pf, e))?;
        }
        let Some(sfd) = sfd else { return Ok(0) };
        // Unlock the container while the process runs.
        drop(self);
        let _raw = master.as_ref().map(RawTerminal::enter).transpose()?;
        supervise(child, &sfd, master.as_ref())
    }
}

/// The container's namespaces that differ from ours, in join order.
///
/// Opened through a descriptor of `/proc/PID` taken *before* checking the
/// init's start time: if the init died and its pid went to another process
/// the check fails, and if that happens after the check the descriptor stays
/// bound to the dead init and opening its namespaces fails. Either way we
/// never join a stranger's namespaces.
fn open_namespaces(pid: i32, start_time: u64) -> Result<Vec<(LinuxNamespaceType, File)>> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    let dir = format!("/proc/{pid}");
    let proc_dir = File::open(&dir).map_err(|e| Error::path("opening the init's", &dir, e))?;
    if crate::state::proc_stat(pid).map(|(_, t)| t) != Some(start_time) {
        return Err(Error::Init(format!(
            "the container's init (pid {pid}) is gone: refusing to join pid {pid}'s namespaces"
        )));
    }
    let mut out = vec![];
    for t in ORDER {
        let rel = format!("ns/{}", proc_name(t));
        let theirs = match openat(
            &proc_dir,
            rel.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => File::from(fd),
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(format!("opening {dir}/{rel}"), e)),
        };
        let meta = theirs
            .metadata()
            .map_err(|e| Error::path("stat", format!("{dir}/{rel}"), e))?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{}", proc_name(t)));
        if ours.is_ok_and(|o| o.ino() == meta.ino() && o.dev() == meta.dev()) {
            continue;
        }
        out.push((t, theirs));
    }
    Ok(out)
}

/// In the joined namespaces: wait to be in the cgroup, set up the terminal
/// and the process, say Ready, exec.
fn exec_child(
    chan: &sync::Channel,
    process: &Process,
    in_userns: bool,
    console_sock: Option<&OwnedFd>,
    preserve_fds: u32,
    seccomp: Option<&Program>,
) -> Error {
    let r = (|| -> Result<(PathBuf, Vec<String>, Vec<String>)> {
        chan.expect(Msg::Go)?;
        if let Some(sock) = console_sock {
            let _ = nix::unistd::setsid();
            let size = process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            console::setup_without_console_mount(sock.as_raw_fd(), size)?;
        }
        let ready = apply_process(process, in_userns, preserve_fds, seccomp.map(|p| (p, chan)))?;
        // The runtime's own syscalls before the filter goes in; Ready after
        // it, so that a failed load is still reported to the parent.
        crate::process::init::reset_signals();
        if let Some(p) = seccomp {
            p.load_at(Point::BeforeExec, chan)?;
        }
        Ok(ready)
    })();
    match r {
        Ok((path, args, env)) => {
            if let Err(e) = chan.send(&Msg::Ready) {
                return e;
            }
            crate::process::exec::exec(&path, &args, &env)
        }
        Err(e) => e,
    }
}
