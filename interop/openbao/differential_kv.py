"""The KV v2 section of the differential test (issue 36): every route of
the engine at `secret/` (OpenBao dev mounts it as KV v2; so does minikms),
in one sequence sent to both servers by differential.py.

Secret names start with `kv-` so that family() groups them.
"""

V = "hunter2"


def kv_steps(r):
    # The mount, as the CLI reads it to pick the v2 paths.
    r("GET", "sys/mounts/secret")
    r("GET", "sys/internal/ui/mounts/secret/kv-db")
    # Versions, cas.
    r("POST", "secret/data/kv-db", {"data": {"password": V, "user": "app"}})
    r("GET", "secret/data/kv-db", expect={("data", "data", "password"): V})
    r("PUT", "secret/data/kv-db", {"data": {"password": "second", "user": "app"}})
    r("GET", "secret/data/kv-db?version=1", expect={("data", "data", "password"): V})
    r("GET", "secret/data/kv-db?version=9")
    r("GET", "secret/data/kv-db?version=abc")
    r("POST", "secret/data/kv-db", {"options": {"cas": 1}, "data": {"a": "b"}})
    r("POST", "secret/data/kv-db", {"options": {"cas": 2}, "data": {"password": "third", "user": "app"}})
    # Patch: Vault's content type only.
    r("PATCH", "secret/data/kv-db", raw=("application/merge-patch+json", '{"data":{"user":null,"port":5432}}'))
    r("PATCH", "secret/data/kv-db", raw=("application/json", '{"data":{"user":"x"}}'))
    r("PATCH", "secret/data/kv-none", raw=("application/merge-patch+json", '{"data":{"a":"b"}}'))
    r("GET", "secret/data/kv-db", expect={("data", "data", "port"): 5432})
    r("GET", "secret/subkeys/kv-db")
    r("GET", "secret/subkeys/kv-db?depth=1")
    # Delete, undelete, destroy.
    r("DELETE", "secret/data/kv-db")
    r("GET", "secret/data/kv-db")
    r("POST", "secret/undelete/kv-db", {"versions": [4]})
    r("GET", "secret/data/kv-db")
    r("POST", "secret/delete/kv-db", {"versions": [1]})
    r("POST", "secret/delete/kv-db", {})
    r("POST", "secret/destroy/kv-db", {"versions": [2]})
    r("GET", "secret/data/kv-db?version=2")
    r("POST", "secret/undelete/kv-db", {"versions": ["x"]})
    r("POST", "secret/undelete/kv-nothing", {"versions": [1]})
    r("POST", "secret/destroy/kv-nothing", {"versions": [1]})
    # Metadata.
    r("GET", "secret/metadata/kv-db")
    r("POST", "secret/metadata/kv-db", {"max_versions": 2, "cas_required": True,
                                         "custom_metadata": {"owner": "ops"}, "delete_version_after": "1h"})
    r("GET", "secret/metadata/kv-db")
    r("POST", "secret/data/kv-db", {"data": {"a": "b"}})
    r("POST", "secret/data/kv-db", {"options": {"cas": 4}, "data": {"a": "b"}})
    r("GET", "secret/metadata/kv-db")
    r("GET", "secret/metadata/kv-nothing")
    r("POST", "secret/metadata/kv-meta-only", {"max_versions": 3})
    r("GET", "secret/metadata/kv-meta-only")
    # List.
    r("POST", "secret/data/kv-app/one", {"data": {"k": "v"}})
    r("POST", "secret/data/kv-app/sub/two", {"data": {"k": "v"}})
    r("LIST", "secret/metadata/")
    r("LIST", "secret/metadata/kv-app")
    r("GET", "secret/metadata/kv-app/?list=true")
    r("LIST", "secret/metadata/kv-nothing")
    r("DELETE", "secret/metadata/kv-app/one")
    r("DELETE", "secret/metadata/kv-nothing")
    r("DELETE", "secret/data/kv-nothing")
    # Config.
    r("GET", "secret/config")
    r("POST", "secret/config", {"max_versions": 20})
    r("GET", "secret/config")
    r("POST", "secret/config", {"max_versions": "abc"})
    r("POST", "secret/config", {"max_versions": 0})
    # Bad input.
    r("POST", "secret/data/kv-bad", {"data": "x"})
    r("POST", "secret/data/kv-bad", {"data": [1]})
    r("POST", "secret/data/kv-bad", {})
    r("POST", "secret/data/kv-bad/", {"data": {"a": "b"}})
    r("POST", "secret/data/kv-a/%2e%2e/kv-db", {"data": {"a": "b"}})
    r("GET", "secret/data/kv-a%2F..%2Fkv-db")
    r("GET", "secret/data/kv-bad")
    r("POST", "secret/data/kv-enc%2Fpath", {"data": {"k": "v"}})
    r("GET", "secret/data/kv-enc/path", expect={("data", "data", "k"): "v"})
