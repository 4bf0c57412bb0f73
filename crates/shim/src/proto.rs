//! Wire messages, written from the protocol facts (package, names, field numbers):
//! ttrpc's envelope, the runtime-v2 Task API (`containerd.task.v2`), containerd's task
//! events and the runc runtime options. Only the fields the shim reads or writes.

use prost::Message;
pub use prost_types::{Any, Timestamp};

/// ttrpc request envelope (`ttrpc.Request`).
#[derive(Clone, PartialEq, Message)]
pub struct Request {
    #[prost(string, tag = "1")]
    pub service: String,
    #[prost(string, tag = "2")]
    pub method: String,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    #[prost(int64, tag = "4")]
    pub timeout_nano: i64,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// ttrpc response envelope (`ttrpc.Response`).
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(message, optional, tag = "1")]
    pub status: Option<Status>,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
}

/// `containerd.types.Mount`.
#[derive(Clone, PartialEq, Message)]
pub struct Mount {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub source: String,
    #[prost(string, repeated, tag = "4")]
    pub options: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CreateTaskRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub bundle: String,
    #[prost(message, repeated, tag = "3")]
    pub rootfs: Vec<Mount>,
    #[prost(bool, tag = "4")]
    pub terminal: bool,
    #[prost(string, tag = "5")]
    pub stdin: String,
    #[prost(string, tag = "6")]
    pub stdout: String,
    #[prost(string, tag = "7")]
    pub stderr: String,
    #[prost(string, tag = "8")]
    pub checkpoint: String,
    #[prost(string, tag = "9")]
    pub parent_checkpoint: String,
    #[prost(message, optional, tag = "10")]
    pub options: Option<Any>,
}

/// Used for CreateTaskResponse and StartResponse (both `uint32 pid = 1`).
#[derive(Clone, PartialEq, Message)]
pub struct PidResponse {
    #[prost(uint32, tag = "1")]
    pub pid: u32,
}

/// Requests naming a process: Delete, State, Start, Wait (`id = 1, exec_id = 2`);
/// Pids, Pause, Resume, Stats, Connect read only `id`.
#[derive(Clone, PartialEq, Message)]
pub struct ProcessRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct DeleteResponse {
    #[prost(uint32, tag = "1")]
    pub pid: u32,
    #[prost(uint32, tag = "2")]
    pub exit_status: u32,
    #[prost(message, optional, tag = "3")]
    pub exited_at: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ExecProcessRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
    #[prost(bool, tag = "3")]
    pub terminal: bool,
    #[prost(string, tag = "4")]
    pub stdin: String,
    #[prost(string, tag = "5")]
    pub stdout: String,
    #[prost(string, tag = "6")]
    pub stderr: String,
    #[prost(message, optional, tag = "7")]
    pub spec: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResizePtyRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
    #[prost(uint32, tag = "3")]
    pub width: u32,
    #[prost(uint32, tag = "4")]
    pub height: u32,
}

/// `containerd.v1.types.Status` values.
pub mod status {
    pub const CREATED: i32 = 1;
    pub const RUNNING: i32 = 2;
    pub const STOPPED: i32 = 3;
    pub const PAUSED: i32 = 4;
}

#[derive(Clone, PartialEq, Message)]
pub struct StateResponse {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub bundle: String,
    #[prost(uint32, tag = "3")]
    pub pid: u32,
    #[prost(int32, tag = "4")]
    pub status: i32,
    #[prost(string, tag = "5")]
    pub stdin: String,
    #[prost(string, tag = "6")]
    pub stdout: String,
    #[prost(string, tag = "7")]
    pub stderr: String,
    #[prost(bool, tag = "8")]
    pub terminal: bool,
    #[prost(uint32, tag = "9")]
    pub exit_status: u32,
    #[prost(message, optional, tag = "10")]
    pub exited_at: Option<Timestamp>,
    #[prost(string, tag = "11")]
    pub exec_id: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct KillRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
    #[prost(uint32, tag = "3")]
    pub signal: u32,
    #[prost(bool, tag = "4")]
    pub all: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct CloseIoRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub exec_id: String,
    #[prost(bool, tag = "3")]
    pub stdin: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct UpdateTaskRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub resources: Option<Any>,
}

