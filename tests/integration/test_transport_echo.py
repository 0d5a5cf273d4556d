#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_transport_echo.py — the transport SDK through its example: ternd with
# a [component echo.localhost] section, transports/example/tern-echo, a RawClient that
# registers (XEP-0077/0100) and messages it; reconnects after ternd restarts; a transport
# started with 1,100 descriptors open (libstrophe's socket would be >= FD_SETSIZE).

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (HOST, NS_CLIENT, Ternd, XmppTimeout, binary, check, error_condition,  # noqa: E402
                     q, run_tests, scan_log, stop_process, to_str, ctx_login)

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_REGISTER = "jabber:iq:register"
NS_DATA = "jabber:x:data"
SECRET = "echo-secret"
PW = "secret-pw"
ECHO = "echo.localhost"

# Starts the program in argv[1:] with every descriptor from 3 to 1102 open (on /dev/null),
# except the numbers in $TERN_FD_HOLES ("a-b"): so the first socket() the program makes is
# either >= 1024 (no holes) or a hole below 1024.
FD_FILLER = r"""
import os, sys
holes = set()
if os.environ.get("TERN_FD_HOLES"):
    a, b = os.environ["TERN_FD_HOLES"].split("-")
    holes = set(range(int(a), int(b) + 1))
null = os.open("/dev/null", os.O_RDONLY)
for fd in range(3, 1103):
    if fd != null:
        os.dup2(null, fd, inheritable=True)
os.set_inheritable(null, True)
for fd in holes:
    os.close(fd)
os.execv(sys.argv[1], sys.argv[1:])
"""


class Ctx:
    pass


def setup():
    ctx = Ctx()
    extra = {"component %s" % d: {"secret": SECRET}
             for d in (ECHO, "full.localhost", "holes.localhost")}
    ctx.t = Ternd(extra=extra).start()
    ctx.t.adduser("alice", PW)
    ctx.t.adduser("bob", PW)
    ctx.secret_file = os.path.join(ctx.t.dir, "echo.secret")
    with open(ctx.secret_file, "w") as f:
        f.write(SECRET + "\n")
    ctx.procs = {}
    ctx.open = []
    ctx.echo = start_echo(ctx, ECHO)
    wait_served(ctx, ECHO)
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    for p in ctx.procs.values():  # only what this file started, by pid
        stop_process(p)
    for domain in ctx.procs:  # sanitizer or GLib reports count like a ternd's
        scan_log("tern-echo " + domain, echo_log(ctx, domain))
    ctx.t.cleanup()


def start_echo(ctx, domain, fd_filler=False, holes=None):
    data = os.path.join(ctx.t.dir, "echo-data-" + domain)
    log = open(os.path.join(ctx.t.dir, "echo-%s.log" % domain), "ab")
    argv = [binary("transports/example/tern-echo"), "--domain", domain, "--secret-file",
            ctx.secret_file, "--host", HOST, "--port", str(ctx.t.component_port),
            "--data-dir", data]
    env = dict(os.environ, G_MESSAGES_DEBUG="")
    if fd_filler:
        argv = [sys.executable, "-c", FD_FILLER] + argv
        if holes:
            env["TERN_FD_HOLES"] = holes
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         env=env)
    log.close()
    ctx.procs[domain] = p
    return p


def echo_log(ctx, domain):
    with open(os.path.join(ctx.t.dir, "echo-%s.log" % domain), errors="replace") as f:
        return f.read()


def login(ctx, user):
    return ctx_login(ctx, user, PW)


def disco(c, to):
    return c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)


def wait_served(ctx, domain, timeout=15):
    """Until disco#info to the component is answered by it (not by ternd with an error)."""
    c = login(ctx, "bob")
    deadline = time.monotonic() + timeout
    while True:
        r = disco(c, domain)
        if r.get("type") == "result":
            c.close()
            return r
        if time.monotonic() > deadline:
            raise XmppTimeout("%s never answered; last %s; transport log:\n%s"
                              % (domain, to_str(r), echo_log(ctx, domain)[-3000:]))
        time.sleep(0.2)


