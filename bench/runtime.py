#!/usr/bin/env python3
"""Times gantry-runc against runc and crun on the same busybox bundle.

Runtimes run in alternation (the order rotates every round), N rounds each:
  * `run` of /bin/true: wall time, CPU time (user+sys of the runtime and every descendant it
    reaps, from wait4) and peak RSS (ru_maxrss from wait4);
    a process forked from Python inherits Python's RSS high-water mark through exec, so peak
    RSS is taken in a separate run under GNU time (`/usr/bin/time -f %M`, its own wait4 of a
    child forked from a small process);
  * `create; start; delete` of /bin/true: wall time of the sequence (and of each step);
  * `exec` of /bin/true into a running container: wall and CPU time.
Medians with p10/p90, ratios against runc and crun, a Markdown table on stdout, and a section
appended to bench/RESULTS.md with the command used.

crun 1.8.1 refuses this machine's hybrid cgroups while /sys/fs/cgroup/unified lists
controllers, so the whole benchmark (all runtimes alike) runs in a private mount namespace
where an empty file is bound over /sys/fs/cgroup/unified/cgroup.controllers.

Needs root. Standard library only.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import results  # bench/results.py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NS_MARK = "GANTRY_BENCH_IN_NS"
GNU_TIME = "/usr/bin/time"
HYBRID_CONTROLLERS = "/sys/fs/cgroup/unified/cgroup.controllers"
PR_SET_CHILD_SUBREAPER = 36


def default_spec():
    """runc's default spec (`runc spec`), running /bin/true without a terminal."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def make_sleeper_bundle(base, bundle):
    """The same rootfs with a config that sleeps (a container to exec into)."""
    sleeper = os.path.join(base, "sleeper")
    os.makedirs(sleeper)
    spec = default_spec()
    spec["root"]["path"] = os.path.join(bundle, "rootfs")
    spec["process"]["args"] = ["sleep", "1000000"]
    with open(os.path.join(sleeper, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    return sleeper


def make_bundle(base):
    bundle = os.path.join(base, "bundle")
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("bin", "etc", "proc", "sys", "dev", "tmp", "run", "root"):
        os.makedirs(os.path.join(rootfs, d))
    os.chmod(base, 0o755)
    shutil.copy2("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, capture_output=True, text=True)
    for applet in applets.stdout.split():
        if applet != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    with open(os.path.join(rootfs, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(default_spec(), f, indent=2)
    return bundle


def spawn_wait(argv):
    """Runs argv with stdio on /dev/null; returns (exit status, wall s, cpu s, maxrss KiB)."""
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return os.waitstatus_to_exitcode(status), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss


def reap_orphans():
    """Reaps container inits reparented to us (we are a subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class Runtime:
    def __init__(self, name, path, base):
        self.name = name
        self.path = path
        self.root = os.path.join(base, "root-" + name)
        self.n = 0
        self.run_wall, self.run_cpu, self.run_rss = [], [], []
        self.csd_wall, self.create_wall, self.start_wall, self.delete_wall = [], [], [], []
        self.exec_wall, self.exec_cpu = [], []
        self.sleeper = None

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def next_id(self):
        self.n += 1
        return f"bench-{self.name}-{os.getpid()}-{self.n}"

    def run_once(self, bundle):
        cid = self.next_id()
        argv = self.argv("run", "--bundle", bundle, cid)
        code, wall, cpu, _ = spawn_wait(argv)
        reap_orphans()
        if code != 0:
            raise RuntimeError(f"{self.name} run exited {code}: {' '.join(argv)}")
        return wall, cpu

    def peak_rss_once(self, bundle, workdir):
        """Peak RSS in KiB of a `run`, measured by GNU time (see the module doc)."""
        cid = self.next_id()
        out = os.path.join(workdir, cid + ".rss")
        code, _, _, _ = spawn_wait([GNU_TIME, "-f", "%M", "-o", out, *self.argv("run", "--bundle", bundle, cid)])
        reap_orphans()
        if code != 0:
            raise RuntimeError(f"{self.name} run under {GNU_TIME} exited {code}")
        with open(out) as f:
            kib = int(f.read().split()[-1])
        os.unlink(out)
        return kib

    def lifecycle_once(self, bundle, workdir):
        cid = self.next_id()
        pid_file = os.path.join(workdir, cid + ".pid")
        t0 = time.perf_counter()
        code, create, _, _ = spawn_wait(self.argv("create", "--bundle", bundle, "--pid-file", pid_file, cid))
        if code != 0:
            raise RuntimeError(f"{self.name} create exited {code}")
        with open(pid_file) as f:
            init = int(f.read().strip())
        code, start, _, _ = spawn_wait(self.argv("start", cid))
        if code != 0:
            raise RuntimeError(f"{self.name} start exited {code}")
        # The init was reparented to us (subreaper): wait for /bin/true to finish, so delete
        # finds a stopped container (a forced delete of a running one makes runc sleep).
        try:
            os.waitpid(init, 0)
        except ChildProcessError:
            while os.path.exists(f"/proc/{init}"):
                time.sleep(0.0005)
        code, delete, _, _ = spawn_wait(self.argv("delete", cid))
        total = time.perf_counter() - t0
        os.unlink(pid_file)
        if code != 0:
            raise RuntimeError(f"{self.name} delete exited {code}")
        return total, create, start, delete

    def start_sleeper(self, bundle):
        """A long-running container for the exec measurements."""
        self.sleeper = self.next_id()
        code, _, _, _ = spawn_wait(self.argv("run", "--detach", "--bundle", bundle, self.sleeper))
        if code != 0:
            raise RuntimeError(f"{self.name} run --detach exited {code}")

    def exec_once(self):
        code, wall, cpu, _ = spawn_wait(self.argv("exec", self.sleeper, "/bin/true"))
        if code != 0:
            raise RuntimeError(f"{self.name} exec exited {code}")
        return wall, cpu

    def cleanup(self):
        if not os.path.isdir(self.root):
            return
        for cid in os.listdir(self.root):
            subprocess.run(self.argv("delete", "--force", cid), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def summary(xs):
    if not xs:
        return None
    if len(xs) >= 2:
        q = statistics.quantiles(xs, n=10, method="inclusive")
        p10, p90 = q[0], q[8]
    else:
        p10 = p90 = xs[0]
    return statistics.median(xs), p10, p90


def fmt(xs, scale, digits=1):
    s = summary(xs)
    if s is None:
        return "n/a"
    m, lo, hi = (v * scale for v in s)
    return f"{m:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def ratio(a, b):
    if not a or not b:
        return "n/a"
    return f"{statistics.median(a) / statistics.median(b):.2f}×"


def table(runtimes, skipped):
    by = {r.name: r for r in runtimes}
    lines = [
        "| runtime | run wall ms | run CPU ms | run peak RSS MiB | create;start;delete ms | create ms | start ms | delete ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runtimes:
        lines.append(
            f"| {r.name} | {fmt(r.run_wall, 1e3)} | {fmt(r.run_cpu, 1e3)} | {fmt(r.run_rss, 1 / 1024, 2)} | "
            f"{fmt(r.csd_wall, 1e3)} | {fmt(r.create_wall, 1e3)} | {fmt(r.start_wall, 1e3)} | {fmt(r.delete_wall, 1e3)} |"
        )
    for name, why in skipped:
        lines.append(f"| {name} | skipped: {why} | | | | | | |")
    lines.append("")
    lines.append("| runtime | exec /bin/true wall ms | exec CPU ms |")
    lines.append("|---|---|---|")
    for r in runtimes:
        lines.append(f"| {r.name} | {fmt(r.exec_wall, 1e3)} | {fmt(r.exec_cpu, 1e3)} |")
    lines.append("")
    lines.append("Medians (p10–p90). Ratios (median / median):")
    lines.append("")
    lines.append("| runtime | vs | run wall | run CPU | run peak RSS | create;start;delete | exec wall |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in runtimes:
        for base in ("runc", "crun"):
            b = by.get(base)
            # Baselines against each other once (crun vs runc), everything else against both.
            if b is None or b is r or (r.name == "runc" and base == "crun"):
                continue
            lines.append(
                f"| {r.name} | {base} | {ratio(r.run_wall, b.run_wall)} | {ratio(r.run_cpu, b.run_cpu)} | "
                f"{ratio(r.run_rss, b.run_rss)} | {ratio(r.csd_wall, b.csd_wall)} | {ratio(r.exec_wall, b.exec_wall)} |"
            )
    return "\n".join(lines)


def version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0].strip() if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def hide_hybrid_controllers(base):
    """Binds an empty file over the unified hierarchy's controller list (private mount ns)."""
    try:
        with open(HYBRID_CONTROLLERS) as f:
            if not f.read().strip():
                return "not needed (no cgroup2 controllers listed)"
    except OSError:
        return "not needed (no hybrid cgroup2 mount)"
    empty = os.path.join(base, "empty-controllers")
    open(empty, "w").close()
    subprocess.run(["mount", "--bind", empty, HYBRID_CONTROLLERS], check=True)
    return f"empty file bound over {HYBRID_CONTROLLERS}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--runs", type=int, default=200, help="measured rounds per runtime (default 200)")
    p.add_argument("--warmup", type=int, default=5, help="unmeasured rounds first (default 5)")
    p.add_argument("--gantry", default=os.path.join(REPO, "target/x86_64-unknown-linux-gnu/release/gantry-runc"),
                   help="gantry-runc binary (default: the static build of scripts/build-release.sh)")
    p.add_argument("--runtimes", default="gantry-runc,runc,crun", help="comma-separated subset")
    p.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"), help="file to append to")
    p.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = p.parse_args()

    if os.geteuid() != 0:
        sys.exit("bench: run as root (containers need it)")
    if os.environ.get(NS_MARK) != "1":
        # The same private mount namespace for every runtime (see the module doc).
        env = dict(os.environ, **{NS_MARK: "1", "GANTRY_BENCH_CMDLINE": " ".join(sys.argv)})
        unshare = shutil.which("unshare") or sys.exit("bench: unshare (util-linux) not found")
        os.execve(unshare, [unshare, "-m", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__), *sys.argv[1:]], env)

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit("bench: prctl(PR_SET_CHILD_SUBREAPER) failed")

    base = tempfile.mkdtemp(prefix="gantry-bench-")
    runtimes, skipped = [], []
    try:
        how = hide_hybrid_controllers(base)
        bundle = make_bundle(base)
        sleeper = make_sleeper_bundle(base, bundle)
        have_time = os.access(GNU_TIME, os.X_OK)
        if not have_time:
            print(f"bench: {GNU_TIME} (Debian package time) missing: no peak RSS", file=sys.stderr)
        paths = {"gantry-runc": args.gantry, "runc": shutil.which("runc"), "crun": shutil.which("crun")}
        for name in args.runtimes.split(","):
            path = paths.get(name) or (name if os.path.sep in name else shutil.which(name))
            if not path or not os.access(path, os.X_OK):
                skipped.append((name, f"no binary ({path or 'not found'})"))
                continue
            rt = Runtime(os.path.basename(name), os.path.abspath(path), base)
            try:
                rt.run_once(bundle)  # can it run a container at all?
                rt.lifecycle_once(bundle, base)
                rt.start_sleeper(sleeper)
                rt.exec_once()
                if have_time:
                    rt.peak_rss_once(bundle, base)
            except (RuntimeError, OSError) as e:
                rt.cleanup()
                skipped.append((rt.name, f"cannot run a container yet ({e})"))
                continue
            runtimes.append(rt)
        if not runtimes:
            sys.exit(f"bench: no runtime could run a container: {skipped}")
        for name, why in skipped:
            print(f"bench: skipping {name}: {why}", file=sys.stderr)

        total = args.warmup + args.runs
        for i in range(total):
            order = runtimes[i % len(runtimes):] + runtimes[:i % len(runtimes)]
            for rt in order:
                wall, cpu = rt.run_once(bundle)
                rss = rt.peak_rss_once(bundle, base) if have_time else None
                csd = rt.lifecycle_once(bundle, base)
                ewall, ecpu = rt.exec_once()
                if i >= args.warmup:
                    rt.exec_wall.append(ewall)
                    rt.exec_cpu.append(ecpu)
                    rt.run_wall.append(wall)
                    rt.run_cpu.append(cpu)
                    if rss is not None:
                        rt.run_rss.append(rss)
                    for xs, v in zip((rt.csd_wall, rt.create_wall, rt.start_wall, rt.delete_wall), csd):
                        xs.append(v)
            if (i + 1) % 50 == 0:
                print(f"bench: {i + 1}/{total} rounds", file=sys.stderr)

        cmd = os.environ.get("GANTRY_BENCH_CMDLINE", " ".join(sys.argv))
        result = table(runtimes, skipped)
        versions = ", ".join(f"{r.name}: {version(r.path)}" for r in runtimes)
        section = "\n".join([
            f"## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}",
            "",
            f"Command: `{cmd}` ({args.runs} measured rounds after {args.warmup} warm-up, runtimes alternating).",
            f"Kernel {platform.release()}, {os.cpu_count()} CPUs; {versions}.",
            f"Private mount namespace: {how}. Bundle: busybox-static, runc's default spec, `/bin/true`.",
            "CPU = user+sys of the runtime and the descendants it reaps (wait4 from the benchmark);",
            f"peak RSS = ru_maxrss of a separate `run` under `{GNU_TIME} -f %M` (max over the runtime",
            "and the descendants it reaps).",
            "",
            result,
            "",
        ])
        print(section)
        if not args.no_write:
            results.add_section(args.results, "gantry-runc", section)
            print(f"bench: appended to {args.results}", file=sys.stderr)
    finally:
        for rt in runtimes:
            rt.cleanup()
        reap_orphans()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
