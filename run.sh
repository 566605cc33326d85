#!/usr/bin/env bash
# Builds the host and the enclave, then starts the KMS in simulation mode on
# https://127.0.0.1:9001. Arguments go to `kms-host run` (say --port 0, or
# --bind 0.0.0.0 to serve the network). Stop it with Ctrl-C.
# MINIKMS_BIN_DIR=DIR runs the kms-host already built in DIR instead (the
# docs test runs the README's tour with the test build's binaries).
set -euo pipefail
cd "$(dirname "$0")"
bin="${MINIKMS_BIN_DIR:-}"
if [ -z "$bin" ]; then
    # minikms-fuzz is left out: in one build with it, the enclave gets its
    # `fuzzing` feature (entry points for the fuzz targets, unused here).
    cargo build --release --workspace --bins --exclude minikms-fuzz
    bin=target/release
fi
exec "$bin/kms-host" run --simulation "$@"
