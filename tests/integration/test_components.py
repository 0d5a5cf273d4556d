#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_components.py — XEP-0114 components: handshake and its errors,
# conflict and multiple connections, 'from' checks, routing both ways, away components
# (bounce, queue, timeout), subdomains, keepalive, disco#items, XEP-0356 privileges with
# slixmpp's ComponentXMPP, and biboumi + ngircd as a real IRC gateway.

import hashlib
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (HOST, NS_CLIENT, IrcClient, RawClient, SlixLoop, Ternd,  # noqa: E402
                     XmppTimeout, check, error_condition, q, run_tests, to_str)

NS_COMPONENT = "jabber:component:accept"
NS_ROSTER = "jabber:iq:roster"
NS_PING = "urn:xmpp:ping"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PRIVILEGE = "urn:xmpp:privilege:2"
NS_FORWARD = "urn:xmpp:forward:0"
NS_MUC = "http://jabber.org/protocol/muc"
PW = "secret-pw"
SECRET = "component-secret"
BIBOUMI_SECRET = "biboumi-secret"
USERS = ("alice", "bob", "carol")  # dave and erin come later


class Ctx:
    pass


def setup():
    ctx = Ctx()
    extra = {
        "components": {"queue_timeout": 3, "idle_ping": 5},
        "component echo.localhost": {"secret": SECRET, "name": "Echo service"},
        "component single.localhost": {"secret": SECRET},
        "component multi.localhost": {"secret": SECRET, "multiple": True},
        "component queued.localhost": {"secret": SECRET, "queue": 5},
        "component gw.localhost": {"secret": SECRET, "subdomains": True},
        "component idle.localhost": {"secret": SECRET},
        "component priv.localhost": {"secret": SECRET, "roster": "both",
                                     "message": "outgoing", "presence": "managed_entity"},
        "component watch.localhost": {"secret": SECRET, "presence": "roster"},
        "component biboumi.localhost": {"secret": BIBOUMI_SECRET, "name": "IRC gateway"},
    }
    ctx.t = Ternd(extra=extra).start()
    for u in USERS:
        ctx.t.adduser(u, PW)
    ctx.open = []
    ctx.slix = SlixLoop()
    ctx.procs = []
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    ctx.slix.shutdown()
    for p in ctx.procs:  # only the processes this file started, by pid
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    ctx.t.cleanup()


# --------------------------------------------------------------------------------------
# helpers


def handshake_hash(stream_id, secret):
    """XEP-0114 §3: hex(SHA-1(stream id + secret))."""
    return hashlib.sha1((stream_id + secret).encode()).hexdigest()


def raw_component(ctx, domain, secret=SECRET, version=None):
    """Open a component stream and send the handshake; (client, our stream header)."""
    c = RawClient(ctx.t.component_port, domain=domain)
    ctx.open.append(c)
    c.send(c.header(ns=NS_COMPONENT, version=version))
    attrs = c.wait_stream_open()
    c.send("<handshake>%s</handshake>" % handshake_hash(attrs["id"], secret))
    return c, attrs


def connect_component(ctx, domain, secret=SECRET):
    c, _ = raw_component(ctx, domain, secret)
    el = c.wait()
    check(el.tag == q(NS_COMPONENT, "handshake") and len(el) == 0 and
          not (el.text or "").strip(), "the handshake is accepted with an empty <handshake/>", el)
    return c


def login(ctx, user, roster=False, presence=True):
    c = ctx.t.client()
    ctx.open.append(c)
    c.login(user, PW)
    if roster:
        r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
        check(r.get("type") == "result", "roster get", r)
    if presence:
        c.available()
    return c


def is_comp(name, frm=None, to=None):
    def m(e):
        return (e.tag == q(NS_COMPONENT, name) and (frm is None or e.get("from") == frm) and
                (to is None or e.get("to") == to))
    return m


def body(el):
    b = el.find(q(el.tag.split("}")[0][1:], "body"))
    return b.text if b is not None else None


def is_msg(frm=None, text=None, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "message") and
                (frm is None or e.get("from") == frm) and
                (type_ is None or e.get("type") == type_) and
                (text is None or body(e) == text))
    return m


