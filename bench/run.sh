#!/usr/bin/env bash
# The standard benchmark suite: builds release, starts a fresh simulated
# server (new data dir, development root token), runs `minikms bench` for
# each operation, times `openssl genpkey` RSA-2048 for comparison, and
# prints one markdown table plus the peak resident memory (VmHWM) of the
# host and enclave processes.
#
#   bench/run.sh                 # 10 s per run
#   DURATION=3 bench/run.sh      # quicker, noisier
#   NO_BUILD=1 bench/run.sh      # use the release binaries as they are
#   PAIRS=9 PAIR_DURATION=4      # the encrypt / health ratio re-measured
#                                # in alternating pairs (default 7 x 4 s)
#
# The load generator runs on the same machine as the server: on a small
# machine they share the cores, and anything else running distorts the
# numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-64}

for tool in cargo openssl awk sed sort date; do
    if ! command -v "$tool" >/dev/null; then
        echo "bench/run.sh needs $tool, which is not installed" >&2
        exit 1
    fi
done

if [ -z "${NO_BUILD:-}" ]; then
    # Without minikms-fuzz, whose `fuzzing` feature the enclave would get.
    cargo build --release --workspace --bins --exclude minikms-fuzz >&2
fi
bin=target/release

# shellcheck source=bench/lib.sh
source bench/lib.sh
trap stop_server EXIT
start_server "$bin"
echo "server $url (host pid $host_pid, enclave pid ${enclave_pid:-?})" >&2

# Requests carry the token in a header; it is a throwaway development token.
export MINIKMS_TOKEN=$token
client=("$bin/minikms" --server "$url" --enclave "$data/minikms-enclave.signed"
    --allow-simulation)

field() { sed -E "s/.*\"$1\":(\"?)([^,\"}]*).*/\2/" <<<"$2"; }
num() { awk -v d="$1" -v x="$(field "$2" "$3")" 'BEGIN { printf("%." d "f", x) }'; }

rows=()
declare -A result
run() {
    local label=$1
    shift
    local out
    echo "bench: $label" >&2
    if ! out=$("${client[@]}" bench --duration "$DURATION" --json "$@"); then
        echo "bench: $label had errors" >&2
    fi
    if [ -z "$out" ]; then
        out='{"ops_per_sec":0,"items_per_sec":0,"p50_ms":0,"p90_ms":0,"p99_ms":0,"max_ms":0,"errors":"failed"}'
    fi
    result[$label]=$out
    rows+=("| $label | $(num 0 ops_per_sec "$out") | $(num 0 items_per_sec "$out") | $(num 2 p50_ms "$out") | $(num 2 p90_ms "$out") | $(num 2 p99_ms "$out") | $(num 2 max_ms "$out") | $(field errors "$out") |")
}

c=$CONCURRENCY
run "health c$c" --op health --concurrency "$c"
run "encrypt aes256-gcm96 64 B c$c" --op encrypt --concurrency "$c"
run "encrypt batch 1000 x 64 B c4" --op encrypt --batch 1000 --concurrency 4
run "decrypt aes256-gcm96 64 B c$c" --op decrypt --concurrency "$c"
run "decrypt batch 1000 x 64 B c4" --op decrypt --batch 1000 --concurrency 4
run "datakey c$c" --op datakey --concurrency "$c"
run "sign ecdsa-p256 c$c" --op sign --key-type ecdsa-p256 --concurrency "$c"
run "sign ed25519 c$c" --op sign --key-type ed25519 --concurrency "$c"
run "sign rsa-2048 c$c" --op sign --key-type rsa-2048 --concurrency "$c"
run "verify ecdsa-p256 c$c" --op verify --key-type ecdsa-p256 --concurrency "$c"
run "generate-aes-key c$c" --op generate-aes-key --concurrency "$c"
run "generate-rsa-key-pair c1" --op generate-rsa-key-pair --concurrency 1
run "generate-rsa-key-pair c$c" --op generate-rsa-key-pair --concurrency "$c"
run "attest c8" --op attest --concurrency 8
run "new attested connection + health c1" --op health --new-connections --concurrency 1
run "new attested connection + health c8" --op health --new-connections --concurrency 8

