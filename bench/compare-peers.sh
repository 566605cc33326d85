#!/usr/bin/env bash
# bench/compare.sh with peers: called by it as
#
#   bench/compare-peers.sh PEER[,PEER...] REV [REV ...]
#
# In each of ROUNDS rounds, every build and then every peer (the order
# reversed every other round) is started fresh and measured by wrk -t1,
# ROUND_DURATION s per run (at c64 after WARMUP s of handshakes, which
# are subtracted: bench/peers.sh, measure): encrypt (64 B, AES-256-GCM) c64 and c1, the
# cheapest route c64 and c1, key create c8 (distinct names; OpenBao with
# its file audit device on), and the CPU each encrypt at c64 cost the
# server (minikms: its enclave process). Prints one markdown table of
# medians and, per build, the median per-round ratios the targets read.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
ROUND_DURATION=${ROUND_DURATION:-5}
IFS=, read -r -a peer_list <<<"${1:-}"
shift || true
if [ "${#peer_list[@]}" -eq 0 ] || [ $# -lt 1 ]; then
    echo "usage: bench/compare.sh --peers seed,cosmian,openbao REV [REV ...]" >&2
    exit 2
fi
if ! command -v wrk >/dev/null; then
    echo "bench/compare.sh --peers needs wrk: apt-get install wrk" >&2
    exit 1
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/peers.sh
source bench/peers.sh

# Peers that cannot run here are left out, each with its reason.
mapfile -t peers < <(runnable_peers "${peer_list[@]}")
build_revs "$@"

rows=$(mktemp)
trap 'if [ -n "${t_kind:-}" ]; then target_stop; fi; rm -f "$rows" "$rows.one"' EXIT

# Targets: "minikms:INDEX" per build, then the peers by name.
targets=()
for b in "${!dirs[@]}"; do targets+=("minikms:$b"); done
targets+=("${peers[@]}")
labels=("$@")

for r in $(seq "$ROUNDS"); do
    order=("${targets[@]}")
    if [ $((r % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[i]}"); done
    fi
    for t in "${order[@]}"; do
        if [ "${t%%:*}" = minikms ]; then
            label=${labels[${t#minikms:}]}
            [ "$label" = . ] && label=tree
            label=minikms@${label##*/}
            target_start minikms "${dirs[${t#minikms:}]}"
        else
            label=$t
            target_start "$t"
        fi
        # Not in a pipeline: a failing run must reach the EXIT trap.
        measure_all "$label" "$ROUND_DURATION" >"$rows.one"
        target_stop
        sed "s/^/$r /" "$rows.one" >>"$rows"
        sed "s/^/round $r: /" "$rows.one" >&2
    done
done
rm -f "$rows.one"

echo
echo "bench/compare.sh --peers: $ROUNDS alternating rounds of ${ROUND_DURATION} s per run, wrk -t1, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# Rows: ROUND LABEL OP C RATE P50_US ERRORS CPU_US.
awk '
    function median(v, n,   i, j, t, w) {
        for (i = 1; i <= n; i++) w[i] = v[i]
        for (i = 2; i <= n; i++) for (j = i; j > 1 && w[j - 1] > w[j]; j--) { t = w[j]; w[j] = w[j - 1]; w[j - 1] = t }
        return n % 2 ? w[(n + 1) / 2] : (w[n / 2] + w[n / 2 + 1]) / 2
    }
    # med(KEY, FIELD): the median over rounds; "" if never measured.
    function med(k, f,   n, v, r) {
        n = 0
        for (r = 1; r <= rounds; r++) if ((k, r) in rate) v[++n] = f == "rate" ? rate[k, r] : f == "p50" ? p50[k, r] : cpu[k, r]
        return n ? median(v, n) : ""
    }
    # ratio(A, B, FIELD): the median over rounds of A / B in the same round.
    function ratio(a, b, f,   n, v, r) {
        n = 0
        for (r = 1; r <= rounds; r++) if ((a, r) in rate && (b, r) in rate)
            v[++n] = f == "p50" ? p50[a, r] / p50[b, r] : rate[a, r] / rate[b, r]
        return n ? sprintf("%.2f×", median(v, n)) : "—"
    }
    function cell(k, f, fmt,   x) { x = med(k, f); return x == "" ? "—" : sprintf(fmt, x) }
    function run(k) { return cell(k, "rate", "%.0f/s") " (" cell(k, "p50", "%.0f µs") ")" }
    {
        k = $2 SUBSEP $3 SUBSEP $4
        rate[k, $1] = $5; p50[k, $1] = $6; cpu[k, $1] = $8; err[$2] += $7
        if ($1 > rounds) rounds = $1
        if (!($2 in seen)) { seen[$2] = 1; order[++nt] = $2 }
    }
    END {
        print "| target | encrypt c64 (p50) | encrypt c1 (p50) | cheapest c64 (p50) | cheapest c1 (p50) | key create c8 | CPU µs per encrypt c64 | errors |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nt; i++) {
            t = order[i]
            printf "| %s | %s | %s | %s | %s | %s | %s | %d |\n", t, run(t SUBSEP "encrypt" SUBSEP 64),
                run(t SUBSEP "encrypt" SUBSEP 1), run(t SUBSEP "cheapest" SUBSEP 64), run(t SUBSEP "cheapest" SUBSEP 1),
                cell(t SUBSEP "create" SUBSEP 8, "rate", "%.0f/s"), cell(t SUBSEP "encrypt" SUBSEP 64, "cpu", "%.1f"), err[t]
            if (med(t SUBSEP "encrypt-kmip" SUBSEP 64, "rate") != "")
                printf "| %s KMIP-JSON | %s | %s | | | | %s | |\n", t, run(t SUBSEP "encrypt-kmip" SUBSEP 64),
                    run(t SUBSEP "encrypt-kmip" SUBSEP 1), cell(t SUBSEP "encrypt-kmip" SUBSEP 64, "cpu", "%.1f")
        }
        print ""
        print "CPU: minikms, its enclave process; peers, their server process. Ratios: medians of per-round ratios."
        print ""
        print "| build | encrypt c64 / Cosmian JOSE (≥1.5) | c1 / JOSE (≥1.5) | c64 / Cosmian KMIP | c1 / KMIP | cheapest c64 / seed (≥1) | c1 / seed (≥1) | create / OpenBao (≥1) | encrypt c64 / OpenBao | encrypt c1 p50 (<120 µs) |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for (i = 1; i <= nt; i++) {
            t = order[i]
            if (t !~ /^minikms@/) continue
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t,
                ratio(t SUBSEP "encrypt" SUBSEP 64, "cosmian" SUBSEP "encrypt" SUBSEP 64),
                ratio(t SUBSEP "encrypt" SUBSEP 1, "cosmian" SUBSEP "encrypt" SUBSEP 1),
                ratio(t SUBSEP "encrypt" SUBSEP 64, "cosmian" SUBSEP "encrypt-kmip" SUBSEP 64),
                ratio(t SUBSEP "encrypt" SUBSEP 1, "cosmian" SUBSEP "encrypt-kmip" SUBSEP 1),
                ratio(t SUBSEP "cheapest" SUBSEP 64, "seed" SUBSEP "cheapest" SUBSEP 64),
                ratio(t SUBSEP "cheapest" SUBSEP 1, "seed" SUBSEP "cheapest" SUBSEP 1),
                ratio(t SUBSEP "create" SUBSEP 8, "openbao" SUBSEP "create" SUBSEP 8),
                ratio(t SUBSEP "encrypt" SUBSEP 64, "openbao" SUBSEP "encrypt" SUBSEP 64),
                cell(t SUBSEP "encrypt" SUBSEP 1, "p50", "%.0f µs")
            if (!first) first = t
            else printf "\n%s against %s: CPU per encrypt c64 %+.1f%% (target: -15%%)\n", t, first,
                (med(t SUBSEP "encrypt" SUBSEP 64, "cpu") / med(first SUBSEP "encrypt" SUBSEP 64, "cpu") - 1) * 100
        }
    }' "$rows"
if awk '$7 > 0 { bad = 1 } END { exit !bad }' "$rows"; then
    echo
    echo "some runs had errors (the rows above, 'errors'): their rates do not count" >&2
    exit 1
fi
