#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_c2s_login.py — c2s login flows with a real client (slixmpp):
# XEP-0077 registration, SASL SCRAM-SHA-1/-256 and PLAIN over STARTTLS and direct TLS,
# bind, message and iq routing between two users, server disco/ping/version.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_BIND, NS_DISCO_INFO, NS_PING, NS_SASL, NS_VERSION,  # noqa: E402
                     SlixLoop, Ternd, check, error_condition, q, register, run_tests,
                     sasl_condition)

ALICE = ("alice", "wonder-land 1")
BOB = ("bob", "builder,=2")  # ',' and '=' exercise SCRAM and form escaping


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd().start()
    ctx.slix = SlixLoop()
    ctx.alice = ctx.bob = None
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    ctx.slix.shutdown()
    ctx.t.cleanup()


def jid(user):
    return "%s@localhost" % user[0]


def login(ctx, user, mech, direct_tls=False, resource=None, password=None):
    j = jid(user) + ("/" + resource if resource else "")
    port = ctx.t.tls_port if direct_tls else ctx.t.port
    return ctx.slix.client(j, password or user[1], port, mech=mech, direct_tls=direct_tls)


def test_stream_features(ctx):
    with ctx.t.client() as c:
        f = c.open_stream()
        a = c.stream_attrs
        check(a["tag"] == q("http://etherx.jabber.org/streams", "stream"), "root %s" % a)
        check(a.get("from") == "localhost", "stream header from=%r" % a.get("from"))
        check(a.get("id"), "stream header without id: %s" % a)
        check(a.get("version") == "1.0", "stream header version=%r" % a.get("version"))
        tls = f.find(q("urn:ietf:params:xml:ns:xmpp-tls", "starttls"))
        check(tls is not None and tls.find(q("urn:ietf:params:xml:ns:xmpp-tls", "required"))
              is not None, "require_tls: <starttls><required/> expected", f)
        check("PLAIN" not in c.mechanisms(), "PLAIN offered before TLS", f)
        f = c.starttls()
        check(c.stream_attrs.get("id") and c.stream_attrs.get("id") != a.get("id"),
              "stream id not renewed after STARTTLS: %s" % c.stream_attrs)
        check(f.find(q("urn:ietf:params:xml:ns:xmpp-tls", "starttls")) is None,
              "<starttls/> offered again on TLS", f)
        mechs = c.mechanisms()
        for m in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
            check(m in mechs, "%s not offered after STARTTLS: %s" % (m, mechs), f)
    with ctx.t.tls_client() as c:
        f = c.open_stream()
        check(f.find(q("urn:ietf:params:xml:ns:xmpp-tls", "starttls")) is None,
              "<starttls/> offered on direct TLS", f)
        check("PLAIN" in c.mechanisms() and "SCRAM-SHA-256" in c.mechanisms(),
              "direct TLS mechanisms: %s" % c.mechanisms(), f)


def test_register(ctx):
    for user in (ALICE, BOB):
        with ctx.t.client() as c:
            c.connect()
            check(c.features.find(q("http://jabber.org/features/iq-register", "register"))
                  is not None, "no register feature after STARTTLS", c.features)
            r = register(c, *user)
            check(r.get("type") == "result", "registration of %s failed" % user[0], r)


def test_register_conflict(ctx):
    with ctx.t.client() as c:
        c.connect()
        r = register(c, ALICE[0], "another")
        check(r.get("type") == "error" and error_condition(r) == "conflict",
              "duplicate registration: expected <conflict/>", r)
    # the first password still works, the second does not
    with ctx.t.client() as c:
        c.connect()
        el = c.sasl(ALICE[0], "another", "SCRAM-SHA-1")
        check(el.tag == q(NS_SASL, "failure"), "duplicate registration changed the password", el)


def _login_mech(ctx, mech, direct_tls=False):
    c = login(ctx, ALICE, mech, direct_tls=direct_tls)
    try:
        check(c.tls_version() is not None, "%s session not on TLS" % mech)
        check(c.xmpp.boundjid.bare == jid(ALICE), "bound JID %s" % c.jid)
        check(c.xmpp['feature_mechanisms'].mech.name == mech,
              "slixmpp used %s" % c.xmpp['feature_mechanisms'].mech.name)
    finally:
        c.disconnect()


def test_scram_sha1_starttls(ctx):
    _login_mech(ctx, "SCRAM-SHA-1")


def test_scram_sha256_starttls(ctx):
    _login_mech(ctx, "SCRAM-SHA-256")


