//! Test support for gantry's runtime tests: a busybox-static rootfs, OCI bundles built
//! from runc's default spec, a handle on the runtime under test (gantry-runc, or any
//! runc-compatible binary named by `GANTRY_TEST_RUNTIME`) with its own private `--root`,
//! and checks for what a container must not leave behind (state, cgroups, mounts, processes).
//!
//! ```no_run
//! use gantry_testutil::{Bundle, Runtime, unique_id};
//! // Integration tests pass env!("CARGO_BIN_EXE_gantry-runc").
//! let rt = Runtime::new("target/debug/gantry-runc");
//! let bundle = Bundle::new();
//! bundle.args(&["echo", "hello"]);
//! let out = rt.run(&unique_id("doc"), &bundle).ok();
//! assert_eq!(out.stdout, "hello\n");
//! ```

pub mod caps;
pub mod check;
pub mod console;
pub mod rootfs;
pub mod runtime;
pub mod spec;

mod bundle;

pub use bundle::Bundle;
pub use check::{wait_for_status, wait_until};
pub use rootfs::busybox_rootfs;
pub use runtime::{unique_id, Out, Runtime};
pub use spec::default_spec;

/// Whether the tests run as root: almost everything a runtime does needs it.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
