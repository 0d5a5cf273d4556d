#!/bin/bash
# bench/smoke.sh — `make bench-smoke`: a fresh ternd from the build folder on free loopback
# ports (temp config and data), bench/loadgen for 10 s plus two short TLS runs, ternd stopped
# by its pid. Fails only when loadgen itself fails (no timing assertions).
set -uo pipefail
B=${TERN_BUILDDIR:-$(pwd)}
TERND=$B/ternd
LOADGEN=$B/bench/loadgen
for f in "$TERND" "$LOADGEN"; do
    [ -x "$f" ] || { echo "bench-smoke: $f is not built" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/tern-bench-smoke.XXXXXX)
PID=
cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# Port 0: the kernel picks free ports, ternd logs them (no race with other test runs).
cat >"$TMP/ternd.conf" <<CONF
[server]
domains = localhost
data_dir = data
certificates = certs
log_level = message
[c2s]
listen = 127.0.0.1:0
direct_tls = 127.0.0.1:0
require_tls = false
allow_register = true
register_interval = 0
[s2s]
enabled = false
listen =
[components]
listen =
[http]
listen =
[limits]
c2s_connections_per_ip = 1000000
CONF
"$TERND" -c "$TMP/ternd.conf" >"$TMP/ternd.log" 2>&1 &
PID=$!

STARTTLS_PORT= DIRECT_PORT=
for _ in $(seq 100); do
    STARTTLS_PORT=$(sed -n 's/.*c2s listening on .*(STARTTLS), port \([0-9]*\).*/\1/p' "$TMP/ternd.log")
    DIRECT_PORT=$(sed -n 's/.*c2s listening on .*(direct TLS), port \([0-9]*\).*/\1/p' "$TMP/ternd.log")
    [ -n "$STARTTLS_PORT" ] && [ -n "$DIRECT_PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$STARTTLS_PORT" ] || [ -z "$DIRECT_PORT" ]; then
    echo "bench-smoke: ternd did not start:" >&2
    cat "$TMP/ternd.log" >&2
    exit 1
fi
echo "bench-smoke: ternd pid $PID on 127.0.0.1:$STARTTLS_PORT (STARTTLS), :$DIRECT_PORT (direct TLS)"

failed=0
run() { # name, loadgen args...
    local name=$1
    shift
    echo "== $name: loadgen $*"
    if ! "$LOADGEN" --host 127.0.0.1 --domain localhost --server-pid "$PID" -q "$@"; then
        echo "bench-smoke: $name: loadgen failed" >&2
        failed=1
    fi
}
# 1: accounts by in-band registration, plaintext, SCRAM-SHA-1, 10 pairs flat out for 10 s
run "flat out" --port "$STARTTLS_PORT" --register --pairs 10 --warmup 1 --duration 9
# 2: STARTTLS + PLAIN at a fixed rate
run "starttls" --port "$STARTTLS_PORT" --tls starttls --mech PLAIN --pairs 5 --rate 2000 \
    --warmup 0.5 --duration 2
# 3: direct TLS + SCRAM-SHA-256, idle sessions, RSS per session
run "idle" --port "$DIRECT_PORT" --tls direct --mech SCRAM-SHA-256 --idle --sessions 20 \
    --duration 1

if ! kill -0 "$PID" 2>/dev/null; then
    echo "bench-smoke: ternd exited during the run:" >&2
    tail -20 "$TMP/ternd.log" >&2
    PID=
    exit 1
fi
[ "$failed" -eq 0 ] && echo "bench-smoke: OK"
exit "$failed"