def test_plain_starttls(ctx):
    _login_mech(ctx, "PLAIN")


def test_scram_sha1_direct_tls(ctx):
    _login_mech(ctx, "SCRAM-SHA-1", direct_tls=True)


def test_scram_sha256_direct_tls(ctx):
    _login_mech(ctx, "SCRAM-SHA-256", direct_tls=True)


def test_plain_direct_tls(ctx):
    _login_mech(ctx, "PLAIN", direct_tls=True)


def test_bind_generated_resource(ctx):
    with ctx.t.client() as c:
        c.connect()
        c.login(*ALICE, mech="SCRAM-SHA-256", bind=False)
        iq = c.bind_raw(None)
        j = iq.findtext("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        check(iq.get("type") == "result" and j, "bind without resource failed", iq)
        bare, _, res = j.partition("/")
        check(bare == jid(ALICE) and res, "server-generated JID %r" % j, iq)


def test_legacy_session(ctx):
    """RFC 3921 §3: the advertised (optional) session establishment gets its result;
    Converse.js, among others, still sends it and stops at an error."""
    with ctx.t.client() as c:
        c.connect()
        c.login(*ALICE, mech="SCRAM-SHA-256")
        r = c.iq("set", "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>", to=None)
        check(r.get("type") == "result", "session establishment", r)


def test_bind_requested_resource(ctx):
    with ctx.t.client() as c:
        c.connect()
        full = c.login(*ALICE, mech="SCRAM-SHA-1", resource="raw-desk")
        check(full == jid(ALICE) + "/raw-desk", "raw client bound %s" % full)
    c = login(ctx, BOB, "SCRAM-SHA-1", resource="workshop")
    try:
        check(c.jid == jid(BOB) + "/workshop", "slixmpp bound %s" % c.jid)
    finally:
        c.disconnect()


def _pair(ctx):
    if ctx.alice is None:
        ctx.alice = login(ctx, ALICE, "SCRAM-SHA-1", resource="a1")
        ctx.bob = login(ctx, BOB, "SCRAM-SHA-256", direct_tls=True, resource="b1")
    return ctx.alice, ctx.bob


def test_messages_both_ways(ctx):
    a, b = _pair(ctx)
    a.send_message(b.jid, "hello bob")
    m = b.wait_message(lambda m: m["body"] == "hello bob")
    check(str(m["from"]) == a.jid, "bob got from=%s, expected %s" % (m["from"], a.jid))
    check(m["type"] == "chat", "type %s" % m["type"])
    b.send_message(jid(ALICE), "hello alice")  # to the bare JID
    m = a.wait_message(lambda m: m["body"] == "hello alice")
    check(str(m["from"]) == b.jid, "alice got from=%s, expected %s" % (m["from"], b.jid))


def test_iq_between_clients(ctx):
    a, b = _pair(ctx)
    iq = a.iq(lambda: a.xmpp['xep_0199'].send_ping(b.jid, timeout=5))
    check(iq["type"] == "result", "ping answer", iq.xml)
    check(str(iq["from"]) == b.jid, "ping answered from %s, expected %s" % (iq["from"], b.jid))
    check(str(iq["to"]) in (a.jid, ""), "ping answer to %s" % iq["to"])


def test_io_uring_off(ctx):
    """[server] io_uring = false: the same sessions with one system call per read and write
    (what ternd does by itself where the kernel refuses io_uring)."""
    t = Ternd(extra={"server": {"io_uring": False}}).start()
    try:
        t.adduser("carol", "c-pass")
        t.adduser("dave", "d-pass")
        c = ctx.slix.client("carol@localhost/c1", "c-pass", t.port, mech="SCRAM-SHA-1")
        d = ctx.slix.client("dave@localhost/d1", "d-pass", t.tls_port, mech="SCRAM-SHA-1",
                            direct_tls=True)
        for k in range(20):
            c.send_message(d.jid, "to dave %d" % k)
            d.send_message(c.jid, "to carol %d" % k)
        for k in range(20):
            d.wait_message(lambda m, k=k: m["body"] == "to dave %d" % k)
            c.wait_message(lambda m, k=k: m["body"] == "to carol %d" % k)
        check("io_uring off" in t.log(), "no debug line saying io_uring is off",
              t.log_tail(20))
        check("io_uring, " not in t.log(), "a ring was made although io_uring = false")
        c.disconnect()
        d.disconnect()
    finally:
        t.cleanup()


def test_disco_info_server(ctx):
    a, _ = _pair(ctx)
    iq = a.iq(lambda: a.xmpp['xep_0030'].get_info(jid="localhost", timeout=5))
    x = iq.xml
    query = x.find(q(NS_DISCO_INFO, "query"))
    check(query is not None, "no disco#info query", x)
    feats = [f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))]
    idents = [(i.get("category"), i.get("type")) for i in query.findall(q(NS_DISCO_INFO,
                                                                          "identity"))]
    check(NS_PING in feats, "urn:xmpp:ping not among features %s" % feats, x)
    check(NS_DISCO_INFO in feats, "disco#info not among features %s" % feats, x)
    check(("server", "im") in idents, "identities %s lack server/im" % idents, x)