def expect_nothing(c, match, timeout=0.5):
    try:
        el = c.wait(match, timeout=timeout)
    except XmppTimeout:
        return
    raise AssertionError("unexpected: %s" % to_str(el))


class SlixComponent:
    """A slixmpp ComponentXMPP on the SlixLoop thread; what it received goes to queues."""

    def __init__(self, runner, jid, secret, plugins=(), echo=False):
        import asyncio
        import slixmpp
        self.runner = runner
        # server_host 'localhost': XEP-0356 privileged messages are addressed to it
        self.xmpp = x = slixmpp.ComponentXMPP(jid, secret, "localhost", 0)
        x.loop = asyncio.get_running_loop()
        for p in plugins:
            x.register_plugin(p)
        self.echo = echo
        self.messages = queue.Queue()
        self.presences = queue.Queue()
        self.state = queue.Queue()
        x.add_event_handler("session_start", lambda e: self.state.put(("session_start", e)))
        x.add_event_handler("disconnected", lambda e: self.state.put(("disconnected", e)))
        x.add_event_handler("stream_error", lambda e: self.state.put(("stream_error", e)))
        x.add_event_handler("privileges_advertised",
                            lambda *e: self.state.put(("privileges", None)))
        x.add_event_handler("message", self._message)
        x.add_event_handler("message_error", lambda m: self.messages.put(m))
        x.add_event_handler("presence", lambda p: self.presences.put(p))

    def _message(self, msg):
        self.messages.put(msg)
        if self.echo and msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply("echo: %s" % msg["body"]).send()

    @classmethod
    def start(cls, ctx, jid, secret=SECRET, plugins=(), echo=False, wait_for="session_start"):
        async def make():
            return cls(ctx.slix, jid, secret, plugins, echo)
        c = ctx.slix.call(make())
        ctx.slix.clients.append(c)  # SlixLoop.shutdown() disconnects it
        ctx.slix.call_soon(lambda: c.xmpp.connect(HOST, ctx.t.component_port))
        c.wait_state(wait_for)
        return c

    def wait_state(self, kind, timeout=10):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                k, v = self.state.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(k)
            if k == kind:
                return v
        raise XmppTimeout("component %s: no %s; events %s" % (self.xmpp.boundjid, kind, seen))

    def wait_message(self, pred, timeout=10):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                m = self.messages.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if pred(m):
                return m
            seen.append(str(m))
        raise XmppTimeout("component %s: no matching message; got %s"
                          % (self.xmpp.boundjid, seen))

    def call(self, coro_fn, timeout=10):
        async def go():
            return await coro_fn()
        return self.runner.call(go(), timeout)

    def kill(self):
        """Drop the TCP connection without closing the stream (a crashed component)."""
        self.runner.call_soon(self.xmpp.abort)


# --------------------------------------------------------------------------------------
# XEP-0114 stream and handshake


def test_handshake_ok(ctx):
    """XEP-0114 §3: no version, our header from the component's domain, no features."""
    c, attrs = raw_component(ctx, "single.localhost")
    check(attrs.get("from") == "single.localhost", "header 'from' is the component", attrs)
    check(attrs.get("id"), "header has an id", attrs)
    check("version" not in attrs, "no version in our header", attrs)
    el = c.wait()
    check(el.tag == q(NS_COMPONENT, "handshake"), "the first element is <handshake/>", el)
    check(b"features" not in bytes(c.raw), "no <stream:features/>: %r" % bytes(c.raw))
    c.send("</stream:stream>")
    check(c.wait_closed(), "the server closes after our </stream:stream>")


def test_wrong_secret(ctx):
    c, _ = raw_component(ctx, "single.localhost", secret="not-the-secret")
    cond, el = c.stream_error()
    check(cond == "not-authorized", "wrong secret -> <not-authorized/>", el)


def test_unknown_domain(ctx):
    c = RawClient(ctx.t.component_port, domain="nosuch.localhost")
    ctx.open.append(c)
    c.send(c.header(ns=NS_COMPONENT, version=None))
    cond, el = c.stream_error()
    check(cond == "host-unknown", "unknown component -> <host-unknown/>", el)


