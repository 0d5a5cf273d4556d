#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_s2s_prosody.py — federation with a real Prosody (Debian's 0.12) on
# its own loopback address, config and data folder: messages and iq ping both ways with a
# ternd whose certificate Prosody trusts (SASL EXTERNAL both ways) and with a ternd that has
# an untrusted self-signed certificate (dialback both ways). DNS: a loopback dnsmasq, which
# Prosody reaches through lua-unbound (see docs/federation.md).

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, Dnsmasq, RawClient, TestCA, check, die_with_parent,  # noqa: E402
                     free_port, loopback_net, online_client, port_on, q, run_tests, s2s_links,
                     s2s_ternd, stop_process)

A, B, P = "tern-a.test", "tern-b.test", "prosody.test"
NET = loopback_net()  # every server on its own address in a random 127.x.y.0/24
ADDR = {A: NET + "2", B: NET + "3", P: NET + "5"}
PW = "s2s-pass word"

PROSODY_CFG = """
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{dir}/prosody.log" }} }}
interfaces = {{ "{addr}" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_direct_tls_ports = {{}}
s2s_direct_tls_ports = {{}}
http_ports = {{}}
https_ports = {{}}
daemonize = false
run_as_root = true
prosody_user = "root"
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix" }}
authentication = "internal_hashed"
allow_registration = false
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
ssl = {{ cafile = "{ca}" }}
-- lua-unbound: forward everything to the test's dnsmasq, let .test resolve
unbound = {{ resolvconf = false; hoststxt = false; forward = "127.0.0.1@{dns}";
            options = {{ ["local-zone:"] = "test. transparent" }} }}
VirtualHost "{domain}"
"""


