#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_mobile.py — mobile-grade sessions: XEP-0198 stream management
# (acks, resumption, hibernation timeout, overflow), with real socket drops.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, TerndCtx, XmppTimeout, check, close_ctx, q, run_tests)  # noqa: E402

NS_SM = "urn:xmpp:sm:3"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PW = "pw-mobile"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy",
         "kim")


def setup():
    return TerndCtx(USERS, PW, extra={"c2s": {"resume_timeout": 3, "sm_max_unacked": 20}})


def client(ctx):
    return ctx.client()


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
        c.available()
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


NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_INFO = "http://jabber.org/protocol/disco#info"


def enable_carbons(c):
    r = c.iq("set", "<enable xmlns='%s'/>" % NS_CARBONS, to=None)
    check(r.get("type") == "result", "carbons enabled", r)


def test_carbons(ctx):
    """XEP-0280: received and sent copies reach the other enabled resource."""
    g1 = login(ctx, "gina", "one", sm=False)
    g2 = login(ctx, "gina", "two", sm=False)
    h = login(ctx, "hank", "h", sm=False)
    enable_carbons(g1)
    enable_carbons(g2)
    h.message("gina@localhost/one", "to one")
    m = g1.wait_message()
    check(m.find(q(NS_CLIENT, "body")).text == "to one", "the addressed resource", m)
    cc = g2.wait(lambda e: e.tag == q(NS_CLIENT, "message") and
                 e.find(q(NS_CARBONS, "received")) is not None)
    inner = cc.find("%s/%s/%s" % (q(NS_CARBONS, "received"), q(NS_FORWARD, "forwarded"),
                                  q(NS_CLIENT, "message")))
    check(inner is not None and inner.find(q(NS_CLIENT, "body")).text == "to one" and
          cc.get("from") == "gina@localhost", "received carbon", cc)
    g1.message(h.jid, "from one")
    h.wait_message(lambda e: e.find(q(NS_CLIENT, "body")).text == "from one")
    cc = g2.wait(lambda e: e.tag == q(NS_CLIENT, "message") and
                 e.find(q(NS_CARBONS, "sent")) is not None)
    inner = cc.find(".//" + q(NS_CLIENT, "body"))
    check(inner is not None and inner.text == "from one", "sent carbon", cc)
    # <private/> opts out
    h.send("<message to='gina@localhost/one' type='chat'><body>secret</body>"
           "<private xmlns='%s'/></message>" % NS_CARBONS)
    g1.wait_message(lambda e: e.find(q(NS_CLIENT, "body")).text == "secret")
    try:
        extra = g2.wait(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.7)
        check(False, "a private message was copied", extra)
    except XmppTimeout:
        pass


def test_csi(ctx):
    """XEP-0352: while inactive, presence waits; a chat message flushes at once."""
    i = login(ctx, "ivan", "phone", sm=False)
    j = login(ctx, "judy", "j", sm=False)
    i.send("<inactive xmlns='urn:xmpp:csi:0'/>")
    # nothing orders two connections' input: let the server take <inactive/> first (the
    # pong is urgent, so not held)
    check(i.ping().get("type") == "result", "ping answered while inactive")
    j.send("<presence to='%s'><status>one</status></presence>" % i.jid)
    j.send("<presence to='%s'><status>two</status></presence>" % i.jid)
    try:
        early = i.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and
                       e.get("from") == j.jid, timeout=0.8)
        check(False, "presence delivered while inactive", early)
    except XmppTimeout:
        pass
    j.message(i.jid, "wake up")
    p = i.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == j.jid)
    check(p.find(q(NS_CLIENT, "status")).text == "two", "only the latest presence", p)
    m = i.wait_message()
    check(m.find(q(NS_CLIENT, "body")).text == "wake up", "the message right after", m)
    try:
        extra = i.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and
                       e.get("from") == j.jid, timeout=0.5)
        check(False, "the superseded presence came too", extra)
    except XmppTimeout:
        pass


def mam_query(c, max_, after=None, before=None, with_=None):
    rsm = "<max>%d</max>" % max_
    if after is not None:
        rsm += "<after>%s</after>" % after
    if before is not None:
        rsm += "<before>%s</before>" % before
    form = ""
    if with_:
        form = ("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
                "<value>%s</value></field><field var='with'><value>%s</value></field></x>"
                % (NS_MAM, with_))
    qid = "q%d" % int(time.time() * 1000)
    c.send("<iq type='set' id='%s'><query xmlns='%s' queryid='%s'>%s<set xmlns='%s'>%s</set>"
           "</query></iq>" % (qid, NS_MAM, qid, form, NS_RSM, rsm))
    res = []
    while True:
        el = c.wait(lambda e: (e.tag == q(NS_CLIENT, "message") and
                               e.find(q(NS_MAM, "result")) is not None) or
                    (e.tag == q(NS_CLIENT, "iq") and e.get("id") == qid))
        if el.tag == q(NS_CLIENT, "iq"):
            return res, el
        r = el.find(q(NS_MAM, "result"))
        check(r.get("queryid") == qid, "queryid echoed", el)
        res.append((r.get("id"), r.find(".//" + q(NS_CLIENT, "body")).text))


