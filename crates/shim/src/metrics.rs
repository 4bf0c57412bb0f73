//! Task metrics: the runtime's statistics (the `data` of `runc events --stats`, which
//! gantry-oci's stats serialize to as well) converted into containerd's cgroups v1
//! metrics message (`io.containerd.cgroups.v1.Metrics`), which `ctr task metrics` reads.

use crate::proto::Any;
use prost::Message;
use serde_json::Value;

#[derive(Clone, PartialEq, Message)]
pub struct Metrics {
    #[prost(message, optional, tag = "2")]
    pub pids: Option<PidsStat>,
    #[prost(message, optional, tag = "3")]
    pub cpu: Option<CpuStat>,
    #[prost(message, optional, tag = "4")]
    pub memory: Option<MemoryStat>,
    #[prost(message, optional, tag = "5")]
    pub blkio: Option<BlkIoStat>,
}

#[derive(Clone, PartialEq, Message)]
pub struct PidsStat {
    #[prost(uint64, tag = "1")]
    pub current: u64,
    #[prost(uint64, tag = "2")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct CpuStat {
    #[prost(message, optional, tag = "1")]
    pub usage: Option<CpuUsage>,
    #[prost(message, optional, tag = "2")]
    pub throttling: Option<Throttle>,
}

#[derive(Clone, PartialEq, Message)]
pub struct CpuUsage {
    #[prost(uint64, tag = "1")]
    pub total: u64,
    #[prost(uint64, tag = "2")]
    pub kernel: u64,
    #[prost(uint64, tag = "3")]
    pub user: u64,
    #[prost(uint64, repeated, tag = "4")]
    pub per_cpu: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Throttle {
    #[prost(uint64, tag = "1")]
    pub periods: u64,
    #[prost(uint64, tag = "2")]
    pub throttled_periods: u64,
    #[prost(uint64, tag = "3")]
    pub throttled_time: u64,
}

/// The counters of memory.stat by field number (1-32), then the usage entries.
#[derive(Clone, PartialEq, Message)]
pub struct MemoryStat {
    #[prost(uint64, tag = "1")]
    pub cache: u64,
    #[prost(uint64, tag = "2")]
    pub rss: u64,
    #[prost(uint64, tag = "3")]
    pub rss_huge: u64,
    #[prost(uint64, tag = "4")]
    pub mapped_file: u64,
    #[prost(uint64, tag = "5")]
    pub dirty: u64,
    #[prost(uint64, tag = "6")]
    pub writeback: u64,
    #[prost(uint64, tag = "7")]
    pub pg_pg_in: u64,
    #[prost(uint64, tag = "8")]
    pub pg_pg_out: u64,
    #[prost(uint64, tag = "9")]
    pub pg_fault: u64,
    #[prost(uint64, tag = "10")]
    pub pg_maj_fault: u64,
    #[prost(uint64, tag = "11")]
    pub inactive_anon: u64,
    #[prost(uint64, tag = "12")]
    pub active_anon: u64,
    #[prost(uint64, tag = "13")]
    pub inactive_file: u64,
    #[prost(uint64, tag = "14")]
    pub active_file: u64,
    #[prost(uint64, tag = "15")]
    pub unevictable: u64,
    #[prost(uint64, tag = "16")]
    pub hierarchical_memory_limit: u64,
    #[prost(uint64, tag = "17")]
    pub hierarchical_swap_limit: u64,
    #[prost(message, optional, tag = "33")]
    pub usage: Option<MemoryEntry>,
    #[prost(message, optional, tag = "34")]
    pub swap: Option<MemoryEntry>,
    #[prost(message, optional, tag = "35")]
    pub kernel: Option<MemoryEntry>,
    #[prost(message, optional, tag = "36")]
    pub kernel_tcp: Option<MemoryEntry>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MemoryEntry {
    #[prost(uint64, tag = "1")]
    pub limit: u64,
    #[prost(uint64, tag = "2")]
    pub usage: u64,
    #[prost(uint64, tag = "3")]
    pub max: u64,
    #[prost(uint64, tag = "4")]
    pub failcnt: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct BlkIoStat {
    #[prost(message, repeated, tag = "1")]
    pub io_service_bytes_recursive: Vec<BlkIoEntry>,
    #[prost(message, repeated, tag = "2")]
    pub io_serviced_recursive: Vec<BlkIoEntry>,
}

#[derive(Clone, PartialEq, Message)]
pub struct BlkIoEntry {
    #[prost(string, tag = "1")]
    pub op: String,
    #[prost(uint64, tag = "3")]
    pub major: u64,
    #[prost(uint64, tag = "4")]
    pub minor: u64,
    #[prost(uint64, tag = "5")]
    pub value: u64,
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn entry(v: &Value) -> Option<MemoryEntry> {
    v.is_object().then(|| MemoryEntry {
        limit: n(&v["limit"]),
        usage: n(&v["usage"]),
        max: n(&v["max"]),
        failcnt: n(&v["failcnt"]),
    })
}

fn blkio_entries(v: &Value) -> Vec<BlkIoEntry> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| BlkIoEntry {
                    op: e["op"].as_str().unwrap_or_default().into(),
                    major: n(&e["major"]),
                    minor: n(&e["minor"]),
                    value: n(&e["value"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Converts runc-style stats JSON into the metrics message, wrapped as containerd
/// expects it in StatsResponse.
pub fn from_stats(data: &Value) -> Any {
    let cpu = &data["cpu"];
    let mem = &data["memory"];
    let raw = &mem["raw"];
    let metrics = Metrics {
        pids: data["pids"].is_object().then(|| PidsStat {
            current: n(&data["pids"]["current"]),
            limit: n(&data["pids"]["limit"]),
        }),
        cpu: cpu.is_object().then(|| CpuStat {
            usage: Some(CpuUsage {
                total: n(&cpu["usage"]["total"]),
                kernel: n(&cpu["usage"]["kernel"]),
                user: n(&cpu["usage"]["user"]),
                per_cpu: cpu["usage"]["percpu"]
                    .as_array()
                    .map(|a| a.iter().map(n).collect())
                    .unwrap_or_default(),
            }),
            throttling: Some(Throttle {
                periods: n(&cpu["throttling"]["periods"]),
                throttled_periods: n(&cpu["throttling"]["throttledPeriods"]),
                throttled_time: n(&cpu["throttling"]["throttledTime"]),
            }),
        }),
        memory: mem.is_object().then(|| MemoryStat {
            cache: n(&mem["cache"]),
            rss: n(&raw["rss"]),
            rss_huge: n(&raw["rss_huge"]),
            mapped_file: n(&raw["mapped_file"]),
            dirty: n(&raw["dirty"]),
            writeback: n(&raw["writeback"]),
            pg_pg_in: n(&raw["pgpgin"]),
            pg_pg_out: n(&raw["pgpgout"]),
            pg_fault: n(&raw["pgfault"]),
            pg_maj_fault: n(&raw["pgmajfault"]),
            inactive_anon: n(&raw["inactive_anon"]),
            active_anon: n(&raw["active_anon"]),
            inactive_file: n(&raw["inactive_file"]),
            active_file: n(&raw["active_file"]),
            unevictable: n(&raw["unevictable"]),
            hierarchical_memory_limit: n(&raw["hierarchical_memory_limit"]),
            hierarchical_swap_limit: n(&raw["hierarchical_memsw_limit"]),
            usage: entry(&mem["usage"]),
            swap: entry(&mem["swap"]),
            kernel: entry(&mem["kernel"]),
            kernel_tcp: entry(&mem["kernelTCP"]),
        }),
        blkio: data["blkio"].is_object().then(|| BlkIoStat {
            io_service_bytes_recursive: blkio_entries(&data["blkio"]["ioServiceBytesRecursive"]),
            io_serviced_recursive: blkio_entries(&data["blkio"]["ioServicedRecursive"]),
        }),
    };
    Any {
        type_url: "io.containerd.cgroups.v1.Metrics".into(),
        value: metrics.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_stats_json_maps_to_metrics() {
        let data = serde_json::json!({
            "cpu": {"usage": {"total": 5, "percpu": [2, 3], "kernel": 1, "user": 4},
                    "throttling": {"periods": 7, "throttledPeriods": 1, "throttledTime": 9}},
            "memory": {"cache": 10, "usage": {"limit": 100, "usage": 50, "max": 60, "failcnt": 0},
                       "raw": {"rss": 40, "pgfault": 3}},
            "pids": {"current": 2, "limit": 0},
        });
        let any = from_stats(&data);
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        let m = Metrics::decode(any.value.as_slice()).unwrap();
        assert_eq!(
            m.pids,
            Some(PidsStat {
                current: 2,
                limit: 0
            })
        );
        let cpu = m.cpu.unwrap().usage.unwrap();
        assert_eq!((cpu.total, cpu.per_cpu), (5, vec![2, 3]));
        let mem = m.memory.unwrap();
        assert_eq!((mem.cache, mem.rss, mem.pg_fault), (10, 40, 3));
        assert_eq!(mem.usage.unwrap().usage, 50);
        assert!(m.blkio.is_none());
    }
}
