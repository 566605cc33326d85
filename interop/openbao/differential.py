"""The differential test: the same request sequences to OpenBao and to minikms.

Each request goes to both servers with the same root token. Answers are
compared by shape (status, envelope keys, `data` keys and JSON value types;
ciphertexts, signatures, ids and times by prefix or type: see shapes.py).
A request that depends on an earlier answer (decrypt needs a ciphertext)
uses that server's own earlier answer, and values that must come back
(decrypted plaintext, `valid`) are checked on each server: that is the
cross-check that each server's ciphertexts and signatures are its own and
sound.

Environment: OPENBAO_ADDR, OPENBAO_CACERT, MINIKMS_ADDR, MINIKMS_CACERT,
ROOT_TOKEN, KEPT (kept-differences.md). argv[1] or DIFF_REPORT: where to
write the JSON report. Prints one line per differing request, then
`alike=N differ=M unsupported=U (minikms 404/405) kept=K total=T`.
Exits 0 unless the harness itself breaks.
"""
import base64
import collections
import hashlib
import json
import os
import re
import sys

import requests

from differential_kv import kv_steps
from shapes import compare, is_kept, kind, read_kept

P = base64.b64encode(b"attack at dawn").decode()
P2 = base64.b64encode(b"the second message").decode()
AD = base64.b64encode(b"header").decode()
CTX = base64.b64encode(b"tenant-1").decode()
DIGEST = base64.b64encode(hashlib.sha256(b"attack at dawn").digest()).decode()

AEAD = ["aes256-gcm96", "aes128-gcm96", "chacha20-poly1305"]
RSA = ["rsa-2048", "rsa-3072", "rsa-4096"]
EC = ["ecdsa-p256", "ecdsa-p384", "ecdsa-p521"]
TYPES = AEAD + EC + ["ed25519"] + RSA + ["hmac"]
# Every operation on these; the others get the common few (LITE_STEPS).
FULL = ["aes256-gcm96", "ecdsa-p256", "ed25519", "rsa-2048", "hmac"]
HASHES = ["sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-224", "sha3-256", "sha3-384", "sha3-512"]
SIGN_HASHES = ["sha1", "sha2-224", "sha2-384", "sha2-512", "sha3-224", "sha3-256", "sha3-384", "sha3-512"]

STEPS = []


def r(method, path, body=None, save=None, expect=None, token=None, raw=None):
    """A request: METHOD v1/PATH with a JSON body (strings "$var" are the
    server's own saved values), or a raw body with its content type.
    save: {var: (json path...)}; expect: {(json path...): value}."""
    STEPS.append(dict(method=method, path=path, body=body, save=save or {},
                      expect=expect or {}, token=token, raw=raw))


def lite_key_steps(t):
    n = f"k-{t}"
    r("POST", f"transit/keys/{n}", {"type": t, "exportable": True})
    r("GET", f"transit/keys/{n}")
    if t in AEAD or t in RSA:
        r("POST", f"transit/encrypt/{n}", {"plaintext": P}, save={f"ct-{t}": ("data", "ciphertext")})
        r("POST", f"transit/decrypt/{n}", {"ciphertext": f"$ct-{t}"}, expect={("data", "plaintext"): P})
        r("POST", f"transit/rewrap/{n}", {"ciphertext": f"$ct-{t}"})
        r("POST", f"transit/datakey/plaintext/{n}", {})
        r("GET", f"transit/export/encryption-key/{n}")
    else:
        r("POST", f"transit/sign/{n}", {"input": P}, save={f"sig-{t}": ("data", "signature")})
        r("POST", f"transit/verify/{n}", {"input": P, "signature": f"$sig-{t}"}, expect={("data", "valid"): True})
        r("POST", f"transit/sign/{n}/sha2-512", {"input": P})
        r("GET", f"transit/export/public-key/{n}")
    if t in RSA:
        r("POST", f"transit/sign/{n}", {"input": P}, save={f"sig-{t}": ("data", "signature")})
        r("POST", f"transit/verify/{n}", {"input": P, "signature": f"$sig-{t}"}, expect={("data", "valid"): True})
    r("POST", f"transit/hmac/{n}", {"input": P})
    r("POST", f"transit/keys/{n}/rotate", {})
    r("POST", f"transit/keys/{n}/config", {"deletion_allowed": True})
    r("GET", f"transit/keys/{n}")
    r("DELETE", f"transit/keys/{n}")