def register_iq(c, prefix=None, to=ECHO):
    fields = "<field var='FORM_TYPE'><value>%s</value></field>" % NS_REGISTER
    if prefix is not None:
        fields += "<field var='prefix'><value>%s</value></field>" % prefix
    return c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'>%s</x></query>"
                % (NS_REGISTER, NS_DATA, fields), to=to)


def is_msg(frm, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "message") and e.get("from") == frm and
                (type_ is None or e.get("type") == type_))
    return m


def body(el):
    b = el.find(q(NS_CLIENT, "body"))
    return b.text if b is not None else None


# --------------------------------------------------------------------------------------


def test_disco(ctx):
    """XEP-0030 + XEP-0100 §5: category gateway, the SDK's features."""
    c = login(ctx, "alice")
    r = disco(c, ECHO)
    ident = r.find(".//" + q(NS_DISCO_INFO, "identity"))
    check(ident is not None and ident.get("category") == "gateway" and
          ident.get("type") == "echo", "gateway identity", r)
    feats = {f.get("var") for f in r.findall(".//" + q(NS_DISCO_INFO, "feature"))}
    for f in (NS_REGISTER, NS_DISCO_INFO, "urn:xmpp:ping", "jid\\20escaping"):
        check(f in feats, "feature %s" % f, r)
    check(c.ping(to=ECHO).get("type") == "result", "XEP-0199 ping answered")
    r = c.iq("get", "<query xmlns='urn:xmpp:nosuch'/>", to=ECHO)
    check(error_condition(r) == "service-unavailable", "unknown iq -> service-unavailable", r)
    c.close()


def test_unregistered_message(ctx):
    c = login(ctx, "alice")
    c.message("anyone@" + ECHO, "hello?")
    m = c.wait_message(is_msg("anyone@" + ECHO, "error"))
    check(error_condition(m) == "registration-required", "must register first", m)
    c.close()


def test_register(ctx):
    """XEP-0077 form with the 'prefix' field; missing required -> not-acceptable."""
    c = login(ctx, "alice")
    r = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=ECHO)
    check(r.get("type") == "result", "form served", r)
    qry = r.find(q(NS_REGISTER, "query"))
    check(qry.find(q(NS_REGISTER, "registered")) is None, "not registered yet", r)
    field = qry.find("%s/%s" % (q(NS_DATA, "x"), q(NS_DATA, "field")) + "[@var='prefix']")
    check(field is not None and field.find(q(NS_DATA, "required")) is not None,
          "a required 'prefix' field in the data form", r)
    r = register_iq(c)
    check(error_condition(r) == "not-acceptable", "missing prefix -> not-acceptable", r)
    r = register_iq(c, "echo> ")
    check(r.get("type") == "result", "registered", r)
    sub = c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == ECHO and
                 e.get("type") == "subscribe")
    check(sub is not None, "XEP-0100 §4.1.1: the gateway asks for a subscription")
    r = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=ECHO)
    qry = r.find(q(NS_REGISTER, "query"))
    check(qry.find(q(NS_REGISTER, "registered")) is not None, "<registered/> now", r)
    val = qry.find(".//%s[@var='prefix']/%s" % (q(NS_DATA, "field"), q(NS_DATA, "value")))
    check(val is not None and val.text == "echo> ", "the stored prefix is shown", r)
    c.close()


def test_echo(ctx):
    c = login(ctx, "alice")
    c.message("someone@" + ECHO, "hello <&> world")
    m = c.wait_message(is_msg("someone@" + ECHO, "chat"))
    check(body(m) == "echo> hello <&> world", "echoed with the prefix", m)
    check(m.get("to") == c.jid, "to the full JID that wrote", m)
    c.close()


def test_registration_survives_restart(ctx):
    """The LMDB store keeps the registration across a restart of the transport."""
    check(stop_process(ctx.echo) == 0, "SIGTERM: clean exit; log:\n" + echo_log(ctx, ECHO)[-2000:])
    ctx.echo = start_echo(ctx, ECHO)
    wait_served(ctx, ECHO)
    c = login(ctx, "alice")
    c.message("x@" + ECHO, "again")
    check(body(c.wait_message(is_msg("x@" + ECHO))) == "echo> again", "prefix kept")
    c.close()


