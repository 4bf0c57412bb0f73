//! Resource limits written into a cgroup v2 directory (runc 1.1's mapping of
//! the v1-minded spec onto v2 files), controller delegation through
//! cgroup.subtree_control, and the spec's raw `unified` map.

use super::{convert, fs, v1};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;

/// Enables every controller the hierarchy offers in each ancestor of `dir`
/// (from `mount` down to dir's parent), so that dir gets their files. dir's
/// own subtree_control stays empty: a v2 cgroup with processes must not
/// delegate.
pub fn enable_controllers(mount: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Ok(());
    };
    let mut levels = vec![mount.to_path_buf()];
    for c in rel.components() {
        let next = levels[levels.len() - 1].join(c);
        levels.push(next);
    }
    levels.pop(); // dir itself
    let mut available = controllers(mount)?;
    for level in levels {
        if available.is_empty() {
            break;
        }
        let current = fs::read(&level, "cgroup.subtree_control")?;
        let mut enabled: Vec<String> = current.split_whitespace().map(str::to_string).collect();
        let missing: Vec<String> = available
            .iter()
            .filter(|c| !enabled.contains(c))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let all = missing
                .iter()
                .map(|c| format!("+{c}"))
                .collect::<Vec<_>>()
                .join(" ");
            if fs::write(&level, "cgroup.subtree_control", &all).is_ok() {
                enabled.extend(missing);
            } else {
                // One refusal (a busy domain, a realtime task for cpu) must
                // not cost the others: enable one by one, keep what works.
                for c in missing {
                    if fs::write(&level, "cgroup.subtree_control", &format!("+{c}")).is_ok() {
                        enabled.push(c);
                    }
                }
            }
        }
        // What this level delegates is what the next one can delegate further.
        available = enabled;
    }
    Ok(())
}

/// The controllers `dir` can use (its cgroup.controllers).
pub fn controllers(dir: &Path) -> Result<Vec<String>> {
    Ok(fs::read(dir, "cgroup.controllers")?
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let v2swap = convert::swap_to_v2(swap, limit)?;
    // swap == limit means "no swap": 0, which limit_str would read as unset.
    let swap_str = if v2swap == 0 && swap > 0 {
        Some("0".to_string())
    } else {
        convert::limit_str(v2swap)
    };
    if let Some(s) = swap_str {
        if let Err(e) = fs::write(dir, "memory.swap.max", &s) {
            let missing =
                matches!(&e, Error::Sys { source, .. } if source.kind() == ErrorKind::NotFound);
            // Without swap accounting there is no swap to limit; asking for
            // none (or for unlimited) is then already true.
            if !(missing && (s == "0" || s == "max")) {
                return Err(e);
            }
        }
    }
    if let Some(s) = convert::limit_str(limit) {
        fs::write(dir, "memory.max", &s)?;
    }
    if let Some(s) = convert::limit_str(m.reservation().unwrap_or(0)) {
        fs::write(dir, "memory.low", &s)?;
    }
    // swappiness, disableOOMKiller and kernel limits have no v2 file; runc
    // ignores them there too.
    Ok(())
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_period().unwrap_or(0) != 0 || c.realtime_runtime().unwrap_or(0) != 0 {
        return Err(Error::Cgroup(
            "cpu.realtimePeriod/realtimeRuntime are not supported on cgroup v2".into(),
        ));
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        fs::write(
            dir,
            "cpu.weight",
            &convert::shares_to_weight(shares).to_string(),
        )?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut v = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            v.push_str(&format!(" {period}"));
        }
        fs::write(dir, "cpu.max", &v)?;
    }
    if let Some(burst) = c.burst() {
        fs::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = c.idle() {
        fs::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

pub fn set_pids(dir: &Path, limit: i64) -> Result<()> {
    v1::set_pids(dir, limit)
}

pub fn set_io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let bfq = fs::exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            fs::write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            fs::write(
                dir,
                "io.weight",
                &convert::blkio_to_io_weight(w).to_string(),
            )?;
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            let (file, v) = if bfq {
                ("io.bfq.weight", u64::from(w))
            } else {
                ("io.weight", convert::blkio_to_io_weight(w))
            };
            fs::write(dir, file, &format!("{}:{} {v}", d.major(), d.minor()))?;
        }
    }
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            fs::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

pub fn set_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        v1::check_page_size(l.page_size())?;
        let v = if l.limit() < 0 {
            "max".to_string()
        } else {
            l.limit().to_string()
        };
        fs::write(dir, &format!("hugetlb.{}.max", l.page_size()), &v)?;
    }
    Ok(())
}

/// The spec's raw key → file map. Keys are file names in the cgroup
/// directory, nothing else; a key of a controller the cgroup lacks is named.
pub fn set_unified(dir: &Path, map: &HashMap<String, String>, available: &[String]) -> Result<()> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in keys {
        if k.is_empty() || k.contains('/') || k == "." || k == ".." {
            return Err(Error::Cgroup(format!(
                "unified: invalid key {k:?} (must be a file name in the cgroup)"
            )));
        }
        let Some((ctrl, _)) = k.split_once('.') else {
            return Err(Error::Cgroup(format!(
                "unified: invalid key {k:?} (expected <controller>.<file>)"
            )));
        };
        if ctrl != "cgroup" && !available.iter().any(|c| c == ctrl) {
            return Err(Error::Cgroup(format!(
                "unified: {k:?} needs the {ctrl} controller, which is not available in {}",
                dir.display()
            )));
        }
        fs::write(dir, k, &map[k])?;
    }
    Ok(())
}
