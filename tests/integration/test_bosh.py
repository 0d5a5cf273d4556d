#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_bosh.py — BOSH (XEP-0124, XEP-0206) at /http-bind on ternd's HTTP
# listener, with real HTTP requests (urllib, long polls in threads): session creation and its
# attributes, CORS and the OPTIONS preflight, SASL SCRAM, xmpp:restart, bind, messages with
# a slixmpp client on TCP, a long poll that an incoming message answers, rids out of order,
# a repeated rid, rids outside the window, a bad sid, a malformed and an oversize body, a
# stream error inside the session, and terminate; after each bad input a normal client logs in.

import base64
import os
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (HOST, NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, NS_TLS,  # noqa: E402
                     SlixLoop, TerndCtx, b64, check, close_ctx, q, run_tests, scram_client,
                     to_str, wait_port)

NS_HTTPBIND = "http://jabber.org/protocol/httpbind"
NS_XBOSH = "urn:xmpp:xbosh"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
PW = "bosh-secret"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
MAX_BODY = 16384
MAX_WAIT = 4
INACTIVITY = 5  # the smallest allowed; no test leaves a session idle that long by accident
NS_SM = "urn:xmpp:sm:3"
NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"


class Resp:
    def __init__(self, status, headers, data):
        self.status, self.headers, self.data = status, headers, data
        self.body = ET.fromstring(data) if status == 200 and data else None

    def children(self):
        return list(self.body) if self.body is not None else []

    def __str__(self):
        return "HTTP %d %r" % (self.status, self.data[:600])


def post(port, data, timeout=MAX_WAIT + 10, method="POST", headers=None):
    if isinstance(data, str):
        data = data.encode("utf-8")
    hdrs = {"Content-Type": "text/xml; charset=utf-8"}
    hdrs.update(headers or {})
    req = urllib.request.Request("http://%s:%d/http-bind" % (HOST, port), data=data,
                                 headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, dict(e.headers), e.read())


class Bosh:
    """A synchronous BOSH client: one request at a time unless a test says otherwise."""

    def __init__(self, port, to="localhost", wait=MAX_WAIT, hold=1):
        self.port = port
        self.rid = random.randint(10 ** 6, 10 ** 9)
        self.sid = None
        self.queue = []
        r = post(port, "<body xmlns='%s' xmlns:xmpp='%s' content='text/xml; charset=utf-8' "
                 "rid='%d' to=%s xml:lang='en' wait='%d' hold='%d' ver='1.6' "
                 "xmpp:version='1.0'/>" % (NS_HTTPBIND, NS_XBOSH, self.rid, quoteattr(to), wait,
                                           hold))
        self.created = r
        check(r.status == 200 and r.body is not None, "session created", r)
        self.sid = r.body.get("sid")
        self.features = r.body.find(q(NS_STREAM, "features"))

    def body(self, payload="", **attrs):
        """The next request's text (rid advanced)."""
        self.rid += 1
        a = "".join(" %s=%s" % (k.replace("__", ":"), quoteattr(str(v)))
                    for k, v in attrs.items())
        return "<body xmlns='%s' xmlns:xmpp='%s' rid='%d' sid=%s%s>%s</body>" % (
            NS_HTTPBIND, NS_XBOSH, self.rid, quoteattr(self.sid), a, payload)

    def send(self, payload="", **attrs):
        r = post(self.port, self.body(payload, **attrs))
        check(r.status == 200, "HTTP 200", r)
        self.queue += r.children()
        return r

    def wait(self, match, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            for el in self.queue:
                if match(el):
                    self.queue.remove(el)
                    return el
            check(time.monotonic() < deadline, "nothing matching; got %s"
                  % [to_str(e) for e in self.queue])
            r = self.send()
            check(r.body.get("type") != "terminate", "session ended", r)

    def sasl_step(self):
        return self.wait(lambda e: e.tag in (q(NS_SASL, "challenge"), q(NS_SASL, "success"),
                                             q(NS_SASL, "failure")))

    def login(self, user, password, resource="web"):
        def payload(el):
            t = (el.text or "").strip()
            return base64.b64decode(t) if t and t != "=" else b""

        def first(msg):
            self.send("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (NS_SASL,
                                                                                  b64(msg)))
            el = self.sasl_step()
            check(el.tag == q(NS_SASL, "challenge"), "challenge", el)
            return payload(el)

        def final(msg):
            self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(msg)))
            return self.sasl_step()
        el, sig = scram_client("SCRAM-SHA-256", user, password, first, final)
        check(el.tag == q(NS_SASL, "success"), "SCRAM over BOSH", el)
        r = self.send(to="localhost", xml__lang="en", xmpp__restart="true")
        feats = [c for c in r.children() if c.tag == q(NS_STREAM, "features")]
        if not feats:
            feats = [self.wait(lambda e: e.tag == q(NS_STREAM, "features"))]
        self.queue = [c for c in self.queue if c.tag != q(NS_STREAM, "features")]
        check(feats[0].find(q(NS_BIND, "bind")) is not None, "bind offered after restart",
              feats[0])
        iq = self.iq("set", "<bind xmlns='%s'><resource>%s</resource></bind>"
                     % (NS_BIND, resource))
        check(iq.get("type") == "result", "bind", iq)
        self.jid = iq.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid"))).text
        return self.jid

    def iq(self, type_, payload, to=None):
        id_ = "iq-%d" % random.randint(0, 10 ** 9)
        attrs = " to=%s" % quoteattr(to) if to else ""
        self.send("<iq xmlns='jabber:client' type='%s' id='%s'%s>%s</iq>"
                  % (type_, id_, attrs, payload))
        return self.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == id_)


