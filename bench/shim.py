#!/usr/bin/env python3
"""Benchmarks containerd-shim-gantry-v2 against containerd's stock containerd-shim-runc-v2.

Both shims run under the same private containerd (Debian's 1.6 by default, or the one in
`--containerd DIR`, e.g. a 2.x build, whose own stock shim is then used) (its own root, state,
socket and config
under a temp dir; the whole run is in a private mount namespace with a tmpfs on /run, so the
host's /run/containerd is never touched), on a busybox image built here and imported with
`ctr images import`:
  * memory: N containers (`sleep`) per shim, all running at once; VmRSS (/proc/PID/status) and
    Pss (/proc/PID/smaps_rollup) of every shim process, median per shim;
  * latency: `ctr run --rm IMAGE ID /bin/true`, the two shims alternating (the order swaps
    every round), R rounds; median wall time with p10/p90 and the ratio ours/stock.
Our shim runs with its default (in-process, gantry-oci) backend, the stock shim with runc.
Prints a Markdown table and, with --record, adds a section to the shim's part of bench/RESULTS.md.

Build the shim first as a static release binary (scripts/build-release.sh does):
  LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu \
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
      --target x86_64-unknown-linux-gnu -p containerd-shim-gantry-v2
Needs root. Standard library only.
"""

import argparse
import datetime
import hashlib
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
NS_MARK = "GANTRY_BENCH_SHIM_IN_NS"
OURS = "io.containerd.gantry.v2"
STOCK = "io.containerd.runc.v2"
STOCK_BINARY = "/usr/bin/containerd-shim-runc-v2"
IMAGE = "docker.io/gantry/busybox:latest"
# Per run: container cgroups are /NAMESPACE/ID, shared with every other daemon on the host.
NAMESPACE = f"gbshim{os.getpid()}"


def default_shim():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "x86_64-unknown-linux-gnu", "release", "containerd-shim-gantry-v2")


