#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_c2s_errors.py — c2s error paths with a raw client: restricted XML,
# malformed input, limits, addressing and routing errors, resource binding limits and the
# shutdown stream error. Each names the exact RFC 6120 condition.

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_BIND, NS_CLIENT, NS_SASL, StreamClosed, Ternd, check,  # noqa: E402
                     error_condition, q, run_tests, sasl_condition)

ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd().start()
    ctx.t.adduser(*ALICE)
    ctx.t.adduser(*BOB)
    # a logged-in bystander: every error elsewhere must leave it served
    ctx.watch = ctx.t.client()
    ctx.watch.connect()
    ctx.watch.login(*BOB, resource="watch")
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    ctx.watch.close()
    ctx.t.cleanup()


def still_served(ctx):
    r = ctx.watch.ping()
    check(r.get("type") == "result", "the logged-in bystander is no longer served", r)


def expect_stream_error(c, condition, what):
    """The next element is <stream:error/> with condition; then the stream and TCP close."""
    try:
        got, el = c.stream_error()
    except StreamClosed as e:
        raise AssertionError("%s: connection closed without <%s/> stream error: %s"
                             % (what, condition, e))
    check(got == condition, "%s: expected <%s/>, got <%s/>" % (what, condition, got), el)
    check(c.wait_closed(5), "%s: connection not closed after the stream error" % what)
    check(c.stream_closed, "%s: no </stream:stream> after the stream error; received %r"
          % (what, bytes(c.raw[-300:])))


def send_quiet(c, data):
    """Send, ignoring a reset: the server may close as soon as it has seen enough."""
    try:
        c.send(data)
    except OSError:
        pass


def test_doctype(ctx):
    with ctx.t.client() as c:
        send_quiet(c, "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY a 'b'>]>" +
                   c.header(xml_decl=False))
        expect_stream_error(c, "restricted-xml", "DOCTYPE")
    still_served(ctx)


def test_comment(ctx):
    with ctx.t.client() as c:
        c.open_stream()
        send_quiet(c, "<!-- a comment -->")
        expect_stream_error(c, "restricted-xml", "comment")
    still_served(ctx)


def test_processing_instruction(ctx):
    with ctx.t.client() as c:
        c.open_stream()
        send_quiet(c, "<?tern-test some data?>")
        expect_stream_error(c, "restricted-xml", "processing instruction")
    still_served(ctx)


