#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_s2s_sm.py — XEP-0198 stream management on s2s links between ternd
# instances (set up like test_s2s_ternd.py): enabled after dialback and after SASL EXTERNAL,
# and no loss when the receiving server dies after its kernel acknowledged the bytes (the
# unacknowledged stanzas are sent again over the next link; duplicates are allowed, loss
# is not).

import configparser
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, Dnsmasq, TestCA, XmppTimeout, check,  # noqa: E402
                     loopback_net, online_client, port_on, q, run_tests, s2s_ternd)

A, B, C = "sm-a.test", "sm-b.test", "sm-c.test"
NET = loopback_net()
ADDR = {A: NET + "2", B: NET + "3", C: NET + "4"}
PW = "s2s-sm pass"
N = 12  # messages sent while the receiving server is stopped


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t, ctx.c, ctx.dns = {}, {}, None
    try:
        ctx.dir = tempfile.mkdtemp(prefix="tern-s2s-sm-")
        tempfile.tempdir = ctx.dir
        ctx.ca = TestCA(os.path.join(ctx.dir, "ca"))
        ctx.ports = {d: port_on(ADDR[d], 5269) for d in (A, B, C)}
        srv = [("_xmpp-server._tcp." + d, d, ctx.ports[d], 10) for d in (A, B, C)]
        ctx.dns = Dnsmasq(ctx.dir, srv, [(d, ADDR[d]) for d in (A, B, C)])
        certs = os.path.join(ctx.dir, "issued")
        cert = {d: ctx.ca.issue(d, certs) for d in (A, C)}
        # A <-> C: SASL EXTERNAL (test CA); A <-> B: dialback (B self-signed)
        ctx.t = {
            A: s2s_ternd(A, ADDR[A], ctx.ports[A], ctx.dns.servers, cert[A], ctx.ca.pem),
            B: s2s_ternd(B, ADDR[B], ctx.ports[B], ctx.dns.servers),
            C: s2s_ternd(C, ADDR[C], ctx.ports[C], ctx.dns.servers, cert[C], ctx.ca.pem),
        }
        for t in ctx.t.values():
            t.start()
        ctx.c = {d: online_client(ctx.t[d], "user", PW) for d in (A, B, C)}
        return ctx
    except BaseException:
        teardown(ctx)
        raise


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.c.values():
        c.close()
    for t in ctx.t.values():
        if os.environ.get("TERN_S2S_LOGS"):
            print("# ---- %s\n# " % t.domain + t.log_tail(200).replace("\n", "\n# "))
        if t.running():
            t.signal(signal.SIGCONT)  # never leave a stopped ternd behind
        t.cleanup()
    if ctx.dns:
        ctx.dns.stop()
    if getattr(ctx, "dir", None) and not os.environ.get("TERN_KEEP_TMP"):
        shutil.rmtree(ctx.dir, ignore_errors=True)


def user(d):
    return "user@" + d


def status_links(ternd):
    """<data_dir>/s2s.status (what ternctl s2s reads) as a list of dicts."""
    kp = configparser.ConfigParser(interpolation=None)
    try:
        kp.read(os.path.join(ternd.data_dir, "s2s.status"))
    except configparser.Error:
        return []  # being replaced: read again
    return [dict(kp[g]) for g in kp.sections() if g.startswith("link ")]


def wait_sm(ternd, direction, local, remote, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        rows = status_links(ternd)
        for r in rows:
            if ((r.get("direction"), r.get("local"), r.get("remote")) == (direction, local, remote)
                    and r.get("state") == "ready" and r.get("sm") == "on"):
                return r
        if time.monotonic() > deadline:
            raise AssertionError("no %s link %s -> %s with sm = on: %s"
                                 % (direction, local, remote, rows))
        time.sleep(0.1)


def send_and_receive(ctx, x, y, body, timeout=15):
    mid = ctx.c[x].message(user(y), body)
    m = ctx.c[y].wait_message(lambda e: e.get("id") == mid, timeout)
    check(m.findtext(q(NS_CLIENT, "body")) == body, "body changed", m)


def wait_listening(host, port, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# ---- tests

def test_sm_enabled(ctx):
    for x, y in ((A, B), (B, A), (A, C), (C, A)):
        send_and_receive(ctx, x, y, "sm %s -> %s" % (x, y))
    for on, peer in ((A, B), (B, A), (A, C), (C, A)):
        row = wait_sm(ctx.t[on], "out", on, peer)
        check(row.get("auth") == ("dialback" if B in (on, peer) else "sasl-external"),
              "auth: %s" % row)
        wait_sm(ctx.t[peer], "in", peer, on)
    # many stanzas in a row: acks requested and processed, all arrive in order
    ids = [ctx.c[A].message(user(B), "burst %d" % i) for i in range(30)]
    got = [ctx.c[B].wait_message(lambda e, i=i: e.get("id") == i, 15).get("id") for i in ids]
    check(got == ids, "burst out of order")
    time.sleep(2.5)  # idle: the last stanzas are acknowledged too
    check(wait_sm(ctx.t[A], "out", A, B)["state"] == "ready", "link still up")


def test_no_loss_when_peer_dies(ctx):
    ta, tb = ctx.t[A], ctx.t[B]
    send_and_receive(ctx, A, B, "before")
    wait_sm(ta, "out", A, B)
    tb.signal(signal.SIGSTOP)  # its kernel still accepts (and TCP-acknowledges) the bytes
    try:
        ids = [ctx.c[A].message(user(B), "while stopped %d" % i) for i in range(N)]
        time.sleep(2)  # A wrote them all and asked for acks that never come
        # A stays stopped while B restarts, so that it reconnects to the new B (a refused
        # connection would bounce the stanzas, which is not what this test is about)
        ta.signal(signal.SIGSTOP)
        try:
            tb.signal(signal.SIGKILL)
            tb.wait(5)
            tb.stop()
            tb.start()
            wait_listening(tb.host, tb.s2s_port)
        finally:
            ta.signal(signal.SIGCONT)
    finally:
        tb.signal(signal.SIGCONT)
    ctx.c[B].close()
    ctx.c[B] = tb.client()
    ctx.c[B].login("user", PW, resource="res")
    ctx.c[B].send("<presence/>")
    missing = set(ids)
    deadline = time.monotonic() + 25
    while missing and time.monotonic() < deadline:
        try:
            m = ctx.c[B].wait_message(lambda e: e.get("id") in ids, 1)
        except XmppTimeout:
            continue
        missing.discard(m.get("id"))
    check(not missing, "%d of %d messages lost: %s" % (len(missing), N, sorted(missing)))
    # none came back as an error to the sender either
    try:
        e = ctx.c[A].wait(lambda e: e.get("id") in ids and e.get("type") == "error", 0.5)
        raise AssertionError("bounced although delivered: %s" % e.get("id"))
    except XmppTimeout:
        pass
    send_and_receive(ctx, A, B, "after", timeout=20)
    wait_sm(ta, "out", A, B)


if __name__ == "__main__":
    run_tests([
        ("XEP-0198 enabled on s2s links (dialback and SASL EXTERNAL); messages flow",
         test_sm_enabled),
        ("peer stopped, killed, restarted: unacknowledged stanzas re-sent, none lost",
         test_no_loss_when_peer_dies),
    ], setup, teardown)
