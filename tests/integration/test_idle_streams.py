#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_idle_streams.py — streams that rest between stanzas: ternd gives an
# idle stream's XML parser back after a second or two (router/xml.c, hibernation) and makes
# a new one, in the stream header's namespace context, when bytes come again. Every test
# idles longer than that at the points that matter (before STARTTLS, before SASL, after the
# restart, after bind, in the middle of a stanza) and checks the stream still means the
# same: namespaces and prefixes, the stanza size limit, restricted XML.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import NS_CLIENT, TerndCtx, check, close_ctx, q, run_tests  # noqa: E402

PW = "pw-idle"
STANZA_LIMIT = 4096
# the sweep hibernates parsers queued before its previous run: idle for 1-2 s
IDLE = 2.6
NS_X = "urn:example:idle"


def setup():
    return TerndCtx(users=("alice", "bob"), pw=PW,
                    extra={"limits": {"c2s_stanza_size": STANZA_LIMIT},
                           "c2s": {"max_resources": 100}})


def pair(ctx):
    a, b = ctx.client(), ctx.client()
    a.login("alice", PW, resource="idle-a")
    b.login("bob", PW, resource="idle-b")
    return a, b


def payload_message(to, n, mid):
    return ("<message to='%s' id='%s' type='chat'><body>after a rest</body>"
            "<x xmlns='%s'><y n='%d'/></x></message>" % (to, mid, NS_X, n))


def received(b, mid):
    m = b.wait_message(lambda e: e.get("id") == mid)
    x = m.find(q(NS_X, "x"))
    check(x is not None and x.find(q(NS_X, "y")) is not None,
          "the payload keeps its namespace after the sender's stream rested", m)
    return m


def test_message_after_rest(ctx):
    a, b = pair(ctx)
    for i in range(2):
        time.sleep(IDLE)
        a.send(payload_message(b.jid, i, "rest-%d" % i))
        received(b, "rest-%d" % i)
    # keepalive whitespace, a rest, then an iq in the stream's default namespace
    a.send(" \n")
    time.sleep(IDLE)
    r = a.ping()
    check(r.get("type") == "result", "ping answered after a rest", r)
    # the stream's end tag must match the header's qname, stream: prefix and all (expat
    # would call anything else not well-formed): a clean close after a rest
    time.sleep(IDLE)
    a.send("</stream:stream>")
    check(a.wait_closed(), "the stream ends cleanly after a rest")
    check(not a.queue, "no stream error", *a.queue)


def test_stanza_split_by_rest(ctx):
    a, b = pair(ctx)
    msg = payload_message(b.jid, 7, "split")
    cut = msg.index("<x ") + 5
    a.send(msg[:cut])
    time.sleep(IDLE)
    a.send(msg[cut:])
    received(b, "split")


def test_login_steps_after_rests(ctx):
    c = ctx.client()
    c.open_stream()
    time.sleep(IDLE)  # before STARTTLS (the rest is TLS: a new stream, a new parser)
    c.starttls()
    time.sleep(IDLE)  # before SASL
    el = c.sasl("alice", PW)
    check(el.tag.endswith("success"), "SASL after a rest", el)
    c.open_stream()
    time.sleep(IDLE)  # after the restart, before bind
    jid = c.bind("idle-steps")
    check(jid.startswith("alice@localhost/"), "bound after rests", jid)
    time.sleep(IDLE)
    r = c.ping()
    check(r.get("type") == "result", "served after rests", r)


def test_limit_after_rest(ctx):
    a, b = pair(ctx)
    fill = STANZA_LIMIT - 300
    time.sleep(IDLE)
    a.send("<message to='%s' id='fits' type='chat'><body>%s</body></message>"
           % (b.jid, "f" * fill))
    m = b.wait_message(lambda e: e.get("id") == "fits")
    check(len(m.find(q(NS_CLIENT, "body")).text) == fill, "a stanza under the limit passes", m)
    time.sleep(IDLE)
    a.send("<message to='%s' id='big' type='chat'><body>%s</body></message>"
           % (b.jid, "b" * (STANZA_LIMIT + 100)))
    cond, _ = a.stream_error()
    check(cond == "policy-violation", "the stanza limit holds after a rest (got %s)" % cond)
    check(a.wait_closed(), "the oversized stream is closed")
    r = b.ping()
    check(r.get("type") == "result", "bob is still served", r)


def test_restricted_after_rest(ctx):
    a, b = pair(ctx)
    time.sleep(IDLE)
    a.send("<!-- a comment -->")
    cond, _ = a.stream_error()
    check(cond == "restricted-xml", "comments refused after a rest (got %s)" % cond)
    time.sleep(IDLE)
    r = b.ping()
    check(r.get("type") == "result", "bob is still served", r)


def test_many_resting_sessions(ctx):
    """Fifty sessions rest together (one sweep hibernates them all), then all talk."""
    clients = []
    for i in range(50):
        c = ctx.client()
        c.login("bob", PW, resource="many-%d" % i)
        clients.append(c)
    time.sleep(IDLE)
    for i, c in enumerate(clients):
        c.send("<iq type='get' id='many-%d'><ping xmlns='urn:xmpp:ping'/></iq>" % i)
    for i, c in enumerate(clients):
        r = c.wait(lambda e, i=i: e.get("id") == "many-%d" % i)
        check(r.get("type") == "result", "session %d answered after a rest" % i, r)
        c.send("</stream:stream>")
    for c in clients:
        check(c.wait_closed(), "each stream ends cleanly after a rest")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_burst_then_sleep(ctx):
    """A burst goes through in order; once quiet, ternd sleeps (no loop left spinning)."""
    a, b = pair(ctx)
    for i in range(300):
        a.send("<message to='%s' id='bp-%d' type='chat'><body>%d</body></message>"
               % (b.jid, i, i))
    got = []
    while len(got) < 300:
        m = b.wait(lambda e: e.tag == "{%s}message" % NS_CLIENT and
                   (e.get("id") or "").startswith("bp-"))
        got.append(int(m.get("id")[3:]))
    check(got == list(range(300)), "300 messages of a burst arrive in order")
    time.sleep(0.5)
    pid = ctx.t.proc.pid
    before = cpu_seconds(pid)
    time.sleep(3)
    used = cpu_seconds(pid) - before
    # asleep, ternd wakes once a second (keepalive, the parser sweep): far below 10 %
    check(used < 0.3, "an idle ternd does not spin (%.2f s of CPU in 3 s)" % used)


TESTS = [
    ("a message with a namespaced payload after rests; stream: prefix kept",
     test_message_after_rest),
    ("a stanza split by a rest arrives whole", test_stanza_split_by_rest),
    ("STARTTLS, SASL, restart and bind with rests between", test_login_steps_after_rests),
    ("the stanza size limit after a rest", test_limit_after_rest),
    ("restricted XML after a rest", test_restricted_after_rest),
    ("fifty sessions rest and wake", test_many_resting_sessions),
    ("a burst in order, then an idle ternd sleeps", test_burst_then_sleep),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, close_ctx)
