#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_s2s_ternd.py — federation between ternd instances on loopback
# addresses, found through a loopback dnsmasq (SRV + A): SASL EXTERNAL with certificates
# from a test CA (A <-> C), dialback with untrusted self-signed certificates (A <-> B);
# messages, presence and iq both ways; ternctl s2s; and the failures: unknown domain,
# silent peer, wrong dialback key, unsolicited dialback answers, spoofed 'from', a
# certificate for one domain offered for another, a peer killed mid-stream.

import base64
import os
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, NS_DIALBACK, NS_DIALBACK_FEATURE, NS_SASL,  # noqa: E402
                     NS_SERVER, NS_STREAM, NS_TLS, Dnsmasq, RawClient, TestCA, XmppTimeout, check,
                     error_condition, free_port, loopback_net, online_client, port_on, q,
                     run_tests, s2s_links, s2s_ternd, to_str)

A, B, C = "tern-a.test", "tern-b.test", "tern-c.test"
A2 = "tern-a2.test"  # a second domain on A's ternd: piggybacks on A's streams
D = "tern-d.test"  # [s2s] require_tls = false (plaintext test setups)
# one ternd, both certificates name only *.wild.test (and their own CN): RFC 6125 says the
# first matches, the second (two labels below) does not, and the CN is never looked at
W1, W2 = "x.wild.test", "a.b.wild.test"
NET = loopback_net()  # every server on its own address in a random 127.x.y.0/24
ADDR = {A: NET + "2", A2: NET + "2", B: NET + "3", C: NET + "4", D: NET + "5", W1: NET + "7",
        W2: NET + "7"}
SILENT, SILENT_ADDR = "silent.test", NET + "6"
PW = "s2s-pass word"


class Ctx:
    pass


def _silent_server(sock, stop):
    """Accepts TCP connections and never says a word."""
    conns = []
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _ = sock.accept()
            conns.append(c)
        except OSError:
            pass
    for c in conns:
        c.close()
    sock.close()


def setup():
    ctx = Ctx()
    ctx.t, ctx.c, ctx.dns, ctx.silent = {}, {}, None, None
    try:
        return _setup(ctx)
    except BaseException:
        teardown(ctx)  # run_tests() does not call it when setup fails
        raise


