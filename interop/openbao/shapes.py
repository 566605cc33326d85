"""Comparing two Vault-style answers by shape, and the kept-differences table.

An answer is (status, body): body is the parsed JSON, or None for an empty
body, or the raw text when it is not JSON. `compare` returns a list of
differences, each a short string whose first words name its kind
(`status`, `missing`, `extra`, `type`, `value`, `prefix`, `length`, `body`).
"""
import re

# Strings compared exactly (the rest: by type, or by prefix below).
EXACT_STR = {
    "type", "name", "sum", "display_name", "path", "hash_algorithm", "format",
    "signature_algorithm", "marshaling_algorithm", "mount_type", "rules", "policy",
    "kdf", "convergent_encryption_version",
}
# Numbers that depend on the clock or on the server: compared by type only.
CLOCKISH = {
    "ttl", "creation_ttl", "creation_time", "expire_time", "issue_time",
    "last_renewal_time", "last_renewal", "server_time_utc", "lease_duration",
    "time", "explicit_max_ttl", "period", "last_rotated", "auto_rotate_period",
}
CIPHERTEXT = re.compile(r"^(vault:v\d+:)")
SIGNATURE = re.compile(r"^(vault:v\d+:)")


def typename(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "str", list: "list", dict: "object"}.get(type(v), type(v).__name__)


def status_class(code):
    return f"{code // 100}xx"


def _prefix(s):
    m = CIPHERTEXT.match(s)
    if m:
        return m.group(1)
    if s.startswith("-----BEGIN"):
        return s.split("\n", 1)[0]
    return None


def _shape(a, b, where, key, out, depth):
    ta, tb = typename(a), typename(b)
    if ta != tb:
        out.append(f"type {where}: openbao={ta} minikms={tb}")
        return
    if depth > 6:
        return
    if ta == "object":
        ka, kb = set(a), set(b)
        for k in sorted(ka - kb):
            out.append(f"missing {where}.{k}")
        for k in sorted(kb - ka):
            out.append(f"extra {where}.{k}")
        # version maps ("1": ..., "2": ...) compare like any object
        for k in sorted(ka & kb):
            _shape(a[k], b[k], f"{where}.{k}", k, out, depth + 1)
    elif ta == "list":
        if len(a) != len(b):
            out.append(f"length {where}: openbao={len(a)} minikms={len(b)}")
        if where == ".data.keys" and all(re.fullmatch(r"[A-Za-z0-9]{24}", x) for x in a + b):
            return  # token accessors: ids, not names
        if key in ("keys", "policies", "token_policies", "identity_policies") and all(
            isinstance(x, str) for x in a + b
        ):
            if sorted(a) != sorted(b):
                out.append(f"value {where}: openbao={sorted(a)[:6]} minikms={sorted(b)[:6]}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _shape(x, y, f"{where}[{i}]", key, out, depth + 1)
    elif ta == "bool":
        if a != b:
            out.append(f"value {where}: openbao={a} minikms={b}")
    elif ta == "number":
        # A symmetric key's versions map to their creation times.
        clockish = key in CLOCKISH or re.search(r"\.keys\.\d+$", where)
        if not clockish and a != b:
            out.append(f"value {where}: openbao={a} minikms={b}")
    elif ta == "str":
        pa, pb = _prefix(a), _prefix(b)
        if pa or pb:
            if pa != pb:
                out.append(f"prefix {where}: openbao={pa or a[:12]!r} minikms={pb or b[:12]!r}")
        elif key in EXACT_STR and key not in CLOCKISH and a != b:
            out.append(f"value {where}: openbao={a[:40]!r} minikms={b[:40]!r}")


def compare(bao, kms):
    """Differences between OpenBao's answer and minikms's, as strings."""
    (sa, ba), (sb, bb) = bao, kms
    out = []
    if sa != sb:
        out.append(f"status openbao={sa} minikms={sb}")
        return out
    if sa >= 400:
        # Errors: the status decides; messages are free text.
        if not (isinstance(ba, dict) and isinstance(bb, dict)):
            out.append(f"body error not JSON: openbao={typename(ba)} minikms={typename(bb)}")
        elif set(ba) != set(bb):
            out.append(f"body error keys: openbao={sorted(ba)} minikms={sorted(bb)}")
        return out
    if typename(ba) != typename(bb):
        out.append(f"body type: openbao={typename(ba)} minikms={typename(bb)}")
        return out
    if isinstance(ba, dict):
        _shape(ba, bb, "", "", out, 0)
    return [d.replace(" .", " ", 1) for d in out]


def kind(diff):
    """The difference without its values: what the gap list counts."""
    d = re.sub(r"\[\d+\]", "[]", diff)
    d = re.sub(r"\.keys\.\d+", ".keys.N", d)  # key versions
    if d.startswith("status"):
        return d
    if d.startswith("follows"):
        return "follows an earlier difference"
    return d.split(":", 1)[0]


def read_kept(path):
    """Rows of the markdown table in kept-differences.md:
    | method | path regex | difference regex | reason |"""
    rows = []
    if not path:
        return rows
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.lstrip().startswith("|") or len(cells) < 4:
                continue
            if cells[0].lower() == "method" or set(cells[0]) <= set("-: "):
                continue
            method, path_re, diff_re = (c.strip("`") for c in cells[:3])
            rows.append((method.upper(), re.compile(path_re), re.compile(diff_re), cells[3]))
    return rows


def is_kept(kept, method, path, diff):
    for m, path_re, diff_re, _ in kept:
        if (m in ("*", method)) and path_re.fullmatch(path) and diff_re.search(diff):
            return True
    return False