def sh(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def build_image(work):
    """An OCI layout tarball holding busybox-static with a few applet links."""
    rootfs = os.path.join(work, "image-rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    for d in ("proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "sleep", "true"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    layer = os.path.join(work, "layer.tar")
    sh(["tar", "-C", rootfs, "-cf", layer, "."])
    layout = os.path.join(work, "layout")
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(blobs, digest), "wb") as f:
            f.write(data)
        return "sha256:" + digest, len(data)

    with open(layer, "rb") as f:
        layer_digest, layer_size = put(f.read())
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    config_digest, config_size = put(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = put(json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest, "size": manifest_size,
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": IMAGE, "org.opencontainers.image.ref.name": "latest"},
    }]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    tar = os.path.join(work, "busybox-oci.tar")
    sh(["tar", "-C", layout, "-cf", tar, "oci-layout", "index.json", "blobs"])
    return tar


def containerd_version(bindir):
    """`containerd --version`'s version field, e.g. "1.6.20~ds1" or "v2.3.4"."""
    out = subprocess.run([os.path.join(bindir, "containerd"), "--version"],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[2] if len(out) > 2 else "unknown"


def config_text(work, sock, version):
    """A private config: version 2 for containerd 1.x; for 2.x version 3, with CRI and NRI
    off and the shims' socket_dir in `work`, so that nothing lands on the host."""
    if not version.lstrip("v").startswith("2"):
        return (f'version = 2\nroot = "{work}/root"\nstate = "{work}/state"\n'
                f'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]\n'
                f'[grpc]\n  address = "{sock}"\n')
    disabled = ", ".join(f'"{p}"' for p in (
        "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images",
        "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.nri.v1.nri"))
    return (f'version = 3\nroot = "{work}/root"\nstate = "{work}/state"\n'
            f'disabled_plugins = [{disabled}]\n[grpc]\n  address = "{sock}"\n'
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{work}/opt"\n'
            f'[plugins."io.containerd.shim.v1.manager"]\n  socket_dir = "{work}/s"\n')


class Containerd:
    """A private containerd from `cbin` under `work`, with our shim on its PATH."""

    def __init__(self, work, shim, cbin):
        self.work = work
        self.cbin = cbin
        self.version = containerd_version(cbin)
        self.sock = os.path.join(work, "c.sock")
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        os.symlink(shim, os.path.join(bindir, "containerd-shim-gantry-v2"))
        config = os.path.join(work, "config.toml")
        with open(config, "w") as f:
            f.write(config_text(work, self.sock, self.version))
        env = dict(os.environ, PATH=":".join([bindir, cbin, os.environ.get("PATH", "")]))
        self.log = open(os.path.join(work, "containerd.log"), "w")
        self.proc = subprocess.Popen([os.path.join(cbin, "containerd"), "--config", config], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while self.ctr("version", check=False).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                sys.exit("bench: containerd did not come up; see " + self.log.name)
            time.sleep(0.1)

    def ctr(self, *args, check=True):
        out = subprocess.run([os.path.join(self.cbin, "ctr"), "-a", self.sock, "-n", NAMESPACE, *args],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and out.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {out.stderr.strip()}")
        return out

    def close(self):
        """Kills and deletes every task and container, then stops containerd."""
        if self.proc.poll() is None:
            for t in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                self.ctr("tasks", "kill", "-a", "-s", "SIGKILL", t, check=False)
            deadline = time.monotonic() + 10
            for t in self.ctr("tasks", "ls", "-q", check=False).stdout.split():
                while self.ctr("tasks", "delete", t, check=False).returncode != 0:
                    if time.monotonic() > deadline:
                        self.ctr("tasks", "delete", "-f", t, check=False)
                        break
                    time.sleep(0.05)
            for c in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "delete", c, check=False)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        # The namespace's parent cgroups (containers' own are removed by their delete).
        for ctl in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", ctl, NAMESPACE))
            except OSError:
                pass


def proc_field(pid, file, key):
    """A `Key:   N kB` field of /proc/PID/FILE, in KiB."""
    with open(f"/proc/{pid}/{file}") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(f"{key} not in /proc/{pid}/{file}")


def shim_pids(exe):
    """Pids of running processes of the binary `exe` (by /proc/PID/exe, or by argv[0]:
    our serving shim re-execs from a detached read-only mount of itself, CVE-2019-5736,
    so its exe link names no path), in namespace NAMESPACE."""
    real = os.path.realpath(exe)
    base = os.path.basename(exe).encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            if os.path.realpath(f"/proc/{name}/exe") != real and os.path.basename(argv[0]) != base:
                continue
        except OSError:
            continue
        if NAMESPACE.encode() in argv and b"start" not in argv and b"delete" not in argv:
            pids.append(int(name))
    return pids


def memory(c, shim, containers):
    """Starts `containers` sleeping containers per shim; per-shim VmRSS and Pss in KiB."""
    for i in range(containers):
        for rt, prefix in ((OURS, "mo"), (STOCK, "ms")):
            c.ctr("run", "-d", "--runtime", rt, IMAGE, f"{prefix}{i}", "sleep", "100000")
    time.sleep(1)
    result = {}
    stock = os.path.join(c.cbin, "containerd-shim-runc-v2")
    if not os.path.exists(stock):
        stock = STOCK_BINARY
    for rt, exe in ((OURS, shim), (STOCK, stock)):
        pids = shim_pids(exe)
        if len(pids) != containers:
            raise RuntimeError(f"{rt}: {len(pids)} shim processes for {containers} containers")
        rss = [proc_field(p, "status", "VmRSS") for p in pids]
        pss = [proc_field(p, "smaps_rollup", "Pss") for p in pids]
        anon = [proc_field(p, "status", "RssAnon") for p in pids]
        result[rt] = {"pids": pids, "rss": rss, "pss": pss, "anon": anon}
    for i in range(containers):
        for prefix in ("mo", "ms"):
            c.ctr("tasks", "kill", "-s", "SIGKILL", f"{prefix}{i}", check=False)
    for i in range(containers):
        for prefix in ("mo", "ms"):
            deadline = time.monotonic() + 10
            while c.ctr("tasks", "delete", f"{prefix}{i}", check=False).returncode != 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            c.ctr("containers", "delete", f"{prefix}{i}", check=False)
    return result


def latency(c, rounds):
    """Wall seconds of `ctr run --rm IMAGE ID /bin/true` per runtime, alternating."""
    times = {OURS: [], STOCK: []}
    order = [OURS, STOCK]
    for r in range(rounds):
        for rt in order:
            t0 = time.monotonic()
            out = c.ctr("run", "--rm", "--runtime", rt, IMAGE, f"l{r}{rt[14:18]}", "/bin/true", check=False)
            dt = time.monotonic() - t0
            if out.returncode != 0:
                raise RuntimeError(f"{rt}: ctr run --rm failed: {out.stderr.strip()}")
            times[rt].append(dt)
        order.reverse()
    return times


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def mib(kib):
    return f"{kib / 1024:.2f}"


def report(mem, lat, args, shim):
    med = {rt: {k: statistics.median(v[k]) for k in ("rss", "pss", "anon")} for rt, v in mem.items()}
    ms = {rt: [t * 1000 for t in ts] for rt, ts in lat.items()}
    lines = [
        f"Memory per shim, {args.containers} running containers per shim (busybox `sleep`), "
        "medians over the shim processes (MiB):",
        "",
        "| shim | VmRSS | Pss | RssAnon |",
        "|---|---|---|---|",
    ]
    for rt, name in ((OURS, "containerd-shim-gantry-v2 (in-process)"), (STOCK, "containerd-shim-runc-v2")):
        lines.append(f"| {name} | {mib(med[rt]['rss'])} | {mib(med[rt]['pss'])} | {mib(med[rt]['anon'])} |")
    lines += [
        "",
        f"`ctr run --rm {IMAGE} ID /bin/true`, {args.rounds} runs each, alternating (ms):",
        "",
        "| shim | median | p10 | p90 |",
        "|---|---|---|---|",
    ]
    for rt, name in ((OURS, "containerd-shim-gantry-v2 (in-process)"), (STOCK, "containerd-shim-runc-v2 (runc)")):
        xs = ms[rt]
        lines.append(f"| {name} | {statistics.median(xs):.1f} | {pct(xs, 0.1):.1f} | {pct(xs, 0.9):.1f} |")
    ratio = statistics.median(ms[OURS]) / statistics.median(ms[STOCK])
    lines += [
        "",
        f"Ratio ours/stock (median): {ratio:.2f} (target ≤ 0.70). "
        f"Targets per shim: VmRSS ≤ 3 MiB, Pss ≤ 0.75 MiB.",
    ]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shim", default=default_shim(), help="our shim binary (default: the static release build)")
    p.add_argument("-c", "--containers", type=int, default=20, help="running containers per shim")
    p.add_argument("-n", "--rounds", type=int, default=40, help="ctr run --rm rounds per shim")
    p.add_argument("--record", action="store_true", help="append a section to bench/RESULTS.md")
    p.add_argument("--containerd", default="/usr/bin", metavar="DIR",
                   help="where containerd, ctr (and for 2.x its containerd-shim-runc-v2) are")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root")
    shim = os.path.realpath(args.shim)
    if not os.access(shim, os.X_OK):
        sys.exit(f"bench: {shim} missing; build it first (see the module doc)")
    if os.environ.get(NS_MARK) != "1":
        env = dict(os.environ, **{NS_MARK: "1", "GANTRY_BENCH_CMDLINE": " ".join(sys.argv)})
        unshare = shutil.which("unshare") or sys.exit("bench: unshare (util-linux) not found")
        os.execve(unshare, [unshare, "-m", "--propagation", "private", sys.executable,
                            os.path.abspath(__file__), *sys.argv[1:]], env)
    # A private /run: the stock shim and ctr's fifos live under /run/containerd.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"], check=True)
    work = tempfile.mkdtemp(prefix="gbench-shim", dir="/tmp")
    c = None
    try:
        tar = build_image(work)
        c = Containerd(work, shim, os.path.realpath(args.containerd))
        c.ctr("images", "import", tar)
        mem = memory(c, shim, args.containers)
        lat = latency(c, args.rounds)
        version = c.version
    finally:
        if c is not None:
            c.close()
        shutil.rmtree(work, ignore_errors=True)
    table = report(mem, lat, args, shim)
    print(table)
    if args.record:
        cmdline = os.environ.get("GANTRY_BENCH_CMDLINE", " ".join(sys.argv))
        size = os.path.getsize(shim)
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = (
            f"\n## {when}, {platform.node()}\n\n"
            f"containerd {version} from {args.containerd} (private root/state/socket, private mount "
            f"namespace with a tmpfs /run), "
            f"both shims under the same daemon in the same run; our shim's default backend "
            f"(gantry-oci in process), that containerd's stock runc shim with runc 1.1.5. Shim binary: "
            f"static release build "
            f"({size / 1024:.0f} KiB).\n\n"
            "Commands:\n\n```\n"
            "LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/x86_64-linux-gnu "
            "RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release "
            "--target x86_64-unknown-linux-gnu -p containerd-shim-gantry-v2\n"
            f"{cmdline}\n```\n\n{table}\n"
        )
        results.add_section(os.path.join(HERE, "RESULTS.md"), "containerd-shim-gantry-v2", section)


if __name__ == "__main__":
    main()