def test_mam_paging_after_restart(ctx):
    """XEP-0313: archived both ways, paged with XEP-0059, still there after a restart."""
    k = login(ctx, "kim", "k", sm=False)
    a = login(ctx, "alice", "mam", sm=False)
    for i in range(7):
        a.message(k.jid, "a%d" % i)
        k.wait_message()
        k.message(a.jid, "k%d" % i)
        m = a.wait_message()
        sid = m.find(q("urn:xmpp:sid:0", "stanza-id"))
        check(sid is not None and sid.get("by") == "alice@localhost", "stanza-id", m)
    a.ping()
    ctx.t.stop()
    for c in ctx.open:
        c.close()
    ctx.open = []
    ctx.t.start()
    k = login(ctx, "kim", "k2", sm=False)
    want = []
    for i in range(7):
        want += ["a%d" % i, "k%d" % i]
    page1, fin1 = mam_query(k, 5, with_="alice@localhost")
    check([b for _, b in page1] == want[:5], "first page", fin1)
    f = fin1.find(q(NS_MAM, "fin"))
    check(f.get("complete") != "true", "not complete after page 1", fin1)
    last = f.find("%s/%s" % (q(NS_RSM, "set"), q(NS_RSM, "last"))).text
    count = f.find("%s/%s" % (q(NS_RSM, "set"), q(NS_RSM, "count"))).text
    check(count == "14", "count", fin1)
    page2, fin2 = mam_query(k, 5, after=last, with_="alice@localhost")
    check([b for _, b in page2] == want[5:10], "second page", *[b for _, b in page2])
    last2 = fin2.find(".//" + q(NS_RSM, "last")).text
    page3, fin3 = mam_query(k, 5, after=last2, with_="alice@localhost")
    check([b for _, b in page3] == want[10:], "last page", *[b for _, b in page3])
    check(fin3.find(q(NS_MAM, "fin")).get("complete") == "true", "complete", fin3)
    tail, _ = mam_query(k, 3, before="")
    check([b for _, b in tail] == want[-3:], "the last three (empty before)",
          *[b for _, b in tail])
    r = k.iq("set", "<query xmlns='%s'><set xmlns='%s'><after>nope</after></set></query>"
             % (NS_MAM, NS_RSM), to=None)
    check(r.get("type") == "error", "unknown id -> error", r)


def test_mam_prefs(ctx):
    """XEP-0313 §6: prefs take effect at once (they are cached per user; a set replaces)."""
    g = login(ctx, "gina", "prefs", sm=False)
    h = login(ctx, "hank", "prefs", sm=False)

    def set_default(d):
        r = g.iq("set", "<prefs xmlns='%s' default='%s'/>" % (NS_MAM, d), to=None)
        p = r.find(q(NS_MAM, "prefs"))
        check(r.get("type") == "result" and p is not None and p.get("default") == d,
              "prefs set to %s" % d, r)

    set_default("never")
    h.message(g.jid, "not archived")
    g.wait_message(lambda e: e.find(q(NS_CLIENT, "body")).text == "not archived")
    set_default("always")
    h.message(g.jid, "archived")
    g.wait_message(lambda e: e.find(q(NS_CLIENT, "body")).text == "archived")
    res, _ = mam_query(g, 50, with_="hank@localhost")
    bodies_ = [b for _, b in res]
    check("archived" in bodies_ and "not archived" not in bodies_, "prefs honoured", *bodies_)


def test_caps_verified_once(ctx):
    """XEP-0115: the server asks one client per 'ver', checks the hash, then remembers."""
    import base64
    import hashlib
    feats = ["http://jabber.org/protocol/caps", NS_INFO, "urn:xmpp:ping"]
    s = "client/pc//Tern test<" + "".join(f + "<" for f in sorted(feats))
    ver = base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()
    node = "https://tern.invalid/test"
    c1 = login(ctx, "erin", "caps1", sm=False, presence=False)
    c1.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
            % (NS_CAPS, node, ver))
    iq = c1.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get")
    qn = iq.find(q(NS_INFO, "query"))
    check(qn is not None and qn.get("node") == "%s#%s" % (node, ver), "disco#info query", iq)
    c1.send("<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s#%s'>"
            "<identity category='client' type='pc' name='Tern test'/>%s</query></iq>"
            % (iq.get("id"), iq.get("from"), NS_INFO, node, ver,
               "".join("<feature var='%s'/>" % f for f in feats)))
    c1.ping()
    c2 = login(ctx, "frank", "caps2", sm=False, presence=False)
    c2.send("<presence><c xmlns='%s' hash='sha-1' node='%s' ver='%s'/></presence>"
            % (NS_CAPS, node, ver))
    try:
        again = c2.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get",
                        timeout=1)
        check(False, "a verified ver was queried again", again)
    except XmppTimeout:
        pass


TESTS = [
    ("XEP-0198 ack request counts handled stanzas", test_ack_request),
    ("XEP-0198 resume after a dropped connection: exactly once", test_resume_exactly_once),
    ("XEP-0198 resume after the timeout fails; messages offline", test_resume_after_timeout),
    ("XEP-0198 unacked queue overflow loses nothing", test_unacked_overflow),
    ("XEP-0280 carbons to a second resource", test_carbons),
    ("XEP-0352 CSI holds presence, flushes on a message", test_csi),
    ("XEP-0313 archive paging in order after a restart", test_mam_paging_after_restart),
    ("XEP-0313 preferences take effect at once", test_mam_prefs),
    ("XEP-0115 caps verified once per ver", test_caps_verified_once),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, close_ctx)
