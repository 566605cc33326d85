#!/usr/bin/env bash
# OpenBao auto-unsealing through minikms (issue 37): a real `bao server`
# with raft storage and a `seal "transit"` stanza pointing at minikms
# (TLS verified with the enclave CA `minikms trust` wrote). `bao operator
# init` makes its root key and has minikms wrap it; the server is stopped
# and started again, and must come up unsealed by itself, through minikms
# alone. run.sh calls it with its running minikms:
#
#   autounseal.sh VENV MINIKMS_ADDR MINIKMS_CA TOKEN
#
# Prints `autounseal: OpenBao unsealed itself through minikms after a
# restart`; exits non-zero, saying which step failed, otherwise.
set -euo pipefail
venv="$1" kms_addr="$2" kms_ca="$3" token="$4"
bao="$venv/bin/bao"
py="$venv/bin/python"
work="$(mktemp -d)"
bao_pid=""
cleanup() {
    if [ -n "$bao_pid" ]; then kill -TERM "$bao_pid" 2>/dev/null || true; wait "$bao_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "autounseal: $*" >&2
    [ -f "$work/bao.log" ] && tail -n 30 "$work/bao.log" >&2
    exit 1
}

# The seal's key, made the way an operator would with the bao CLI.
VAULT_ADDR="$kms_addr" BAO_ADDR="$kms_addr" BAO_CACERT="$kms_ca" BAO_TOKEN="$token" HOME="$work" \
    "$bao" write -f transit/keys/autounseal > /dev/null || fail "bao write transit/keys/autounseal on minikms"

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
cluster_port="$(free_port)"
mkdir -m 700 "$work/raft"
cat > "$work/bao.hcl" <<EOF
storage "raft" {
  path    = "$work/raft"
  node_id = "autounseal-1"
}
listener "tcp" {
  address     = "127.0.0.1:$port"
  tls_disable = true
}
api_addr      = "http://127.0.0.1:$port"
cluster_addr  = "https://127.0.0.1:$cluster_port"
disable_mlock = true
seal "transit" {
  address     = "$kms_addr"
  token       = "$token"
  key_name    = "autounseal"
  mount_path  = "transit/"
  tls_ca_cert = "$kms_ca"
}
EOF

export BAO_ADDR="http://127.0.0.1:$port" HOME="$work"
unset BAO_TOKEN BAO_CACERT
# status: 0 unsealed, 2 sealed, 1 unreachable (or an error).
status() { "$bao" status > /dev/null 2>&1 && echo 0 || echo $?; }
start() {
    "$bao" server -config="$work/bao.hcl" >> "$work/bao.log" 2>&1 &
    bao_pid=$!
    for _ in $(seq 1 300); do
        [ "$(status)" != 1 ] && return 0
        kill -0 "$bao_pid" 2>/dev/null || fail "bao server exited"
        sleep 0.2
    done
    fail "bao server did not answer"
}
stop() { kill -TERM "$bao_pid"; wait "$bao_pid" 2>/dev/null || true; bao_pid=""; }

start
"$bao" operator init -recovery-shares=1 -recovery-threshold=1 -format=json > "$work/init.json" \
    || fail "bao operator init (with the transit seal on minikms)"
for _ in $(seq 1 100); do [ "$(status)" = 0 ] && break; sleep 0.2; done
[ "$(status)" = 0 ] || fail "not unsealed after init"
stop

start
for _ in $(seq 1 150); do [ "$(status)" = 0 ] && break; sleep 0.2; done
[ "$(status)" = 0 ] || fail "still sealed after a restart: it did not unseal itself through minikms"
"$bao" status -format=json | "$py" -c '
import json, sys
s = json.load(sys.stdin)
assert s["sealed"] is False and s["type"] == "transit", s
' || fail "bao status does not show a transit seal, unsealed"
echo "autounseal: OpenBao unsealed itself through minikms after a restart"
