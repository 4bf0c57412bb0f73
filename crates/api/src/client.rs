//! Connecting to a containerd-API server (gantryd or containerd) over its unix socket, and
//! tagging requests with the namespace and lease as containerd's Go client does.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

/// gRPC metadata key carrying the namespace of a request.
pub const NAMESPACE_HEADER: &str = "containerd-namespace";
/// gRPC metadata key carrying the lease that new resources join.
pub const LEASE_HEADER: &str = "containerd-lease";

/// Opens a channel to the unix socket at `path` (a `unix://` prefix is accepted).
///
/// ```no_run
/// # async fn f() -> Result<(), tonic::transport::Error> {
/// use gantry_api::services::version::v1::version_client::VersionClient;
/// let ch = gantry_api::client::connect("/run/gantry/gantryd.sock").await?;
/// let v = VersionClient::new(ch).version(()).await.unwrap().into_inner();
/// println!("{}", v.version);
/// # Ok(()) }
/// ```
pub async fn connect(path: impl AsRef<Path>) -> Result<Channel, tonic::transport::Error> {
    let raw = path.as_ref().to_string_lossy();
    let path: PathBuf = raw.strip_prefix("unix://").unwrap_or(&raw).into();
    // The URI is required by the API but unused: the connector dials the socket.
    Endpoint::from_static("http://[::]:0")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
}

/// A channel to the unix socket at `path` that dials on first use (and again after a
/// failure), for daemons that must start before the server they talk to.
pub fn connect_lazy(path: impl AsRef<Path>) -> Channel {
    let raw = path.as_ref().to_string_lossy();
    let path: PathBuf = raw.strip_prefix("unix://").unwrap_or(&raw).into();
    Endpoint::from_static("http://[::]:0").connect_with_connector_lazy(tower::service_fn(
        move |_: Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        },
    ))
}

/// Wraps a message in a request for namespace `ns`.
pub fn with_namespace<T>(ns: &str, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Ok(v) = ns.parse() {
        req.metadata_mut().insert(NAMESPACE_HEADER, v);
    }
    req
}

/// Wraps a message in a request for namespace `ns` whose new resources join `lease`.
pub fn with_lease<T>(ns: &str, lease: &str, msg: T) -> tonic::Request<T> {
    let mut req = with_namespace(ns, msg);
    if let Ok(v) = lease.parse() {
        req.metadata_mut().insert(LEASE_HEADER, v);
    }
    req
}
