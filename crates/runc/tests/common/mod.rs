//! Shared by the integration tests: the runtime under test, timeouts, and the root check.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub use gantry_testutil::check::{self, wait_for_file};
pub use gantry_testutil::{unique_id, wait_for_status, wait_until, Bundle, Out, Runtime};
pub use serde_json::{json, Value};

/// Generous: the machine is shared, and a v1 cgroup join alone can take 30 ms.
pub const T: Duration = Duration::from_secs(20);

/// The runtime under test: gantry-runc built by cargo, unless GANTRY_TEST_RUNTIME says otherwise.
pub fn rt() -> Runtime {
    Runtime::new(env!("CARGO_BIN_EXE_gantry-runc"))
}

/// Containers need root; without it a test says so and returns (with root it always runs).
macro_rules! need_root {
    () => {
        if !gantry_testutil::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

/// Asserts a command failed with one non-empty stderr line that names one of `needles`
/// (runc 1.1 often does not name the culprit: that is reported, not failed, under runc).
#[track_caller]
pub fn assert_clear_error(rt: &Runtime, out: &Out, needles: &[&str]) {
    assert!(!out.success(), "expected failure:\n{out}");
    assert!(out.code().is_some(), "runtime died by a signal:\n{out}");
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "expected exactly one error line:\n{out}");
    let line = lines[0].to_lowercase();
    let named = needles.iter().any(|n| line.contains(&n.to_lowercase()));
    if !named
        && rt.runc_deviates(&format!(
            "error line does not name any of {needles:?}: {}",
            lines[0]
        ))
    {
        return;
    }
    assert!(named, "error line names none of {needles:?}:\n{out}");
}

/// What a file in the container's rootfs holds, trimmed ("" when absent).
pub fn read_trim(path: &std::path::Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
