#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_websocket.py — XMPP over WebSocket (RFC 7395) at /xmpp-websocket on
# ternd's HTTP listener: the handshake (subprotocol xmpp required, no permessage-deflate),
# SASL SCRAM and PLAIN, restart with a new <open/>, bind, messages with a slixmpp client on
# TCP, roster, offline delivery, XEP-0198 resumption on a new WebSocket, <close/>, and bad
# input (over the stanza limit, two elements or half of one in a message, restricted XML,
# binary frames, STARTTLS, no <open/>), each followed by a normal login.
#
# The WebSocket client is a small RFC 6455 one written here (a raw client: it sends what a
# broken or hostile client would); aiohttp (Debian python3-aiohttp) checks that a common
# client library gets through the handshake too.

import base64
import os
import socket
import struct
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as xml_escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (HOST, NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, NS_STREAM_ERR,  # noqa: E402
                     NS_TLS, SlixLoop, TerndCtx, XmppTimeout, b64, check, check_paced, close_ctx,
                     flood_stanzas, q, run_tests, scram_client, to_str, wait_port)

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_SM = "urn:xmpp:sm:3"
NS_ROSTER = "jabber:iq:roster"
NS_DELAY = "urn:xmpp:delay"
PW = "ws-secret"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank")
STANZA_LIMIT = 8192
PATH = "/xmpp-websocket"


class WsClosed(Exception):
    def __init__(self, code, reason):
        super().__init__("WebSocket closed: %s %r" % (code, reason))
        self.code, self.reason = code, reason


