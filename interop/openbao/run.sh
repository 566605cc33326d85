#!/usr/bin/env bash
# Differential test: the same request sequences (differential.py) go to
# OpenBao dev (pinned in requirements.txt, from PyPI) and to minikms
# (simulation); the answers' shapes are compared and counted. Then real
# Vault clients (the `bao` CLI, SOPS) drive the same minikms server
# (clients.sh), and the `bao` CLI initialises and unseals a server of its
# own from a sealed start (operator.sh); last, a `bao server` with raft
# storage auto-unseals through minikms's Transit (autounseal.sh).
#
#   interop/openbao/run.sh [REPORT.json]     # needs `cargo build --workspace` first
#
# Environment: KMS_HOST (default: $CARGO_TARGET_DIR or target, /debug/kms-host),
# VENV (default: a fresh temp dir; set it to reuse a venv), DIFF_REPORT
# (the JSON report's path, if not given as the argument).
# Exits 0 when both servers ran, the harness finished and the clients
# passed, whatever the differences: they are measured here, and listed in
# kept-differences.md when kept on purpose.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kms_host="${KMS_HOST:-${CARGO_TARGET_DIR:-$root/target}/debug/kms-host}"
[ -x "$kms_host" ] || { echo "run.sh: $kms_host missing: run cargo build --workspace" >&2; exit 2; }
minikms="$(dirname "$kms_host")/minikms"
[ -x "$minikms" ] || { echo "run.sh: $minikms missing: run cargo build --workspace" >&2; exit 2; }

work="$(mktemp -d)"
# The client remembers each server it attested: here, not in the user's
# ~/.local/state/minikms/freshness.json.
export MINIKMS_FRESHNESS_FILE="$work/freshness.json"
kms_pid=""
bao_pid=""
cleanup() {
    for pid in $kms_pid $bao_pid; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

venv="${VENV:-$work/venv}"
if [ ! -x "$venv/bin/bao" ] || [ ! -x "$venv/bin/sops" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
bao="$venv/bin/bao"

token="differential-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# No "hvs." prefix: OpenBao refuses a chosen root token id with a service-token prefix.

# OpenBao dev, in memory, TLS with its own generated CA in $work/bao.
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -m 700 "$work/bao"
HOME="$work/bao" "$bao" server -dev -dev-tls -dev-tls-cert-dir="$work/bao" -dev-no-store-token \
    -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    > "$work/bao.stdout" 2> "$work/bao.stderr" &
bao_pid=$!
export BAO_ADDR="https://127.0.0.1:$port" BAO_CACERT="$work/bao/vault-ca.pem" BAO_TOKEN="$token"
for _ in $(seq 1 300); do
    if [ -s "$BAO_CACERT" ] && HOME="$work/bao" "$bao" status > /dev/null 2>&1; then break; fi
    if ! kill -0 "$bao_pid" 2>/dev/null; then cat "$work/bao.stdout" "$work/bao.stderr" >&2; exit 1; fi
    sleep 0.2
done
HOME="$work/bao" "$bao" status > /dev/null || { echo "run.sh: OpenBao did not come up" >&2; cat "$work/bao.stderr" >&2; exit 1; }
HOME="$work/bao" "$bao" secrets enable transit > /dev/null
bao_version="$(HOME="$work/bao" "$bao" version)"

# minikms, as interop/hvac/run.sh starts it, and its enclave CA from `minikms trust`.
mkdir -m 700 "$work/data"
"$kms_host" run --simulation --port 0 --data-dir "$work/data" --dev-root-token "$token" \
    > "$work/data.stdout" 2> "$work/data.stderr" &
kms_pid=$!
for _ in $(seq 1 600); do
    if grep -q '^listening on https://' "$work/data.stdout"; then break; fi
    if ! kill -0 "$kms_pid" 2>/dev/null; then cat "$work/data.stderr" >&2; exit 1; fi
    sleep 0.2
done
kms_addr="$(sed -n 's/^listening on //p' "$work/data.stdout" | head -n1)"
[ -n "$kms_addr" ] || { echo "run.sh: minikms did not come up" >&2; cat "$work/data.stderr" >&2; exit 1; }
"$minikms" --server "$kms_addr" --enclave "$work/data/minikms-enclave.signed" --allow-simulation \
    trust --out "$work/minikms-ca.pem" > /dev/null

echo "openbao: $bao_version at $BAO_ADDR; minikms at $kms_addr"
OPENBAO_ADDR="$BAO_ADDR" OPENBAO_CACERT="$BAO_CACERT" MINIKMS_ADDR="$kms_addr" \
    MINIKMS_CACERT="$work/minikms-ca.pem" ROOT_TOKEN="$token" \
    KEPT="$here/kept-differences.md" \
    "$venv/bin/python" "$here/differential.py" ${1:-${DIFF_REPORT:-}}
"$here/clients.sh" "$venv" "$kms_addr" "$work/minikms-ca.pem" "$token"
"$here/kv_clients.sh" "$venv" "$kms_addr" "$work/minikms-ca.pem" "$token"
"$here/operator.sh" "$venv" "$kms_host"
"$here/autounseal.sh" "$venv" "$kms_addr" "$work/minikms-ca.pem" "$token"
