//! Forwards task events to containerd's ttrpc events service (TTRPC_ADDRESS), driven by
//! the shim's one loop: events queue in order, one is in flight at a time, and a
//! containerd that is away (restarting) is retried with backoff until it answers, so no
//! event is lost or reordered while the shim lives. No thread: the shim stays
//! single-threaded, which forking runtimes need. (The publish binary is not used.)

use crate::proto::{now, Any, Envelope, ForwardRequest};
use crate::ttrpc::{self, Frame};
use nix::sys::socket::{recv, MsgFlags};
use prost::Message;
use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";

pub struct Publisher {
    address: String,
    namespace: String,
    queue: VecDeque<Vec<u8>>,
    conn: Option<UnixStream>,
    in_flight: Option<u32>,
    next_stream: u32,
    buf: Vec<u8>,
    retry_at: Option<Instant>,
    failures: u32,
}

impl Publisher {
    /// A publisher for containerd's ttrpc socket at `address`.
    pub fn new(address: String, namespace: String) -> Publisher {
        Publisher {
            address,
            namespace,
            queue: VecDeque::new(),
            conn: None,
            in_flight: None,
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
        self.queue.push_back(
            ForwardRequest {
                envelope: Some(env),
            }
            .encode_to_vec(),
        );
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
            let Some(payload) = self.queue.front() else {
                return;
            };
            if self.retry_at.is_some_and(|at| at > Instant::now()) {
                return;
            }
            let stream = self.next_stream;
            // Client streams are odd.
            self.next_stream += 2;
            let req = crate::proto::Request {
                service: SERVICE.into(),
                method: "Forward".into(),
                payload: payload.clone(),
                timeout_nano: 0,
            };
            let frame = ttrpc::encode_frame(stream, ttrpc::TYPE_REQUEST, &req.encode_to_vec());
            if self.conn.is_none() {
                match UnixStream::connect(&self.address) {
                    Ok(c) => self.conn = Some(c),
                    Err(e) => {
                        self.fail(format!("connecting: {e}"));
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