def _setup(ctx):
    # every folder of this run (the ternds' too) below one of ours: a sweep of /tmp/ternd-*
    # by something else running on the machine cannot pull them away mid-test
    ctx.dir = tempfile.mkdtemp(prefix="tern-s2s-")
    tempfile.tempdir = ctx.dir
    ctx.ca = TestCA(os.path.join(ctx.dir, "ca"))
    ctx.ports = {d: port_on(ADDR[d], 5269) for d in (A, B, C, D, W1)}
    ctx.ports[W2] = ctx.ports[W1]
    ctx.stop = threading.Event()
    ctx.silent = socket.socket()
    ctx.silent.bind((SILENT_ADDR, 0))
    ctx.silent.listen(16)
    threading.Thread(target=_silent_server, args=(ctx.silent, ctx.stop), daemon=True).start()
    ctx.ports[A2] = ctx.ports[A]
    ctx.c_direct = free_port(ADDR[C])  # C also serves direct TLS (XEP-0368), preferred
    srv = [("_xmpp-server._tcp." + d, d, ctx.ports[d], 10) for d in (A, A2, B, C, D, W1, W2)]
    srv.append(("_xmpps-server._tcp." + C, C, ctx.c_direct, 0))
    srv.append(("_xmpp-server._tcp." + SILENT, SILENT, ctx.silent.getsockname()[1]))
    hosts = [(d, ADDR[d]) for d in (A, A2, B, C, D, W1, W2)] + [(SILENT, SILENT_ADDR)]
    ctx.dns = Dnsmasq(ctx.dir, srv, hosts)
    certs = os.path.join(ctx.dir, "issued")
    ctx.cert = {d: ctx.ca.issue(d, certs) for d in (A, A2, C)}
    ctx.cert.update({d: ctx.ca.issue(d, certs, names=["*.wild.test"]) for d in (W1, W2)})
    ctx.t = {
        A: s2s_ternd((A, A2), ADDR[A], ctx.ports[A], ctx.dns.servers,
                     {A: ctx.cert[A], A2: ctx.cert[A2]}, ctx.ca.pem,
                     extra={"s2s": {"queue_size": 5, "deny_domains": "denied.test"}}),
        # self-signed, no CA
        B: s2s_ternd(B, ADDR[B], ctx.ports[B], ctx.dns.servers,
                     extra={"s2s": {"max_streams_per_ip": 4}}),
        C: s2s_ternd(C, ADDR[C], ctx.ports[C], ctx.dns.servers, ctx.cert[C], ctx.ca.pem,
                     extra={"s2s": {"direct_tls": "%s:%d" % (ADDR[C], ctx.c_direct),
                                    "secure_domains": B}}),
        D: s2s_ternd(D, ADDR[D], ctx.ports[D], ctx.dns.servers,
                     extra={"s2s": {"require_tls": False, "idle_timeout": 3}}),
        W1: s2s_ternd((W1, W2), ADDR[W1], ctx.ports[W1], ctx.dns.servers,
                      {W1: ctx.cert[W1], W2: ctx.cert[W2]}, ctx.ca.pem),
    }
    for t in ctx.t.values():
        t.start()
    ctx.c = {d: online_client(ctx.t[d], "user", PW) for d in (A, B, C, D)}
    ctx.c[A2] = online_client(ctx.t[A], "user", PW, domain=A2)
    ctx.c[W1] = online_client(ctx.t[W1], "user", PW)
    ctx.c[W2] = online_client(ctx.t[W1], "user", PW, domain=W2)
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.c.values():
        c.close()
    for t in ctx.t.values():
        if os.environ.get("TERN_S2S_LOGS"):
            print("# ---- %s\n# " % t.domain + t.log_tail(200).replace("\n", "\n# "))
        t.cleanup()
    if ctx.dns:
        ctx.dns.stop()
    if ctx.silent:
        ctx.stop.set()
    if getattr(ctx, "dir", None) and not os.environ.get("TERN_KEEP_TMP"):
        shutil.rmtree(ctx.dir, ignore_errors=True)


def user(d):
    return "user@" + d  # every domain has a "user" with an online client (ctx.c)


def full(d):
    return "user@%s/res" % d


# ---- helpers

def exchange(ctx, x, y, timeout=15):
    """Message, presence and iq from x's user to y's and back."""
    cx, cy = ctx.c[x], ctx.c[y]
    mid = cx.message(user(y), "hello from %s" % x)
    m = cy.wait_message(lambda e: e.get("id") == mid, timeout)
    check(m.get("from") == full(x), "message 'from' should be the sender's full JID", m)
    check(m.findtext(q(NS_CLIENT, "body")) == "hello from %s" % x, "body changed", m)
    # directed presence to a full JID
    cx.send("<presence to='%s'><status>via s2s</status></presence>" % full(y))
    p = cy.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == full(x),
                timeout)
    check(p.findtext(q(NS_CLIENT, "status")) == "via s2s", "presence status changed", p)
    # iq to the remote server (XEP-0199) and to the remote user's resource
    r = cx.ping(to=y, timeout=timeout)
    check(r.get("type") == "result" and r.get("from") == y, "server ping over s2s", r)
    vid = "v-" + uuid.uuid4().hex[:8]
    cx.send("<iq type='get' id='%s' to='%s'><query xmlns='jabber:iq:version'/></iq>"
            % (vid, full(y)))
    iq = cy.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == vid, timeout)
    check(iq.get("from") == full(x), "iq 'from'", iq)
    cy.send("<iq type='result' id='%s' to='%s'><query xmlns='jabber:iq:version'>"
            "<name>raw</name></query></iq>" % (vid, full(x)))
    res = cx.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == vid, timeout)
    check(res.get("type") == "result" and res.get("from") == full(y), "iq result back", res)


def link(ctx, on, direction, local, remote):
    for row in s2s_links(ctx.t[on]):
        if (row["dir"], row["local"], row["remote"]) == (direction, local, remote):
            return row
    return None


