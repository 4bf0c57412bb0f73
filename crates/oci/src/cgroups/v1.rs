//! Resource limits written into cgroup v1 controllers, in runc 1.1's file
//! names, orders and value rules. Only what the spec sets is written; 0
//! means unset wherever runc reads it so.

use super::fs;
use crate::error::{Error, Result};
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxInterfacePriority, LinuxMemory,
};
use std::io::ErrorKind;
use std::path::Path;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub fn memory_is_set(m: &LinuxMemory) -> bool {
    nz(m.limit())
        || nz(m.reservation())
        || nz(m.swap())
        || nz(m.kernel_tcp())
        || m.swappiness().is_some_and(|s| s != u64::MAX)
        || m.disable_oom_killer() == Some(true)
}

fn nz(v: Option<i64>) -> bool {
    v.is_some_and(|v| v != 0)
}

pub fn set_memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // Unlimited memory with swap unsaid means unlimited memory+swap as well
    // (otherwise an old memsw limit would keep capping it).
    if limit == -1 && swap == 0 && fs::exists(dir, MEMSW) {
        swap = -1;
    }
    // memsw must stay >= the memory limit at every step: when raising, write
    // memsw first; when lowering, the memory limit first.
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let cur = fs::read_u64(dir, LIMIT)?.unwrap_or(u64::MAX);
        swap_first = swap == -1 || (swap > 0 && cur < swap as u64);
    }
    if swap_first {
        set_swap(dir, swap)?;
        set_limit(dir, limit)?;
    } else {
        set_limit(dir, limit)?;
        set_swap(dir, swap)?;
    }
    if let Some(v) = m.kernel_tcp().filter(|v| *v != 0) {
        fs::write(dir, "memory.kmem.tcp.limit_in_bytes", &v.to_string())?;
    }
    if let Some(v) = m.reservation().filter(|v| *v != 0) {
        fs::write(dir, "memory.soft_limit_in_bytes", &v.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        fs::write(dir, "memory.oom_control", "1")?;
    }
    // u64::MAX is how -1 ("leave alone") arrives through an unsigned field.
    match m.swappiness() {
        Some(s) if s != u64::MAX && s > 100 => {
            return Err(Error::Cgroup(format!(
                "memory.swappiness {s} is out of range 0-100"
            )));
        }
        Some(s) if s != u64::MAX => fs::write(dir, "memory.swappiness", &s.to_string())?,
        _ => {}
    }
    Ok(())
}

fn set_limit(dir: &Path, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    fs::write(dir, LIMIT, &limit.to_string()).map_err(|e| {
        // EBUSY here means the cgroup already uses more: say how much.
        match (&e, fs::read_u64(dir, "memory.usage_in_bytes")) {
            (Error::Sys { source, .. }, Ok(Some(usage)))
                if source.raw_os_error() == Some(libc::EBUSY) =>
            {
                Error::Cgroup(format!(
                    "memory limit {limit} is below the cgroup's current usage {usage} ({e})"
                ))
            }
            _ => e,
        }
    })
}

fn set_swap(dir: &Path, swap: i64) -> Result<()> {
    if swap == 0 {
        return Ok(());
    }
    fs::write(dir, MEMSW, &swap.to_string()).map_err(|e| match &e {
        Error::Sys { source, .. } if source.kind() == ErrorKind::NotFound => {
            Error::Cgroup(format!(
                "memory.swap is set but the kernel has no swap accounting ({} is missing)",
                dir.join(MEMSW).display()
            ))
        }
        _ => e,
    })
}

pub fn cpu_is_set(c: &LinuxCpu) -> bool {
    c.shares().unwrap_or(0) != 0
        || nz(c.quota())
        || c.period().unwrap_or(0) != 0
        || nz(c.realtime_runtime())
        || c.realtime_period().unwrap_or(0) != 0
        || c.idle().is_some()
        || c.burst().is_some()
}

