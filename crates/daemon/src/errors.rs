//! The one place where store errors become gRPC statuses (containerd's `errdefs.ToGRPC`), and
//! where the namespace of a request is read from its `containerd-namespace` metadata.

use gantry_store::Error;
use tonic::{Code, Status};

pub fn to_status(e: Error) -> Status {
    let code = match &e {
        Error::NotFound(_) => Code::NotFound,
        Error::AlreadyExists(_) => Code::AlreadyExists,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::InvalidArgument(_) => Code::InvalidArgument,
        Error::Unavailable(_) => Code::Unavailable,
        Error::NotImplemented(_) => Code::Unimplemented,
        Error::OutOfRange(_) => Code::OutOfRange,
        Error::Db(_) | Error::Io { .. } | Error::Corrupt(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

/// The request's namespace, required and validated as containerd does.
pub fn namespace<T>(req: &tonic::Request<T>) -> Result<String, Status> {
    let ns = req
        .metadata()
        .get("containerd-namespace")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ns.is_empty() {
        return Err(Status::failed_precondition(
            "namespace is required: failed precondition",
        ));
    }
    gantry_store::namespaces::validate_identifier("namespace", ns).map_err(to_status)?;
    Ok(ns.to_string())
}

/// Runs blocking store work off the async executor and maps its error.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> gantry_store::Result<T> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("store task failed: {e}")))?
        .map_err(to_status)
}