def wait_link(ctx, on, direction, local, remote, state="ready", timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        row = link(ctx, on, direction, local, remote)
        if row and row["state"] == state:
            return row
        if time.monotonic() > deadline:
            raise AssertionError("no %s link %s -> %s on %s in state %s: %s"
                                 % (direction, local, remote, on, state, s2s_links(ctx.t[on])))
        time.sleep(0.1)


def expect_bounce(client, mid, conditions, timeout):
    t0 = time.monotonic()
    e = client.wait(lambda e: e.get("id") == mid and e.get("type") == "error", timeout)
    cond = error_condition(e)
    check(cond in conditions, "expected one of %s, got %s" % (conditions, cond), e)
    return time.monotonic() - t0


def never_arrives(client, id_, timeout=1.0):
    try:
        e = client.wait(lambda e: e.get("id") == id_, timeout)
    except XmppTimeout:
        return
    raise AssertionError("unexpected stanza: %s" % to_str(e))


class Peer(RawClient):
    """A hand-driven server peer on an s2s port: jabber:server streams, optional client
    certificate for SASL EXTERNAL."""

    def __init__(self, ternd, cert=None, **kw):
        self.cert = cert
        super().__init__(ternd.s2s_port, host=ternd.host, domain=ternd.domain, **kw)

    def _wrap_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(*self.cert)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.domain)
        self.tls = True

    def open(self, from_):
        self.from_ = from_
        return self.open_stream(ns=NS_SERVER, from_=from_)

    def secure(self, from_):
        self.open(from_)
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.wait(lambda e: e.tag in (q(NS_TLS, "proceed"), q(NS_TLS, "failure")))
        check(el.tag == q(NS_TLS, "proceed"), "STARTTLS refused", el)
        self._wrap_tls()
        return self.open(from_)

    def header(self, **kw):
        h = super().header(**kw)
        return h.replace("<stream:stream", "<stream:stream xmlns:db='%s'" % NS_DIALBACK, 1)

    def sasl_mechs(self):
        m = self.features.find(q(NS_SASL, "mechanisms"))
        return [x.text for x in m] if m is not None else []


# ---- tests

def test_sasl_external_a_c(ctx):
    exchange(ctx, A, C)
    exchange(ctx, C, A)
    for on, local, remote in ((A, A, C), (C, C, A)):
        row = wait_link(ctx, on, "out", local, remote)
        check(row["auth"] == "sasl-external", "expected SASL EXTERNAL: %s" % row)
        check(row["tls"].startswith("TLSv1."), "expected TLS: %s" % row)
    row = wait_link(ctx, A, "in", A, C)
    check(row["auth"] == "sasl-external", "incoming A <- C: %s" % row)
    # C's _xmpps-server record has the better priority: A -> C is direct TLS
    check(link(ctx, A, "out", A, C)["via"] == "direct-tls", "A -> C: %s" % s2s_links(ctx.t[A]))
    check(wait_link(ctx, C, "in", C, A)["via"] == "direct-tls", "C <- A: %s"
          % s2s_links(ctx.t[C]))
    check(link(ctx, C, "out", C, A)["via"] == "starttls", "C -> A: %s" % s2s_links(ctx.t[C]))


def test_dialback_a_b(ctx):
    exchange(ctx, A, B)
    exchange(ctx, B, A)
    for on, local, remote in ((A, A, B), (B, B, A)):
        row = wait_link(ctx, on, "out", local, remote)
        check(row["auth"] == "dialback", "expected dialback: %s" % row)
        check(row["tls"].startswith("TLSv1."), "expected TLS: %s" % row)


def test_ternctl_s2s(ctx):
    r = ctx.t[A].ternctl("s2s")
    check(r.returncode == 0, r.stderr)
    lines = r.stdout.splitlines()
    check(lines[0].split() == ["DIR", "LOCAL", "REMOTE", "STATE", "AUTH", "TLS", "QUEUED",
                               "AGE", "VIA", "STREAM", "CERT"], "header: %r" % lines[0])
    for d, remote in (("out", B), ("out", C), ("in", B), ("in", C)):
        wait_link(ctx, A, d, A, remote)


def test_unknown_domain(ctx):
    mid = ctx.c[A].message("someone@nowhere.test", "anyone?")
    took = expect_bounce(ctx.c[A], mid, ("remote-server-not-found",), 10)
    check(took < 10, "bounce took %.1f s" % took)


