//! `create`: build the container up to the point where its init waits on the
//! exec fifo. On any failure nothing is left: no state dir, cgroup or process.

use super::{validate_id, Container, Undo};
use crate::cgroups::CgroupManager;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::namespaces::Plan;
use crate::process::clone::fork_into;
use crate::process::init::{self, InitArgs};
use crate::process::sync::{self, Msg};
use crate::rootfs;
use crate::spec::{load_bundle, Bundle};
use crate::state::{now_rfc3339, proc_stat, spec_state_json, State, Status, EXEC_FIFO};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone)]
pub struct CreateOpts {
    pub id: String,
    pub bundle: PathBuf,
    pub root: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Creates container `opts.id`; `console` is the connected console socket
/// when the process wants a terminal.
pub fn create(opts: &CreateOpts, console: Option<OwnedFd>) -> Result<Container> {
    create_relaying(opts, console, false).map(|(c, _)| c)
}

/// As [`create`]; with `relay`, a terminal without a console socket gets a
/// socketpair whose far end (returned) will receive the pty master — for a
/// foreground `run` that relays the terminal itself.
pub(crate) fn create_relaying(
    opts: &CreateOpts,
    console: Option<OwnedFd>,
    relay: bool,
) -> Result<(Container, Option<OwnedFd>)> {
    validate_id(&opts.id)?;
    let bundle = load_bundle(&opts.bundle)?;
    rootfs::validate(&bundle.spec, &bundle.dir)?;
    let plan = Plan::from_spec(&bundle.spec);
    if !plan.has(LinuxNamespaceType::Mount) {
        // Shared host mounts: only chroot is done (see process::init).
        if bundle
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false)
        {
            return Err(Error::Spec(
                "process.terminal needs a mount namespace (the pty is mounted on /dev/console)"
                    .into(),
            ));
        }
        if bundle.spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
            eprintln!("warning: no mount namespace: the config's mounts are not made (they would land on the host)");
        }
    }
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console, relay_end) = if relay {
        super::foreground::console_target(terminal, console)?
    } else {
        (console, None)
    };
    match (terminal, console.is_some()) {
        (true, false) => {
            return Err(Error::Spec(
                "process.terminal is true: a --console-socket is needed to receive the terminal"
                    .into(),
            ))
        }
        (false, true) => {
            return Err(Error::Spec(
                "--console-socket was given but process.terminal is false: no terminal to send"
                    .into(),
            ))
        }
        _ => {}
    }
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Spec("linux: missing".into()))?;
    let cgroup = CgroupManager::new(linux.cgroups_path().as_deref(), &opts.id)?;
    let seccomp = linux
        .seccomp()
        .as_ref()
        .map(|s| {
            let nnp = bundle
                .spec
                .process()
                .as_ref()
                .and_then(|p| p.no_new_privileges());
            crate::seccomp::compile(s, nnp.unwrap_or(false))
        })
        .transpose()?;

    let dir = super::make_state_dir(&opts.root, &opts.id)?;
    let mut undo = Undo::new(&dir);
    let lock = super::lock_dir(&dir, &opts.id)?;

    undo.cgroup = Some(cgroup.clone());
    super::make_cgroup(&cgroup, linux)?;

    let fifo_path = dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo_path, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo_path.display()))?;
    // Past the umask: the container user (any uid) must be able to open it.
    std::fs::set_permissions(
        &fifo_path,
        std::os::unix::fs::PermissionsExt::from_mode(0o622),
    )
    .map_err(|e| Error::path("chmod", &fifo_path, e))?;
    let fifo = nix::fcntl::open(&fifo_path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("opening {}", fifo_path.display()))?;

    let (parent_end, child_end) = sync::pair()?;
    let cgroup_dir_fd = open_cgroup_fd(&cgroup)?;
    let mut flags = plan.new;
    // Without CLONE_INTO_CGROUP the init is moved into its cgroup after the
    // clone, so its cgroup namespace must be made after that move.
    let unshare_cgroupns = cgroup_dir_fd.is_none() && flags.contains(CloneFlags::CLONE_NEWCGROUP);
    if unshare_cgroupns {
        flags.remove(CloneFlags::CLONE_NEWCGROUP);
    }
    let wait_go = plan.creates(LinuxNamespaceType::User) || unshare_cgroupns;
    let init_args = InitArgs {
        plan: &plan,
        id: &opts.id,
        spec: &bundle.spec,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        sync: &child_end,
        fifo: fifo.as_raw_fd(),
        console_socket: console.as_ref().map(|c| c.as_raw_fd()),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds,
        wait_go,
        unshare_cgroupns,
        inherited: [parent_end.raw_fd(), lock.as_raw_fd()],
        cgroup: &cgroup,
        seccomp: seccomp.as_ref(),
    };

    let pid = if plan.join.is_empty() && !plan.creates(LinuxNamespaceType::Time) {
        let pid = fork_into(
            flags.bits() as u64,
            cgroup_dir_fd.as_ref().map(|f| f.as_raw_fd()),
        )?;
        if pid == 0 {
            init::run(init_args);
        }
        pid
    } else {
        spawn_via_intermediate(&plan, &bundle, flags, &parent_end, init_args)?
    };
    undo.pid = Some(pid);
    drop(child_end);
    drop(console);

    parent_end.send(&Msg::Pid(pid))?;
    if plan.creates(LinuxNamespaceType::User) {
        write_id_maps(pid, &bundle)?;
    }
    if cgroup_dir_fd.is_none() {
        cgroup.add_pid(pid)?;
    }
    if wait_go {
        parent_end.send(&Msg::Go)?;
    }
    loop {
        match parent_end.recv()? {
            Some(Msg::Ready) => break,
            Some(Msg::RunHooks) => {
                let st = spec_state_json(&opts.id, Status::Created, pid, &bundle.dir, &bundle.spec);
                let r = hooks::run(&bundle.spec, Kind::Prestart, &st)
                    .and_then(|_| hooks::run(&bundle.spec, Kind::CreateRuntime, &st));
                if let Err(e) = r {
                    let _ = parent_end.send(&Msg::Error(e.to_string()));
                    return Err(e);
                }
                parent_end.send(&Msg::HooksDone)?;
            }
            Some(Msg::SeccompFd(fd)) => {
                // The seccomp agent hears "creating", as runc tells it.
                let st =
                    spec_state_json(&opts.id, Status::Creating, pid, &bundle.dir, &bundle.spec);
                crate::seccomp::forward(seccomp.as_ref(), pid, fd, &parent_end, &st)?;
            }
            Some(Msg::Error(e)) => return Err(Error::Init(e)),
            Some(m) => return Err(Error::Init(format!("unexpected message {m:?}"))),
            None => {
                return Err(Error::Init(
                    "exited during set-up without saying why".into(),
                ))
            }
        }
    }
    let start_time = proc_stat(pid)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::Init("exited right after set-up".into()))?;
    let state = State {
        id: opts.id.clone(),
        init_pid: pid,
        init_start_time: start_time,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: now_rfc3339(),
        owner: String::new(),
        cgroup,
        spec: bundle.spec.clone(),
    };
    state.save(&dir)?;
    if let Some(p) = &seccomp {
        p.save(&dir)?;
    }
    if let Some(pf) = &opts.pid_file {
        write_pid_file(pf, pid)?;
    }
    undo.armed = false;
    drop(undo);
    let container = Container {
        state,
        dir,
        _lock: lock,
    };
    Ok((container, relay_end))
}

