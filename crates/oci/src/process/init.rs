//! The container's init: runs in the freshly cloned child, builds the
//! container around itself, reports Ready, blocks on the exec fifo until
//! `start`, then execs the user's program.
//!
//! Everything that can fail for a reason in the config happens before Ready,
//! so that `create` (not `start`) reports it, as runc does.

use super::sync::{Channel, Msg};
use super::{capabilities, console, exec, rlimits, user};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Kind};
use crate::namespaces::Plan;
use crate::rootfs::{self, RootfsContext};
use crate::seccomp::{Point, Program};
use crate::state::{spec_state_json, Status};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::io::Write;
use std::os::fd::RawFd;
use std::path::Path;

pub struct InitArgs<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub sync: &'a Channel,
    /// O_PATH descriptor of the exec fifo, reopened for writing after pivot_root.
    pub fifo: RawFd,
    pub console_socket: Option<RawFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors 3..3+N are passed to the container.
    pub preserve_fds: u32,
    /// The parent sends Go once id maps are written and the cgroup joined.
    pub wait_go: bool,
    /// The cgroup namespace is unshared here, once inside the cgroup.
    pub unshare_cgroupns: bool,
    /// The parent's descriptors this process inherited but must not hold:
    /// the parent's end of the sync socket (else a dead parent is never
    /// noticed) and the state-dir lock.
    pub inherited: [RawFd; 2],
    /// linux.seccomp, compiled by the parent.
    pub seccomp: Option<&'a Program>,
    /// The container's cgroup (what a cgroup mount binds without a cgroupns).
    pub cgroup: &'a crate::cgroups::CgroupManager,
}

/// Never returns: either execs the container's program or exits non-zero
/// after telling the parent why.
pub fn run(args: InitArgs) -> ! {
    for fd in args.inherited {
        // SAFETY: these descriptors belong to the parent's half of the fork;
        // this process never uses them.
        unsafe { libc::close(fd) };
    }
    match setup(&args) {
        Ok(ready) => {
            // After Ready the parent no longer listens: stderr is all we have.
            let err = finish(&args, ready);
            let _ = writeln!(std::io::stderr(), "gantry init: {err}");
        }
        Err(err) => {
            if args.sync.send(&Msg::Error(err.to_string())).is_err() {
                let _ = writeln!(std::io::stderr(), "gantry init: {err}");
            }
        }
    }
    // SAFETY: _exit skips atexit handlers and stdio flushing that belong to
    // the parent's copy of the process state.
    unsafe { libc::_exit(1) }
}

/// What `setup` prepared for the final exec.
struct Ready {
    /// (path, args, env) to exec; None when the config has no process.
    program: Option<(std::path::PathBuf, Vec<String>, Vec<String>)>,
    host_pid: i32,
    host_proc: std::os::fd::OwnedFd,
}

