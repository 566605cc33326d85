#!/usr/bin/env bash
# Where the enclave's CPU goes, per request. Builds a release with frame
# pointers (target/profile), starts a fresh simulated server, and for each
# op samples the enclave process with `perf record -g` while `minikms
# bench` loads it (c64). Per op it writes target/profile/perf-OP.data and
# a flamegraph target/profile/flame-OP.svg, and prints the functions with
# the most self time in µs of enclave CPU per request; given two ops, also
# the functions that cost the second op most over the first.
#
#   bench/profile.sh                          # health, then encrypt
#   OPS="encrypt decrypt" DURATION=8 bench/profile.sh
#   NO_FLAMEGRAPH=1 bench/profile.sh          # skip the SVGs
#
# Sampling with call graphs costs time of its own (thread switches most),
# so the rates here are lower than bench/run.sh's: compare the functions,
# not the totals. Needs `perf` (the Debian package linux-perf, installed
# here if missing) and permission to trace (root, or
# kernel.perf_event_paranoid <= 1). The flamegraphs use inferno, which is
# installed into target/profile/tools on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-6}
FREQ=${FREQ:-1999}
TOP=${TOP:-25}
read -r -a ops <<<"${OPS:-health encrypt}"
out_dir=target/profile

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v perf >/dev/null || ! perf --version >/dev/null 2>&1; then
    echo "bench/profile.sh: installing perf (Debian package linux-perf)" >&2
    sudo_if_needed apt-get update >&2
    sudo_if_needed apt-get install -y linux-perf >&2
fi
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 2)
if [ "$(id -u)" -ne 0 ] && [ "$paranoid" -gt 1 ]; then
    echo "bench/profile.sh: perf may not trace processes here: run as root, or" \
        "sudo sysctl kernel.perf_event_paranoid=1" >&2
    exit 1
fi
flamegraph=
if [ -z "${NO_FLAMEGRAPH:-}" ]; then
    tools=$PWD/$out_dir/tools/bin
    if [ ! -x "$tools/inferno-flamegraph" ]; then
        echo "bench/profile.sh: installing inferno into $out_dir/tools" >&2
        cargo install --locked --quiet --root "$out_dir/tools" inferno >&2
    fi
    flamegraph=$tools
fi

CARGO_TARGET_DIR=$out_dir RUSTFLAGS="-C force-frame-pointers=yes" \
    cargo build --release -p minikms-host -p minikms-client -p minikms-enclave --bins >&2
bin=$out_dir/release

# shellcheck source=bench/lib.sh
source bench/lib.sh
trap stop_server EXIT
start_server "$bin"
export MINIKMS_TOKEN=$token
client=("$bin/minikms" --server "$url" --enclave "$data/minikms-enclave.signed" --allow-simulation)

# Self time per function, in µs of CPU per request: "US<TAB>DSO SYMBOL".
self_us() {
    perf report -i "$1" --no-children --sort dso,sym --stdio -n 2>/dev/null |
        awk -v f="$FREQ" -v n="$2" '
            /^ *[0-9.]+%/ { key = $3; for (i = 4; i <= NF; i++) key = key " " $i
                            printf "%.3f\t%s\n", $2 / f / n * 1e6, key }'
}

for op in "${ops[@]}"; do
    echo "bench/profile.sh: $op" >&2
    # Warm up (connections, the key, the RSA pool), then sample the middle
    # DURATION seconds of a longer run.
    "${client[@]}" bench --op "$op" --concurrency 64 --duration 1 --json >/dev/null 2>&1
    "${client[@]}" bench --op "$op" --concurrency 64 --duration $((DURATION + 2)) --json \
        >"$data/$op.json" 2>"$data/$op.err" &
    bench_pid=$!
    sleep 1
    perf record -F "$FREQ" -g -p "$enclave_pid" -o "$out_dir/perf-$op.data" -- sleep "$DURATION" \
        >/dev/null 2>"$data/perf.err" || { cat "$data/perf.err" >&2; exit 1; }
    wait "$bench_pid" || { cat "$data/$op.err" >&2; exit 1; }
    rate=$(sed -E 's/.*"ops_per_sec":([0-9.]*).*/\1/' "$data/$op.json")
    requests=$(awk -v r="$rate" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')
    self_us "$out_dir/perf-$op.data" "$requests" >"$data/$op.self"
    if [ -n "$flamegraph" ]; then
        perf script -i "$out_dir/perf-$op.data" 2>/dev/null | "$flamegraph/inferno-collapse-perf" |
            "$flamegraph/inferno-flamegraph" --title "minikms enclave: $op, c64" \
                >"$out_dir/flame-$op.svg"
    fi
    total=$(awk -F'\t' '{ s += $1 } END { printf "%.1f", s }' "$data/$op.self")
    echo
    echo "## $op: ${rate%.*} requests/s under perf; enclave CPU ${total} µs per request"
    echo "(self time, µs per request; $out_dir/perf-$op.data${flamegraph:+, $out_dir/flame-$op.svg})"
    head -n "$TOP" "$data/$op.self"
done

if [ "${#ops[@]}" -eq 2 ]; then
    a=${ops[0]} b=${ops[1]}
    echo
    echo "## what $b costs over $a (µs per request, self time: $a, $b, difference)"
    awk -F'\t' 'FNR == NR { x[$2] = $1; next } { y[$2] = $1 }
        END { for (k in x) if (!(k in y)) y[k] = 0
              for (k in y) printf "%.3f\t%.3f\t%+.3f\t%s\n", x[k] + 0, y[k], y[k] - x[k], k }' \
        "$data/$a.self" "$data/$b.self" | sort -t"$(printf '\t')" -k3,3gr | head -n "$TOP"
fi
