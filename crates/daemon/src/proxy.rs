//! Proxy plugins (`[proxy_plugins.NAME]` with `type` and `address`, as containerd has them):
//! a content store served by another process over containerd's Content gRPC API on a unix
//! socket. As in containerd, such a plugin replaces the content *backend*: gantryd keeps its
//! own namespaced metadata (records, labels, leases, GC) and the proxy holds the blobs, by
//! digest and without namespaces. Calls go out with no namespace and no lease, as
//! containerd 1.6 sends them, so the target is a plain content store: containerd's example
//! servers, or gantryd with `serve_without_namespace`. Ingests are staged in gantryd and a
//! verified blob is written to the proxy at commit.
//!
//! Proxy snapshotters are accepted in the config but fail to initialise until gantryd has
//! snapshots.

use std::io::Read;
use std::path::Path;

use gantry_api::services::content::v1::content_client::ContentClient;
use gantry_api::services::content::v1::*;
use gantry_api::tonic::transport::Channel;
use gantry_store::content::{BlobReader, Blobs};
use gantry_store::Error;
use tokio::runtime::Handle;
use tokio_stream::StreamExt;
use tonic::{Code, Status};

use crate::plugin::{InitContext, Instance, Registration};
use crate::plugins::CONTENT;

pub const SNAPSHOT: &str = "io.containerd.snapshotter.v1";

/// A content store reached over gRPC: the blob backend of gantryd's metadata store.
pub struct ProxyContent {
    pub address: String,
    client: ContentClient<Channel>,
    /// The daemon's runtime: the store calls backends from blocking threads.
    rt: Handle,
}

/// The registrations for the configured proxy plugins (unknown types are skipped with a
/// warning, as containerd does).
pub fn registrations(cfg: &crate::config::Config) -> Vec<Registration> {
    let mut out = Vec::new();
    for (name, v) in &cfg.proxy_plugins {
        let ty = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let r#type = match ty {
            "content" | CONTENT => CONTENT,
            "snapshot" | SNAPSHOT => SNAPSHOT,
            _ => {
                tracing::warn!(plugin = %name, r#type = %ty, "unknown proxy plugin type");
                continue;
            }
        };
        // Registrations name plugins with static strings; a handful of config entries
        // live for the whole process anyway.
        let id: &'static str = Box::leak(name.clone().into_boxed_str());
        out.push(Registration {
            r#type,
            id,
            requires: &[],
            init: if r#type == CONTENT {
                init_content
            } else {
                init_snapshot
            },
        });
    }
    out
}

fn address(ctx: &InitContext) -> Result<String, String> {
    ctx.proxy_config
        .and_then(|c| c.get("address"))
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "proxy plugin has no address".to_string())
}

fn init_content(ctx: &mut InitContext) -> Result<Instance, String> {
    let address = address(ctx)?;
    ctx.exports.insert("address".into(), address.clone());
    let mut client = ContentClient::new(gantry_api::client::connect_lazy(&address));
    let (recv, send) = ctx.grpc_limits;
    if recv > 0 {
        client = client.max_decoding_message_size(recv);
    }
    if send > 0 {
        client = client.max_encoding_message_size(send);
    }
    let rt = Handle::try_current().map_err(|e| format!("content proxy {address}: {e}"))?;
    Ok(std::sync::Arc::new(ProxyContent {
        address,
        client,
        rt,
    }))
}

fn init_snapshot(ctx: &mut InitContext) -> Result<Instance, String> {
    let address = address(ctx)?;
    ctx.exports.insert("address".into(), address);
    Err("proxy snapshotter plugins are not supported: gantryd has no snapshotters yet".into())
}

/// Bytes per Write message when handing a blob to the proxy.
const WRITE_CHUNK: usize = 1 << 20;

impl ProxyContent {
    /// The proxy's answer as a store error of the same kind, naming the proxy.
    fn error(&self, s: Status) -> Error {
        let msg = format!("content proxy {}: {}", self.address, s.message());
        match s.code() {
            Code::NotFound => Error::NotFound(msg),
            Code::AlreadyExists => Error::AlreadyExists(msg),
            Code::FailedPrecondition => Error::FailedPrecondition(msg),
            Code::InvalidArgument => Error::InvalidArgument(msg),
            Code::OutOfRange => Error::OutOfRange(msg),
            Code::Unimplemented => Error::NotImplemented(msg),
            // A proxy that cannot be reached is Unavailable, as containerd reports it.
            _ => Error::Unavailable(msg),
        }
    }

