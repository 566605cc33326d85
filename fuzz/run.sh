#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 10), one after another,
# and prints what libFuzzer reported at the end of each run: executions/s
# and coverage (cov: edges, ft: features). New inputs go to a scratch
# corpus, not into fuzz/corpus: add a finding there by hand, with its fix.
# Needs a nightly toolchain and cargo-fuzz; without them it says what is
# missing and exits 0 (the stable corpus replay runs in `cargo test`).
# Exits 1 if a target crashed; the input is in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh 60                 # every target, a minute each
#   fuzz/run.sh 60 store_open ...  # just these
set -uo pipefail
cd "$(dirname "$0")"
seconds=${1:-10}
shift || true
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz/run.sh: no nightly toolchain (rustup toolchain install nightly); skipping"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is missing (cargo install cargo-fuzz --locked); skipping"
    exit 0
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# The code is safe Rust (unsafe_code is denied), so no sanitizer: the
# build is shorter and each run several times faster; panics, overflows
# (debug assertions are on), timeouts and running out of memory are what
# is found. Every target shares this one build.
flags=(--sanitizer none)
nice -n 19 cargo +nightly fuzz build "${flags[@]}" || exit 1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
printf '%-14s %10s %8s %8s %s\n' target exec/s cov ft result
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "corpus/$t"
    # A store file is large; every other input is kept small.
    max_len=4096
    [ "$t" = store_open ] && max_len=2000000
    log="$scratch/$t.log"
    nice -n 19 cargo +nightly fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -1)
    result=ok
    if [ $rc -ne 0 ]; then
        result="CRASH (rc $rc): see fuzz/artifacts/$t/"
        failed=1
        grep -E 'panicked at|ERROR: libFuzzer' "$log" | head -3
    fi
    printf '%-14s %10s %8s %8s %s\n' "$t" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
exit $failed
