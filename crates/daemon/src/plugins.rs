//! The built-in plugins: their types, ids, requirements and init functions (containerd's
//! plugin type names, so that `ctr plugins ls` reads the same).

use std::path::PathBuf;
use std::sync::Arc;

use gantry_api::services;
use gantry_store::Store;

use crate::exchange::Exchange;
use crate::gc::{GcScheduler, Policy};
use crate::plugin::{InitContext, Instance, Registration};
use crate::services::{Deps, GrpcService};

/// Applies the configured message size limits (containerd's default 16 MiB instead of
/// tonic's 4 MiB) to a generated server.
macro_rules! limited {
    ($limits:expr, $server:expr $(,)?) => {{
        let (recv, send) = $limits;
        let server = $server;
        let server = if recv > 0 {
            server.max_decoding_message_size(recv)
        } else {
            server
        };
        if send > 0 {
            server.max_encoding_message_size(send)
        } else {
            server
        }
    }};
}

/// A gRPC service over the metadata store (store, events, GC): the same
/// registration for namespaces, containers, images and leases.
macro_rules! metadata_service {
    ($id:literal, $($server:ident)::+, $service:path) => {
        Registration {
            r#type: GRPC,
            id: $id,
            requires: &[METADATA, GC, EVENT],
            init: |ctx| {
                let d = deps(ctx)?;
                let lim = ctx.grpc_limits;
                grpc(move |r| {
                    r.add_service(limited!(lim, $($server)::+::new($service(d.clone()))));
                })
            },
        }
    };
}

pub const CONTENT: &str = "io.containerd.content.v1";
pub const METADATA: &str = "io.containerd.metadata.v1";
pub const EVENT: &str = "io.containerd.event.v1";
pub const GC: &str = "io.containerd.gc.v1";
pub const GRPC: &str = "io.containerd.grpc.v1";

/// Where the content plugin keeps blobs and ingests.
pub struct ContentRoot(pub PathBuf);

pub fn builtin() -> Vec<Registration> {
    vec![
        Registration {
            r#type: CONTENT,
            id: "content",
            requires: &[],
            init: init_content,
        },
        Registration {
            r#type: EVENT,
            id: "exchange",
            requires: &[],
            init: |_| Ok(Arc::new(Exchange::default())),
        },
        Registration {
            r#type: METADATA,
            id: "redb",
            requires: &[CONTENT, EVENT],
            init: init_metadata,
        },
        Registration {
            r#type: GC,
            id: "scheduler",
            requires: &[METADATA],
            init: init_gc,
        },
        Registration {
            r#type: GRPC,
            id: "version",
            requires: &[],
            init: |_| {
                grpc(|r| {
                    r.add_service(services::version::v1::version_server::VersionServer::new(
                        crate::services::version::VersionService,
                    ));
                })
            },
        },
        Registration {
            r#type: GRPC,
            id: "healthcheck",
            requires: &[],
            init: init_health,
        },
        metadata_service!(
            "namespaces",
            services::namespaces::v1::namespaces_server::NamespacesServer,
            crate::services::namespaces::NamespacesService
        ),
        metadata_service!(
            "containers",
            services::containers::v1::containers_server::ContainersServer,
            crate::services::containers::ContainersService
        ),
        Registration {
            r#type: GRPC,
            id: "content",
            requires: &[CONTENT, METADATA, GC, EVENT],
            init: |ctx| {
                let lim = ctx.grpc_limits;
                let d = deps(ctx)?;
                let plain = serve_without_namespace(ctx.plugin_config)?;
                if plain {
                    ctx.exports
                        .insert("serve_without_namespace".into(), "true".into());
                }
                grpc(move |r| {
                    r.add_service(limited!(
                        lim,
                        services::content::v1::content_server::ContentServer::new(
                            crate::services::content::ContentService(d.clone(), plain),
                        )
                    ));
                })
            },
        },
        metadata_service!(
            "images",
            services::images::v1::images_server::ImagesServer,
            crate::services::images::ImagesService
        ),
        metadata_service!(
            "leases",
            services::leases::v1::leases_server::LeasesServer,
            crate::services::leases::LeasesService
        ),
        Registration {
            r#type: GRPC,
            id: "events",
            requires: &[EVENT],
            init: |ctx| {
                let ex = ctx.get::<Exchange>(EVENT)?;
                grpc(move |r| {
                    r.add_service(services::events::v1::events_server::EventsServer::new(
                        crate::services::events::EventsService(ex.clone()),
                    ));
                })
            },
        },
        Registration {
            r#type: GRPC,
            id: "introspection",
            requires: &["*"],
            init: |ctx| {
                let uuid = crate::services::introspection::load_uuid(&ctx.root)?;
                let plugins = ctx.plugin_list.clone();
                grpc(move |r| {
                    r.add_service(
                        services::introspection::v1::introspection_server::IntrospectionServer::new(
                            crate::services::introspection::IntrospectionService {
                                plugins: plugins.clone(),
                                uuid: uuid.clone(),
                            },
                        ),
                    );
                })
            },
        },
    ]
}

