#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_limits.py — limits with safe defaults: connections per IP, stalled
# handshakes and headers, XEP-0478 advertisement, plaintext pipelined after STARTTLS, a
# client that never reads. After each, a normal client is still served.

import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (HOST, NS_CLIENT, NS_TLS, RawClient, Ternd, XmppTimeout,  # noqa: E402
                     check, q, run_tests)

NS_LIMITS = "urn:xmpp:stream-limits:0"
PW = "pw-limits"


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd(extra={"limits": {"c2s_connections_per_ip": 4, "stream_open_timeout": 1,
                                    "tls_handshake_timeout": 1, "outbuf_size": 65536}}).start()
    for u in ("alice", "bob"):
        ctx.t.adduser(u, PW)
    ctx.bystander = ctx.t.client()
    ctx.bystander.login("alice", PW, resource="bystander")
    return ctx


def teardown(ctx):
    if ctx is not None:
        ctx.bystander.close()
        ctx.t.cleanup()


def still_served(ctx):
    r = ctx.bystander.ping()
    check(r.get("type") == "result", "the bystander is still served", r)


def closed_within(sock, seconds):
    sock.settimeout(seconds)
    t0 = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except (socket.timeout, TimeoutError):
        return False
    except (ConnectionResetError, OSError):
        pass
    return time.monotonic() - t0 <= seconds


def test_stream_open_timeout(ctx):
    s = socket.create_connection((HOST, ctx.t.port))
    check(closed_within(s, 4), "a silent connection is closed after stream_open_timeout")
    s.close()
    still_served(ctx)


def test_tls_handshake_timeout(ctx):
    s = socket.create_connection((HOST, ctx.t.tls_port))
    s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    check(closed_within(s, 4), "a stalled TLS handshake is closed")
    s.close()
    still_served(ctx)


def test_connections_per_ip(ctx):
    held = []
    try:
        for _ in range(3):  # the bystander holds one of the four
            c = RawClient(ctx.t.port)
            c.open_stream()
            held.append(c)
        extra = socket.create_connection((HOST, ctx.t.port))
        check(closed_within(extra, 2), "the connection over the limit is closed at once")
        extra.close()
    finally:
        for c in held:
            c.close()
    time.sleep(0.3)
    c = RawClient(ctx.t.port)  # a slot is free again
    c.open_stream()
    c.close()
    still_served(ctx)


def test_stream_limits_advertised(ctx):
    c = RawClient(ctx.t.port)
    f = c.open_stream()
    lim = f.find(q(NS_LIMITS, "limits"))
    check(lim is not None and lim.find(q(NS_LIMITS, "max-bytes")).text == "16384",
          "XEP-0478 pre-auth limit", f)
    c.close()
    c = ctx.t.client()
    c.login("bob", PW, bind=False)
    lim = c.features.find(q(NS_LIMITS, "limits"))
    check(lim is not None and lim.find(q(NS_LIMITS, "max-bytes")).text == "262144",
          "XEP-0478 limit after authentication", c.features)
    c.close()


def test_starttls_pipelined_plaintext(ctx):
    """RFC 6120 §5.4.3.3: bytes sent after <starttls/> in plaintext are never processed."""
    c = RawClient(ctx.t.port)
    c.open_stream()
    c.send("<starttls xmlns='%s'/><iq type='get' id='smuggled'><query xmlns='jabber:iq:version'/>"
           "</iq>" % NS_TLS)
    c.wait(q(NS_TLS, "proceed"))
    c._wrap_tls()
    c.open_stream()
    c.login("bob", PW, resource="pipelined")  # had the iq been processed, it would be refused
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", id_="after-tls")
    check(r.get("type") == "result", "the stream works after TLS", r)
    smuggled = [e for e in c.queue if e.get("id") == "smuggled"]
    check(not smuggled and b"smuggled" not in bytes(c.raw), "pipelined plaintext was ignored")
    c.close()
    still_served(ctx)


def test_client_that_never_reads(ctx):
    """A client that never reads is disconnected once its outbound buffer is full."""
    reader = ctx.t.client()
    reader.login("bob", PW, resource="sleepy")
    reader.send("<presence/>")
    big = "y" * 8000
    # ternd writes each turn's output at once, so the kernel's socket buffers fill first (on
    # loopback the send buffer grows to tcp_wmem's maximum, 4 MiB here); then the 64 KiB
    # outbound limit. Send in bursts until the reader is gone, 48 MiB at most.
    sent, gone = 0, False
    while sent < 48 * 2**20 and not gone:
        for i in range(128):  # 1 MB
            ctx.bystander.message(reader.jid, "%d %s" % (sent, big))
            sent += len(big)
        still_served(ctx)
        # ask the server whether bob/sleepy is still bound: an iq to it gets an error then
        # (while it is bound, the iq reaches a client that never answers)
        try:
            p = ctx.bystander.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=reader.jid,
                                 timeout=0.5)
            gone = p.get("type") == "error"
        except XmppTimeout:
            pass
    check(gone, "the non-reading client was disconnected (after %d bytes)" % sent)
    reader.close()
    still_served(ctx)


TESTS = [
    ("a connection that never sends a header times out", test_stream_open_timeout),
    ("a stalled TLS handshake times out", test_tls_handshake_timeout),
    ("connections per IP address are limited", test_connections_per_ip),
    ("XEP-0478 limits are advertised", test_stream_limits_advertised),
    ("plaintext pipelined after STARTTLS is dropped", test_starttls_pipelined_plaintext),
    ("a client that never reads is disconnected", test_client_that_never_reads),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
