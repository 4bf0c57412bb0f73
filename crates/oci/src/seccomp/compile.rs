//! `linux.seccomp` → a BPF program, in the parent. Everything that can be
//! wrong with the section is found here, so the child only has to install
//! bytes that are known to be good.

use super::kernel::{self, FLAGS, FLAG_NEW_LISTENER, FLAG_TSYNC, FLAG_TSYNC_ESRCH};
use crate::error::{Error, Result};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall};
use std::cell::Cell;
use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::str::FromStr;

/// A syscall has at most six arguments.
const MAX_ARGS: usize = 6;
/// The kernel refuses longer classic BPF programs.
const BPF_MAXINSNS: usize = 4096;

/// Where a notify filter's fd goes.
#[derive(Debug, Clone)]
pub struct Listener {
    pub path: PathBuf,
    pub metadata: Option<String>,
}

/// A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER).
#[derive(Debug)]
pub struct Program {
    pub(super) filter: Vec<libc::sock_filter>,
    /// SECCOMP_FILTER_FLAG_* bits, NEW_LISTENER included when notifying.
    pub(super) flags: u32,
    pub(super) listener: Option<Listener>,
    /// The process sets no_new_privs, so the filter may go in after the
    /// capabilities are dropped.
    pub(super) no_new_privs: bool,
    /// Set in the child once installed, so that each load point after the
    /// first is a no-op.
    pub(super) loaded: Cell<bool>,
}

impl Program {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.filter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.filter.is_empty()
    }

    /// The seccomp(2) flags the program is loaded with.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether the filter hands a notify fd to a seccomp agent.
    pub fn notifies(&self) -> bool {
        self.listener.is_some()
    }
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn bad(field: &str, what: impl std::fmt::Display) -> Error {
    Error::Spec(format!("linux.seccomp.{field}: {what}"))
}

/// The libseccomp action for a spec action; ERRNO and TRACE default to
/// EPERM as in runc. Also checks that the kernel implements it.
fn action(a: LinuxSeccompAction, errno_ret: Option<u32>, field: &str) -> Result<ScmpAction> {
    let ret = |errno: Option<u32>| -> Result<u16> {
        let v = errno.unwrap_or(libc::EPERM as u32);
        u16::try_from(v).map_err(|_| bad(field, format!("errnoRet {v} does not fit in 16 bits")))
    };
    let act = match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret(errno_ret)?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret(errno_ret)?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    };
    let name = name_of(&a);
    let raw = kernel::ACTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
        .unwrap_or(0);
    if !kernel::action_available(raw) {
        return Err(bad(
            field,
            format!("{name} is not supported by this kernel"),
        ));
    }
    Ok(act)
}

fn operator(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // runtime-spec: `value` is the mask, `valueTwo` the expected bits.
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

/// Compiles `s` for a process whose noNewPrivileges is `no_new_privs`.
pub fn compile(s: &LinuxSeccomp, no_new_privs: bool) -> Result<Program> {
    let default = action(s.default_action(), s.default_errno_ret(), "defaultAction")?;
    if default == ScmpAction::Notify {
        return Err(bad(
            "defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action (the container would \
             wait on the seccomp agent before the agent has the notify fd)",
        ));
    }
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| bad("defaultAction", format!("creating the filter: {e}")))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let name = name_of(arch);
        let field = format!("architectures[{i}]");
        let a = ScmpArch::from_str(&name)
            .map_err(|_| bad(&field, format!("unknown architecture {name:?}")))?;
        if !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a).map_err(|e| {
                bad(
                    &field,
                    format!(
                        "{name} cannot be added to a filter on this host \
                         (unknown to this libseccomp, or of another byte order): {e}"
                    ),
                )
            })?;
        }
    }
    let mut flags = spec_flags(s)?;
    let syscalls = s.syscalls().as_deref().unwrap_or_default();
    if syscalls.iter().map(|c| c.names().len()).sum::<usize>() > 32 {
        // Binary-tree dispatch for long profiles; older libseccomp lacks it,
        // which only costs speed.
        let _ = ctx.set_ctl_optimize(2);
    }
    let mut notify = false;
    for (i, call) in syscalls.iter().enumerate() {
        notify |= add_rules(&mut ctx, call, default, i)?;
    }
    let listener = if notify {
        let path = s
            .listener_path()
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .ok_or_else(|| bad("listenerPath", "required when a rule uses SCMP_ACT_NOTIFY"))?;
        flags |= FLAG_NEW_LISTENER;
        if flags & FLAG_TSYNC != 0 {
            // TSYNC and NEW_LISTENER together are only valid with TSYNC_ESRCH.
            flags |= FLAG_TSYNC_ESRCH;
        }
        Some(Listener {
            path,
            metadata: s.listener_metadata().clone(),
        })
    } else {
        // The kernel refuses WAIT_KILLABLE_RECV without a listener; it means
        // nothing without one.
        flags &= !kernel::FLAG_WAIT_KILLABLE_RECV;
        None
    };
    Ok(Program {
        filter: export(&ctx)?,
        flags,
        listener,
        no_new_privs,
        loaded: Cell::new(false),
    })
}

