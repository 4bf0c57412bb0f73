//! The Task API (`containerd.task.v2.Task`): containers and their processes, each
//! method, and what happens when a process exits (Wait answered, TaskExit published).

use crate::backend::{Backend, Choice, ProcessIo};
use crate::proto::{self, events, now, status, Timestamp};
use crate::publisher::Publisher;
use crate::stdio::{self, Copier};
use crate::ttrpc::{code, RpcError};
use prost::Message;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

pub const SERVICE: &str = "containerd.task.v2.Task";
pub const SERVICE_V3: &str = "containerd.task.v3.Task";

/// A pending Wait: the connection and stream to answer when the process exits.
pub type Waiter = (u64, u32);

/// What a method call produced: an answer now, or a Wait to answer later.
pub enum Reply {
    Now(Result<Vec<u8>, RpcError>),
    Deferred,
}

struct Process {
    pid: u32,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    started: bool,
    exit: Option<(u32, Timestamp)>,
    console: Option<File>,
    copiers: Vec<Copier>,
    waiters: Vec<Waiter>,
    /// An exec's process spec (JSON), kept until Start.
    spec: Vec<u8>,
}

impl Process {
    fn new(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> Process {
        Process {
            pid: 0,
            stdin: stdin.into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
            terminal,
            started: false,
            exit: None,
            console: None,
            copiers: Vec::new(),
            waiters: Vec::new(),
            spec: Vec::new(),
        }
    }
}

struct Container {
    bundle: PathBuf,
    runtime: Box<dyn Backend>,
    init: Process,
    execs: HashMap<String, Process>,
    paused: bool,
    rootfs_mounted: bool,
    oom: Option<crate::oom::OomWatch>,
    /// The Create options (runc.v1.Options' shape), for Checkpoint's criu defaults.
    options: proto::RuncOptions,
    /// Created from a checkpoint: what Start restores, and the stdio to restore with.
    restore: Option<(crate::backend::CheckpointSpec, ProcessIo)>,
    /// The runtime knows the container (created, or restored); false while a restore
    /// is pending or after it failed, when Delete has nothing to ask the runtime.
    in_runtime: bool,
}

/// Identifies one copier for the loop: container, exec id ("" for init), index.
pub type CopierKey = (String, String, usize);

pub struct Service {
    namespace: String,
    address: String,
    pub publisher: Publisher,
    containers: HashMap<String, Container>,
    /// Answers to deferred Waits, drained by the loop.
    pub outbox: Vec<(Waiter, Result<Vec<u8>, RpcError>)>,
    pub exit_requested: bool,
}

fn err(code: i32, msg: impl Into<String>) -> RpcError {
    RpcError::new(code, msg)
}

fn unknown(msg: String) -> RpcError {
    RpcError::new(code::UNKNOWN, msg)
}

fn decode<M: Message + Default>(payload: &[u8], method: &str) -> Result<M, RpcError> {
    M::decode(payload).map_err(|e| {
        err(
            code::INVALID_ARGUMENT,
            format!("decoding {method} request: {e}"),
        )
    })
}

fn empty() -> Result<Vec<u8>, RpcError> {
    Ok(Vec::new())
}

impl Service {
    pub fn new(namespace: String, address: String, publisher: Publisher) -> Service {
        Service {
            namespace,
            address,
            publisher,
            containers: HashMap::new(),
            outbox: Vec::new(),
            exit_requested: false,
        }
    }

    pub fn handle(&mut self, method: &str, payload: &[u8], waiter: Waiter) -> Reply {
        crate::log::debug(&format!("task {method}"));
        let r = match method {
            "Create" => self.create(payload),
            "Start" => self.start(payload),
            "State" => self.state(payload),
            "Kill" => self.kill(payload),
            "Delete" => self.delete(payload),
            "Wait" => return self.wait(payload, waiter),
            "Pids" => self.pids(payload),
            "Pause" => self.pause(payload, true),
            "Resume" => self.pause(payload, false),
            "Exec" => self.exec(payload),
            "ResizePty" => self.resize_pty(payload),
            "CloseIO" => self.close_io(payload),
            "Connect" => self.connect(payload),
            "Shutdown" => self.shutdown(payload),
            "Update" => self.update(payload),
            "Stats" => self.stats(payload),
            "Checkpoint" => self.checkpoint(payload),
            other => Err(err(
                code::UNIMPLEMENTED,
                format!("unknown method {SERVICE}/{other}"),
            )),
        };
        Reply::Now(r)
    }

