//! `gantry-runc features`' `linux.seccomp` object: what this libseccomp
//! and this kernel really support: runtime-spec's names, each probed.

use super::kernel;
use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};
use serde_json::{json, Value};
use std::str::FromStr;

/// runtime-spec's operator names (compile.rs maps each to libseccomp's).
pub(super) const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// runtime-spec's features.md shape: enabled, actions, operators, archs,
/// knownFlags, supportedFlags.
pub fn features() -> Value {
    let actions: Vec<&str> = kernel::ACTIONS
        .iter()
        .filter(|(_, raw)| kernel::action_available(*raw))
        .map(|(name, _)| *name)
        .collect();
    let known_flags: Vec<&str> = kernel::FLAGS.iter().map(|(n, _)| *n).collect();
    let supported_flags: Vec<&str> = kernel::FLAGS
        .iter()
        .filter(|(_, bit)| kernel::flag_supported(*bit))
        .map(|(n, _)| *n)
        .collect();
    json!({
        "enabled": true,
        "actions": actions,
        "operators": OPERATORS,
        "archs": supported_archs(),
        "knownFlags": known_flags,
        "supportedFlags": supported_flags,
    })
}

/// The SCMP_ARCH_* names this libseccomp can add to a filter.
fn supported_archs() -> Vec<String> {
    // One context per arch, emptied of the native one: a filter cannot mix
    // byte orders, but each arch is still one libseccomp can build for.
    let addable = |a: ScmpArch| {
        ScmpFilterContext::new(ScmpAction::Allow).is_ok_and(|mut ctx| {
            ctx.remove_arch(ScmpArch::native()).is_ok() && ctx.add_arch(a).is_ok()
        })
    };
    ARCH_NAMES
        .iter()
        .filter(|name| ScmpArch::from_str(name).is_ok_and(addable))
        .map(|name| name.to_string())
        .collect()
}

/// Every architecture name runtime-spec defines (SCMP_ARCH_NATIVE aside).
pub(super) const ARCH_NAMES: [&str; 23] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];