def test_stanza_before_handshake(ctx):
    c = RawClient(ctx.t.component_port, domain="single.localhost")
    ctx.open.append(c)
    c.send(c.header(ns=NS_COMPONENT, version=None))
    c.wait_stream_open()
    c.send("<message from='a@single.localhost' to='alice@localhost'><body>x</body></message>")
    cond, el = c.stream_error()
    check(cond == "not-authorized", "a stanza before the handshake -> <not-authorized/>", el)


def test_conflict(ctx):
    """A second connection of a single-connection component is refused; the first stays."""
    first = connect_component(ctx, "single.localhost")
    second, _ = raw_component(ctx, "single.localhost")
    cond, el = second.stream_error()
    check(cond == "conflict", "the new connection gets <conflict/>", el)
    alice = login(ctx, "alice")
    alice.message("x@single.localhost", "still there")
    m = first.wait(is_comp("message", to="x@single.localhost"))
    check(body(m) == "still there", "the first connection still gets traffic", m)
    first.send("</stream:stream>")
    first.wait_closed()
    alice.close()


def test_multiple_round_robin(ctx):
    """multiple = true: both connections get stanzas; iq results go back to the asker."""
    m1 = connect_component(ctx, "multi.localhost")
    m2 = connect_component(ctx, "multi.localhost")
    alice = login(ctx, "alice")
    for i in range(6):
        alice.message("u@multi.localhost", "n%d" % i)
    got = {1: [], 2: []}
    deadline = time.monotonic() + 5
    while len(got[1]) + len(got[2]) < 6 and time.monotonic() < deadline:
        for n, c in ((1, m1), (2, m2)):
            try:
                got[n].append(body(c.wait(is_comp("message"), timeout=0.2)))
            except XmppTimeout:
                pass
    check(len(got[1]) + len(got[2]) == 6, "all 6 messages arrived: %s" % got)
    check(got[1] and got[2], "both connections got traffic: %s" % got)
    # iq requests from the second connection: each result comes back to it
    ids = ["ping-%d" % i for i in range(4)]
    for i in ids:
        m2.send("<iq type='get' id='%s' from='u@multi.localhost' to='localhost'>"
                "<ping xmlns='%s'/></iq>" % (i, NS_PING))
    for i in ids:
        r = m2.wait(lambda e, i=i: e.tag == q(NS_COMPONENT, "iq") and e.get("id") == i)
        check(r.get("type") == "result", "ping result on the asking connection", r)
    for c in (m1, m2):
        c.send("</stream:stream>")
        c.wait_closed()
    alice.close()


def test_subdomains_and_spoofed_from(ctx):
    """subdomains = true routes *.gw.localhost; a 'from' elsewhere -> <invalid-from/>."""
    gw = connect_component(ctx, "gw.localhost")
    alice = login(ctx, "alice")
    alice.message("room@chan.gw.localhost", "to a subdomain")
    m = gw.wait(is_comp("message", to="room@chan.gw.localhost"))
    check(body(m) == "to a subdomain", "a subdomain is routed to the component", m)
    gw.send("<message from='room@chan.gw.localhost' to='%s' type='chat'>"
            "<body>from a subdomain</body></message>" % alice.jid)
    r = alice.wait_message(is_msg("room@chan.gw.localhost", "from a subdomain"))
    check(r is not None, "a subdomain may be the sender")
    gw.send("<message from='alice@localhost' to='bob@localhost'><body>spoof</body></message>")
    cond, el = gw.stream_error()
    check(cond == "invalid-from", "a spoofed 'from' -> <invalid-from/>", el)
    alice.close()


def test_missing_to(ctx):
    c = connect_component(ctx, "single.localhost")
    c.send("<message from='x@single.localhost'><body>to nobody</body></message>")
    cond, el = c.stream_error()
    check(cond == "improper-addressing", "no 'to' -> <improper-addressing/>", el)


# --------------------------------------------------------------------------------------
# routing with a real component (slixmpp)


def test_client_roundtrip(ctx):
    """A client's message reaches the component and the component's reply the client."""
    ctx.echo = SlixComponent.start(ctx, "echo.localhost", echo=True)
    alice = login(ctx, "alice")
    alice.message("bot@echo.localhost", "hi there")
    m = ctx.echo.wait_message(lambda m: m["body"] == "hi there")
    check(str(m["from"]) == alice.jid, "the component sees the sender's full JID: %s" % m)
    r = alice.wait_message(is_msg("bot@echo.localhost", "echo: hi there"))
    check(r.get("to") == alice.jid, "reply addressed to the client", r)
    ctx.alice = alice


