//! The shim without containerd: `-v`, `start` on a private address, the Task API spoken
//! directly over ttrpc (including Update, which ctr 1.6 cannot send), events captured by
//! a stand-in for containerd's ttrpc events service, Shutdown, and `delete`. Needs root.

// The wire code is shared with the binary: the test is a second client of the same
// protocol definitions.
#[path = "../src/proto.rs"]
#[allow(dead_code)]
mod proto;
#[path = "../src/ttrpc.rs"]
#[allow(dead_code)]
mod ttrpc;

use gantry_testutil::{unique_id, Bundle};
use prost::Message;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SHIM: &str = env!("CARGO_BIN_EXE_containerd-shim-gantry-v2");
const TASK: &str = "containerd.task.v2.Task";

/// A Task method call: method name and encoded request to the encoded answer.
type Call<'a> = dyn FnMut(&str, Vec<u8>) -> std::io::Result<Vec<u8>> + 'a;

/// The shim run as containerd runs it: `-namespace testns -address ADDRESS
/// -publish-binary PUBLISH -id ID ACTION` in the bundle. Callers add the environment
/// and stdio.
fn shim_command(address: &str, publish: &str, id: &str, action: &str, bundle: &Path) -> Command {
    let mut cmd = Command::new(SHIM);
    cmd.args(["-namespace", "testns", "-address", address])
        .args(["-publish-binary", publish, "-id", id, action])
        .current_dir(bundle);
    cmd
}

/// SIGKILLs a container's init and returns the status Wait reports for it.
fn kill_and_wait(call: &mut Call, id: &str) -> u32 {
    let kill = proto::KillRequest {
        id: id.into(),
        exec_id: String::new(),
        signal: 9,
        all: false,
    };
    call("Kill", kill.encode_to_vec()).unwrap();
    let req = proto::ProcessRequest {
        id: id.into(),
        exec_id: String::new(),
    };
    proto::WaitResponse::decode(call("Wait", req.encode_to_vec()).unwrap().as_slice())
        .unwrap()
        .exit_status
}

/// A stand-in for containerd's events service: records (topic, type) of each Forward.
fn events_server(path: &Path) -> Arc<Mutex<Vec<(String, String)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = UnixListener::bind(path).unwrap();
    let out = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(f) = ttrpc::take_frame(&mut buf).unwrap() {
                        let req = proto::Request::decode(f.payload.as_slice()).unwrap();
                        let fwd = proto::ForwardRequest::decode(req.payload.as_slice()).unwrap();
                        let env = fwd.envelope.unwrap();
                        out.lock()
                            .unwrap()
                            .push((env.topic, env.event.unwrap().type_url));
                        conn.write_all(&ttrpc::response_frame(f.stream, Ok(Vec::new())))
                            .unwrap();
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    seen
}

/// Kills what a failed test leaves: the container's processes (by its cgroup), its
/// cgroups, and the shim.
struct Cleanup {
    state: std::path::PathBuf,
    cgroup: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let procs = format!("/sys/fs/cgroup/memory{}/cgroup.procs", self.cgroup);
        for pid in std::fs::read_to_string(procs).unwrap_or_default().lines() {
            if let Ok(pid) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for d in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let _ = std::fs::remove_dir(format!("{}{}", d.path().display(), self.cgroup));
        }
        let needle = self.state.display().to_string();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&needle) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

#[test]
fn version_flag() {
    let out = Command::new(SHIM).arg("-v").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("containerd-shim-gantry-v2") && text.contains(env!("CARGO_PKG_VERSION")),
        "{text}"
    );
}

