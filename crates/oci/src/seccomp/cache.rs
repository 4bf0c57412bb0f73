//! A container's compiled filter, kept in its state dir so that `exec`
//! does not pay libseccomp again: compiling and exporting a Docker-sized
//! profile for three architectures takes tens of milliseconds, several
//! times the cost of the rest of an exec. The file holds a magic, the
//! seccomp(2) flags and the BPF instructions; anything else about the
//! program comes from the stored spec, which the cache was compiled from.

use super::compile::{compile, decode, Listener, Program};
use super::kernel::FLAG_NEW_LISTENER;
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxSeccomp;
use std::cell::Cell;
use std::path::Path;

const FILE: &str = "seccomp.bpf";
const MAGIC: &[u8; 4] = b"GSB1";
const INSN: usize = std::mem::size_of::<libc::sock_filter>();

impl Program {
    /// Writes the program to `dir` (atomically: temp file + rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut data = Vec::with_capacity(8 + self.filter.len() * INSN);
        data.extend_from_slice(MAGIC);
        data.extend_from_slice(&self.flags.to_le_bytes());
        for i in &self.filter {
            data.extend_from_slice(&i.code.to_ne_bytes());
            data.push(i.jt);
            data.push(i.jf);
            data.extend_from_slice(&i.k.to_ne_bytes());
        }
        let tmp = dir.join(format!(".{FILE}.tmp"));
        let path = dir.join(FILE);
        std::fs::write(&tmp, &data)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| Error::path("writing the compiled seccomp filter", &path, e))
    }
}

/// The program for a process exec'd into the container whose state dir is
/// `dir`: the cached one when it is there and well-formed, else compiled
/// from `s` (the container's stored linux.seccomp).
pub fn for_exec(dir: &Path, s: &LinuxSeccomp, no_new_privs: bool) -> Result<Program> {
    match read(dir, s, no_new_privs) {
        Some(p) => Ok(p),
        None => compile(s, no_new_privs),
    }
}

fn read(dir: &Path, s: &LinuxSeccomp, no_new_privs: bool) -> Option<Program> {
    let data = std::fs::read(dir.join(FILE)).ok()?;
    let body = data.strip_prefix(MAGIC)?;
    let (flags, insns) = body.split_first_chunk::<4>()?;
    let flags = u32::from_le_bytes(*flags);
    let filter = decode(insns)?;
    // compile() checked at create time that a notify filter has a path.
    let listener = (flags & FLAG_NEW_LISTENER != 0).then(|| Listener {
        path: s.listener_path().clone().unwrap_or_default(),
        metadata: s.listener_metadata().clone(),
    });
    Some(Program {
        filter,
        flags,
        listener,
        no_new_privs,
        loaded: Cell::new(false),
    })
}
