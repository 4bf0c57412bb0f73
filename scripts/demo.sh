#!/usr/bin/env bash
# The main job on embedded defaults: build gantry-runc, make a busybox-static bundle in a
# temp dir, run a container that prints a greeting, and clean everything up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
    echo "demo.sh: run as root (containers need it)" >&2
    exit 1
fi
scripts/install-deps.sh busybox-static jq
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"

cargo build -p gantry-runc
runtime="$PWD/target/debug/gantry-runc"

work=$(mktemp -d /tmp/gantry-demo.XXXXXX)
id="demo-$$"
cleanup() {
    "$runtime" --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

bundle="$work/bundle"
rootfs="$bundle/rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,run,root}
chmod 1777 "$rootfs/tmp"
chmod 755 "$work" "$bundle"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"

"$runtime" spec --bundle "$bundle"
jq '.process.terminal = false
    | .hostname = "gantry-demo"
    | .process.args = ["sh", "-c", "echo \"Hello from $(hostname): pid $$ in its own namespaces, busybox $(busybox | head -1 | cut -d\" \" -f2)\""]' \
    "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"

"$runtime" --root "$work/state" run --bundle "$bundle" "$id"