def setup():
    ctx = TerndCtx(USERS, PW, extra={"http": {"bosh_max_body": MAX_BODY,
                                              "bosh_max_wait": MAX_WAIT,
                                              "bosh_inactivity": INACTIVITY},
                                     "c2s": {"resume_timeout": 30},
                                     "limits": {"c2s_stanza_size": 8192}})
    wait_port(HOST, ctx.t.http_port)  # HTTP starts after the client ports
    ctx.slix = SlixLoop()
    return ctx


def teardown(ctx):
    if ctx is not None:
        ctx.slix.shutdown()
    close_ctx(ctx)


def slix(ctx, user):
    # COMPAT: slixmpp 1.8 picks SCRAM-*-PLUS and then sends gs2 flag 'n' (ternlib takes its
    # channel binding away); name the mechanism so that it logs in at the first try.
    return ctx.slix.client("%s@localhost" % user, PW, ctx.t.port, mech="SCRAM-SHA-256")


def still_served(ctx):
    b = Bosh(ctx.t.http_port)
    b.login("frank", PW, resource="check-%d" % random.randint(0, 10 ** 6))
    r = b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="localhost")
    check(r.get("type") == "result", "ping answered", r)
    b.send(type="terminate")


def test_create(ctx):
    b = Bosh(ctx.t.http_port, wait=60, hold=1)
    r = b.created
    a = r.body.attrib
    check(a.get("sid") and a.get("authid"), "sid and authid", r)
    check(a.get("wait") == str(MAX_WAIT), "wait capped to bosh_max_wait: %s" % a)
    check(a.get("hold") == "1" and a.get("requests") == "2", "requests = hold + 1: %s" % a)
    check(a.get("inactivity") and a.get("polling") and a.get("ver") == "1.6", "attrs: %s" % a)
    check(a.get(q(NS_XBOSH, "version")) == "1.0" and a.get("from") == "localhost",
          "xmpp:version, from: %s" % a)
    check(r.headers.get("Access-Control-Allow-Origin") == "*", "CORS: %s" % r.headers)
    check(r.headers.get("Content-Type", "").startswith("text/xml"), "text/xml: %s" % r.headers)
    f = b.features
    check(f is not None, "features in the creation response (XEP-0206)", r)
    mechs = [m.text for m in f.iter(q(NS_SASL, "mechanism"))]
    check("SCRAM-SHA-256" in mechs and "PLAIN" in mechs and
          not [m for m in mechs if m.endswith("PLUS")], "mechanisms: %s" % mechs)
    check(f.find(q(NS_TLS, "starttls")) is None, "no STARTTLS", f)
    b.send(type="terminate")


def test_preflight(ctx):
    r = post(ctx.t.http_port, b"", method="OPTIONS",
             headers={"Origin": "http://example.net", "Access-Control-Request-Method": "POST",
                      "Access-Control-Request-Headers": "content-type"})
    check(r.status in (200, 204), "preflight answered: %s" % r)
    check(r.headers.get("Access-Control-Allow-Origin") == "*" and
          "POST" in r.headers.get("Access-Control-Allow-Methods", "") and
          "content-type" in r.headers.get("Access-Control-Allow-Headers", "").lower(),
          "CORS preflight headers: %s" % r.headers)