class Prosody:
    """A Prosody started in the foreground with its own config, certs and data folder;
    stopped by pid."""

    def __init__(self, folder, domain, addr, dns_port, ca, cert):
        self.dir = folder
        self.domain, self.host = domain, addr
        self.c2s = free_port(addr)
        self.s2s = port_on(addr, 5269)
        os.makedirs(os.path.join(folder, "data"))
        os.makedirs(os.path.join(folder, "certs"))
        shutil.copy(cert[0], os.path.join(folder, "certs", domain + ".crt"))
        shutil.copy(cert[1], os.path.join(folder, "certs", domain + ".key"))
        self.cfg = os.path.join(folder, "prosody.cfg.lua")
        with open(self.cfg, "w") as f:
            f.write(PROSODY_CFG.format(dir=folder, addr=addr, c2s=self.c2s, s2s=self.s2s,
                                       ca=ca, dns=dns_port, domain=domain))
        self.proc = None

    def ctl(self, *args):
        r = subprocess.run(["prosodyctl", "--config", self.cfg] + list(args),
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "prosodyctl %s: %s%s" % (args, r.stdout, r.stderr))

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(["prosody", "-F", "--config", self.cfg],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        import socket
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("prosody exited: %s" % self.log())
            try:
                socket.create_connection((self.host, self.c2s), timeout=1).close()
                socket.create_connection((self.host, self.s2s), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("prosody did not listen: %s" % self.log())
                time.sleep(0.1)

    def log(self, n=80):
        try:
            with open(os.path.join(self.dir, "prosody.log"), errors="replace") as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError as e:
            return str(e)

    def stop(self):
        stop_process(self.proc, 10)
        if self.proc:
            self.out.close()


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t, ctx.c = {}, {}
    ctx.prosody = ctx.dns = None
    try:
        return _setup(ctx)
    except BaseException:
        teardown(ctx)  # run_tests() does not call it when setup fails
        raise


def _setup(ctx):
    # every folder of this run (the ternds' too) below one of ours: a sweep of /tmp/ternd-*
    # by something else running on the machine cannot pull them away mid-test
    ctx.dir = tempfile.mkdtemp(prefix="tern-prosody-")
    tempfile.tempdir = ctx.dir
    ctx.ca = TestCA(os.path.join(ctx.dir, "ca"))
    issued = os.path.join(ctx.dir, "issued")
    ports = {d: port_on(ADDR[d], 5269) for d in (A, B)}
    ctx.prosody = Prosody(os.path.join(ctx.dir, "prosody"), P, ADDR[P], 0, ctx.ca.pem,
                          ctx.ca.issue(P, issued))
    ports[P] = ctx.prosody.s2s
    ctx.dns = Dnsmasq(ctx.dir, [("_xmpp-server._tcp." + d, d, ports[d]) for d in (A, B, P)],
                      [(d, ADDR[d]) for d in (A, B, P)])
    # the DNS port is known now: write it into Prosody's config
    with open(ctx.prosody.cfg) as f:
        cfg = f.read().replace("127.0.0.1@0", "127.0.0.1@%d" % ctx.dns.port)
    with open(ctx.prosody.cfg, "w") as f:
        f.write(cfg)
    ctx.prosody.ctl("register", "puser", P, PW)
    ctx.prosody.start()
    ctx.t[A] = s2s_ternd(A, ADDR[A], ports[A], ctx.dns.servers, ctx.ca.issue(A, issued),
                         ctx.ca.pem)
    ctx.t[B] = s2s_ternd(B, ADDR[B], ports[B], ctx.dns.servers)
    for t in ctx.t.values():
        t.start()
    ctx.c = {d: online_client(ctx.t[d], "user", PW) for d in (A, B)}
    ctx.c[P] = RawClient(ctx.prosody.c2s, host=ADDR[P], domain=P, timeout=10)
    ctx.c[P].login("puser", PW, resource="res")
    ctx.c[P].send("<presence/>")
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.c.values():
        c.close()
    if os.environ.get("TERN_S2S_LOGS"):
        for t in ctx.t.values():
            print("# ---- %s\n# " % t.domain + t.log_tail(150).replace("\n", "\n# "))
        if ctx.prosody:
            print("# ---- prosody\n# " + ctx.prosody.log(150).replace("\n", "\n# "))
    for t in ctx.t.values():
        t.cleanup()
    if ctx.prosody:
        ctx.prosody.stop()
    if ctx.dns:
        ctx.dns.stop()
    if getattr(ctx, "dir", None) and not os.environ.get("TERN_KEEP_TMP"):
        shutil.rmtree(ctx.dir, ignore_errors=True)


def jid(d):
    return ("puser@%s" if d == P else "user@%s") % d


def message(ctx, x, y, timeout=20):
    body = "hello %s from %s" % (y, x)
    mid = ctx.c[x].message(jid(y), body)
    m = ctx.c[y].wait_message(lambda e: e.get("id") == mid, timeout)
    check(m.get("from") == jid(x) + "/res", "'from' should be the sender's full JID", m)
    check(m.findtext(q(NS_CLIENT, "body")) == body, "body changed", m)


def ping(ctx, x, y, timeout=20):
    r = ctx.c[x].ping(to=y, timeout=timeout)
    check(r.get("type") == "result" and r.get("from") == y, "ping %s -> %s" % (x, y), r)
    # and a full-JID iq answered by the remote client
    iid = "p-" + uuid.uuid4().hex[:8]
    ctx.c[x].send("<iq type='get' id='%s' to='%s/res'><ping xmlns='urn:xmpp:ping'/></iq>"
                  % (iid, jid(y)))
    iq = ctx.c[y].wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid, timeout)
    ctx.c[y].send("<iq type='result' id='%s' to='%s'/>" % (iid, iq.get("from")))
    res = ctx.c[x].wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid, timeout)
    check(res.get("type") == "result", "full-JID ping %s -> %s" % (x, y), res)


def auth_of(ctx, d, direction, remote, timeout=5):
    """The auth method of the ready link (the status file follows within 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        for row in s2s_links(ctx.t[d]):
            if row["dir"] == direction and row["remote"] == remote and row["state"] == "ready":
                return row["auth"]
        if time.monotonic() > deadline:
            return None
        time.sleep(0.1)


def test_certificates(ctx):
    message(ctx, A, P)
    message(ctx, P, A)
    ping(ctx, A, P)
    ping(ctx, P, A)
    check(auth_of(ctx, A, "out", P) == "sasl-external",
          "ternd -> prosody: %s" % s2s_links(ctx.t[A]))
    check(auth_of(ctx, A, "in", P) == "sasl-external",
          "prosody -> ternd: %s" % s2s_links(ctx.t[A]))


def test_dialback(ctx):
    message(ctx, B, P)
    message(ctx, P, B)
    ping(ctx, B, P)
    ping(ctx, P, B)
    check(auth_of(ctx, B, "out", P) == "dialback", "ternd -> prosody: %s" % s2s_links(ctx.t[B]))
    check(auth_of(ctx, B, "in", P) == "dialback", "prosody -> ternd: %s" % s2s_links(ctx.t[B]))


if __name__ == "__main__":
    run_tests([
        ("Prosody <-> ternd with certificates (SASL EXTERNAL): messages, iq ping",
         test_certificates),
        ("Prosody <-> ternd with dialback: messages, iq ping", test_dialback),
    ], setup, teardown)
