#!/usr/bin/env bash
# Replicas on one PostgreSQL database: starts a throwaway PostgreSQL
# (scripts/postgres.sh) and three replicas (release build), then measures
# encrypt and create-key with the load spread over 1, 2 and 3 replicas,
# and the CPU seconds each kind of process used during each run (where the
# cost goes). Prints one markdown table.
#
#   bench/replicas.sh               # 10 s per run
#   DURATION=3 bench/replicas.sh    # quicker, noisier
#   NO_BUILD=1 bench/replicas.sh    # use the release binaries as they are
#   bench/replicas.sh far           # one replica 0, 1 and 3 ms from PostgreSQL
#
# `far`: a second replica joins the first, its PostgreSQL connections
# through the test kit's delay-proxy (adds DELAYS ms to each round trip;
# 0: direct), and is measured alone: encrypt c64 and c1, `GET
# /v1/sys/health` c1 (curl, one connection) and create-key c1, with the
# round trips per create counted by the proxy (load-independent).
#
# Everything (PostgreSQL, replicas, load generator) shares this machine's
# cores: throughput cannot grow with replicas here; see docs/replicas.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}

if [ -z "${NO_BUILD:-}" ]; then
    cargo build --release --workspace --bins --exclude minikms-fuzz >&2
fi
# BIN_DIR=target/debug NO_BUILD=1: the debug binaries (round trip counts
# do not depend on the build; rates do).
bin=${BIN_DIR:-target/release}
# shellcheck source=bench/lib.sh
source bench/lib.sh

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg=$(bash scripts/postgres.sh start "$port")
pg_dir=$(head -1 <<<"$pg")
pg_url=$(tail -1 <<<"$pg")
urls=() pids=() dirs=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    for d in "${dirs[@]}"; do rm -rf "$d"; done
    bash scripts/postgres.sh stop "$pg_dir"
}
trap cleanup EXIT

start_server "$bin" --storage "$pg_url"
urls+=("$url") pids+=("$host_pid") dirs+=("$data")
signing_key=${dirs[0]}/dev-signing-key.pem
if [ "${1:-}" = far ]; then
    # shellcheck source=bench/replicas-far.sh
    source bench/replicas-far.sh
    exit
fi
for _ in 2 3; do
    start_server "$bin" --storage "$pg_url" --join "${urls[0]}"
    urls+=("$url") pids+=("$host_pid") dirs+=("$data")
done
echo "replicas: ${urls[*]} on $pg_url" >&2
export MINIKMS_TOKEN=$token

# CPU seconds (user + system) of processes: the replicas' enclaves, the
# hosts, PostgreSQL (every process of its user or cluster).
# Seconds, from utime + stime in /proc/PID/stat (clock ticks).
cpu_of() {
    local hz p
    hz=$(getconf CLK_TCK)
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] && sed -E 's/^.*\) //' "/proc/$p/stat" | awk '{print $12 + $13}'
    done | awk -v hz="$hz" '{s += $1} END {printf "%.2f", s / hz}'
}
enclaves() { for p in "${pids[@]}"; do pgrep -P "$p"; done | tr '\n' ' '; }
postgres() {
    local pm
    pm=$(head -1 "$pg_dir/data/postmaster.pid")
    echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}

field() { sed -E "s/.*\"$1\":(\"?)([^,\"}]*).*/\2/" <<<"$2"; }
rows=()
run() {
    local n=$1 label=$2
    shift 2
    local others=() i out e0 p0 e1 p1
    for ((i = 1; i < n; i++)); do others+=(--replica "${urls[$i]}"); done
    e0=$(cpu_of $(enclaves)) p0=$(cpu_of $(postgres))
    echo "bench: $label on $n replica(s)" >&2
    out=$("$bin/minikms" --server "${urls[0]}" --enclave "${dirs[0]}/minikms-enclave.signed" \
        --allow-simulation bench --duration "$DURATION" --json "$@" "${others[@]}") || true
    e1=$(cpu_of $(enclaves)) p1=$(cpu_of $(postgres))
    rows+=("| $label | $n | $(printf %.0f "$(field ops_per_sec "$out")") | $(field p50_ms "$out") | $(field p99_ms "$out") | $(field errors "$out") | $(awk -v a="$e0" -v b="$e1" -v d="$DURATION" 'BEGIN{printf "%.2f", (b-a)/d}') | $(awk -v a="$p0" -v b="$p1" -v d="$DURATION" 'BEGIN{printf "%.2f", (b-a)/d}') |")
}

c=$CONCURRENCY
for n in 1 2 3; do
    run "$n" "encrypt aes256-gcm96 64 B c$c" --op encrypt --concurrency "$c"
    run "$n" "create-key c$c" --op create-key --concurrency "$c"
done

echo "| run | replicas | ops/s | p50 ms | p99 ms | errors | enclave cores | postgres cores |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
