//! Capability names to bit masks, for comparing with the Cap* lines of /proc/PID/status.

/// Capability names in kernel order (bit n is `CAPS[n]`).
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The mask of the named capabilities; panics on an unknown name.
pub fn mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| {
        let bit = CAPS
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m | (1u64 << bit)
    })
}

/// Parses the `Cap*:` lines of a /proc/PID/status text into (name, mask) pairs.
pub fn parse_status(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter(|l| l.starts_with("Cap"))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), u64::from_str_radix(v.trim(), 16).ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_kernel_bits() {
        assert_eq!(mask(&["CAP_CHOWN"]), 1);
        assert_eq!(
            mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]),
            0x2000_0420
        );
        assert_eq!(mask(&["CAP_CHECKPOINT_RESTORE"]), 1 << 40);
    }

    #[test]
    fn parses_status_lines() {
        let status =
            "Name:\tsh\nCapInh:\t0000000000000000\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(
            parse_status(status),
            vec![
                ("CapInh".to_string(), 0),
                ("CapBnd".to_string(), 0xa804_25fb)
            ]
        );
    }
}