def test_login_and_messages(ctx):
    b = Bosh(ctx.t.http_port)
    jid = b.login("alice", PW, resource="web")
    check(jid == "alice@localhost/web", "bound %s" % jid)
    b.send("<presence xmlns='jabber:client'/>")
    s = slix(ctx, "bob")
    b.send("<message xmlns='jabber:client' to='bob@localhost' type='chat'>"
           "<body>hello from BOSH</body></message>")
    m = s.wait_message(lambda m: m["body"] == "hello from BOSH")
    check(str(m["from"]) == "alice@localhost/web", "from alice/web: %s" % m["from"])
    # a long poll is held until something arrives
    result = {}

    def poll():
        result["r"] = post(ctx.t.http_port, b.body())
    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    check(th.is_alive(), "the empty request is held (long poll)")
    s.send_message("alice@localhost/web", "hello from TCP")
    th.join(MAX_WAIT + 5)
    r = result.get("r")
    check(r is not None and r.status == 200, "the poll returned", r)
    bodies = [c.findtext(q(NS_CLIENT, "body")) for c in r.children()
              if c.tag == q(NS_CLIENT, "message")]
    check("hello from TCP" in bodies, "the incoming message answered the poll", r)
    # nothing to say: an empty body after 'wait'
    t0 = time.monotonic()
    r = b.send()
    check(r.children() == [] and r.body.get("type") is None, "empty answer at wait", r)
    check(time.monotonic() - t0 >= 1, "held for a while, not answered at once")
    s.disconnect()
    b.send(type="terminate")


def test_out_of_order(ctx):
    b = Bosh(ctx.t.http_port, hold=2)
    b.login("carol", PW)
    first = b.body("<iq xmlns='jabber:client' type='get' id='one' to='localhost'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>")
    second = b.body("<iq xmlns='jabber:client' type='get' id='two' to='localhost'>"
                    "<ping xmlns='urn:xmpp:ping'/></iq>")
    result = {}

    def later():
        result["second"] = post(ctx.t.http_port, second)
    th = threading.Thread(target=later)
    th.start()  # rid+2 arrives first: it waits for rid+1
    time.sleep(0.5)
    check(th.is_alive(), "the request ahead of its turn waits")
    r1 = post(ctx.t.http_port, first)
    th.join(MAX_WAIT + 5)
    r2 = result.get("second")
    check(r1.status == 200 and r2 is not None and r2.status == 200, "both answered", r1, r2)
    got = [c.get("id") for r in (r1, r2) for c in r.children() if c.tag == q(NS_CLIENT, "iq")]
    while len(got) < 2:
        got += [c.get("id") for c in b.send().children() if c.tag == q(NS_CLIENT, "iq")]
    check(got == ["one", "two"], "processed in rid order: %s" % got)
    # a repeated rid gets the same answer again (XEP-0124 §14.3)
    r1b = post(ctx.t.http_port, first)
    check(r1b.status == 200 and r1b.data == r1.data, "repeated rid: the same response",
          r1, r1b)
    b.send(type="terminate")


def test_window_and_sid(ctx):
    r = post(ctx.t.http_port, "<body xmlns='%s' rid='5' sid='no-such-sid'/>" % NS_HTTPBIND)
    check(r.status == 200 and r.body.get("type") == "terminate" and
          r.body.get("condition") == "item-not-found", "bad sid: item-not-found", r)
    b = Bosh(ctx.t.http_port)
    b.rid += 10
    r = post(ctx.t.http_port, b.body())
    check(r.body.get("type") == "terminate" and r.body.get("condition") == "item-not-found",
          "rid outside the window: item-not-found", r)
    r = post(ctx.t.http_port, b.body())
    check(r.body.get("condition") == "item-not-found", "the session is gone", r)
    still_served(ctx)


