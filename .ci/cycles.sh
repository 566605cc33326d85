#!/usr/bin/env bash
# Import-cycle check: in every library and binary target of every workspace
# member (or only the packages named as arguments), no two modules may
# depend on each other, directly or around a ring. The item graph comes from
# cargo-modules (pinned by .ci/tools.sh); .ci/modcycles.py lifts it to
# modules and says what it counts. #[cfg(test)] code is left out.
#
#   .ci/cycles.sh                      # all workspace members
#   .ci/cycles.sh minikms-host ...     # only these packages
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-modules > /dev/null || { echo "cycles: cargo-modules missing: run .ci/tools.sh" >&2; exit 2; }

# cargo-modules follows types through std (`Result<_, Error>`, `Option<Box<T>>`)
# only with the rust-src component; without it, it would try to rustup-install
# it, so say --no-sysroot instead and warn that such uses go unseen.
sysroot=()
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
    echo "cycles: warning: no rust-src component: types inside std generics (Result, Option, Box, Vec...) are not followed" >&2
    sysroot=(--no-sysroot)
fi

# "package<TAB>--lib" or "package<TAB>--bin<TAB>name", one line per target.
targets="$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
wanted = set(sys.argv[1:])
for pkg in meta["packages"]:
    if pkg["id"] not in members or (wanted and pkg["name"] not in wanted):
        continue
    for t in pkg["targets"]:
        kinds = set(t["kind"])
        if kinds & {"lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro"}:
            print(pkg["name"], "--lib", sep="\t")
        elif "bin" in kinds:
            print(pkg["name"], "--bin", t["name"], sep="\t")
' "$@")"
[ -n "$targets" ] || { echo "cycles: no targets found for: ${*:-the workspace}" >&2; exit 2; }

graph="$(mktemp)"
trap 'rm -f "$graph" "$graph.err"' EXIT
failed=()
while IFS=$'\t' read -r pkg kind name; do
    what="$pkg ${kind#--}${name:+ $name}"
    if ! cargo modules dependencies --package "$pkg" "$kind" ${name:+"$name"} "${sysroot[@]}" \
            --layout dot > "$graph" 2> "$graph.err"; then
        echo "cycles: FAILED   $what: cargo-modules could not analyse it:" >&2
        sed 's/^/    /' "$graph.err" >&2
        failed+=("$what")
    elif python3 .ci/modcycles.py "$what" < "$graph"; then
        echo "cycles: ok       $what"
    else
        echo "cycles: FAILED   $what" >&2
        failed+=("$what")
    fi
    rm -f "$graph.err"
done <<< "$targets"

if [ "${#failed[@]}" -gt 0 ]; then
    printf -v list '%s, ' "${failed[@]}"
    echo "cycles: import cycles in: ${list%, }" >&2
    exit 1
fi
echo "cycles: no import cycles in $(wc -l <<< "$targets") targets"