def test_silent_peer_times_out(ctx):
    mids = [ctx.c[A].message("someone@" + SILENT, "hello %d" % i) for i in range(7)]
    for mid in mids[5:]:  # queue_size = 5: the rest bounce at once
        took = expect_bounce(ctx.c[A], mid, ("resource-constraint",), 2)
        check(took < 2, "queue overflow bounce took %.1f s" % took)
    for mid in mids[:5]:  # connect_timeout = 5 s in s2s_ternd()
        expect_bounce(ctx.c[A], mid, ("remote-server-timeout",), 15)


def test_error_stanzas_not_bounced(ctx):
    ctx.c[A].send("<message type='error' id='err1' to='x@nowhere.test'><error type='cancel'>"
                  "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</message>")
    mid = ctx.c[A].message("x@nowhere.test", "after")
    expect_bounce(ctx.c[A], mid, ("remote-server-not-found",), 10)
    never_arrives(ctx.c[A], "err1")


def test_tls_required(ctx):
    with Peer(ctx.t[A]) as p:
        p.open(B)
        st = p.features.find(q(NS_TLS, "starttls"))
        check(st is not None and st.find(q(NS_TLS, "required")) is not None,
              "STARTTLS not required", p.features)
        check(p.features.find(q(NS_DIALBACK_FEATURE, "dialback")) is None,
              "dialback offered before TLS", p.features)
        p.send("<db:result xmlns:db='%s' from='%s' to='%s'>%s</db:result>"
               % (NS_DIALBACK, B, A, "00" * 32))
        cond, _ = p.stream_error(5)
        check(cond == "policy-violation", "expected <policy-violation/>, got %s" % cond)


def test_policy(ctx):
    # [s2s] deny_domains: bounced at once, nothing resolved
    mid = ctx.c[A].message("x@denied.test", "no")
    took = expect_bounce(ctx.c[A], mid, ("remote-server-not-found",), 5)
    check(took < 2, "deny took %.1f s" % took)
    # C has B in [s2s] secure_domains and B's certificate is self-signed: no link either way
    mid = ctx.c[C].message(user(B), "no")
    expect_bounce(ctx.c[C], mid, ("remote-server-not-found",), 15)
    mid = ctx.c[B].message(user(C), "no")
    expect_bounce(ctx.c[B], mid, ("remote-server-not-found",), 15)
    never_arrives(ctx.c[C], mid)


def test_streams_per_ip(ctx):
    exchange(ctx, A, B)
    peers, refused = [], None
    try:
        for i in range(5):  # B allows 4 incoming streams per address; A has one already
            p = Peer(ctx.t[B])
            peers.append(p)
            p.send(p.header(ns="jabber:server", from_="x%d.test" % i))
            el = p.wait(lambda e: e.tag in (q(NS_STREAM, "features"), q(NS_STREAM, "error")))
            if el.tag == q(NS_STREAM, "error"):
                refused = i
                break
    finally:
        for p in peers:
            p.close()
    check(refused is not None and refused <= 3, "the limit never applied (refused: %s)" % refused)
    check(error_condition(el, "urn:ietf:params:xml:ns:xmpp-streams") == "policy-violation",
          "expected <policy-violation/>", el)
    exchange(ctx, A, B)


def test_idle_link_closed(ctx):
    exchange(ctx, D, A)
    deadline = time.monotonic() + 10  # D: idle_timeout = 3 s
    while link(ctx, D, "out", D, A) is not None or link(ctx, A, "out", A, D) is not None:
        check(time.monotonic() < deadline, "idle links kept: %s %s"
              % (s2s_links(ctx.t[D]), s2s_links(ctx.t[A])))
        time.sleep(0.2)
    exchange(ctx, D, A)  # reopened on demand


def test_stanza_size(ctx):
    with Peer(ctx.t[A], cert=ctx.cert[C]) as p:
        p.secure(C)
        p.send("<auth xmlns='%s' mechanism='EXTERNAL'>=</auth>" % NS_SASL)
        p.wait(q(NS_SASL, "success"))
        p.open(C)
        body = "x" * 4096
        p.send("<message from='peer@%s' to='%s' id='big1'><body>%s</body></message>"
               % (C, full(A), body))  # 4 KiB: fine
        ctx.c[A].wait_message(lambda e: e.get("id") == "big1", 10)
        p.send("<message from='peer@%s' to='%s' id='big2'><body>" % (C, full(A)))
        try:
            for _ in range(140):  # 560 KiB > [limits] s2s_stanza_size (512 KiB)
                p.send(body)
        except OSError:
            pass  # closed while we were still writing
        cond, _ = p.stream_error(10)
        check(cond == "policy-violation", "expected <policy-violation/>, got %s" % cond)
    never_arrives(ctx.c[A], "big2")