class WebSocket:
    """A blocking RFC 6455 client: handshake, masked frames out, messages in (pings are
    answered, fragments joined)."""

    def __init__(self, port, protocols=("xmpp",), extensions="permessage-deflate",
                 timeout=5.0, path=PATH):
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (HOST, port), "Upgrade: websocket",
               "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13",
               "Origin: http://%s:%d" % (HOST, port + 1)]
        if protocols:
            req.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if extensions:
            req.append("Sec-WebSocket-Extensions: " + extensions)
        self.sock.sendall(("\r\n".join(req) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.closed = None

    def _recv_exact(self, n, deadline):
        while len(self.buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise XmppTimeout("WebSocket: timed out reading")
            self.sock.settimeout(remaining)
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                raise XmppTimeout("WebSocket: timed out reading")
            except ConnectionResetError:
                d = b""
            if not d:
                raise WsClosed(None, "TCP closed")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send(self, text):
        self.send_frame(1, text)

    def recv(self, timeout=None):
        """The next message: (opcode, bytes). A close frame raises WsClosed."""
        deadline = time.monotonic() + (timeout or self.timeout)
        data, opcode = b"", None
        while True:
            b0, b1 = self._recv_exact(2, deadline)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._recv_exact(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._recv_exact(8, deadline))[0]
            check(not b1 & 0x80, "a server frame must not be masked")
            payload = self._recv_exact(n, deadline)
            if op == 9:  # ping
                self.send_frame(10, payload)
                continue
            if op == 10:
                continue
            if op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.closed = (code, payload[2:].decode("utf-8", "replace"))
                try:
                    self.send_frame(8, payload[:2])
                except OSError:
                    pass
                raise WsClosed(*self.closed)
            if op != 0:
                opcode = op
            data += payload
            if b0 & 0x80:
                return opcode, data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class WsXmpp:
    """XMPP over a WebSocket: each message one element (ElementTree, Clark names)."""

    def __init__(self, port, domain="localhost", **kw):
        self.ws = WebSocket(port, **kw)
        check(self.ws.status == 101, "WebSocket handshake refused: %d %r"
              % (self.ws.status, self.ws.buf))
        self.domain = domain
        self.queue = []
        self.features = None
        self.open_el = None
        self.jid = None

    def send(self, xml):
        self.ws.send(xml)

    def next(self, timeout=None):
        op, data = self.ws.recv(timeout)
        check(op == 1, "a text message (got opcode %s)" % op)
        return ET.fromstring(data.decode("utf-8"))

    def wait(self, match=None, timeout=None):
        if isinstance(match, str):
            tag = match
            match = lambda e: e.tag == tag  # noqa: E731
        deadline = time.monotonic() + (timeout or self.ws.timeout)
        for el in list(self.queue):
            if match is None or match(el):
                self.queue.remove(el)
                return el
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise XmppTimeout("nothing matching; queued %s" % [to_str(e) for e in self.queue])
            el = self.next(remaining)
            if match is None or match(el):
                return el
            self.queue.append(el)

    def open(self, to=None, version="1.0"):
        attrs = " to=%s" % quoteattr(to or self.domain)
        if version:
            attrs += " version=%s" % quoteattr(version)
        self.send("<open xmlns='%s'%s xml:lang='en'/>" % (NS_FRAMING, attrs))
        self.open_el = self.wait(q(NS_FRAMING, "open"))
        self.features = self.wait(q(NS_STREAM, "features"))
        return self.features

    def mechanisms(self):
        m = self.features.find(q(NS_SASL, "mechanisms"))
        return [x.text for x in m.findall(q(NS_SASL, "mechanism"))] if m is not None else []

    def _sasl_step(self):
        return self.wait(lambda e: e.tag in (q(NS_SASL, "challenge"), q(NS_SASL, "success"),
                                             q(NS_SASL, "failure")))

    @staticmethod
    def _payload(el):
        t = (el.text or "").strip()
        return base64.b64decode(t) if t and t != "=" else b""

    def sasl(self, user, password, mech="SCRAM-SHA-256"):
        if mech == "PLAIN":
            self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                      % (NS_SASL, b64(b"\0" + user.encode() + b"\0" + password.encode())))
            return self._sasl_step()

        def first(msg):
            self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mech, b64(msg)))
            el = self._sasl_step()
            check(el.tag == q(NS_SASL, "challenge"), "SCRAM challenge", el)
            return self._payload(el)

        def final(msg):
            self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(msg)))
            return self._sasl_step()
        el, server_sig = scram_client(mech, user, password, first, final)
        if el.tag == q(NS_SASL, "success"):
            v = dict(kv.split("=", 1) for kv in self._payload(el).decode().split(",") if "=" in kv)
            check(base64.b64decode(v.get("v", "")) == server_sig, "SCRAM server signature", el)
        return el

    def login(self, user, password, mech="SCRAM-SHA-256", resource=None, bind=True):
        self.open()
        el = self.sasl(user, password, mech)
        check(el.tag == q(NS_SASL, "success"), "SASL %s for %s" % (mech, user), el)
        first_id = self.open_el.get("id")
        self.open()  # RFC 7395 §3.4: a restart is a new <open/>
        check(self.open_el.get("id") != first_id, "a new stream id after the restart")
        if bind:
            return self.bind(resource)
        return None

    def bind(self, resource=None):
        res = "<resource>%s</resource>" % xml_escape(resource) if resource else ""
        iq = self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, res), to=None)
        check(iq.get("type") == "result", "bind", iq)
        self.jid = iq.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid"))).text
        return self.jid

    def iq(self, type_, payload, to="", id_=None, timeout=None):
        id_ = id_ or "iq-" + uuid.uuid4().hex[:10]
        to = self.domain if to == "" else to
        attrs = " type=%s id=%s" % (quoteattr(type_), quoteattr(id_))
        if to:
            attrs += " to=%s" % quoteattr(to)
        self.send("<iq xmlns='jabber:client'%s>%s</iq>" % (attrs, payload))
        return self.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == id_ and
                         e.get("type") in ("result", "error"), timeout)

    def message(self, to, body, type_="chat"):
        self.send("<message xmlns='jabber:client' type=%s to=%s><body>%s</body></message>"
                  % (quoteattr(type_), quoteattr(to), xml_escape(body)))

    def wait_message(self, pred=None, timeout=None):
        return self.wait(lambda e: e.tag == q(NS_CLIENT, "message") and
                         (pred is None or pred(e)), timeout)

    def stream_error(self, timeout=None):
        """The condition of the <stream:error/>, after which <close/> and the WebSocket
        close must follow (RFC 7395 §3.6.2)."""
        el = self.wait(q(NS_STREAM, "error"), timeout)
        cond = None
        for child in el:
            if child.tag.startswith("{%s}" % NS_STREAM_ERR) and not child.tag.endswith("}text"):
                cond = child.tag.rsplit("}", 1)[1]
        self.wait(q(NS_FRAMING, "close"), timeout)
        self.expect_ws_close(timeout)
        return cond

    def expect_ws_close(self, timeout=None):
        try:
            while True:
                self.ws.recv(timeout)
        except WsClosed as e:
            return e.code

    def close(self):
        self.ws.close()


