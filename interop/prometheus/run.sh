#!/usr/bin/env bash
# The metrics test's parser: reads a scrape of /v1/sys/metrics?format=prometheus
# (FILE) with the Prometheus project's Python parsers (pinned in
# requirements.txt) and prints what they found as JSON (parse.py).
#
#   interop/prometheus/run.sh FILE
#
# Environment: VENV (a virtualenv to use, made if missing); else
# VENV_CACHE (a directory: the virtualenv is kept there, one per
# requirements.txt, made once); else a fresh temporary one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: run.sh FILE" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -n "${VENV:-}" ]; then
    venv="$VENV"
elif [ -n "${VENV_CACHE:-}" ]; then
    venv="$VENV_CACHE/prometheus-$(sha256sum "$here/requirements.txt" | cut -c1-12)"
else
    venv="$work/venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    # Made aside and moved into place whole, so a failed install leaves
    # nothing behind (only bin/python is used, which survives the move).
    mkdir -p "$(dirname "$venv")"
    new="$venv.new.$$"
    python3 -m venv "$new"
    "$new/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" \
        || { rm -rf "$new"; exit 1; }
    mv -T "$new" "$venv" 2>/dev/null || rm -rf "$new"
fi
"$venv/bin/python" "$here/parse.py" "$1"
