//! The in-process backend: containers are made and driven by the gantry-oci library
//! inside the shim, no runtime binary exec'd per operation. The library forks, which is
//! sound here because the shim is single-threaded. A process's stdio is whatever the
//! caller has on 0/1/2 (as with runc), so those are swapped in around the call.

use crate::backend::{Backend, CheckpointSpec, Choice, ProcessIo};
use gantry_oci::container::{self, CheckpointOpts, Container, CreateOpts, ExecOpts, RestoreOpts};
use gantry_oci::criu::CriuOpts;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

pub struct InProcess {
    root: PathBuf,
    no_pivot: bool,
    no_new_keyring: bool,
}

impl InProcess {
    pub fn new(choice: &Choice) -> InProcess {
        InProcess {
            root: PathBuf::from(&choice.root),
            no_pivot: choice.no_pivot,
            no_new_keyring: choice.no_new_keyring,
        }
    }

    fn load(&self, id: &str) -> Result<Container, String> {
        Container::load(&self.root, id).map_err(|e| format!("container {id}: {e}"))
    }
}

/// Runs `f` with `io` on descriptors 0, 1 and 2, then puts the shim's own back.
fn with_stdio<T>(io: ProcessIo, f: impl FnOnce() -> T) -> Result<T, String> {
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| format!("opening /dev/null: {e}"))?;
    let mut saved: Vec<OwnedFd> = Vec::with_capacity(3);
    for fd in 0..3 {
        // SAFETY: descriptors 0-2 stay open for the whole life of the shim (start
        // gives it /dev/null there), so borrowing them for the duplication is sound.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        saved.push(
            borrowed
                .try_clone_to_owned()
                .map_err(|e| format!("saving descriptor {fd}: {e}"))?,
        );
    }
    let wanted = [io.stdin, io.stdout, io.stderr];
    let place = |fd: i32, src: i32| -> Result<(), String> {
        // SAFETY: dup2 onto 0-2 replaces descriptors this function owns for the call;
        // `src` is open (borrowed from a live File/OwnedFd).
        if unsafe { libc::dup2(src, fd) } < 0 {
            return Err(format!(
                "placing descriptor {fd}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    };
    for (fd, f) in wanted.iter().enumerate() {
        let src = f
            .as_ref()
            .map(|f| f.as_raw_fd())
            .unwrap_or(null.as_raw_fd());
        place(fd as i32, src)?;
    }
    let out = f();
    for (fd, s) in saved.iter().enumerate() {
        place(fd as i32, s.as_raw_fd())?;
    }
    Ok(out)
}

/// criu's settings for a checkpoint request (dump or restore).
fn criu_opts(spec: &CheckpointSpec) -> Result<CriuOpts, String> {
    if !spec.empty_namespaces.is_empty() {
        return Err(format!(
            "empty namespaces ({}) are not supported by the in-process backend",
            spec.empty_namespaces.join(", ")
        ));
    }
    let manage_cgroups_mode = spec
        .cgroups_mode
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| format!("{e}"))?;
    Ok(CriuOpts {
        // Else `criu` through the shim's PATH (containerd's), as the stock shim does.
        bin: spec.criu.clone().unwrap_or_else(|| "criu".into()),
        image_path: spec.image_path.clone(),
        work_path: spec.work_path.clone(),
        tcp_established: spec.tcp_established,
        file_locks: spec.file_locks,
        ext_unix_sk: spec.ext_unix_sk,
        shell_job: spec.shell_job,
        manage_cgroups_mode,
    })
}

fn console(path: Option<&Path>) -> Result<Option<OwnedFd>, String> {
    path.map(|p| {
        UnixStream::connect(p)
            .map(OwnedFd::from)
            .map_err(|e| format!("connecting to console socket {}: {e}", p.display()))
    })
    .transpose()
}

impl Backend for InProcess {
    fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String> {
        container::ensure_root(&self.root).map_err(|e| e.to_string())?;
        let opts = CreateOpts {
            id: id.into(),
            bundle: bundle.into(),
            root: self.root.clone(),
            pid_file: Some(pid_file.into()),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            ..CreateOpts::default()
        };
        let console = console(console_socket)?;
        with_stdio(io, || container::create(&opts, console))?
            .map(drop)
            .map_err(|e| format!("creating container {id}: {e}"))
    }

    fn start(&self, id: &str) -> Result<(), String> {
        self.load(id)?
            .start()
            .map_err(|e| format!("starting container {id}: {e}"))
    }

    fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), String> {
        let sig = nix::sys::signal::Signal::try_from(signal as i32)
            .map_err(|e| format!("signal {signal}: {e}"))?;
        self.load(id)?
            .kill(sig, all)
            .map_err(|e| format!("signalling container {id}: {e}"))
    }

    fn delete(&self, id: &str, force: bool) -> Result<(), String> {
        self.load(id)?
            .delete(force)
            .map_err(|e| format!("deleting container {id}: {e}"))
    }

    fn pause(&self, id: &str) -> Result<(), String> {
        self.load(id)?
            .pause()
            .map_err(|e| format!("pausing container {id}: {e}"))
    }

    fn resume(&self, id: &str) -> Result<(), String> {
        self.load(id)?
            .resume()
            .map_err(|e| format!("resuming container {id}: {e}"))
    }

    fn ps(&self, id: &str) -> Result<Vec<u32>, String> {
        let pids = self
            .load(id)?
            .pids()
            .map_err(|e| format!("listing processes of container {id}: {e}"))?;
        Ok(pids.into_iter().map(|p| p as u32).collect())
    }

    fn update(&self, id: &str, resources: &[u8]) -> Result<(), String> {
        let r: oci_spec::runtime::LinuxResources = serde_json::from_slice(resources)
            .map_err(|e| format!("updating container {id}: resources: {e}"))?;
        self.load(id)?
            .update(&r)
            .map_err(|e| format!("updating container {id}: {e}"))
    }

    fn stats(&self, id: &str) -> Result<serde_json::Value, String> {
        let stats = self
            .load(id)?
            .stats()
            .map_err(|e| format!("reading statistics of container {id}: {e}"))?;
        serde_json::to_value(stats).map_err(|e| format!("statistics of container {id}: {e}"))
    }

    fn checkpoint(&self, id: &str, spec: &CheckpointSpec) -> Result<(), String> {
        let what = format!("checkpointing container {id}");
        let opts = CheckpointOpts {
            criu: criu_opts(spec).map_err(|e| format!("{what}: {e}"))?,
            leave_running: !spec.exit,
            ..CheckpointOpts::default()
        };
        self.load(id)?
            .checkpoint(&opts)
            .map_err(|e| format!("{what}: {e}"))
    }

    fn restore(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        spec: &CheckpointSpec,
        io: ProcessIo,
    ) -> Result<(), String> {
        let what = format!("restoring container {id}");
        container::ensure_root(&self.root).map_err(|e| format!("{what}: {e}"))?;
        let opts = RestoreOpts {
            id: id.into(),
            bundle: bundle.into(),
            root: self.root.clone(),
            criu: criu_opts(spec).map_err(|e| format!("{what}: {e}"))?,
            pid_file: Some(pid_file.into()),
            no_pivot: self.no_pivot,
        };
        // criu runs with our 0-2, which is what its --inherit-fd entries name.
        with_stdio(io, || container::restore(&opts))?
            .map(drop)
            .map_err(|e| format!("{what}: {e}"))
    }

    fn exec(
        &self,
        id: &str,
        process_json: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), String> {
        let data = std::fs::read(process_json)
            .map_err(|e| format!("reading {}: {e}", process_json.display()))?;
        let process: oci_spec::runtime::Process = serde_json::from_slice(&data)
            .map_err(|e| format!("exec in container {id}: process spec: {e}"))?;
        let c = self.load(id)?;
        let opts = ExecOpts {
            process,
            console: console(console_socket)?,
            detach: true,
            pid_file: Some(pid_file.into()),
            preserve_fds: 0,
            cgroup: Vec::new(),
        };
        with_stdio(io, || c.exec(opts))?
            .map(drop)
            .map_err(|e| format!("exec in container {id}: {e}"))
    }
}
