#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_converse.py — Converse.js (npm converse.js, its dist/ served from a
# static HTTP server on loopback: no CDN) in Debian's headless Chromium, driven by
# playwright-core (tests/integration/converse/drive.js), logs in to ternd over WebSocket
# (/xmpp-websocket, subprotocol xmpp) and, separately, over BOSH (/http-bind, cross-origin:
# CORS), opens a chat from its roster with a slixmpp user, sends a message and shows the
# slixmpp user's reply. Asserted on both sides: slixmpp receives the browser's message from
# the browser user's JID, the page shows the reply; and on the wire (CDP): the WebSocket's
# subprotocol, the BOSH responses' CORS header.
#
# `npm ci` runs in tests/integration/converse when its node_modules is missing.
# Environment:
#   TERN_CONVERSE_SERVER=prosody  run the same cases against a Prosody 0.12 of our own
#       (mod_websocket, mod_bosh) instead of ternd: a tool to tell a harness problem from
#       a ternd problem; the suite always runs against ternd.
#   TERN_KEEP_TMP  keep the run's folder (page console log, screenshots) also on success

import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (BUILDDIR, HERE, HOST, SlixLoop, TestCA, Ternd, XmppTimeout,  # noqa: E402
                     check, die_with_parent, free_port, run_tests, stop_process)

CONVERSE_DIR = os.path.join(HERE, "converse")
SOURCES = ("package.json", "package-lock.json", "drive.js", "index.html")
CASE_TIMEOUT = 90  # one case in the browser; a normal one takes a few seconds
WAIT_MS = 25000  # drive.js: each wait in the page
PW = "converse pass-word"


class Ctx:
    pass


# --------------------------------------------------------------------------------------
# the page: index.html and Converse's dist/ on a loopback HTTP server of our own


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; requests are recorded for the diagnostics instead of printed."""

    def log_message(self, fmt, *args):
        self.server.requests.append(fmt % args)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StaticSite:
    def __init__(self, folder):
        handler = functools.partial(QuietHandler, directory=folder)
        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.base = "http://%s:%d" % (HOST, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def errors(self):
        """Requests that were not answered 200/304 (e.g. a chunk missing from dist/)."""
        return [r for r in self.httpd.requests if '" 200 ' not in r and '" 304 ' not in r]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def installed(d):
    """node_modules holds the versions package.json pins (else a new pin needs npm ci)."""
    with open(os.path.join(d, "package.json"), encoding="utf-8") as f:
        pins = json.load(f)["dependencies"]
    for name, version in pins.items():
        try:
            with open(os.path.join(d, "node_modules", name, "package.json"),
                      encoding="utf-8") as f:
                if json.load(f).get("version") != version:
                    return False
        except (OSError, ValueError):
            return False
    return os.path.exists(os.path.join(d, "node_modules", "converse.js", "dist",
                                       "converse.min.js"))


def converse_dir():
    """The folder with node_modules (npm ci when missing; into the build folder when the
    sources are read-only, e.g. make distcheck)."""
    d = CONVERSE_DIR
    if not os.path.isdir(os.path.join(d, "node_modules")) and not os.access(d, os.W_OK):
        d = os.path.join(BUILDDIR, "tests", "integration", "converse")
        os.makedirs(d, exist_ok=True)
        for f in SOURCES:
            shutil.copy(os.path.join(CONVERSE_DIR, f), d)
    if not installed(d):
        npm = shutil.which("npm")
        check(npm, "npm not found in PATH")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=d, capture_output=True,
                           text=True, timeout=300)
        check(r.returncode == 0, "npm ci failed: %s %s" % (r.stdout, r.stderr))
    return d


# --------------------------------------------------------------------------------------
# the XMPP server under test: ternd (the suite), or Prosody (TERN_CONVERSE_SERVER=prosody)


class TerndServer:
    name = "ternd"
    roster = True  # ternctl roster-add: the peer shows in the browser user's roster
    slix_mech = "SCRAM-SHA-256"

    def __init__(self, folder):
        self.t = Ternd()
        self.t.start()
        self.domain = self.t.domain
        self.c2s_port = self.t.port
        http_base = "%s:%d" % (HOST, self.t.http_port)
        self.ws_url = "ws://%s/xmpp-websocket" % http_base
        self.bosh_url = "http://%s/http-bind" % http_base
        deadline = time.monotonic() + 15  # HTTP starts after the client ports
        while True:
            try:
                socket.create_connection((HOST, self.t.http_port), timeout=1).close()
                break
            except OSError:
                check(time.monotonic() < deadline, "ternd's HTTP port did not open:\n" +
                      self.t.log_tail(40))
                time.sleep(0.05)

    def adduser(self, user):
        return self.t.adduser(user, PW)

    def roster_add(self, jid, contact, name):
        r = self.t.ternctl("roster-add", jid, contact, name)
        check(r.returncode == 0, "ternctl roster-add: %s%s" % (r.stdout, r.stderr))

    def log_tail(self, n=60):
        return self.t.log_tail(n)

    def stop(self):
        self.t.cleanup()


PROSODY_CFG = """
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{dir}/prosody.log" }} }}
interfaces = {{ "{host}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{}}
c2s_direct_tls_ports = {{}}
s2s_direct_tls_ports = {{}}
http_interfaces = {{ "{host}" }}
http_ports = {{ {http} }}
https_ports = {{}}
http_default_host = "{domain}"
daemonize = false
run_as_root = true
prosody_user = "root"
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "posix"; "blocklist"; "bosh";
                    "websocket" }}