def setup():
    ctx = TerndCtx(USERS, PW, extra={"limits": {"c2s_stanza_size": STANZA_LIMIT},
                                     "c2s": {"resume_timeout": 30},
                                     "http": {"websocket_ping": 2}})
    wait_port(HOST, ctx.t.http_port)  # HTTP starts after the client ports
    ctx.slix = SlixLoop()
    return ctx


def teardown(ctx):
    if ctx is not None:
        ctx.slix.shutdown()
    close_ctx(ctx)


def ws(ctx, **kw):
    c = WsXmpp(ctx.t.http_port, **kw)
    ctx.open.append(c)
    return c


def slix(ctx, user):
    # COMPAT: slixmpp 1.8 picks SCRAM-*-PLUS and then sends gs2 flag 'n' (ternlib takes its
    # channel binding away); name the mechanism so that it logs in at the first try.
    return ctx.slix.client("%s@localhost" % user, PW, ctx.t.port, mech="SCRAM-SHA-256")


def still_served(ctx):
    """After bad input: a normal WebSocket client logs in and is answered."""
    c = ws(ctx)
    c.login("hank", PW, resource="check-%s" % uuid.uuid4().hex[:6])
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    check(r.get("type") == "result", "ping answered", r)
    c.send("<close xmlns='%s'/>" % NS_FRAMING)
    c.wait(q(NS_FRAMING, "close"))
    c.close()


def test_handshake(ctx):
    w = WebSocket(ctx.t.http_port, protocols=("chat", "xmpp"))
    try:
        check(w.status == 101, "101 Switching Protocols, got %d" % w.status)
        check(w.headers.get("sec-websocket-protocol") == "xmpp", "subprotocol xmpp chosen: %s"
              % w.headers)
        check("sec-websocket-extensions" not in w.headers,
              "permessage-deflate not accepted: %s" % w.headers)
    finally:
        w.close()


def test_subprotocol_refused(ctx):
    for protocols in ((), ("chat",)):
        w = WebSocket(ctx.t.http_port, protocols=protocols)
        try:
            check(w.status == 400, "%r: 400, got %d %r" % (protocols, w.status, w.buf))
            check("sec-websocket-accept" not in w.headers, "no upgrade: %s" % w.headers)
        finally:
            w.close()
    still_served(ctx)


def test_aiohttp_client(ctx):
    """A common client library: handshake, subprotocol, open, features."""
    import asyncio
    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect("http://%s:%d%s" % (HOST, ctx.t.http_port, PATH),
                                          protocols=("xmpp",)) as sock:
                check(sock.protocol == "xmpp", "aiohttp: protocol %r" % sock.protocol)
                await sock.send_str("<open xmlns='%s' to='localhost' version='1.0'/>"
                                    % NS_FRAMING)
                first = await asyncio.wait_for(sock.receive(), 5)
                second = await asyncio.wait_for(sock.receive(), 5)
                await sock.send_str("<close xmlns='%s'/>" % NS_FRAMING)
                third = await asyncio.wait_for(sock.receive(), 5)
                return first, second, third
    first, second, third = asyncio.run(go())
    o = ET.fromstring(first.data)
    check(o.tag == q(NS_FRAMING, "open") and o.get("from") == "localhost" and o.get("id") and
          o.get("version") == "1.0", "framed <open/> answered", o)
    f = ET.fromstring(second.data)
    check(f.tag == q(NS_STREAM, "features"), "features", f)
    check(second.data.startswith("<stream:features xmlns:stream="),
          "features with the stream prefix declared: %r" % second.data[:80])
    check(ET.fromstring(third.data).tag == q(NS_FRAMING, "close"), "<close/> answered")


