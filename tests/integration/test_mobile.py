#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_mobile.py — mobile-grade sessions: XEP-0198 stream management
# (acks, resumption, hibernation timeout, overflow), with real socket drops.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, Ternd, XmppTimeout, check, q, run_tests)  # noqa: E402

NS_SM = "urn:xmpp:sm:3"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PW = "pw-mobile"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank")


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd(extra={"c2s": {"resume_timeout": 3, "sm_max_unacked": 20}}).start()
    for u in USERS:
        ctx.t.adduser(u, PW)
    ctx.open = []
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    ctx.t.cleanup()


def client(ctx):
    c = ctx.t.client()
    ctx.open.append(c)
    return c


def login(ctx, user, resource, sm=True, presence=True):
    c = client(ctx)
    c.login(user, PW, resource=resource)
    c.handled = 0
    if sm:
        c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
        en = c.wait(lambda e: e.tag in (q(NS_SM, "enabled"), q(NS_SM, "failed")))
        check(en.tag == q(NS_SM, "enabled") and en.get("id") and en.get("resume") == "true",
              "SM enabled with resumption", en)
        c.sm_id = en.get("id")
    if presence:
        c.send("<presence/>")
        c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == c.jid)
        if sm:
            c.handled += 1
    return c


def bodies(c, n, timeout=5):
    """Read n messages, counting them as handled stanzas; skip <r/> requests."""
    out = []
    while len(out) < n:
        el = c.wait(lambda e: e.tag in (q(NS_CLIENT, "message"), q(NS_SM, "r")), timeout)
        if el.tag == q(NS_SM, "r"):
            continue
        c.handled += 1
        out.append(el.find(q(NS_CLIENT, "body")).text)
    return out


def test_ack_request(ctx):
    """<r/> is answered with <a h/> counting the client's stanzas."""
    c = login(ctx, "alice", "r")
    c.ping()
    c.send("<r xmlns='%s'/>" % NS_SM)
    a = c.wait(q(NS_SM, "a"))
    check(a.get("h") == "2", "h counts presence and ping", a)  # presence + iq
    c.send("</stream:stream>")


def test_resume_exactly_once(ctx):
    """Kill the TCP connection mid-conversation, resume: every message exactly once."""
    sender = login(ctx, "carol", "s", sm=False)
    bob = login(ctx, "bob", "phone")
    for i in range(10):
        sender.message(bob.jid, "m%d" % i)
    got = bodies(bob, 4)
    bob.send("<a xmlns='%s' h='%d'/>" % (NS_SM, bob.handled - 2))  # acks lag behind
    bob.sock.close()  # the OS killed the app: no </stream:stream>
    time.sleep(0.3)
    for i in range(10, 13):
        sender.message(bob.jid, "m%d" % i)  # arrive while bob hibernates
    sender.ping()
    b2 = client(ctx)
    b2.login("bob", PW, bind=False)
    b2.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, bob.sm_id, bob.handled))
    r = b2.wait(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    check(r.tag == q(NS_SM, "resumed") and r.get("previd") == bob.sm_id, "resumed", r)
    b2.handled = bob.handled
    rest = bodies(b2, 9)
    allm = got + rest
    check(allm == ["m%d" % i for i in range(13)], "each message once, in order", *allm)
    try:
        extra = b2.wait(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1)
        check(False, "a message came twice", extra)
    except XmppTimeout:
        pass
    # the resumed session is the same resource: a message to it arrives
    sender.message("bob@localhost/phone", "after")
    check(bodies(b2, 1) == ["after"], "routing to the resumed resource")
    b2.send("</stream:stream>")


def test_resume_after_timeout(ctx):
    """After the timeout: <failed/> with h, and the unacked messages are in offline storage."""
    sender = login(ctx, "carol", "s2", sm=False)
    dave = login(ctx, "dave", "phone")
    for i in range(3):
        sender.message(dave.jid, "t%d" % i)
    bodies(dave, 3)  # read, never acked
    dave.sock.close()
    time.sleep(4.5)  # resume_timeout = 3
    d2 = client(ctx)
    d2.login("dave", PW, bind=False)
    d2.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, dave.sm_id, dave.handled))
    f = d2.wait(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    check(f.tag == q(NS_SM, "failed") and f.find(q(NS_STANZAS, "item-not-found")) is not None,
          "failed item-not-found", f)
    check(f.get("h") is not None, "failed carries h", f)
    jid = d2.bind("again")  # a fresh session on the same stream
    check(jid.endswith("/again"), "bind after failed resume", jid)
    d2.send("<presence/>")
    got = []
    while len(got) < 3:
        el = d2.wait(lambda e: e.tag == q(NS_CLIENT, "message"))
        got.append(el.find(q(NS_CLIENT, "body")).text)
    check(got == ["t0", "t1", "t2"], "unacked messages from offline storage", *got)


def test_unacked_overflow(ctx):
    """A client that never acks is cut with <policy-violation/>; nothing is lost."""
    sender = login(ctx, "erin", "s", sm=False)
    frank = login(ctx, "frank", "f")
    for i in range(40):
        sender.message(frank.jid, "o%d" % i)
    err, el = frank.stream_error(timeout=5)
    check(err == "policy-violation", "overflow closes the stream", el)
    sender.ping()
    f2 = login(ctx, "frank", "f2", sm=False)
    # whatever frank never acknowledged comes again (offline), none is lost
    seen = set()
    while True:
        try:
            m = f2.wait(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.5)
        except XmppTimeout:
            break
        seen.add(m.find(q(NS_CLIENT, "body")).text)
    missing = ["o%d" % i for i in range(40) if "o%d" % i not in seen]
    check(not missing, "lost after overflow: %s" % missing[:8])


TESTS = [
    ("XEP-0198 ack request counts handled stanzas", test_ack_request),
    ("XEP-0198 resume after a dropped connection: exactly once", test_resume_exactly_once),
    ("XEP-0198 resume after the timeout fails; messages offline", test_resume_after_timeout),
    ("XEP-0198 unacked queue overflow loses nothing", test_unacked_overflow),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
