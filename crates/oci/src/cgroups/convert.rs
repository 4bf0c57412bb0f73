//! runtime-spec values (written with cgroup v1 in mind) converted to what
//! cgroup v2 files expect, with runc's formulas so that a container gets the
//! same limits under gantry as under runc.

use crate::error::{Error, Result};

/// cpu.shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// blkio.weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10) * 9999) / 990
}

/// The spec's swap (memory+swap, v1 style) to memory.swap.max (swap only).
/// 0 = leave alone, -1 = unlimited.
pub fn swap_to_v2(swap: i64, limit: i64) -> Result<i64> {
    // As with v1: unlimited memory and no swap setting means unlimited swap too.
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        return Err(Error::Cgroup(format!(
            "memory.swap {swap} needs a memory.limit as well"
        )));
    }
    if limit < 0 {
        return Err(Error::Cgroup(format!("invalid memory.limit {limit}")));
    }
    if swap < limit {
        return Err(Error::Cgroup(format!(
            "memory.swap {swap} is smaller than memory.limit {limit} (swap counts memory+swap)"
        )));
    }
    Ok(swap - limit)
}

/// A v2 limit file value: None for 0 (unset), "max" for negative.
pub fn limit_str(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Below the v1 minimum: clamp rather than wrap around.
        assert_eq!(shares_to_weight(1), 1);
    }

    #[test]
    fn io_weight() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap() {
        assert_eq!(swap_to_v2(0, 0).unwrap(), 0);
        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert!(swap_to_v2(50, 100)
            .unwrap_err()
            .to_string()
            .contains("smaller"));
        assert!(swap_to_v2(100, 0).is_err());
        assert!(swap_to_v2(100, -1).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit_str(0), None);
        assert_eq!(limit_str(-1).as_deref(), Some("max"));
        assert_eq!(limit_str(42).as_deref(), Some("42"));
    }
}