def key_steps(t):
    if t not in FULL:
        return lite_key_steps(t)
    n = f"k-{t}"
    enc = t in AEAD or t in RSA
    sig = t in EC or t in RSA or t == "ed25519"
    create = {"type": t, "exportable": True, "allow_plaintext_backup": True}
    if t == "hmac":
        create["key_size"] = 64
    r("POST", f"transit/keys/{n}", create)
    r("GET", f"transit/keys/{n}")
    r("POST", f"transit/keys/{n}", {"type": t})  # exists: left as it is
    if enc:
        r("POST", f"transit/encrypt/{n}", {"plaintext": P}, save={f"ct-{t}": ("data", "ciphertext")})
        r("POST", f"transit/decrypt/{n}", {"ciphertext": f"$ct-{t}"}, expect={("data", "plaintext"): P})
        r("POST", f"transit/encrypt/{n}", {"plaintext": P, "associated_data": AD},
          save={f"ctad-{t}": ("data", "ciphertext")})
        r("POST", f"transit/decrypt/{n}", {"ciphertext": f"$ctad-{t}", "associated_data": AD},
          expect={("data", "plaintext"): P})
        r("POST", f"transit/encrypt/{n}", {"plaintext": P, "context": CTX})  # context on a plain key
        r("POST", f"transit/encrypt/{n}", {"plaintext": "not base64!"})
        r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": P}, {"plaintext": P2, "reference": "two"}]},
          save={f"b0-{t}": ("data", "batch_results", 0, "ciphertext"), f"b1-{t}": ("data", "batch_results", 1, "ciphertext")})
        r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": P}, {"plaintext": "%%%"}]})
        r("POST", f"transit/decrypt/{n}", {"batch_input": [{"ciphertext": f"$b0-{t}"}, {"ciphertext": f"$b1-{t}", "reference": "two"}]},
          expect={("data", "batch_results", 0, "plaintext"): P, ("data", "batch_results", 1, "plaintext"): P2})
        r("POST", f"transit/decrypt/{n}", {"batch_input": [{"ciphertext": f"$b0-{t}"}, {"ciphertext": "vault:v1:AAAA"}]})
        r("POST", f"transit/decrypt/{n}", {"ciphertext": "vault:v9:AAAA"})
        r("POST", f"transit/rewrap/{n}", {"ciphertext": f"$ct-{t}"}, save={f"rw-{t}": ("data", "ciphertext")})
        r("POST", f"transit/rewrap/{n}", {"batch_input": [{"ciphertext": f"$b0-{t}"}, {"ciphertext": "garbage"}]})
        r("POST", f"transit/datakey/plaintext/{n}", {}, save={f"dk-{t}": ("data", "ciphertext"), f"dkp-{t}": ("data", "plaintext")})
        r("POST", f"transit/decrypt/{n}", {"ciphertext": f"$dk-{t}"}, expect={("data", "plaintext"): f"$dkp-{t}"})
        r("POST", f"transit/datakey/wrapped/{n}", {"bits": 512})
        r("POST", f"transit/datakey/wrapped/{n}", {"bits": 0})
    else:
        r("POST", f"transit/encrypt/{n}", {"plaintext": P})
    if sig:
        r("POST", f"transit/sign/{n}", {"input": P}, save={f"sig-{t}": ("data", "signature")})
        r("POST", f"transit/verify/{n}", {"input": P, "signature": f"$sig-{t}"}, expect={("data", "valid"): True})
        r("POST", f"transit/verify/{n}", {"input": P2, "signature": f"$sig-{t}"}, expect={("data", "valid"): False})
        for h in SIGN_HASHES if t != "ed25519" else ["sha2-512"]:
            r("POST", f"transit/sign/{n}/{h}", {"input": P}, save={f"sig-{t}-{h}": ("data", "signature")})
            r("POST", f"transit/verify/{n}/{h}", {"input": P, "signature": f"$sig-{t}-{h}"}, expect={("data", "valid"): True})
        r("POST", f"transit/sign/{n}", {"input": DIGEST, "prehashed": True, "hash_algorithm": "sha2-256"},
          save={f"ph-{t}": ("data", "signature")})
        r("POST", f"transit/verify/{n}", {"input": DIGEST, "prehashed": True, "hash_algorithm": "sha2-256",
                                           "signature": f"$ph-{t}"}, expect={("data", "valid"): True})
        r("POST", f"transit/sign/{n}", {"input": P, "marshaling_algorithm": "jws"}, save={f"jws-{t}": ("data", "signature")})
        r("POST", f"transit/verify/{n}", {"input": P, "marshaling_algorithm": "jws", "signature": f"$jws-{t}"},
          expect={("data", "valid"): True})
        r("POST", f"transit/sign/{n}", {"batch_input": [{"input": P}, {"input": P2, "reference": "two"}, {"input": "!!"}]},
          save={f"bs-{t}": ("data", "batch_results", 0, "signature")})
        r("POST", f"transit/verify/{n}", {"batch_input": [{"input": P, "signature": f"$bs-{t}"}, {"input": P2, "signature": f"$bs-{t}"}]})
        if t in RSA:
            for alg in ("pss", "pkcs1v15"):
                r("POST", f"transit/sign/{n}", {"input": P, "signature_algorithm": alg}, save={f"sa-{t}-{alg}": ("data", "signature")})
                r("POST", f"transit/verify/{n}", {"input": P, "signature_algorithm": alg, "signature": f"$sa-{t}-{alg}"},
                  expect={("data", "valid"): True})
            r("POST", f"transit/sign/{n}", {"input": P, "salt_length": 20})
            # hash_algorithm in the path (as Vault allows) so kept-differences.md can name it.
            r("POST", f"transit/sign/{n}/none", {"input": DIGEST, "prehashed": True,
                                                  "signature_algorithm": "pkcs1v15"}, save={f"none-{t}": ("data", "signature")})
            r("POST", f"transit/verify/{n}/none", {"input": DIGEST, "prehashed": True, "signature_algorithm": "pkcs1v15",
                                                    "signature": f"$none-{t}"}, expect={("data", "valid"): True})
            r("POST", f"transit/sign/{n}/none", {"input": DIGEST, "prehashed": True})  # PSS: refused
            for h in ("sha2-224", "sha3-256"):
                r("POST", f"transit/sign/{n}/{h}", {"input": P, "signature_algorithm": "pkcs1v15"},
                  save={f"p1-{t}-{h}": ("data", "signature")})
                r("POST", f"transit/verify/{n}/{h}", {"input": P, "signature_algorithm": "pkcs1v15",
                                                       "signature": f"$p1-{t}-{h}"}, expect={("data", "valid"): True})
    else:
        r("POST", f"transit/sign/{n}", {"input": P})
    r("POST", f"transit/hmac/{n}", {"input": P}, save={f"hm-{t}": ("data", "hmac")})
    r("POST", f"transit/verify/{n}", {"input": P, "hmac": f"$hm-{t}"}, expect={("data", "valid"): True})
    r("POST", f"transit/hmac/{n}/sha2-512", {"input": P})
    for h in ("sha3-224", "sha3-512"):
        r("POST", f"transit/hmac/{n}/{h}", {"input": P}, save={f"hm-{t}-{h}": ("data", "hmac")})
        r("POST", f"transit/verify/{n}/{h}", {"input": P, "hmac": f"$hm-{t}-{h}"}, expect={("data", "valid"): True})
    r("POST", f"transit/hmac/{n}", {"batch_input": [{"input": P}, {"input": "!!", "reference": "bad"}]})
    if t == "hmac":
        r("POST", f"transit/verify/{n}", {"input": P, "hmac": f"$hm-{t}", "signature": "vault:v1:AAAA"})
    for kind_ in ("encryption-key", "signing-key", "hmac-key", "public-key"):
        r("GET", f"transit/export/{kind_}/{n}")
    r("GET", f"transit/export/hmac-key/{n}/1")
    r("GET", f"transit/backup/{n}", save={f"bk-{t}": ("data", "backup")})
    r("POST", f"transit/restore/{n}-restored", {"backup": f"$bk-{t}"})
    r("GET", f"transit/keys/{n}-restored")
    r("POST", f"transit/keys/{n}/rotate", {})
    r("POST", f"transit/keys/{n}/rotate")
    r("POST", f"transit/keys/{n}/config", {"min_decryption_version": 2, "min_encryption_version": 2, "deletion_allowed": True})
    r("GET", f"transit/keys/{n}")
    r("POST", f"transit/keys/{n}/trim", {"min_available_version": 2})
    r("POST", f"transit/keys/{n}/config", {"auto_rotate_period": "24h"})
    r("DELETE", f"transit/keys/{n}")
    r("GET", f"transit/keys/{n}")


