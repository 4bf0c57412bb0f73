//! create, start, run, kill, delete, pause, resume.

use crate::cli::CreateArgs;
use anyhow::{Context, Result};
use gantry_oci::container::{self, Container, CreateOpts, RunOpts};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

fn opts(root: &Path, a: &CreateArgs) -> CreateOpts {
    CreateOpts {
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        root: root.to_path_buf(),
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
    }
}

fn connect_console(a: &CreateArgs) -> Result<Option<OwnedFd>> {
    a.console_socket
        .as_ref()
        .map(|p| {
            UnixStream::connect(p)
                .map(OwnedFd::from)
                .with_context(|| format!("connecting to the console socket {}", p.display()))
        })
        .transpose()
}

pub fn create(root: &Path, a: &CreateArgs) -> Result<()> {
    container::create(&opts(root, a), connect_console(a)?)?;
    Ok(())
}

pub fn start(root: &Path, id: &str) -> Result<()> {
    Container::load(root, id)?.start()?;
    Ok(())
}

/// Returns the exit code for the process.
pub fn run(root: &Path, a: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    let console = connect_console(a)?;
    if detach {
        let mut c = container::create(&opts(root, a), console)?;
        if let Err(e) = c.start() {
            let _ = container::destroy(c);
            return Err(e.into());
        }
        return Ok(0);
    }
    let _ = keep; // the foreground run always cleans up; --keep is accepted for compatibility
    Ok(container::run_foreground(RunOpts {
        create: opts(root, a),
        console,
    })?)
}

pub fn kill(root: &Path, id: &str, signal: &str, all: bool) -> Result<()> {
    let sig = container::parse_signal(signal)?;
    Container::load(root, id)?.kill(sig, all)?;
    Ok(())
}

pub fn delete(root: &Path, ids: &[String], force: bool) -> Result<()> {
    let mut failed = None;
    for id in ids {
        let r = Container::load(root, id).and_then(|c| c.delete(force));
        match r {
            Ok(()) => {}
            // runc: deleting a missing container with --force is not an error.
            Err(gantry_oci::Error::NotFound(_)) if force => {}
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

pub fn pause(root: &Path, id: &str) -> Result<()> {
    Ok(Container::load(root, id)?.pause()?)
}

pub fn resume(root: &Path, id: &str) -> Result<()> {
    Ok(Container::load(root, id)?.resume()?)
}
