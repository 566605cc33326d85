#!/usr/bin/env bash
# Compares builds on this machine in alternating rounds: each round starts
# a fresh simulated server per build and runs `health` then `encrypt` (the
# order swapped every round), c64, ROUND_DURATION s each. It prints, per
# build, the medians of the encrypt / health ratio, of both rates, and of
# the CPU time each request cost the enclave and the load generator
# (from /proc/PID/stat and the shell's `times`). CPU per request drifts
# far less than rates on a shared VM, so small changes show there first.
#
#   bench/compare.sh REV [REV ...]     # git revisions; `.` = the working tree
#   bench/compare.sh 23ceb7e .         # e.g. the last session's end vs now
#   ROUNDS=10 ROUND_DURATION=4 OPS="health encrypt" bench/compare.sh ...
#
# With peers (or PEERS=seed,cosmian,openbao), every build and every peer
# is started fresh in each round and measured by the same load generator,
# wrk -t1 (bench/peers.sh): encrypt c64 and c1, the cheapest route c64 and
# c1, key create c8; one markdown table of medians, and the builds' ratios
# against the targets of issue 34:
#
#   bench/compare.sh --peers seed,cosmian,openbao 1f50e17 .
#
# Each revision is built (release, the three binaries) in its own git
# worktree and target dir under target/compare/, reused on later calls;
# `.` uses target/release, built as it is now; a directory holding
# kms-host, minikms and minikms-enclave is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

peers=${PEERS:-}
if [ "${1:-}" = --peers ]; then
    peers=${2:-}
    shift 2 || shift
fi
if [ -n "$peers" ]; then
    exec bench/compare-peers.sh "$peers" "$@"
fi

ROUNDS=${ROUNDS:-8}
ROUND_DURATION=${ROUND_DURATION:-4}
CONCURRENCY=${CONCURRENCY:-64}
read -r -a ops <<<"${OPS:-health encrypt}"
if [ $# -lt 1 ] || [ "${#ops[@]}" -ne 2 ]; then
    echo "usage: bench/compare.sh [--peers seed,cosmian,openbao] REV [REV ...]   (OPS names exactly two ops)" >&2
    exit 2
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
build_revs "$@"
rows=$(mktemp)
trap 'stop_server; rm -f "$rows"' EXIT

field() { sed -E "s/.*\"$1\":([0-9.]*).*/\1/" <<<"$2"; }
# User + system seconds of this shell's finished children, from `times`
# (a builtin: run it in this shell, not in a command substitution).
children_cpu() { awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] } print s }' "$1"; }

# One build, one round: "BUILD OP RATE ENCLAVE_US CLIENT_US" per op.
round() {
    local build=$1 bin=${dirs[$1]} order=("${@:2}")
    start_server "$bin"
    local op out c0 c1 t0 t1 n
    for op in "${order[@]}"; do
        c0=$(cpu_ticks "$enclave_pid")
        times >"$data/t0"
        MINIKMS_TOKEN=$token "$bin/minikms" --server "$url" \
            --enclave "$data/minikms-enclave.signed" --allow-simulation bench --op "$op" \
            --concurrency "$CONCURRENCY" --duration "$ROUND_DURATION" --json \
            >"$data/out" 2>"$data/err" || {
            echo "build $build: $op failed:" >&2
            cat "$data/out" "$data/err" >&2
            exit 1
        }
        times >"$data/t1"
        c1=$(cpu_ticks "$enclave_pid")
        out=$(cat "$data/out")
        t0=$(children_cpu "$data/t0")
        t1=$(children_cpu "$data/t1")
        n=$(field requests "$out")
        awk -v b="$build" -v op="$op" -v r="$(field ops_per_sec "$out")" -v n="$n" \
            -v e=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v c0="$t0" -v c1="$t1" \
            'BEGIN { printf "%s %s %.0f %.2f %.2f\n", b, op, r, e / hz * 1e6 / n, (c1 - c0) * 1e6 / n }'
    done
    stop_server
}

for r in $(seq "$ROUNDS"); do
    order=("${ops[@]}")
    if [ $((r % 2)) -eq 0 ]; then order=("${ops[1]}" "${ops[0]}"); fi
    for b in "${!dirs[@]}"; do
        # Not in a pipeline: a failing round must reach the EXIT trap.
        round "$b" "${order[@]}" >>"$rows"
        tail -n 2 "$rows" | sed "s/^/round $r: build /" >&2
    done
done

echo
echo "bench/compare.sh: $ROUNDS rounds of ${ROUND_DURATION} s per op, c$CONCURRENCY, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo "(medians; CPU µs per request: enclave / load generator)"
for b in "${!dirs[@]}"; do
    awk -v b="$b" -v rev="${@:b+1:1}" -v a="${ops[0]}" -v z="${ops[1]}" '
        function median(v, n,   i, j, t) {
            for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        }
        $1 == b && $2 == a { ra[++na] = $3; ea[na] = $4; ca[na] = $5 }
        $1 == b && $2 == z { rz[++nz] = $3; ez[nz] = $4; cz[nz] = $5 }
        END {
            # Round i ran both ops, whichever came first.
            for (i = 1; i <= nz; i++) ratio[i] = rz[i] / ra[i] * 100
            printf "%-14s %s/%s %.1f%%  %s %.0f/s (%.1f / %.1f µs)  %s %.0f/s (%.1f / %.1f µs)\n",
                rev, z, a, median(ratio, nz), a, median(ra, na), median(ea, na), median(ca, na),
                z, median(rz, nz), median(ez, nz), median(cz, nz)
        }' "$rows"
done
