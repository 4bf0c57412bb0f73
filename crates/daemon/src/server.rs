//! Startup and shutdown: directories 0700, plugins, the socket (0600, owned by grpc.uid/gid)
//! and a clean stop on SIGTERM or SIGINT.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;

use crate::config::Config;
use crate::plugins::GRPC;
use crate::services::GrpcService;

pub async fn run(cfg: Config) -> Result<(), String> {
    for dir in [&cfg.root, &cfg.state] {
        gantry_store::db::mkdir_private(dir).map_err(|e| e.to_string())?;
    }
    let mut regs = crate::plugins::builtin();
    regs.extend(crate::proxy::registrations(&cfg));
    let (plugins, _list) = crate::plugin::init_all(&cfg, regs)?;
    let mut routes = tonic::service::RoutesBuilder::default();
    for (reg, inst) in &plugins {
        if reg.r#type != GRPC {
            continue;
        }
        if let Some(svc) = inst.clone().and_then(|i| i.downcast::<GrpcService>().ok()) {
            (svc.0)(&mut routes);
        }
    }
    let addr = cfg
        .grpc
        .address
        .strip_prefix("unix://")
        .unwrap_or(&cfg.grpc.address)
        .to_string();
    let listener = listen(Path::new(&addr), &cfg)?;
    tracing::info!(address = %addr, "serving");
    let shutdown = async {
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    };
    let metrics_task = if cfg.metrics.address.is_empty() {
        None
    } else {
        Some(crate::metrics::serve(&cfg.metrics.address).await?)
    };
    let mut server = tonic::transport::Server::builder().layer(crate::metrics::GrpcMetricsLayer);
    let result = server
        .add_routes(routes.routes())
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    let _ = std::fs::remove_file(&addr);
    if let Some(t) = metrics_task {
        t.abort();
    }
    drop(plugins);
    result.map_err(|e| format!("grpc server on {addr}: {e}"))
}

fn listen(path: &Path, cfg: &Config) -> Result<UnixListener, String> {
    if let Some(dir) = path.parent() {
        gantry_store::db::mkdir_private(dir).map_err(|e| e.to_string())?;
    }
    // A socket left by a crashed instance would make bind fail.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing stale socket {}: {e}", path.display())),
    }
    let l =
        UnixListener::bind(path).map_err(|e| format!("listening on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod 0600 {}: {e}", path.display()))?;
    // Only change ownership when asked for another owner, so that an unprivileged instance
    // with the default uid/gid 0 still starts.
    let meta = std::fs::metadata(path).map_err(|e| format!("stat {}: {e}", path.display()))?;
    if (meta.uid(), meta.gid()) != (cfg.grpc.uid, cfg.grpc.gid)
        && (cfg.grpc.uid != 0 || cfg.grpc.gid != 0)
    {
        std::os::unix::fs::chown(path, Some(cfg.grpc.uid), Some(cfg.grpc.gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    Ok(l)
}
