#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_im.py — RFC 6121 on LMDB: rosters, subscriptions, presence,
# offline messages (XEP-0160/0203), durability across kill -9.

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, TerndCtx, XmppTimeout, check, close_ctx, error_condition,  # noqa: E402
                     q, run_tests, to_str)

NS_ROSTER = "jabber:iq:roster"
NS_DELAY = "urn:xmpp:delay"
PW = "secret-pw"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan", "judy")


def setup():
    return TerndCtx(USERS, PW, extra={"limits": {"offline_quota": 200, "roster_text_length": 64}})


def login(ctx, user, resource=None, presence=True, roster=True, priority=None):
    c = ctx.client()
    c.login(user, PW, resource=resource)
    if roster:
        r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
        check(r.get("type") == "result", "roster get failed", r)
        c.roster = r
    if presence:
        prio = "<priority>%d</priority>" % priority if priority is not None else ""
        c.send("<presence>%s</presence>" % prio)
        c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == c.jid)
    return c


def is_presence(frm=None, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "presence") and
                (frm is None or (e.get("from") or "").startswith(frm)) and
                e.get("type") == type_)
    return m


def is_push(jid):
    def m(e):
        if e.tag != q(NS_CLIENT, "iq") or e.get("type") != "set":
            return False
        item = e.find("%s/%s" % (q(NS_ROSTER, "query"), q(NS_ROSTER, "item")))
        return item is not None and item.get("jid") == jid
    return m


def ack_push(c, push):
    c.send("<iq type='result' id='%s'/>" % push.get("id"))
    return push.find("%s/%s" % (q(NS_ROSTER, "query"), q(NS_ROSTER, "item")))


def test_subscription_contact_offline(ctx):
    """RFC 6121 §3.1: the contact is offline during the request; it gets it at login."""
    alice = login(ctx, "alice", "home")
    alice.send("<presence to='bob@localhost' type='subscribe'/>")
    item = ack_push(alice, alice.wait(is_push("bob@localhost")))
    check(item.get("subscription") == "none" and item.get("ask") == "subscribe",
          "roster push after subscribe", item)
    bob = login(ctx, "bob", "desk")
    req = bob.wait(is_presence("alice@localhost", "subscribe"))
    check(req.get("from") == "alice@localhost", "request from the bare JID", req)
    bob.send("<presence to='alice@localhost' type='subscribed'/>")
    item = ack_push(bob, bob.wait(is_push("alice@localhost")))
    check(item.get("subscription") == "from", "contact's roster after approval", item)
    item = ack_push(alice, alice.wait(is_push("bob@localhost")))
    check(item.get("subscription") == "to" and item.get("ask") is None,
          "user's roster after approval", item)
    alice.wait(is_presence("bob@localhost", "subscribed"))
    avail = alice.wait(is_presence("bob@localhost/desk", None))
    check(avail is not None, "bob's presence after approval")
    # and the other way: bob subscribes to alice, alice approves -> both
    bob.send("<presence to='alice@localhost' type='subscribe'/>")
    alice.wait(is_presence("bob@localhost", "subscribe"))
    alice.send("<presence to='bob@localhost' type='subscribed'/>")
    item = ack_push(alice, alice.wait(lambda e: is_push("bob@localhost")(e) and
                                      e.find(".//" + q(NS_ROSTER, "item")).get(
                                          "subscription") == "both"))
    check(item.get("subscription") == "both", "both after mutual approval", item)
    bob.wait(is_presence("alice@localhost/home", None))
    ctx.alice, ctx.bob = alice, bob


def test_unavailable_on_abrupt_disconnect(ctx):
    """RFC 6121 §4.5.2: a dropped connection still tells the contacts."""
    bob2 = login(ctx, "bob", "phone")
    ctx.alice.wait(is_presence("bob@localhost/phone", None))
    bob2.sock.close()  # no </stream:stream>
    ctx.alice.wait(is_presence("bob@localhost/phone", "unavailable"))


def test_probe_on_login(ctx):
    """RFC 6121 §4.3: a new session learns its contacts' presence through probes."""
    alice2 = login(ctx, "alice", "laptop")
    p = alice2.wait(is_presence("bob@localhost/desk", None))
    check(p is not None, "presence of bob from the probe")
    alice2.close()
    ctx.bob.wait(is_presence("alice@localhost/laptop", "unavailable"))


def test_roster_push_two_resources(ctx):
    """RFC 6121 §2.3.2: a roster set is pushed to every interested resource."""
    a2 = login(ctx, "alice", "second")
    r = ctx.alice.iq("set", "<query xmlns='%s'><item jid='carol@localhost' name='Carol'>"
                     "<group>Friends</group></item></query>" % NS_ROSTER, to=None)
    check(r.get("type") == "result", "roster set", r)
    for c in (ctx.alice, a2):
        item = ack_push(c, c.wait(is_push("carol@localhost")))
        check(item.get("name") == "Carol" and item.get("subscription") == "none",
              "push to " + c.jid, item)
        g = item.find(q(NS_ROSTER, "group"))
        check(g is not None and g.text == "Friends", "group in push", item)
    a2.close()


