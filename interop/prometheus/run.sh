#!/usr/bin/env bash
# The metrics test's parser: reads a scrape of /v1/sys/metrics?format=prometheus
# (FILE) with the Prometheus project's Python parser (pinned in
# requirements.txt) and prints what it found as JSON (parse.py).
#
#   interop/prometheus/run.sh FILE
#
# Environment: VENV (default: a fresh temp dir; set it to reuse a venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: run.sh FILE" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
venv="${VENV:-$work/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi
"$venv/bin/python" "$here/parse.py" "$1"