def test_component_killed_then_back(ctx):
    """A dead component's stanzas bounce with <service-unavailable/>; after the reconnect
    traffic flows again."""
    alice = ctx.alice
    ctx.echo.kill()
    ctx.echo.wait_state("disconnected")
    # a stanza the server wrote before it read the EOF is lost with the TCP connection
    # (XEP-0114 has no acknowledgements): try again until the server knows
    deadline = time.monotonic() + 5
    r = None
    while time.monotonic() < deadline:
        mid = alice.message("bot@echo.localhost", "anyone?")
        try:
            r = alice.wait_message(lambda e: e.get("id") == mid, timeout=1)
            break
        except XmppTimeout:
            continue
    check(r.get("type") == "error" and error_condition(r) == "service-unavailable",
          "away component -> <service-unavailable/>", r)
    check(r.get("from") == "bot@echo.localhost", "the bounce comes from the address", r)
    ctx.echo = SlixComponent.start(ctx, "echo.localhost", echo=True)
    alice.message("bot@echo.localhost", "welcome back")
    alice.wait_message(is_msg("bot@echo.localhost", "echo: welcome back"))


def test_queue_while_away(ctx):
    """queue = 5: stanzas sent while away arrive, in order, after the (re)connect."""
    alice = ctx.alice
    for i in range(3):
        alice.message("q@queued.localhost", "queued %d" % i)
    expect_nothing(alice, is_msg("q@queued.localhost"), timeout=0.7)  # no bounce
    c = connect_component(ctx, "queued.localhost")
    bodies = [body(c.wait(is_comp("message", to="q@queued.localhost"))) for _ in range(3)]
    check(bodies == ["queued 0", "queued 1", "queued 2"], "queued in order: %s" % bodies)
    c.send("</stream:stream>")
    c.wait_closed()


def test_queue_full_and_timeout(ctx):
    """Over the bound -> bounced at once; held ones bounce after queue_timeout (3 s)."""
    alice = ctx.alice
    time.sleep(0.3)  # the previous connection is gone
    ids = [alice.message("q@queued.localhost", "held %d" % i) for i in range(6)]
    r = alice.wait_message(lambda e: e.get("id") == ids[5], timeout=2)
    check(error_condition(r) == "service-unavailable", "the 6th is over the bound", r)
    expect_nothing(alice, lambda e: e.get("id") in ids[:5], timeout=1)
    for i in ids[:5]:
        r = alice.wait_message(lambda e, i=i: e.get("id") == i, timeout=6)
        check(error_condition(r) == "service-unavailable", "bounced after the timeout", r)


def test_keepalive_ping(ctx):
    """A silent component is pinged (XEP-0199) from the server's domain, not cut."""
    c = connect_component(ctx, "idle.localhost")
    ping = c.wait(lambda e: e.tag == q(NS_COMPONENT, "iq") and e.get("type") == "get" and
                  e.find(q(NS_PING, "ping")) is not None, timeout=9)
    check(ping.get("from") == "localhost" and ping.get("to") == "idle.localhost",
          "ping from the server to the component", ping)
    c.send("<iq type='result' id='%s' from='idle.localhost' to='localhost'/>" % ping.get("id"))
    ctx.idle = c


def test_disco_items(ctx):
    """XEP-0030: configured components are items of the server (connected or not)."""
    alice = ctx.alice
    r = alice.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS)
    items = {i.get("jid"): i.get("name") for i in r.iter(q(NS_DISCO_ITEMS, "item"))}
    for d in ("echo.localhost", "single.localhost", "queued.localhost", "biboumi.localhost"):
        check(d in items, "%s listed" % d, r)
    check(items["echo.localhost"] == "Echo service", "the configured name", r)


# --------------------------------------------------------------------------------------
# XEP-0356