fn grpc(
    f: impl Fn(&mut tonic::service::RoutesBuilder) + Send + Sync + 'static,
) -> Result<Instance, String> {
    Ok(Arc::new(GrpcService(Box::new(f))))
}

/// `[plugins."io.containerd.grpc.v1.content"] serve_without_namespace = true` makes gantryd
/// usable as the target of a containerd `[proxy_plugins]` content plugin.
fn serve_without_namespace(cfg: Option<&toml::Value>) -> Result<bool, String> {
    match cfg.and_then(|c| c.get("serve_without_namespace")) {
        None => Ok(false),
        Some(toml::Value::Boolean(b)) => Ok(*b),
        Some(v) => Err(format!(
            "content service: serve_without_namespace = {v} is not a boolean"
        )),
    }
}

fn deps(ctx: &InitContext) -> Result<Deps, String> {
    Ok(Deps {
        store: ctx.get::<Store>(METADATA)?,
        exchange: ctx.get::<Exchange>(EVENT)?,
        gc: ctx.get::<GcScheduler>(GC)?,
    })
}

fn init_content(ctx: &mut InitContext) -> Result<Instance, String> {
    gantry_store::db::mkdir_private(&ctx.root).map_err(|e| e.to_string())?;
    ctx.exports
        .insert("root".into(), ctx.root.display().to_string());
    Ok(Arc::new(ContentRoot(ctx.root.clone())))
}

fn init_metadata(ctx: &mut InitContext) -> Result<Instance, String> {
    let content = ctx.get::<ContentRoot>(CONTENT)?;
    let path = ctx.root.join("meta.redb");
    // A content proxy plugin, when configured, holds the blobs under this metadata.
    let store = match ctx.get::<crate::proxy::ProxyContent>(CONTENT) {
        Ok(p) => {
            ctx.exports
                .insert("content_proxy".into(), p.address.clone());
            Store::open_with_blobs(&path, &content.0, p)
        }
        Err(_) => Store::open(&path, &content.0),
    }
    .map_err(|e| e.to_string())?;
    ctx.exports
        .insert("path".into(), path.display().to_string());
    Ok(Arc::new(store))
}

fn init_gc(ctx: &mut InitContext) -> Result<Instance, String> {
    let store = ctx.get::<Store>(METADATA)?;
    let policy = Policy::from_config(ctx.plugin_config)?;
    for (k, v) in [
        ("PauseThreshold", policy.pause_threshold.to_string()),
        ("DeletionThreshold", policy.deletion_threshold.to_string()),
        ("MutationThreshold", policy.mutation_threshold.to_string()),
        ("ScheduleDelay", format!("{:?}", policy.schedule_delay)),
    ] {
        ctx.exports.insert(k.into(), v);
    }
    Ok(GcScheduler::start(store, policy))
}

fn init_health(_: &mut InitContext) -> Result<Instance, String> {
    let (_reporter, service) = tonic_health::server::health_reporter();
    grpc(move |r| {
        r.add_service(service.clone());
    })
}
