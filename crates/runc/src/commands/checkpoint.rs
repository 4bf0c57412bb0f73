//! checkpoint and restore (through criu).

use crate::cli::{CheckpointArgs, CriuArgs, RestoreArgs};
use anyhow::{bail, Context, Result};
use gantry_oci::container::{self, CheckpointOpts, Container, RestoreOpts};
use gantry_oci::criu::CriuOpts;
use std::path::{Path, PathBuf};

/// Relative paths are the caller's: make them absolute before criu (which
/// runs with another working directory for its log) sees them.
fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("reading the current directory")?
        .join(p))
}

fn criu_opts(bin: &str, a: &CriuArgs) -> Result<CriuOpts> {
    let image = a
        .image_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("checkpoint"));
    Ok(CriuOpts {
        bin: PathBuf::from(bin),
        image_path: absolute(&image)?,
        work_path: a.work_path.as_deref().map(absolute).transpose()?,
        tcp_established: a.tcp_established,
        file_locks: a.file_locks,
        ext_unix_sk: a.ext_unix_sk,
        shell_job: a.shell_job,
        manage_cgroups_mode: a
            .manage_cgroups_mode
            .as_deref()
            .map(str::parse)
            .transpose()?,
    })
}

pub fn checkpoint(root: &Path, criu: &str, a: &CheckpointArgs) -> Result<()> {
    let opts = CheckpointOpts {
        criu: criu_opts(criu, &a.criu)?,
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        parent_path: a.parent_path.clone(),
    };
    Container::load(root, &a.id)?.checkpoint(&opts)?;
    Ok(())
}

/// Returns the exit code: 0 when detached, else the restored init's.
pub fn restore(root: &Path, criu: &str, a: &RestoreArgs) -> Result<i32> {
    if let Some(sock) = &a.console_socket {
        bail!(
            "restore --console-socket {}: terminal containers cannot be restored yet",
            sock.display()
        );
    }
    let opts = RestoreOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        root: root.to_path_buf(),
        criu: criu_opts(criu, &a.criu)?,
        pid_file: a.pid_file.as_deref().map(absolute).transpose()?,
        no_pivot: a.no_pivot,
    };
    if a.detach {
        container::restore(&opts)?;
        return Ok(0);
    }
    Ok(container::restore_foreground(&opts)?)
}