fn setup(a: &InitArgs) -> Result<Ready> {
    let spec = a.spec;
    // runtime-spec lets `process` be absent at create; `start` then refuses.
    let process = spec.process().as_ref();
    let host_pid = match a.sync.recv()? {
        Some(Msg::Pid(p)) => p,
        Some(Msg::Error(e)) => return Err(Error::Init(e)),
        m => {
            return Err(Error::Init(format!(
                "expected the init pid from the parent, got {m:?}"
            )))
        }
    };
    if a.wait_go {
        a.sync.expect(Msg::Go)?;
    }
    if a.plan.creates(LinuxNamespaceType::User) {
        // Become the mapped root so that mounts and mknod work.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .ctx(|| "setresgid(0) in the user namespace".into())?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .ctx(|| "setresuid(0) in the user namespace".into())?;
    }
    if a.unshare_cgroupns {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .ctx(|| "unsharing the cgroup namespace".into())?;
    }
    // A session of its own: no terminal signals from the caller's session.
    let _ = nix::unistd::setsid();
    if a.plan.creates(LinuxNamespaceType::Uts) {
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(h).ctx(|| format!("hostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            set_domainname(d)?;
        }
    }
    let in_userns = a.plan.has(LinuxNamespaceType::User);
    // The host's procfs, kept to reopen the exec fifo later: the container
    // may have no /proc of its own.
    let host_proc = nix::fcntl::open(
        "/proc",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "opening /proc".into())?;
    // Without a mount namespace of its own the container shares the host's
    // mounts: nothing may be mounted, only chroot (as runc and crun do).
    let own_mounts = a.plan.has(LinuxNamespaceType::Mount);
    if own_mounts {
        rootfs::prepare(&RootfsContext {
            spec,
            rootfs: a.rootfs,
            bundle: a.bundle,
            in_userns,
            new_cgroupns: a.plan.has(LinuxNamespaceType::Cgroup),
            cgroup: Some(a.cgroup),
        })?;
    }
    let state = |status| spec_state_json(a.id, status, host_pid, a.bundle, spec);
    if hooks::has(spec, &[Kind::Prestart, Kind::CreateRuntime]) {
        a.sync.send(&Msg::RunHooks)?;
        a.sync.expect(Msg::HooksDone)?;
    }
    hooks::run(spec, Kind::CreateContainer, &state(Status::Created))?;
    if own_mounts {
        rootfs::pivot(a.rootfs, a.no_pivot)?;
        reopen_null_stdio()?;
    } else {
        nix::unistd::chroot(a.rootfs).ctx(|| format!("chroot {}", a.rootfs.display()))?;
        nix::unistd::chdir("/").ctx(|| "chdir / in the container".into())?;
    }
    // The console before finalize: /dev/console must be created before the
    // root may turn read-only.
    if let Some(process) = process.filter(|p| p.terminal().unwrap_or(false)) {
        let sock = a.console_socket.ok_or_else(|| {
            Error::Spec("process.terminal is true but no console socket was given".into())
        })?;
        let size = process
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup(sock, size)?;
        // SAFETY: the socket was only needed to hand over the pty master.
        unsafe { libc::close(sock) };
    }
    if own_mounts {
        rootfs::finalize(spec)?;
    }
    if !a.no_new_keyring {
        join_session_keyring(a.id);
    }
    let Some(process) = process else {
        return Ok(Ready {
            program: None,
            host_pid,
            host_proc,
        });
    };
    let program = apply_process(
        process,
        in_userns,
        a.preserve_fds,
        a.seccomp.map(|p| (p, a.sync)),
    )?;
    if let Some(p) = a.seccomp {
        p.load_at(Point::BeforeReady, a.sync)?;
    }
    Ok(Ready {
        program: Some(program),
        host_pid,
        host_proc,
    })
}

/// The process attributes shared by the init and `exec`: oom score, rlimits,
/// LSM labels, capabilities, user, no_new_privs, cwd, environment and the
/// program lookup. Returns (program path, args, env) ready for exec.
/// A seccomp filter without no_new_privs is installed here, while the
/// process still holds CAP_SYS_ADMIN.
pub fn apply_process(
    process: &oci_spec::runtime::Process,
    in_userns: bool,
    preserve_fds: u32,
    seccomp: Option<(&Program, &Channel)>,
) -> Result<(std::path::PathBuf, Vec<String>, Vec<String>)> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .ctx(|| format!("process.oomScoreAdj: writing {adj}"))?;
    }
    if let Some(r) = process.rlimits() {
        rlimits::apply(r)?;
    }
    check_lsm(
        process.apparmor_profile().as_deref(),
        process.selinux_label().as_deref(),
    )?;
    // The cwd must exist (runc creates it) and be resolved inside the new root.
    let cwd = process.cwd();
    if std::fs::metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd).ctx(|| format!("process.cwd: creating {}", cwd.display()))?;
    }
    // As runc: enter the cwd as the runtime first (and check it, before a
    // seccomp filter may forbid getcwd); a cwd only the container user may
    // enter is entered after the user switch.
    let entered = enter_cwd(cwd, true)?;
    let caps = capabilities::Plan::new(process.capabilities().as_ref())?;
    // Before any seccomp filter: a profile may deny close_range. Descriptors
    // opened from here on are close-on-exec anyway (Rust opens them so).
    exec::cloexec_from(3 + preserve_fds)?;
    if let Some((p, sync)) = seccomp {
        p.load_at(Point::BeforeCapsDrop, sync)?;
    }
    if let Some(c) = &caps {
        c.before_user_switch()?;
    }
    give_stdio_to(process.user().uid());
    user::switch(process.user(), setgroups_allowed(in_userns))?;
    if let Some(c) = &caps {
        c.after_user_switch()?;
    }
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().ctx(|| "process.noNewPrivileges".into())?;
    }
    if !entered {
        enter_cwd(cwd, false)?;
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_of(process.user().uid())));
    }
    let args: Vec<String> = process.args().clone().unwrap_or_default();
    let path = exec::lookup(&args[0], &env)?;
    Ok((path, args, env))
}

