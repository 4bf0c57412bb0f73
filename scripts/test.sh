#!/usr/bin/env bash
# THE test command: dependencies, formatting, lints, then every test of the workspace.
# As root the container tests run (they are never skipped then). Set GANTRY_TEST_RUNTIME=runc
# (or a path) to run the runtime suite against another runc-compatible binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
[[ -x "$HOME/.cargo/bin/cargo" ]] && export PATH="$HOME/.cargo/bin:$PATH"

if [[ $(id -u) -ne 0 ]]; then
    echo "test.sh: not root: tests that run containers will be skipped" >&2
fi

set -x
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
