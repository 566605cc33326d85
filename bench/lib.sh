# Sourced by the bench scripts: the builds to compare, a fresh simulated
# server, and its end.

# build_revs REV...: sets `dirs` to each build's binaries, in the order
# given. A git revision is built (release, the three binaries) in its own
# worktree and target dir under target/compare/, reused on later calls;
# `.` is target/release, built as the tree is now; a directory holding
# kms-host is used as it is.
build_revs() {
    local rev sha tree
    dirs=()
    for rev in "$@"; do
        if [ "$rev" = . ]; then
            cargo build --release -p minikms-host -p minikms-client -p minikms-enclave --bins >&2
            dirs+=("$PWD/target/release")
            continue
        fi
        if [ -x "$rev/kms-host" ]; then
            dirs+=("$(cd "$rev" && pwd)")
            continue
        fi
        sha=$(git rev-parse --short=12 "$rev^{commit}")
        tree=target/compare/src-$sha
        if [ ! -e "$tree/.git" ]; then
            # A worktree deleted with target/ is still registered until pruned.
            git worktree prune
            git worktree add --detach "$tree" "$sha" >&2
        fi
        (cd "$tree" && CARGO_TARGET_DIR="$PWD/../target-$sha" \
            cargo build --release -p minikms-host -p minikms-client -p minikms-enclave --bins >&2)
        dirs+=("$PWD/target/compare/target-$sha/release")
    done
}

# start_server BIN_DIR [ARGS...]: starts BIN_DIR/kms-host on a free port
# with a new data dir, a throwaway development root token (`token`, kept
# if already set) and ARGS; with `signing_key` set, the enclave is signed
# with that key (replicas must share their signer); sets `data`, `token`, `url`, `host_pid` and
# `enclave_pid`. Exits, with the host's errors, if the server does not
# come up.
start_server() {
    local bin=$1 line
    shift
    data=$(mktemp -d)
    if [ -n "${signing_key:-}" ]; then cp "$signing_key" "$data/dev-signing-key.pem"; fi
    token=${token:-bench-$(openssl rand -hex 16)}
    "$bin/kms-host" run --simulation --port 0 --data-dir "$data" \
        --dev-root-token "$token" "$@" >"$data/host.out" 2>"$data/host.err" &
    host_pid=$!
    url=
    for _ in $(seq 600); do
        line=$(head -n1 "$data/host.out" 2>/dev/null || true)
        case "$line" in
            "listening on https://"*) url=${line#listening on }; break ;;
        esac
        if ! kill -0 "$host_pid" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ -z "$url" ]; then
        echo "the server did not start:" >&2
        cat "$data/host.err" >&2
        exit 1
    fi
    enclave_pid=$(pgrep -P "$host_pid" | head -n1 || true)
}

# stop_server: stops the host (the enclave with it) and removes the data dir.
stop_server() {
    if [ -n "${host_pid:-}" ] && kill -0 "$host_pid" 2>/dev/null; then
        kill -TERM "$host_pid" 2>/dev/null || true
        wait "$host_pid" 2>/dev/null || true
    fi
    host_pid=
    if [ -n "${data:-}" ]; then rm -rf "$data"; fi
    data=
}

# cpu_ticks PID: the user + system clock ticks PID has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
