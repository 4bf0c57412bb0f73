//! The cgroup manager against this host's real kernel, as root: cgroups are
//! made under a uniquely named parent, every resource the host offers is
//! applied and read back from the kernel's files, a real process is moved in,
//! listed, frozen and thawed, and everything is removed again (a guard does it
//! on failure too). The v2 eBPF device filter is tested for real on the
//! host's cgroup2 mount.

use gantry_oci::cgroups::{CgroupManager, Host, Mode};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxHugepageLimitBuilder, LinuxMemoryBuilder, LinuxNetworkBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The tests share the cgroup2 root's subtree_control: one at a time.
static LOCK: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn unique(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("/gantry-cgtest-{tag}-{}-{nanos}", std::process::id())
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// Undoes everything a test made, whatever happened: thaws, kills and reaps
/// its processes, removes its cgroups, and turns hugetlb delegation at the
/// cgroup2 root back off if the test turned it on.
struct Guard {
    leaf: Option<CgroupManager>,
    parent: CgroupManager,
    children: Vec<Child>,
    restore_subtree: Option<PathBuf>,
}

impl Guard {
    fn new(leaf: &CgroupManager, parent: CgroupManager) -> Guard {
        let restore_subtree = parent.unified.as_ref().and_then(|u| {
            let on = std::fs::read_to_string(u.mount.join("cgroup.subtree_control")).ok()?;
            (!on.split_whitespace().any(|c| c == "hugetlb")).then(|| u.mount.clone())
        });
        Guard {
            leaf: Some(leaf.clone()),
            parent,
            children: Vec::new(),
            restore_subtree,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(leaf) = &self.leaf {
            let _ = leaf.thaw();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.parent.destroy() {
            eprintln!("cleanup: {e}");
        }
        if let Some(mount) = &self.restore_subtree {
            // Refused (EBUSY) while the removed cgroups are still dying, for
            // a moment; for good when someone else uses hugetlb below by now.
            for _ in 0..100 {
                if std::fs::write(mount.join("cgroup.subtree_control"), "-hugetlb").is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

fn spawn_sleep() -> Child {
    Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawning sleep")
}

fn hugetlb_2mb(dir: &Path, v1: bool) -> Option<&'static str> {
    let file = if v1 {
        "hugetlb.2MB.limit_in_bytes"
    } else {
        "hugetlb.2MB.max"
    };
    dir.join(file).exists().then_some(file)
}

#[test]
fn cgroups_v1_hierarchies_for_real() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let host = Host::read().unwrap();
    if host.mode == Mode::Unified {
        eprintln!(
            "skipped: pure cgroup v2 host (see cgroups_v2_manager_and_device_filter_for_real)"
        );
        return;
    }
    let name = unique("v1");
    let parent = CgroupManager::from_host(&host, Some(Path::new(&name)), "x").unwrap();
    let m = CgroupManager::from_host(&host, Some(&Path::new(&name).join("ctr")), "ctr").unwrap();
    let mut guard = Guard::new(&m, parent.clone());

    m.create().unwrap();
    for p in m.paths() {
        assert!(p.is_dir(), "{} was not created", p.display());
    }
    // On a hybrid host the container is on the cgroup2 hierarchy too.
    assert_eq!(m.unified.is_some(), host.mode == Mode::Hybrid);
    assert_eq!(m.unified_dir(), None);
    if let Some(cs) = m.v1_dir("cpuset") {
        let root =
            m.v1.iter()
                .find(|d| d.controllers.iter().any(|c| c == "cpuset"))
                .unwrap();
        assert_eq!(
            read(cs, "cpuset.cpus"),
            read(&root.mount, "cpuset.cpus"),
            "cpuset copied from the ancestors"
        );
        assert!(!read(cs, "cpuset.mems").is_empty());
    }

    let mem = m.v1_dir("memory").expect("memory controller");
    let swap = mem.join("memory.memsw.limit_in_bytes").exists();
    let mut mb = LinuxMemoryBuilder::default()
        .limit(256i64 << 20)
        .reservation(128i64 << 20)
        .swappiness(10u64)
        .disable_oom_killer(true);
    if swap {
        mb = mb.swap(512i64 << 20);
    }
    let cpu = m.v1_dir("cpu").expect("cpu controller");
    let mut cb = LinuxCpuBuilder::default()
        .shares(512u64)
        .quota(20_000i64)
        .period(100_000u64)
        .cpus("0")
        .mems("0");
    if cpu.join("cpu.cfs_burst_us").exists() {
        cb = cb.burst(1_000u64);
    }
    if cpu.join("cpu.idle").exists() {
        cb = cb.idle(0i64);
    }
    if cpu.join("cpu.rt_period_us").exists() {
        cb = cb.realtime_period(500_000u64);
    }
    // The disk the root filesystem lives on, for throttling.
    let dev = nix::sys::stat::stat("/").unwrap().st_dev;
    let (major, minor) = (
        nix::sys::stat::major(dev) as i64,
        nix::sys::stat::minor(dev) as i64,
    );
    let whole_disk =
        std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/partition")).is_err();
    let mut rb = LinuxResourcesBuilder::default()
        .memory(mb.build().unwrap())
        .cpu(cb.build().unwrap())
        .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
        .devices(vec![
            dev_rule(false, None, None, None, "rwm"),
            dev_rule(true, Some(LinuxDeviceType::C), Some(4), None, "rw"),
        ]);
    if whole_disk {
        rb = rb.block_io(
            LinuxBlockIoBuilder::default()
                .throttle_read_bps_device(vec![throttle(major, minor, 1 << 20)])
                .throttle_write_iops_device(vec![throttle(major, minor, 100)])
                .build()
                .unwrap(),
        );
    }
    let hugetlb = m
        .v1_dir("hugetlb")
        .map(|d| (d.to_path_buf(), true))
        .or_else(|| m.unified.as_ref().map(|u| (u.path.clone(), false)))
        .and_then(|(d, v1)| hugetlb_2mb(&d, v1).map(|f| (d, f)));
    if let (None, Some(u)) = (m.v1_dir("hugetlb"), &m.unified) {
        let offered = read(&u.mount, "cgroup.controllers");
        if offered.split_whitespace().any(|c| c == "hugetlb")
            && Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
        {
            assert!(
                hugetlb.is_some(),
                "hybrid: hugetlb must be usable on the cgroup2 hierarchy"
            );
        }
    }
    if hugetlb.is_some() {
        rb = rb.hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4i64 << 20)
            .build()
            .unwrap()]);
    }
    m.apply(&rb.build().unwrap()).unwrap();

    assert_eq!(
        read(mem, "memory.limit_in_bytes"),
        (256u64 << 20).to_string()
    );
    if swap {
        assert_eq!(
            read(mem, "memory.memsw.limit_in_bytes"),
            (512u64 << 20).to_string()
        );
    }
    assert_eq!(
        read(mem, "memory.soft_limit_in_bytes"),
        (128u64 << 20).to_string()
    );
    assert_eq!(read(mem, "memory.swappiness"), "10");
    assert!(read(mem, "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(read(cpu, "cpu.shares"), "512");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(cpu, "cpu.cfs_period_us"), "100000");
    if cpu.join("cpu.cfs_burst_us").exists() {
        assert_eq!(read(cpu, "cpu.cfs_burst_us"), "1000");
    }
    if cpu.join("cpu.rt_period_us").exists() {
        assert_eq!(read(cpu, "cpu.rt_period_us"), "500000");
    }
    let cs = m.v1_dir("cpuset").unwrap();
    assert_eq!(read(cs, "cpuset.cpus"), "0");
    assert_eq!(read(cs, "cpuset.mems"), "0");
    assert_eq!(read(m.v1_dir("pids").unwrap(), "pids.max"), "100");
    if whole_disk {
        let b = m.v1_dir("blkio").unwrap();
        assert!(
            read(b, "blkio.throttle.read_bps_device").contains(&format!("{major}:{minor} 1048576"))
        );
        assert!(
            read(b, "blkio.throttle.write_iops_device").contains(&format!("{major}:{minor} 100"))
        );
    }
    if let Some((dir, file)) = &hugetlb {
        assert_eq!(read(dir, file), (4u64 << 20).to_string());
    }
    let list = read(m.v1_dir("devices").unwrap(), "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    for want in [
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 136:* rwm",
        "c *:* m",
        "b *:* m",
        "c 4:* rw",
    ] {
        assert!(
            lines.contains(&want),
            "{want} missing from devices.list:\n{list}"
        );
    }
    assert!(
        !lines.contains(&"a *:* rwm"),
        "the cgroup must not allow every device:\n{list}"
    );

    // Raising and lowering memory with swap, each needing its own write order.
    if swap {
        for (limit, sw) in [(1i64 << 30, 2i64 << 30), (64 << 20, 128 << 20)] {
            let r = memory(LinuxMemoryBuilder::default().limit(limit).swap(sw));
            m.update(&r)
                .unwrap_or_else(|e| panic!("limit {limit} swap {sw}: {e}"));
            assert_eq!(read(mem, "memory.limit_in_bytes"), limit.to_string());
            assert_eq!(read(mem, "memory.memsw.limit_in_bytes"), sw.to_string());
        }
        m.update(&memory(LinuxMemoryBuilder::default().limit(-1)))
            .unwrap();
        assert_eq!(
            read(mem, "memory.memsw.limit_in_bytes"),
            read(mem, "memory.limit_in_bytes")
        );
        m.update(&memory(LinuxMemoryBuilder::default().limit(64i64 << 20)))
            .unwrap();
    }

    // What the kernel refuses comes back naming the file and the value.
    let bad = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("4095").build().unwrap())
        .build()
        .unwrap();
    let e = m.update(&bad).unwrap_err().to_string();
    assert!(e.contains("cpuset.cpus") && e.contains("4095"), "{e}");
    // A field whose controller is missing names the controller.
    if m.v1_dir("net_cls").is_none() {
        let net = LinuxResourcesBuilder::default()
            .network(
                LinuxNetworkBuilder::default()
                    .class_id(0x10001u32)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let e = m.update(&net).unwrap_err().to_string();
        assert!(e.contains("net_cls"), "{e}");
    }

    // A real process: in, listed, frozen, thawed.
    guard.children.push(spawn_sleep());
    let pid = guard.children[0].id() as i32;
    m.add_pid(pid).unwrap();
    assert_eq!(m.pids().unwrap(), [pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.contains(&format!("memory:{name}/ctr")), "{own}");
    if m.unified.is_some() {
        assert!(own.contains(&format!("0::{name}/ctr")), "{own}");
    }
    assert!(!m.is_frozen().unwrap());
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    assert_eq!(
        read(m.v1_dir("freezer").unwrap(), "freezer.state"),
        "FROZEN"
    );
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());

    let stats = m.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 100);
    assert_eq!(
        stats.memory.usage.limit.to_string(),
        read(mem, "memory.limit_in_bytes")
    );
    // (Usage may be 0: a v1 move does not carry the process's charges along.)
    assert_eq!(
        stats.memory.raw.get("hierarchical_memory_limit"),
        Some(&stats.memory.usage.limit),
        "{stats:?}"
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert!(
        json["memory"]["usage"]["limit"].is_u64()
            && json["cpu"]["throttling"]["throttledPeriods"].is_u64()
    );

    // A busy cgroup cannot go; once its process is gone it can.
    let mut child = guard.children.pop().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    m.destroy().unwrap();
    for p in m.paths() {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    guard.leaf = None;
    drop(guard);
    for p in parent.paths() {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

/// The v2 manager and its eBPF device filter on the host's cgroup2 mount
/// (on a hybrid host it holds few controllers, but device programs attach to
/// any cgroup2 directory).
#[test]
fn cgroups_v2_manager_and_device_filter_for_real() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _lock = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let real = Host::read().unwrap();
    let Some(u) = &real.unified else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    // This host, seen as if the cgroup2 mount were all there is.
    let mi = format!(
        "1 1 0:99 / {} rw - cgroup2 cgroup2 rw\n",
        u.mount.display().to_string().replace(' ', "\\040")
    );
    let host = Host::parse(&mi, &format!("0::{}\n", u.own), Path::new("/")).unwrap();
    assert_eq!(host.mode, Mode::Unified);
    let name = unique("v2");
    let parent = CgroupManager::from_host(&host, Some(Path::new(&name)), "x").unwrap();
    let m = CgroupManager::from_host(&host, Some(&Path::new(&name).join("ctr")), "ctr").unwrap();
    let mut guard = Guard::new(&m, parent);
    m.create().unwrap();
    let dir = m
        .unified_dir()
        .expect("a v2 manager has a unified dir")
        .to_path_buf();
    assert!(dir.is_dir());

    // Deny everything, allow the usual devices, then take /dev/null away.
    let mut rules = vec![dev_rule(false, None, None, None, "rwm")];
    rules.extend(
        [(1, 3), (1, 5), (1, 8), (1, 9)]
            .map(|(ma, mi)| dev_rule(true, Some(LinuxDeviceType::C), Some(ma), Some(mi), "rwm")),
    );
    rules.push(dev_rule(
        false,
        Some(LinuxDeviceType::C),
        Some(1),
        Some(3),
        "rwm",
    ));
    m.set_device_rules(&rules).unwrap();
    let out = probe_devices(&m, &mut guard);
    assert!(
        out.contains("null-denied"),
        "/dev/null must be refused: {out:?}"
    );
    assert!(
        out.contains("zero-ok"),
        "/dev/zero must stay usable: {out:?}"
    );

    // Replacing the filter detaches the old one: with runc's defaults
    // /dev/null is back (were the old program still attached, it would not).
    m.apply(&LinuxResources::default()).unwrap();
    let out = probe_devices(&m, &mut guard);
    assert!(
        out.contains("null-ok") && out.contains("zero-ok"),
        "{out:?}"
    );

    // Resources: what the hierarchy has is written, what it lacks is named.
    let ctrls = read(&dir, "cgroup.controllers");
    let offered = read(&u.mount, "cgroup.controllers");
    if offered.split_whitespace().any(|c| c == "hugetlb") {
        assert!(
            ctrls.split_whitespace().any(|c| c == "hugetlb"),
            "create() must delegate hugetlb: {ctrls:?}"
        );
    }
    if ctrls.split_whitespace().any(|c| c == "hugetlb") && dir.join("hugetlb.2MB.max").exists() {
        let r = LinuxResourcesBuilder::default()
            .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                .page_size("2MB")
                .limit(2i64 << 20)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        m.update(&r).unwrap();
        assert_eq!(read(&dir, "hugetlb.2MB.max"), (2u64 << 20).to_string());
    }
    if !ctrls.split_whitespace().any(|c| c == "memory") {
        let e = m
            .update(&memory(LinuxMemoryBuilder::default().limit(1i64 << 30)))
            .unwrap_err()
            .to_string();
        assert!(e.contains("memory controller"), "{e}");
    }

    // pids() walks sub-cgroups; freezing is v2's cgroup.freeze.
    guard.children.push(spawn_sleep());
    let pid = guard.children.last().unwrap().id() as i32;
    m.add_pid(pid).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/cgroup.procs"), pid.to_string()).unwrap();
    assert_eq!(m.pids().unwrap(), [pid]);
    m.freeze().unwrap();
    assert!(m.is_frozen().unwrap());
    assert!(read(&dir.join("sub"), "cgroup.events").contains("frozen 1"));
    m.thaw().unwrap();
    assert!(!m.is_frozen().unwrap());

    for mut c in guard.children.drain(..) {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    m.destroy().unwrap();
    assert!(!dir.exists());
}

/// Runs a shell in the cgroup that tries /dev/null and /dev/zero.
fn probe_devices(m: &CgroupManager, guard: &mut Guard) -> String {
    let script = "read go; \
        if cat /dev/null; then echo null-ok; else echo null-denied; fi; \
        if head -c 1 /dev/zero >&2; then echo zero-ok; else echo zero-denied; fi";
    let child = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    guard.children.push(child);
    let child = guard.children.last_mut().unwrap();
    m.add_pid(child.id() as i32).unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    child.wait().unwrap();
    out
}

fn dev_rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(v) = major {
        b = b.major(v);
    }
    if let Some(v) = minor {
        b = b.minor(v);
    }
    b.build().unwrap()
}

fn throttle(major: i64, minor: i64, rate: u64) -> oci_spec::runtime::LinuxThrottleDevice {
    LinuxThrottleDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .rate(rate)
        .build()
        .unwrap()
}

fn memory(b: LinuxMemoryBuilder) -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(b.build().unwrap())
        .build()
        .unwrap()
}