def transit_steps():
    for t in TYPES:
        key_steps(t)
    r("LIST", "transit/keys")
    r("LIST", "transit/keys/")
    r("GET", "transit/keys?list=true")
    r("POST", "transit/keys/k-null", raw=("application/json", "null"))  # what `bao write -f` sends
    r("POST", "transit/keys/k-form", raw=("application/x-www-form-urlencoded", "type=ed25519&exportable=true"))
    r("GET", "transit/keys/k-form")
    r("POST", "transit/keys/.hidden", {})
    r("POST", "transit/keys/k-unknown-type", {"type": "aes512-foo"})
    r("POST", "transit/keys/k-bad-param", {"type": "aes256-gcm96", "not_a_param": 1})
    r("POST", "transit/encrypt/k-upsert", {"plaintext": P}, save={"up": ("data", "ciphertext")})
    r("POST", "transit/decrypt/k-upsert", {"ciphertext": "$up"}, expect={("data", "plaintext"): P})
    r("POST", "transit/encrypt/k-upsert-chacha", {"plaintext": P, "type": "chacha20-poly1305"})
    r("GET", "transit/keys/k-upsert-chacha")
    r("GET", "transit/config/keys")
    r("POST", "transit/config/keys", {"disable_upsert": True})
    r("POST", "transit/encrypt/k-upsert-refused", {"plaintext": P})
    r("POST", "transit/config/keys", {"disable_upsert": False})
    r("GET", "transit/cache-config")
    r("GET", "transit/wrapping_key")
    r("POST", "transit/keys/k-derived", {"derived": True})
    r("POST", "transit/encrypt/k-derived", {"plaintext": P, "context": CTX}, save={"dv": ("data", "ciphertext")})
    r("POST", "transit/decrypt/k-derived", {"ciphertext": "$dv", "context": CTX}, expect={("data", "plaintext"): P})
    r("POST", "transit/encrypt/k-derived", {"plaintext": P})
    r("POST", "transit/keys/k-convergent", {"derived": True, "convergent_encryption": True})
    r("POST", "transit/encrypt/k-convergent", {"plaintext": P, "context": CTX})
    r("POST", "transit/keys/k-autorot", {"auto_rotate_period": "1h"})
    r("GET", "transit/keys/k-autorot")
    r("POST", "transit/keys/k-aead2", {})
    r("POST", "transit/encrypt/k-aead2", {"batch_input": []})
    r("POST", "transit/datakey/plaintext/k-aead2", raw=("application/json", "null"))
    r("POST", "transit/hash", {"input": P})
    r("POST", "transit/hash", {"input": P, "algorithm": "sha2-512", "format": "base64"})
    for h in HASHES:
        r("POST", f"transit/hash/{h}", {"input": P})
    r("POST", "transit/hash/md5", {"input": P})
    r("POST", "transit/hash", {"input": "!!"})
    r("POST", "transit/random", {})
    r("POST", "transit/random", raw=("application/json", "null"))
    r("POST", "transit/random/32", {"format": "hex"})
    r("POST", "transit/random/platform/16", {})
    r("POST", "transit/random/all/16", {})
    r("POST", "transit/random", {"bytes": 0})
    r("POST", "transit/random/99999999", {})
    r("POST", "transit/random", {"format": "base32"})
    r("POST", "transit/restore", {"backup": "bm90IGEgYmFja3Vw"})


