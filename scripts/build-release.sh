#!/usr/bin/env bash
# Builds the release binaries. gantry-runc (started once per container operation) and
# the shim (one long-lived process per container) are linked statically (glibc,
# +crt-static): a static binary maps no shared libraries, which keeps start-up time and
# RSS down (the issues' targets). The explicit --target keeps the static flag off build
# scripts and proc-macros. libseccomp must come from its archive too: with +crt-static
# and a dynamic libseccomp the binary has no interpreter yet needs libseccomp.so, and
# crashes on its first instruction.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
triple=$(rustc -vV | sed -n 's/^host: //p')
export LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=/usr/lib/$(gcc -print-multiarch)
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$triple" \
    -p gantry-runc -p containerd-shim-gantry-v2
for b in gantry-runc containerd-shim-gantry-v2; do
    echo "$b: target/$triple/release/$b"
done
