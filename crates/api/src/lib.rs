//! containerd's gRPC API, generated at build time from containerd's own protos.
//!
//! The module tree mirrors the protobuf packages (`containerd.services.content.v1` is
//! [`containerd::services::content::v1`]) so that the generated cross-package paths resolve.
//! Each service module holds both the tonic server trait (`*_server`) and client (`*_client`).

#![allow(clippy::all, missing_docs, rustdoc::all)]

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub mod containerd {
    pub mod types {
        tonic::include_proto!("containerd.types");
    }
    pub mod events {
        tonic::include_proto!("containerd.events");
    }
    pub mod services {
        pub mod version {
            pub mod v1 {
                tonic::include_proto!("containerd.services.version.v1");
            }
        }
        pub mod namespaces {
            pub mod v1 {
                tonic::include_proto!("containerd.services.namespaces.v1");
            }
        }
        pub mod introspection {
            pub mod v1 {
                tonic::include_proto!("containerd.services.introspection.v1");
            }
        }
        pub mod content {
            pub mod v1 {
                tonic::include_proto!("containerd.services.content.v1");
            }
        }
        pub mod images {
            pub mod v1 {
                tonic::include_proto!("containerd.services.images.v1");
            }
        }
        pub mod leases {
            pub mod v1 {
                tonic::include_proto!("containerd.services.leases.v1");
            }
        }
        pub mod events {
            pub mod v1 {
                tonic::include_proto!("containerd.services.events.v1");
            }
        }
        pub mod containers {
            pub mod v1 {
                tonic::include_proto!("containerd.services.containers.v1");
            }
        }
    }
}

pub use containerd::services;
pub use containerd::types;

/// Re-exported so that users of the generated types need not name these crates.
pub use {prost, prost_types, tonic};

pub mod client;