def test_ping_server(ctx):
    a, _ = _pair(ctx)
    iq = a.iq(lambda: a.xmpp['xep_0199'].send_ping("localhost", timeout=5))
    check(iq["type"] == "result", "server ping", iq.xml)
    check(str(iq["from"]) == "localhost", "ping result from %s" % iq["from"], iq.xml)


def test_version(ctx):
    a, _ = _pair(ctx)
    iq = a.iq(lambda: a.xmpp['xep_0092'].get_version("localhost", timeout=5))
    query = iq.xml.find(q(NS_VERSION, "query"))
    check(iq["type"] == "result" and query is not None, "version answer", iq.xml)
    check(query.findtext(q(NS_VERSION, "name")) == "Tern", "name is not Tern", iq.xml)
    check((query.findtext(q(NS_VERSION, "version")) or "").strip(), "no version", iq.xml)


def test_wrong_password(ctx):
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
        with ctx.t.client() as c:
            c.connect()
            el = c.sasl(ALICE[0], "not the password", mech)
            check(el.tag == q(NS_SASL, "failure") and sasl_condition(el) == "not-authorized",
                  "%s with a wrong password: expected <failure><not-authorized/>" % mech, el)
    with ctx.t.client() as c:  # unknown user looks the same
        c.connect()
        el = c.sasl("nobody", "x", "SCRAM-SHA-1")
        check(el.tag == q(NS_SASL, "failure") and sasl_condition(el) == "not-authorized",
              "unknown user: expected <not-authorized/>", el)
    try:
        c = login(ctx, ALICE, "SCRAM-SHA-1", password="wrong")
    except AssertionError as e:
        check("failed_auth" in str(e) or "failed" in str(e), "slixmpp: %s" % e)
    else:
        c.disconnect()
        raise AssertionError("slixmpp logged in with a wrong password")


def test_ternctl_account_login(ctx):
    ctx.t.adduser("carol", "made by ternctl")
    c = ctx.slix.client("carol@localhost", "made by ternctl", ctx.t.port, mech="SCRAM-SHA-256")
    try:
        a, _ = _pair(ctx)
        c.send_message(a.jid, "from carol")
        m = a.wait_message(lambda m: m["body"] == "from carol")
        check(str(m["from"]) == c.jid, "from %s" % m["from"])
    finally:
        c.disconnect()


TESTS = [
    ("stream header and features before and after TLS", test_stream_features),
    ("XEP-0077 registration of two accounts after STARTTLS", test_register),
    ("duplicate registration gets <conflict/>", test_register_conflict),
    ("slixmpp SCRAM-SHA-1 over STARTTLS", test_scram_sha1_starttls),
    ("slixmpp SCRAM-SHA-256 over STARTTLS", test_scram_sha256_starttls),
    ("slixmpp PLAIN over STARTTLS", test_plain_starttls),
    ("slixmpp SCRAM-SHA-1 over direct TLS", test_scram_sha1_direct_tls),
    ("slixmpp SCRAM-SHA-256 over direct TLS", test_scram_sha256_direct_tls),
    ("slixmpp PLAIN over direct TLS", test_plain_direct_tls),
    ("bind without resource gets a server-generated one", test_bind_generated_resource),
    ("bind honours the requested resource", test_bind_requested_resource),
    ("legacy session establishment gets a result", test_legacy_session),
    ("messages both ways carry the sender's full JID", test_messages_both_ways),
    ("iq ping between full JIDs is answered by the client", test_iq_between_clients),
    ("io_uring = false: STARTTLS and direct TLS sessions exchange 40 messages",
     test_io_uring_off),
    ("disco info on the server: urn:xmpp:ping, identity server/im", test_disco_info_server),
    ("ping to the server gets a result", test_ping_server),
    ("jabber:iq:version answers name Tern", test_version),
    ("wrong password gets SASL <not-authorized/>", test_wrong_password),
    ("account made by ternctl adduser can log in", test_ternctl_account_login),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