#[test]
fn start_serve_update_shutdown_delete() {
    let state = tempfile::Builder::new()
        .prefix("gshimd")
        .tempdir_in("/tmp")
        .unwrap();
    let address = state.path().join("containerd.sock").display().to_string();
    let ttrpc_address = format!("{address}.ttrpc");
    let seen = events_server(Path::new(&ttrpc_address));
    let id = unique_id("gshimd");
    let cgroup = format!("/{id}");
    let bundle = Bundle::new();
    bundle.args(&["sleep", "1000"]).cgroups_path(&cgroup);
    let _cleanup = Cleanup {
        state: state.path().to_path_buf(),
        cgroup: cgroup.clone(),
    };

    let shim = |action: &str| {
        shim_command(&address, "/bin/false", &id, action, bundle.path())
            .env("TTRPC_ADDRESS", &ttrpc_address)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = shim("start");
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = String::from_utf8(out.stdout).unwrap();
    let sock = addr
        .strip_prefix("unix://")
        .expect("unix:// address")
        .to_string();
    assert!(
        sock.starts_with(&format!("{}/s/", state.path().display())),
        "socket {sock} is not private"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(Path::new(&sock)), 0o600, "socket {sock}");
    assert_eq!(mode(Path::new(&sock).parent().unwrap()), 0o700);
    assert_eq!(
        std::fs::read_to_string(bundle.path().join("address")).unwrap(),
        addr
    );
    // A second start for the same id reuses the running shim.
    let again = shim("start");
    assert_eq!(String::from_utf8(again.stdout).unwrap(), addr);

    let mut client = ttrpc::Client::connect(&sock).unwrap();
    let mut call = |method: &str, msg: Vec<u8>| client.call(TASK, method, msg);
    let create = proto::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.path_str().into(),
        ..Default::default()
    };
    let pid =
        proto::PidResponse::decode(call("Create", create.encode_to_vec()).unwrap().as_slice())
            .unwrap()
            .pid;
    assert!(pid > 0);
    let req = proto::ProcessRequest {
        id: id.clone(),
        exec_id: String::new(),
    };
    let state_of = |call: &mut Call| {
        proto::StateResponse::decode(call("State", req.encode_to_vec()).unwrap().as_slice())
            .unwrap()
    };
    assert_eq!(state_of(&mut call).status, proto::status::CREATED);
    call("Start", req.encode_to_vec()).unwrap();
    assert_eq!(state_of(&mut call).status, proto::status::RUNNING);

    let resources = proto::Any {
        type_url: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into(),
        value: br#"{"memory":{"limit":67108864}}"#.to_vec(),
    };
    let update = proto::UpdateTaskRequest {
        id: id.clone(),
        resources: Some(resources),
    };
    call("Update", update.encode_to_vec()).unwrap();
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes"
    ))
    .unwrap();
    assert_eq!(limit.trim(), "67108864");

    let stats =
        proto::StatsResponse::decode(call("Stats", req.encode_to_vec()).unwrap().as_slice())
            .unwrap();
    let metrics = stats.stats.expect("metrics");
    assert_eq!(metrics.type_url, "io.containerd.cgroups.v1.Metrics");
    assert!(!metrics.value.is_empty());
    // A checkpoint needs somewhere to put the images.
    let checkpoint = proto::CheckpointTaskRequest {
        id: id.clone(),
        ..Default::default()
    };
    let e = call("Checkpoint", checkpoint.encode_to_vec()).unwrap_err();
    assert!(
        e.to_string().contains("code 3") && e.to_string().contains("no image path"),
        "{e}"
    );

    assert_eq!(kill_and_wait(&mut call, &id), 137);
    let del =
        proto::DeleteResponse::decode(call("Delete", req.encode_to_vec()).unwrap().as_slice())
            .unwrap();
    assert_eq!((del.pid, del.exit_status), (pid, 137));
    let shutdown = proto::ShutdownRequest {
        id: id.clone(),
        now: false,
    };
    call("Shutdown", shutdown.encode_to_vec()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&sock).exists() {
        assert!(
            Instant::now() < deadline,
            "shim socket {sock} still there after Shutdown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    while seen.lock().unwrap().len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let topics: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(
        topics,
        [
            "/tasks/create",
            "/tasks/start",
            "/tasks/exit",
            "/tasks/delete"
        ]
    );
    assert_eq!(seen.lock().unwrap()[2].1, "containerd.events.TaskExit");

    // `delete` after the shim is gone still answers with a DeleteResponse.
    let out = Command::new(SHIM)
        .args([
            "-namespace",
            "testns",
            "-address",
            &address,
            "-id",
            &id,
            "-bundle",
            bundle.path_str(),
            "delete",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = proto::DeleteResponse::decode(out.stdout.as_slice()).unwrap();
    assert_eq!(resp.exit_status, 137);
    assert_eq!(resp.pid, pid);
}

/// With containerd's events socket unreachable, events go through the publish binary
/// (`BIN --address A publish --topic T --namespace NS`, a protobuf Any on stdin), in order.
#[test]
fn events_fall_back_to_the_publish_binary() {
    let state = tempfile::Builder::new()
        .prefix("gshimp")
        .tempdir_in("/tmp")
        .unwrap();
    let address = state.path().join("containerd.sock").display().to_string();
    // A stand-in publish binary: one line of arguments per call, stdin kept by call number.
    let calls = state.path().join("calls");
    let publish = state.path().join("publish");
    std::fs::write(
        &publish,
        format!(
            "#!/bin/sh\nn=$(wc -l < {calls} 2>/dev/null || echo 0)\ncat > {calls}.$n\necho \"$*\" >> {calls}\n",
            calls = calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &publish,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let id = unique_id("gshimp");
    let cgroup = format!("/{id}");
    let bundle = Bundle::new();
    bundle.args(&["sleep", "1000"]).cgroups_path(&cgroup);
    let _cleanup = Cleanup {
        state: state.path().to_path_buf(),
        cgroup,
    };
    let out = shim_command(
        &address,
        publish.to_str().unwrap(),
        &id,
        "start",
        bundle.path(),
    )
    // Nothing listens here.
    .env("TTRPC_ADDRESS", state.path().join("no-events.sock"))
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = String::from_utf8(out.stdout).unwrap();
    let sock = addr.strip_prefix("unix://").expect("unix:// address");
    let mut client = ttrpc::Client::connect(sock).unwrap();
    let mut call = |method: &str, msg: Vec<u8>| client.call(TASK, method, msg).unwrap();
    let create = proto::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.path_str().into(),
        ..Default::default()
    };
    let pid = proto::PidResponse::decode(call("Create", create.encode_to_vec()).as_slice())
        .unwrap()
        .pid;
    let req = proto::ProcessRequest {
        id: id.clone(),
        exec_id: String::new(),
    };
    call("Start", req.encode_to_vec());
    let kill = proto::KillRequest {
        id: id.clone(),
        exec_id: String::new(),
        signal: 9,
        all: false,
    };
    call("Kill", kill.encode_to_vec());
    call("Wait", req.encode_to_vec());
    call("Delete", req.encode_to_vec());
    let shutdown = proto::ShutdownRequest {
        id: id.clone(),
        now: false,
    };
    call("Shutdown", shutdown.encode_to_vec());

    let read_calls = || std::fs::read_to_string(&calls).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    while read_calls().lines().count() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = read_calls();
    let lines: Vec<&str> = text.lines().collect();
    let topics = [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exit",
        "/tasks/delete",
    ];
    let types = ["TaskCreate", "TaskStart", "TaskExit", "TaskDelete"];
    assert_eq!(lines.len(), 4, "publish binary calls: {text}");
    for (n, line) in lines.iter().enumerate() {
        assert_eq!(
            *line,
            format!(
                "--address {address} publish --topic {} --namespace testns",
                topics[n]
            )
        );
        let stdin = std::fs::read(format!("{}.{n}", calls.display())).unwrap();
        let any = proto::Any::decode(stdin.as_slice()).unwrap();
        assert_eq!(any.type_url, format!("containerd.events.{}", types[n]));
        if n == 2 {
            let exit = proto::events::TaskExit::decode(any.value.as_slice()).unwrap();
            assert_eq!(
                (exit.container_id.as_str(), exit.pid, exit.exit_status),
                (id.as_str(), pid, 137)
            );
        }
    }
}

/// Task.Checkpoint with containerd.runc.v1.CheckpointOptions{exit}, then Create from the
/// images and Start: with a working criu (GANTRY_TEST_CRIU, first in the shim's PATH as
/// `criu`) the images are written, the task exits, TaskCheckpointed is published and the
/// task comes back running; without one the dump fails with criu's reason and the task
/// keeps running, and the restore fails naming the checkpoint and leaves nothing.
#[test]
fn checkpoint_with_exit_option() {
    let state = tempfile::Builder::new()
        .prefix("gshimc")
        .tempdir_in("/tmp")
        .unwrap();
    let address = state.path().join("containerd.sock").display().to_string();
    let ttrpc_address = format!("{address}.ttrpc");
    let seen = events_server(Path::new(&ttrpc_address));
    let id = unique_id("gshimc");
    let cgroup = format!("/{id}");
    let bundle = Bundle::new();
    bundle.args(&["sleep", "1000"]).cgroups_path(&cgroup);
    let _cleanup = Cleanup {
        state: state.path().to_path_buf(),
        cgroup: cgroup.clone(),
    };
    let criu = std::env::var("GANTRY_TEST_CRIU")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let bin = state.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    if let Some(criu) = &criu {
        std::os::unix::fs::symlink(criu, bin.join("criu")).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = shim_command(&address, "/bin/false", &id, "start", bundle.path())
        .env("TTRPC_ADDRESS", &ttrpc_address)
        .env("PATH", &path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = String::from_utf8(out.stdout).unwrap();
    let sock = addr.strip_prefix("unix://").expect("unix:// address");
    let mut client = ttrpc::Client::connect(sock).unwrap();
    let mut call = |method: &str, msg: Vec<u8>| client.call(TASK, method, msg);
    let create = proto::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.path_str().into(),
        ..Default::default()
    };
    call("Create", create.encode_to_vec()).unwrap();
    let req = proto::ProcessRequest {
        id: id.clone(),
        exec_id: String::new(),
    };
    call("Start", req.encode_to_vec()).unwrap();
    let images = state.path().join("images");
    let options = proto::CheckpointOptions {
        exit: true,
        ..Default::default()
    };
    let checkpoint = proto::CheckpointTaskRequest {
        id: id.clone(),
        path: images.display().to_string(),
        options: Some(proto::Any {
            type_url: "containerd.runc.v1.CheckpointOptions".into(),
            value: options.encode_to_vec(),
        }),
    };
    let result = call("Checkpoint", checkpoint.encode_to_vec());
    if criu.is_some() {
        result.unwrap();
        assert!(
            images.join("inventory.img").exists(),
            "no criu images in {}",
            images.display()
        );
        // The dump ended the task: Wait answers.
        call("Wait", req.encode_to_vec()).unwrap();
    } else {
        let e = result.unwrap_err().to_string();
        assert!(e.contains("criu"), "the error does not name criu: {e}");
        let st =
            proto::StateResponse::decode(call("State", req.encode_to_vec()).unwrap().as_slice())
                .unwrap();
        assert_eq!(
            st.status,
            proto::status::RUNNING,
            "task after a failed dump"
        );
        assert_eq!(kill_and_wait(&mut call, &id), 137);
    }
    call("Delete", req.encode_to_vec()).unwrap();

    // Create from the images, restored at Start (with criu); without images the Start
    // fails naming the checkpoint, and Delete leaves no container state behind.
    let restore = proto::CreateTaskRequest {
        checkpoint: images.display().to_string(),
        ..create
    };
    let created =
        proto::PidResponse::decode(call("Create", restore.encode_to_vec()).unwrap().as_slice())
            .unwrap();
    assert_eq!(created.pid, 0, "a restore has no process before Start");
    let started = call("Start", req.encode_to_vec());
    let container_state = state.path().join("gantry/testns").join(&id);
    if criu.is_some() {
        let pid = proto::PidResponse::decode(started.unwrap().as_slice())
            .unwrap()
            .pid;
        let st =
            proto::StateResponse::decode(call("State", req.encode_to_vec()).unwrap().as_slice())
                .unwrap();
        assert_eq!((st.status, st.pid), (proto::status::RUNNING, pid));
        assert_eq!(kill_and_wait(&mut call, &id), 137);
    } else {
        let e = started.unwrap_err().to_string();
        assert!(
            e.contains("checkpoint"),
            "the error does not name the checkpoint: {e}"
        );
        assert!(
            !container_state.exists(),
            "a failed restore left {}",
            container_state.display()
        );
    }
    call("Delete", req.encode_to_vec()).unwrap();
    assert!(
        !container_state.exists(),
        "{} left",
        container_state.display()
    );
    let shutdown = proto::ShutdownRequest {
        id: id.clone(),
        now: false,
    };
    call("Shutdown", shutdown.encode_to_vec()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(sock).exists() {
        assert!(Instant::now() < deadline, "shim socket {sock} still there");
        std::thread::sleep(Duration::from_millis(20));
    }
    let topics: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(
        topics.iter().any(|t| t == "/tasks/checkpointed"),
        criu.is_some(),
        "{topics:?}"
    );
}

/// containerd 2.x's `-info`: a RuntimeInfo naming us, with the in-process backend's
/// features, or those of the runtime binary the options name (runc's here).
#[test]
fn info_flag_describes_the_runtime() {
    let info = |stdin: Vec<u8>| {
        let mut child = Command::new(SHIM)
            .arg("-info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "-info: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        proto::RuntimeInfo::decode(out.stdout.as_slice()).unwrap()
    };
    let features = |i: &proto::RuntimeInfo| -> serde_json::Value {
        let f = i.features.as_ref().expect("features");
        assert!(f.type_url.ends_with("runtime-spec/1/features/Features"));
        serde_json::from_slice(&f.value).unwrap()
    };
    let ours = info(Vec::new());
    assert_eq!(ours.name, "io.containerd.gantry.v2");
    assert_eq!(
        ours.version.as_ref().map(|v| v.version.as_str()),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(features(&ours)["linux"]["namespaces"].is_array());

    let runc = proto::RuncOptions {
        binary_name: "/usr/sbin/runc".into(),
        root: String::new(),
        criu_path: String::new(),
        systemd_cgroup: false,
        ..Default::default()
    };
    let any = proto::Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: runc.encode_to_vec(),
    };
    let theirs = info(any.encode_to_vec());
    assert_eq!(theirs.options, Some(any));
    let runc_features = Command::new("/usr/sbin/runc")
        .arg("features")
        .output()
        .unwrap();
    let want: serde_json::Value = serde_json::from_slice(&runc_features.stdout).unwrap();
    assert_eq!(features(&theirs), want);
}

/// containerd 2.3+ writes BootstrapParams to `start`'s stdin: the shim answers with
/// the JSON bootstrap result (Task API version 3), puts its socket in the `socket_dir`
/// it was given, and serves `containerd.task.v3.Task` there.
#[test]
fn bootstrap_params_get_a_v3_answer() {
    let state = tempfile::Builder::new()
        .prefix("gshimb")
        .tempdir_in("/tmp")
        .unwrap();
    let address = state.path().join("containerd.sock").display().to_string();
    let socket_dir = state.path().join("sockets");
    let id = unique_id("gshimb");
    let bundle = Bundle::new();
    let _cleanup = Cleanup {
        state: state.path().to_path_buf(),
        cgroup: format!("/{id}"),
    };
    let params = proto::BootstrapParams {
        instance_id: id.clone(),
        namespace: "testns".into(),
        containerd_version: "v2.3.4".into(),
        socket_dir: Some(socket_dir.display().to_string()),
        extensions: Vec::new(),
    };
    let mut child = shim_command(&address, "/bin/false", &id, "start", bundle.path())
        .env("TTRPC_ADDRESS", format!("{address}.ttrpc"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&params.encode_to_vec())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(answer["version"], 3);
    assert_eq!(answer["protocol"], "ttrpc");
    let addr = answer["address"].as_str().unwrap().to_string();
    let sock = addr.strip_prefix("unix://").expect("unix:// address");
    assert!(
        Path::new(sock).starts_with(&socket_dir),
        "socket {sock} is not in {}",
        socket_dir.display()
    );
    // containerd 1.6 reconnects through the bundle's address file: still the bare one.
    assert_eq!(
        std::fs::read_to_string(bundle.path().join("address")).unwrap(),
        addr
    );

    let mut client = ttrpc::Client::connect(sock).unwrap();
    let v3 = "containerd.task.v3.Task";
    let connect = proto::ProcessRequest {
        id: id.clone(),
        exec_id: String::new(),
    };
    let resp = proto::ConnectResponse::decode(
        client
            .call(v3, "Connect", connect.encode_to_vec())
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert!(resp.shim_pid > 0);
    let shutdown = proto::ShutdownRequest { id, now: true };
    client
        .call(v3, "Shutdown", shutdown.encode_to_vec())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(sock).exists() {
        assert!(Instant::now() < deadline, "shim socket {sock} still there");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bad requests get containerd's error codes and name what is wrong: an unknown container
/// or exec id (NotFound, 5), an undecodable payload (InvalidArgument, 3), an unknown
/// method (Unimplemented, 12), a bundle without a config.json; and nothing of a failed
/// Create stays behind (its id is free again).
#[test]
fn unknown_ids_and_bad_requests_are_named() {
    let state = tempfile::Builder::new()
        .prefix("gshimu")
        .tempdir_in("/tmp")
        .unwrap();
    let address = state.path().join("containerd.sock").display().to_string();
    let id = unique_id("gshimu");
    let bundle = Bundle::new();
    let _cleanup = Cleanup {
        state: state.path().to_path_buf(),
        cgroup: format!("/{id}"),
    };
    let out = shim_command(&address, "/bin/false", &id, "start", bundle.path())
        .env("TTRPC_ADDRESS", state.path().join("no-events.sock"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = String::from_utf8(out.stdout).unwrap();
    let sock = addr.strip_prefix("unix://").expect("unix:// address");
    let mut client = ttrpc::Client::connect(sock).unwrap();
    let mut call = |method: &str, msg: Vec<u8>| client.call(TASK, method, msg);
    let expect = |r: std::io::Result<Vec<u8>>, code: &str, names: &str| {
        let e = r.expect_err("the call succeeded").to_string();
        assert!(e.contains(code) && e.contains(names), "{e}");
    };

    let nosuch = proto::ProcessRequest {
        id: "nosuch".into(),
        exec_id: String::new(),
    };
    for method in ["State", "Start", "Delete", "Pids", "Pause", "Stats"] {
        expect(call(method, nosuch.encode_to_vec()), "code 5", "nosuch");
    }
    let kill = proto::KillRequest {
        id: "nosuch".into(),
        exec_id: String::new(),
        signal: 9,
        all: false,
    };
    expect(call("Kill", kill.encode_to_vec()), "code 5", "nosuch");
    expect(call("State", vec![0xff, 0xff]), "code 3", "State");
    expect(call("NoSuchMethod", Vec::new()), "code 12", "NoSuchMethod");

    // A bundle without config.json: Create fails naming it, and leaves nothing.
    std::fs::remove_file(bundle.path().join("config.json")).unwrap();
    let create = proto::CreateTaskRequest {
        id: id.clone(),
        bundle: bundle.path_str().into(),
        ..Default::default()
    };
    expect(
        call("Create", create.encode_to_vec()),
        "code",
        "config.json",
    );
    let mine = proto::ProcessRequest {
        id: id.clone(),
        exec_id: String::new(),
    };
    expect(call("State", mine.encode_to_vec()), "code 5", &id);
    let exec = proto::ProcessRequest {
        id: id.clone(),
        exec_id: "nosuch-exec".into(),
    };
    expect(call("State", exec.encode_to_vec()), "code 5", &id);
    assert!(
        !state.path().join("gantry/testns").join(&id).exists(),
        "a failed Create left container state"
    );
    let shutdown = proto::ShutdownRequest { id, now: true };
    call("Shutdown", shutdown.encode_to_vec()).unwrap();
}