def test_plaintext_allowed(ctx):
    with Peer(ctx.t[D]) as p:
        p.open(B)
        st = p.features.find(q(NS_TLS, "starttls"))
        check(st is not None and st.find(q(NS_TLS, "required")) is None,
              "STARTTLS should be offered, not required", p.features)
        check(p.features.find(q(NS_DIALBACK_FEATURE, "dialback")) is not None,
              "dialback not offered without TLS", p.features)
        p.send("<db:result xmlns:db='%s' from='%s' to='%s'>%s</db:result>"
               % (NS_DIALBACK, B, D, "00" * 32))
        r = p.wait(q(NS_DIALBACK, "result"), 10)  # D asked B (over TLS): wrong key
        check(r.get("type") == "invalid", "wrong key accepted", r)


def test_rfc6125_names(ctx):
    exchange(ctx, A, W1)
    exchange(ctx, A, W2)  # dialback still works: the certificate is only not trusted for W2
    check(wait_link(ctx, A, "out", A, W1)["cert"] == "valid", "*.wild.test should match %s: %s"
          % (W1, s2s_links(ctx.t[A])))
    check(wait_link(ctx, A, "out", A, W2)["cert"] == "name-mismatch",
          "*.wild.test must not match %s (nor its CN): %s" % (W2, s2s_links(ctx.t[A])))
    check(wait_link(ctx, W1, "out", W1, A)["cert"] == "valid", "%s" % s2s_links(ctx.t[W1]))


def test_piggyback(ctx):
    exchange(ctx, A, B)
    exchange(ctx, A2, B)  # a second pair on the stream A -> B (B announced dialback errors)
    exchange(ctx, B, A2)
    one, two = wait_link(ctx, A, "out", A, B), wait_link(ctx, A, "out", A2, B)
    check(one["stream"] == two["stream"] and two["auth"] == "dialback",
          "A2 -> B should share A -> B's stream: %s" % s2s_links(ctx.t[A]))


def test_wrong_dialback_key(ctx):
    with Peer(ctx.t[A]) as p:
        p.secure(B)
        check(p.features.find(q(NS_DIALBACK_FEATURE, "dialback")) is not None,
              "no dialback feature", p.features)
        p.send("<db:result xmlns:db='%s' from='%s' to='%s'>%s</db:result>"
               % (NS_DIALBACK, B, A, "00" * 32))
        r = p.wait(q(NS_DIALBACK, "result"), 10)
        check(r.get("type") == "invalid", "wrong key accepted", r)
        cond, _ = p.stream_error(5)
        check(cond == "not-authorized", "expected <not-authorized/>, got %s" % cond)


def test_unsolicited_dialback(ctx):
    with Peer(ctx.t[A]) as p:
        p.secure(B)
        p.send("<db:result xmlns:db='%s' type='valid' from='%s' to='%s'/>" % (NS_DIALBACK, B, A))
        p.send("<db:verify xmlns:db='%s' type='valid' from='%s' to='%s' id='x'/>"
               % (NS_DIALBACK, B, A))
        p.send("<message from='%s' to='%s' id='u1'><body>spoof</body></message>"
               % (full(B), user(A)))
        cond, _ = p.stream_error(5)
        check(cond == "not-authorized", "expected <not-authorized/>, got %s" % cond)
    never_arrives(ctx.c[A], "u1")


