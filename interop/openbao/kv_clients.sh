#!/usr/bin/env bash
# The KV v2 engine (issue 36) through real clients against the real
# minikms server over TLS verified with the enclave's CA: the `bao kv`
# subcommands of the issue, and `bao agent` rendering a template from
# secret/data/db to a file, with auto-auth from a token file. run.sh calls
# this after clients.sh, with the server it started:
#
#   kv_clients.sh VENV MINIKMS_ADDR MINIKMS_CACERT ROOT_TOKEN
#
# Prints `kv clients: bao kv and bao agent passed`; exits non-zero, saying
# which step failed, otherwise.
set -euo pipefail
venv="$1" addr="$2" ca="$3" root="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bao="$venv/bin/bao"
fail() { echo "kv clients: $*" >&2; exit 1; }

export HOME="$work" BAO_ADDR="$addr" BAO_CACERT="$ca" BAO_TOKEN="$root"
"$bao" secrets list | grep -E '^secret/ +kv' > /dev/null || fail "bao secrets list shows no secret/ (kv)"
"$bao" kv put secret/db password=hunter2 user=app > /dev/null || fail "bao kv put secret/db"
[ "$("$bao" kv get -field=password secret/db)" = hunter2 ] || fail "bao kv get secret/db"
"$bao" kv put secret/db password=second user=app > /dev/null || fail "bao kv put secret/db (version 2)"
[ "$("$bao" kv get -version=1 -field=password secret/db)" = hunter2 ] || fail "bao kv get -version=1"
"$bao" kv patch secret/db password=new > /dev/null || fail "bao kv patch secret/db"
[ "$("$bao" kv get -field=password secret/db)" = new ] || fail "bao kv patch did not change the password"
[ "$("$bao" kv get -field=user secret/db)" = app ] || fail "bao kv patch lost a field"
"$bao" kv metadata put -max-versions=5 -cas-required=true secret/db > /dev/null || fail "bao kv metadata put"
"$bao" kv metadata get -format=json secret/db | grep '"cas_required": true' > /dev/null || fail "bao kv metadata get"
if "$bao" kv put secret/db password=no-cas > /dev/null 2>&1; then fail "a put without cas passed with cas_required"; fi
"$bao" kv put -cas=3 secret/db password=hunter3 user=app > /dev/null || fail "bao kv put -cas=3"
"$bao" kv delete secret/db > /dev/null || fail "bao kv delete secret/db"
if "$bao" kv get -field=password secret/db > /dev/null 2>&1; then fail "bao kv get read a deleted version"; fi
"$bao" kv undelete -versions=4 secret/db > /dev/null || fail "bao kv undelete -versions=4"
[ "$("$bao" kv get -field=password secret/db)" = hunter3 ] || fail "bao kv undelete did not bring version 4 back"
"$bao" kv destroy -versions=1 secret/db > /dev/null || fail "bao kv destroy -versions=1"
if "$bao" kv get -version=1 -field=password secret/db > /dev/null 2>&1; then fail "bao kv get read a destroyed version"; fi
"$bao" kv put secret/app/one k=v > /dev/null || fail "bao kv put secret/app/one"
"$bao" kv list secret/ | grep -x 'db' > /dev/null || fail "bao kv list secret/ (db)"
"$bao" kv list secret/ | grep -x 'app/' > /dev/null || fail "bao kv list secret/ (app/)"

# bao agent: auto-auth from a token file, a template from secret/data/db
# rendered once to a file, over the same verified TLS.
printf '%s' "$root" > "$work/token"
cat > "$work/agent.hcl" <<HCL
vault {
  address = "$addr"
  ca_cert = "$ca"
}
auto_auth {
  method "token_file" {
    config = {
      token_file_path = "$work/token"
    }
  }
}
exit_after_auth = true
template {
  contents    = "{{ with secret \"secret/data/db\" }}password={{ .Data.data.password }} user={{ .Data.data.user }}{{ end }}"
  destination = "$work/rendered.txt"
}
HCL
env -u BAO_TOKEN timeout 120 "$bao" agent -config="$work/agent.hcl" > "$work/agent.log" 2>&1 \
    || { tail -20 "$work/agent.log" >&2; fail "bao agent"; }
[ "$(cat "$work/rendered.txt")" = "password=hunter3 user=app" ] || fail "bao agent rendered $(cat "$work/rendered.txt")"

echo "kv clients: bao kv and bao agent passed"
