#!/bin/bash
# tests/run-suite.sh — README command (2): install, build, run every suite; last line
# "N passed, N failed" (TAP test cases over all suites, both builds; each fuzz target run
# counts as one test).
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)
bash tools/install-deps.sh || exit 1
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
run_build() { # name, configure flags...
    local name=$1; shift
    local dir="$SRC/build/$name"
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== $name: configure $*"
    if ! (cd "$dir" && "$SRC/configure" --quiet "$@" >configure.out 2>&1); then
        cat "$dir/configure.out"; failed=$((failed + 1)); return
    fi
    echo "== $name: build"
    if ! make -C "$dir" -j"$(nproc)" --quiet all >"$dir/build.out" 2>&1 ||
       ! make -C "$dir" -j"$(nproc)" --quiet check TESTS= >>"$dir/build.out" 2>&1; then
        cat "$dir/build.out"; failed=$((failed + 1)); return
    fi
    echo "== $name: test"
    make -C "$dir" -j2 check >"$dir/check.out" 2>&1
    grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/check.out" | grep -v '^PASS' || true
    for log in "$dir"/tests/*/*.log; do
        [ -f "$log" ] || continue
        grep -E '^(not ok|ERROR:|#.*(Traceback|Error))' "$log" | sed "s|^|  $(basename "$log"): |" | head -20
    done
    local p f
    p=$(cat "$dir"/tests/*/*.trs 2>/dev/null | grep -c '^:test-result: PASS' || true)
    f=$(cat "$dir"/tests/*/*.trs 2>/dev/null | grep -cE '^:test-result: (FAIL|ERROR|XPASS)' || true)
    echo "== $name: $p passed, $f failed"
    passed=$((passed + p)); failed=$((failed + f))
}
# bench/smoke.sh against the default build: loadgen (plain, STARTTLS, direct TLS, idle)
# against a fresh ternd on ports it picks; fails only when loadgen or ternd fails (no
# timing assertions). One test in the count.
run_bench_smoke() {
    local dir="$SRC/build/default"
    [ -x "$dir/ternd" ] || return 0 # the build failed: counted there
    echo "== bench-smoke"
    if make -C "$dir" --quiet bench-smoke >"$dir/bench-smoke.out" 2>&1; then
        echo "== bench-smoke: 1 passed, 0 failed"
        passed=$((passed + 1))
    else
        tail -30 "$dir/bench-smoke.out"
        echo "== bench-smoke: 0 passed, 1 failed"
        failed=$((failed + 1))
    fi
}
run_build default --enable-werror
run_bench_smoke
if [ "${TERN_SKIP_SANITIZERS:-0}" != 1 ]; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        run_build sanitizers --enable-werror --enable-sanitizers
fi
# Fuzz phase: libFuzzer targets built by clang in their own folder, each run FUZZ_SECONDS
# (default 30) from its seed corpus by tests/fuzz/run.sh; one passed/failed test per target.
run_fuzz() {
    local dir="$SRC/build/fuzz" start=$SECONDS
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== fuzz: configure CC=clang --enable-fuzz --enable-werror"
    if ! (cd "$dir" && "$SRC/configure" --quiet CC=clang --enable-fuzz --enable-werror >configure.out 2>&1); then
        cat "$dir/configure.out"; failed=$((failed + 1)); return
    fi
    echo "== fuzz: build"
    if ! make -C "$dir" -j"$(nproc)" --quiet fuzz-targets >"$dir/build.out" 2>&1; then
        grep -E 'error' "$dir/build.out" | head -30; failed=$((failed + 1)); return
    fi
    echo "== fuzz: run (${FUZZ_SECONDS:-30} s per target)"
    FUZZ_ARTIFACTS="$dir" bash "$SRC/tests/fuzz/run.sh" "$dir" >"$dir/run.out" 2>&1
    head -300 "$dir/run.out"
    local p f
    p=$(grep -c '^PASS:' "$dir/run.out" || true)
    f=$(grep -c '^FAIL:' "$dir/run.out" || true)
    echo "== fuzz: $p passed, $f failed ($((SECONDS - start)) s)"
    passed=$((passed + p)); failed=$((failed + f))
}
if [ "${TERN_SKIP_FUZZ:-0}" != 1 ]; then
    run_fuzz
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