def wrap_for_import(pem_text, target):
    """Vault's BYOK wrapping (RSA-OAEP-SHA256 of an ephemeral AES-256 key,
    then AES-KWP of the target key), done by each server's own wrapping key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
    public = serialization.load_pem_public_key(pem_text.encode())
    eph = os.urandom(32)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public.encrypt(eph, oaep) + aes_key_wrap_with_padding(eph, target)).decode()


def import_batch_warning_steps():
    """Issue 37, areas 2 to 4: import answers, batches, warnings."""
    aes = os.urandom(32)
    r("GET", "transit/wrapping_key", save={"wk": ("data", "public_key")})
    r("POST", "transit/keys/k-imp/import", {"ciphertext": ("wrap", "wk", aes), "type": "aes256-gcm96"})
    r("GET", "transit/keys/k-imp")
    r("POST", "transit/keys/k-imp/rotate", {})  # not imported with allow_rotation
    r("POST", "transit/keys/k-imp/import_version", {"ciphertext": ("wrap", "wk", os.urandom(32))})
    r("GET", "transit/keys/k-imp")
    r("POST", "transit/keys/k-imp-rot/import", {"ciphertext": ("wrap", "wk", aes), "allow_rotation": True})
    r("POST", "transit/keys/k-imp-rot/rotate", {})
    r("GET", "transit/keys/k-imp-rot")
    r("POST", "transit/encrypt/k-imp-rot", {"plaintext": P})
    r("POST", "transit/keys/k-imp/import", {"ciphertext": ("wrap", "wk", aes)})  # exists: refused
    r("POST", "transit/keys/k-imp-bad/import", {"ciphertext": "AAAA"})
    # Batches with a failing item; partial_failure_response_code.
    n = "k-batch"
    r("POST", f"transit/keys/{n}", {})
    r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": P, "reference": "a"}, {"plaintext": "%%%", "reference": "b"}]},
      save={"bt0": ("data", "batch_results", 0, "ciphertext")})
    r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": P}, {"plaintext": "%%%"}],
                                      "partial_failure_response_code": 207})
    r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": P}, {"plaintext": "%%%"}],
                                      "partial_failure_response_code": 0})
    r("POST", f"transit/encrypt/{n}", {"batch_input": [{"plaintext": "%%%"}], "partial_failure_response_code": 207})
    r("POST", f"transit/decrypt/{n}", {"batch_input": [{"ciphertext": "$bt0"}, {"ciphertext": "vault:v1:AAAA", "reference": "x"}]})
    r("POST", f"transit/decrypt/{n}", {"batch_input": [{"ciphertext": "$bt0"}, {"ciphertext": "garbage"}],
                                      "partial_failure_response_code": 207})
    r("POST", "transit/keys/k-batch-ed", {"type": "ed25519"})
    r("POST", "transit/sign/k-batch-ed", {"batch_input": [{"input": P, "reference": "a"}]},
      save={"bsig": ("data", "batch_results", 0, "signature")})
    r("POST", "transit/verify/k-batch-ed", {"batch_input": [{"input": P, "signature": "$bsig", "reference": "a"},
                                                           {"input": "!!", "signature": "$bsig", "reference": "b"},
                                                           {"input": P2, "signature": "$bsig"}]})
    # Warnings: parameters a route does not know.
    r("POST", f"transit/encrypt/{n}", {"plaintext": P, "not_a_param": 1})
    r("POST", f"transit/decrypt/{n}", {"ciphertext": "$bt0", "not_a_param": 1})
    r("POST", "transit/sign/k-batch-ed", {"input": P, "not_a_param": 1})
    r("POST", f"transit/hmac/{n}", {"input": P, "not_a_param": 1})
    r("POST", f"transit/keys/{n}/rotate", {"not_a_param": 1})
    r("POST", f"transit/keys/{n}/config", {"deletion_allowed": True, "not_a_param": 1})
    r("POST", "transit/hash", {"input": P, "not_a_param": 1})
    r("POST", "transit/random", {"not_a_param": 1})


def token_policy_steps():
    r("GET", "auth/token/lookup-self")
    r("POST", "auth/token/create", {"policies": ["default"], "ttl": "1h"},
      save={"tok": ("auth", "client_token"), "acc": ("auth", "accessor")})
    r("POST", "auth/token/create", {"policies": ["default"], "ttl": "1h", "renewable": True},
      save={"tok2": ("auth", "client_token")})
    r("POST", "auth/token/create", {"ttl": "0s", "period": "0s", "explicit_max_ttl": "0s", "entity_alias": ""},
      save={"tok3": ("auth", "client_token")})  # what `bao token create` sends
    r("POST", "auth/token/create", {"num_uses": 3, "display_name": "diff", "meta": {"team": "a"}})
    r("POST", "auth/token/create", {"policies": ["nope"], "no_default_policy": True})
    r("POST", "auth/token/create", {"id": "my-own-token-id"})
    r("POST", "auth/token/create-orphan", {"ttl": "1h"})
    r("POST", "auth/token/lookup", {"token": "$tok"})
    r("GET", "auth/token/lookup-self", token="$tok")
    r("POST", "auth/token/lookup-accessor", {"accessor": "$acc"})
    r("POST", "auth/token/lookup", {"token": "hvs.not-a-token"})
    r("POST", "auth/token/renew", {"token": "$tok2", "increment": "2h"})
    r("POST", "auth/token/renew-self", {}, token="$tok2")
    r("POST", "auth/token/renew", {"token": "$tok"})
    r("LIST", "auth/token/accessors")
    r("POST", "sys/capabilities-self", {"paths": ["transit/encrypt/x"]}, token="$tok")
    r("POST", "sys/capabilities-self", {"paths": ["transit/encrypt/x", "sys/policy/p"]})
    r("POST", "transit/encrypt/k-aes256-gcm96", {"plaintext": P}, token="$tok")  # not allowed: 403
    r("POST", "auth/token/revoke", {"token": "$tok3"})
    r("POST", "auth/token/revoke-accessor", {"accessor": "$acc"})
    r("GET", "auth/token/lookup-self", token="$tok")
    r("POST", "auth/token/revoke-self", {}, token="$tok2")
    r("GET", "auth/token/lookup-self", token="hvs.wrong")
    hcl = 'path "transit/encrypt/app-*" { capabilities = ["update"] }\npath "transit/keys" { capabilities = ["list"] }'
    r("PUT", "sys/policy/p-enc", {"policy": hcl})
    r("GET", "sys/policy/p-enc")
    r("GET", "sys/policies/acl/p-enc")
    r("POST", "sys/policies/acl/p-json", {"policy": json.dumps({"path": {"transit/keys/*": {"capabilities": ["read"]}}})})
    # Block bodies on lines of their own: HCL 2 (minikms) does not take HCL 1's
    # several attributes on the block's first line (docs/tokens-and-policies.md).
    r("POST", "sys/policy/p-params", {"policy": 'path "transit/keys/*" {\n capabilities = ["create"]\n'
                                               ' allowed_parameters = { "type" = ["ed25519"] }\n}'})
    r("POST", "sys/policy/p-bad", {"policy": "this is not hcl {"})
    r("GET", "sys/policy")
    r("LIST", "sys/policies/acl")
    r("GET", "sys/policy/default")
    r("GET", "sys/policy/root")
    r("POST", "auth/token/create", {"policies": ["p-enc"]}, save={"tp": ("auth", "client_token")})
    r("POST", "transit/keys/app-1", {})
    r("POST", "transit/encrypt/app-1", {"plaintext": P}, token="$tp")
    r("POST", "transit/encrypt/k-aes128-gcm96", {"plaintext": P}, token="$tp")
    r("LIST", "transit/keys", token="$tp")
    r("DELETE", "sys/policy/p-enc")
    r("GET", "sys/policy/p-enc")
    r("DELETE", "sys/policy/default")
    r("DELETE", "sys/policies/acl/p-json")


def sys_steps():
    r("GET", "sys/health")
    r("GET", "sys/health?standbyok=true")
    r("HEAD", "sys/health")
    r("GET", "sys/seal-status")
    r("GET", "sys/mounts")
    r("GET", "sys/mounts/transit")
    r("GET", "sys/internal/ui/mounts/transit")
    r("GET", "sys/internal/ui/mounts/transit/keys/x")
    r("GET", "sys/internal/ui/mounts")
    r("GET", "sys/auth")
    r("GET", "sys/nonexistent-route")


def operator_cli_steps():
    """Issue 37 (areas 1, 5, 6): what the `bao` CLI and tools ask beyond
    Transit, Vault's HCL 1 policy forms, and the limits."""
    r("GET", "sys/leader")
    r("GET", "sys/audit")
    r("GET", "sys/host-info")
    r("POST", "auth/token/create", {"ttl": "1000h"})
    r("POST", "auth/token/create", {"ttl": "1000h", "policies": ["default"]})
    # HCL 1 forms HCL 2 refuses: attributes on one line, commas, quoted
    # names, the older `policy = "write"`, Vault's `patch` capability.
    one_line = 'path "transit/encrypt/app-*" { capabilities = ["update"] allowed_parameters = { "plaintext" = [] } }'
    r("PUT", "sys/policy/p-oneline", {"policy": one_line})
    r("GET", "sys/policy/p-oneline")
    r("PUT", "sys/policy/p-commas", {"policy": 'path "transit/keys/*" { "capabilities" = ["read", "list"], comment = "x", }'})
    r("PUT", "sys/policy/p-old", {"policy": 'path "transit/keys/*" { policy = "write" }'})
    r("PUT", "sys/policy/p-patch", {"policy": 'path "transit/keys/*" {\n  capabilities = ["read", "patch"]\n}'})
    r("PUT", "sys/policy/p-wrap", {"policy": 'path "transit/keys/*" {\n  capabilities = ["read"]\n  min_wrapping_ttl = "1s"\n  max_wrapping_ttl = "90s"\n}'})
    r("PUT", "sys/policy/p-fly", {"policy": 'path "transit/keys/*" { policy = "fly" }'})
    r("POST", "auth/token/create", {"policies": ["p-oneline"]}, save={"t1": ("auth", "client_token")})
    r("POST", "transit/keys/app-1", {})
    r("POST", "transit/encrypt/app-1", {"plaintext": P}, token="$t1")
    r("GET", "transit/keys/app-1", token="$t1")
    for name in ("p-oneline", "p-commas", "p-old", "p-patch", "p-wrap"):
        r("DELETE", f"sys/policy/{name}")
    # A 2 MiB plaintext (Vault's limit is 32 MiB; minikms's default 4 MiB).
    big = base64.b64encode(bytes(range(256)) * 8192).decode()
    r("POST", "transit/encrypt/app-1", {"plaintext": big})


