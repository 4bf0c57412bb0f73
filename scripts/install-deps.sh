#!/usr/bin/env bash
# Installs the Debian packages gantry's build, tests and benchmarks use. Idempotent: apt is
# touched only when a package is missing. With arguments, installs just those packages.
set -euo pipefail

ALL=(runc crun containerd busybox-static docker-registry skopeo umoci criu bats
     protobuf-compiler libseccomp-dev golang-go hyperfine jq iproute2 psmisc python3 time runsc)
wanted=("${@:-${ALL[@]}}")

missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "install-deps: installing ${missing[*]}" >&2
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust comes from rustup (no network for it here): only check it is there.
if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
    echo "install-deps: cargo not found: install Rust (rustup, stable >= 1.80) and put cargo on PATH" >&2
    exit 1
fi
