#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_second_client.py — a second, independent client implementation:
# @xmpp/client (npm) under node logs in over STARTTLS and over direct TLS and exchanges
# messages with a slixmpp user that echoes.
#
# Needs node (>= 20.10) and npm; `npm ci` runs in tests/integration/node when its
# node_modules is missing. Without them the tests report "not ok" with the reason.

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import BUILDDIR, HERE, HOST, SlixLoop, Ternd, check, run_tests  # noqa: E402

NODE_DIR = os.path.join(HERE, "node")
ECHO = ("echo@localhost", "echo pw")
NODE_USER = ("nodeuser", "node pw")
NODE_TIMEOUT = 25


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.node = shutil.which("node")
    ctx.npm = shutil.which("npm")
    ctx.deps_error = None
    ctx.node_dir = NODE_DIR
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")) and \
            not os.access(NODE_DIR, os.W_OK):
        ctx.node_dir = os.path.join(BUILDDIR, "tests", "integration", "node")
    ctx.t = Ternd().start()
    ctx.t.adduser(*ECHO)
    ctx.t.adduser(*NODE_USER)
    ctx.slix = SlixLoop()
    ctx.echo = ctx.slix.client(ECHO[0] + "/bot", ECHO[1], ctx.t.port, mech="SCRAM-SHA-1")
    ctx.echo.echo = True
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    ctx.slix.shutdown()
    ctx.t.cleanup()


def test_node_available(ctx):
    check(ctx.node, "node not found in PATH (%s); install nodejs >= 20.10"
          % os.environ.get("PATH"))
    check(ctx.npm, "npm not found in PATH; install npm")
    r = subprocess.run([ctx.node, "--version"], capture_output=True, text=True, timeout=30)
    v = r.stdout.strip().lstrip("v").split(".")
    check(r.returncode == 0 and len(v) >= 2 and (int(v[0]), int(v[1])) >= (20, 10),
          "node %s is older than 20.10 (needed by @xmpp/client 0.14)" % r.stdout.strip())


def test_npm_deps(ctx):
    check(ctx.node and ctx.npm, "node/npm unavailable")
    marker = os.path.join(ctx.node_dir, "node_modules", "@xmpp", "client", "package.json")
    if not os.path.exists(marker):
        if ctx.node_dir != NODE_DIR:  # read-only source tree (distcheck): work on a copy
            os.makedirs(ctx.node_dir, exist_ok=True)
            for f in ("package.json", "package-lock.json", "login.js"):
                shutil.copy(os.path.join(NODE_DIR, f), ctx.node_dir)
        cmd = [ctx.npm, "ci", "--no-audit", "--no-fund"]
        if not os.path.exists(os.path.join(ctx.node_dir, "package-lock.json")):
            cmd[1] = "install"
        r = subprocess.run(cmd, cwd=ctx.node_dir, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            ctx.deps_error = "%s failed (exit %d):\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                               r.stdout, r.stderr)
        check(r.returncode == 0, ctx.deps_error or "")
    check(os.path.exists(marker), "@xmpp/client not installed in %s" % ctx.node_dir)


def run_node(ctx, service, body):
    """Run login.js (stopped by pid on timeout); (exit status, [json events], stderr)."""
    check(ctx.node, "node unavailable")
    check(ctx.deps_error is None, "npm dependencies missing: %s" % ctx.deps_error)
    env = dict(os.environ, NODE_TLS_REJECT_UNAUTHORIZED="0", NODE_NO_WARNINGS="1")
    proc = subprocess.Popen([ctx.node, os.path.join(ctx.node_dir, "login.js"), service,
                             "localhost", NODE_USER[0], NODE_USER[1], ECHO[0], body,
                             str(NODE_TIMEOUT * 1000 - 3000)],
                            cwd=ctx.node_dir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        out, err = proc.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += "\n(killed after %d s)" % NODE_TIMEOUT
    finally:
        if proc.poll() is None:  # interrupted: stop our node by its pid
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            events.append({"event": "unparsed", "line": line})
    return proc.returncode, events, err


def _exchange(ctx, service, body):
    rc, events, err = run_node(ctx, service, body)
    diag = "node exit %s\nevents: %s\nstderr:\n%s\nternd log tail:\n%s" % (
        rc, events, err[-3000:], ctx.t.log_tail(15))
    online = [e for e in events if e.get("event") == "online"]
    check(online, "the node client did not get online\n" + diag)
    node_jid = online[0]["jid"]
    check(node_jid.startswith("nodeuser@localhost/"), "node client bound %s\n%s"
          % (node_jid, diag))
    replies = [e for e in events if e.get("event") == "reply"]
    check(rc == 0 and replies, "no echo reply reached the node client\n" + diag)
    check(replies[0]["body"] == "echo: " + body, "reply body %r\n%s" % (replies[0]["body"], diag))
    check(replies[0]["from"] == ctx.echo.jid, "reply from %s, expected %s\n%s"
          % (replies[0]["from"], ctx.echo.jid, diag))
    check(replies[0].get("to") == node_jid, "reply to %s, expected %s\n%s"
          % (replies[0].get("to"), node_jid, diag))
    # the slixmpp side saw the node client's full JID
    m = ctx.echo.wait_message(lambda m: m["body"] == body, timeout=5)
    check(str(m["from"]) == node_jid, "slixmpp got from=%s, expected the node client's %s"
          % (m["from"], node_jid))
    check(str(m["to"]).startswith(ECHO[0]), "slixmpp got to=%s" % m["to"])


def test_node_starttls(ctx):
    _exchange(ctx, "xmpp://%s:%d" % (HOST, ctx.t.port), "hello over STARTTLS %d" % time.time())


def test_node_direct_tls(ctx):
    _exchange(ctx, "xmpps://%s:%d" % (HOST, ctx.t.tls_port), "hello over TLS %d" % time.time())


TESTS = [
    ("node >= 20.10 and npm available", test_node_available),
    ("npm dependencies (@xmpp/client) installed", test_npm_deps),
    ("@xmpp/client over STARTTLS: message out, echo back, full JIDs", test_node_starttls),
    ("@xmpp/client over direct TLS: message out, echo back, full JIDs", test_node_direct_tls),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
