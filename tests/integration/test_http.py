#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_http.py — the HTTP front with real requests (urllib): bearer tokens
# and their errors, path checks, the push API (online, offline, unknown, a domain), the
# admin API (users as ternctl, sessions and kicks, stats, components, s2s), /metrics,
# XEP-0156 host-meta, HTTPS, XEP-0357 push to a slixmpp component as the app server, and
# the web console driven in headless Chromium by playwright-core (npm, tests/integration/
# console; `npm ci` runs there when its node_modules is missing).

import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (BUILDDIR, HERE, HOST, NS_CLIENT, SlixLoop, Ternd,  # noqa: E402
                     XmppTimeout, check, ctx_login, error_condition, q, run_ternd, run_tests,
                     to_str)

NS_TERN_PUSH = "urn:xmpp:tern:push:0"
NS_PUSH = "urn:xmpp:push:0"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_DATA = "jabber:x:data"
NS_DELAY = "urn:xmpp:delay"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_XRD = "http://docs.oasis-open.org/ns/xri/xrd-1.0"
REL_BOSH = "urn:xmpp:alt-connections:xbosh"
REL_WS = "urn:xmpp:alt-connections:websocket"
PW = "secret-pw"
APP_SECRET = "app-server-secret"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina")
CONSOLE_DIR = os.path.join(HERE, "console")
NODE_TIMEOUT = 90


class Ctx:
    pass


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __str__(self):
        return "HTTP %d %s" % (self.status, self.body[:500])


def token_add(t, name, scope):
    r = t.ternctl("token-add", name, "--scope", scope)
    check(r.returncode == 0, "token-add %s: exit %d %s" % (name, r.returncode, r.stderr))
    tok = r.stdout.strip()
    check(len(tok) >= 40 and "\n" not in tok, "one token on stdout: %r" % r.stdout)
    return tok


