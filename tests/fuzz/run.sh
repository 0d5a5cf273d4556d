#!/bin/bash
# tests/fuzz/run.sh — run each libFuzzer target for FUZZ_SECONDS from a temporary copy of its
# seed corpus (plus its regressions); exit 1 when any target crashed, printing the input in hex.
#
# usage: tests/fuzz/run.sh [BUILDDIR [TARGET...]]
#   BUILDDIR  a build configured with CC=clang --enable-fuzz (default: $TERN_BUILDDIR, else
#             build/fuzz), after `make fuzz-targets`
#   TARGET    e.g. fuzz_jid (default: all)
# env: FUZZ_SEED (1: CI explores the same inputs every run; 0 = random) FUZZ_SECONDS (30) per target; FUZZ_JOBS (nproc) targets side by side; FUZZ_ARGS more
#      libFuzzer flags (e.g. "-jobs=4 -workers=4"); FUZZ_KEEP=DIR keeps the grown corpora there.
# Last lines: one "PASS: <target> ..." or "FAIL: <target> ..." per target (tests/run-suite.sh
# counts them).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${TERN_BUILDDIR:-$SRC/build/fuzz}}
[ $# -gt 0 ] && shift
ALL=(fuzz_xml_stream fuzz_xml_differential fuzz_jid fuzz_sasl fuzz_srv fuzz_dialback
     fuzz_framed fuzz_bosh_body)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")
SECS=${FUZZ_SECONDS:-30}
JOBS=${FUZZ_JOBS:-$(nproc)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tern-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

run_one() {
    local t=$1 bin="$BUILD/tests/fuzz/$1" dir="$WORK/$1"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ ! -x "$bin" ]; then
        echo "no $bin (configure CC=clang --enable-fuzz; make fuzz-targets)" >"$dir/log"
        echo 127 >"$dir/rc"
        return
    fi
    cp -p "$SRC/tests/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null
    local extra=()
    [ -d "$SRC/tests/fuzz/regressions/$t" ] && extra+=("$SRC/tests/fuzz/regressions/$t")
    local start=$SECONDS
    # fatal-criticals: a g_return_if_fail reached from input is a bug too
    G_DEBUG=fatal-criticals G_SLICE=always-malloc \
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$SECS" -dict="$SRC/tests/fuzz/xmpp.dict" -max_len=4096 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        ${FUZZ_ARGS:-} "$dir/corpus" "${extra[@]}" >"$dir/log" 2>&1
    echo $? >"$dir/rc"
    echo $((SECONDS - start)) >"$dir/secs"
    if [ -n "${FUZZ_KEEP:-}" ]; then
        mkdir -p "$FUZZ_KEEP/$t" && cp -p "$dir/corpus"/* "$FUZZ_KEEP/$t/" 2>/dev/null
    fi
}

running=0
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
for t in "${TARGETS[@]}"; do
    dir="$WORK/$t"
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    log="$dir/log"
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
    if [ "$rc" = 0 ]; then
        echo "PASS: $t: ${runs:-?} runs in $(cat "$dir/secs")s, ${cov:-no stats}"
        continue
    fi
    failed=$((failed + 1))
    echo "FAIL: $t (exit $rc), log:"
    grep -E -A30 '^==[0-9]+==ERROR|^==== fuzz invariant|runtime error:|^ERROR:' "$log" |
        grep -vE '^ +#[0-9]+ 0x[0-9a-f]+ in (fuzzer::|__libc|_start|main )' | head -60 | sed 's/^/    /'
    [ -s "$log" ] && ! grep -qE 'ERROR|invariant' "$log" && tail -20 "$log" | sed 's/^/    /'
    for a in "$dir/artifacts"/*; do
        [ -f "$a" ] || continue
        echo "  input $(basename "$a") ($(stat -c %s "$a") bytes), hex:"
        od -An -tx1 -v "$a" | head -64 | sed 's/^/   /'
        echo "  keep it: cp <that file> tests/fuzz/regressions/$t/<name-of-the-bug>"
        cp "$a" "${FUZZ_ARTIFACTS:-$SRC/build}/$t-$(basename "$a")" 2>/dev/null &&
            echo "  (copied to ${FUZZ_ARTIFACTS:-$SRC/build}/$t-$(basename "$a"))"
    done
done
[ "$failed" -eq 0 ]
