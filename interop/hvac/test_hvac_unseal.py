"""Recovery shares through hvac: `init` makes shares and a key, `unseal`
opens the moved (sealed) store with them, `check` finds the key again."""
import json
import os
import sys

import hvac

ADDR, CA, SHARES = os.environ["VAULT_ADDR"], os.environ["VAULT_CACERT"], os.environ["SHARES_FILE"]
step = sys.argv[1]

if step == "init":
    client = hvac.Client(url=ADDR, verify=CA)
    assert not client.sys.is_initialized()
    result = client.sys.initialize(secret_shares=3, secret_threshold=2)
    assert len(result["keys"]) == 3 and len(result["keys_base64"]) == 3, result.keys()
    client.token = result["root_token"]
    assert client.sys.read_seal_status()["sealed"] is False
    client.secrets.transit.create_key(name="moved")
    ct = client.secrets.transit.encrypt_data(name="moved", plaintext="bW92ZWQ=")["data"]["ciphertext"]
    with open(SHARES, "w") as f:
        json.dump({"keys": result["keys"], "root_token": result["root_token"], "ciphertext": ct}, f)
elif step == "unseal":
    saved = json.load(open(SHARES))
    client = hvac.Client(url=ADDR, verify=CA)
    status = client.sys.read_seal_status()
    assert status["sealed"] is True and status["t"] == 2 and status["n"] == 3, status
    assert client.sys.is_sealed()
    status = client.sys.submit_unseal_key(saved["keys"][2])
    assert status["sealed"] is True and status["progress"] == 1, status
    client.sys.submit_unseal_key(reset=True)
    status = client.sys.submit_unseal_keys(saved["keys"][:2])
    assert status["sealed"] is False, status
elif step == "check":
    saved = json.load(open(SHARES))
    client = hvac.Client(url=ADDR, token=saved["root_token"], verify=CA)
    assert client.sys.read_seal_status()["sealed"] is False
    plain = client.secrets.transit.decrypt_data(name="moved", ciphertext=saved["ciphertext"])
    assert plain["data"]["plaintext"] == "bW92ZWQ=", plain
print(f"hvac {step}: ok")
