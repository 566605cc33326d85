"""hvac (pinned) against a running minikms: every transit method we serve,
tokens and ACL policies, asserting values; Python `cryptography` cross-checks
signatures and an exported key. Run by run.sh (VAULT_ADDR, VAULT_TOKEN,
VAULT_CACERT: the enclave CA that `minikms trust` saved after attesting the
server)."""

import base64
import os
import sys
import warnings

import hvac
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

warnings.simplefilter("ignore")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(s: str) -> bytes:
    return base64.b64decode(s)


def body(ct: str) -> bytes:
    return unb64(ct.split(":", 2)[2])


ca = os.environ["VAULT_CACERT"]
client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], verify=ca)
assert client.is_authenticated()
assert not hvac.Client(url=os.environ["VAULT_ADDR"], token="hvs.wrong", verify=ca).is_authenticated()
# With only the usual public CAs (hvac would otherwise read VAULT_CACERT),
# TLS verification fails: no silent fallback.
try:
    hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], verify=True).is_authenticated()
    raise AssertionError("connected without the enclave CA")
except requests.exceptions.SSLError:
    pass
t = client.secrets.transit
checks = 0


def check(cond, what):
    global checks
    assert cond, what
    checks += 1


# Keys of every type.
types = ["aes256-gcm96", "rsa-2048", "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384", "ed25519", "hmac"]
for ty in types:
    if ty == "hmac":
        # hvac's create_key does not know the hmac type: post it directly.
        client.adapter.post("/v1/transit/keys/k-hmac", json={"type": "hmac", "exportable": True})
    else:
        t.create_key(name=f"k-{ty}", key_type=ty, exportable=True)
    info = t.read_key(name=f"k-{ty}")["data"]
    check(info["type"] == ty and info["latest_version"] == 1, f"read {ty}")
listed = t.list_keys()["data"]["keys"]
check(sorted(listed) == sorted(f"k-{ty}" for ty in types), "list")

# Encrypt / decrypt, with and without associated data, single and batch.
aes = "k-aes256-gcm96"
ct = t.encrypt_data(name=aes, plaintext=b64(b"hello"))["data"]["ciphertext"]
check(ct.startswith("vault:v1:"), "ciphertext format")
check(unb64(t.decrypt_data(name=aes, ciphertext=ct)["data"]["plaintext"]) == b"hello", "decrypt")
aad = b64(b"context-bound")
ct_aad = t.encrypt_data(name=aes, plaintext=b64(b"with aad"), associated_data=aad)["data"]["ciphertext"]
r = t.decrypt_data(name=aes, ciphertext=ct_aad, associated_data=aad)
check(unb64(r["data"]["plaintext"]) == b"with aad", "decrypt with aad")
try:
    t.decrypt_data(name=aes, ciphertext=ct_aad, associated_data=b64(b"other"))
    check(False, "wrong aad must fail")
except hvac.exceptions.InvalidRequest:
    checks += 1
batch = [{"plaintext": b64(f"item {i}".encode())} for i in range(4)]
res = t.encrypt_data(name=aes, batch_input=batch)["data"]["batch_results"]
dec = t.decrypt_data(name=aes, batch_input=[{"ciphertext": r["ciphertext"]} for r in res])["data"]["batch_results"]
check([unb64(d["plaintext"]) for d in dec] == [f"item {i}".encode() for i in range(4)], "batch")

# Exported key decrypts the server's ciphertext with Python cryptography.
key = unb64(t.export_key(name=aes, key_type="encryption-key")["data"]["keys"]["1"])
raw = body(ct_aad)
check(AESGCM(key).decrypt(raw[:12], raw[12:], b"context-bound") == b"with aad", "AES cross-check")

# Rotation, rewrap, min_decryption_version.
t.rotate_key(name=aes)
check(t.read_key(name=aes)["data"]["latest_version"] == 2, "rotate")
rw = t.rewrap_data(name=aes, ciphertext=ct)["data"]["ciphertext"]
check(rw.startswith("vault:v2:"), "rewrap")
check(unb64(t.decrypt_data(name=aes, ciphertext=rw)["data"]["plaintext"]) == b"hello", "decrypt rewrapped")
t.update_key_configuration(name=aes, min_decryption_version=2)
try:
    t.decrypt_data(name=aes, ciphertext=ct)
    check(False, "min_decryption_version must refuse v1")
