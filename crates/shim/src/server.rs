//! The long-lived shim: one thread polls the ttrpc listener (inherited as fd 3), its
//! connections, the SIGCHLD signalfd and the stdio copiers. Requests are answered in
//! arrival order; Waits are parked until the reaper sees the exit.

use crate::flags::Flags;
use crate::service::{Reply, Service, SERVICE, SERVICE_V3};
use crate::ttrpc::{self, code, RpcError};
use prost::Message;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
}

/// The fd `start` hands the listening socket on.
const LISTENER_FD: RawFd = 3;

pub fn serve(flags: &Flags) -> Result<(), String> {
    crate::log::open_fifo(flags.debug);
    // Read now: with one shim per pod, the first bundle may be gone by the time we exit.
    let socket_path = std::fs::read_to_string("address")
        .ok()
        .map(|a| a.trim().trim_start_matches("unix://").to_string());
    let mut sfd = crate::reaper::setup()?;
    let mut text = crate::footprint::Text::find();
    // SAFETY: `start` put the listening socket on fd 3 for us and nothing else uses it.
    let listener = unsafe { UnixListener::from_raw_fd(LISTENER_FD) };
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("shim socket (fd 3): {e}"))?;
    let _ = nix::fcntl::fcntl(
        &listener,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let events_address =
        std::env::var("TTRPC_ADDRESS").unwrap_or_else(|_| format!("{}.ttrpc", flags.address));
    let fallback = (!flags.publish_binary.is_empty()).then(|| crate::publisher::PublishBinary {
        binary: flags.publish_binary.clone(),
        address: flags.address.clone(),
    });
    let publisher =
        crate::publisher::Publisher::new(events_address, flags.namespace.clone(), fallback);
    let mut service = Service::new(flags.namespace.clone(), flags.address.clone(), publisher);
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next_conn = 0u64;

    // Events queued by the last turn go out before the loop sleeps again; a Shutdown
    // waits for them too (bounded, in case containerd is gone for good).
    let mut exit_deadline: Option<std::time::Instant> = None;
    loop {
        service.publisher.drive();
        if service.exit_requested {
            let deadline = *exit_deadline.get_or_insert_with(|| {
                std::time::Instant::now() + std::time::Duration::from_secs(5)
            });
            if service.publisher.idle() || std::time::Instant::now() > deadline {
                break;
            }
        }
        let copiers = service.copier_fds();
        let ooms = service.oom_fds();
        let conn_ids: Vec<u64> = conns.keys().copied().collect();
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(2 + conn_ids.len() + copiers.len());
        let pollin = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.push(pollin(listener.as_raw_fd()));
        fds.push(pollin(sfd.as_raw_fd()));
        fds.extend(
            conn_ids
                .iter()
                .map(|id| pollin(conns[id].stream.as_raw_fd())),
        );
        let polled = |(fd, events): (RawFd, i16)| libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        fds.extend(copiers.iter().map(|(_, fd, ev)| polled((*fd, *ev))));
        fds.extend(ooms.iter().map(|(_, fd, ev)| polled((*fd, *ev))));
        if let Some(fd) = service.publisher.poll_fd() {
            fds.push(pollin(fd));
        }
        let mut timeout = service.publisher.timeout_ms();
        if exit_deadline.is_some() {
            timeout = if timeout < 0 { 50 } else { timeout.min(50) };
        }
        let trim_in = text.timeout_ms();
        if trim_in >= 0 {
            timeout = if timeout < 0 {
                trim_in
            } else {
                timeout.min(trim_in)
            };
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("poll: {e}"));
        }
        if n == 0 {
            text.trim_if_idle();
        } else {
            text.touched();
        }
        if fds[0].revents != 0 {
            while let Ok((stream, _)) = listener.accept() {
                conns.insert(
                    next_conn,
                    Conn {
                        stream,
                        buf: Vec::new(),
                    },
                );
                next_conn += 1;
            }
        }
        // OOMs before exits: the kill an OOM causes must not be reported first.
        let oom_base = 2 + conn_ids.len() + copiers.len();
        for (i, (id, _, _)) in ooms.iter().enumerate() {
            if fds[oom_base + i].revents != 0 {
                service.on_oom(id);
            }
        }
        if fds[1].revents != 0 {
            for (pid, status) in crate::reaper::reap(&mut sfd) {
                if !service.publisher.take_exit(pid, status) {
                    service.on_exit(pid, status);
                }
            }
        }
        for (i, id) in conn_ids.iter().enumerate() {
            if fds[2 + i].revents == 0 {
                continue;
            }
            if !serve_conn(*id, &mut conns, &mut service) {
                conns.remove(id);
            }
        }
        let base = 2 + conn_ids.len();
        for (i, (key, _, _)) in copiers.iter().enumerate() {
            if fds[base + i].revents != 0 {
                service.pump(key);
            }
        }

        for ((conn, stream), result) in service.outbox.drain(..) {
            if let Some(c) = conns.get_mut(&conn) {
                let _ = c.stream.write_all(&ttrpc::response_frame(stream, result));
            }
        }
    }
    // Delete has run for every container: take the socket down and exit.
    if let Some(path) = socket_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Reads what a connection has and answers its complete requests; false when it closed.
fn serve_conn(id: u64, conns: &mut HashMap<u64, Conn>, service: &mut Service) -> bool {
    let Some(conn) = conns.get_mut(&id) else {
        return false;
    };
    let mut chunk = [0u8; 16 * 1024];
    match conn.stream.read(&mut chunk) {
        Ok(0) => return false,
        Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
        Err(_) => return false,
    }
    loop {
        let frame = match ttrpc::take_frame(&mut conn.buf) {
            Ok(Some(f)) => f,
            Ok(None) => return true,
            Err(e) => {
                crate::log::warn(&format!("ttrpc connection: {e}"));
                return false;
            }
        };
        if frame.kind != ttrpc::TYPE_REQUEST {
            continue;
        }
        let result = match crate::proto::Request::decode(frame.payload.as_slice()) {
            Err(e) => Reply::Now(Err(RpcError::new(
                code::INVALID_ARGUMENT,
                format!("decoding ttrpc request: {e}"),
            ))),
            // containerd 2.x's Task v3 has the same messages under a new package name.
            Ok(req) if req.service == SERVICE || req.service == SERVICE_V3 => {
                service.handle(&req.method, &req.payload, (id, frame.stream))
            }
            Ok(req) => Reply::Now(Err(RpcError::new(
                code::UNIMPLEMENTED,
                format!("service {} is not served by this shim", req.service),
            ))),
        };
        if let Reply::Now(r) = result {
            if conn
                .stream
                .write_all(&ttrpc::response_frame(frame.stream, r))
                .is_err()
            {
                return false;
            }
        }
    }
}
