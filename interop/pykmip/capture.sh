#!/usr/bin/env bash
# Captures the KMIP seed corpus from real PyKMIP (pinned in requirements.txt):
# pykmip-server on loopback with its own generated certificates, driven by
# PyKMIP's ProxyKmipClient for KMIP 1.2, 1.4 and 2.0 (capture.py says how the
# bytes are taken). Writes every request and response to fuzz/corpus/kmip_ttlv/
# and the requests to fuzz/corpus/kmip_request/.
#
#   interop/pykmip/capture.sh
#
# Environment: VENV (default: a fresh temp dir; set it to reuse a venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

venv="${VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

"$venv/bin/python" "$here/capture.py" "$work/out"

ttlv="$root/fuzz/corpus/kmip_ttlv"
request="$root/fuzz/corpus/kmip_request"
mkdir -p "$ttlv" "$request"
# Keys, IVs and identifiers differ on every run: replace the old capture whole.
rm -f "$ttlv"/*.ttlv "$request"/*.ttlv
cp "$work/out"/*.ttlv "$ttlv/"
cp "$work/out"/*-request.ttlv "$request/"
echo "capture.sh: $(ls "$ttlv"/*.ttlv | wc -l) messages in $ttlv, $(ls "$request"/*.ttlv | wc -l) requests in $request"
