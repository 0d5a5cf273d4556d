#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# bench/churn.py — connect, send half a stream (a header and the start of a stanza),
# disconnect; many times. Reports ternd's RSS after a warm-up and every --step cycles: a
# leak of even a few bytes per connection shows as a line that keeps rising. Starts its own
# ternd (tests/integration/ternlib.py) on free loopback ports and stops it by pid.
#
#   /usr/bin/python3 bench/churn.py --builddir build [--cycles 100000] [--step 10000]
#
# The client cycles through 127.0.1.10-29 as source addresses so that the per-IP connection
# limit (c2s_connections_per_ip) never refuses a cycle. tests/integration/test_bad_input.py
# runs a small version (5,000 cycles) with an assertion.

import argparse
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def main():
    ap = argparse.ArgumentParser(description="connect / partial stream / disconnect churn")
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--cycles", type=int, default=100000)
    ap.add_argument("--warmup", type=int, default=5000)
    ap.add_argument("--step", type=int, default=10000)
    ap.add_argument("--tls", action="store_true",
                    help="direct TLS: a full handshake, then half a stream")
    args = ap.parse_args()
    os.environ["TERN_BUILDDIR"] = os.path.abspath(args.builddir)
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
    import ssl
    from ternlib import HOST, Ternd

    addrs = ["127.0.1.%d" % (10 + i) for i in range(20)]
    data = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
            "<iq type='get' id='x'><query xmlns='jabber:iq:").encode()
    tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls_ctx.check_hostname = False
    tls_ctx.verify_mode = ssl.CERT_NONE

    with Ternd(extra={"server": {"log_level": "message"},
                      "limits": {"c2s_connections_per_ip": 1000}}) as t:
        pid = t.proc.pid
        base = nfds(pid)

        def churn(n, first):
            port = t.tls_port if args.tls else t.port
            for i in range(first, first + n):
                s = socket.create_connection((HOST, port), timeout=10,
                                             source_address=(addrs[i % len(addrs)], 0))
                if args.tls:
                    s = tls_ctx.wrap_socket(s, server_hostname="localhost")
                s.sendall(data)
                s.close()
            deadline = time.monotonic() + 60
            while nfds(pid) > base + 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # let the server reap the last ones before measuring

        print("ternd pid %d, RSS at start %d KiB" % (pid, rss_kib(pid)), flush=True)
        t0 = time.monotonic()
        churn(args.warmup, 0)
        rss0 = rss_kib(pid)
        print("after %d warm-up cycles: RSS %d KiB" % (args.warmup, rss0), flush=True)
        done = 0
        while done < args.cycles:
            n = min(args.step, args.cycles - done)
            churn(n, args.warmup + done)
            done += n
            rss = rss_kib(pid)
            print("after %7d cycles: RSS %d KiB (%+d KiB), fds %d (baseline %d)"
                  % (done, rss, rss - rss0, nfds(pid), base), flush=True)
        elapsed = time.monotonic() - t0
        print("%d cycles in %.1f s (%.0f/s); RSS growth after warm-up: %+d KiB"
              % (args.warmup + args.cycles, elapsed, (args.warmup + args.cycles) / elapsed,
                 rss_kib(pid) - rss0), flush=True)


if __name__ == "__main__":
    main()