def dig(body, path):
    for p in path:
        try:
            body = body[p]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def resolve(v, saved, missing=None):
    """The body with "$var" replaced by the server's saved value; a var the
    server never saved (its earlier request failed) is added to missing."""
    if isinstance(v, tuple) and v[0] == "wrap":
        # ("wrap", var, key bytes): the key wrapped to this server's own key.
        if v[1] not in saved:
            if missing is not None:
                missing.append(v[1])
            return "MISSING-" + v[1]
        return wrap_for_import(saved[v[1]], v[2])
    if isinstance(v, str) and v.startswith("$"):
        if v[1:] not in saved and missing is not None:
            missing.append(v[1:])
        return saved.get(v[1:], "MISSING-" + v[1:])
    if isinstance(v, dict):
        return {k: resolve(x, saved, missing) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x, saved, missing) for x in v]
    return v


class Server:
    def __init__(self, name, addr, ca, token):
        self.name, self.addr, self.token = name, addr.rstrip("/"), token
        self.ca = ca  # per request: REQUESTS_CA_BUNDLE would override Session.verify
        self.s = requests.Session()
        self.saved = {}

    def send(self, st):
        self.missing = []
        headers = {"X-Vault-Token": resolve(st["token"], self.saved, self.missing) if st["token"] else self.token}
        data = None
        if st["raw"]:
            headers["Content-Type"], data = st["raw"]
        elif st["body"] is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(resolve(st["body"], self.saved, self.missing))
        resp = self.s.request(st["method"], f"{self.addr}/v1/{st['path']}", headers=headers, data=data,
                               verify=self.ca, timeout=120)
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = resp.text[:200]
        for var, path in st["save"].items():
            v = dig(body, path)
            if v is not None:
                self.saved[var] = v
        wrong = []
        for path, want in st["expect"].items() if resp.ok else ():
            want = resolve(want, self.saved)
            if dig(body, path) != want:
                wrong.append(f"wrong value on {self.name}: {'.'.join(map(str, path))}")
        return (resp.status_code, body), wrong


