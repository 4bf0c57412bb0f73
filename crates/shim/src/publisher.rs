//! Forwards task events to containerd's ttrpc events service (TTRPC_ADDRESS), driven by
//! the shim's one loop: events queue in order, one is in flight at a time, and a
//! containerd that is away (restarting) is retried with backoff until it answers, so no
//! event is lost or reordered while the shim lives. No thread: the shim stays
//! single-threaded, which forking runtimes need.
//!
//! When the events socket cannot be reached at all, the event goes out through the
//! publish binary instead, as older shims did: `BIN --address A publish --topic T
//! --namespace NS` with the event's protobuf `Any` on stdin. A failed run is retried
//! (socket first) with the same backoff, so order still holds.

use crate::proto::{now, Any, Envelope, ForwardRequest};
use crate::ttrpc::{self, Frame};
use nix::sys::socket::{recv, MsgFlags};
use prost::Message;
use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

/// How long one run of the publish binary may take before it is killed (and retried).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The publish binary and containerd's gRPC address it is told to dial.
pub struct PublishBinary {
    pub binary: String,
    pub address: String,
}

pub struct Publisher {
    address: String,
    namespace: String,
    fallback: Option<PublishBinary>,
    queue: VecDeque<Envelope>,
    conn: Option<UnixStream>,
    in_flight: Option<u32>,
    /// A publish binary run carrying the head of the queue: pid and kill deadline.
    child: Option<(u32, Instant)>,
    next_stream: u32,
    buf: Vec<u8>,
    retry_at: Option<Instant>,
    failures: u32,
}

impl Publisher {
    /// A publisher for containerd's ttrpc socket at `address`, falling back on
    /// `fallback` when that socket cannot be reached.
    pub fn new(address: String, namespace: String, fallback: Option<PublishBinary>) -> Publisher {
        Publisher {
            address,
            namespace,
            fallback,
            queue: VecDeque::new(),
            conn: None,
            in_flight: None,
            child: None,
            next_stream: 1,
            buf: Vec::new(),
            retry_at: None,
            failures: 0,
        }
    }

    /// Queues `event` (a `containerd.events.*` message named `type_name`) on `topic`.
    pub fn publish<M: Message>(&mut self, topic: &str, type_name: &str, event: &M) {
        let env = Envelope {
            timestamp: Some(now()),
            namespace: self.namespace.clone(),
            topic: topic.into(),
            event: Some(Any {
                type_url: format!("containerd.events.{type_name}"),
                value: event.encode_to_vec(),
            }),
        };
        self.queue.push_back(env);
    }

    /// Nothing left to send.
    pub fn idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// The descriptor to poll for containerd's answer, while one is awaited.
    pub fn poll_fd(&self) -> Option<RawFd> {
        self.in_flight?;
        self.conn.as_ref().map(|c| c.as_raw_fd())
    }

    /// Milliseconds until a retry is due (-1: nothing to wait for).
    pub fn timeout_ms(&self) -> i32 {
        if let Some((_, deadline)) = self.child {
            return deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32;
        }
        match (self.queue.is_empty(), self.in_flight, self.retry_at) {
            (false, None, Some(at)) => at
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32,
            (false, None, None) => 0,
            _ => -1,
        }
    }

    fn fail(&mut self, why: String) {
        self.conn = None;
        self.in_flight = None;
        self.buf.clear();
        self.failures += 1;
        // Logged at attempts 1, 2, 4, 8 ...: a long outage does not flood the log.
        if self.failures.is_power_of_two() {
            crate::log::warn(&format!(
                "forwarding events to {}: {why} (attempt {}, retrying)",
                self.address, self.failures
            ));
        }
        let backoff = Duration::from_millis(20 << self.failures.min(6));
        self.retry_at = Some(Instant::now() + backoff);
    }

