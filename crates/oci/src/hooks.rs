//! Runs runtime-spec hooks: the state JSON on stdin, a timeout, and a failure
//! that names the hook.

use crate::error::{Error, Result};
use oci_spec::runtime::{Hook, Hooks, Spec};
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    #[allow(deprecated)] // prestart is deprecated in the spec but still used by Docker.
    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        let list = match self {
            Kind::Prestart => hooks.prestart(),
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

pub fn has(spec: &Spec, kinds: &[Kind]) -> bool {
    spec.hooks()
        .as_ref()
        .is_some_and(|h| kinds.iter().any(|k| !k.of(h).is_empty()))
}

/// Runs every hook of `kind` in order; the first failure stops the rest.
pub fn run(spec: &Spec, kind: Kind, state_json: &str) -> Result<()> {
    let Some(hooks) = spec.hooks() else {
        return Ok(());
    };
    for hook in kind.of(hooks) {
        run_one(hook, kind, state_json)?;
    }
    Ok(())
}

/// Runs every hook of `kind` even if some fail, reporting each failure as a
/// warning on stderr: runtime-spec's rule for poststart and poststop ("log a
/// warning, but the remaining hooks and lifecycle continue").
pub fn run_warn(spec: &Spec, kind: Kind, state_json: &str) {
    let Some(hooks) = spec.hooks() else { return };
    for hook in kind.of(hooks) {
        if let Err(e) = run_one(hook, kind, state_json) {
            eprintln!("warning: {e}");
        }
    }
}

fn run_one(hook: &Hook, kind: Kind, state_json: &str) -> Result<()> {
    let path = hook.path().display().to_string();
    let err = |reason: String| Error::Hook {
        kind: kind.name(),
        path: path.clone(),
        reason,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin: EPIPE is not a failure.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if deadline.is_none() {
            break child.wait().map_err(|e| err(e.to_string()))?;
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(err(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(err(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    Err(err(match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (_, Some(s)) => format!("killed by signal {s}"),
        _ => "failed".into(),
    }))
}
