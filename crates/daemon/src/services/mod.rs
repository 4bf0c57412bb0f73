//! containerd's gRPC services, one module each; each is a plugin of type
//! `io.containerd.grpc.v1` registered in [`crate::plugins`].

pub mod containers;
pub mod content;
pub mod event_fields;
pub mod events;
pub mod images;
pub mod introspection;
pub mod leases;
pub mod namespaces;
pub mod version;

use std::sync::Arc;

use gantry_store::Store;

use crate::exchange::Exchange;
use crate::gc::GcScheduler;

/// What the metadata services share.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<Store>,
    pub exchange: Arc<Exchange>,
    pub gc: Arc<GcScheduler>,
}

/// A gRPC plugin's instance: adds its service to the server's routes.
pub struct GrpcService(pub Box<dyn Fn(&mut tonic::service::RoutesBuilder) + Send + Sync>);

/// Parses request filters, InvalidArgument naming the bad one.
pub fn filters(f: &[String]) -> Result<gantry_store::filters::Filter, tonic::Status> {
    gantry_store::filters::Filter::parse_all(f).map_err(crate::errors::to_status)
}