pub fn set_cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        fs::write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps silently; a clamped value is an error to report.
        let got = fs::read_u64(dir, "cpu.shares")?.unwrap_or(shares);
        if got != shares {
            let bound = if shares > got { "maximum" } else { "minimum" };
            return Err(Error::Cgroup(format!(
                "cpu.shares {shares} is out of range: the {bound} allowed is {got}"
            )));
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut period_pending = None;
    if let Some(period) = c.period().filter(|p| *p != 0) {
        if let Err(e) = fs::write(dir, "cpu.cfs_period_us", &period.to_string()) {
            // A shorter period can be refused (old quota/new period over the
            // parent's) until the new quota is in: retry after it.
            let einval = matches!(&e, Error::Sys { source, .. } if source.raw_os_error() == Some(libc::EINVAL));
            if !einval || quota == 0 {
                return Err(e);
            }
            period_pending = Some(period);
        }
    }
    if quota != 0 {
        fs::write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(period) = period_pending {
            fs::write(dir, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    if let Some(burst) = c.burst() {
        fs::write(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(idle) = c.idle() {
        fs::write(dir, "cpu.idle", &idle.to_string())?;
    }
    set_rt(dir, c)
}

/// Realtime budget: the period first, so that a runtime valid for the new
/// period is accepted.
pub fn set_rt(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

pub fn set_cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    // cpus before mems, as runc: both must stay within the parent's.
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fs::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// A new cpuset cgroup starts with empty cpus/mems, which would refuse every
/// task: copy them from the nearest ancestor that has them, level by level.
pub fn init_cpuset(mount: &Path, dir: &Path) -> Result<(String, String)> {
    let cpus = fs::read(dir, "cpuset.cpus")?;
    let mems = fs::read(dir, "cpuset.mems")?;
    if (!cpus.is_empty() && !mems.is_empty()) || dir == mount {
        return Ok((cpus, mems));
    }
    let Some(parent) = dir.parent().filter(|p| p.starts_with(mount)) else {
        return Ok((cpus, mems));
    };
    let (pcpus, pmems) = init_cpuset(mount, parent)?;
    let cpus = if cpus.is_empty() {
        fs::write(dir, "cpuset.cpus", &pcpus)?;
        pcpus
    } else {
        cpus
    };
    let mems = if mems.is_empty() {
        fs::write(dir, "cpuset.mems", &pmems)?;
        pmems
    } else {
        mems
    };
    Ok((cpus, mems))
}

pub fn set_pids(dir: &Path, limit: i64) -> Result<()> {
    let v = if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    };
    fs::write(dir, "pids.max", &v)
}

pub fn blkio_is_set(b: &LinuxBlockIo) -> bool {
    b.weight().unwrap_or(0) != 0
        || b.leaf_weight().unwrap_or(0) != 0
        || [
            b.weight_device().as_ref().map(Vec::len),
            b.throttle_read_bps_device().as_ref().map(Vec::len),
            b.throttle_write_bps_device().as_ref().map(Vec::len),
            b.throttle_read_iops_device().as_ref().map(Vec::len),
            b.throttle_write_iops_device().as_ref().map(Vec::len),
        ]
        .iter()
        .any(|n| n.unwrap_or(0) > 0)
}

pub fn set_blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // CFQ's files, or BFQ's when CFQ is gone (no leaf weights there).
    let (weight, weight_dev) = if fs::exists(dir, "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        fs::write(dir, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        fs::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight().filter(|w| *w != 0) {
            fs::write(dir, weight_dev, &format!("{}:{} {w}", d.major(), d.minor()))?;
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w != 0) {
            fs::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    for (file, list) in [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ] {
        for d in list.iter().flatten() {
            fs::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

pub fn set_hugetlb(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for l in limits {
        check_page_size(l.page_size())?;
        fs::write(
            dir,
            &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
            &l.limit().to_string(),
        )?;
    }
    Ok(())
}

/// Page sizes become part of a file name: keep them to "2MB"-like tokens.
pub fn check_page_size(size: &str) -> Result<()> {
    if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::Cgroup(format!(
            "hugepageLimits: invalid page size {size:?}"
        )));
    }
    Ok(())
}

pub fn set_net_cls(dir: &Path, class_id: u32) -> Result<()> {
    fs::write(dir, "net_cls.classid", &class_id.to_string())
}

pub fn set_net_prio(dir: &Path, prios: &[LinuxInterfacePriority]) -> Result<()> {
    for p in prios {
        fs::write(
            dir,
            "net_prio.ifpriomap",
            &format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}
