//! The processes that make a container: the parent side of `create`, the
//! optional intermediate that joins namespaces by path, and the init that
//! becomes the container's first process.

pub mod capabilities;
pub mod clone;
pub mod console;
pub mod exe_guard;
pub mod exec;
pub mod init;
pub mod rlimits;
pub mod sync;
pub mod user;
