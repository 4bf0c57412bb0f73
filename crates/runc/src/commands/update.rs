//! `update` and `events`.

use crate::cli::UpdateArgs;
use anyhow::{bail, Context, Result};
use gantry_oci::container::Container;
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

pub fn run(root: &Path, a: &UpdateArgs) -> Result<()> {
    let mut c = Container::load(root, &a.id)?;
    let res: LinuxResources = match &a.resources {
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
            }
            serde_json::from_str(&text)
                .with_context(|| format!("{}: invalid resources JSON", p.display()))?
        }
        None => serde_json::from_value(from_flags(a)?).context("building resources")?,
    };
    c.update(&res)?;
    Ok(())
}

fn from_flags(a: &UpdateArgs) -> Result<Value> {
    let mut mem = Map::new();
    for (key, flag, val) in [
        ("limit", "--memory", &a.memory),
        ("reservation", "--memory-reservation", &a.memory_reservation),
        ("swap", "--memory-swap", &a.memory_swap),
        ("kernel", "--kernel-memory", &a.kernel_memory),
        ("kernelTCP", "--kernel-memory-tcp", &a.kernel_memory_tcp),
    ] {
        if let Some(v) = val {
            mem.insert(
                key.into(),
                json!(ram_in_bytes(v).with_context(|| format!("{flag} {v:?}"))?),
            );
        }
    }
    let mut cpu = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(k.into(), v);
        }
    };
    put("period", a.cpu_period.map(|v| json!(v)));
    put("quota", a.cpu_quota.map(|v| json!(v)));
    put("shares", a.cpu_share.map(|v| json!(v)));
    put("realtimePeriod", a.cpu_rt_period.map(|v| json!(v)));
    put("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v)));
    put("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("mems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    Ok(Value::Object(r))
}

/// "512m", "1g", "1024", "-1" → bytes (binary units, as docker's RAMInBytes).
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let t = s.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('p') => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("not a size: {s:?}"))?;
    if n < 0.0 {
        bail!("negative size {s:?}");
    }
    Ok((n * mult as f64) as i64)
}

/// "5s", "500ms", "1m" → Duration.
fn parse_interval(s: &str) -> Result<Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval {s:?}: not a duration"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => bail!("--interval {s:?}: unknown unit {unit:?}"),
    };
    if secs <= 0.0 {
        bail!("--interval {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `events --stats` prints one stats event; otherwise a stats event every
/// interval and an `oom` event as each OOM happens, until the container stops.
pub fn events(root: &Path, id: &str, once: bool, interval: &str) -> Result<()> {
    let every = parse_interval(interval)?;
    let mut oom = {
        let c = Container::load(root, id)?;
        if once {
            crate::output::line(
                &json!({ "type": "stats", "id": id, "data": c.stats()? }).to_string(),
            );
            return Ok(());
        }
        gantry_oci::cgroups::OomWatcher::new(&c.state.cgroup)?
    };
    let mut next_stats = std::time::Instant::now();
    loop {
        let now = std::time::Instant::now();
        if now >= next_stats {
            let c = Container::load(root, id)?;
            if c.status() == gantry_oci::state::Status::Stopped {
                return Ok(());
            }
            crate::output::line(
                &json!({ "type": "stats", "id": id, "data": c.stats()? }).to_string(),
            );
            next_stats = now + every;
        }
        let wait = next_stats.saturating_duration_since(std::time::Instant::now());
        match &mut oom {
            Some(w) => {
                let mut fds = [nix::poll::PollFd::new(w.fd(), nix::poll::PollFlags::POLLIN)];
                let ms = wait.as_millis().min(i32::MAX as u128) as i32;
                let ready = nix::poll::poll(
                    &mut fds,
                    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX),
                )
                .unwrap_or(0);
                if ready > 0 && w.consume() {
                    crate::output::line(&json!({ "type": "oom", "id": id }).to_string());
                }
            }
            None => std::thread::sleep(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(ram_in_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(ram_in_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("2kb").unwrap(), 2048);
        assert_eq!(ram_in_bytes("-1").unwrap(), -1);
        assert!(ram_in_bytes("lots").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("3h").is_err());
    }
}
