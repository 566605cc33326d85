# Sourced by bench/replicas.sh far (with bin, pg_url, urls, dirs, pids,
# token, DURATION set): one replica at each added round trip in DELAYS.
DELAYS=${DELAYS:-0 1 3}
export MINIKMS_TOKEN=$token
pg_addr=$(sed -E 's|.*@([^/]*)/.*|\1|' <<<"$pg_url")
field() { sed -E "s/.*\"$1\":(\"?)([^,\"}]*).*/\2/" <<<"$2"; }
bench_on() {
    "$bin/minikms" --server "$1" --enclave "${dirs[0]}/minikms-enclave.signed" \
        --allow-simulation bench --duration "$DURATION" --json "${@:2}" || true
}
# health_c1 URL N: "ops/s p50_ms" of N `GET /v1/sys/health` on one connection.
health_c1() {
    local args=() i
    for ((i = 0; i <= $2; i++)); do args+=(-o /dev/null "$1/v1/sys/health"); done
    curl -sk -w '%{time_total} %{time_appconnect}\n' "${args[@]}" | tail -n +2 |
        python3 -c 'import sys, statistics as s
t = [float(l.split()[0]) for l in sys.stdin]
print("%.0f %.2f" % (len(t) / sum(t), s.median(t) * 1000))'
}
rows=()
for ms in $DELAYS; do
    storage=$pg_url proxy_pid=
    if [ "$ms" != 0 ]; then
        coproc PROXY { "$bin/delay-proxy" 127.0.0.1:0 "$pg_addr" "$ms"; }
        proxy_pid=$PROXY_PID
        read -r line <&"${PROXY[0]}"
        storage=${pg_url/@$pg_addr\//@${line#listening on }/}
    fi
    start_server "$bin" --storage "$storage" --join "${urls[0]}"
    far_pid=$host_pid far_data=$data
    echo "bench: a replica $ms ms from PostgreSQL: $url" >&2
    enc64=$(bench_on "$url" --op encrypt --concurrency 64)
    enc1=$(bench_on "$url" --op encrypt --concurrency 1)
    read -r health_rate health_p50 < <(health_c1 "$url" 500)
    turns=
    if [ -n "$proxy_pid" ]; then
        echo >&"${PROXY[1]}"
        read -r turns0 <&"${PROXY[0]}"
    fi
    create=$(bench_on "$url" --op create-key --concurrency 1)
    if [ -n "$proxy_pid" ]; then
        echo >&"${PROXY[1]}"
        read -r turns1 <&"${PROXY[0]}"
        turns=$(awk -v a="$turns0" -v b="$turns1" -v n="$(field requests "$create")" \
            'BEGIN{printf "%.2f", (b-a)/n}')
    fi
    rows+=("| $ms | $(printf %.0f "$(field ops_per_sec "$enc64")") / $(field p50_ms "$enc64") | $(printf %.0f "$(field ops_per_sec "$enc1")") / $(field p50_ms "$enc1") | $health_rate / $health_p50 | $(printf %.0f "$(field ops_per_sec "$create")") / $(field p50_ms "$create") | ${turns:-n/a} |")
    kill -TERM "$far_pid" 2>/dev/null || true
    wait "$far_pid" 2>/dev/null || true
    rm -rf "$far_data"
    if [ -n "$proxy_pid" ]; then
        kill "$proxy_pid" 2>/dev/null || true
        wait "$proxy_pid" 2>/dev/null || true
    fi
done
echo "| added RT ms | encrypt c64 ops/s / p50 ms | encrypt c1 ops/s / p50 ms | sys/health c1 ops/s / p50 ms | create-key c1 ops/s / p50 ms | RTs per create |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