def test_login_scram(ctx):
    c = ws(ctx)
    f = c.open()
    mechs = c.mechanisms()
    check("SCRAM-SHA-256" in mechs and "SCRAM-SHA-1" in mechs, "SCRAM offered: %s" % mechs, f)
    check(not [m for m in mechs if m.endswith("-PLUS")], "no -PLUS without TLS channel "
          "binding: %s" % mechs)
    check(f.find(q(NS_TLS, "starttls")) is None, "no STARTTLS on WebSocket", f)
    el = c.sasl("alice", PW, "SCRAM-SHA-256")
    check(el.tag == q(NS_SASL, "success"), "SCRAM-SHA-256", el)
    c.open()
    check(c.features.find(q(NS_BIND, "bind")) is not None, "bind offered after restart",
          c.features)
    jid = c.bind("web")
    check(jid == "alice@localhost/web", "bound %s" % jid)
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
    check(r.get("type") == "result", "ping", r)


def test_login_plain_loopback(ctx):
    c = ws(ctx)
    c.open()
    check("PLAIN" in c.mechanisms(), "PLAIN offered from loopback (secure): %s" % c.mechanisms())
    el = c.sasl("bob", "wrong", "PLAIN")
    check(el.tag == q(NS_SASL, "failure") and el.find(q(NS_SASL, "not-authorized")) is not None,
          "wrong password: <not-authorized/>", el)
    el = c.sasl("bob", PW, "PLAIN")
    check(el.tag == q(NS_SASL, "success"), "PLAIN", el)
    c.open()
    check(c.bind() .startswith("bob@localhost/"), "bound")


def test_message_with_slixmpp(ctx):
    c = ws(ctx)
    c.login("carol", PW, resource="web")
    c.send("<presence xmlns='jabber:client'/>")
    s = slix(ctx, "dave")
    s.send_message("carol@localhost", "hello over TCP")
    m = c.wait_message(lambda e: e.findtext(q(NS_CLIENT, "body")) == "hello over TCP")
    check(m.get("from", "").startswith("dave@localhost/"), "from dave", m)
    c.message("dave@localhost", "hello over WebSocket")
    got = s.wait_message(lambda m: m["body"] == "hello over WebSocket")
    check(str(got["from"]) == "carol@localhost/web", "slixmpp sees carol's full JID: %s"
          % got["from"])
    s.disconnect()


def test_roster(ctx):
    c = ws(ctx)
    c.login("erin", PW)
    r = c.iq("set", "<query xmlns='%s'><item jid='frank@localhost' name='Frank'>"
             "<group>Web</group></item></query>" % NS_ROSTER, to=None)
    check(r.get("type") == "result", "roster set", r)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
    items = r.findall("%s/%s" % (q(NS_ROSTER, "query"), q(NS_ROSTER, "item")))
    check([i.get("jid") for i in items] == ["frank@localhost"] and
          items[0].get("name") == "Frank", "roster fetched", r)


def test_offline_delivery(ctx):
    s = slix(ctx, "dave")
    s.send_message("frank@localhost", "while you were away")
    time.sleep(0.5)  # stored before frank logs in (no session, so it goes offline)
    c = ws(ctx)
    c.login("frank", PW, resource="web")
    c.send("<presence xmlns='jabber:client'/>")
    m = c.wait_message(lambda e: e.findtext(q(NS_CLIENT, "body")) == "while you were away")
    check(m.find(q(NS_DELAY, "delay")) is not None, "offline message with <delay/>", m)
    s.disconnect()


def test_close(ctx):
    c = ws(ctx)
    c.login("gina", PW)
    c.send("<close xmlns='%s'/>" % NS_FRAMING)
    c.wait(q(NS_FRAMING, "close"))
    code = c.expect_ws_close()
    check(code == 1000, "the server closes the WebSocket normally: %s" % code)


