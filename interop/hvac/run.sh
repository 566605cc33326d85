#!/usr/bin/env bash
# Interoperability test: the Python Vault client hvac (pinned in
# requirements.txt) drives a real minikms server (simulation) through
# client.secrets.transit, and Python `cryptography` cross-checks the results.
#
#   interop/hvac/run.sh            # needs `cargo build --workspace` first
#
# Environment: KMS_HOST (default: $CARGO_TARGET_DIR or target, /debug/kms-host),
# VENV (default: a fresh temp dir; set it to reuse a venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kms_host="${KMS_HOST:-${CARGO_TARGET_DIR:-$root/target}/debug/kms-host}"
[ -x "$kms_host" ] || { echo "run.sh: $kms_host missing: run cargo build --workspace" >&2; exit 2; }

work="$(mktemp -d)"
# The client remembers each server it attested: here, not in the user's
# ~/.local/state/minikms/freshness.json.
export MINIKMS_FRESHNESS_FILE="$work/freshness.json"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

venv="${VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

token="hvs.interop-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
# start DIR [ARGS...]: starts a server on DIR, sets $addr and $server_pid.
start() {
    local dir="$1"; shift
    "$kms_host" run --simulation --port 0 --data-dir "$dir" "$@" > "$dir.stdout" 2> "$dir.stderr" &
    server_pid=$!
    for _ in $(seq 1 600); do
        if grep -q '^listening on https://' "$dir.stdout"; then break; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then cat "$dir.stderr" >&2; exit 1; fi
        sleep 0.2
    done
    addr="$(sed -n 's/^listening on //p' "$dir.stdout" | head -n1)"
    [ -n "$addr" ] || { echo "run.sh: server did not come up" >&2; cat "$dir.stderr" >&2; exit 1; }
}
stop() {
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}
mkdir -m 700 "$work/data"
start "$work/data" --dev-root-token "$token"

# Attest once, keep the enclave's CA, then hvac verifies TLS with it as
# with any CA (hostname checks on): no verify=False anywhere.
minikms="$(dirname "$kms_host")/minikms"
[ -x "$minikms" ] || { echo "run.sh: $minikms missing: run cargo build --workspace" >&2; exit 2; }
"$minikms" --server "$addr" --enclave "$work/data/minikms-enclave.signed" --allow-simulation \
    trust --out "$work/minikms-ca.pem" > /dev/null

VAULT_ADDR="$addr" VAULT_TOKEN="$token" VAULT_CACERT="$work/minikms-ca.pem" \
    "$venv/bin/python" "$here/test_hvac.py"
VAULT_ADDR="$addr" VAULT_TOKEN="$token" VAULT_CACERT="$work/minikms-ca.pem" "$venv/bin/python" "$here/test_hvac_kv.py"

# Recovery shares through hvac: init with 3 shares (threshold 2) on a
# fresh server, move its data dir to a "new machine" (no fuse file), read
# the seal status and unseal it with client.sys.submit_unseal_keys.
stop
mkdir -m 700 "$work/first"
start "$work/first"
trust() { "$minikms" --server "$addr" --enclave "$1/minikms-enclave.signed" --allow-simulation trust --out "$2" > /dev/null; }
trust "$work/first" "$work/first-ca.pem"
VAULT_ADDR="$addr" VAULT_CACERT="$work/first-ca.pem" SHARES_FILE="$work/shares.json" \
    "$venv/bin/python" "$here/test_hvac_unseal.py" init
stop
mkdir -m 700 "$work/moved"
cp -r "$work/first/." "$work/moved/"
rm "$work/moved/sim-platform-fuses"
start "$work/moved"
trust "$work/moved" "$work/sealed-ca.pem"
VAULT_ADDR="$addr" VAULT_CACERT="$work/sealed-ca.pem" SHARES_FILE="$work/shares.json" \
    "$venv/bin/python" "$here/test_hvac_unseal.py" unseal
# Unsealed: the store's own CA again.
trust "$work/moved" "$work/moved-ca.pem"
cmp -s "$work/first-ca.pem" "$work/moved-ca.pem" || { echo "run.sh: the unsealed server's CA is not the store's" >&2; exit 1; }
VAULT_ADDR="$addr" VAULT_CACERT="$work/moved-ca.pem" SHARES_FILE="$work/shares.json" \
    "$venv/bin/python" "$here/test_hvac_unseal.py" check
echo "recovery checks passed"
