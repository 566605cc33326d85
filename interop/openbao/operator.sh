#!/usr/bin/env bash
# The `bao` CLI's operator commands against a sealed start (issue 37):
# `bao operator init -pgp-keys=a.pem,b.pem` on a fresh minikms server (the
# CLI sends each key file base64-encoded), the data dir moved to a "new
# machine" (no fuse file) where it starts sealed, `bao status` (exit 2:
# sealed), then `bao operator unseal SHARE` once per share (exit 0 each:
# it reads sys/leader after the share), and `bao status` again (exit 0).
# run.sh calls it after clients.sh:
#
#   operator.sh VENV KMS_HOST
#
# Prints `operator: bao operator init/unseal passed`; exits non-zero,
# saying which step failed, otherwise.
set -euo pipefail
venv="$1" kms_host="$2"
bao="$venv/bin/bao"
minikms="$(dirname "$kms_host")/minikms"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "operator: $*" >&2; exit 1; }

# start DIR: a server on DIR; sets $addr and $server_pid.
start() {
    local dir="$1"
    "$kms_host" run --simulation --port 0 --data-dir "$dir" > "$dir.stdout" 2> "$dir.stderr" &
    server_pid=$!
    for _ in $(seq 1 600); do
        if grep -q '^listening on https://' "$dir.stdout"; then break; fi
        if ! kill -0 "$server_pid" 2>/dev/null; then cat "$dir.stderr" >&2; exit 1; fi
        sleep 0.2
    done
    addr="$(sed -n 's/^listening on //p' "$dir.stdout" | head -n1)"
    [ -n "$addr" ] || fail "the server did not come up"
}
stop() { kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
trust() {
    "$minikms" --server "$addr" --enclave "$1/minikms-enclave.signed" --allow-simulation \
        trust --out "$2" > /dev/null || fail "minikms trust"
}

export HOME="$work"
for who in a b; do
    openssl genrsa -out "$work/$who.pem" 2048 2> /dev/null
    openssl rsa -in "$work/$who.pem" -pubout -out "$work/$who.pub.pem" 2> /dev/null
done
mkdir -m 700 "$work/first"
start "$work/first"
trust "$work/first" "$work/first-ca.pem"
export BAO_ADDR="$addr" BAO_CACERT="$work/first-ca.pem"
"$bao" operator init -key-shares=2 -key-threshold=2 \
    -pgp-keys="$work/a.pub.pem,$work/b.pub.pem" -format=json > "$work/init.json" \
    || fail "bao operator init -pgp-keys"
# Each share is RSA-OAEP-SHA256 to its holder's key (docs/recovery.md).
shares=()
for i in 0 1; do
    who=$([ "$i" = 0 ] && echo a || echo b)
    "$venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["unseal_keys_b64"][int(sys.argv[2])])' \
        "$work/init.json" "$i" | base64 -d > "$work/share-$i.enc"
    shares+=("$(openssl pkeyutl -decrypt -inkey "$work/$who.pem" -in "$work/share-$i.enc" \
        -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 | base64 -w0)") \
        || fail "share $i does not open with its holder's key"
done
"$bao" status > /dev/null || fail "bao status (initialised)"
stop

mkdir -m 700 "$work/moved"
cp -r "$work/first/." "$work/moved/"
rm "$work/moved/sim-platform-fuses"
start "$work/moved"
trust "$work/moved" "$work/sealed-ca.pem"
# Sealed, the server shows a CA of this run only; unsealed, the store's
# own again: bao trusts both, as an operator moving a store would.
cat "$work/sealed-ca.pem" "$work/first-ca.pem" > "$work/both-ca.pem"
export BAO_ADDR="$addr" BAO_CACERT="$work/both-ca.pem"
set +e
"$bao" status > /dev/null 2>&1
sealed_status=$?
set -e
[ "$sealed_status" = 2 ] || fail "bao status on a sealed server exited $sealed_status, not 2"
for i in 0 1; do
    "$bao" operator unseal "${shares[$i]}" > "$work/unseal-$i.out" 2>&1 \
        || { cat "$work/unseal-$i.out" >&2; fail "bao operator unseal (share $((i + 1)))"; }
done
grep -Eq '^Sealed +false' "$work/unseal-1.out" || { cat "$work/unseal-1.out" >&2; fail "still sealed after the shares"; }
"$bao" status > /dev/null || fail "bao status (unsealed)"
stop
echo "operator: bao operator init/unseal passed"