    fn info(&self, dgst: &str) -> Result<Option<Info>, Error> {
        let mut c = self.client.clone();
        let r = self.rt.block_on(c.info(InfoRequest {
            digest: dgst.to_string(),
        }));
        match r {
            Ok(r) => Ok(r.into_inner().info),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(self.error(s)),
        }
    }
}

/// Reads a proxied blob from the chunks its Read stream delivers.
struct StreamReader {
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, String>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Blobs for ProxyContent {
    fn exists(&self, dgst: &str) -> Result<bool, Error> {
        Ok(self.info(dgst)?.is_some())
    }

    fn open_at(&self, dgst: &str, offset: u64) -> Result<BlobReader, Error> {
        let mut c = self.client.clone();
        let stream = self
            .rt
            .block_on(c.read(ReadContentRequest {
                digest: dgst.to_string(),
                offset: offset as i64,
                size: 0,
            }))
            .map_err(|s| self.error(s))?
            .into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let addr = self.address.clone();
        self.rt.spawn(async move {
            let mut stream = stream;
            while let Some(m) = stream.next().await {
                let item = m
                    .map(|m| m.data)
                    .map_err(|s| format!("content proxy {addr}: {}", s.message()));
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Box::new(StreamReader {
            rx,
            buf: Vec::new(),
            pos: 0,
        }))
    }

    fn adopt(&self, dgst: &str, size: i64, data: &Path) -> Result<(), Error> {
        let mut f = std::fs::File::open(data).map_err(|e| Error::Io {
            context: format!("opening {}", data.display()),
            source: e,
        })?;
        // The ref is the digest, so that two commits of one blob share the proxy's ingest.
        let r#ref = format!("gantryd-commit-{dgst}");
        let (tx, rx) = tokio::sync::mpsc::channel::<WriteContentRequest>(4);
        let mut c = self.client.clone();
        let call = self.rt.spawn(async move {
            c.write(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
        });
        let mut offset = 0i64;
        let mut buf = vec![0u8; WRITE_CHUNK];
        loop {
            let n = f.read(&mut buf).map_err(|e| Error::Io {
                context: format!("reading {}", data.display()),
                source: e,
            })?;
            let last = offset + n as i64 >= size;
            let msg = WriteContentRequest {
                action: if last {
                    WriteAction::Commit as i32
                } else {
                    WriteAction::Write as i32
                },
                r#ref: r#ref.clone(),
                total: size,
                expected: dgst.to_string(),
                offset,
                data: buf[..n].to_vec(),
                labels: Default::default(),
            };
            offset += n as i64;
            if tx.blocking_send(msg).is_err() || last || n == 0 {
                break;
            }
        }
        drop(tx);
        let stream = self
            .rt
            .block_on(call)
            .map_err(|e| Error::Unavailable(format!("content proxy {}: {e}", self.address)))?;
        let result = match stream {
            Ok(s) => {
                let mut s = s.into_inner();
                // Each message is answered; the last answer is the commit's.
                let mut last = Ok(());
                while let Some(m) = self.rt.block_on(s.next()) {
                    if let Err(e) = m {
                        last = Err(e);
                        break;
                    }
                }
                last
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => Ok(()),
            // Stored meanwhile (or by another front): just as good.
            Err(s) if s.code() == Code::AlreadyExists => Ok(()),
            Err(s) => Err(self.error(s)),
        }
    }

    fn delete(&self, dgst: &str) -> Result<(), Error> {
        let mut c = self.client.clone();
        match self.rt.block_on(c.delete(DeleteContentRequest {
            digest: dgst.to_string(),
        })) {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Ok(()),
            Err(s) => Err(self.error(s)),
        }
    }

    fn list(&self) -> Result<Vec<String>, Error> {
        let mut c = self.client.clone();
        let mut s = self
            .rt
            .block_on(c.list(ListContentRequest { filters: vec![] }))
            .map_err(|s| self.error(s))?
            .into_inner();
        let mut out = Vec::new();
        while let Some(m) = self.rt.block_on(s.next()) {
            out.extend(
                m.map_err(|s| self.error(s))?
                    .info
                    .into_iter()
                    .map(|i| i.digest),
            );
        }
        Ok(out)
    }
}