def test_privileges_advertised(ctx):
    """§4.2, §5.2, §6.2: the permissions come in a <message/> after the handshake."""
    c = connect_component(ctx, "priv.localhost")
    m = c.wait(is_comp("message"))
    priv = m.find(q(NS_PRIVILEGE, "privilege"))
    check(m.get("from") == "localhost" and priv is not None, "advertisement", m)
    perms = {p.get("access"): p.get("type") for p in priv.findall(q(NS_PRIVILEGE, "perm"))}
    check(perms == {"roster": "both", "message": "outgoing", "presence": "managed_entity"},
          "the configured permissions: %s" % perms, m)
    c.send("</stream:stream>")
    c.wait_closed()
    # a component without permissions gets no advertisement
    c = connect_component(ctx, "single.localhost")
    expect_nothing(c, is_comp("message"))
    c.send("</stream:stream>")
    c.wait_closed()


def test_privileged_roster(ctx):
    """roster = both: the component adds an item; the online account gets the push."""
    time.sleep(0.2)
    priv = SlixComponent.start(ctx, "priv.localhost", plugins=("xep_0356",),
                               wait_for="privileges")
    ctx.priv = priv
    check(priv.xmpp["xep_0356"].granted_privileges["roster"] == "both", "slixmpp saw roster")
    bob = login(ctx, "bob", roster=True)
    ctx.bob = bob
    # §6.1 managed_entity: bob's presence reaches the component
    p = priv.presences.get(timeout=5)
    check(str(p["from"]) == bob.jid, "the account's presence is forwarded: %s" % p)
    items = {"carol@irc.example.net": {"name": "Carol (IRC)", "subscription": "none",
                                       "groups": ["Gateway"]}}
    r = priv.call(lambda: priv.xmpp["xep_0356"].set_roster("bob@localhost", items))
    check(r["type"] == "result", "privileged roster set: %s" % r)
    push = bob.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "set" and
                    e.find(".//" + q(NS_ROSTER, "item")) is not None)
    item = push.find(".//" + q(NS_ROSTER, "item"))
    check(item.get("jid") == "carol@irc.example.net" and item.get("name") == "Carol (IRC)",
          "roster push to the online account", push)
    g = item.find(q(NS_ROSTER, "group"))
    check(g is not None and g.text == "Gateway", "group in the push", push)
    bob.send("<iq type='result' id='%s'/>" % push.get("id"))
    r = priv.call(lambda: priv.xmpp["xep_0356"].get_roster("bob@localhost"))
    check("carol@irc.example.net" in r["roster"]["items"], "privileged roster get: %s" % r)
    r = bob.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
    check(r.find(".//" + q(NS_ROSTER, "item")).get("jid") == "carol@irc.example.net",
          "the item is stored in the account's roster", r)


def test_privileged_message(ctx):
    """message = outgoing: a message on behalf of an account reaches the recipient from it."""
    priv, bob = ctx.priv, ctx.bob
    carol = login(ctx, "carol")
    x = priv.xmpp
    inner = x.make_message(mto="carol@localhost", mfrom="bob@localhost", mbody="on behalf",
                           mtype="chat")
    priv.runner.call_soon(lambda: x["xep_0356"].send_privileged_message(inner))
    m = carol.wait_message(is_msg(text="on behalf"))
    check(m.get("from") == "bob@localhost", "the recipient sees the account as sender", m)
    # §5.1: the forwarded 'from' must be a bare JID of this server
    mid = "bad-" + uuid.uuid4().hex[:8]
    priv.runner.call_soon(lambda: x.send_raw(
        "<message from='priv.localhost' to='localhost' id='%s'><privilege xmlns='%s'>"
        "<forwarded xmlns='%s'><message xmlns='jabber:client' from='%s' to='carol@localhost'>"
        "<body>resource</body></message></forwarded></privilege></message>"
        % (mid, NS_PRIVILEGE, NS_FORWARD, bob.jid)))
    err = priv.wait_message(lambda m: m["id"] == mid)
    # (slixmpp adds its own <error/> to a stanza it cannot handle: read ours)
    ours = err.xml.find(q(NS_COMPONENT, "error"))
    cond = [local for local in (c.tag.split("}")[1] for c in ours) if local != "text"] \
        if ours is not None else []
    check(err["type"] == "error" and cond == ["forbidden"],
          "a full JID as sender -> <forbidden/>: %s" % err)
    expect_nothing(carol, is_msg(text="resource"))
    carol.close()


