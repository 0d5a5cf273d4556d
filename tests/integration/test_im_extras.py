#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_im_extras.py — XEP-0191 blocking, XEP-0054 vcard-temp, XEP-0049
# private XML storage, XEP-0012 last activity, on LMDB.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, NS_DISCO_INFO, NS_PING, TerndCtx, XmppTimeout, check,  # noqa: E402
                     close_ctx, error_condition, q, run_tests)

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_LAST = "jabber:iq:last"
NS_ROSTER = "jabber:iq:roster"
PW = "secret-pw"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy")
VCARD_SIZE = 2048


def setup():
    return TerndCtx(USERS, PW, extra={"limits": {"vcard_size": VCARD_SIZE}})


def login(ctx, user, resource, presence=True, blocklist=False, status=None):
    c = ctx.client()
    c.login(user, PW, resource=resource)
    if blocklist:
        r = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING, to=None)
        check(r.get("type") == "result", "blocklist get failed", r)
    if presence:
        st = "<status>%s</status>" % status if status else ""
        c.send("<presence>%s</presence>" % st)
        c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == c.jid)
    return c


def nothing(c, match, what, timeout=0.7):
    """Assert that no element accepted by match arrives within timeout."""
    try:
        el = c.wait(match, timeout=timeout)
    except XmppTimeout:
        return
    check(False, "unexpected: " + what, el)


def is_presence(frm, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm and
                e.get("type") == type_)
    return m


def is_message(frm=None, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "message") and (frm is None or e.get("from") == frm) and
                (type_ is None or e.get("type") == type_))
    return m


def is_block_push(name):
    def m(e):
        return (e.tag == q(NS_CLIENT, "iq") and e.get("type") == "set" and
                e.find(q(NS_BLOCKING, name)) is not None)
    return m


def push_items(c, name):
    push = c.wait(is_block_push(name))
    c.send("<iq type='result' id='%s'/>" % push.get("id"))
    return [i.get("jid") for i in push.find(q(NS_BLOCKING, name)).findall(q(NS_BLOCKING,
                                                                             "item"))]


def blocklist(c):
    r = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING, to=None)
    check(r.get("type") == "result", "blocklist get", r)
    bl = r.find(q(NS_BLOCKING, "blocklist"))
    check(bl is not None, "result carries <blocklist/>", r)
    return [i.get("jid") for i in bl.findall(q(NS_BLOCKING, "item"))]


def block(c, *jids, name="block"):
    items = "".join("<item jid='%s'/>" % j for j in jids)
    return c.iq("set", "<%s xmlns='%s'>%s</%s>" % (name, NS_BLOCKING, items, name), to=None)


def subscribe(a, a_bare, b, b_bare):
    """a subscribes to b's presence; b approves (RFC 6121 §3.1)."""
    a.send("<presence to='%s' type='subscribe'/>" % b_bare)
    b.wait(is_presence(a_bare, "subscribe"))
    b.send("<presence to='%s' type='subscribed'/>" % a_bare)
    a.wait(is_presence(b_bare, "subscribed"))
    a.wait(is_presence(b.jid, None))


def test_disco_features(ctx):
    c = login(ctx, "judy", "disco", presence=False)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO)
    feats = [f.get("var") for f in r.iter(q(NS_DISCO_INFO, "feature"))]
    for f in (NS_BLOCKING, NS_VCARD, NS_PRIVATE, NS_LAST, NS_PING):
        check(f in feats, "%s not among the server's features %s" % (f, feats), r)
    c.close()


def test_blocklist_commands(ctx):
    """XEP-0191 §3.2-§3.5: get, block, unblock, unblock-all; pushes to interested resources."""
    a1 = login(ctx, "alice", "one", blocklist=True)
    a2 = login(ctx, "alice", "two", blocklist=True)
    a3 = login(ctx, "alice", "three")  # never asked for the blocklist: no pushes
    check(blocklist(a1) == [], "empty blocklist at first")
    r = block(a1, "X@Example.NET", "spam.example", "eve@example.org/phone")
    check(r.get("type") == "result" and len(r) == 0, "block result", r)
    want = ["x@example.net", "spam.example", "eve@example.org/phone"]
    for c in (a1, a2):
        check(push_items(c, "block") == want, "block push to " + c.jid)
    nothing(a3, is_block_push("block"), "a push to a resource that never asked")
    check(sorted(blocklist(a2)) == sorted(want), "the blocklist holds the prepared JIDs")
    r = block(a2, "x@example.net", name="unblock")
    check(r.get("type") == "result", "unblock result", r)
    for c in (a1, a2):
        check(push_items(c, "unblock") == ["x@example.net"], "unblock push to " + c.jid)
    check(sorted(blocklist(a1)) == sorted(want[1:]), "one unblocked")
    r = block(a1, name="unblock")
    check(r.get("type") == "result", "unblock-all result", r)
    for c in (a1, a2):
        check(push_items(c, "unblock") == [], "unblock-all push (empty) to " + c.jid)
    nothing(a3, is_block_push("unblock"), "an unblock push to a resource that never asked")
    check(blocklist(a1) == [], "empty after unblock-all")