/// `containerd.v1.types.ProcessInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct ProcessInfo {
    #[prost(uint32, tag = "1")]
    pub pid: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct PidsResponse {
    #[prost(message, repeated, tag = "1")]
    pub processes: Vec<ProcessInfo>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StatsResponse {
    #[prost(message, optional, tag = "1")]
    pub stats: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct WaitResponse {
    #[prost(uint32, tag = "1")]
    pub exit_status: u32,
    #[prost(message, optional, tag = "2")]
    pub exited_at: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ConnectResponse {
    #[prost(uint32, tag = "1")]
    pub shim_pid: u32,
    #[prost(uint32, tag = "2")]
    pub task_pid: u32,
    #[prost(string, tag = "3")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct ShutdownRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(bool, tag = "2")]
    pub now: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct CheckpointTaskRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub path: String,
    #[prost(message, optional, tag = "3")]
    pub options: Option<Any>,
}

/// `containerd.runc.v1.CheckpointOptions`: what `ctr task checkpoint` sends.
#[derive(Clone, PartialEq, Message)]
pub struct CheckpointOptions {
    #[prost(bool, tag = "1")]
    pub exit: bool,
    #[prost(bool, tag = "2")]
    pub open_tcp: bool,
    #[prost(bool, tag = "3")]
    pub external_unix_sockets: bool,
    #[prost(bool, tag = "4")]
    pub terminal: bool,
    #[prost(bool, tag = "5")]
    pub file_locks: bool,
    #[prost(string, repeated, tag = "6")]
    pub empty_namespaces: Vec<String>,
    #[prost(string, tag = "7")]
    pub cgroups_mode: String,
    #[prost(string, tag = "8")]
    pub image_path: String,
    #[prost(string, tag = "9")]
    pub work_path: String,
}

/// `containerd.runc.v1.Options` (type URL `containerd.runc.v1.Options`).
#[derive(Clone, PartialEq, Message)]
pub struct RuncOptions {
    #[prost(bool, tag = "1")]
    pub no_pivot_root: bool,
    #[prost(bool, tag = "2")]
    pub no_new_keyring: bool,
    #[prost(string, tag = "3")]
    pub shim_cgroup: String,
    #[prost(uint32, tag = "4")]
    pub io_uid: u32,
    #[prost(uint32, tag = "5")]
    pub io_gid: u32,
    #[prost(string, tag = "6")]
    pub binary_name: String,
    #[prost(string, tag = "7")]
    pub root: String,
    #[prost(string, tag = "8")]
    pub criu_path: String,
    #[prost(bool, tag = "9")]
    pub systemd_cgroup: bool,
    #[prost(string, tag = "10")]
    pub criu_image_path: String,
    #[prost(string, tag = "11")]
    pub criu_work_path: String,
}

/// `runtimeoptions.v1.Options`: what `ctr run --runtime-config-path` sends.
#[derive(Clone, PartialEq, Message)]
pub struct RuntimeOptions {
    #[prost(string, tag = "2")]
    pub config_path: String,
}

/// `containerd.services.events.ttrpc.v1.Envelope`.
#[derive(Clone, PartialEq, Message)]
pub struct Envelope {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "3")]
    pub topic: String,
    #[prost(message, optional, tag = "4")]
    pub event: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ForwardRequest {
    #[prost(message, optional, tag = "1")]
    pub envelope: Option<Envelope>,
}

/// containerd's task events (`containerd.events.*`).
/// `containerd.runtime.bootstrap.v1.BootstrapParams`: what containerd 2.3+ writes to
/// `start`'s stdin (older ones write the runtime options `Any` there, if anything).
#[derive(Clone, PartialEq, Message)]
pub struct BootstrapParams {
    #[prost(string, tag = "1")]
    pub instance_id: String,
    #[prost(string, tag = "2")]
    pub namespace: String,
    #[prost(string, tag = "4")]
    pub containerd_version: String,
    #[prost(message, repeated, tag = "8")]
    pub extensions: Vec<Extension>,
    #[prost(string, optional, tag = "9")]
    pub socket_dir: Option<String>,
}

/// `containerd.runtime.bootstrap.v1.Extension`: the runtime options ride in one.
#[derive(Clone, PartialEq, Message)]
pub struct Extension {
    #[prost(message, optional, tag = "1")]
    pub value: Option<Any>,
}

/// `containerd.types.RuntimeVersion`.
#[derive(Clone, PartialEq, Message)]
pub struct RuntimeVersion {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub revision: String,
}

/// `containerd.types.RuntimeInfo`: the answer to `-info`.
#[derive(Clone, PartialEq, Message)]
pub struct RuntimeInfo {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub version: Option<RuntimeVersion>,
    #[prost(message, optional, tag = "3")]
    pub options: Option<Any>,
    #[prost(message, optional, tag = "4")]
    pub features: Option<Any>,
    #[prost(map = "string, string", tag = "5")]
    pub annotations: std::collections::HashMap<String, String>,
}

pub mod events {
    use super::{Mount, Timestamp};
    use prost::Message;

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskIo {
        #[prost(string, tag = "1")]
        pub stdin: String,
        #[prost(string, tag = "2")]
        pub stdout: String,
        #[prost(string, tag = "3")]
        pub stderr: String,
        #[prost(bool, tag = "4")]
        pub terminal: bool,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskCreate {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub bundle: String,
        #[prost(message, repeated, tag = "3")]
        pub rootfs: Vec<Mount>,
        #[prost(message, optional, tag = "4")]
        pub io: Option<TaskIo>,
        #[prost(string, tag = "5")]
        pub checkpoint: String,
        #[prost(uint32, tag = "6")]
        pub pid: u32,
    }

    /// TaskStart (`container_id = 1, pid = 2`).
    #[derive(Clone, PartialEq, Message)]
    pub struct TaskCheckpointed {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub checkpoint: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskStart {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(uint32, tag = "2")]
        pub pid: u32,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskDelete {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(uint32, tag = "2")]
        pub pid: u32,
        #[prost(uint32, tag = "3")]
        pub exit_status: u32,
        #[prost(message, optional, tag = "4")]
        pub exited_at: Option<Timestamp>,
        #[prost(string, tag = "5")]
        pub id: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskExit {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub id: String,
        #[prost(uint32, tag = "3")]
        pub pid: u32,
        #[prost(uint32, tag = "4")]
        pub exit_status: u32,
        #[prost(message, optional, tag = "5")]
        pub exited_at: Option<Timestamp>,
    }

    /// TaskPaused, TaskResumed, TaskOOM: only `container_id = 1`.
    #[derive(Clone, PartialEq, Message)]
    pub struct TaskContainer {
        #[prost(string, tag = "1")]
        pub container_id: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskExecAdded {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub exec_id: String,
    }

    #[derive(Clone, PartialEq, Message)]
    pub struct TaskExecStarted {
        #[prost(string, tag = "1")]
        pub container_id: String,
        #[prost(string, tag = "2")]
        pub exec_id: String,
        #[prost(uint32, tag = "3")]
        pub pid: u32,
    }
}

/// The current time as a protobuf timestamp.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}