def test_not_permitted(ctx):
    """A component without permissions: roster and messages on behalf -> <forbidden/>."""
    c = ctx.idle  # no privileges
    c.send("<iq type='get' id='r1' from='idle.localhost' to='bob@localhost'>"
           "<query xmlns='%s'/></iq>" % NS_ROSTER)
    r = c.wait(lambda e: e.get("id") == "r1")
    check(r.get("type") == "error" and error_condition(_as_client(r)) == "forbidden",
          "roster get without permission -> <forbidden/>", r)
    c.send("<message id='m1' from='idle.localhost' to='localhost'><privilege xmlns='%s'>"
           "<forwarded xmlns='%s'><message xmlns='jabber:client' from='bob@localhost' "
           "to='carol@localhost'><body>nope</body></message></forwarded></privilege></message>"
           % (NS_PRIVILEGE, NS_FORWARD))
    r = c.wait(lambda e: e.get("id") == "m1")
    check(r.get("type") == "error" and error_condition(_as_client(r)) == "forbidden",
          "message on behalf without permission -> <forbidden/>", r)


def test_privileged_roster_presence(ctx):
    """presence = roster (§6.4): the presence accounts get from their contacts, and their
    own (§6.1), reach the component; presence from others does not."""
    watch = connect_component(ctx, "watch.localhost")
    adv = watch.wait(is_comp("message"))
    check(adv.find(q(NS_PRIVILEGE, "privilege")) is not None, "advertisement", adv)
    dave_jid = ctx.t.adduser("dave", PW)
    dave = login(ctx, "dave", roster=True)  # dave subscribes to erin's presence
    erin_jid = ctx.t.adduser("erin", PW)
    erin = login(ctx, "erin", roster=True)
    own = watch.wait(lambda e: e.tag == q(NS_COMPONENT, "presence") and
                     e.get("from") == erin.jid)
    check(own.get("to") == "watch.localhost", "an account's own presence (§6.1)", own)
    dave.send("<presence to='%s' type='subscribe'/>" % erin_jid)
    erin.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe")
    erin.send("<presence to='%s' type='subscribed'/>" % dave_jid)
    erin.send("<presence><show>away</show></presence>")
    p = watch.wait(lambda e: e.tag == q(NS_COMPONENT, "presence") and
                   e.get("from") == erin.jid and e.find(q(NS_COMPONENT, "show")) is not None)
    check(p.find(q(NS_COMPONENT, "show")).text == "away", "a contact's presence (§6.4)", p)
    # bob is no contact of dave: his directed presence stays between them
    bob = ctx.bob
    bob.send("<presence to='%s'/>" % dave.jid)
    dave.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == bob.jid)
    expect_nothing(watch, lambda e: e.tag == q(NS_COMPONENT, "presence") and
                   e.get("from") == bob.jid and e.get("to") == "watch.localhost", timeout=0.5)
    watch.send("</stream:stream>")
    watch.wait_closed()


def _as_client(el):
    """error_condition() reads <error/> in jabber:client; a component's is in its own ns."""
    import xml.etree.ElementTree as ET
    copy = ET.Element(q(NS_CLIENT, "x"), el.attrib)
    err = el.find(q(NS_COMPONENT, "error"))
    if err is not None:
        e2 = ET.SubElement(copy, q(NS_CLIENT, "error"), err.attrib)
        e2.extend(list(err))
    return copy


# --------------------------------------------------------------------------------------
# biboumi (XEP-0114 IRC gateway) with ngircd


def loopback_with_free_6667():
    """A 127.x address where port 6667 is free (TESTING.md: distinct loopback addresses)."""
    for _ in range(50):
        addr = "127.%d.%d.%d" % tuple(int.from_bytes(os.urandom(1), "big") % 250 + 2
                                      for _ in range(3))
        s = socket.socket()
        try:
            s.bind((addr, 6667))
            return addr
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no loopback address with a free port 6667")