def test_blocklist_errors(ctx):
    a = login(ctx, "alice", "err", presence=False)
    r = block(a)
    check(error_condition(r) == "bad-request", "an empty <block/>", r)
    r = block(a, "@example.com")
    check(error_condition(r) == "jid-malformed", "a malformed item", r)
    r = a.iq("set", "<block xmlns='%s'><item/></block>" % NS_BLOCKING, to=None)
    check(error_condition(r) == "jid-malformed", "an item without jid", r)
    r = block(a, "good@example.com", "bad@@example.com")
    check(error_condition(r) == "jid-malformed", "one bad item of two", r)
    check(blocklist(a) == [], "nothing stored from a refused block")
    a.close()


def test_blocked_contact_cannot_reach_user(ctx):
    """XEP-0191 §3.3: inbound from a blocked JID: message and iq get <service-unavailable/>,
    presence is dropped silently; the user's own stanzas get not-acceptable + <blocked/>."""
    bob = login(ctx, "bob", "b")
    carol = login(ctx, "carol", "c")
    r = block(bob, "carol@localhost")
    check(r.get("type") == "result", "block carol", r)
    mid = carol.message(bob.jid, "can you hear me?")
    err = carol.wait(is_message(type_="error"))
    check(err.get("id") == mid and error_condition(err) == "service-unavailable",
          "message from a blocked JID", err)
    mid = carol.message("bob@localhost", "and now?")
    err = carol.wait(is_message(type_="error"))
    check(err.get("id") == mid and error_condition(err) == "service-unavailable",
          "message to the bare JID from a blocked JID", err)
    r = carol.ping(to=bob.jid)
    check(error_condition(r) == "service-unavailable", "iq from a blocked JID", r)
    r = carol.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="bob@localhost")
    check(error_condition(r) == "service-unavailable", "vCard get from a blocked JID", r)
    carol.send("<presence to='%s'/>" % bob.jid)
    carol.send("<presence to='bob@localhost' type='subscribe'/>")
    nothing(bob, lambda e: e.get("from", "").startswith("carol@"), "anything from carol")
    nothing(carol, lambda e: e.get("type") == "error", "an error for presence")
    # the user's own stanzas to the blocked JID
    mid = bob.message("carol@localhost/c", "hello?")
    err = bob.wait(is_message(type_="error"))
    check(err.get("id") == mid and error_condition(err) == "not-acceptable",
          "message to a blocked JID", err)
    e = err.find(q(NS_CLIENT, "error"))
    check(e.find(q(NS_BLOCKING_ERRORS, "blocked")) is not None, "the <blocked/> condition", err)
    r = bob.ping(to=carol.jid)
    check(error_condition(r) == "not-acceptable" and
          r.find(q(NS_CLIENT, "error")).find(q(NS_BLOCKING_ERRORS, "blocked")) is not None,
          "iq to a blocked JID", r)
    nothing(carol, lambda e: e.get("from", "").startswith("bob@"), "anything from bob")
    # unblocked: everything flows again
    block(bob, "carol@localhost", name="unblock")
    carol.message(bob.jid, "finally")
    m = bob.wait(is_message(carol.jid))
    check(m.find(q(NS_CLIENT, "body")).text == "finally", "message after unblock", m)


def test_block_full_jid_only(ctx):
    """XEP-0191 §6: a full JID blocks only that resource."""
    dave1 = login(ctx, "dave", "r1")
    dave2 = login(ctx, "dave", "r2")
    judy = login(ctx, "judy", "j")
    block(judy, dave1.jid)
    dave1.message(judy.jid, "from r1")
    err = dave1.wait(is_message(type_="error"))
    check(error_condition(err) == "service-unavailable", "the blocked resource", err)
    dave2.message(judy.jid, "from r2")
    m = judy.wait(is_message(dave2.jid))
    check(m.find(q(NS_CLIENT, "body")).text == "from r2", "another resource passes", m)
    block(judy, name="unblock")


