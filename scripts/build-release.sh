#!/usr/bin/env bash
# Builds the release binaries. gantry-runc is linked statically (glibc, +crt-static):
# it is started once per container operation, and a static binary maps no shared
# libraries, which keeps its start-up time and peak RSS down (the issue's RSS target).
# The explicit --target keeps the static flag off build scripts and proc-macros.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$triple" -p gantry-runc
echo "gantry-runc: target/$triple/release/gantry-runc"
