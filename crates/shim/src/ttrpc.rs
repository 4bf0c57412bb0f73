//! ttrpc framing over unix sockets: a 10-byte header (length, stream id, type, flags,
//! big-endian) followed by a protobuf `Request` or `Response`. The server side is driven
//! by the shim's poll loop; the client side (event forwarding) is a plain blocking call.

use crate::proto::{Request, Response, Status};
use prost::Message;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

pub const TYPE_REQUEST: u8 = 1;
pub const TYPE_RESPONSE: u8 = 2;
const HEADER_LEN: usize = 10;
/// ttrpc's message size limit.
const MAX_MESSAGE: usize = 4 << 20;

/// gRPC status codes the shim answers with.
pub mod code {
    pub const UNKNOWN: i32 = 2;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const ALREADY_EXISTS: i32 = 6;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const UNIMPLEMENTED: i32 = 12;
}

/// An error returned to the caller as a ttrpc status.
#[derive(Debug)]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }
}

pub fn encode_frame(stream: u32, kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(kind);
    out.push(0);
    out.extend_from_slice(payload);
    out
}

/// One decoded frame.
pub struct Frame {
    pub stream: u32,
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Takes one complete frame off the front of `buf`, if there is one.
pub fn take_frame(buf: &mut Vec<u8>) -> io::Result<Option<Frame>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("ttrpc message of {len} bytes exceeds the {MAX_MESSAGE} byte limit"),
        ));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let stream = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let kind = buf[8];
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some(Frame {
        stream,
        kind,
        payload,
    }))
}

/// Encodes a response frame for `stream` carrying either a message or an error status.
pub fn response_frame(stream: u32, result: Result<Vec<u8>, RpcError>) -> Vec<u8> {
    let resp = match result {
        Ok(payload) => Response {
            status: Some(Status {
                code: 0,
                message: String::new(),
            }),
            payload,
        },
        Err(e) => Response {
            status: Some(Status {
                code: e.code,
                message: e.message,
            }),
            payload: Vec::new(),
        },
    };
    encode_frame(stream, TYPE_RESPONSE, &resp.encode_to_vec())
}

/// A blocking ttrpc client over one connection. The shim itself drives its one client
/// (events) from its loop; this one serves the tests, which include this file.
#[allow(dead_code)]
pub struct Client {
    conn: UnixStream,
    next_stream: u32,
    buf: Vec<u8>,
}

#[allow(dead_code)]
impl Client {
    pub fn connect(path: &str) -> io::Result<Self> {
        let conn = UnixStream::connect(path)?;
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        Ok(Client {
            conn,
            next_stream: 1,
            buf: Vec::new(),
        })
    }

    /// Calls `service/method` and returns the response payload.
    pub fn call(&mut self, service: &str, method: &str, payload: Vec<u8>) -> io::Result<Vec<u8>> {
        let stream = self.next_stream;
        // Client streams are odd.
        self.next_stream += 2;
        let req = Request {
            service: service.into(),
            method: method.into(),
            payload,
            timeout_nano: 0,
        };
        self.conn
            .write_all(&encode_frame(stream, TYPE_REQUEST, &req.encode_to_vec()))?;
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(frame) = take_frame(&mut self.buf)? {
                if frame.stream != stream || frame.kind != TYPE_RESPONSE {
                    continue;
                }
                let resp = Response::decode(frame.payload.as_slice())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                return match resp.status {
                    Some(s) if s.code != 0 => Err(io::Error::other(format!(
                        "{service}/{method}: code {}: {}",
                        s.code, s.message
                    ))),
                    _ => Ok(resp.payload),
                };
            }
            let n = self.conn.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{service}/{method}: connection closed"),
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