/// Joins namespaces given by path in a short-lived child, which then clones
/// the init (so that the runtime itself never changes namespaces) and reports
/// its pid.
fn spawn_via_intermediate(
    plan: &Plan,
    bundle: &Bundle,
    flags: CloneFlags,
    parent_end: &sync::Channel,
    args: InitArgs,
) -> Result<i32> {
    // The init's parent exits: make sure its exit status comes back to us.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mid = fork_into(0, None)?;
    if mid == 0 {
        let chan = args.sync;
        let r = (move || -> Result<i32> {
            plan.join_all()?;
            let mut flags = flags;
            if plan.creates(LinuxNamespaceType::Time) {
                flags.remove(CloneFlags::from_bits_retain(0x80));
                nix::sched::unshare(CloneFlags::from_bits_retain(0x80))
                    .ctx(|| "unsharing the time namespace".into())?;
                write_time_offsets(bundle)?;
            }
            let pid = fork_into(flags.bits() as u64, None)?;
            if pid == 0 {
                init::run(args);
            }
            Ok(pid)
        })();
        let msg = match r {
            Ok(pid) => Msg::Pid(pid),
            Err(e) => Msg::Error(e.to_string()),
        };
        let code = i32::from(chan.send(&msg).is_err());
        // SAFETY: leave without running the parent's exit-time cleanups.
        unsafe { libc::_exit(code) };
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(mid), None);
    match parent_end.recv()? {
        Some(Msg::Pid(p)) => Ok(p),
        Some(Msg::Error(e)) => Err(Error::Init(e)),
        m => Err(Error::Init(format!("namespace set-up failed: {m:?}"))),
    }
}

fn write_time_offsets(bundle: &Bundle) -> Result<()> {
    let offsets = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().clone())
        .unwrap_or_default();
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    if !text.is_empty() {
        std::fs::write("/proc/self/timens_offsets", &text)
            .ctx(|| format!("linux.timeOffsets: {}", text.trim()))?;
    }
    Ok(())
}

fn write_id_maps(pid: i32, bundle: &Bundle) -> Result<()> {
    let linux = bundle
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::Spec("linux: missing".into()))?;
    let fmt = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    for (file, maps, field) in [
        ("uid_map", fmt(linux.uid_mappings()), "linux.uidMappings"),
        ("gid_map", fmt(linux.gid_mappings()), "linux.gidMappings"),
    ] {
        if maps.is_empty() {
            continue;
        }
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, &maps).ctx(|| format!("{field}: writing {path}"))?;
    }
    Ok(())
}

fn open_cgroup_fd(cgroup: &CgroupManager) -> Result<Option<OwnedFd>> {
    let Some(dir) = cgroup.unified_dir() else {
        return Ok(None);
    };
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening cgroup {}", dir.display()))?;
    Ok(Some(fd))
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("gantry-tmp");
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| Error::path("writing the pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::path("writing the pid file", path, e))
}