def test_comment_after_auth(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        send_quiet(c, "<message to='bob@localhost'><body>x</body><!-- hidden --></message>")
        expect_stream_error(c, "restricted-xml", "comment inside a stanza")
    still_served(ctx)


def test_invalid_utf8(ctx):
    with ctx.t.client() as c:
        c.open_stream()
        send_quiet(c, b"<iq type='get' id='\xc3\x28\xff'/>")
        expect_stream_error(c, "not-well-formed", "invalid UTF-8")
    still_served(ctx)


def test_malformed_xml(ctx):
    with ctx.t.client() as c:
        c.open_stream()
        send_quiet(c, "<iq type='get' id='m1'><query xmlns='jabber:iq:register'></iq>")
        expect_stream_error(c, "not-well-formed", "mismatched end tag")
    still_served(ctx)


def test_stanza_before_auth(ctx):
    with ctx.t.client() as c:
        c.connect()  # on TLS, not authenticated
        send_quiet(c, "<message to='bob@localhost' type='chat'><body>hi</body></message>")
        expect_stream_error(c, "not-authorized", "message before authentication")
    still_served(ctx)
    # bob must not have received it
    time.sleep(0.2)
    try:
        ctx.watch._read(time.monotonic() + 0.2)
    except StreamClosed:
        pass
    leaked = [e for e in ctx.watch.queue if e.tag == q(NS_CLIENT, "message")]
    check(not leaked, "a message sent before authentication was delivered", *leaked)


def test_preauth_size(ctx):
    limit = 16384  # [limits] preauth_stanza_size default
    with ctx.t.client() as c:
        c.open_stream()
        send_quiet(c, "<iq type='set' id='big'><query xmlns='jabber:iq:register'><username>")
        sent = 0
        while sent < limit * 2 and not c.queue and not c.eof:
            send_quiet(c, "x" * 1024)
            sent += 1024
            try:
                c._read(time.monotonic() + 0.01)
            except StreamClosed:
                break
        expect_stream_error(c, "policy-violation",
                            "pre-auth element > %d bytes (sent %d)" % (limit, sent))
        check(sent > limit - 1024, "the server stopped us before the limit: %d bytes" % sent)
    still_served(ctx)


def test_host_unknown(ctx):
    with ctx.t.client() as c:
        send_quiet(c, c.header(to="unhosted.example"))
        expect_stream_error(c, "host-unknown", "stream to an unhosted domain")


def test_invalid_namespace(ctx):
    with ctx.t.client() as c:
        send_quiet(c, c.header(ns="urn:example:not-a-content-namespace"))
        expect_stream_error(c, "invalid-namespace", "wrong content namespace")


def test_invalid_mechanism(ctx):
    with ctx.t.client() as c:
        c.connect()
        el = c.auth("X-TERN-UNKNOWN", b"whatever")
        check(el.tag == q(NS_SASL, "failure") and sasl_condition(el) == "invalid-mechanism",
              "unadvertised mechanism: expected <failure><invalid-mechanism/>", el)
        # the stream goes on: a correct login still works
        c.login(*ALICE)
    still_served(ctx)


def test_no_plain_before_tls(ctx):
    with Ternd({"c2s": {"require_tls": False}}) as t:
        t.adduser(*ALICE)
        with t.client() as c:
            f = c.open_stream()
            mechs = c.mechanisms()
            check("PLAIN" not in mechs, "PLAIN offered before TLS: %s" % mechs, f)
            check("SCRAM-SHA-1" in mechs and "SCRAM-SHA-256" in mechs,
                  "SCRAM not offered before TLS: %s" % mechs, f)
            check(not any(m.endswith("-PLUS") for m in mechs),
                  "a -PLUS mechanism offered without TLS: %s" % mechs, f)
            el = c.sasl(*ALICE, mech="PLAIN")
            check(el.tag == q(NS_SASL, "failure") and
                  sasl_condition(el) in ("invalid-mechanism", "encryption-required"),
                  "PLAIN before TLS: expected <invalid-mechanism/> or <encryption-required/>",
                  el)
        with t.client() as c:  # SCRAM without TLS works when TLS is not required
            c.open_stream()
            full = c.login(*ALICE, mech="SCRAM-SHA-256")
            check(full.startswith("alice@localhost/"), "bound %s" % full)
        with t.client() as c:  # after STARTTLS, PLAIN is offered
            c.connect()
            check("PLAIN" in c.mechanisms(), "PLAIN not offered after TLS: %s"
                  % c.mechanisms(), c.features)


def test_invalid_from(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        send_quiet(c, "<message from='bob@localhost/watch' to='bob@localhost' type='chat'>"
                   "<body>forged</body></message>")
        expect_stream_error(c, "invalid-from", "'from' of another user")
    still_served(ctx)


def test_iq_unknown_namespace(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        r = c.iq("get", "<query xmlns='urn:example:tern:nothing-here'/>")
        check(r.get("type") == "error" and error_condition(r) == "service-unavailable",
              "iq of unknown namespace: expected <service-unavailable/>", r)
        check(r.get("from") in ("localhost", None), "error from %s" % r.get("from"), r)
        r = c.ping()
        check(r.get("type") == "result", "stream unusable after the error", r)


def test_message_to_nonexistent_user(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        mid = c.message("nobody@localhost", "anyone?")
        r = c.wait_message(lambda e: e.get("id") == mid)
        check(r.get("type") == "error" and error_condition(r) == "service-unavailable",
              "message to a nonexistent user: expected <service-unavailable/>", r)
        check(r.get("from") == "nobody@localhost", "error from %s" % r.get("from"), r)


def test_iq_offline_full_jid(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        r = c.ping(to="bob@localhost/not-connected")
        check(r.get("type") == "error" and error_condition(r) == "service-unavailable",
              "iq to an offline full JID: expected <service-unavailable/>", r)
        r = c.ping(to="nobody@localhost/res")
        check(r.get("type") == "error" and error_condition(r) == "service-unavailable",
              "iq to a nonexistent user's full JID: expected <service-unavailable/>", r)


def test_jid_malformed(ctx):
    with ctx.t.client() as c:
        c.login(*ALICE)
        for bad in ("@localhost", "alice@localhost/", "a@b@localhost", "x" * 1100 + "@localhost"):
            r = c.ping(to=bad)
            check(r.get("type") == "error" and error_condition(r) == "jid-malformed",
                  "iq to %r: expected <jid-malformed/>" % bad[:40], r)
    still_served(ctx)


def test_resource_conflict(ctx):
    with ctx.t.client() as c1, ctx.t.client() as c2:
        j1 = c1.login(*ALICE, resource="same")
        check(j1 == "alice@localhost/same", "first bound %s" % j1)
        c2.login(*ALICE, bind=False)
        r = c2.bind_raw("same")
        check(r.get("type") == "result", "second bind of the same resource", r)
        j2 = r.findtext("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        check(j2 and j2.startswith("alice@localhost/") and j2 != j1,
              "second session got %r, expected a different server-generated resource" % j2, r)
        # both sessions are served
        check(c1.ping().get("type") == "result", "first session lost")
        check(c2.ping().get("type") == "result", "second session not served")


def test_too_many_resources(ctx):
    with Ternd({"c2s": {"max_resources": 2}}, direct_tls=False) as t:
        t.adduser(*ALICE)
        clients = [t.client() for _ in range(3)]
        try:
            clients[0].login(*ALICE, resource="r1")
            clients[1].login(*ALICE, resource="r2")
            clients[2].login(*ALICE, bind=False)
            r = clients[2].bind_raw("r3")
            check(r.get("type") == "error" and error_condition(r) == "resource-constraint",
                  "third bind with max_resources=2: expected <resource-constraint/>", r)
            check(clients[0].ping().get("type") == "result", "first session lost")
        finally:
            for c in clients:
                c.close()


def test_shutdown(ctx):
    t = Ternd(direct_tls=False)
    try:
        t.start()
        t.adduser(*ALICE)
        with t.client() as c, t.client() as pre:
            c.login(*ALICE)
            pre.open_stream()  # not authenticated yet
            t.signal(signal.SIGTERM)
            for who, cl in (("authenticated", c), ("pre-auth", pre)):
                got, el = cl.stream_error(timeout=10)
                check(got == "system-shutdown", "%s client: expected <system-shutdown/>, got <%s/>"
                      % (who, got), el)
                check(cl.wait_closed(10), "%s client: connection not closed" % who)
                check(cl.stream_closed, "%s client: no </stream:stream>; received %r"
                      % (who, bytes(cl.raw[-300:])))
        rc = t.wait(10)
        check(rc == 0, "ternd exit status %r after SIGTERM\n%s" % (rc, t.log_tail(20)))
    finally:
        t.cleanup()


TESTS = [
    ("DOCTYPE gets <restricted-xml/>, others still served", test_doctype),
    ("comment gets <restricted-xml/>", test_comment),
    ("processing instruction gets <restricted-xml/>", test_processing_instruction),
    ("comment inside a stanza after auth gets <restricted-xml/>", test_comment_after_auth),
    ("invalid UTF-8 gets <not-well-formed/>", test_invalid_utf8),
    ("malformed XML gets <not-well-formed/>", test_malformed_xml),
    ("message before authentication gets <not-authorized/>", test_stanza_before_auth),
    ("pre-auth element over preauth_stanza_size gets <policy-violation/>", test_preauth_size),
    ("stream to an unhosted domain gets <host-unknown/>", test_host_unknown),
    ("wrong content namespace gets <invalid-namespace/>", test_invalid_namespace),
    ("unadvertised SASL mechanism gets <invalid-mechanism/>", test_invalid_mechanism),
    ("require_tls=false: no PLAIN before TLS, SCRAM offered", test_no_plain_before_tls),
    ("'from' of another user gets <invalid-from/>", test_invalid_from),
    ("iq of unknown namespace to the server gets <service-unavailable/>",
     test_iq_unknown_namespace),
    ("message to a nonexistent local user gets <service-unavailable/>",
     test_message_to_nonexistent_user),
    ("iq to an offline full JID gets <service-unavailable/>", test_iq_offline_full_jid),
    ("malformed 'to' gets <jid-malformed/>", test_jid_malformed),
    ("resource conflict: new session gets a different resource", test_resource_conflict),
    ("max_resources=2: third bind gets <resource-constraint/>", test_too_many_resources),
    ("SIGTERM: <system-shutdown/>, </stream:stream>, exit 0", test_shutdown),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
