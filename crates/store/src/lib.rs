//! gantry-store: gantryd's persistent state, free of any RPC concern.
//!
//! - [`Store`] holds the metadata database (redb, one table per kind of object, every key
//!   prefixed by its namespace as containerd's bbolt schema nests buckets by namespace) and
//!   the content store: resumable `ingest/` writes on disk and committed blobs behind the
//!   [`content::Blobs`] backend (`blobs/sha256/<hex>` locally, or a proxy plugin's store).
//! - Each kind of object has its own module adding methods to [`Store`]:
//!   [`namespaces`], [`content`], [`images`], [`leases`]; [`gc`] removes what nothing
//!   references any more; [`filters`] parses containerd's filter syntax.
//! - Errors are the kinds containerd's `errdefs` has ([`error::Error`]); the daemon maps them
//!   to gRPC codes in one place.

pub mod containers;
pub mod content;
pub mod db;
pub mod digest;
pub mod error;
pub mod filters;
pub mod gc;
pub mod images;
pub mod labels;
pub mod leases;
pub mod namespaces;
pub mod time;

pub use db::Store;
pub use error::{Error, Result};