def family(path):
    """The route with names taken out, for grouping: transit/encrypt/NAME."""
    p = path.split("?")[0]
    p = re.sub(r"/(k-[A-Za-z0-9.-]+|app-1|\.hidden)(?=/|$)", "/NAME", p)
    p = re.sub(r"/kv-.*$", "/PATH", p)
    p = re.sub(r"/(p-[a-z]+|default|root)$", "/POLICY", p)
    return p


def main():
    env = os.environ
    bao = Server("openbao", env["OPENBAO_ADDR"], env["OPENBAO_CACERT"], env["ROOT_TOKEN"])
    kms = Server("minikms", env["MINIKMS_ADDR"], env["MINIKMS_CACERT"], env["ROOT_TOKEN"])
    kept_rows = read_kept(env.get("KEPT"))
    report_path = sys.argv[1] if len(sys.argv) > 1 else env.get("DIFF_REPORT")
    sys_steps()
    transit_steps()
    import_batch_warning_steps()
    token_policy_steps()
    kv_steps(r)
    operator_cli_steps()
    counts = collections.Counter()
    kinds, fams = collections.Counter(), collections.Counter()
    results = []
    for st in STEPS:
        a, wa = bao.send(st)
        b, wb = kms.send(st)
        diffs = compare(a, b) + wa + wb
        if diffs and (bao.missing or kms.missing):
            # An earlier request failed on one side: this one shows nothing new.
            who = "minikms" if kms.missing else "openbao"
            diffs = [f"follows an earlier difference: {who} has no {(kms.missing or bao.missing)[0]}"]
        method, path = st["method"], st["path"]
        if not diffs:
            verdict = "alike"
        elif b[0] in (404, 405) and a[0] not in (404, 405):
            verdict = "unsupported"
        elif all(is_kept(kept_rows, method, path, d) for d in diffs):
            verdict = "kept"
        else:
            verdict = "differ"
        counts[verdict] += 1
        if 200 <= b[0] < 300 and a[0] >= 400:
            counts["kms_accepts_bao_refuses"] += 1
        if 200 <= a[0] < 300 and b[0] >= 400:
            counts["bao_accepts_kms_refuses"] += 1
        if verdict in ("differ", "unsupported"):
            for d in dict.fromkeys(kind(d) for d in diffs):
                kinds[d] += 1
                fams[f"{d} @ {method} {family(path)}"] += 1
            if verdict == "differ":
                print(f"DIFF {method} {path}: {'; '.join(diffs)[:400]}")
        results.append(dict(method=method, path=path, verdict=verdict, openbao_status=a[0], minikms_status=b[0],
                            differences=diffs, openbao=a[1], minikms=b[1]))
    total = len(STEPS)
    print("most frequent differences (differ and unsupported requests):")
    for k, n in kinds.most_common(10):
        print(f"  {n:4d}  {k}")
    print("most frequent by route:")
    for k, n in fams.most_common(15):
        print(f"  {n:4d}  {k}")
    print(f"accepted by minikms, refused by openbao: {counts['kms_accepts_bao_refuses']}; "
          f"accepted by openbao, refused by minikms: {counts['bao_accepts_kms_refuses']}")
    summary = (f"alike={counts['alike']} differ={counts['differ']} unsupported={counts['unsupported']} "
               f"(minikms 404/405) kept={counts['kept']} total={total}")
    print(summary)
    if report_path:
        with open(report_path, "w", encoding="utf-8") as f:
            json.dump(dict(summary=summary, counts=counts, kinds=kinds.most_common(), by_route=fams.most_common(),
                           results=results), f, indent=1, default=str)


if __name__ == "__main__":
    main()
