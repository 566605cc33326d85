#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and trials: Debian's package,
# run in a temporary directory by an unprivileged user (the `postgres`
# user when run as root), on loopback only; no system service.
#
#   scripts/postgres.sh install          # installs Debian's postgresql if missing
#   scripts/postgres.sh start PORT       # prints DIR and URL (two lines); DIR in $TMPDIR
#   scripts/postgres.sh stop DIR         # fast shutdown, then removes DIR
#   scripts/postgres.sh kill DIR         # SIGKILL (a crash); DIR is kept
#   scripts/postgres.sh restart DIR PORT # starts it again on DIR
#   scripts/postgres.sh bindir           # where initdb, pg_dump... are
set -euo pipefail

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
    done
    return 1
}

install() {
    if bindir >/dev/null; then return 0; fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
            echo "postgres.sh: PostgreSQL is not installed, and installing it needs root: run 'apt-get install postgresql' as root" >&2
            exit 2
        fi
    fi
    # Tests start servers in parallel: one apt-get at a time.
    (
        flock 9
        if ! bindir >/dev/null; then
            $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2 \
                || { $sudo apt-get update -q >&2 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2; }
        fi
    ) 9>/tmp/minikms-postgres-install.lock
    bindir >/dev/null || { echo "postgres.sh: installing postgresql failed" >&2; exit 2; }
}

# Runs a PostgreSQL program as the unprivileged owner of the cluster, from
# /: the postgres user may not enter the caller's directory (mktemp -d
# makes it mode 0700), and initdb and pg_ctl stop where they cannot.
as_owner() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

start_in() {
    local dir="$1" port="$2" bin
    bin="$(bindir)"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null
}

case "${1:-}" in
    install) install ;;
    bindir) bindir ;;
    start)
        port="${2:?usage: postgres.sh start PORT}"
        install
        dir="$(mktemp -d "${TMPDIR:-/tmp}/minikms-pg.XXXXXX")"
        chmod 755 "$dir"
        if [ "$(id -u)" = 0 ]; then
            chown postgres: "$dir"
            if ! runuser -u postgres -- test -x "$dir"; then
                rm -rf "$dir"
                echo "postgres.sh: the postgres user cannot enter $dir (a directory above it is private, mode 0700?): set TMPDIR to a directory it can reach, e.g. TMPDIR=/tmp" >&2
                exit 2
            fi
        fi
        as_owner "$(bindir)/initdb" -D "$dir/data" -A trust -U minikms --no-sync >/dev/null
        start_in "$dir" "$port"
        as_owner "$(bindir)/createdb" -h 127.0.0.1 -p "$port" -U minikms minikms
        echo "$dir"
        echo "postgres://minikms@127.0.0.1:$port/minikms"
        ;;
    stop)
        dir="${2:?usage: postgres.sh stop DIR}"
        as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$dir"
        ;;
    kill)
        dir="${2:?usage: postgres.sh kill DIR}"
        pid="$(head -1 "$dir/data/postmaster.pid")"
        # The whole server at once, as a machine crash would: the
        # postmaster and every backend.
        children="$(pgrep -P "$pid" || true)"
        kill -KILL "$pid" $children 2>/dev/null || true
        for p in "$pid" $children; do
            for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        done
        ;;
    restart)
        dir="${2:?usage: postgres.sh restart DIR PORT}"
        port="${3:?usage: postgres.sh restart DIR PORT}"
        start_in "$dir" "$port"
        ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
