#!/usr/bin/env bash
# Installs the tools .ci/run needs beyond the Rust toolchain, at pinned
# versions, from crates.io. Idempotent: a tool already at its version is kept.
set -euo pipefail

# cargo-modules: the import-cycle check (.ci/cycles.sh). 0.28 needs a newer
# rustc than this machine's 1.95; 0.27.0 builds with it.
CARGO_MODULES_VERSION=0.27.0

if [ "$(cargo modules --version 2>/dev/null || true)" = "cargo-modules $CARGO_MODULES_VERSION" ]; then
    echo "tools: cargo-modules $CARGO_MODULES_VERSION already installed"
else
    echo "tools: installing cargo-modules $CARGO_MODULES_VERSION (takes minutes: it builds rust-analyzer's crates)"
    cargo install cargo-modules --version "$CARGO_MODULES_VERSION" --locked
fi
