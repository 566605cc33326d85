"""hvac's `secrets.kv.v2` (pinned) against a running minikms: the KV v2
engine at `secret/` (issue 36), asserting values. Run by run.sh
(VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT: the enclave CA that `minikms
trust` saved after attesting the server)."""

import os
import warnings

import hvac
from hvac.exceptions import InvalidPath, InvalidRequest

warnings.simplefilter("ignore")

client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], verify=os.environ["VAULT_CACERT"])
kv = client.secrets.kv.v2

made = kv.create_or_update_secret(path="hvac/db", secret={"password": "hunter2", "user": "app"})
assert made["data"]["version"] == 1, made
kv.create_or_update_secret(path="hvac/db", secret={"password": "second", "user": "app"}, cas=1)
try:
    kv.create_or_update_secret(path="hvac/db", secret={"password": "x"}, cas=1)
    raise AssertionError("a cas mismatch was accepted")
except InvalidRequest as e:
    assert "check-and-set parameter did not match the current version" in str(e), e
read = kv.read_secret_version(path="hvac/db", raise_on_deleted_version=True)
assert read["data"]["data"] == {"password": "second", "user": "app"}, read
assert read["data"]["metadata"]["version"] == 2
assert kv.read_secret_version(path="hvac/db", version=1, raise_on_deleted_version=True)["data"]["data"]["password"] == "hunter2"

kv.patch(path="hvac/db", secret={"password": "patched"})
assert kv.read_secret(path="hvac/db")["data"]["data"] == {"password": "patched", "user": "app"}
# hvac has no subkeys method: its generic read.
assert client.read("secret/subkeys/hvac/db")["data"]["subkeys"] == {"password": None, "user": None}

kv.update_metadata(path="hvac/db", max_versions=5, custom_metadata={"owner": "ops"})
meta = kv.read_secret_metadata(path="hvac/db")["data"]
assert (meta["max_versions"], meta["current_version"], meta["custom_metadata"]) == (5, 3, {"owner": "ops"}), meta

kv.delete_latest_version_of_secret(path="hvac/db")
try:
    kv.read_secret_version(path="hvac/db", raise_on_deleted_version=True)
    raise AssertionError("read a deleted version")
except InvalidPath:
    pass
kv.undelete_secret_versions(path="hvac/db", versions=[3])
assert kv.read_secret_version(path="hvac/db", raise_on_deleted_version=True)["data"]["data"]["password"] == "patched"
kv.delete_secret_versions(path="hvac/db", versions=[2])
kv.destroy_secret_versions(path="hvac/db", versions=[1])
meta = kv.read_secret_metadata(path="hvac/db")["data"]
assert meta["versions"]["1"]["destroyed"] is True and meta["versions"]["2"]["deletion_time"] != "", meta

kv.create_or_update_secret(path="hvac/sub/x", secret={"k": "v"})
keys = kv.list_secrets(path="hvac")["data"]["keys"]
assert keys == ["db", "sub/"], keys

kv.configure(max_versions=7)
assert kv.read_configuration()["data"]["max_versions"] == 7
kv.configure(max_versions=0)

kv.delete_metadata_and_all_versions(path="hvac/db")
try:
    kv.read_secret_metadata(path="hvac/db")
    raise AssertionError("metadata still there")
except InvalidPath:
    pass
print("hvac kv v2 checks passed")