def test_roster_versioning(ctx):
    """RFC 6121 §2.6: with a recent version only the changes come, as pushes."""
    c = login(ctx, "dave", "v", presence=False, roster=False)
    r = c.iq("get", "<query xmlns='%s' ver=''/>" % NS_ROSTER, to=None)
    ver0 = r.find(q(NS_ROSTER, "query")).get("ver")
    check(ver0 is not None, "a versioned roster carries ver", r)
    for j in ("x1@localhost", "x2@localhost"):
        c.iq("set", "<query xmlns='%s'><item jid='%s'/></query>" % (NS_ROSTER, j), to=None)
        ack_push(c, c.wait(is_push(j)))
    r = c.iq("get", "<query xmlns='%s' ver=''/>" % NS_ROSTER, to=None)
    ver2 = r.find(q(NS_ROSTER, "query")).get("ver")
    items = r.findall(".//" + q(NS_ROSTER, "item"))
    check(len(items) == 2 and ver2 != ver0, "full roster with two items", r)
    c.iq("set", "<query xmlns='%s'><item jid='x1@localhost' subscription='remove'/></query>"
         % NS_ROSTER, to=None)
    ack_push(c, c.wait(is_push("x1@localhost")))
    c.close()
    c = login(ctx, "dave", "v2", presence=False, roster=False)
    r = c.iq("get", "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, ver2), to=None)
    check(r.find(q(NS_ROSTER, "query")) is None, "empty result for a known version", r)
    item = ack_push(c, c.wait(is_push("x1@localhost")))
    check(item.get("subscription") == "remove", "the removal comes as a push", item)
    try:
        extra = c.wait(is_push("x2@localhost"), timeout=0.5)
        check(False, "an unchanged item was pushed", extra)
    except XmppTimeout:
        pass
    c.close()


def test_roster_limits(ctx):
    c = login(ctx, "erin", "l", presence=False)
    r = c.iq("set", "<query xmlns='%s'><item jid='y@localhost' name='%s'/></query>"
             % (NS_ROSTER, "n" * 65), to=None)
    check(error_condition(r) == "not-acceptable", "too long a name", r)
    r = c.iq("set", "<query xmlns='%s'><item jid='y@localhost'/><item jid='z@localhost'/>"
             "</query>" % NS_ROSTER, to=None)
    check(error_condition(r) == "bad-request", "two items in one set", r)
    r = c.iq("set", "<query xmlns='%s'><item jid='y@localhost'><group>a</group><group>a</group>"
             "</item></query>" % NS_ROSTER, to=None)
    check(error_condition(r) == "bad-request", "duplicate group", r)
    r = c.iq("set", "<query xmlns='%s'><item jid='nobody@localhost' subscription='remove'/>"
             "</query>" % NS_ROSTER, to=None)
    check(error_condition(r) == "item-not-found", "remove of an unknown item", r)
    # RFC 6121 §2.1.2.5: any 'subscription' but "remove" in a roster set is ignored
    r = c.iq("set", "<query xmlns='%s'><item jid='w@localhost' subscription='both'/></query>"
             % NS_ROSTER, to=None)
    check(r.get("type") == "result", "a set claiming subscription='both'", r)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
    item = [i for i in r.iter(q(NS_ROSTER, "item")) if i.get("jid") == "w@localhost"]
    check(len(item) == 1 and item[0].get("subscription") == "none",
          "the claimed subscription was ignored", r)
    c.close()


def test_directed_presence(ctx):
    """RFC 6121 §4.6: who got directed presence hears our unavailable at logout."""
    carol = login(ctx, "carol", "c")
    frank = login(ctx, "frank", "f")
    frank.send("<presence to='carol@localhost/c'/>")
    carol.wait(is_presence("frank@localhost/f", None))
    frank.send("</stream:stream>")
    carol.wait(is_presence("frank@localhost/f", "unavailable"))


def test_roster_remove_unsubscribes(ctx):
    """RFC 6121 §2.5.2: removing an item cancels the subscriptions both ways."""
    r = ctx.alice.iq("set", "<query xmlns='%s'><item jid='bob@localhost' subscription='remove'/>"
                     "</query>" % NS_ROSTER, to=None)
    check(r.get("type") == "result", "remove", r)
    item = ack_push(ctx.bob, ctx.bob.wait(lambda e: is_push("alice@localhost")(e) and
                                          e.find(".//" + q(NS_ROSTER, "item")).get(
                                              "subscription") == "none"))
    check(item.get("subscription") == "none", "bob's item after alice removed him", item)
    ctx.bob.wait(is_presence("alice@localhost/home", "unavailable"))


def test_offline_order_and_delay(ctx):
    """XEP-0160: stored with a delay stamp, delivered oldest first at login."""
    sender = login(ctx, "gina", "g")
    for i in range(3):
        sender.message("hank@localhost", "offline %d" % i)
    time.sleep(0.3)
    hank = login(ctx, "hank", "h")
    for i in range(3):
        m = hank.wait_message()
        body = m.find(q(NS_CLIENT, "body"))
        check(body is not None and body.text == "offline %d" % i, "order", m)
        d = m.find(q(NS_DELAY, "delay"))
        check(d is not None and d.get("stamp") and d.get("from") == "localhost", "delay", m)
        check(m.get("from") == sender.jid, "from kept", m)
    hank.close()
    time.sleep(0.3)
    hank = login(ctx, "hank", "h2")
    try:
        extra = hank.wait_message(timeout=0.7)
        check(False, "offline messages delivered twice", extra)
    except XmppTimeout:
        pass
    hank.close()


def test_offline_quota(ctx):
    """A full offline store bounces with <resource-constraint/>, never a silent drop."""
    sender = login(ctx, "ivan", "i")
    for i in range(200):
        sender.message("judy@localhost", "q %d" % i)
    mid = sender.message("judy@localhost", "one too many")
    err = sender.wait(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    check(err.get("id") == mid and error_condition(err) == "resource-constraint",
          "quota bounce", err)
    hl = sender.message("judy@localhost", "headline", type_="headline")  # noqa: F841
    judy = login(ctx, "judy", "j")
    bodies = [judy.wait_message().find(q(NS_CLIENT, "body")).text for _ in range(200)]
    check(bodies == ["q %d" % i for i in range(200)], "the 200 stored ones", *bodies[:5])
    try:
        extra = judy.wait_message(timeout=0.7)
        check(False, "a headline or the bounced message was stored", extra)
    except XmppTimeout:
        pass


def test_durable_across_kill(ctx):
    """Store N offline messages, kill -9 ternd, restart: all N delivered once."""
    n = 50
    sender = login(ctx, "carol", "dur")
    for i in range(n):
        sender.message("dave@localhost", "durable %d" % i)
    sender.ping()  # everything before it was processed (and committed)
    ctx.t.signal(signal.SIGKILL)
    ctx.t.wait(10)
    for c in ctx.open:
        c.close()
    ctx.open = []
    ctx.t.start()
    dave = login(ctx, "dave", "after")
    got = [dave.wait_message().find(q(NS_CLIENT, "body")).text for _ in range(n)]
    check(got == ["durable %d" % i for i in range(n)], "all %d in order" % n, *got[:5])
    try:
        extra = dave.wait_message(timeout=0.7)
        check(False, "delivered twice", extra)
    except XmppTimeout:
        pass
    # the roster survived the kill too (carol is in alice's roster since test 4)
    r = login(ctx, "alice", "after", presence=False).roster
    items = [i.get("jid") for i in r.iter(q(NS_ROSTER, "item"))]
    check("carol@localhost" in items, "roster after kill -9", r)


def test_kill_during_offline_delivery(ctx):
    """Kill -9 while a client receives its offline messages: after a restart none is lost;
    only what was in flight may come twice (docs/storage.md)."""
    n = 150
    sender = login(ctx, "erin", "kd")
    big = "x" * 40000  # 6 MB in all: the socket buffers fill and the rest waits in ternd
    for i in range(n):
        sender.message("frank@localhost", "%d %s" % (i, big))
    sender.ping()
    frank = login(ctx, "frank", "first", presence=False)
    frank.send("<presence/>")
    first = set()
    for _ in range(20):  # read a little, leave the rest unread in flight
        m = frank.wait_message()
        first.add(int(m.find(q(NS_CLIENT, "body")).text.split()[0]))
    ctx.t.signal(signal.SIGKILL)
    ctx.t.wait(10)
    while True:  # what reached the kernel still arrives: read the first session to its end
        try:
            m = frank.wait_message(timeout=3)
        except Exception:  # noqa: BLE001 - closed or timed out
            break
        first.add(int(m.find(q(NS_CLIENT, "body")).text.split()[0]))
    for c in ctx.open:
        c.close()
    ctx.open = []
    ctx.t.start()
    frank = login(ctx, "frank", "second")
    second = []
    while True:
        try:
            m = frank.wait_message(timeout=2)
        except XmppTimeout:
            break
        second.append(int(m.find(q(NS_CLIENT, "body")).text.split()[0]))
    got = first | set(second)
    missing = sorted(set(range(n)) - got)
    check(not missing, "lost %d messages, e.g. %s" % (len(missing), missing[:10]))
    check(second == sorted(second), "redelivered in order")
    check(len(second) < n, "the ones already written out were not all kept: %d" % len(second))


TESTS = [
    ("subscription handshake with the contact offline", test_subscription_contact_offline),
    ("unavailable presence on an abrupt disconnect", test_unavailable_on_abrupt_disconnect),
    ("probe answers give a new session its contacts' presence", test_probe_on_login),
    ("roster pushes reach two resources", test_roster_push_two_resources),
    ("roster versioning sends only changes", test_roster_versioning),
    ("roster limits and bad sets", test_roster_limits),
    ("directed presence gets unavailable at logout", test_directed_presence),
    ("roster remove cancels subscriptions", test_roster_remove_unsubscribes),
    ("offline messages in order with delay stamps", test_offline_order_and_delay),
    ("offline quota bounces resource-constraint", test_offline_quota),
    ("offline messages survive kill -9", test_durable_across_kill),
    ("kill -9 during offline delivery loses nothing", test_kill_during_offline_delivery),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, close_ctx)