def test_cert_for_c_never_authenticates_b(ctx):
    with Peer(ctx.t[A], cert=ctx.cert[C]) as p:
        p.secure(B)  # claims B, shows C's (valid) certificate
        check("EXTERNAL" not in p.sasl_mechs(), "EXTERNAL offered for a foreign certificate",
              p.features)
        p.send("<auth xmlns='%s' mechanism='EXTERNAL'>=</auth>" % NS_SASL)
        f = p.wait(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")))
        check(f.tag == q(NS_SASL, "failure"), "C's certificate authenticated B", f)
    with Peer(ctx.t[A], cert=ctx.cert[C]) as p:
        p.secure(C)  # honest 'from', but asks for B as authorization identity
        check("EXTERNAL" in p.sasl_mechs(), "EXTERNAL not offered to C", p.features)
        p.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"
               % (NS_SASL, base64.b64encode(B.encode()).decode()))
        f = p.wait(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")))
        check(f.tag == q(NS_SASL, "failure"), "authzid B accepted with C's certificate", f)


def test_spoofed_from(ctx):
    with Peer(ctx.t[A], cert=ctx.cert[C]) as p:
        p.secure(C)
        p.send("<auth xmlns='%s' mechanism='EXTERNAL'>=</auth>" % NS_SASL)
        f = p.wait(lambda e: e.tag in (q(NS_SASL, "success"), q(NS_SASL, "failure")))
        check(f.tag == q(NS_SASL, "success"), "SASL EXTERNAL with C's certificate", f)
        p.open(C)
        p.send("<message from='%s' to='%s' id='ok1'><body>legit</body></message>"
               % ("peer@" + C, full(A)))
        m = ctx.c[A].wait_message(lambda e: e.get("id") == "ok1", 10)
        check(m.get("from") == "peer@" + C, "authenticated stanza", m)
        p.send("<message from='%s' to='%s' id='sp1'><body>spoof</body></message>"
               % ("evil@" + B, full(A)))
        cond, _ = p.stream_error(5)
        check(cond == "invalid-from", "expected <invalid-from/>, got %s" % cond)
    exchange(ctx, A, B)  # other links unaffected
    exchange(ctx, C, A)
    never_arrives(ctx.c[A], "sp1")


def test_peer_killed(ctx):
    exchange(ctx, A, B)
    tb = ctx.t[B]
    tb.signal(signal.SIGKILL)
    tb.wait(5)
    mids = [ctx.c[A].message(user(B), "while dead %d" % i) for i in range(3)]
    for mid in mids:  # not lost: each comes back as an error
        expect_bounce(ctx.c[A], mid, ("remote-server-not-found", "remote-server-timeout"), 20)
    tb.stop()
    tb.start()
    ctx.c[B].close()
    ctx.c[B] = tb.client()
    ctx.c[B].login("user", PW, resource="res")
    ctx.c[B].send("<presence/>")
    exchange(ctx, A, B, timeout=20)  # reopened on demand


if __name__ == "__main__":
    run_tests([
        ("SASL EXTERNAL A <-> C: message, presence, iq both ways", test_sasl_external_a_c),
        ("dialback A <-> B: message, presence, iq both ways", test_dialback_a_b),
        ("ternctl s2s lists the links", test_ternctl_s2s),
        ("piggybacking: A2 -> B shares the stream A -> B", test_piggyback),
        ("RFC 6125: wildcard for one label only, never the CN", test_rfc6125_names),
        ("unknown domain -> <remote-server-not-found/>", test_unknown_domain),
        ("policy: deny_domains, secure_domains", test_policy),
        ("an idle link is closed and reopened on demand", test_idle_link_closed),
        ("a stanza over s2s_stanza_size -> <policy-violation/>", test_stanza_size),
        ("max_streams_per_ip -> <policy-violation/>", test_streams_per_ip),
        ("silent peer -> <remote-server-timeout/>; queue full -> <resource-constraint/>",
         test_silent_peer_times_out),
        ("error stanzas are never bounced", test_error_stanzas_not_bounced),
        ("dialback before STARTTLS -> <policy-violation/>", test_tls_required),
        ("wrong dialback key -> type='invalid', <not-authorized/>", test_wrong_dialback_key),
        ("require_tls = false: dialback without TLS", test_plaintext_allowed),
        ("unsolicited dialback answers authorize nothing", test_unsolicited_dialback),
        ("a certificate for C never authenticates B", test_cert_for_c_never_authenticates_b),
        ("spoofed 'from' -> <invalid-from/>, other links unaffected", test_spoofed_from),
        ("peer killed: queued stanzas bounced, link reopened", test_peer_killed),
    ], setup, teardown)