def test_resume(ctx):
    c = ws(ctx)
    c.login("alice", PW, resource="phone")
    c.send("<enable xmlns='%s' resume='true'/>" % NS_SM)
    en = c.wait(q(NS_SM, "enabled"))
    check(en.get("resume") == "true" and en.get("id"), "resumable", en)
    c.send("<presence xmlns='jabber:client'/>")
    c.close()  # the TCP connection drops: the session hibernates
    time.sleep(0.5)
    s = slix(ctx, "dave")
    s.send_message("alice@localhost/phone", "kept for you")
    time.sleep(0.3)
    d = ws(ctx)
    d.open()
    check(d.sasl("alice", PW).tag == q(NS_SASL, "success"), "auth")
    d.open()
    d.send("<resume xmlns='%s' previd=%s h='0'/>" % (NS_SM, quoteattr(en.get("id"))))
    r = d.wait(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")))
    check(r.tag == q(NS_SM, "resumed"), "resumed over a new WebSocket", r)
    m = d.wait_message(lambda e: e.findtext(q(NS_CLIENT, "body")) == "kept for you")
    check(m.get("to") == "alice@localhost/phone", "to the resumed resource", m)
    s.disconnect()


def test_too_big(ctx):
    c = ws(ctx)
    c.login("bob", PW)
    c.message("carol@localhost", "x" * (STANZA_LIMIT + 100))
    cond = c.stream_error()
    check(cond == "policy-violation", "over the stanza limit: %s" % cond)
    still_served(ctx)


def test_bad_frames(ctx):
    cases = [
        ("two elements", "<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>",
         "not-well-formed"),
        ("half an element", "<message xmlns='jabber:client'><body>hi", "not-well-formed"),
        ("a comment", "<presence xmlns='jabber:client'><!-- hi --></presence>", "restricted-xml"),
        ("a DOCTYPE", "<!DOCTYPE x [<!ENTITY a 'b'>]><presence xmlns='jabber:client'/>",
         "not-well-formed"),
        ("a processing instruction", "<?pi data?><presence xmlns='jabber:client'/>",
         "restricted-xml"),
        ("text only", "just text", "not-well-formed"),
        ("stream end", "</stream:stream>", "not-well-formed"),
    ]
    for name, frame, want in cases:
        c = ws(ctx)
        c.login("carol", PW, resource="bad-%s" % uuid.uuid4().hex[:4])
        c.send(frame)
        cond = c.stream_error()
        check(cond == want, "%s: <%s/>, got %s" % (name, want, cond))
        c.close()
    c = ws(ctx)
    c.send("<message xmlns='jabber:client' to='bob@localhost'><body>x</body></message>")
    cond = c.stream_error()
    check(cond == "invalid-namespace", "a stanza before <open/>: %s" % cond)
    c = ws(ctx)
    c.send("<open xmlns='%s' to='localhost'/>" % NS_FRAMING)
    cond = c.stream_error()
    check(cond == "unsupported-version", "<open/> without version='1.0': %s" % cond)
    c = ws(ctx)
    c.open()
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    f = c.wait(q(NS_TLS, "failure"))
    check(f is not None, "STARTTLS refused on WebSocket")
    c.wait(q(NS_FRAMING, "close"))  # the server closes the stream: we answer, it closes
    c.send("<close xmlns='%s'/>" % NS_FRAMING)
    check(c.expect_ws_close() == 1000, "closed after both <close/>")
    c = ws(ctx)
    c.open()
    c.ws.send_frame(2, b"<presence/>")
    code = c.expect_ws_close()
    check(code == 1003, "a binary message: close 1003, got %s" % code)
    still_served(ctx)


def test_shutdown(ctx):
    """Last: ternd stops with a live WebSocket session: <system-shutdown/>, then a clean exit
    (the sanitizer build checks that nothing leaks)."""
    c = ws(ctx)
    c.login("erin", PW, resource="live")
    ctx.t.signal(__import__("signal").SIGTERM)
    cond = c.stream_error(timeout=10)
    check(cond == "system-shutdown", "stream error on shutdown: %s" % cond)
    rc = ctx.t.wait(15)
    check(rc == 0, "ternd exited with %s" % rc)


def test_read_rate(ctx):
    """c2s_read_rate holds for WebSocket input too: a web transport cannot stop reading, so
    the messages wait in the connection. 60 messages of ~1 KB sent at once are taken at
    20,000 B/s (every prefix that arrives fits burst + rate x time), all delivered, in
    order (router/conn.c conn_virtual_feed)."""
    rate, burst, count = 20000, 8192, 60
    r = TerndCtx(("flood", "sink"), PW,
                 extra={"limits": {"c2s_read_rate": rate, "c2s_read_burst": burst}})
    try:
        wait_port(HOST, r.t.http_port)
        sink = r.client()
        sink.login("sink", PW, resource="r")
        flood = WsXmpp(r.t.http_port)
        r.open.append(flood)
        flood.login("flood", PW, resource="w")
        time.sleep(burst / rate + 0.5)  # the login's tokens are back: the bucket is full
        stanzas, size = flood_stanzas(sink.jid, count, "w")
        t0 = time.monotonic()
        for st in stanzas:
            flood.send(st)
        arrivals = []
        while len(arrivals) < count:
            m = sink.wait_message(timeout=30)
            arrivals.append((m.get("id"), time.monotonic() - t0))
        last = check_paced(arrivals, "w", size, rate, burst)
        least = (count * size - burst - size) / rate
        check(last >= least * 0.9, "the last message came after %.2f s, not before ~%.2f s"
              % (last, least))
        r2 = flood.iq("get", "<ping xmlns='urn:xmpp:ping'/>")
        check(r2.get("type") == "result", "the WebSocket session is still served", r2)
    finally:
        r.close()


def test_read_rate_backlog_bounded(ctx):
    """What waits for the read rate is bounded: a WebSocket client that sends more than
    1 MiB faster than c2s_read_rate allows is disconnected; the server goes on serving."""
    r = TerndCtx(("flood2", "hank"), PW,
                 extra={"limits": {"c2s_read_rate": 2000, "c2s_read_burst": 2000}})
    try:
        wait_port(HOST, r.t.http_port)
        flood = WsXmpp(r.t.http_port)
        r.open.append(flood)
        flood.login("flood2", PW, resource="w")
        body = "y" * 12000
        closed = False
        try:
            for i in range(120):  # ~1.45 MB
                flood.send("<message type='chat' to='hank@localhost' id='b%03d'><body>%s</body>"
                           "</message>" % (i, body))
        except OSError:
            closed = True
        code = None if closed else flood.expect_ws_close(timeout=10)
        check(closed or code is not None, "the flooding WebSocket was closed (%s)" % code)
        ok = r.client()
        ok.login("hank", PW, resource="after")
        check(ok.ping().get("type") == "result", "another client is served afterwards")
    finally:
        r.close()


TESTS = [
    ("handshake: subprotocol xmpp, no permessage-deflate", test_handshake),
    ("a client not offering xmpp is refused (400)", test_subprotocol_refused),
    ("aiohttp client: open, features, close", test_aiohttp_client),
    ("SCRAM-SHA-256, restart with a new <open/>, bind; no STARTTLS or -PLUS",
     test_login_scram),
    ("PLAIN from loopback, wrong password refused", test_login_plain_loopback),
    ("messages both ways with a slixmpp client on TCP", test_message_with_slixmpp),
    ("roster set and get", test_roster),
    ("offline message delivered to a WebSocket login", test_offline_delivery),
    ("<close/> answered, WebSocket closed 1000", test_close),
    ("XEP-0198 resumption on a new WebSocket", test_resume),
    ("a message over the stanza limit: <policy-violation/>", test_too_big),
    ("malformed frames: the right stream error, then a normal login", test_bad_frames),
    ("c2s_read_rate: a WebSocket flood is taken at the rate, nothing dropped", test_read_rate),
    ("input waiting for the read rate is bounded: 1 MiB, then closed", test_read_rate_backlog_bounded),
    ("shutdown with a live WebSocket session: <system-shutdown/>, clean exit", test_shutdown),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