    fn container(&mut self, id: &str) -> Result<&mut Container, RpcError> {
        self.containers
            .get_mut(id)
            .ok_or_else(|| err(code::NOT_FOUND, format!("container {id} not found")))
    }

    fn process(&mut self, id: &str, exec_id: &str) -> Result<&mut Process, RpcError> {
        let c = self.container(id)?;
        if exec_id.is_empty() {
            return Ok(&mut c.init);
        }
        c.execs.get_mut(exec_id).ok_or_else(|| {
            err(
                code::NOT_FOUND,
                format!("exec {exec_id} of container {id} not found"),
            )
        })
    }

    fn create(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::CreateTaskRequest = decode(payload, "Create")?;
        let namespace = self.namespace.clone();
        if self.containers.contains_key(&req.id) {
            return Err(err(
                code::ALREADY_EXISTS,
                format!("container {} already exists", req.id),
            ));
        }
        let restoring = !req.checkpoint.is_empty();
        if restoring && req.terminal {
            return Err(err(
                code::FAILED_PRECONDITION,
                format!(
                    "container {}: a terminal container cannot be restored from a checkpoint",
                    req.id
                ),
            ));
        }
        let opts = crate::options::from_any(req.options.as_ref())
            .map_err(|e| err(code::INVALID_ARGUMENT, e))?;
        let choice = Choice::new(&opts, &self.address, &self.namespace);
        let owner = (opts.io_uid, opts.io_gid);
        let bundle = PathBuf::from(&req.bundle);
        choice.save(&bundle).map_err(unknown)?;
        let rootfs = bundle.join("rootfs");
        let mounted = !req.rootfs.is_empty();
        if mounted {
            std::fs::create_dir_all(&rootfs)
                .map_err(|e| unknown(format!("creating {}: {e}", rootfs.display())))?;
            crate::mount::mount_rootfs(&req.rootfs, &rootfs).map_err(unknown)?;
        }
        let runtime = choice.open(&bundle);
        let mut init = Process::new(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        let pid_file = bundle.join("init.pid");
        let mut restore = None;
        let created = (|| -> Result<(), String> {
            if req.terminal {
                let sock = stdio::ConsoleSocket::new()?;
                runtime.create(
                    &req.id,
                    &bundle,
                    &pid_file,
                    Some(&sock.path),
                    ProcessIo::null(),
                )?;
                let master = sock.receive()?;
                init.copiers = stdio::console_copiers(&master, &req.stdin, &req.stdout)?;
                init.console = Some(master);
            } else {
                let (io, copiers) = stdio::prepare(
                    [&req.stdin, &req.stdout, &req.stderr],
                    &req.id,
                    &namespace,
                    owner,
                )?;
                init.copiers = copiers;
                if restoring {
                    // As runc's shim does: the restore itself happens at Start.
                    let spec = crate::checkpoint::restore_spec(&req.checkpoint, &opts, &bundle);
                    restore = Some((spec, io));
                    return Ok(());
                }
                runtime.create(&req.id, &bundle, &pid_file, None, io)?;
            }
            init.pid = read_pid(&pid_file)?;
            Ok(())
        })();
        if let Err(e) = created {
            if !restoring {
                let _ = runtime.delete(&req.id, true);
            }
            if mounted {
                crate::mount::unmount_all(&rootfs);
            }
            return Err(unknown(e));
        }
        let pid = init.pid;
        let oom = if restoring {
            None
        } else {
            oom_watch(&req.id, pid)
        };
        self.publisher.publish(
            "/tasks/create",
            "TaskCreate",
            &events::TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: Some(events::TaskIo {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                }),
                checkpoint: req.checkpoint.clone(),
                pid,
            },
        );
        self.containers.insert(
            req.id.clone(),
            Container {
                bundle,
                runtime,
                init,
                execs: HashMap::new(),
                paused: false,
                rootfs_mounted: mounted,
                oom,
                options: opts,
                restore,
                in_runtime: !restoring,
            },
        );
        Ok(proto::PidResponse { pid }.encode_to_vec())
    }