except hvac.exceptions.InvalidRequest:
    checks += 1

# Data keys.
dk = t.generate_data_key(name=aes, key_type="plaintext")["data"]
check(unb64(t.decrypt_data(name=aes, ciphertext=dk["ciphertext"])["data"]["plaintext"]) == unb64(dk["plaintext"]), "datakey")
wk = t.generate_data_key(name=aes, key_type="wrapped", bits=128)["data"]
check("plaintext" not in wk or wk["plaintext"] is None, "wrapped datakey")

# Random, hash, hmac.
check(len(unb64(t.generate_random_bytes(n_bytes=24)["data"]["random_bytes"])) == 24, "random")
s = t.hash_data(hash_input=b64(b"abc"), algorithm="sha2-256")["data"]["sum"]
check(s == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "hash")
for name in [aes, "k-hmac"]:
    mac = t.generate_hmac(name=name, hash_input=b64(b"msg"))["data"]["hmac"]
    ok = t.verify_signed_data(name=name, hash_input=b64(b"msg"), hmac=mac)["data"]["valid"]
    bad = t.verify_signed_data(name=name, hash_input=b64(b"msh"), hmac=mac)["data"]["valid"]
    check(ok is True and bad is False, f"hmac {name}")

# Sign / verify for each signature type, cross-checked with cryptography.
msg = b"sign me"


def sign(name, **kw):
    sig = t.sign_data(name=name, hash_input=b64(msg), **kw)["data"]["signature"]
    check(t.verify_signed_data(name=name, hash_input=b64(msg), signature=sig, **kw)["data"]["valid"], f"verify {name} {kw}")
    check(not t.verify_signed_data(name=name, hash_input=b64(b"x"), signature=sig, **kw)["data"]["valid"], f"reject {name}")
    return body(sig)


def public(name):
    return t.read_key(name=name)["data"]["keys"]["1"]["public_key"]


pk = ed25519.Ed25519PublicKey.from_public_bytes(unb64(public("k-ed25519")))
pk.verify(sign("k-ed25519"), msg)
pk = serialization.load_pem_public_key(public("k-ecdsa-p256").encode())
pk.verify(sign("k-ecdsa-p256", hash_algorithm="sha2-256"), msg, ec.ECDSA(hashes.SHA256()))
pk = serialization.load_pem_public_key(public("k-ecdsa-p384").encode())
pk.verify(sign("k-ecdsa-p384", hash_algorithm="sha2-384"), msg, ec.ECDSA(hashes.SHA384()))
for size in ["2048", "3072", "4096"]:
    name = f"k-rsa-{size}"
    pk = serialization.load_pem_public_key(public(name).encode())
    for alg, h, hh in [("pss", "sha2-256", hashes.SHA256()), ("pkcs1v15", "sha2-512", hashes.SHA512())]:
        sig = sign(name, hash_algorithm=h, signature_algorithm=alg)
        pad = padding.PSS(mgf=padding.MGF1(hh), salt_length=padding.PSS.AUTO) if alg == "pss" else padding.PKCS1v15()
        pk.verify(sig, msg, pad, hh)
        checks += 1
    ct = t.encrypt_data(name=name, plaintext=b64(b"rsa secret"))["data"]["ciphertext"]
    check(unb64(t.decrypt_data(name=name, ciphertext=ct)["data"]["plaintext"]) == b"rsa secret", f"{name} OAEP")
    priv = serialization.load_pem_private_key(
        t.export_key(name=name, key_type="encryption-key")["data"]["keys"]["1"].encode(), password=None)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    check(priv.decrypt(body(ct), oaep) == b"rsa secret", f"{name} OAEP cross-check")

# Backup / restore, trim.
t.update_key_configuration(name="k-ed25519", allow_plaintext_backup=True)
backup = t.backup_key(name="k-ed25519")["data"]["backup"]
t.restore_key(backup=backup, name="k-ed25519-restored")
check(public("k-ed25519-restored") == public("k-ed25519"), "restore")
t.rotate_key(name="k-hmac")
t.update_key_configuration(name="k-hmac", min_decryption_version=2)
t.trim_key(name="k-hmac", min_version=2)
check(t.read_key(name="k-hmac")["data"]["min_available_version"] == 2, "trim")

