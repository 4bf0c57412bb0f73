//! Proxy plugins (`[proxy_plugins.NAME]` with `type` and `address`, as containerd has them):
//! a content store served by another process over containerd's Content gRPC API on a unix
//! socket. When one is configured, gantryd's Content service delegates every call to it.
//!
//! What is forwarded: the request and the caller's namespace. The caller's lease is not:
//! leases live in gantryd, which the proxy does not know, so protecting proxied content
//! from collection is the proxy's business (containerd's proxy targets are plain content
//! stores without a collector). Proxy snapshotters are accepted in the config but fail to
//! initialise until gantryd has snapshots.

use std::pin::Pin;

use gantry_api::client::NAMESPACE_HEADER;
use gantry_api::services::content::v1::content_client::ContentClient;
use gantry_api::services::content::v1::content_server::Content;
use gantry_api::services::content::v1::*;
use gantry_api::tonic::transport::Channel;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::errors::namespace;
use crate::plugin::{InitContext, Instance, Registration};
use crate::plugins::CONTENT;

pub const SNAPSHOT: &str = "io.containerd.snapshotter.v1";

/// A content store reached over gRPC.
pub struct ProxyContent {
    pub address: String,
    client: ContentClient<Channel>,
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
    Ok(std::sync::Arc::new(ProxyContent { address, client }))
}

fn init_snapshot(ctx: &mut InitContext) -> Result<Instance, String> {
    let address = address(ctx)?;
    ctx.exports.insert("address".into(), address);
    Err("proxy snapshotter plugins are not supported: gantryd has no snapshotters yet".into())
}

/// Re-issues `msg` for the proxy with the caller's namespace.
fn forward<T, U>(req: &Request<T>, msg: U) -> Result<Request<U>, Status> {
    let ns = namespace(req)?;
    let mut out = Request::new(msg);
    let v = ns
        .parse()
        .map_err(|_| Status::invalid_argument(format!("namespace {ns:?}")))?;
    out.metadata_mut().insert(NAMESPACE_HEADER, v);
    Ok(out)
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn boxed<T: Send + 'static>(s: Streaming<T>) -> BoxStream<T> {
    Box::pin(s)
}

/// A proxy that cannot be reached is Unavailable, as containerd reports a dead proxy.
fn unreachable(addr: &str) -> impl Fn(Status) -> Status + '_ {
    move |s| {
        if s.code() == tonic::Code::Unknown && s.message().contains("transport error") {
            Status::unavailable(format!("content proxy {addr}: {}", s.message()))
        } else {
            s
        }
    }
}

#[tonic::async_trait]
impl Content for ProxyContent {
    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.info(r).await.map_err(unreachable(&self.address))
    }

    async fn update(
        &self,
        req: Request<UpdateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.update(r).await.map_err(unreachable(&self.address))
    }

    type ListStream = BoxStream<ListContentResponse>;

    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        let s = c.list(r).await.map_err(unreachable(&self.address))?;
        Ok(Response::new(boxed(s.into_inner())))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.delete(r).await.map_err(unreachable(&self.address))
    }

    type ReadStream = BoxStream<ReadContentResponse>;

    async fn read(
        &self,
        req: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        let s = c.read(r).await.map_err(unreachable(&self.address))?;
        let s = s.into_inner().map(|m| {
            if let Ok(m) = &m {
                crate::metrics::global().content_read(m.data.len());
            }
            m
        });
        Ok(Response::new(Box::pin(s)))
    }

    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.status(r).await.map_err(unreachable(&self.address))
    }

    async fn list_statuses(
        &self,
        req: Request<ListStatusesRequest>,
    ) -> Result<Response<ListStatusesResponse>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.list_statuses(r).await.map_err(unreachable(&self.address))
    }

    type WriteStream = BoxStream<WriteContentResponse>;

    async fn write(
        &self,
        req: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<Self::WriteStream>, Status> {
        let ns = namespace(&req)?;
        let inbound = req.into_inner().map_while(|m| {
            // A broken client stream ends the forwarded one; the proxy keeps the ingest.
            let m = m.ok()?;
            crate::metrics::global().content_ingested(m.data.len());
            Some(m)
        });
        let mut out = Request::new(inbound);
        let v = ns
            .parse()
            .map_err(|_| Status::invalid_argument(format!("namespace {ns:?}")))?;
        out.metadata_mut().insert(NAMESPACE_HEADER, v);
        let mut c = self.client.clone();
        let s = c.write(out).await.map_err(unreachable(&self.address))?;
        Ok(Response::new(boxed(s.into_inner())))
    }

    async fn abort(&self, req: Request<AbortRequest>) -> Result<Response<()>, Status> {
        let r = forward(&req, req.get_ref().clone())?;
        let mut c = self.client.clone();
        c.abort(r).await.map_err(unreachable(&self.address))
    }
}
