//! Manager tests against a fake host rooted in a temporary directory: the
//! kernel's files are plain files there, so these check which file gets
//! which value, not what the kernel makes of it (tests/cgroups.rs does that
//! as root).

use super::*;
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxMemoryBuilder,
    LinuxNetworkBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};
use std::collections::HashMap;
use std::fs as stdfs;

const HYBRID_MI: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
const HYBRID_CG: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/parent
3:cpuset:/
1:cpu,cpuacct:/
0::/
";

fn touch(dir: &Path, files: &[(&str, &str)]) {
    stdfs::create_dir_all(dir).unwrap();
    for (f, content) in files {
        stdfs::write(dir.join(f), content).unwrap();
    }
}

fn read(dir: &Path, f: &str) -> String {
    stdfs::read_to_string(dir.join(f))
        .unwrap()
        .trim()
        .to_string()
}

fn manager(mi: &str, cg: &str, base: &Path, path: Option<&str>) -> CgroupManager {
    let host = Host::parse(mi, cg, base).unwrap();
    CgroupManager::from_host(&host, path.map(Path::new), "c1").unwrap()
}

#[test]
fn resolves_paths_per_hierarchy() {
    let t = tempfile::tempdir().unwrap();
    let m = manager(HYBRID_MI, HYBRID_CG, t.path(), None);
    assert_eq!(m.mode, Mode::Hybrid);
    let fsr = t.path().join("sys/fs/cgroup");
    assert_eq!(m.v1_dir("memory").unwrap(), fsr.join("memory/parent/c1"));
    assert_eq!(m.v1_dir("cpuacct").unwrap(), fsr.join("cpu,cpuacct/c1"));
    assert_eq!(m.v1_dir("name=systemd").unwrap(), fsr.join("systemd/c1"));
    assert_eq!(m.unified.as_ref().unwrap().path, fsr.join("unified/c1"));
    assert_eq!(
        m.unified_dir(),
        None,
        "hybrid hosts cannot clone into a v2 cgroup"
    );
    assert_eq!(m.paths().count(), 8);

    let abs = manager(HYBRID_MI, HYBRID_CG, t.path(), Some("/a/b"));
    assert_eq!(abs.v1_dir("memory").unwrap(), fsr.join("memory/a/b"));
    let rel = manager(HYBRID_MI, HYBRID_CG, t.path(), Some("x"));
    assert_eq!(rel.v1_dir("memory").unwrap(), fsr.join("memory/parent/x"));

    let host = Host::parse(HYBRID_MI, HYBRID_CG, t.path()).unwrap();
    let err = CgroupManager::from_host(&host, Some(Path::new("../../x")), "c1").unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");

    // Plain data that survives state.json.
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<CgroupManager>(&json).unwrap(), m);
}

#[test]
fn hybrid_create_and_apply() {
    let t = tempfile::tempdir().unwrap();
    let fsr = t.path().join("sys/fs/cgroup");
    touch(
        &fsr.join("cpuset"),
        &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
    );
    touch(
        &fsr.join("cpuset/c1"),
        &[("cpuset.cpus", "\n"), ("cpuset.mems", "\n")],
    );
    touch(
        &fsr.join("unified"),
        &[
            ("cgroup.controllers", "hugetlb pids\n"),
            ("cgroup.subtree_control", ""),
        ],
    );
    let m = manager(HYBRID_MI, HYBRID_CG, t.path(), None);
    m.create().unwrap();
    for p in m.paths() {
        assert!(p.is_dir(), "{}", p.display());
    }
    assert_eq!(read(&fsr.join("cpuset/c1"), "cpuset.cpus"), "0-3");
    assert_eq!(read(&fsr.join("cpuset/c1"), "cpuset.mems"), "0");
    assert_eq!(
        read(&fsr.join("unified"), "cgroup.subtree_control"),
        "+hugetlb +pids"
    );

    let mem = m.v1_dir("memory").unwrap();
    touch(
        mem,
        &[
            ("memory.limit_in_bytes", "9223372036854771712"),
            ("memory.memsw.limit_in_bytes", ""),
            ("memory.soft_limit_in_bytes", ""),
            ("memory.swappiness", ""),
            ("memory.oom_control", ""),
        ],
    );
    let cpu = m.v1_dir("cpu").unwrap();
    touch(
        cpu,
        &[
            ("cpu.shares", ""),
            ("cpu.cfs_quota_us", ""),
            ("cpu.cfs_period_us", ""),
        ],
    );
    let dev = m.v1_dir("devices").unwrap();
    touch(
        dev,
        &[
            ("devices.list", "a *:* rwm"),
            ("devices.allow", ""),
            ("devices.deny", ""),
        ],
    );
    touch(m.v1_dir("pids").unwrap(), &[("pids.max", "")]);
    let uni = m.unified.as_ref().unwrap().path.clone();
    touch(
        &uni,
        &[
            ("cgroup.controllers", "hugetlb pids"),
            ("hugetlb.2MB.max", ""),
        ],
    );

    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .swap(128 << 20)
                .reservation(32 << 20)
                .swappiness(10u64)
                .disable_oom_killer(true)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(50_000i64)
                .period(100_000u64)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(10).build().unwrap())
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 << 21)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    m.apply(&r).unwrap();
    assert_eq!(read(mem, "memory.limit_in_bytes"), (64 << 20).to_string());
    assert_eq!(
        read(mem, "memory.memsw.limit_in_bytes"),
        (128 << 20).to_string()
    );
    assert_eq!(
        read(mem, "memory.soft_limit_in_bytes"),
        (32 << 20).to_string()
    );
    assert_eq!(read(mem, "memory.swappiness"), "10");
    assert_eq!(read(mem, "memory.oom_control"), "1");
    assert_eq!(read(cpu, "cpu.shares"), "512");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
    assert_eq!(read(m.v1_dir("pids").unwrap(), "pids.max"), "10");
    // hugetlb is not mounted as v1 here: it goes to the v2 hierarchy.
    assert_eq!(read(&uni, "hugetlb.2MB.max"), (4 << 21).to_string());
    // The device policy starts by denying everything.
    assert_eq!(read(dev, "devices.deny"), "a");

    // Fields whose controller is absent name it.
    let net = LinuxResourcesBuilder::default()
        .network(
            LinuxNetworkBuilder::default()
                .class_id(7u32)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = m.update(&net).unwrap_err().to_string();
    assert!(e.contains("net_cls"), "{e}");
    let io = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(100u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let e = m.update(&io).unwrap_err().to_string();
    assert!(e.contains("blkio"), "{e}");
    // A missing control file is named with the value.
    let idle = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().idle(1i64).build().unwrap())
        .build()
        .unwrap();
    let e = m.update(&idle).unwrap_err().to_string();
    assert!(e.contains("cpu.idle") && e.contains("\"1\""), "{e}");
}

