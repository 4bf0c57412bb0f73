//! What the running kernel's seccomp(2) supports: filter actions
//! (SECCOMP_GET_ACTION_AVAIL) and filter flags (probed without installing
//! anything), plus the raw constants the loader needs.

pub const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_ulong = 2;

pub const FLAG_TSYNC: u32 = 1;
pub const FLAG_LOG: u32 = 1 << 1;
pub const FLAG_SPEC_ALLOW: u32 = 1 << 2;
pub const FLAG_NEW_LISTENER: u32 = 1 << 3;
pub const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
pub const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// runtime-spec flag names and their seccomp(2) bits.
pub const FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", FLAG_SPEC_ALLOW),
    (
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        FLAG_WAIT_KILLABLE_RECV,
    ),
];

/// runtime-spec action names and the kernel's SECCOMP_RET_* action values
/// (without the 16 data bits).
pub const ACTIONS: [(&str, u32); 9] = [
    ("SCMP_ACT_KILL", 0),
    ("SCMP_ACT_KILL_THREAD", 0),
    ("SCMP_ACT_KILL_PROCESS", 0x8000_0000),
    ("SCMP_ACT_TRAP", 0x0003_0000),
    ("SCMP_ACT_ERRNO", 0x0005_0000),
    ("SCMP_ACT_TRACE", 0x7ff0_0000),
    ("SCMP_ACT_LOG", 0x7ffc_0000),
    ("SCMP_ACT_NOTIFY", 0x7fc0_0000),
    ("SCMP_ACT_ALLOW", 0x7fff_0000),
];

/// Whether the kernel implements the SECCOMP_RET_* `action`.
pub fn action_available(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 through the pointer, which outlives
    // the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0,
            &action as *const u32,
        )
    };
    r == 0
}

/// Whether the kernel knows filter flag `bit`. Passing a null program makes
/// the kernel check the flags and then fail to read the program with
/// EFAULT (known flag) rather than EINVAL (unknown): nothing is installed.
pub fn flag_supported(bit: u32) -> bool {
    // WAIT_KILLABLE_RECV is only valid together with NEW_LISTENER.
    let flags = if bit == FLAG_WAIT_KILLABLE_RECV {
        bit | FLAG_NEW_LISTENER
    } else {
        bit
    };
    // SAFETY: a null filter pointer is never dereferenced by us; the kernel
    // validates it and returns EFAULT.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_ulong,
            std::ptr::null::<libc::c_void>(),
        )
    };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}