# encrypt / health again, from alternating pairs of shorter runs: rates on
# a shared VM drift by 10-20% between runs, so one pair can mislead; the
# median of several, each pair's order swapped from the last, drifts less.
PAIRS=${PAIRS:-7}
PAIR_DURATION=${PAIR_DURATION:-4}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }

pair_ratios=()
for i in $(seq "$PAIRS"); do
    echo "bench: encrypt / health pair $i of $PAIRS" >&2
    declare -A pair=()
    order="health encrypt"
    if [ $((i % 2)) -eq 0 ]; then order="encrypt health"; fi
    for op in $order; do
        if ! out=$("${client[@]}" bench --duration "$PAIR_DURATION" --json --op "$op" --concurrency "$c"); then
            echo "bench: $op in pair $i had errors" >&2
        fi
        pair[$op]=$(field ops_per_sec "$out")
    done
    pair_ratios+=("$(ratio "${pair[encrypt]}" "${pair[health]}")")
done
# `sort -n` reads the number before the `%`.
pairs_sorted=$(printf '%s\n' "${pair_ratios[@]}" | sort -n | paste -sd, - | sed 's/,/, /g')
pairs_median=$(printf '%s\n' "${pair_ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Peak memory under connection load, before create-key fills the store:
# every key then lives (unsealed) in enclave memory, so that peak grows
# with the number of keys made, which is reported separately.
host_hwm=$(hwm "$host_pid")
enclave_hwm=0
if [ -n "$enclave_pid" ]; then enclave_hwm=$(hwm "$enclave_pid"); fi
run "create-key aes256-gcm96 c$c" --op create-key --concurrency "$c"
keys_made=$(field requests "${result["create-key aes256-gcm96 c$c"]}")
enclave_hwm_keys=0
if [ -n "$enclave_pid" ]; then enclave_hwm_keys=$(hwm "$enclave_pid"); fi

# openssl genpkey RSA-2048, 20 runs, each timed as a whole process.
times=()
for _ in $(seq 20); do
    t0=$(date +%s%N)
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out /dev/null 2>/dev/null
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000)))
done
openssl_p50=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}')


echo
echo "minikms bench, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"
echo "$(nproc) cores ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), load average $(cut -d' ' -f1-3 /proc/loadavg), ${DURATION} s per run, client on the same machine"
echo
echo "| run | ops/s | items/s | p50 ms | p90 ms | p99 ms | max ms | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
h=$(field ops_per_sec "${result["health c$c"]}")
e=$(field ops_per_sec "${result["encrypt aes256-gcm96 64 B c$c"]}")
echo "- encrypt / health: $(ratio "$e" "$h") in the table's runs; $PAIRS alternating pairs of $PAIR_DURATION s: $pairs_sorted (median $pairs_median) (target >= 80%)"
echo "- encrypt batch items/s: $(num 0 items_per_sec "${result["encrypt batch 1000 x 64 B c4"]}") (target >= 300000)"
echo "- generate-rsa-key-pair p50 (c1): $(field p50_ms "${result["generate-rsa-key-pair c1"]}") ms; openssl genpkey RSA-2048 p50 (20 runs, whole process): $openssl_p50 ms"
echo "- new attested connection + health p50 (c1): $(field p50_ms "${result["new attested connection + health c1"]}") ms (target <= 5)"
echo "- create-key ops/s: $(num 0 ops_per_sec "${result["create-key aes256-gcm96 c$c"]}") (target >= 500, fsync on)"
echo "- peak RSS (VmHWM) through the runs above create-key: host $((host_hwm / 1024)) MiB, enclave $((enclave_hwm / 1024)) MiB (target enclave <= 64 MiB)"
echo "- enclave peak RSS after create-key made ${keys_made:-?} keys: $((enclave_hwm_keys / 1024)) MiB"