fn finish(a: &InitArgs, ready: Ready) -> Error {
    if let Err(e) = a.sync.send(&Msg::Ready) {
        return e;
    }
    let Some((path, args, env)) = &ready.program else {
        // Nothing to run: `start` refuses and kills us; until then, wait.
        loop {
            nix::unistd::pause();
        }
    };
    // Blocks until `start` opens the fifo for reading.
    let fifo = format!("thread-self/fd/{}", a.fifo);
    let fd = match nix::fcntl::openat(
        &ready.host_proc,
        fifo.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => return Error::sys("opening the exec fifo", e),
    };
    // startContainer hooks run before we answer `start`, so that they have
    // finished when `start` runs the poststart hooks.
    let state = spec_state_json(a.id, Status::Created, ready.host_pid, a.bundle, a.spec);
    // These hooks run programs from the container's rootfs: they get the
    // filter the container's own program gets.
    if hooks::has(a.spec, &[Kind::StartContainer]) {
        if let Some(Err(e)) = a.seccomp.map(|p| p.load_at(Point::BeforeExec, a.sync)) {
            return e;
        }
    }
    if let Err(e) = hooks::run(a.spec, Kind::StartContainer, &state) {
        return e;
    }
    if let Err(e) = nix::unistd::write(&fd, b"0") {
        return Error::sys("writing the exec fifo", e);
    }
    drop(fd);
    reset_signals();
    if let Some(Err(e)) = a.seccomp.map(|p| p.load_at(Point::BeforeExec, a.sync)) {
        return e;
    }
    exec::exec(path, args, env)
}

/// Undo whatever signal mask/dispositions the runtime set (e.g. `run`
/// blocks signals to forward them).
pub(crate) fn reset_signals() {
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&empty),
        None,
    );
    // Ignored dispositions survive exec; Rust's runtime ignores SIGPIPE, and
    // the container's program must start with the defaults.
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: restoring the default disposition is always valid.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
}

/// Hands the standard descriptors to the process's user (owner only; not a device
/// such as /dev/null), as runc does, so that a non-root process can reopen them
/// through /proc/self/fd (`/dev/stdout`). Best effort: a descriptor we may not
/// chown stays as it is.
fn give_stdio_to(uid: u32) {
    for fd in 0..=2 {
        // SAFETY: fds 0-2 stay open for the whole call; borrowed only here.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = nix::sys::stat::fstat(bfd) else {
            continue;
        };
        let kind = st.st_mode & libc::S_IFMT;
        if st.st_uid == uid || kind == libc::S_IFCHR || kind == libc::S_IFBLK {
            continue;
        }
        let _ = nix::unistd::fchown(bfd, Some(nix::unistd::Uid::from_raw(uid)), None);
    }
}

