//! Prometheus metrics served at `/v1/metrics` on `metrics.address` (as containerd serves
//! them): gRPC requests by method (count, outcome, latency, with go-grpc-prometheus' names
//! as containerd exports them), content bytes written and read, garbage collections.
//!
//! One process-wide registry: every part of the daemon records into [`global`].

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tonic::codegen::http;

type MethodLabels = [(&'static str, String); 2];
type HandledLabels = [(&'static str, String); 3];

pub struct Metrics {
    registry: Registry,
    grpc_started: Family<MethodLabels, Counter>,
    grpc_handled: Family<HandledLabels, Counter>,
    grpc_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    content_ingested: Counter,
    content_read: Counter,
    gc_runs: Counter,
    gc_seconds: Histogram,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~100 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 11))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let grpc_started = Family::<MethodLabels, Counter>::default();
        let grpc_handled = Family::<HandledLabels, Counter>::default();
        let grpc_seconds =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let content_ingested = Counter::default();
        let content_read = Counter::default();
        let gc_runs = Counter::default();
        let gc_seconds = latency_histogram();
        registry.register(
            "grpc_server_started",
            "Total number of RPCs started on the server",
            grpc_started.clone(),
        );
        registry.register(
            "grpc_server_handled",
            "Total number of RPCs completed on the server, regardless of success or failure",
            grpc_handled.clone(),
        );
        registry.register(
            "grpc_server_handling_seconds",
            "Time until the server sent the response headers (the whole call for unary RPCs)",
            grpc_seconds.clone(),
        );
        registry.register(
            "gantryd_content_ingested_bytes",
            "Bytes written into the content store through Write",
            content_ingested.clone(),
        );
        registry.register(
            "gantryd_content_read_bytes",
            "Bytes read from the content store through Read",
            content_read.clone(),
        );
        registry.register(
            "gantryd_gc_runs",
            "Garbage collections run",
            gc_runs.clone(),
        );
        registry.register(
            "gantryd_gc_seconds",
            "Time taken by each garbage collection",
            gc_seconds.clone(),
        );
        Metrics {
            registry,
            grpc_started,
            grpc_handled,
            grpc_seconds,
            content_ingested,
            content_read,
            gc_runs,
            gc_seconds,
        }
    }

    pub fn content_ingested(&self, n: usize) {
        self.content_ingested.inc_by(n as u64);
    }

    pub fn content_read(&self, n: usize) {
        self.content_read.inc_by(n as u64);
    }

    pub fn gc_ran(&self, took: Duration) {
        self.gc_runs.inc();
        self.gc_seconds.observe(took.as_secs_f64());
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

pub fn global() -> &'static Metrics {
    &METRICS
}

/// `/containerd.services.content.v1.Content/Write` → (`containerd.services.content.v1.Content`, `Write`).
fn split_path(path: &str) -> (String, String) {
    let p = path.trim_start_matches('/');
    match p.rsplit_once('/') {
        Some((s, m)) => (s.to_string(), m.to_string()),
        None => (String::new(), p.to_string()),
    }
}

/// gRPC status names as go-grpc-prometheus labels them.
fn code_name(code: &str) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    code.parse::<usize>()
        .ok()
        .and_then(|i| NAMES.get(i).copied())
        .unwrap_or("Unknown")
}

/// Wraps the gRPC router to count and time every call.
#[derive(Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;
    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let labels = [("grpc_service", service), ("grpc_method", method)];
        let m = global();
        m.grpc_started.get_or_create(&labels).inc();
        let start = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let m = global();
            m.grpc_seconds
                .get_or_create(&labels)
                .observe(start.elapsed().as_secs_f64());
            // Errors of unary calls come as trailers-only responses, with the status in
            // the headers; a status sent later in trailers is not seen here.
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .map(code_name)
                    .unwrap_or("OK"),
                Err(_) => "Unknown",
            };
            let [s, me] = labels;
            m.grpc_handled
                .get_or_create(&[s, me, ("grpc_code", code.to_string())])
                .inc();
            res
        })
    }
}

/// Serves `GET /v1/metrics` on `addr` (host:port) until the task is dropped.
pub async fn serve(addr: &str) -> Result<tokio::task::JoinHandle<()>, String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics listener on {addr}: {e}"))?;
    tracing::info!(address = %addr, "serving metrics at /v1/metrics");
    Ok(tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        Ok::<_, std::convert::Infallible>(respond(&req))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(conn), svc)
                    .await;
            });
        }
    }))
}

fn respond<B>(req: &hyper::Request<B>) -> hyper::Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/v1/metrics") => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            global().render(),
        ),
        (_, "/v1/metrics") => (405, "text/plain", "method not allowed\n".to_string()),
        _ => (404, "text/plain", "404 page not found\n".to_string()),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", ctype)
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_codes() {
        assert_eq!(
            split_path("/containerd.services.content.v1.Content/Write"),
            (
                "containerd.services.content.v1.Content".to_string(),
                "Write".to_string()
            )
        );
        assert_eq!(code_name("5"), "NotFound");
        assert_eq!(code_name("99"), "Unknown");
    }
}