# Delete needs deletion_allowed; errors map to hvac's exceptions.
try:
    t.delete_key(name="k-hmac")
    check(False, "delete without deletion_allowed")
except hvac.exceptions.InvalidRequest:
    checks += 1
t.update_key_configuration(name="k-hmac", deletion_allowed=True)
t.delete_key(name="k-hmac")
check("k-hmac" not in t.list_keys()["data"]["keys"], "deleted")
try:
    t.read_key(name="k-hmac")
    check(False, "read deleted")
except hvac.exceptions.InvalidPath:
    checks += 1

# Tokens and policies: client.sys.*_policy and client.auth.token.*.
client.sys.create_or_update_policy(
    name="enc-aes",
    policy='path "transit/encrypt/k-aes*" { capabilities = ["update"] }',
)
check("enc-aes" in client.sys.list_policies()["data"]["policies"], "list_policies")
check("transit/encrypt/k-aes*" in client.sys.read_policy(name="enc-aes")["data"]["rules"], "read_policy")
client.sys.create_or_update_acl_policy(
    name="reader", policy='path "transit/keys/*" { capabilities = ["read", "list"] }'
)
check("reader" in client.sys.list_acl_policies()["data"]["keys"], "list_acl_policies")
created = client.auth.token.create(policies=["enc-aes"], ttl="1h", num_uses=0)["auth"]
check(created["policies"] == ["default", "enc-aes"] and created["lease_duration"] == 3600, "token create")
limited = hvac.Client(url=os.environ["VAULT_ADDR"], token=created["client_token"], verify=False)
check(limited.is_authenticated(), "child token authenticates")
check(limited.auth.token.lookup_self()["data"]["accessor"] == created["accessor"], "lookup_self")
check(client.auth.token.lookup_accessor(created["accessor"])["data"]["policies"] == ["default", "enc-aes"], "lookup_accessor")
check(limited.secrets.transit.encrypt_data(name=aes, plaintext=b64(b"x"))["data"]["ciphertext"].startswith("vault:v"), "child encrypts")
try:
    limited.secrets.transit.decrypt_data(name=aes, ciphertext=ct)
    check(False, "child decrypts")
except hvac.exceptions.Forbidden:
    checks += 1
try:
    limited.auth.token.create(policies=["reader"])
    check(False, "child makes tokens")
except hvac.exceptions.Forbidden:
    checks += 1
client.auth.token.revoke_accessor(created["accessor"])
check(not limited.is_authenticated(), "revoked")
client.sys.delete_policy(name="enc-aes")
check("enc-aes" not in client.sys.list_policies()["data"]["policies"], "delete_policy")
try:
    client.sys.create_or_update_policy(name="bad", policy='path "x" { capabilities = ["fly"] }')
    check(False, "bad policy stored")
except hvac.exceptions.InvalidRequest:
    checks += 1

# Attested-login roles (docs/key-release.md): client.write/read/list/delete.
signer = "ab" * 32
client.write("auth/attest/role/workload", mrsigner=[signer], mrenclave=[], product_id=1, min_svn=2,
             allow_debug=False, allow_simulation=True, policies=["reader"], ttl="1h")
role = client.read("auth/attest/role/workload")["data"]
check(role["mrsigner"] == [signer] and role["ttl"] == 3600 and role["policies"] == ["reader"], "read role")
check(client.list("auth/attest/role")["data"]["keys"] == ["workload"], "list roles")
try:
    client.write("auth/attest/role/bad", mrsigner=[], mrenclave=[])
    check(False, "role without measurements stored")
except hvac.exceptions.InvalidRequest:
    checks += 1
client.delete("auth/attest/role/workload")
check(client.list("auth/attest/role") is None, "delete role")

# What `bao status` and tools read of the server: sys/leader (no HA here,
# as Vault dev) and sys/audit (the signed file log).
leader = client.sys.read_leader_status()
check(leader == {"ha_enabled": False}, "read_leader_status")
devices = client.sys.list_enabled_audit_devices()["data"]
check(devices["file/"]["type"] == "file", "list_enabled_audit_devices")

from importlib.metadata import version

print(f"hvac {version('hvac')} interop: {checks} checks passed")
sys.exit(0)