-- blocklist: Converse 14 waits for XEP-0191 before it opens a chat with someone not in
-- the roster, forever when the server has none
authentication = "internal_hashed"
allow_registration = false
c2s_require_encryption = true
consider_bosh_secure = true
consider_websocket_secure = true
VirtualHost "{domain}"
"""


class ProsodyServer:
    """Debian's Prosody 0.12 on loopback with its own config and data folder (BOSH and
    WebSocket built in; CORS on by default); stopped by pid."""
    name = "prosody"
    roster = False
    slix_mech = "SCRAM-SHA-1"  # Prosody 0.12 has no SCRAM-SHA-256

    def __init__(self, folder):
        self.dir = os.path.join(folder, "prosody")
        self.domain = "localhost"
        self.c2s_port, http_port = free_port(), free_port()
        self.ws_url = "ws://%s:%d/xmpp-websocket" % (HOST, http_port)
        self.bosh_url = "http://%s:%d/http-bind" % (HOST, http_port)
        os.makedirs(os.path.join(self.dir, "data"))
        certs = os.path.join(self.dir, "certs")
        pem, key = TestCA(os.path.join(folder, "ca")).issue(self.domain, certs)
        os.rename(pem, os.path.join(certs, self.domain + ".crt"))
        self.cfg = os.path.join(self.dir, "prosody.cfg.lua")
        with open(self.cfg, "w") as f:
            f.write(PROSODY_CFG.format(dir=self.dir, host=HOST, c2s=self.c2s_port,
                                       http=http_port, domain=self.domain))
        self.out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(["prosody", "-F", "--config", self.cfg],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        for port in (self.c2s_port, http_port):
            while True:
                check(self.proc.poll() is None, "prosody exited:\n" + self.log_tail())
                try:
                    socket.create_connection((HOST, port), timeout=1).close()
                    break
                except OSError:
                    check(time.monotonic() < deadline, "prosody did not listen:\n" +
                          self.log_tail())
                    time.sleep(0.1)

    def adduser(self, user):
        r = subprocess.run(["prosodyctl", "--config", self.cfg, "register", user, self.domain,
                            PW], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "prosodyctl register: %s%s" % (r.stdout, r.stderr))
        return "%s@%s" % (user, self.domain)

    def roster_add(self, jid, contact, name):
        raise AssertionError("no roster-add for Prosody here")

    def log_tail(self, n=60):
        try:
            with open(os.path.join(self.dir, "prosody.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError as e:
            return str(e)

    def stop(self):
        stop_process(self.proc, 10)
        self.out.close()


# --------------------------------------------------------------------------------------


def setup():
    ctx = Ctx()
    ctx.server = ctx.site = ctx.slix = ctx.browser = None
    ctx.dir = tempfile.mkdtemp(prefix="tern-converse-")
    ctx.failed = False
    try:
        check(os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")),
              "chromium not installed (apt-get install chromium)")
        check(shutil.which("node"), "node not found in PATH")
        ctx.node_dir = converse_dir()
        # the site: index.html and dist/ (symlinked: 24 MB we never copy)
        www = os.path.join(ctx.dir, "www")
        os.mkdir(www)
        os.symlink(os.path.join(ctx.node_dir, "index.html"), os.path.join(www, "index.html"))
        os.symlink(os.path.join(ctx.node_dir, "node_modules", "converse.js", "dist"),
                   os.path.join(www, "dist"))
        ctx.site = StaticSite(www)
        kind = os.environ.get("TERN_CONVERSE_SERVER", "ternd")
        check(kind in ("ternd", "prosody"), "TERN_CONVERSE_SERVER: ternd or prosody")
        ctx.server = (ProsodyServer if kind == "prosody" else TerndServer)(ctx.dir)
        ctx.slix = SlixLoop()
        print("# server: %s, page: %s/index.html" % (ctx.server.name, ctx.site.base),
              flush=True)
        return ctx
    except BaseException:
        teardown(ctx)
        raise


def teardown(ctx):
    if ctx is None:
        return
    if ctx.browser and ctx.browser.stop() != 0 and not ctx.failed:
        print("# drive.js exited with %s: %s" % (ctx.browser.proc.returncode,
                                                   "".join(ctx.browser.stderr)[-2000:]))
    if ctx.slix:
        ctx.slix.shutdown()
    if ctx.server:
        ctx.server.stop()
    if ctx.site:
        ctx.site.stop()
    if ctx.failed or os.environ.get("TERN_KEEP_TMP"):
        print("# kept %s (page console logs, screenshots)" % ctx.dir, flush=True)
    else:
        shutil.rmtree(ctx.dir, ignore_errors=True)


class Browser:
    """drive.js running (one Chromium for the run): cases go in on its standard input, one
    JSON line each; its JSON event lines are collected by a reader thread."""

    def __init__(self, node_dir):
        self.proc = subprocess.Popen([shutil.which("node"), os.path.join(node_dir, "drive.js")],
                                     cwd=node_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=die_with_parent)
        self.events = []
        self.stderr = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "unparsed", "line": line.rstrip("\n")}
            with self.lock:
                self.events.append(ev)

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def start_case(self, cfg):
        self.proc.stdin.write(json.dumps(cfg) + "\n")
        self.proc.stdin.flush()

    def case_events(self, name):
        """The case's events, and drive.js's own (launch, a crash)."""
        with self.lock:
            return [e for e in self.events if e.get("case", name) == name]

    def event(self, name, event):
        return next((e for e in self.case_events(name) if e["event"] == event), None)

    def case_over(self, name):
        return (not self.running() or
                any(e["event"] in ("done", "failed") for e in self.case_events(name)))

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        """End of input: drive.js closes Chromium and exits."""
        if self.running():
            try:
                self.proc.stdin.close()
                self.proc.wait(20)
            except (OSError, subprocess.TimeoutExpired):
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for t in self.threads:
            t.join(5)
        return self.proc.returncode


def chat_case(ctx, transport):
    """The browser user (Converse in Chromium) and a slixmpp user exchange a message both
    ways over the given transport."""
    server = ctx.server
    tag = "ws" if transport == "websocket" else "bosh"
    web = server.adduser("%sweb" % tag)
    peer_jid = server.adduser("%speer" % tag)
    if server.roster:
        server.roster_add(web, peer_jid, "Slix Peer")
    # a mechanism named, as the other tests do: slixmpp 1.8 would pick a -PLUS one and then
    # send no channel binding (see SlixClient)
    peer = ctx.slix.client(peer_jid, PW, server.c2s_port, mech=server.slix_mech)
    nonce = os.urandom(4).hex()
    message = "hello from Converse over %s %s" % (transport, nonce)
    reply = "reply from slixmpp to %s %s" % (transport, nonce)
    shot = os.path.join(ctx.dir, "converse-%s.png" % tag)
    console_log = os.path.join(ctx.dir, "converse-%s-console.log" % tag)
    if ctx.browser is None:
        ctx.browser = Browser(ctx.node_dir)
    b = ctx.browser
    b.start_case({"name": tag, "page": ctx.site.base + "/index.html", "transport": transport,
                  "service": server.ws_url if transport == "websocket" else server.bosh_url,
                  "jid": web, "password": PW, "peer": peer_jid,
                  "rosterContact": server.roster, "message": message, "reply": reply,
                  "screenshot": shot, "log": console_log, "timeout": WAIT_MS,
                  "loglevel": "debug"})

    def ensure(cond, what):
        """check(), with the run's diagnostics: events, logs, the screenshot's path."""
        if cond:
            return
        ctx.failed = True
        raise AssertionError(
            "%s\nevents: %s\ndrive.js stderr: %s\nstatic server errors: %s\n"
            "screenshot: %s\npage console log: %s\n%s log tail:\n%s"
            % (what, json.dumps(b.case_events(tag), indent=1)[-6000:],
               "".join(b.stderr)[-2000:], ctx.site.errors()[-20:], shot, console_log,
               server.name, server.log_tail(60)))

    def wait_over(deadline):
        while not b.case_over(tag):
            ensure(time.monotonic() < deadline, "drive.js: the case did not end in time")
            time.sleep(0.1)

    try:
        # the slixmpp side gets the browser's message (while the case runs)
        deadline = time.monotonic() + CASE_TIMEOUT
        got = None
        while got is None:
            try:
                got = peer.wait_message(lambda m: m["body"] == message, timeout=0.5)
            except XmppTimeout:
                ensure(not b.case_over(tag), "the case ended before slixmpp got the message")
                ensure(time.monotonic() < deadline, "slixmpp: no message from Converse")
        ensure(got["from"].bare == web, "'from' is the browser user: %s" % got["from"])
        ensure(got["type"] == "chat", "a chat message: %s" % got)
        # the reply goes to the browser's full JID (its resource)
        peer.send_message(str(got["from"]), reply)
        wait_over(deadline)
    finally:
        peer.disconnect()
    print("# %s: %s" % (transport, ", ".join("%s %.1f s" % (e["event"], e.get("ms", 0) / 1000)
                                             for e in b.case_events(tag))), flush=True)
    conn, recv, done = (b.event(tag, "connected"), b.event(tag, "received"),
                        b.event(tag, "done"))
    ensure(conn and recv and done, "every step reported")
    ensure(conn["transport"] == transport, "Converse used %s" % transport)
    ensure(conn["jid"].split("/")[0] == web and "/" in conn["jid"],
           "bound a full JID of %s" % web)
    ensure(str(got["from"]) == conn["jid"], "slixmpp got it from the browser's full JID %s: %s"
           % (conn["jid"], got["from"]))
    shown = {m["text"]: m["from"] or "" for m in recv["shown"]}
    ensure(shown.get(message, "").split("/")[0] == web and
           shown.get(reply, "").split("/")[0] == peer_jid,
           "the chat shows both messages, each from its sender: %s" % recv["shown"])
    if server.roster:
        roster = b.event(tag, "roster")
        ensure(roster and "Slix Peer" in roster["text"], "the roster shows the contact")
    ensure(not done["errors"], "no script errors in the page, no failed request to loopback")
    ensure(done["stillConnected"], "still connected at the end")
    wire = done["wire"]
    if transport == "websocket":
        ws = wire["websocket"] or {}
        ensure(ws.get("url") == server.ws_url and ws.get("status") == 101,
               "a WebSocket to %s: %s" % (server.ws_url, ws))
        ensure(ws.get("protocol") == "xmpp", "subprotocol xmpp (RFC 7395): %s" % ws)
        ensure(not ws.get("extensions"), "no WebSocket extension (no deflate): %s" % ws)
        ensure(wire["frames"]["sent"] >= 5 and wire["frames"]["received"] >= 5,
               "frames both ways: %s" % wire["frames"])
        ensure(not wire["bosh"], "no BOSH request")
    else:
        ensure(wire["websocket"] is None, "no WebSocket")
        posts = [r for r in wire["bosh"] if r["method"] == "POST"]
        ensure(len(posts) >= 5, "BOSH requests: %s" % wire["bosh"])
        ensure(all(r["status"] == 200 for r in posts), "every BOSH POST 200")
        ensure(all(r["cors"] in ("*", ctx.site.base) for r in posts),
               "CORS: Access-Control-Allow-Origin on every response (the page is on "
               "another origin)")
        ensure(all((r["type"] or "").startswith("text/xml") for r in posts),
               "BOSH responses are text/xml")


TESTS = [
    ("Converse.js over WebSocket: login, roster, a message to slixmpp and its reply",
     lambda ctx: chat_case(ctx, "websocket")),
    ("Converse.js over BOSH (cross-origin): login, roster, a message to slixmpp and its reply",
     lambda ctx: chat_case(ctx, "bosh")),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