/// Standard descriptors that are the host's /dev/null are swapped for the
/// container's own: a descriptor on a host device node has no business in
/// the container, and criu cannot checkpoint one it cannot find in the
/// container's mounts.
fn reopen_null_stdio() -> Result<()> {
    use nix::sys::stat::{fstat, major, minor, stat, SFlag};
    let Ok(ours) = stat("/dev/null") else {
        return Ok(());
    };
    let mut null: Option<std::os::fd::OwnedFd> = None;
    for fd in 0..=2 {
        // SAFETY: fds 0-2 stay open for the whole call; borrowed only here.
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = fstat(bfd) else { continue };
        let is_null = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
            == SFlag::S_IFCHR
            && major(st.st_rdev) == 1
            && minor(st.st_rdev) == 3;
        if !is_null || (st.st_dev == ours.st_dev && st.st_ino == ours.st_ino) {
            continue;
        }
        if null.is_none() {
            null = Some(
                nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(|| "opening the container's /dev/null".into())?,
            );
        }
        let src = null
            .as_ref()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .unwrap_or(-1);
        // SAFETY: dup2 onto a standard descriptor from one we own.
        if unsafe { libc::dup2(src, fd) } < 0 {
            return Err(std::io::Error::last_os_error())
                .ctx(|| format!("replacing fd {fd} with /dev/null"));
        }
    }
    Ok(())
}

fn set_domainname(d: &str) -> Result<()> {
    // SAFETY: setdomainname reads `len` bytes from a buffer we own.
    let r = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).ctx(|| format!("domainname {d:?}"));
    }
    Ok(())
}

/// A fresh session keyring so containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else {
        return;
    };
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    const KEYCTL_SETPERM: libc::c_long = 5;
    // SAFETY: keyctl with a valid C string; failures (e.g. keyrings disabled)
    // are not fatal, as with runc.
    let key =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if key >= 0 {
        // Possessor all, user view/read/write/search/link/setattr.
        // SAFETY: plain integer arguments.
        unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                KEYCTL_SETPERM,
                key,
                0x3f3f0000u32 as libc::c_long,
            )
        };
    }
}

/// Applies the AppArmor profile / SELinux label for the next exec. Like
/// runc 1.1, asking for either on a host without that LSM is an error.
pub(crate) fn check_lsm(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    validate_lsm(apparmor, selinux)?;
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        std::fs::write("/proc/self/attr/apparmor/exec", format!("exec {p}"))
            .or_else(|_| std::fs::write("/proc/self/attr/exec", format!("exec {p}")))
            .ctx(|| format!("process.apparmorProfile: applying {p:?}"))?;
    }
    if let Some(label) = selinux.filter(|l| !l.is_empty()) {
        std::fs::write("/proc/self/attr/exec", label)
            .ctx(|| format!("process.selinuxLabel: applying {label:?}"))?;
    }
    Ok(())
}

/// Refuses a profile or label whose LSM is not enabled (checked before
/// anything is created).
pub fn validate_lsm(apparmor: Option<&str>, selinux: Option<&str>) -> Result<()> {
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        let enabled = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .map(|s| s.starts_with('Y'))
            .unwrap_or(false);
        if !enabled {
            return Err(Error::Spec(format!(
                "process.apparmorProfile {p:?}: apparmor is not enabled on this host"
            )));
        }
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        if !Path::new("/sys/fs/selinux/enforce").exists() {
            return Err(Error::Spec(format!(
                "process.selinuxLabel {l:?}: selinux is not enabled on this host"
            )));
        }
    }
    Ok(())
}

fn setgroups_allowed(in_userns: bool) -> bool {
    !in_userns
        || std::fs::read_to_string("/proc/self/setgroups")
            .map(|s| s.trim() != "deny")
            .unwrap_or(true)
}

/// chdir + [`verify_cwd`]. On the first try a permission error is not
/// fatal (Ok(false)): the container user may be allowed where we are not.
fn enter_cwd(cwd: &Path, first_try: bool) -> Result<bool> {
    match nix::unistd::chdir(cwd) {
        Ok(()) => verify_cwd().map(|_| true),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) if first_try => Ok(false),
        Err(e) => Err(e).ctx(|| format!("process.cwd: chdir {}", cwd.display())),
    }
}

/// The cwd must be reachable from the container's root; a path outside it
/// (an inherited host directory) shows as "(unreachable)" (CVE-2024-21626).
fn verify_cwd() -> Result<()> {
    let cwd = nix::unistd::getcwd().ctx(|| "getcwd".into())?;
    if !cwd.is_absolute() || cwd.to_string_lossy().starts_with("(unreachable)") {
        return Err(Error::Init(format!(
            "process.cwd resolves outside the container: {}",
            cwd.display()
        )));
    }
    Ok(())
}