def test_biboumi_irc_roundtrip(ctx):
    """biboumi as a component of ternd: an XMPP client and an IRC client talk in #test."""
    for tool in ("biboumi", "ngircd"):
        check(shutil.which(tool), "%s is installed (tools/install-deps.sh)" % tool)
    d = tempfile.mkdtemp(prefix="tern-biboumi-", dir=ctx.t.dir)
    addr = loopback_with_free_6667()
    with open(os.path.join(d, "ngircd.conf"), "w") as f:
        f.write("[Global]\nName = irc.tern.test\nInfo = Tern test\nListen = %s\nPorts = 6667\n"
                "AdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@tern.test\n"
                "MotdPhrase = \"Tern test\"\n[Options]\nIdent = no\nPAM = no\nDNS = no\n"
                % addr)
    with open(os.path.join(d, "biboumi.cfg"), "w") as f:
        f.write("hostname=biboumi.localhost\npassword=%s\nxmpp_server_ip=%s\nport=%d\n"
                "db_name=%s\nidentd_port=0\nlog_level=1\nlog_file=\npolicy_directory=%s\n"
                "realname_customization=true\n"
                % (BIBOUMI_SECRET, HOST, ctx.t.component_port,
                   os.path.join(d, "biboumi.sqlite"), d))
    log = open(os.path.join(d, "processes.log"), "ab")
    ngircd = subprocess.Popen(["ngircd", "-n", "-f", os.path.join(d, "ngircd.conf")],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    ctx.procs.append(ngircd)
    biboumi = subprocess.Popen(["biboumi", os.path.join(d, "biboumi.cfg")], cwd=d,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    ctx.procs.append(biboumi)
    try:
        deadline = time.monotonic() + 10
        while "component biboumi.localhost connected" not in ctx.t.log():
            check(biboumi.poll() is None and time.monotonic() < deadline,
                  "biboumi connects to ternd; ternd log:\n%s" % ctx.t.log_tail())
            time.sleep(0.1)
        irc = IrcClient(addr, 6667, "ircbob", "#test")

        room = "#test%%%s@biboumi.localhost" % addr
        alice = login(ctx, "alice")
        alice.send("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (room, NS_MUC))
        self_presence = alice.wait(
            lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == room + "/alice" and
            e.get("type") is None, timeout=20)
        check(self_presence is not None, "joined the room through biboumi")
        irc.wait(lambda l: "JOIN" in l and l.startswith(":alice!"))

        alice.send("<message to='%s' type='groupchat'><body>hello from xmpp</body></message>"
                   % room)
        line = irc.wait(lambda l: "PRIVMSG #test :hello from xmpp" in l)
        check(line.startswith(":alice!"), "IRC sees the XMPP user's nick: %s" % line)

        irc.send("PRIVMSG #test :hello from irc")
        m = alice.wait_message(is_msg(room + "/ircbob", "hello from irc", "groupchat"), timeout=15)
        check(m.get("to") == alice.jid, "the XMPP client gets the IRC message", m)
        irc.close()
        alice.close()
    finally:
        for p in (biboumi, ngircd):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


if __name__ == "__main__":
    run_tests([
        ("handshake accepted, no version, no features", test_handshake_ok),
        ("wrong secret -> not-authorized", test_wrong_secret),
        ("unknown domain -> host-unknown", test_unknown_domain),
        ("stanza before the handshake -> not-authorized", test_stanza_before_handshake),
        ("second connection -> conflict", test_conflict),
        ("multiple=true: round-robin, iq results to the asker", test_multiple_round_robin),
        ("subdomains; spoofed from -> invalid-from", test_subdomains_and_spoofed_from),
        ("no 'to' -> improper-addressing", test_missing_to),
        ("client <-> component round trip (slixmpp)", test_client_roundtrip),
        ("killed component -> service-unavailable; back", test_component_killed_then_back),
        ("queue while away, delivered on connect", test_queue_while_away),
        ("queue bound and timeout bounce", test_queue_full_and_timeout),
        ("keepalive ping of a silent component", test_keepalive_ping),
        ("disco#items lists components", test_disco_items),
        ("XEP-0356 advertisement", test_privileges_advertised),
        ("XEP-0356 roster set -> push", test_privileged_roster),
        ("XEP-0356 message on behalf of an account", test_privileged_message),
        ("XEP-0356 not permitted -> forbidden", test_not_permitted),
        ("XEP-0356 presence=roster", test_privileged_roster_presence),
        ("biboumi + ngircd IRC round trip", test_biboumi_irc_roundtrip),
    ], setup=setup, teardown=teardown)