    /// Reads answers and sends the next event; call on every loop turn.
    pub fn drive(&mut self) {
        if self.child.is_some() {
            self.check_child_deadline();
            return;
        }
        loop {
            if let Some(stream) = self.in_flight {
                match self.take_answer(stream) {
                    Ok(true) => {
                        self.queue.pop_front();
                        self.in_flight = None;
                        self.failures = 0;
                        self.retry_at = None;
                        continue;
                    }
                    Ok(false) => return,
                    Err(e) => {
                        self.fail(e);
                        return;
                    }
                }
            }
            let Some(env) = self.queue.front() else {
                return;
            };
            if self.retry_at.is_some_and(|at| at > Instant::now()) {
                return;
            }
            let payload = ForwardRequest {
                envelope: Some(env.clone()),
            }
            .encode_to_vec();
            let stream = self.next_stream;
            // Client streams are odd.
            self.next_stream += 2;
            let req = crate::proto::Request {
                service: SERVICE.into(),
                method: "Forward".into(),
                payload,
                timeout_nano: 0,
            };
            let frame = ttrpc::encode_frame(stream, ttrpc::TYPE_REQUEST, &req.encode_to_vec());
            if self.conn.is_none() {
                match UnixStream::connect(&self.address) {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        match self.spawn_publish_binary() {
                            Some(Ok(())) => {}
                            Some(Err(why)) => self.fail(format!("connecting: {e}; {why}")),
                            None => self.fail(format!("connecting: {e}")),
                        }
                        return;
                    }
                }
            }
            let conn = self.conn.as_mut().expect("connected above");
            if let Err(e) = conn.write_all(&frame) {
                self.fail(format!("sending: {e}"));
                return;
            }
            self.in_flight = Some(stream);
        }
    }

    /// Starts the publish binary for the head of the queue; None without one. The run
    /// is not waited for here: the reaper hands its exit to `take_exit`.
    fn spawn_publish_binary(&mut self) -> Option<Result<(), String>> {
        let bin = self.fallback.as_ref()?;
        let env = self.queue.front()?;
        let any = env.event.clone().unwrap_or_default().encode_to_vec();
        let mut child = match Command::new(&bin.binary)
            .args(["--address", &bin.address, "publish", "--topic", &env.topic])
            .args(["--namespace", &env.namespace])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Some(Err(format!("running {}: {e}", bin.binary))),
        };
        // An event is a few hundred bytes, well under a pipe's buffer: the write does not
        // block, and dropping stdin closes it so the binary reads to end of file.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&any);
        }
        self.child = Some((child.id(), Instant::now() + PUBLISH_TIMEOUT));
        Some(Ok(()))
    }

    /// Takes the exit of a publish binary run (true), or leaves it to the caller (false).
    pub fn take_exit(&mut self, pid: u32, status: u32) -> bool {
        if self.child.map(|(p, _)| p) != Some(pid) {
            return false;
        }
        self.child = None;
        if status == 0 {
            self.queue.pop_front();
            self.failures = 0;
            self.retry_at = None;
        } else {
            let bin = self.fallback.as_ref().map(|b| b.binary.as_str());
            self.fail(format!(
                "events socket unreachable and {} exited with status {status}",
                bin.unwrap_or_default()
            ));
        }
        true
    }

    /// Kills a publish binary run that has taken too long (its exit comes to `take_exit`).
    fn check_child_deadline(&mut self) {
        if let Some((pid, deadline)) = self.child {
            if Instant::now() >= deadline {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// Reads without blocking; true once the answer for `stream` has arrived.
    fn take_answer(&mut self, stream: u32) -> Result<bool, String> {
        let Some(conn) = self.conn.as_ref() else {
            return Err("not connected".into());
        };
        let mut chunk = [0u8; 1024];
        loop {
            match recv(conn.as_raw_fd(), &mut chunk, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Err("containerd closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("reading: {e}")),
            }
        }
        while let Some(Frame {
            stream: s,
            kind,
            payload,
        }) = ttrpc::take_frame(&mut self.buf).map_err(|e| e.to_string())?
        {
            if s != stream || kind != ttrpc::TYPE_RESPONSE {
                continue;
            }
            let resp = crate::proto::Response::decode(payload.as_slice())
                .map_err(|e| format!("decoding the answer: {e}"))?;
            if let Some(st) = resp.status.filter(|s| s.code != 0) {
                // Rejected for good (a retry would be rejected again): drop it, say so.
                crate::log::error(&format!(
                    "containerd rejected an event: code {}: {}",
                    st.code, st.message
                ));
            }
            return Ok(true);
        }
        Ok(false)
    }
}