def test_block_domain(ctx):
    """XEP-0191 §6: a domain blocks every address at it."""
    ivan = login(ctx, "ivan", "i")
    r = block(ivan, "elsewhere.example")
    check(r.get("type") == "result", "block a domain", r)
    mid = ivan.message("someone@elsewhere.example/x", "hi")
    err = ivan.wait(is_message(type_="error"))
    check(err.get("id") == mid and error_condition(err) == "not-acceptable",
          "an address at a blocked domain", err)
    r = ivan.ping()  # the own server is still reachable
    check(r.get("type") == "result", "server ping", r)
    block(ivan, name="unblock")


def test_presence_on_block_and_unblock(ctx):
    """XEP-0191 §3.3: blocking sends unavailable to a contact that sees the user's presence
    (and the user stops seeing the contact); §3.4: unblocking sends current presence."""
    erin = login(ctx, "erin", "e", status="here")
    frank = login(ctx, "frank", "f")
    subscribe(frank, "frank@localhost", erin, "erin@localhost")
    subscribe(erin, "erin@localhost", frank, "frank@localhost")
    r = block(erin, "frank@localhost")
    check(r.get("type") == "result", "block frank", r)
    frank.wait(is_presence(erin.jid, "unavailable"))
    erin.wait(is_presence(frank.jid, "unavailable"))
    erin.send("<presence><status>busy</status></presence>")
    erin.wait(is_presence(erin.jid, None))
    nothing(frank, is_presence(erin.jid, None), "erin's presence update while blocked")
    r = block(erin, "frank@localhost", name="unblock")
    check(r.get("type") == "result", "unblock frank", r)
    p = frank.wait(is_presence(erin.jid, None))
    check(p.find(q(NS_CLIENT, "status")).text == "busy", "current presence after unblock", p)
    erin.wait(is_presence(frank.jid, None))


def test_vcard(ctx):
    """XEP-0054: own vCard set/get, another account's, the size limit."""
    alice = login(ctx, "alice", "vc", presence=False)
    bob = login(ctx, "bob", "vc", presence=False)
    r = alice.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=None)
    v = r.find(q(NS_VCARD, "vCard"))
    check(r.get("type") == "result" and v is not None and len(v) == 0, "empty at first", r)
    r = alice.iq("set", "<vCard xmlns='%s'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME>"
                 "</vCard>" % NS_VCARD, to=None)
    check(r.get("type") == "result", "set own vCard", r)
    r = alice.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=None)
    fn = r.find("%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN")))
    check(fn is not None and fn.text == "Alice Liddell", "own vCard back", r)
    r = bob.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="alice@localhost")
    fn = r.find("%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN")))
    check(r.get("from") == "alice@localhost" and fn is not None and fn.text == "Alice Liddell",
          "another account's vCard", r)
    r = alice.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="bob@localhost")
    v = r.find(q(NS_VCARD, "vCard"))
    check(r.get("type") == "result" and v is not None and len(v) == 0,
          "an account without a vCard: empty", r)
    r = alice.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="nobody@localhost")
    check(error_condition(r) == "service-unavailable", "no such account", r)
    big = "<vCard xmlns='%s'><DESC>%s</DESC></vCard>" % (NS_VCARD, "x" * VCARD_SIZE)
    r = alice.iq("set", big, to=None)
    check(error_condition(r) == "not-acceptable", "a vCard over the limit", r)
    r = bob.iq("set", "<vCard xmlns='%s'><FN>Mallory</FN></vCard>" % NS_VCARD,
               to="alice@localhost")
    check(error_condition(r) == "forbidden", "setting another's vCard", r)
    r = alice.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to="alice@localhost")
    fn = r.find("%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN")))
    check(fn is not None and fn.text == "Alice Liddell", "unchanged after refusals", r)