#[test]
fn unified_rejected_on_legacy() {
    let t = tempfile::tempdir().unwrap();
    let mi = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let m = manager(mi, "4:memory:/\n0::/\n", t.path(), None);
    assert_eq!(m.mode, Mode::Legacy);
    assert!(m.unified.is_none());
    let r = LinuxResourcesBuilder::default()
        .unified(HashMap::from([(
            "memory.high".to_string(),
            "1000".to_string(),
        )]))
        .build()
        .unwrap();
    let e = m.update(&r).unwrap_err().to_string();
    assert!(e.contains("only cgroup v1"), "{e}");
}

const V2_MI: &str = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";

#[test]
fn v2_apply_converts() {
    let t = tempfile::tempdir().unwrap();
    let fsr = t.path().join("sys/fs/cgroup");
    let ctrls = "cpuset cpu io memory hugetlb pids";
    touch(
        &fsr,
        &[
            ("cgroup.controllers", ctrls),
            ("cgroup.subtree_control", ""),
        ],
    );
    touch(
        &fsr.join("user.slice"),
        &[
            ("cgroup.controllers", ctrls),
            ("cgroup.subtree_control", ""),
        ],
    );
    let m = manager(V2_MI, "0::/user.slice\n", t.path(), Some("ctr"));
    assert_eq!(m.mode, Mode::Unified);
    let dir = fsr.join("user.slice/ctr");
    assert_eq!(m.unified_dir(), Some(dir.as_path()));
    m.create().unwrap();
    let want = "+cpuset +cpu +io +memory +hugetlb +pids";
    assert_eq!(read(&fsr, "cgroup.subtree_control"), want);
    assert_eq!(
        read(&fsr.join("user.slice"), "cgroup.subtree_control"),
        want
    );
    assert!(
        !dir.join("cgroup.subtree_control").exists(),
        "the leaf delegates nothing"
    );

    let files = [
        "memory.max",
        "memory.swap.max",
        "memory.low",
        "cpu.weight",
        "cpu.max",
        "io.weight",
        "io.max",
        "pids.max",
        "memory.high",
        "cpuset.cpus",
    ];
    touch(&dir, &files.map(|f| (f, "")));
    touch(&dir, &[("cgroup.controllers", ctrls)]);
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(100)
                .swap(300)
                .reservation(-1)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(-1i64)
                .period(50_000u64)
                .cpus("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(-1).build().unwrap())
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(500u16)
                .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(8)
                    .minor(0)
                    .rate(1000u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .unified(HashMap::from([(
            "memory.high".to_string(),
            "4096".to_string(),
        )]))
        .build()
        .unwrap();
    m.update(&r).unwrap();
    assert_eq!(read(&dir, "memory.max"), "100");
    assert_eq!(read(&dir, "memory.swap.max"), "200");
    assert_eq!(read(&dir, "memory.low"), "max");
    assert_eq!(read(&dir, "cpu.weight"), "39");
    assert_eq!(read(&dir, "cpu.max"), "max 50000");
    assert_eq!(read(&dir, "io.weight"), "4950");
    assert_eq!(read(&dir, "io.max"), "8:0 rbps=1000");
    assert_eq!(read(&dir, "pids.max"), "max");
    assert_eq!(read(&dir, "memory.high"), "4096");
    assert_eq!(read(&dir, "cpuset.cpus"), "0");

    for bad in ["../memory.max", "memory.max/x", ".."] {
        let r = LinuxResourcesBuilder::default()
            .unified(HashMap::from([(bad.to_string(), "1".to_string())]))
            .build()
            .unwrap();
        let e = m.update(&r).unwrap_err().to_string();
        assert!(e.contains("invalid key"), "{bad}: {e}");
    }
    let r = LinuxResourcesBuilder::default()
        .unified(HashMap::from([("rdma.max".to_string(), "1".to_string())]))
        .build()
        .unwrap();
    assert!(m
        .update(&r)
        .unwrap_err()
        .to_string()
        .contains("rdma controller"));
    let rt = LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .realtime_runtime(100i64)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(m.update(&rt).unwrap_err().to_string().contains("realtime"));
}

#[test]
fn v2_pids_freeze() {
    let t = tempfile::tempdir().unwrap();
    let fsr = t.path().join("sys/fs/cgroup");
    let m = manager(V2_MI, "0::/\n", t.path(), Some("/ctr"));
    let dir = fsr.join("ctr");
    touch(
        &dir,
        &[
            ("cgroup.procs", "10\n11\n"),
            ("cgroup.freeze", "0"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ],
    );
    touch(&dir.join("exec1"), &[("cgroup.procs", "12\n")]);
    touch(&dir.join("exec1/deeper"), &[("cgroup.procs", "13\n")]);
    let mut pids = m.pids().unwrap();
    pids.sort();
    assert_eq!(pids, [10, 11, 12, 13]);
    assert!(!m.is_frozen().unwrap());
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
}

#[test]
fn destroy_deepest_first_and_idempotent() {
    let t = tempfile::tempdir().unwrap();
    let mi = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
              39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
    let m = manager(mi, "8:pids:/\n4:memory:/\n", t.path(), Some("/p/c"));
    m.create().unwrap();
    stdfs::create_dir_all(m.v1_dir("pids").unwrap().join("sub/subsub")).unwrap();
    m.destroy().unwrap();
    for p in m.paths() {
        assert!(!p.exists(), "{}", p.display());
        assert!(p.parent().unwrap().exists(), "parents stay");
    }
    m.destroy().unwrap();
    // Nothing mounted for the manager to use: the empty default is harmless.
    let empty = CgroupManager::default();
    assert!(empty.pids().unwrap().is_empty());
    assert!(!empty.is_frozen().unwrap());
    empty.destroy().unwrap();
}

#[test]
fn legacy_blkio_hugetlb_network() {
    use oci_spec::runtime::{LinuxInterfacePriorityBuilder, LinuxWeightDeviceBuilder};
    let t = tempfile::tempdir().unwrap();
    let mi = "\
38 31 0:35 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
42 31 0:39 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb
43 31 0:40 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
";
    let m = manager(
        mi,
        "7:blkio:/\n6:hugetlb:/\n5:net_cls,net_prio:/\n",
        t.path(),
        Some("/c"),
    );
    m.create().unwrap();
    let blk = m.v1_dir("blkio").unwrap();
    let files = [
        "blkio.weight",
        "blkio.leaf_weight",
        "blkio.weight_device",
        "blkio.throttle.write_iops_device",
    ];
    touch(blk, &files.map(|f| (f, "")));
    touch(
        m.v1_dir("hugetlb").unwrap(),
        &[("hugetlb.1GB.limit_in_bytes", "")],
    );
    let net = m.v1_dir("net_prio").unwrap();
    assert_eq!(Some(net), m.v1_dir("net_cls"), "co-mounted");
    touch(net, &[("net_cls.classid", ""), ("net_prio.ifpriomap", "")]);
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(300u16)
                .leaf_weight(200u16)
                .weight_device(vec![LinuxWeightDeviceBuilder::default()
                    .major(8)
                    .minor(16)
                    .weight(700u16)
                    .build()
                    .unwrap()])
                .throttle_write_iops_device(vec![LinuxThrottleDeviceBuilder::default()
                    .major(8)
                    .minor(0)
                    .rate(50u64)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("1GB")
            .limit(-1)
            .build()
            .unwrap()])
        .network(
            LinuxNetworkBuilder::default()
                .class_id(0x10_0001u32)
                .priorities(vec![LinuxInterfacePriorityBuilder::default()
                    .name("eth0")
                    .priority(5u32)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    m.update(&r).unwrap();
    assert_eq!(read(blk, "blkio.weight"), "300");
    assert_eq!(read(blk, "blkio.leaf_weight"), "200");
    assert_eq!(read(blk, "blkio.weight_device"), "8:16 700");
    assert_eq!(read(blk, "blkio.throttle.write_iops_device"), "8:0 50");
    assert_eq!(
        read(m.v1_dir("hugetlb").unwrap(), "hugetlb.1GB.limit_in_bytes"),
        "-1"
    );
    assert_eq!(read(net, "net_cls.classid"), "1048577");
    assert_eq!(read(net, "net_prio.ifpriomap"), "eth0 5");

    let bad = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("../x")
            .limit(1)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    assert!(m
        .update(&bad)
        .unwrap_err()
        .to_string()
        .contains("invalid page size"));
}
