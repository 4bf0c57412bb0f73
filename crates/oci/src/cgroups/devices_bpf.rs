//! The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program
//! assembled here from a [`Policy`], loaded with bpf(2) and attached to the
//! cgroup directory. An update attaches the new program before detaching the
//! old ones, so the container is never left unfiltered.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, access_type = (access << 16) | type, and returns 1 to allow.

use super::devices::{DevType, Policy, ALL_ACCESS};
use crate::error::{Context, Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

const DEVCG_DEV_BLOCK: i32 = 1;
const DEVCG_DEV_CHAR: i32 = 2;

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high one
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const AND64_K: u8 = 0x57;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// Assembles the filter. Registers: r2 = device type, r3 = access wanted,
/// r4 = major, r5 = minor; r1 is scratch once they are loaded.
pub fn program(policy: &Policy) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    let on_match = i32::from(!policy.default_allow);
    for e in &policy.exceptions {
        // Each check jumps past the block when the exception does not apply;
        // offsets are fixed up once the block's length is known.
        let mut block: Vec<Insn> = Vec::new();
        let mut skips = Vec::new();
        match e.typ {
            DevType::Block => {
                skips.push(block.len());
                block.push(insn(JNE_K, 2, 0, 0, DEVCG_DEV_BLOCK));
            }
            DevType::Char => {
                skips.push(block.len());
                block.push(insn(JNE_K, 2, 0, 0, DEVCG_DEV_CHAR));
            }
            DevType::All => {}
        }
        if e.access != ALL_ACCESS {
            block.push(insn(MOV64_X, 1, 3, 0, 0));
            skips.push(block.len() + 1);
            if policy.default_allow {
                // A denial applies when any wanted bit is denied.
                block.push(insn(AND64_K, 1, 0, 0, i32::from(e.access)));
                block.push(insn(JEQ_K, 1, 0, 0, 0));
            } else {
                // A grant applies only when it covers every wanted bit.
                block.push(insn(AND64_K, 1, 0, 0, i32::from(!e.access & ALL_ACCESS)));
                block.push(insn(JNE_K, 1, 0, 0, 0));
            }
        }
        for (reg, v) in [(4, e.major), (5, e.minor)] {
            if let Some(v) = v {
                skips.push(block.len());
                // Device numbers were checked to fit an i32 when parsed.
                block.push(insn(JNE_K, reg, 0, 0, v as i32));
            }
        }
        block.push(insn(MOV64_K, 0, 0, 0, on_match));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in skips {
            block[j].off = (len - j - 1) as i16;
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, i32::from(policy.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with `attr` as its argument block.
fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct with
    // explicit padding fields (the kernel rejects non-zero unknown bytes), and
    // the size passed is exactly its size; pointers inside it are valid for
    // the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(fd: i64) -> OwnedFd {
    // SAFETY: bpf(2) just returned this fd to us; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Loads the program; on a verifier refusal the error carries its log.
pub fn load(insns: &[Insn]) -> Result<OwnedFd> {
    let license = b"Apache\0";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"gantry_dev");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let again = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let log = String::from_utf8_lossy(&log[..end]).trim().to_string();
            match again {
                Ok(fd) => Ok(owned(fd)),
                Err(_) => Err(Error::Sys {
                    what: format!("loading the device filter program (verifier: {log})"),
                    source: e,
                }),
            }
        }
        Err(e) => Err(Error::sys(
            "loading the device filter program (bpf BPF_PROG_LOAD)",
            e,
        )),
    }
}

/// The ids of the device programs attached to `cgroup` and whether they
/// were attached in multi mode.
fn attached(cgroup: &OwnedFd) -> std::io::Result<(Vec<u32>, u32)> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok((ids, attr.attach_flags))
}

fn detach(cgroup: &OwnedFd, prog_id: u32) -> std::io::Result<()> {
    let mut get = GetFdAttr {
        prog_id,
        ..Default::default()
    };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
        Ok(fd) => owned(fd),
        // Gone already: nothing to detach.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(|_| ())
}

fn attach(cgroup: &OwnedFd, prog: &OwnedFd) -> std::io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(|_| ())
}

/// Replaces the device filter of the cgroup at `dir` with one for `policy`.
pub fn apply(dir: &Path, policy: &Policy) -> Result<()> {
    let prog = load(&program(policy))?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| Error::path("opening cgroup", dir, e))?
        .into();
    let what = || format!("cgroup {}: attaching the device filter", dir.display());
    let (old, flags) =
        attached(&cgroup).ctx(|| format!("cgroup {}: querying device filters", dir.display()))?;
    if !old.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        // Someone attached in exclusive mode; multi-attach beside it is
        // refused, so it has to go first.
        for id in &old {
            detach(&cgroup, *id).ctx(what)?;
        }
        return attach(&cgroup, &prog).ctx(what);
    }
    attach(&cgroup, &prog).ctx(what)?;
    for id in old {
        detach(&cgroup, id).ctx(|| {
            format!(
                "cgroup {}: detaching the previous device filter",
                dir.display()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::devices::{Rule, MKNOD, READ, WRITE};
    use super::*;

    /// Runs the program the way the kernel would, for unit tests.
    fn run(p: &[Insn], typ: i32, access: u8, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | typ as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(s, 1);
                    r[d] = ctx[i.off as usize / 4] as u64;
                }
                AND32_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                RSH32_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
                MOV64_X => r[d] = r[s],
                MOV64_K => r[d] = i.imm as i64 as u64,
                AND64_K => r[d] &= i.imm as i64 as u64,
                JEQ_K if r[d] == i.imm as i64 as u64 => pc += i.off as usize,
                JNE_K if r[d] != i.imm as i64 as u64 => pc += i.off as usize,
                JEQ_K | JNE_K => {}
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn deny_default_program() {
        let p = Policy {
            default_allow: false,
            exceptions: vec![
                Rule {
                    allow: true,
                    typ: DevType::Char,
                    major: Some(1),
                    minor: Some(5),
                    access: ALL_ACCESS,
                },
                Rule {
                    allow: true,
                    typ: DevType::Char,
                    major: Some(136),
                    minor: None,
                    access: READ | WRITE,
                },
                Rule {
                    allow: true,
                    typ: DevType::Block,
                    major: None,
                    minor: None,
                    access: MKNOD,
                },
            ],
        };
        let prog = program(&p);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, READ, 1, 5), 1);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, READ, 1, 3), 0);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, READ, 1, 5), 0);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, READ | WRITE, 136, 9), 1);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, MKNOD, 136, 9), 0);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, MKNOD, 8, 1), 1);
        assert_eq!(run(&prog, DEVCG_DEV_BLOCK, MKNOD | READ, 8, 1), 0);
    }

    #[test]
    fn allow_default_program() {
        let p = Policy {
            default_allow: true,
            exceptions: vec![Rule {
                allow: false,
                typ: DevType::Char,
                major: Some(1),
                minor: Some(3),
                access: WRITE,
            }],
        };
        let prog = program(&p);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, READ, 1, 3), 1);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, READ | WRITE, 1, 3), 0);
        assert_eq!(run(&prog, DEVCG_DEV_CHAR, WRITE, 1, 5), 1);
    }

    #[test]
    fn empty_policy() {
        let deny = program(&Policy {
            default_allow: false,
            exceptions: vec![],
        });
        assert_eq!(run(&deny, DEVCG_DEV_CHAR, READ, 1, 3), 0);
        let allow = program(&Policy {
            default_allow: true,
            exceptions: vec![],
        });
        assert_eq!(run(&allow, DEVCG_DEV_BLOCK, WRITE, 8, 0), 1);
    }
}