def test_private_storage(ctx):
    """XEP-0049: set/get round trip, several elements per set, reserved namespaces,
    another user's data."""
    gina = login(ctx, "gina", "p", presence=False)
    r = gina.iq("set", "<query xmlns='%s'><prefs xmlns='ex:prefs'><nick>G</nick></prefs>"
                "<storage xmlns='storage:bookmarks'><conference jid='r@muc.example'/>"
                "</storage></query>" % NS_PRIVATE, to=None)
    check(r.get("type") == "result", "set two elements", r)
    gina.close()
    gina = login(ctx, "gina", "p2", presence=False)
    r = gina.iq("get", "<query xmlns='%s'><prefs xmlns='ex:prefs'/></query>" % NS_PRIVATE,
                to=None)
    nick = r.find("%s/%s/%s" % (q(NS_PRIVATE, "query"), q("ex:prefs", "prefs"),
                                q("ex:prefs", "nick")))
    check(nick is not None and nick.text == "G", "first element back", r)
    r = gina.iq("get", "<query xmlns='%s'><storage xmlns='storage:bookmarks'/></query>"
                % NS_PRIVATE, to=None)
    conf = r.find(".//" + q("storage:bookmarks", "conference"))
    check(conf is not None and conf.get("jid") == "r@muc.example", "second element back", r)
    r = gina.iq("get", "<query xmlns='%s'><unknown xmlns='ex:none'/></query>" % NS_PRIVATE,
                to=None)
    el = r.find("%s/%s" % (q(NS_PRIVATE, "query"), q("ex:none", "unknown")))
    check(r.get("type") == "result" and el is not None and len(el) == 0,
          "an unknown element comes back empty", r)
    for ns in (NS_CLIENT, "jabber:server", NS_PRIVATE):
        r = gina.iq("set", "<query xmlns='%s'><x xmlns='%s'/></query>" % (NS_PRIVATE, ns),
                    to=None)
        check(error_condition(r) == "not-acceptable", "set in reserved namespace " + ns, r)
        r = gina.iq("get", "<query xmlns='%s'><x xmlns='%s'/></query>" % (NS_PRIVATE, ns),
                    to=None)
        check(error_condition(r) == "not-acceptable", "get in reserved namespace " + ns, r)
    r = gina.iq("get", "<query xmlns='%s'/>" % NS_PRIVATE, to=None)
    check(error_condition(r) == "not-acceptable", "a get without a child", r)
    hank = login(ctx, "hank", "p", presence=False)
    r = hank.iq("get", "<query xmlns='%s'><prefs xmlns='ex:prefs'/></query>" % NS_PRIVATE,
                to="gina@localhost")
    check(error_condition(r) == "forbidden", "get of another user's data", r)
    r = hank.iq("set", "<query xmlns='%s'><prefs xmlns='ex:prefs'/></query>" % NS_PRIVATE,
                to="gina@localhost")
    check(error_condition(r) == "forbidden", "set of another user's data", r)
    r = gina.iq("get", "<query xmlns='%s'><prefs xmlns='ex:prefs'/></query>" % NS_PRIVATE,
                to=None)
    check(r.find(".//" + q("ex:prefs", "nick")) is not None, "unchanged", r)


def last_query(c, to):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_LAST, to=to)
    return r, r.find(q(NS_LAST, "query"))


def test_last_activity(ctx):
    """XEP-0012: server uptime (§5); an account's last logout and status for a subscriber
    (§3), 0 while online, <forbidden/> for anyone else."""
    hank = login(ctx, "hank", "l")
    r, lq = last_query(hank, "")
    check(r.get("type") == "result" and lq is not None and lq.get("seconds", "").isdigit() and
          not (lq.text or "").strip(), "server uptime", r)
    gina = login(ctx, "gina", "l")
    subscribe(hank, "hank@localhost", gina, "gina@localhost")
    r, lq = last_query(hank, "gina@localhost")
    check(r.get("type") == "result" and lq.get("seconds") == "0", "0 while online", r)
    for c in list(ctx.open):
        if c.jid and c.jid.startswith("gina@"):
            c.close()  # every gina session; an abrupt close is also a logout
    gina = login(ctx, "gina", "last")
    gina.send("<presence type='unavailable'><status>Heading Home</status></presence>")
    hank.wait(is_presence(gina.jid, "unavailable"))
    gina.send("</stream:stream>")
    gina.wait_closed()
    time.sleep(1.1)
    r, lq = last_query(hank, "gina@localhost")
    check(r.get("type") == "result" and r.get("from") == "gina@localhost", "last activity", r)
    secs = int(lq.get("seconds"))
    check(1 <= secs <= 10 and lq.text == "Heading Home", "seconds and status", r)
    ivan = login(ctx, "ivan", "l", presence=False)
    r, _ = last_query(ivan, "gina@localhost")
    check(error_condition(r) == "forbidden", "no subscription, no answer", r)
    gina = login(ctx, "gina", "self", presence=False)
    r, lq = last_query(gina, None)
    check(r.get("type") == "result" and lq.text == "Heading Home", "the user's own", r)


TESTS = [
    ("disco#info lists blocking, vcard-temp, private, last", test_disco_features),
    ("blocklist get, block, unblock, unblock-all with pushes", test_blocklist_commands),
    ("blocklist errors: bad-request, jid-malformed", test_blocklist_errors),
    ("a blocked contact cannot reach the user, nor the user it",
     test_blocked_contact_cannot_reach_user),
    ("a blocked full JID blocks only that resource", test_block_full_jid_only),
    ("a blocked domain blocks every address at it", test_block_domain),
    ("unavailable on block, current presence on unblock", test_presence_on_block_and_unblock),
    ("vCard: own set/get, another's, size limit", test_vcard),
    ("private XML storage round trip and refusals", test_private_storage),
    ("last activity: uptime, last logout with status, forbidden", test_last_activity),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, close_ctx)
