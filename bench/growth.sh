#!/usr/bin/env bash
# Key create against the store's size: each target is started fresh and
# fed key creates (c8, distinct names, wrk -t1 with bench/wrk.lua) in
# windows of WINDOW s until it holds the last of SIZES keys; at each size,
# the median rate of the SAMPLES windows from the first that starts at or
# past it.
#
#   bench/growth.sh REV [REV ...]                  # minikms builds (as compare.sh)
#   bench/growth.sh --peers openbao,cosmian REV    # peers beside them
#   SIZES="0 10000 50000 100000" WINDOW=5 SAMPLES=3 bench/growth.sh ...
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-0 10000 50000 100000}
WINDOW=${WINDOW:-5}
SAMPLES=${SAMPLES:-3}
read -r -a sizes <<<"$SIZES"
peer_list=()
if [ "${1:-}" = --peers ]; then
    IFS=, read -r -a peer_list <<<"${2:-}"
    shift 2 || shift
fi
if [ $# -lt 1 ] && [ "${#peer_list[@]}" -eq 0 ]; then
    echo "usage: bench/growth.sh [--peers openbao,cosmian] REV [REV ...]" >&2
    exit 2
fi
if ! command -v wrk >/dev/null; then
    echo "bench/growth.sh needs wrk: apt-get install wrk" >&2
    exit 1
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
# shellcheck source=bench/peers.sh
source bench/peers.sh
# Peers that cannot run here are left out, each with its reason.
mapfile -t targets < <(runnable_peers "${peer_list[@]}")
build_revs "$@"
trap 'if [ -n "${t_kind:-}" ]; then target_stop; fi' EXIT

# grow LABEL: one line, "| LABEL | RATE (at N keys) | ... | LAST / FIRST |",
# each RATE the median of the SAMPLES windows from the first at or past
# its size (one window moves by tens of percent on a shared machine).
grow() {
    local label=$1 held=0 next=0 res n secs errs line="| $1 |" first= last= at= rates=()
    while [ "$next" -lt "${#sizes[@]}" ]; do
        res=$(wrk_run 8 "$WINDOW" "$create_path" "$create_body" "$create_names")
        read -r n secs _ errs <<<"$res"
        if [ "$errs" -gt 0 ]; then
            echo "$label: $errs key creates failed at ~$held keys" >&2
            exit 1
        fi
        if [ "$held" -ge "${sizes[next]}" ]; then
            at=${at:-$held}
            rates+=("$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')")
            if [ "${#rates[@]}" -ge "$SAMPLES" ]; then
                last=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
                first=${first:-$last}
                line+=" $last/s ($at) |"
                echo "$label: $last/s at $at keys (windows: ${rates[*]})" >&2
                next=$((next + 1)) at= rates=()
            fi
        fi
        held=$((held + n))
    done
    echo "$line $(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.2f", a / b }') |"
}

header="| target |"
rule="|---|"
for s in "${sizes[@]}"; do header+=" at $s keys |"; rule+="---:|"; done
lines=()
labels=("$@")
for b in "${!dirs[@]}"; do
    label=${labels[b]}
    [ "$label" = . ] && label=tree
    target_start minikms "${dirs[b]}"
    lines+=("$(grow "minikms@${label##*/}")")
    target_stop
done
for p in "${targets[@]}"; do
    target_start "$p"
    lines+=("$(grow "$p")")
    target_stop
done

echo
echo "bench/growth.sh: key create c8, medians of $SAMPLES windows of $WINDOW s (the store's size when the first started), wrk -t1, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
echo "$header last / first |"
echo "$rule---:|"
printf '%s\n' "${lines[@]}"
