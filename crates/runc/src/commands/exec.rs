//! `exec`: build the process spec from the container's own process and the
//! flags (as runc does), or read it from --process.

use crate::cli::ExecArgs;
use anyhow::{bail, Context, Result};
use gantry_oci::container::{Container, ExecOpts};
use oci_spec::runtime::Process;
use serde_json::{json, Value};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub fn run(root: &Path, a: &ExecArgs) -> Result<i32> {
    let c = Container::load(root, &a.id)?;
    let process = match &a.process {
        Some(file) => {
            let text =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            serde_json::from_slice::<Process>(&text)
                .with_context(|| format!("{}: invalid process", file.display()))?
        }
        None => from_flags(&c, a)?,
    };
    let console = a
        .console_socket
        .as_ref()
        .map(|p| {
            UnixStream::connect(p)
                .map(OwnedFd::from)
                .with_context(|| format!("connecting to {}", p.display()))
        })
        .transpose()?;
    Ok(c.exec(ExecOpts {
        process,
        console,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        cgroup: a
            .cgroup
            .iter()
            .map(|c| match c.split_once(':') {
                Some((ctrl, path)) => (Some(ctrl.to_string()), path.to_string()),
                None => (None, c.clone()),
            })
            .collect(),
    })?)
}

fn from_flags(c: &Container, a: &ExecArgs) -> Result<Process> {
    if a.command.is_empty() {
        bail!("exec: no command given (pass COMMAND or --process)");
    }
    let base = c
        .state
        .spec
        .process()
        .as_ref()
        .context("the container has no process spec")?;
    let mut p = serde_json::to_value(base)?;
    p["args"] = json!(a.command);
    p["terminal"] = json!(a.tty);
    let mut env: Vec<String> = base.env().clone().unwrap_or_default();
    for kv in &a.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p["env"] = json!(env);
    if let Some(cwd) = &a.cwd {
        p["cwd"] = json!(cwd);
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u.parse::<u32>(), g.parse::<u32>().ok()),
            None => (u.parse::<u32>(), None),
        };
        let uid = uid.with_context(|| format!("--user {u:?}: expected uid[:gid]"))?;
        p["user"]["uid"] = json!(uid);
        p["user"]["gid"] = json!(gid.unwrap_or(0));
    }
    if !a.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(a.additional_gids);
    }
    if let Some(l) = &a.process_label {
        p["selinuxLabel"] = json!(l);
    }
    if let Some(ap) = &a.apparmor {
        p["apparmorProfile"] = json!(ap);
    }
    if a.no_new_privs {
        p["noNewPrivileges"] = json!(true);
    }
    for cap in &a.cap {
        for set in ["bounding", "effective", "permitted"] {
            let list = &mut p["capabilities"][set];
            if !list.is_array() {
                *list = Value::Array(vec![]);
            }
            if let Some(arr) = list.as_array_mut() {
                if !arr.iter().any(|v| v == cap) {
                    arr.push(json!(cap));
                }
            }
        }
    }
    serde_json::from_value(p).context("exec: building the process spec")
}