/// The spec's flags as seccomp(2) bits. As runc does, an absent list means
/// SPEC_ALLOW where supported (no forced speculative-store-bypass
/// mitigation); an explicit list, even empty, is taken as is.
fn spec_flags(s: &LinuxSeccomp) -> Result<u32> {
    let Some(list) = s.flags() else {
        let spec_allow = kernel::FLAG_SPEC_ALLOW;
        return Ok(if kernel::flag_supported(spec_allow) {
            spec_allow
        } else {
            0
        });
    };
    let mut bits = 0;
    for (i, f) in list.iter().enumerate() {
        let name = name_of(f);
        let bit = FLAGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| bad(&format!("flags[{i}]"), format!("unknown flag {name:?}")))?;
        if !kernel::flag_supported(bit) {
            return Err(bad(
                &format!("flags[{i}]"),
                format!("{name} is not supported by this kernel"),
            ));
        }
        bits |= bit;
    }
    Ok(bits)
}

/// Adds the rules of `syscalls[i]`; returns whether it uses SCMP_ACT_NOTIFY.
fn add_rules(
    ctx: &mut ScmpFilterContext,
    call: &LinuxSyscall,
    default: ScmpAction,
    i: usize,
) -> Result<bool> {
    let field = format!("syscalls[{i}]");
    let act = action(call.action(), call.errno_ret(), &format!("{field}.action"))?;
    let notify = act == ScmpAction::Notify;
    if notify && call.names().iter().any(|n| n == "write") {
        return Err(bad(
            &field,
            "SCMP_ACT_NOTIFY cannot be used for write (the runtime writes the \
             notify fd to its parent after loading the filter)",
        ));
    }
    let mut conds = Vec::new();
    let mut per_index = [0usize; MAX_ARGS];
    for (j, arg) in call.args().iter().flatten().enumerate() {
        let idx = arg.index();
        if idx >= MAX_ARGS {
            return Err(bad(
                &format!("{field}.args[{j}].index"),
                format!("{idx} is out of range (a syscall has at most {MAX_ARGS} arguments)"),
            ));
        }
        per_index[idx] += 1;
        let datum = match arg.op() {
            LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
            _ => arg.value(),
        };
        conds.push(ScmpArgCompare::new(
            idx as u32,
            operator(arg.op(), arg.value()),
            datum,
        ));
    }
    if call.names().is_empty() {
        return Err(bad(&format!("{field}.names"), "empty list"));
    }
    // A rule that repeats the default action changes nothing, and libseccomp
    // refuses it; runc skips it silently.
    if act == default {
        return Ok(notify);
    }
    for name in call.names() {
        if name.is_empty() {
            return Err(bad(&format!("{field}.names"), "empty syscall name"));
        }
        // Unknown to this libseccomp: usually newer than it. runc ignores
        // those so that one profile serves many hosts.
        let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
            continue;
        };
        let add = |ctx: &mut ScmpFilterContext, c: &[ScmpArgCompare]| {
            ctx.add_rule_conditional(act, nr, c)
                .map(|_| ())
                .map_err(|e| bad(&field, format!("adding the rule for {name}: {e}")))
        };
        if per_index.iter().any(|&n| n > 1) {
            // Two conditions on one argument cannot be ANDed in one
            // libseccomp rule; like runc, each becomes its own rule (OR).
            for c in &conds {
                add(ctx, std::slice::from_ref(c))?;
            }
        } else {
            add(ctx, &conds)?;
        }
    }
    Ok(notify)
}

/// The filter as classic BPF instructions (libseccomp 2.5 exports to a
/// file descriptor only; a memfd avoids a pipe's size limit).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let name = c"gantry-seccomp-bpf";
    // SAFETY: memfd_create with a valid C string; the result is checked.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys(
            "seccomp: memfd_create for the BPF export",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(|e| Error::Other(format!("seccomp: exporting the BPF program: {e}")))?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::sys("seccomp: reading the exported BPF program", e))?;
    let insns = decode(&bytes).ok_or_else(|| {
        Error::Other(format!(
            "seccomp: libseccomp exported {} bytes, not a whole number of BPF instructions",
            bytes.len()
        ))
    })?;
    if insns.len() > BPF_MAXINSNS {
        return Err(Error::Spec(format!(
            "linux.seccomp: the compiled filter has {} instructions, more than the kernel's limit of {BPF_MAXINSNS}",
            insns.len()
        )));
    }
    Ok(insns)
}

/// Raw `struct sock_filter` array → instructions; None unless whole and
/// non-empty.
pub(super) fn decode(bytes: &[u8]) -> Option<Vec<libc::sock_filter>> {
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.is_empty() || !bytes.len().is_multiple_of(size) {
        return None;
    }
    let insns = bytes
        .chunks_exact(size)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(insns)
}
