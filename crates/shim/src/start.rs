//! The short-lived binary calls: `start` (bind the socket, spawn the serving shim in its
//! own session, print the address) and `delete` (clean up after a dead shim).

use crate::flags::Flags;
use crate::paths;
use crate::proto::{now, Any, BootstrapParams, DeleteResponse};
use prost::Message;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Annotations that put several containers in one shim (one shim per pod).
const GROUP_ANNOTATIONS: &[&str] = &[
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

fn grouping(bundle: &Path, id: &str) -> String {
    let Ok(data) = std::fs::read(bundle.join("config.json")) else {
        return id.to_string();
    };
    let Ok(spec) = serde_json::from_slice::<serde_json::Value>(&data) else {
        return id.to_string();
    };
    GROUP_ANNOTATIONS
        .iter()
        .find_map(|k| spec["annotations"][k].as_str().map(String::from))
        .unwrap_or_else(|| id.to_string())
}

fn write_address(bundle: &Path, address: &str) -> Result<(), String> {
    let path = bundle.join("address");
    let tmp = bundle.join(".address.tmp");
    std::fs::write(&tmp, address)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// What containerd wrote to `start`'s stdin: 2.3+ sends its BootstrapParams (naming its
/// version, the runtime options in an extension), older ones the runtime options `Any`
/// or nothing. Read to the end either way, so containerd's write never fails.
fn read_stdin() -> (Option<BootstrapParams>, Option<Any>) {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    if let Some(b) = BootstrapParams::decode(input.as_slice())
        .ok()
        .filter(|b| !b.containerd_version.is_empty())
    {
        let options = b
            .extensions
            .iter()
            .filter_map(|e| e.value.clone())
            .find(|a| a.type_url.ends_with("Options"));
        return (Some(b), options);
    }
    let options = Any::decode(input.as_slice())
        .ok()
        .filter(|a| !a.type_url.is_empty());
    (None, options)
}

/// Moves the serving shim into the runtime options' ShimCgroup (an existing cgroup,
/// absolute or relative to ours, in every hierarchy where it exists), as the stock
/// shim does.
fn join_shim_cgroup(options: Option<&Any>, pid: u32) -> Result<(), String> {
    let options = crate::options::from_any(options)?;
    if options.shim_cgroup.is_empty() {
        return Ok(());
    }
    let path = std::path::Path::new(&options.shim_cgroup);
    let cgroup = gantry_oci::cgroups::CgroupManager::new(Some(path), "shim")
        .map_err(|e| format!("shim cgroup {}: {e}", path.display()))?;
    let mut joined = 0;
    for dir in cgroup.paths().filter(|d| d.is_dir()) {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .map_err(|e| format!("moving the shim into {}: {e}", procs.display()))?;
        joined += 1;
    }
    if joined == 0 {
        return Err(format!(
            "shim cgroup {}: no such cgroup in any hierarchy",
            path.display()
        ));
    }
    Ok(())
}

/// The answer on stdout: a containerd that sent BootstrapParams (2.3+) gets the JSON
/// bootstrap result and talks Task v3 to us; older ones only understand the bare
/// address (1.6 dials whatever it reads) and talk Task v2.
fn announce(address: &str, bootstrap: Option<&BootstrapParams>) -> Result<(), String> {
    let text = match bootstrap {
        Some(_) => {
            serde_json::json!({"version": 3, "address": address, "protocol": "ttrpc"}).to_string()
        }
        None => address.to_string(),
    };
    let mut out = std::io::stdout();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| format!("printing the address: {e}"))
}

pub fn start(flags: &Flags) -> Result<(), String> {
    if flags.namespace.is_empty() || flags.id.is_empty() {
        return Err("start needs -namespace and -id".into());
    }
    let (bootstrap, options) = read_stdin();
    let bundle = flags.bundle_dir()?;
    let group = grouping(&bundle, &flags.id);
    let socket_dir = bootstrap
        .as_ref()
        .and_then(|b| b.socket_dir.as_deref())
        .filter(|d| !d.is_empty());
    let sock = paths::socket_path(&flags.address, &flags.namespace, &group, socket_dir);
    let address = format!("unix://{}", sock.display());
    if let Some(dir) = sock.parent() {
        // Only root (containerd) may reach a shim: the directory we make is 0700.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let listener = match UnixListener::bind(&sock) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(&sock).is_ok() {
                // A live shim for this group already serves: reuse it.
                write_address(&bundle, &address)?;
                return announce(&address, bootstrap.as_ref());
            }
            std::fs::remove_file(&sock)
                .map_err(|e| format!("removing stale socket {}: {e}", sock.display()))?;
            UnixListener::bind(&sock).map_err(|e| format!("binding {}: {e}", sock.display()))?
        }
        Err(e) => return Err(format!("binding {}: {e}", sock.display())),
    };
    let cleanup = |e: String| {
        let _ = std::fs::remove_file(&sock);
        e
    };
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| cleanup(format!("restricting {}: {e}", sock.display())))?;
    write_address(&bundle, &address).map_err(cleanup)?;

    let exe = std::env::current_exe().map_err(|e| cleanup(format!("finding own binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.args(["-namespace", &flags.namespace, "-id", &flags.id])
        .args(["-address", &flags.address])
        .args(["-publish-binary", &flags.publish_binary]);
    if flags.debug {
        cmd.arg("-debug");
    }
    cmd.current_dir(&bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let fd = listener.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (setsid, dup2, fcntl).
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: the shim must outlive containerd and its process group.
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if fd == 3 {
                let flags = libc::fcntl(3, libc::F_GETFD);
                libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| cleanup(format!("spawning the shim: {e}")))?;
    drop(listener);
    if let Err(e) = join_shim_cgroup(options.as_ref(), child.id()) {
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        return Err(cleanup(e));
    }
    crate::log::debug(&format!("shim {} serving {address}", child.id()));
    announce(&address, bootstrap.as_ref())
}

pub fn delete(flags: &Flags) -> Result<(), String> {
    let bundle = flags.bundle_dir()?;
    // Without a record, Create never ran far enough to make a container; runc's
    // defaults are the harmless guess.
    let choice = crate::backend::Choice::load(&bundle).unwrap_or_else(|| {
        let runc = crate::proto::RuncOptions {
            binary_name: "runc".into(),
            ..Default::default()
        };
        crate::backend::Choice::new(&runc, &flags.address, &flags.namespace)
    });
    if let Err(e) = choice.open(&bundle).delete(&flags.id, true) {
        crate::log::warn(&format!("deleting container {}: {e}", flags.id));
    }
    crate::mount::unmount_all(&bundle.join("rootfs"));
    let pid = std::fs::read_to_string(bundle.join("init.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if let Ok(addr) = std::fs::read_to_string(bundle.join("address")) {
        let _ = std::fs::remove_file(addr.trim().trim_start_matches("unix://"));
    }
    let resp = DeleteResponse {
        pid,
        exit_status: 128 + libc::SIGKILL as u32,
        exited_at: Some(now()),
    };
    std::io::stdout()
        .write_all(&resp.encode_to_vec())
        .map_err(|e| format!("writing the delete response: {e}"))
}
