//! Resource usage of a container's cgroup, shaped like runc's `events
//! --stats` JSON (and what the shim turns into containerd metrics). Each
//! controller is read from v1 when mounted there, else from the v2 hierarchy;
//! a missing controller leaves its section zero.

use super::fs;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CpuUsage {
    pub total: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Bytes; `limit` is u64::MAX when unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryEntry {
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

/// `limit` is 0 when unlimited, as runc reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PidsStats {
    pub current: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

fn num(dir: &Path, file: &str) -> Result<u64> {
    Ok(fs::read_u64(dir, file)?.unwrap_or(0))
}

/// The kernel's USER_HZ, which cpuacct.stat counts in.
fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

pub fn v1_memory(dir: &Path, s: &mut MemoryStats) -> Result<()> {
    s.usage = MemoryEntry {
        usage: num(dir, "memory.usage_in_bytes")?,
        limit: num(dir, "memory.limit_in_bytes")?,
        max: num(dir, "memory.max_usage_in_bytes")?,
        failcnt: num(dir, "memory.failcnt")?,
    };
    if fs::exists(dir, "memory.memsw.usage_in_bytes") {
        s.swap = MemoryEntry {
            usage: num(dir, "memory.memsw.usage_in_bytes")?,
            limit: num(dir, "memory.memsw.limit_in_bytes")?,
            max: num(dir, "memory.memsw.max_usage_in_bytes")?,
            failcnt: num(dir, "memory.memsw.failcnt")?,
        };
    }
    let stat = fs::read_opt(dir, "memory.stat")?.unwrap_or_default();
    s.raw = fs::keyed(&stat).map(|(k, v)| (k.to_string(), v)).collect();
    s.cache = s
        .raw
        .get("total_cache")
        .or(s.raw.get("cache"))
        .copied()
        .unwrap_or(0);
    Ok(())
}

pub fn v2_memory(dir: &Path, s: &mut MemoryStats) -> Result<()> {
    let events = fs::read_opt(dir, "memory.events")?.unwrap_or_default();
    s.usage = MemoryEntry {
        usage: num(dir, "memory.current")?,
        limit: num(dir, "memory.max")?,
        max: num(dir, "memory.peak")?,
        failcnt: fs::keyed(&events)
            .find(|(k, _)| *k == "max")
            .map_or(0, |(_, v)| v),
    };
    if fs::exists(dir, "memory.swap.current") {
        // v1 reports memory+swap here; keep that meaning.
        let swap = num(dir, "memory.swap.current")?;
        let swap_max = num(dir, "memory.swap.max")?;
        s.swap = MemoryEntry {
            usage: s.usage.usage + swap,
            limit: if swap_max == u64::MAX || s.usage.limit == u64::MAX {
                u64::MAX
            } else {
                s.usage.limit + swap_max
            },
            ..Default::default()
        };
    }
    let stat = fs::read_opt(dir, "memory.stat")?.unwrap_or_default();
    s.raw = fs::keyed(&stat).map(|(k, v)| (k.to_string(), v)).collect();
    s.cache = s.raw.get("file").copied().unwrap_or(0);
    Ok(())
}

pub fn v1_cpuacct(dir: &Path, s: &mut CpuStats) -> Result<()> {
    s.usage.total = num(dir, "cpuacct.usage")?;
    s.usage.percpu = fs::read_opt(dir, "cpuacct.usage_percpu")?
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let stat = fs::read_opt(dir, "cpuacct.stat")?.unwrap_or_default();
    let ns_per_tick = 1_000_000_000 / clock_ticks();
    for (k, v) in fs::keyed(&stat) {
        match k {
            "user" => s.usage.user = v * ns_per_tick,
            "system" => s.usage.kernel = v * ns_per_tick,
            _ => {}
        }
    }
    Ok(())
}

pub fn v1_cpu_throttling(dir: &Path, s: &mut CpuStats) -> Result<()> {
    let stat = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
    for (k, v) in fs::keyed(&stat) {
        match k {
            "nr_periods" => s.throttling.periods = v,
            "nr_throttled" => s.throttling.throttled_periods = v,
            "throttled_time" => s.throttling.throttled_time = v,
            _ => {}
        }
    }
    Ok(())
}

/// v2's cpu.stat exists in every cgroup (usage even without the controller).
pub fn v2_cpu(dir: &Path, s: &mut CpuStats) -> Result<()> {
    let stat = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
    for (k, v) in fs::keyed(&stat) {
        match k {
            "usage_usec" => s.usage.total = v * 1000,
            "user_usec" => s.usage.user = v * 1000,
            "system_usec" => s.usage.kernel = v * 1000,
            "nr_periods" => s.throttling.periods = v,
            "nr_throttled" => s.throttling.throttled_periods = v,
            "throttled_usec" => s.throttling.throttled_time = v * 1000,
            _ => {}
        }
    }
    Ok(())
}

pub fn pids(dir: &Path, s: &mut PidsStats) -> Result<()> {
    s.current = num(dir, "pids.current")?;
    s.limit = match fs::read_u64(dir, "pids.max")? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(())
}

pub fn v1_blkio(dir: &Path, s: &mut BlkioStats) -> Result<()> {
    let parse = |file: &str| -> Result<Vec<BlkioEntry>> {
        let content = fs::read_opt(dir, file)?.unwrap_or_default();
        Ok(content
            .lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
                let (major, minor) = dev.split_once(':')?;
                Some(BlkioEntry {
                    major: major.parse().ok()?,
                    minor: minor.parse().ok()?,
                    op: op.to_string(),
                    value: value.parse().ok()?,
                })
            })
            .collect())
    };
    s.io_service_bytes_recursive = parse("blkio.throttle.io_service_bytes_recursive")?;
    s.io_serviced_recursive = parse("blkio.throttle.io_serviced_recursive")?;
    Ok(())
}

/// io.stat: "MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.." per device.
pub fn v2_io(dir: &Path, s: &mut BlkioStats) -> Result<()> {
    let content = fs::read_opt(dir, "io.stat")?.unwrap_or_default();
    for line in content.lines() {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.io_serviced_recursive, "Read"),
                "wios" => (&mut s.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    Ok(())
}
