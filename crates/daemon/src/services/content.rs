//! containerd.services.content.v1.Content: blobs by digest, resumable writes by ref.

use std::io::Read;
use std::pin::Pin;

use gantry_api::containerd::events::ContentDelete;
use gantry_api::services::content::v1::content_server::Content;
use gantry_api::services::content::v1::*;
use gantry_store::content::{Info as StoreInfo, IngestStatus, Writer};
use gantry_store::namespaces::PLAIN;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status as RpcStatus, Streaming};

use super::Deps;
use crate::convert::{btree, hash, paths, ts};
use crate::errors::{blocking, namespace, to_status};
use crate::exchange::any;

/// The Content service over the local store. The flag is `serve_without_namespace`: a request
/// without a namespace is then served from the store's plain namespace instead of failing,
/// as a containerd 1.6 front sends its proxied content calls without one (and with leases
/// of its own, which mean nothing here and are ignored).
pub struct ContentService(pub Deps, pub bool);

impl ContentService {
    fn namespace<T>(&self, req: &Request<T>) -> Result<String, RpcStatus> {
        let absent = req
            .metadata()
            .get(gantry_api::client::NAMESPACE_HEADER)
            .is_none_or(|v| v.is_empty());
        if self.1 && absent {
            return Ok(PLAIN.to_string());
        }
        namespace(req)
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, RpcStatus>> + Send>>;

/// Bytes per Read response, as containerd's service uses.
const READ_CHUNK: usize = 1 << 20;

fn info_proto(i: StoreInfo) -> Info {
    Info {
        digest: i.digest,
        size: i.size,
        created_at: ts(i.created_at),
        updated_at: ts(i.updated_at),
        labels: hash(i.labels),
    }
}

fn status_proto(s: IngestStatus) -> Status {
    Status {
        started_at: ts(s.started_at),
        updated_at: ts(s.updated_at),
        r#ref: s.r#ref,
        offset: s.offset,
        total: s.total,
        expected: s.expected,
    }
}

/// The lease named by the request's `containerd-lease` metadata, if any (never for the plain
/// namespace, which has no leases).
fn lease<T>(ns: &str, req: &Request<T>) -> Option<String> {
    if ns == PLAIN {
        return None;
    }
    req.metadata()
        .get("containerd-lease")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let d = req.into_inner().digest;
        let s = self.0.store.clone();
        let i = blocking(move || s.content_info(&ns, &d)).await?;
        Ok(Response::new(InfoResponse {
            info: Some(info_proto(i)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateRequest>,
    ) -> Result<Response<UpdateResponse>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let r = req.into_inner();
        let info = r
            .info
            .ok_or_else(|| RpcStatus::invalid_argument("info must be set"))?;
        let new = StoreInfo {
            digest: info.digest,
            labels: btree(info.labels),
            ..Default::default()
        };
        let p = paths(r.update_mask);
        let s = self.0.store.clone();
        let i = blocking(move || s.content_update(&ns, &new, &p)).await?;
        Ok(Response::new(UpdateResponse {
            info: Some(info_proto(i)),
        }))
    }

    type ListStream = BoxStream<ListContentResponse>;

    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<Self::ListStream>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.content_list(&ns, &filter)).await?;
        // Batches keep each message well under the default 4 MiB limit.
        let batches: Vec<Result<ListContentResponse, RpcStatus>> = all
            .chunks(100)
            .map(|c| {
                Ok(ListContentResponse {
                    info: c.iter().cloned().map(info_proto).collect(),
                })
            })
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(batches))))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let d = req.into_inner().digest;
        let s = self.0.store.clone();
        let (n, dd) = (ns.clone(), d.clone());
        blocking(move || s.content_delete(&n, &dd)).await?;
        if ns != PLAIN {
            self.0
                .exchange
                .publish(&ns, "/content/delete", any(&ContentDelete { digest: d }));
        }
        Ok(Response::new(()))
    }

    type ReadStream = BoxStream<ReadContentResponse>;

    async fn read(
        &self,
        req: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let r = req.into_inner();
        let s = self.0.store.clone();
        let d = r.digest.clone();
        let off = r.offset;
        let (mut blob, size) = blocking(move || s.content_open_at(&ns, &d, off)).await?;
        let end = if r.size > 0 {
            (r.offset + r.size).min(size)
        } else {
            size
        };
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Response offsets count from the requested offset, as containerd sends them.
        let digest = r.digest;
        let start = r.offset;
        tokio::task::spawn_blocking(move || {
            let mut off = start;
            while off < end {
                let n = ((end - off) as usize).min(READ_CHUNK);
                let mut buf = vec![0u8; n];
                if let Err(e) = blob.read_exact(&mut buf) {
                    let _ = tx
                        .blocking_send(Err(RpcStatus::internal(format!("reading {digest}: {e}"))));
                    return;
                }
                crate::metrics::global().content_read(n);
                if tx
                    .blocking_send(Ok(ReadContentResponse {
                        offset: off - start,
                        data: buf,
                    }))
                    .is_err()
                {
                    return;
                }
                off += n as i64;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let r = req.into_inner().r#ref;
        let s = self.0.store.clone();
        let st = blocking(move || s.content_status(&ns, &r)).await?;
        Ok(Response::new(StatusResponse {
            status: Some(status_proto(st)),
        }))
    }

    async fn list_statuses(
        &self,
        req: Request<ListStatusesRequest>,
    ) -> Result<Response<ListStatusesResponse>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let filter = super::filters(&req.into_inner().filters)?;
        let s = self.0.store.clone();
        let all = blocking(move || s.content_list_statuses(&ns, &filter)).await?;
        Ok(Response::new(ListStatusesResponse {
            statuses: all.into_iter().map(status_proto).collect(),
        }))
    }

    type WriteStream = BoxStream<WriteContentResponse>;

    async fn write(
        &self,
        req: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<Self::WriteStream>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let lease = lease(&ns, &req);
        let mut inbound = req.into_inner();
        let first = match inbound.next().await {
            Some(m) => m?,
            None => {
                return Err(RpcStatus::invalid_argument(
                    "write stream closed before a request",
                ))
            }
        };
        if first.r#ref.is_empty() {
            return Err(RpcStatus::invalid_argument(
                "first message must have a reference",
            ));
        }
        let s = self.0.store.clone();
        let (n, r, t, e) = (
            ns.clone(),
            first.r#ref.clone(),
            first.total,
            first.expected.clone(),
        );
        let l = lease.clone();
        let writer = blocking(move || s.content_writer_leased(&n, &r, t, &e, l.as_deref())).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let session = WriteSession {
            deps: self.0.clone(),
            ns,
            lease,
            writer: Some(writer),
            total: first.total,
            expected: first.expected.clone(),
        };
        tokio::spawn(session.run(first, inbound, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn abort(&self, req: Request<AbortRequest>) -> Result<Response<()>, RpcStatus> {
        let ns = self.namespace(&req)?;
        let r = req.into_inner().r#ref;
        let s = self.0.store.clone();
        blocking(move || s.content_abort(&ns, &r)).await?;
        Ok(Response::new(()))
    }
}

/// One Write stream: holds the ref's writer until the stream ends (the ingest stays on disk
/// for a later resume) or the content is committed.
struct WriteSession {
    deps: Deps,
    ns: String,
    lease: Option<String>,
    writer: Option<Writer>,
    total: i64,
    expected: String,
}

impl WriteSession {
    async fn run(
        mut self,
        first: WriteContentRequest,
        mut inbound: Streaming<WriteContentRequest>,
        tx: tokio::sync::mpsc::Sender<Result<WriteContentResponse, RpcStatus>>,
    ) {
        let mut next = Some(first);
        while let Some(req) = next.take() {
            let reply = tokio::task::block_in_place(|| self.handle(req));
            let failed = reply.is_err();
            if tx.send(reply).await.is_err() || failed {
                return;
            }
            next = match inbound.next().await {
                Some(Ok(m)) => Some(m),
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "content write stream ended");
                    None
                }
                None => None,
            };
        }
    }

    fn handle(&mut self, req: WriteContentRequest) -> Result<WriteContentResponse, RpcStatus> {
        let w = self.writer.as_mut().ok_or_else(|| {
            RpcStatus::failed_precondition(format!("ref {} already committed", req.r#ref))
        })?;
        if !req.expected.is_empty() {
            if self
                .deps
                .store
                .content_info(&self.ns, &req.expected)
                .is_ok()
            {
                let r = w.status().r#ref;
                self.writer = None;
                let _ = self.deps.store.content_abort(&self.ns, &r);
                return Err(RpcStatus::already_exists(format!(
                    "blob with expected digest {} exists",
                    req.expected
                )));
            }
            self.expected = req.expected.clone();
        }
        if req.total > 0 {
            self.total = req.total;
        }
        w.set_expectations(self.total, &self.expected)
            .map_err(to_status)?;
        let st = w.status();
        let mut msg = WriteContentResponse {
            action: req.action,
            offset: st.offset,
            ..Default::default()
        };
        match WriteAction::try_from(req.action) {
            Ok(WriteAction::Stat) => {
                msg.digest = w.digest();
                msg.started_at = ts(st.started_at);
                msg.updated_at = ts(st.updated_at);
                msg.total = self.total;
            }
            Ok(WriteAction::Write) | Ok(WriteAction::Commit) => {
                if req.offset > 0 && req.offset != st.offset {
                    return Err(RpcStatus::out_of_range(format!(
                        "write @{} must occur at current offset {}",
                        req.offset, st.offset
                    )));
                }
                if req.offset == 0 && st.offset > 0 {
                    w.truncate_to_start().map_err(to_status)?;
                    msg.offset = 0;
                }
                if !req.data.is_empty() {
                    w.write(&req.data).map_err(to_status)?;
                    crate::metrics::global().content_ingested(req.data.len());
                    msg.offset += req.data.len() as i64;
                }
                msg.digest = w.digest();
                if req.action == WriteAction::Commit as i32 {
                    let w = self.writer.take().expect("writer present");
                    let d = self
                        .deps
                        .store
                        .content_commit(
                            &self.ns,
                            w,
                            self.total,
                            &self.expected,
                            &btree(req.labels),
                            self.lease.as_deref(),
                        )
                        .map_err(to_status)?;
                    msg.digest = d;
                }
            }
            Err(_) => {
                return Err(RpcStatus::invalid_argument(format!(
                    "unknown write action {}",
                    req.action
                )))
            }
        }
        Ok(msg)
    }
}