    fn start(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "Start")?;
        let namespace = self.namespace.clone();
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            if c.init.started {
                return Err(err(
                    code::FAILED_PRECONDITION,
                    format!("container {} already started", req.id),
                ));
            }
            if let Some((spec, io)) = c.restore.take() {
                let pid_file = c.bundle.join("init.pid");
                c.runtime
                    .restore(&req.id, &c.bundle, &pid_file, &spec, io)
                    .map_err(unknown)?;
                c.in_runtime = true;
                c.init.pid = read_pid(&pid_file).map_err(unknown)?;
                c.oom = oom_watch(&req.id, c.init.pid);
            } else {
                c.runtime.start(&req.id).map_err(unknown)?;
            }
            c.init.started = true;
            let pid = c.init.pid;
            self.publisher.publish(
                "/tasks/start",
                "TaskStart",
                &events::TaskStart {
                    container_id: req.id.clone(),
                    pid,
                },
            );
            return Ok(proto::PidResponse { pid }.encode_to_vec());
        }
        let bundle = c.bundle.clone();
        let owner = (c.options.io_uid, c.options.io_gid);
        let p = c.execs.get_mut(&req.exec_id).ok_or_else(|| {
            err(
                code::NOT_FOUND,
                format!("exec {} of container {} not found", req.exec_id, req.id),
            )
        })?;
        if p.started {
            return Err(err(
                code::FAILED_PRECONDITION,
                format!("exec {} already started", req.exec_id),
            ));
        }
        let spec_file = bundle.join(format!(".exec-{}.json", req.exec_id));
        let pid_file = bundle.join(format!(".exec-{}.pid", req.exec_id));
        let runtime = &c.runtime;
        let result = (|| -> Result<(u32, Option<File>, Vec<Copier>), String> {
            std::fs::write(&spec_file, &p.spec)
                .map_err(|e| format!("writing {}: {e}", spec_file.display()))?;
            if p.terminal {
                let sock = stdio::ConsoleSocket::new()?;
                runtime.exec(
                    &req.id,
                    &spec_file,
                    &pid_file,
                    Some(&sock.path),
                    ProcessIo::null(),
                )?;
                let master = sock.receive()?;
                let copiers = stdio::console_copiers(&master, &p.stdin, &p.stdout)?;
                Ok((read_pid(&pid_file)?, Some(master), copiers))
            } else {
                let (io, copiers) =
                    stdio::prepare([&p.stdin, &p.stdout, &p.stderr], &req.id, &namespace, owner)?;
                runtime.exec(&req.id, &spec_file, &pid_file, None, io)?;
                Ok((read_pid(&pid_file)?, None, copiers))
            }
        })();
        let _ = std::fs::remove_file(&spec_file);
        let _ = std::fs::remove_file(&pid_file);
        let (pid, console, copiers) = result.map_err(unknown)?;
        p.pid = pid;
        p.console = console;
        p.copiers = copiers;
        p.started = true;
        self.publisher.publish(
            "/tasks/exec-started",
            "TaskExecStarted",
            &events::TaskExecStarted {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                pid,
            },
        );
        Ok(proto::PidResponse { pid }.encode_to_vec())
    }

    fn state(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "State")?;
        let c = self.container(&req.id)?;
        let bundle = c.bundle.display().to_string();
        let paused = c.paused;
        let p = if req.exec_id.is_empty() {
            &c.init
        } else {
            c.execs
                .get(&req.exec_id)
                .ok_or_else(|| err(code::NOT_FOUND, format!("exec {} not found", req.exec_id)))?
        };
        let st = match (&p.exit, p.started) {
            (Some(_), _) => status::STOPPED,
            (None, _) if paused => status::PAUSED,
            (None, true) => status::RUNNING,
            (None, false) => status::CREATED,
        };
        Ok(proto::StateResponse {
            id: req.id.clone(),
            bundle,
            pid: p.pid,
            status: st,
            stdin: p.stdin.clone(),
            stdout: p.stdout.clone(),
            stderr: p.stderr.clone(),
            terminal: p.terminal,
            exit_status: p.exit.as_ref().map(|e| e.0).unwrap_or(0),
            exited_at: p.exit.as_ref().map(|e| e.1),
            exec_id: req.exec_id,
        }
        .encode_to_vec())
    }

    fn kill(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::KillRequest = decode(payload, "Kill")?;
        let c = self.container(&req.id)?;
        if req.exec_id.is_empty() {
            if c.init.exit.is_some() && !req.all {
                return Err(err(
                    code::NOT_FOUND,
                    format!("process of container {} already finished", req.id),
                ));
            }
            return c
                .runtime
                .kill(&req.id, req.signal, req.all)
                .map(|()| Vec::new())
                .map_err(|e| {
                    if c.init.exit.is_some() {
                        err(
                            code::NOT_FOUND,
                            format!("process of container {} already finished", req.id),
                        )
                    } else {
                        unknown(e)
                    }
                });
        }
        let p = self.process(&req.id, &req.exec_id)?;
        if p.exit.is_some() || p.pid == 0 {
            return Err(err(
                code::NOT_FOUND,
                format!("exec {} is not running", req.exec_id),
            ));
        }
        let sig = nix::sys::signal::Signal::try_from(req.signal as i32).map_err(|e| {
            err(
                code::INVALID_ARGUMENT,
                format!("signal {}: {e}", req.signal),
            )
        })?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid as i32), sig).map_err(|e| {
            unknown(format!(
                "signalling exec {} (pid {}): {e}",
                req.exec_id, p.pid
            ))
        })?;
        empty()
    }

    fn delete(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "Delete")?;
        if !req.exec_id.is_empty() {
            let c = self.container(&req.id)?;
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| err(code::NOT_FOUND, format!("exec {} not found", req.exec_id)))?;
            if p.started && p.exit.is_none() {
                return Err(err(
                    code::FAILED_PRECONDITION,
                    format!("exec {} is still running", req.exec_id),
                ));
            }
            let p = c.execs.remove(&req.exec_id).expect("exec looked up above");
            let (status, at) = p.exit.unwrap_or((0, now()));
            return Ok(proto::DeleteResponse {
                pid: p.pid,
                exit_status: status,
                exited_at: Some(at),
            }
            .encode_to_vec());
        }
        let c = self.container(&req.id)?;
        if !c.in_runtime {
            // A restore that never happened (or failed): the runtime has nothing.
        } else if c.init.exit.is_none() {
            // Never started or still running: the force-delete kills it; reap it here so
            // the answer carries its real status.
            c.runtime.delete(&req.id, true).map_err(unknown)?;
            if c.init.pid != 0 {
                if let Some(status) = crate::reaper::wait_for(c.init.pid) {
                    let pid = c.init.pid;
                    self.on_exit(pid, status);
                }
            }
        } else if let Err(e) = c.runtime.delete(&req.id, false) {
            crate::log::warn(&e);
            let _ = c.runtime.delete(&req.id, true);
        }
        let c = self
            .containers
            .remove(&req.id)
            .expect("container looked up above");
        if c.rootfs_mounted {
            crate::mount::unmount_all(&c.bundle.join("rootfs"));
        }
        let (status, at) = c.init.exit.unwrap_or((128 + libc::SIGKILL as u32, now()));
        self.publisher.publish(
            "/tasks/delete",
            "TaskDelete",
            &events::TaskDelete {
                container_id: req.id.clone(),
                pid: c.init.pid,
                exit_status: status,
                exited_at: Some(at),
                id: req.id.clone(),
            },
        );
        Ok(proto::DeleteResponse {
            pid: c.init.pid,
            exit_status: status,
            exited_at: Some(at),
        }
        .encode_to_vec())
    }

    fn wait(&mut self, payload: &[u8], waiter: Waiter) -> Reply {
        let req: proto::ProcessRequest = match decode(payload, "Wait") {
            Ok(r) => r,
            Err(e) => return Reply::Now(Err(e)),
        };
        let p = match self.process(&req.id, &req.exec_id) {
            Ok(p) => p,
            Err(e) => return Reply::Now(Err(e)),
        };
        match &p.exit {
            Some((status, at)) => Reply::Now(Ok(wait_response(*status, *at))),
            None => {
                p.waiters.push(waiter);
                Reply::Deferred
            }
        }
    }

    fn pids(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "Pids")?;
        let c = self.container(&req.id)?;
        let pids = c.runtime.ps(&req.id).map_err(unknown)?;
        Ok(proto::PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| proto::ProcessInfo { pid })
                .collect(),
        }
        .encode_to_vec())
    }

    fn pause(&mut self, payload: &[u8], pause: bool) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, if pause { "Pause" } else { "Resume" })?;
        let c = self.container(&req.id)?;
        if pause {
            c.runtime.pause(&req.id).map_err(unknown)?;
        } else {
            c.runtime.resume(&req.id).map_err(unknown)?;
        }
        c.paused = pause;
        let ev = events::TaskContainer {
            container_id: req.id,
        };
        if pause {
            self.publisher.publish("/tasks/paused", "TaskPaused", &ev);
        } else {
            self.publisher.publish("/tasks/resumed", "TaskResumed", &ev);
        }
        empty()
    }

    fn exec(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ExecProcessRequest = decode(payload, "Exec")?;
        let c = self.container(&req.id)?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(err(
                code::ALREADY_EXISTS,
                format!("exec {} already exists", req.exec_id),
            ));
        }
        if c.init.exit.is_some() {
            return Err(err(
                code::FAILED_PRECONDITION,
                format!("container {} is not running", req.id),
            ));
        }
        let mut p = Process::new(&req.stdin, &req.stdout, &req.stderr, req.terminal);
        p.spec = req.spec.map(|a| a.value).unwrap_or_default();
        c.execs.insert(req.exec_id.clone(), p);
        self.publisher.publish(
            "/tasks/exec-added",
            "TaskExecAdded",
            &events::TaskExecAdded {
                container_id: req.id,
                exec_id: req.exec_id,
            },
        );
        empty()
    }

    fn update(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::UpdateTaskRequest = decode(payload, "Update")?;
        let c = self.container(&req.id)?;
        let resources = req.resources.map(|a| a.value).unwrap_or_default();
        c.runtime.update(&req.id, &resources).map_err(unknown)?;
        empty()
    }

    fn checkpoint(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::CheckpointTaskRequest = decode(payload, "Checkpoint")?;
        let c = self.container(&req.id)?;
        if c.init.exit.is_some() || !c.init.started {
            return Err(err(
                code::FAILED_PRECONDITION,
                format!("container {} is not running: nothing to checkpoint", req.id),
            ));
        }
        let spec = crate::checkpoint::spec(&req, &c.options, &c.bundle)
            .map_err(|e| err(code::INVALID_ARGUMENT, e))?;
        c.runtime.checkpoint(&req.id, &spec).map_err(unknown)?;
        self.publisher.publish(
            "/tasks/checkpointed",
            "TaskCheckpointed",
            &events::TaskCheckpointed {
                container_id: req.id.clone(),
                checkpoint: spec.image_path.display().to_string(),
            },
        );
        empty()
    }

    fn stats(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "Stats")?;
        let c = self.container(&req.id)?;
        let data = c.runtime.stats(&req.id).map_err(unknown)?;
        Ok(proto::StatsResponse {
            stats: Some(crate::metrics::from_stats(&data)),
        }
        .encode_to_vec())
    }

    fn resize_pty(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ResizePtyRequest = decode(payload, "ResizePty")?;
        let p = self.process(&req.id, &req.exec_id)?;
        let console = p.console.as_ref().ok_or_else(|| {
            err(
                code::FAILED_PRECONDITION,
                format!("process {} has no terminal", req.id),
            )
        })?;
        stdio::resize(console, req.width, req.height).map_err(unknown)?;
        empty()
    }

    fn close_io(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::CloseIoRequest = decode(payload, "CloseIO")?;
        let p = self.process(&req.id, &req.exec_id)?;
        if req.stdin {
            let stdin = p.stdin.clone();
            // The stdin copier is the one reading the stdin fifo; dropping it closes the
            // process's end (a pipe, or the console's input).
            if !stdin.is_empty() {
                let fifo_fd = std::fs::metadata(&stdin).ok();
                for c in p.copiers.iter_mut() {
                    let meta = c.src.metadata().ok();
                    if matches!((&meta, &fifo_fd), (Some(a), Some(b)) if a.ino() == b.ino()) {
                        c.close();
                    }
                }
            }
        }
        empty()
    }

    fn connect(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ProcessRequest = decode(payload, "Connect")?;
        let task_pid = self
            .containers
            .get(&req.id)
            .map(|c| c.init.pid)
            .unwrap_or(0);
        Ok(proto::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").into(),
        }
        .encode_to_vec())
    }

    fn shutdown(&mut self, payload: &[u8]) -> Result<Vec<u8>, RpcError> {
        let req: proto::ShutdownRequest = decode(payload, "Shutdown")?;
        if req.now || self.containers.is_empty() {
            self.exit_requested = true;
        }
        empty()
    }

    /// Records a reaped exit: answers the process's Waits and publishes TaskExit.
    pub fn on_exit(&mut self, pid: u32, status: u32) {
        for (id, c) in self.containers.iter_mut() {
            let (exec_id, p) = if c.init.pid == pid && c.init.exit.is_none() {
                (String::new(), &mut c.init)
            } else if let Some((eid, p)) = c
                .execs
                .iter_mut()
                .find(|(_, p)| p.pid == pid && p.exit.is_none())
            {
                (eid.clone(), p)
            } else {
                continue;
            };
            let at = now();
            p.exit = Some((status, at));
            for w in p.waiters.drain(..) {
                self.outbox.push((w, Ok(wait_response(status, at))));
            }
            // Output still buffered in a console must reach the client before the exit.
            for copier in p.copiers.iter_mut() {
                if p.terminal {
                    while !copier.done && copier.pump() {}
                }
            }
            self.publisher.publish(
                "/tasks/exit",
                "TaskExit",
                &events::TaskExit {
                    container_id: id.clone(),
                    id: if exec_id.is_empty() {
                        id.clone()
                    } else {
                        exec_id
                    },
                    pid,
                    exit_status: status,
                    exited_at: Some(at),
                },
            );
            return;
        }
    }

    /// The OOM watches' descriptors: (container id, fd, poll events).
    pub fn oom_fds(&self) -> Vec<(String, std::os::fd::RawFd, i16)> {
        self.containers
            .iter()
            .filter_map(|(id, c)| {
                let (fd, ev) = c.oom.as_ref()?.poll_spec();
                Some((id.clone(), fd, ev))
            })
            .collect()
    }

    /// An OOM watch fired: publish TaskOOM, or stop watching a removed cgroup.
    pub fn on_oom(&mut self, id: &str) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        match c.oom.as_mut().map(|w| w.check()) {
            Some(Some(true)) => self.publisher.publish(
                "/tasks/oom",
                "TaskOOM",
                &events::TaskContainer {
                    container_id: id.into(),
                },
            ),
            Some(None) => c.oom = None,
            _ => {}
        }
    }

    /// Every live copier's descriptor and poll events, for the loop to poll.
    pub fn copier_fds(&self) -> Vec<(CopierKey, std::os::fd::RawFd, i16)> {
        let mut out = Vec::new();
        for (id, c) in &self.containers {
            let procs = std::iter::once((String::new(), &c.init))
                .chain(c.execs.iter().map(|(k, p)| (k.clone(), p)));
            for (eid, p) in procs {
                for (i, cp) in p.copiers.iter().enumerate().filter(|(_, cp)| !cp.done) {
                    let (fd, events) = cp.poll_spec();
                    out.push(((id.clone(), eid.clone(), i), fd, events));
                }
            }
        }
        out
    }

    /// Moves data for one copier; a finished copier is removed.
    pub fn pump(&mut self, key: &CopierKey) {
        let Ok(p) = self.process(&key.0, &key.1) else {
            return;
        };
        if let Some(cp) = p.copiers.get_mut(key.2).filter(|cp| !cp.done) {
            cp.pump();
        }
    }
}

/// The container's OOM watch; a container without one still runs, with a warning.
fn oom_watch(id: &str, pid: u32) -> Option<crate::oom::OomWatch> {
    crate::oom::OomWatch::new(pid)
        .map_err(|e| crate::log::warn(&format!("container {id}: no OOM events: {e}")))
        .ok()
}

fn wait_response(status: u32, at: Timestamp) -> Vec<u8> {
    proto::WaitResponse {
        exit_status: status,
        exited_at: Some(at),
    }
    .encode_to_vec()
}

fn read_pid(path: &std::path::Path) -> Result<u32, String> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| format!("reading pid file {}: {e}", path.display()))?;
    s.trim()
        .parse()
        .map_err(|e| format!("pid file {} holds {s:?}: {e}", path.display()))
}
