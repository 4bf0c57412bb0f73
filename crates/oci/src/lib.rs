//! gantry-oci: the runtime library behind `gantry-runc` and the shim.
//!
//! It turns an OCI bundle (config.json + rootfs) into a running container and
//! manages it afterwards. It is synchronous on purpose: it forks, and a process
//! that forks must not carry an async runtime's threads.
//!
//! Entry points: [`container::Container`] for every lifecycle operation,
//! [`spec::load_bundle`] for reading and validating a bundle.

pub mod cgroups;
pub mod container;
pub mod criu;
pub mod error;
pub mod features;
pub mod hooks;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;

pub use error::{Error, Result};
