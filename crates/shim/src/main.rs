//! `containerd-shim-gantry-v2`: the runtime-v2 shim containerd (1.6 and 2.x) execs for
//! the runtime `io.containerd.gantry.v2`. `start` spawns the long-lived shim and prints
//! its ttrpc address, `delete` cleans up after a dead shim, `-info` describes the
//! runtime, and with no action the process serves the Task API (`containerd.task.v2.Task`
//! and 2.x's identical `containerd.task.v3.Task`) on the socket it inherited as fd 3.

mod backend;
mod checkpoint;
mod flags;
mod footprint;
mod info;
mod inproc;
mod log;
mod metrics;
mod mount;
mod oom;
mod options;
mod paths;
mod proto;
mod publisher;
mod reaper;
mod runtime;
mod server;
mod service;
mod start;
mod stdio;
mod ttrpc;

use std::process::ExitCode;

fn main() -> ExitCode {
    let flags = match flags::Flags::parse(std::env::args().skip(1)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("containerd-shim-gantry-v2: {e}");
            return ExitCode::from(2);
        }
    };
    if flags.version {
        println!("containerd-shim-gantry-v2:");
        println!("  Version:  {}", env!("CARGO_PKG_VERSION"));
        println!("  Runtime:  {} (task API v2, v3)", info::RUNTIME_NAME);
        return ExitCode::SUCCESS;
    }
    let result = match flags.action.as_str() {
        "" if flags.info => info::info(),
        "start" => start::start(&flags),
        "delete" => start::delete(&flags),
        "" => {
            // The serving shim forks container inits (in-process backend), so its
            // own binary must not be reachable for writing through their
            // /proc/PID/exe (CVE-2019-5736): re-exec from a read-only copy if needed.
            match gantry_oci::process::exe_guard::ensure_protected() {
                Ok(()) => server::serve(&flags),
                Err(e) => Err(e.to_string()),
            }
        }
        other => Err(format!(
            "unknown action {other:?} (want start, delete or none)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("containerd-shim-gantry-v2 {}: {e}", flags.action);
            log::error(&e);
            ExitCode::FAILURE
        }
    }
}