def test_reconnect_after_ternd_restart(ctx):
    """ternd goes away and comes back: the SDK reconnects (backoff) and serves again."""
    ctx.t.stop()
    time.sleep(1.5)  # a few refused attempts
    ctx.t.start()
    wait_served(ctx, ECHO, timeout=20)
    check(ctx.echo.poll() is None, "the transport kept running")
    c = login(ctx, "alice")
    c.message("x@" + ECHO, "after restart")
    check(body(c.wait_message(is_msg("x@" + ECHO))) == "echo> after restart", "echo again")
    c.close()


def test_unregister(ctx):
    c = login(ctx, "alice")
    r = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER, to=ECHO)
    check(r.get("type") == "result", "unregistered", r)
    c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == ECHO and
           e.get("type") == "unsubscribe")
    c.message("x@" + ECHO, "still?")
    m = c.wait_message(is_msg("x@" + ECHO, "error"))
    check(error_condition(m) == "registration-required", "registration gone", m)
    c.close()


def test_fd_setsize_refused(ctx):
    """1,100 descriptors open before the transport connects and no number below 1024 free:
    the SDK refuses the socket (never hands it to select()), says so, keeps running and
    retrying; ternd answers for the absent component."""
    p = start_echo(ctx, "full.localhost", fd_filler=True)
    deadline = time.monotonic() + 10
    while "FD_SETSIZE" not in echo_log(ctx, "full.localhost"):
        check(p.poll() is None, "the transport keeps running; log:\n" +
              echo_log(ctx, "full.localhost")[-2000:])
        check(time.monotonic() < deadline, "no refusal logged:\n" +
              echo_log(ctx, "full.localhost")[-2000:])
        time.sleep(0.1)
    time.sleep(1.0)  # a retry or two
    check(p.poll() is None, "still running after retries (no crash)")
    c = login(ctx, "alice")
    c.message("x@full.localhost", "anyone?")
    m = c.wait_message(is_msg("x@full.localhost", "error"))
    check(error_condition(m) == "service-unavailable", "not connected: ternd bounces", m)
    c.close()
    check(stop_process(p) == 0, "clean exit on SIGTERM; log:\n" +
          echo_log(ctx, "full.localhost")[-2000:])


def test_fd_setsize_spare_slot(ctx):
    """1,100 descriptors open, a few numbers below 1024 free when it starts: the SDK keeps
    one as its spare, libstrophe's socket gets it, and the transport works."""
    p = start_echo(ctx, "holes.localhost", fd_filler=True, holes="600-615")
    wait_served(ctx, "holes.localhost")
    c = login(ctx, "alice")
    r = register_iq(c, "fd ", to="holes.localhost")
    check(r.get("type") == "result", "registered", r)
    c.message("x@holes.localhost", "works")
    m = c.wait_message(lambda e: is_msg("x@holes.localhost")(e) and body(e) is not None)
    check(body(m) == "fd works", "echo through a transport with 1,100 descriptors", m)
    fds = os.listdir("/proc/%d/fd" % p.pid)
    check(len(fds) > 1090, "the transport holds the descriptors: %d" % len(fds))
    sockets = sorted(int(f) for f in fds
                     if os.readlink("/proc/%d/fd/%s" % (p.pid, f)).startswith("socket:"))
    check(sockets and sockets[0] < 1024, "its component socket is below 1024: %s" % sockets)
    c.close()
    check(stop_process(p) == 0, "clean exit")


if __name__ == "__main__":
    run_tests([
        ("disco#info: gateway identity and SDK features", test_disco),
        ("message before registration -> registration-required", test_unregistered_message),
        ("XEP-0077 registration form and submit", test_register),
        ("echo with the registered prefix", test_echo),
        ("registration survives a transport restart (LMDB)", test_registration_survives_restart),
        ("ternd restart -> the SDK reconnects", test_reconnect_after_ternd_restart),
        ("unregister (XEP-0077 remove)", test_unregister),
        ("1,100 fds, none free below 1024 -> refused cleanly", test_fd_setsize_refused),
        ("1,100 fds, spare slot below 1024 -> works", test_fd_setsize_spare_slot),
    ], setup, teardown)