def wait_http(t, timeout=15):
    """Ternd.start() waits for the client ports; HTTP starts after them (HTTPS loads GnuTLS)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, t.http_port), timeout=1).close()
            return t
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def setup():
    ctx = Ctx()
    extra = {"http": {"max_body": 8192},
             "component push.localhost": {"secret": APP_SECRET}}
    ctx.t = wait_http(Ternd(extra=extra).start())
    for u in USERS:
        ctx.t.adduser(u, PW)
    ctx.base = "http://%s:%d" % (HOST, ctx.t.http_port)
    ctx.admin = token_add(ctx.t, "admin-1", "admin")
    ctx.push = token_add(ctx.t, "push-1", "push")
    ctx.open = []
    ctx.slix = SlixLoop()
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    ctx.slix.shutdown()
    ctx.t.cleanup()


def request(ctx, method, path, body=None, token=None, headers=None, base=None, context=None):
    """One real HTTP request with urllib; a Resp (also for 4xx/5xx)."""
    data = body
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)) and not hasattr(body, "__next__"):
        data = json.dumps(body)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data is not None:
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = "Bearer " + token
    req = urllib.request.Request((base or ctx.base) + path, data=data, headers=hdrs,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def expect(r, status, what=""):
    check(r.status == status, "%s: expected %d, got %s" % (what, status, r))
    return r


def expect_error(r, status, what=""):
    expect(r, status, what)
    check(r.headers.get("Content-Type", "").startswith("application/json"), "JSON error", r)
    check(isinstance(r.json().get("error"), str), "{\"error\": ...}", r)
    return r


def login(ctx, user, presence=True):
    return ctx_login(ctx, user, PW, presence)


def push_payload(m):
    return m.find(q(NS_TERN_PUSH, "push"))


def is_push(title):
    def m(e):
        p = push_payload(e)
        return p is not None and p.findtext(q(NS_TERN_PUSH, "title")) == title
    return m


# --------------------------------------------------------------------------------------
# tokens and the documented errors


def test_errors(ctx):
    r = expect_error(request(ctx, "GET", "/api/v1/users"), 401, "no token")
    check(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), "Bearer challenge", r)
    r = expect_error(request(ctx, "GET", "/api/v1/users", token="x" * 43), 401, "wrong token")
    check("invalid_token" in r.headers.get("WWW-Authenticate", ""), "invalid_token", r)
    r = expect_error(request(ctx, "GET", "/api/v1/users", token=ctx.push), 403, "push token")
    check("insufficient_scope" in r.headers.get("WWW-Authenticate", ""), "insufficient_scope")
    expect_error(request(ctx, "POST", "/api/v1/push", body=b"{\"to\": ", token=ctx.push), 400,
                 "malformed JSON")
    expect_error(request(ctx, "POST", "/api/v1/push", body=b"[1, 2]", token=ctx.push), 400,
                 "not an object")
    r = expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                             body={"to": "alice@localhost", "title": "t", "body": "b",
                                   "colour": "red"}), 400, "unknown field")
    check("colour" in r.json()["error"], "names the field", r)
    expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                         body={"to": "alice@localhost", "title": "t"}), 400, "missing body")
    expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                         body={"to": "alice@localhost", "title": "t", "body": "a\u0001b"}),
                 400, "control character")
    expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                         body={"to": "alice@localhost", "title": "t", "body": "b",
                               "data": {"k": "v" * 4100}}), 400, "data over 4 KiB")
    big = {"to": "alice@localhost", "title": "t", "body": "x" * 9000}  # max_body 8192
    expect_error(request(ctx, "POST", "/api/v1/push", body=big, token=ctx.push), 413,
                 "body too big (Content-Length)")
    chunks = iter([b"{\"to\": \"alice@localhost\", \"title\": \"t\", \"body\": \""] +
                  [b"y" * 1000] * 10 + [b"\"}"])
    expect_error(request(ctx, "POST", "/api/v1/push", body=chunks, token=ctx.push), 413,
                 "body too big (chunked)")
    expect_error(request(ctx, "GET", "/api/v1/nothing-here", token=ctx.admin), 404,
                 "unknown route")
    expect_error(request(ctx, "GET", "/nope"), 404, "unknown route without a token")
    r = expect_error(request(ctx, "GET", "/api/v1/push", token=ctx.push), 405, "wrong method")
    check("POST" in r.headers.get("Allow", ""), "Allow header", r)


def test_path_traversal(ctx):
    """Variants never reach a protected route without a token; normalized, then refused
    (400) or not found (404) or, once resolved to a real route, asked for a token (401)."""
    cases = {
        "/api/v1/../api/v1/users": (404,),  # resolves to /api/api/v1/users
        "/%2e%2e/api/v1/users": (400, 401, 404),  # resolves to /api/v1/users: token needed
        "//api/v1/users": (400,),
        "/api/v1/users/%2F..": (400,),
        "/api/v1//users": (400,),
        "/api/v1/users%2f": (400,),
        "/api/v1/%2e%2e/v1/users": (400, 401, 404),
        "/api/v1/users/%5c..%5cx": (400,),
        "/api/v1/users/a%00b": (400,),
        "/console/..%2f..%2fapi/v1/users": (400,),
    }
    for path, allowed in cases.items():
        for tok in (None, ctx.push):
            r = request(ctx, "GET", path, token=tok)
            check(r.status in allowed + (401, 403) if tok else r.status in allowed,
                  "%s (token %s): %s not in %s" % (path, bool(tok), r, allowed))
            check(r.status >= 400 and b"alice@localhost" not in r.body,
                  "%s reached the users list: %s" % (path, r))


def test_ternctl_tokens(ctx):
    t = ctx.t
    r = t.ternctl("token-list")
    check(r.returncode == 0, "token-list: %s" % r.stderr)
    lines = [line.split("\t") for line in r.stdout.splitlines()]
    check(["admin-1", "admin"] in [line[:2] for line in lines], "admin-1 listed: %r" % r.stdout)
    check(["push-1", "push"] in [line[:2] for line in lines], "push-1 listed: %r" % r.stdout)
    check(ctx.admin not in r.stdout and ctx.push not in r.stdout, "tokens are never shown again")
    r = t.ternctl("token-add", "push-1", "--scope", "push")
    check(r.returncode == 1, "a second push-1: exit 1, got %d %s" % (r.returncode, r.stderr))
    r = t.ternctl("token-add", "x", "--scope", "root")
    check(r.returncode == 2, "an unknown scope: exit 2, got %d" % r.returncode)
    r = t.ternctl("token-add", "bad name", "--scope", "push")
    check(r.returncode == 2, "a bad name: exit 2, got %d" % r.returncode)
    tmp = token_add(t, "short-lived", "admin")
    expect(request(ctx, "GET", "/api/v1/stats", token=tmp), 200, "fresh token")
    r = t.ternctl("token-revoke", "short-lived")
    check(r.returncode == 0, "token-revoke: %s" % r.stderr)
    expect_error(request(ctx, "GET", "/api/v1/stats", token=tmp), 401, "revoked token")
    r = t.ternctl("token-revoke", "short-lived")
    check(r.returncode == 1, "revoking twice: exit 1, got %d" % r.returncode)


# --------------------------------------------------------------------------------------
# push API


def test_push_online(ctx):
    alice = login(ctx, "alice")
    body = {"to": "alice@localhost", "title": "Online news", "body": "hello <alice> & co",
            "uri": "https://example.org/n/1", "data": {"kind": "news", "n": [1, 2]}}
    r = expect(request(ctx, "POST", "/api/v1/push", body=body, token=ctx.push), 200, "push")
    res = r.json()["results"]
    check(len(res) == 1 and res[0]["to"] == "alice@localhost" and
          res[0]["status"] == "delivered", "delivered: %s" % res)
    m = alice.wait_message(is_push("Online news"))
    check(m.get("from") == "localhost" and m.get("type") == "normal", "from the domain", m)
    p = push_payload(m)
    check(p.findtext(q(NS_TERN_PUSH, "body")) == "hello <alice> & co", "payload body", m)
    check(p.findtext(q(NS_TERN_PUSH, "uri")) == "https://example.org/n/1", "payload uri", m)
    check(json.loads(p.findtext(q(NS_TERN_PUSH, "data"))) == body["data"], "payload data", m)
    check("hello <alice> & co" in (m.findtext(q(NS_CLIENT, "body")) or ""), "readable body", m)
    check(m.findtext(q(NS_CLIENT, "subject")) == "Online news", "subject", m)
    check(m.get("id") == res[0]["id"], "the id reported is the message's", m)
    # the push scope is enough for push, and so is the admin scope
    r = expect(request(ctx, "POST", "/api/v1/push", token=ctx.admin,
                       body={"to": ["alice@localhost"], "title": "By admin", "body": "b"}), 200)
    check(r.json()["results"][0]["status"] == "delivered", "admin push", r)
    alice.wait_message(is_push("By admin"))


def test_push_offline(ctx):
    body = {"to": "bob@localhost", "title": "While you were away", "body": "stored for bob"}
    r = expect(request(ctx, "POST", "/api/v1/push", body=body, token=ctx.push), 200, "push")
    res = r.json()["results"]
    check(res[0]["status"] == "stored", "stored: %s" % res)
    bob = login(ctx, "bob")
    m = bob.wait_message(is_push("While you were away"))
    check(m.find(q(NS_DELAY, "delay")) is not None, "offline delivery has a delay stamp", m)
    check(push_payload(m).findtext(q(NS_TERN_PUSH, "body")) == "stored for bob", "payload", m)


def test_push_unknown(ctx):
    body = {"to": ["nobody@localhost", "x@elsewhere.example", "not a jid@@", "carol@localhost"],
            "title": "t", "body": "b"}
    r = expect(request(ctx, "POST", "/api/v1/push", body=body, token=ctx.push), 200, "push")
    res = {x["to"]: x for x in r.json()["results"]}
    check(res["nobody@localhost"]["status"] == "no-such-user", "unknown user: %s" % res)
    check(res["x@elsewhere.example"]["status"] == "error" and
          "elsewhere.example" in res["x@elsewhere.example"]["reason"], "unhosted: %s" % res)
    check(res["not a jid@@"]["status"] == "error", "malformed JID: %s" % res)
    check(res["carol@localhost"]["status"] == "stored", "the others still go: %s" % res)
    expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                         body={"to": {"domain": "elsewhere.example"}, "title": "t",
                               "body": "b"}), 400, "an unhosted domain")
    expect_error(request(ctx, "POST", "/api/v1/push", token=ctx.push,
                         body={"to": {"domain": "localhost", "x": 1}, "title": "t",
                               "body": "b"}), 400, "an unknown member in to")


def test_push_domain(ctx):
    gina = login(ctx, "gina")
    body = {"to": {"domain": "localhost"}, "title": "To everyone", "body": "maintenance"}
    r = expect(request(ctx, "POST", "/api/v1/push", body=body, token=ctx.push), 200, "push")
    res = {x["to"]: x["status"] for x in r.json()["results"]}
    accounts = request(ctx, "GET", "/api/v1/users", token=ctx.admin).json()
    check(sorted(res) == sorted(accounts), "every account: %s vs %s" % (res, accounts))
    check(res["gina@localhost"] == "delivered", "online: %s" % res)
    check(res["frank@localhost"] == "stored", "offline: %s" % res)
    gina.wait_message(is_push("To everyone"))


# --------------------------------------------------------------------------------------
# admin API


def test_users(ctx):
    a = ctx.admin
    r = expect(request(ctx, "POST", "/api/v1/users", token=a,
                       body={"jid": "newbie@localhost", "password": "first pw"}), 201, "create")
    check(r.json()["jid"] == "newbie@localhost", "created JID", r)
    expect_error(request(ctx, "POST", "/api/v1/users", token=a,
                         body={"jid": "newbie@localhost", "password": "x"}), 409, "exists")
    expect_error(request(ctx, "POST", "/api/v1/users", token=a,
                         body={"jid": "x@elsewhere.example", "password": "x"}), 400, "unhosted")
    expect_error(request(ctx, "POST", "/api/v1/users", token=a,
                         body={"jid": "y@localhost", "password": ""}), 400, "empty password")
    users = expect(request(ctx, "GET", "/api/v1/users?domain=localhost", token=a), 200).json()
    check("newbie@localhost" in users and "alice@localhost" in users, "listed: %s" % users)
    r = ctx.t.ternctl("listusers")
    check("newbie@localhost" in r.stdout.split(), "ternctl sees it too: %s" % r.stdout)
    c = ctx.t.client()
    ctx.open.append(c)
    c.login("newbie", "first pw")  # the new account logs in
    expect(request(ctx, "PUT", "/api/v1/users/newbie@localhost/password", token=a,
                   body={"password": "second pw"}), 200, "password")
    expect_error(request(ctx, "PUT", "/api/v1/users/ghost@localhost/password", token=a,
                         body={"password": "pw"}), 404, "password of nobody")
    c2 = ctx.t.client()
    ctx.open.append(c2)
    c2.login("newbie", "second pw")
    r = expect(request(ctx, "DELETE", "/api/v1/users/newbie@localhost", token=a), 200, "delete")
    check(r.json()["sessions_closed"] == 2, "its sessions were closed: %s" % r)
    cond, _ = c.stream_error()
    check(cond == "not-authorized", "deleted account's stream: %s" % cond)
    expect_error(request(ctx, "DELETE", "/api/v1/users/newbie@localhost", token=a), 404,
                 "delete twice")
    r = ctx.t.ternctl("adduser", "viactl@localhost", "pw")
    check(r.returncode == 0, "ternctl adduser: %s" % r.stderr)
    users = request(ctx, "GET", "/api/v1/users", token=a).json()
    check("viactl@localhost" in users and "newbie@localhost" not in users, "%s" % users)


def test_sessions_and_kick(ctx):
    carol = login(ctx, "carol")
    sessions = expect(request(ctx, "GET", "/api/v1/sessions", token=ctx.admin), 200).json()
    mine = [s for s in sessions if s["jid"] == carol.jid]
    check(len(mine) == 1, "carol's session listed: %s" % sessions)
    s = mine[0]
    check(s["ip"] == HOST and s["resource"] == carol.jid.split("/", 1)[1] and
          s["since"].endswith("Z") and s["sm"] is False and s["available"] is True,
          "session fields: %s" % s)
    r = expect(request(ctx, "DELETE", "/api/v1/sessions/" + carol.jid, token=ctx.admin), 200,
               "kick")
    check(r.json()["kicked"] == 1, "one kicked: %s" % r)
    cond, el = carol.stream_error()
    check(cond == "policy-violation", "kicked with <policy-violation/>: %s" % to_str(el))
    check(carol.wait_closed(), "connection closed")
    expect_error(request(ctx, "DELETE", "/api/v1/sessions/" + carol.jid, token=ctx.admin), 404,
                 "kick again")
    expect_error(request(ctx, "DELETE", "/api/v1/sessions/carol@localhost/x", token=ctx.push),
                 403, "push token")


def test_stats_components_s2s(ctx):
    st = expect(request(ctx, "GET", "/api/v1/stats", token=ctx.admin), 200).json()
    for k in ("sessions", "users_online", "c2s_connections", "s2s_connections",
              "component_connections", "routed", "bounced", "auth_failures", "uptime"):
        check(isinstance(st.get(k), int), "stats.%s: %s" % (k, st))
    check(st["routed"] > 0 and st["sessions"] >= 1, "counts: %s" % st)
    comps = expect(request(ctx, "GET", "/api/v1/components", token=ctx.admin), 200).json()
    check([c["domain"] for c in comps] == ["push.localhost"], "components: %s" % comps)
    links = expect(request(ctx, "GET", "/api/v1/s2s", token=ctx.admin), 200).json()
    check(links == [], "no s2s links with federation off: %s" % links)


def test_metrics(ctx):
    c = ctx.t.client()
    ctx.open.append(c)
    c.connect()
    c.sasl("alice", "wrong password")  # one failure counted
    r = expect(request(ctx, "GET", "/metrics"), 200, "from loopback, no token")
    check(r.headers.get("Content-Type", "").startswith("text/plain"), "text format", r)
    text = r.body.decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, v = line.rsplit(" ", 1)
            values[name] = float(v)
    for name in ('tern_connections{kind="c2s"}', 'tern_connections{kind="s2s"}',
                 'tern_connections{kind="component"}', "tern_sessions", "tern_users_online",
                 "tern_stanzas_routed_total", "tern_stanzas_bounced_total",
                 'tern_stanza_errors_total{condition="service-unavailable"}',
                 "tern_offline_stored_total", "tern_offline_messages", "tern_storage_bytes",
                 "tern_auth_failures_total", 'tern_http_requests_total{code="4xx"}',
                 "tern_http_auth_failures_total", "tern_uptime_seconds"):
        check(name in values, "%s missing:\n%s" % (name, text))
    check(values["tern_auth_failures_total"] >= 1, "auth failure counted")
    check(values["tern_offline_stored_total"] >= 2, "offline stores counted")
    check(values["tern_storage_bytes"] > 0, "storage size")
    check(values['tern_http_requests_total{code="4xx"}'] > 0, "4xx counted")
    check("# TYPE tern_stanzas_routed_total counter" in text, "TYPE lines")
    expect(request(ctx, "GET", "/metrics", token=ctx.admin), 200, "with a token too")


def test_host_meta(ctx):
    base = "http://%s:%d" % (HOST, ctx.t.http_port)
    r = expect(request(ctx, "GET", "/.well-known/host-meta"), 200, "host-meta")
    check(r.headers.get("Access-Control-Allow-Origin") == "*", "CORS", r)
    root = ET.fromstring(r.body)
    check(root.tag == q(NS_XRD, "XRD"), "an XRD", r)
    links = {ln.get("rel"): ln.get("href") for ln in root.findall(q(NS_XRD, "Link"))}
    check(links.get(REL_BOSH) == base + "/http-bind", "BOSH: %s" % links)
    check(links.get(REL_WS) == "ws://%s:%d/xmpp-websocket" % (HOST, ctx.t.http_port),
          "WebSocket: %s" % links)
    r = expect(request(ctx, "GET", "/.well-known/host-meta.json"), 200, "host-meta.json")
    links = {ln["rel"]: ln["href"] for ln in r.json()["links"]}
    check(links.get(REL_BOSH) == base + "/http-bind" and
          links.get(REL_WS, "").endswith("/xmpp-websocket"), "JSON links: %s" % links)


def test_plain_public_refused(ctx):
    path = os.path.join(ctx.t.dir, "public.conf")
    conf = open(ctx.t.conf).read().replace("listen = %s:%d\n" % (HOST, ctx.t.http_port), "")

    def write(extra):
        with open(path, "w") as f:
            f.write(conf.replace("[http]\n", "[http]\nlisten = 0.0.0.0:5280\n" + extra, 1))
    write("")
    r = run_ternd(["-c", path, "--check-config"])
    check(r.returncode == 2 and "[http] listen" in r.stderr and "allow_plain_public" in r.stderr,
          "plain HTTP on a public address is a config error: %d %s" % (r.returncode, r.stderr))
    write("allow_plain_public = true\n")
    r = run_ternd(["-c", path, "--check-config"])
    check(r.returncode == 0, "allowed explicitly: %d %s" % (r.returncode, r.stderr))


def test_https(ctx):
    with Ternd(extra={"http": {"tls": True}}) as t2:
        wait_http(t2)
        cx = ssl.create_default_context()
        cx.check_hostname = False
        cx.verify_mode = ssl.CERT_NONE  # the self-signed localhost certificate
        base = "https://%s:%d" % (HOST, t2.http_port)
        r = expect(request(ctx, "GET", "/.well-known/host-meta.json", base=base, context=cx),
                   200, "over HTTPS")
        links = {ln["rel"]: ln["href"] for ln in r.json()["links"]}
        check(links[REL_BOSH].startswith("https://") and links[REL_WS].startswith("wss://"),
              "secure links: %s" % links)
        try:
            request(ctx, "GET", "/.well-known/host-meta.json",
                    base="http://%s:%d" % (HOST, t2.http_port))
            plain_ok = True
        except Exception:  # noqa: BLE001 - refused, reset or a TLS alert: all fine
            plain_ok = False
        check(not plain_ok, "no plain HTTP on the HTTPS port")


# --------------------------------------------------------------------------------------
# XEP-0357 with a slixmpp component as the app server


class AppServer:
    """push.localhost: a slixmpp ComponentXMPP that records pubsub publishes and answers."""

    def __init__(self, loop):
        import asyncio
        import slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        self.xmpp = x = slixmpp.ComponentXMPP("push.localhost", APP_SECRET, HOST, 0)
        x.loop = asyncio.get_running_loop()
        self.publishes = queue.Queue()
        self.started = queue.Queue()
        x.add_event_handler("session_start", lambda e: self.started.put(True))
        x.register_handler(Callback("push publish", MatchXPath(
            "{%s}iq/{%s}pubsub" % (x.default_ns, NS_PUBSUB)), self._publish))

    def _publish(self, iq):
        self.publishes.put(ET.fromstring(str(iq)))
        iq.reply(clear=True).send()

    def wait_publish(self, timeout=10):
        try:
            return self.publishes.get(timeout=timeout)
        except queue.Empty:
            raise XmppTimeout("the app server got no publish in %ss" % timeout)


def start_app_server(ctx):
    async def make():
        return AppServer(ctx.slix)
    app = ctx.slix.call(make())
    ctx.slix.clients.append(app)
    ctx.slix.call_soon(lambda: app.xmpp.connect(HOST, ctx.t.component_port))
    app.started.get(timeout=10)
    return app


def form_fields(x):
    return {f.get("var"): f.findtext(q(NS_DATA, "value")) for f in x.findall(q(NS_DATA, "field"))}


def test_xep0357(ctx):
    app = start_app_server(ctx)
    dave = login(ctx, "dave")
    info = dave.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="dave@localhost")
    feats = [f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))]
    check(NS_PUSH in feats, "urn:xmpp:push:0 on the account: %s" % feats, info)
    bad = dave.iq("set", "<enable xmlns='%s' jid='push.localhost'/>" % NS_PUSH, to=None)
    check(error_condition(bad) == "bad-request", "enable without node", bad)
    enable = ("<enable xmlns='%s' jid='push.localhost' node='dave-node'>"
              "<x xmlns='%s' type='submit'>"
              "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options"
              "</value></field><field var='secret'><value>s3cr3t</value></field></x></enable>"
              % (NS_PUSH, NS_DATA))
    r = dave.iq("set", enable, to=None)
    check(r.get("type") == "result", "enable", r)
    dave.close()
    ctx.open.remove(dave)
    time.sleep(0.3)  # dave's session is gone
    alice = login(ctx, "alice")
    alice.message("dave@localhost", "wake up, dave")
    iq = app.wait_publish()
    check(iq.get("from") == "dave@localhost" and iq.get("type") == "set",
          "from the user's bare JID (XEP-0357 §5)", iq)
    pub = iq.find("%s/%s" % (q(NS_PUBSUB, "pubsub"), q(NS_PUBSUB, "publish")))
    check(pub is not None and pub.get("node") == "dave-node", "publish to the node", iq)
    x = pub.find("%s/%s/%s" % (q(NS_PUBSUB, "item"), q(NS_PUSH, "notification"),
                               q(NS_DATA, "x")))
    f = form_fields(x)
    check(f.get("FORM_TYPE") == "urn:xmpp:push:summary" and f.get("message-count") == "1" and
          f.get("last-message-sender") == alice.jid and
          f.get("last-message-body") == "wake up, dave", "summary: %s" % f, iq)
    opts = iq.find("%s/%s/%s" % (q(NS_PUBSUB, "pubsub"), q(NS_PUBSUB, "publish-options"),
                                 q(NS_DATA, "x")))
    check(opts is not None and form_fields(opts).get("secret") == "s3cr3t",
          "publish-options from the enable", iq)
    alice.message("dave@localhost", "second one")
    f = form_fields(app.wait_publish().find(".//" + q(NS_DATA, "x")))
    check(f.get("message-count") == "2", "count of stored messages: %s" % f)
    # a hibernating XEP-0198 session (the phone lost its connection) is woken up too
    dave = login(ctx, "dave", presence=False)
    dave.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    en = dave.wait(lambda e: e.tag in (q("urn:xmpp:sm:3", "enabled"),
                                       q("urn:xmpp:sm:3", "failed")))
    check(en.tag == q("urn:xmpp:sm:3", "enabled"), "SM enabled", en)
    dave.send("<presence/>")
    for _ in range(2):  # the two stored messages
        dave.wait_message()
    dave.close()  # no </stream:stream>: the session hibernates
    ctx.open.remove(dave)
    time.sleep(0.3)
    alice.message("dave@localhost", "are you asleep?")
    f = form_fields(app.wait_publish().find(".//" + q(NS_DATA, "x")))
    check(f.get("last-message-body") == "are you asleep?" and int(f["message-count"]) >= 1,
          "a publish for the hibernating session: %s" % f)
    sessions = request(ctx, "GET", "/api/v1/sessions", token=ctx.admin).json()
    asleep = [s for s in sessions if s["jid"].startswith("dave@localhost/")]
    check(asleep and asleep[0]["hibernating"] and asleep[0]["sm"], "listed as hibernating: %s"
          % sessions)
    expect(request(ctx, "DELETE", "/api/v1/sessions/dave@localhost", token=ctx.admin), 200,
           "kick a hibernating session")
    # its unacknowledged messages go (back) to offline storage: one more publish
    f = form_fields(app.wait_publish().find(".//" + q(NS_DATA, "x")))
    check(f.get("last-message-body") == "are you asleep?" and f.get("message-count") == "3",
          "the unacknowledged messages stored again: %s" % f)
    # disable: no more publishes
    dave = login(ctx, "dave", presence=False)
    r = dave.iq("set", "<disable xmlns='%s' jid='push.localhost'/>" % NS_PUSH, to=None)
    check(r.get("type") == "result", "disable", r)
    dave.close()
    ctx.open.remove(dave)
    time.sleep(0.3)
    alice.message("dave@localhost", "third one")
    try:
        extra = app.wait_publish(timeout=1.5)
        raise AssertionError("a publish after disable: %s" % to_str(extra))
    except XmppTimeout:
        pass


# --------------------------------------------------------------------------------------
# the web console in headless Chromium


def console_dir(ctx):
    d = CONSOLE_DIR
    if not os.path.isdir(os.path.join(d, "node_modules")) and not os.access(d, os.W_OK):
        d = os.path.join(BUILDDIR, "tests", "integration", "console")  # read-only sources
        os.makedirs(d, exist_ok=True)
        for f in ("package.json", "package-lock.json", "drive.js"):
            shutil.copy(os.path.join(CONSOLE_DIR, f), d)
    return d


def run_console(ctx, d, args):
    node = shutil.which("node")
    check(node, "node not found in PATH")
    proc = subprocess.Popen([node, os.path.join(d, "drive.js")] + args, cwd=d,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += "\n(killed after %d s)" % NODE_TIMEOUT
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "unparsed", "line": line})
    return proc.returncode, events, err


def test_console(ctx):
    check(os.path.exists("/usr/bin/chromium") or os.environ.get("CHROMIUM"),
          "chromium not installed (apt-get install chromium)")
    d = console_dir(ctx)
    if not os.path.exists(os.path.join(d, "node_modules", "playwright-core", "package.json")):
        npm = shutil.which("npm")
        check(npm, "npm not found in PATH")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True,
                           text=True, timeout=300)
        check(r.returncode == 0, "npm ci failed: %s %s" % (r.stdout, r.stderr))
    erin = login(ctx, "erin")
    shot = os.environ.get("TERN_CONSOLE_SCREENSHOT", "")
    rc, events, err = run_console(ctx, d, [ctx.base, ctx.admin, ctx.push, "erin@localhost",
                                           "frank@localhost", shot])
    diag = "exit %s\nevents: %s\nstderr: %s" % (rc, events, err[-3000:])
    check(rc == 0, "the console run failed\n" + diag)
    ev = {e["event"]: e for e in events if e["event"] != "sent"}
    sent = {e["to"]: e["status"] for e in events if e["event"] == "sent"}
    check(ev["logged-in"]["tokenInSessionStorage"], "token kept in sessionStorage\n" + diag)
    check(any(j.startswith("erin@localhost/") for j in ev["logged-in"]["sessions"]),
          "sessions table lists erin\n" + diag)
    check(sent.get("erin@localhost", "").startswith("delivered"), "online: " + diag)
    check(sent.get("frank@localhost", "").startswith("stored"), "offline: " + diag)
    check(ev["reloaded"]["stillLoggedIn"] and not ev["done"]["errors"], diag)
    m = erin.wait_message(is_push("Console news"))
    check(push_payload(m).findtext(q(NS_TERN_PUSH, "body")) ==
          "to the online user from the console", "erin's payload", m)
    frank = login(ctx, "frank")
    m = frank.wait_message(is_push("Console news"))
    check(push_payload(m).findtext(q(NS_TERN_PUSH, "body")) ==
          "to the offline user from the console", "frank's payload at login", m)


TESTS = [
    ("401 missing/wrong token, 403 push token on admin, 400, 413, 404, 405", test_errors),
    ("path traversal variants never reach a protected route", test_path_traversal),
    ("ternctl token-add/list/revoke", test_ternctl_tokens),
    ("push to an online user carries the payload", test_push_online),
    ("push to an offline user arrives at login", test_push_offline),
    ("push to unknown users is reported per recipient", test_push_unknown),
    ("push to a whole domain", test_push_domain),
    ("admin users: create, login, password, delete (as ternctl)", test_users),
    ("admin sessions: list and kick with <policy-violation/>", test_sessions_and_kick),
    ("admin stats, components, s2s", test_stats_components_s2s),
    ("metrics: the documented names", test_metrics),
    ("XEP-0156 host-meta and host-meta.json", test_host_meta),
    ("plain HTTP on a public address is refused", test_plain_public_refused),
    ("HTTPS with the domain's certificate", test_https),
    ("XEP-0357 publish to a component app server", test_xep0357),
    ("web console in headless Chromium", test_console),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