def test_bad_bodies(ctx):
    r = post(ctx.t.http_port, "<body xmlns='%s' rid='1' to='localhost'" % NS_HTTPBIND)
    check(r.status == 200 and r.body.get("condition") == "bad-request", "malformed: %s" % r)
    r = post(ctx.t.http_port, "<iq xmlns='jabber:client'/>")
    check(r.body.get("condition") == "bad-request", "not a <body/>: %s" % r)
    r = post(ctx.t.http_port, "<body xmlns='%s' to='localhost'/>" % NS_HTTPBIND)
    check(r.body.get("condition") == "bad-request", "no rid: %s" % r)
    r = post(ctx.t.http_port, "<body xmlns='%s' rid='1' to='localhost'><!-- c --></body>"
             % NS_HTTPBIND)
    check(r.body.get("condition") == "bad-request", "a comment (restricted XML): %s" % r)
    big = "<body xmlns='%s' rid='1' to='localhost'>%s</body>" % (NS_HTTPBIND,
                                                                "<x/>" * (MAX_BODY // 4 + 10))
    r = post(ctx.t.http_port, big)
    check(r.status == 413, "oversize body: 413, got %s" % r)
    r = post(ctx.t.http_port, "<body xmlns='%s' rid='1'/>" % NS_HTTPBIND)
    check(r.body.get("condition") == "improper-addressing", "no 'to': %s" % r)
    b = Bosh(ctx.t.http_port, to="elsewhere.example")
    check(b.created.body.get("type") == "terminate" and
          b.created.body.get("condition") == "host-unknown", "unknown host", b.created)
    still_served(ctx)


def test_stream_error(ctx):
    b = Bosh(ctx.t.http_port)
    r = b.send("<message xmlns='jabber:client' to='alice@localhost'><body>x</body></message>")
    while r.body.get("type") != "terminate":
        r = b.send()
    check(r.body.get("condition") == "remote-stream-error", "remote-stream-error", r)
    err = r.body.find(q(NS_STREAM, "error"))
    check(err is not None and err.find(q(NS_STREAM_ERR, "not-authorized")) is not None,
          "the stream error inside", r)
    still_served(ctx)


def test_terminate(ctx):
    s = slix(ctx, "erin")
    b = Bosh(ctx.t.http_port)
    b.login("dave", PW)
    b.send("<presence xmlns='jabber:client' to='erin@localhost'/>")
    r = b.send("<presence xmlns='jabber:client' type='unavailable'/>", type="terminate")
    while r.body.get("type") != "terminate":
        r = b.send()
    check(r.body.get("condition") is None, "terminate answered without a condition", r)
    r = post(ctx.t.http_port, b.body())
    check(r.body.get("condition") == "item-not-found", "the session is gone", r)
    s.disconnect()
    still_served(ctx)


def test_inactivity_and_resume(ctx):
    """No request for 'inactivity' seconds ends the BOSH session as a broken connection: a
    XEP-0198 session hibernates and is resumed over WebSocket (the same c2s session code)."""
    import test_websocket
    b = Bosh(ctx.t.http_port)
    b.login("bob", PW, resource="laptop")
    b.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = b.wait(lambda e: e.tag in (q(NS_SM, "enabled"), q(NS_SM, "failed")))
    check(en.tag == q(NS_SM, "enabled") and en.get("id"), "resumable", en)
    b.send("<presence xmlns='jabber:client'/>")
    time.sleep(INACTIVITY + 2)
    r = post(ctx.t.http_port, b.body())
    check(r.body.get("type") == "terminate" and r.body.get("condition") == "item-not-found",
          "the session ended after inactivity", r)
    s = slix(ctx, "erin")
    s.send_message("bob@localhost/laptop", "while hibernating")
    time.sleep(0.3)
    w = test_websocket.WsXmpp(ctx.t.http_port)
    w.open()
    check(w.sasl("bob", PW).tag == q(NS_SASL, "success"), "auth over WebSocket")
    w.open()
    w.send("<resume xmlns='%s' previd=%s h='0'/>" % (NS_SM, quoteattr(en.get("id"))))
    got = w.wait(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    check(got.tag == q(NS_SM, "resumed"), "the BOSH session resumed over WebSocket", got)
    m = w.wait_message(lambda e: e.findtext(q(NS_CLIENT, "body")) == "while hibernating")
    check(m.get("to") == "bob@localhost/laptop", "delivered to the resumed resource", m)
    w.send("<close xmlns='%s'/>" % NS_FRAMING)
    w.close()
    s.disconnect()


def test_shutdown(ctx):
    """Last: ternd stops while a BOSH request is held: it is answered with system-shutdown,
    then ternd exits cleanly (the sanitizer build checks that nothing leaks)."""
    b = Bosh(ctx.t.http_port)
    b.login("erin", PW, resource="live")
    result = {}

    def poll():
        result["r"] = post(ctx.t.http_port, b.body())
    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    Bosh(ctx.t.http_port)  # and a session that never logged in
    ctx.t.signal(__import__("signal").SIGTERM)
    th.join(15)
    r = result.get("r")
    check(r is not None and r.status == 200 and r.body.get("type") == "terminate" and
          r.body.get("condition") == "system-shutdown", "held request on shutdown", r)
    rc = ctx.t.wait(15)
    check(rc == 0, "ternd exited with %s" % rc)


TESTS = [
    ("session creation: attributes, features, CORS", test_create),
    ("OPTIONS preflight (CORS)", test_preflight),
    ("SCRAM, restart, bind, messages with slixmpp, long poll", test_login_and_messages),
    ("rids out of order processed in order; a repeated rid resent", test_out_of_order),
    ("bad sid and a rid outside the window: item-not-found", test_window_and_sid),
    ("malformed, oversize, no rid, no 'to', unknown host", test_bad_bodies),
    ("a stream error ends the session: remote-stream-error", test_stream_error),
    ("type='terminate' ends the session", test_terminate),
    ("inactivity ends the session; XEP-0198 resumes it over WebSocket",
     test_inactivity_and_resume),
    ("shutdown with a held request: system-shutdown, clean exit", test_shutdown),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
