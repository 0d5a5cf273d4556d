#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_irc_gateway.py — tern-irc between ternd and ngircd: an XMPP user
# (RawClient) and a plain IRC client (a socket) in one channel: XEP-0045 join with NAMES
# roles, messages both ways, private messages, nick changes (303), /me <-> CTCP ACTION, a
# long message split for 512 bytes, formatting stripped, topic, part; ngircd restarted ->
# reconnect and rejoin; TLS to IRC; SASL PLAIN against a scripted server. Loopback only;
# every process is started here and stopped by pid.

import base64
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
from ternlib import (HOST, IrcClient, NS_CLIENT, TERND_PROBLEMS, Ternd, binary, check,  # noqa: E402
                     error_condition, free_port, q, read_text, run_tests, scan_log,
                     stop_process, ctx_login)

GW = "irc.localhost"
SECRET = "irc-secret"
PW = "secret-pw"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_REGISTER = "jabber:iq:register"
NS_GATEWAY = "jabber:iq:gateway"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
ROOM = "#test%irc.test@" + GW
TLS_ROOM = "#test%tls.test@" + GW


class Ctx:
    pass


# --------------------------------------------------------------------------------------
# processes


def start_ngircd(ctx):
    log = open(os.path.join(ctx.dir, "ngircd.log"), "ab")
    ctx.ngircd = subprocess.Popen(["ngircd", "-n", "-f", ctx.ngircd_conf],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 10
    for port in (ctx.irc_port, ctx.irc_tls_port):
        while True:
            check(ctx.ngircd.poll() is None,
                  "ngircd exited:\n" + read_text(ctx.dir, "ngircd.log")[-2000:])
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                check(time.monotonic() < deadline, "ngircd does not listen on %d" % port)
                time.sleep(0.05)


def scan_gateway_log(ctx):
    scan_log("tern-irc", read_text(ctx.dir, "tern-irc.log"))


def write_ngircd_conf(ctx):
    key, cert = os.path.join(ctx.dir, "irc.key"), os.path.join(ctx.dir, "irc.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=irc.test"],
                   check=True, capture_output=True)
    for f in (key, cert):
        os.chmod(f, 0o644)  # ngircd drops root for "nobody"; a throwaway test key
    with open(ctx.ngircd_conf, "w") as f:
        f.write("[Global]\nName = irc.test\nInfo = Tern test\nListen = %s\nPorts = %d\n"
                "AdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@irc.test\n"
                "MotdPhrase = \"Tern test\"\n[Limits]\nMaxNickLength = 30\n"
                "[Options]\nIdent = no\nPAM = no\nDNS = no\n"
                "[SSL]\nCertFile = %s\nKeyFile = %s\nPorts = %d\n"
                % (HOST, ctx.irc_port, cert, key, ctx.irc_tls_port))


def write_gateway_conf(ctx):
    with open(ctx.gw_conf, "w") as f:
        f.write("[component]\ndomain = %s\nsecret = %s\nhost = %s\nport = %d\n"
                "reconnect_min_ms = 100\nreconnect_max_ms = 1000\n"
                "[irc]\ndata_dir = %s\nreconnect_min_ms = 200\nreconnect_max_ms = 1000\n"
                "throttle_burst = 20\nthrottle_interval_ms = 50\n"
                "[server irc.test]\nhost = %s\nport = %d\ntls = false\n"
                "[server tls.test]\nhost = %s\nport = %d\ntls = true\ntls_verify = false\n"
                "[server sasl.test]\nhost = %s\nport = %d\ntls = false\nsasl = true\n"
                % (GW, SECRET, HOST, ctx.t.component_port, os.path.join(ctx.dir, "gw-data"),
                   HOST, ctx.irc_port, HOST, ctx.irc_tls_port, HOST, ctx.sasl_port))


def start_gateway(ctx):
    log = open(os.path.join(ctx.dir, "tern-irc.log"), "ab")
    ctx.gw = subprocess.Popen([binary("transports/irc/tern-irc"), "-c", ctx.gw_conf],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ, G_MESSAGES_DEBUG=os.environ.get("TERN_IRC_DEBUG", "")))
    log.close()
    c = ctx.t.client()
    c.login("carol", PW)
    deadline = time.monotonic() + 15
    while True:
        r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=GW)
        if r.get("type") == "result":
            break
        check(ctx.gw.poll() is None and time.monotonic() < deadline,
              "tern-irc does not serve %s; log:\n%s"
              % (GW, read_text(ctx.dir, "tern-irc.log")[-3000:]))
        time.sleep(0.2)
    c.close()


def setup():
    ctx = Ctx()
    ctx.t = Ternd(extra={"component " + GW: {"secret": SECRET}}).start()
    for u in ("alice", "bob", "carol", "dave"):
        ctx.t.adduser(u, PW)
    ctx.dir = tempfile.mkdtemp(prefix="tern-irc-", dir=ctx.t.dir)
    os.chmod(ctx.t.dir, 0o755)
    os.chmod(ctx.dir, 0o755)
    ctx.irc_port, ctx.irc_tls_port = free_port(), free_port()
    ctx.sasl = FakeSaslServer()
    ctx.sasl_port = ctx.sasl.port
    ctx.ngircd_conf = os.path.join(ctx.dir, "ngircd.conf")
    ctx.gw_conf = os.path.join(ctx.dir, "tern-irc.conf")
    ctx.ngircd = ctx.gw = None
    ctx.open = []
    check(shutil.which("ngircd"), "ngircd is installed (tools/install-deps.sh)")
    write_ngircd_conf(ctx)
    write_gateway_conf(ctx)
    start_ngircd(ctx)
    start_gateway(ctx)
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    if ctx.gw is not None:
        rc = stop_process(ctx.gw)
        if rc != 0:
            TERND_PROBLEMS.append("tern-irc exited with %s; log:\n%s"
                                  % (rc, read_text(ctx.dir, "tern-irc.log")[-3000:]))
        scan_gateway_log(ctx)
    stop_process(ctx.ngircd)
    ctx.sasl.close()
    ctx.t.cleanup()


# --------------------------------------------------------------------------------------
# clients


def login(ctx, user):
    return ctx_login(ctx, user, PW)


def register(c, nick=None, username=None, password=None):
    fields = "".join("<%s>%s</%s>" % (k, v, k) for k, v in
                     (("nick", nick), ("username", username), ("password", password)) if v)
    r = c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_REGISTER, fields), to=GW)
    check(r.get("type") == "result", "registered with the gateway", r)


def presence_from(frm, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm and
                e.get("type") == type_)
    return m


def status_codes(p):
    return {s.get("code") for s in p.findall("%s/%s" % (q(NS_MUC_USER, "x"),
                                                          q(NS_MUC_USER, "status")))}


def item(p):
    return p.find("%s/%s" % (q(NS_MUC_USER, "x"), q(NS_MUC_USER, "item")))


def groupchat_from(frm, text=None):
    def m(e):
        if e.tag != q(NS_CLIENT, "message") or e.get("from") != frm:
            return False
        b = e.find(q(NS_CLIENT, "body"))
        return e.get("type") == "groupchat" and b is not None and (text is None or b.text == text)
    return m


def body(e):
    b = e.find(q(NS_CLIENT, "body"))
    return b.text if b is not None else None


def join(c, room, nick, timeout=20):
    c.send("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, nick, NS_MUC))
    return c.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and
                  e.get("from", "").startswith(room + "/") and
                  ("110" in status_codes(e) or e.get("type") == "error"), timeout=timeout)


# --------------------------------------------------------------------------------------
# tests


def test_check_config(ctx):
    r = subprocess.run([binary("transports/irc/tern-irc"), "--check-config", "-c", ctx.gw_conf],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "OK" in r.stdout, "a good config: %s%s" % (r.stdout, r.stderr))
    bad = os.path.join(ctx.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("[component]\ndomain = irc.localhost\nsecret = x\nport = 70000\n")
    r = subprocess.run([binary("transports/irc/tern-irc"), "--check-config", "-c", bad],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "port" in r.stderr, "a bad port: %s%s" % (r.stdout, r.stderr))


def test_disco_and_gateway(ctx):
    c = login(ctx, "carol")
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=GW)
    ident = r.find(".//" + q(NS_DISCO_INFO, "identity"))
    check(ident.get("category") == "gateway" and ident.get("type") == "irc", "identity", r)
    feats = {f.get("var") for f in r.findall(".//" + q(NS_DISCO_INFO, "feature"))}
    check({NS_MUC, NS_REGISTER, NS_GATEWAY} <= feats, "features", r)
    r = c.iq("set", "<query xmlns='%s'><prompt>#Chan@x%%irc.test</prompt></query>" % NS_GATEWAY,
             to=GW)
    jid = r.find("%s/%s" % (q(NS_GATEWAY, "query"), q(NS_GATEWAY, "jid")))
    check(jid is not None and jid.text == "#Chan\\40x%irc.test@" + GW,
          "XEP-0100 §6.3: a legacy id to a JID (XEP-0106 escaped)", r)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=ROOM)
    ident = r.find(".//" + q(NS_DISCO_INFO, "identity"))
    check(ident is not None and ident.get("category") == "conference", "a room", r)
    c.close()


def test_join_requires_registration(ctx):
    c = login(ctx, "dave")
    p = join(c, ROOM, "dave")
    check(p.get("type") == "error" and error_condition(p) == "registration-required",
          "unregistered -> registration-required", p)
    register(c, nick="dave")
    p = join(c, "#x%nowhere.example@" + GW, "dave")
    check(error_condition(p) == "remote-server-not-found", "an unlisted server", p)
    c.close()


def test_join(ctx):
    """XEP-0045 §7.2: occupants (NAMES, @ -> moderator), self-presence 110 last, subject."""
    ctx.irc = IrcClient(HOST, ctx.irc_port, "ircbob", "#test")
    ctx.irc.send("TOPIC #test :the topic")
    ctx.irc.wait(lambda l: " TOPIC #test " in l)
    a = login(ctx, "alice")
    register(a, nick="alice")
    ctx.alice = a
    a.send("<presence to='%s/alice'><x xmlns='%s'/></presence>" % (ROOM, NS_MUC))
    bob = a.wait(presence_from(ROOM + "/ircbob"), timeout=20)
    check(item(bob).get("role") == "moderator" and item(bob).get("affiliation") == "admin",
          "channel operator @ -> moderator", bob)
    me = a.wait(presence_from(ROOM + "/alice"))
    check("110" in status_codes(me) and item(me).get("role") == "participant",
          "self-presence with 110", me)
    subj = a.wait(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("from") == ROOM and
                  e.find(q(NS_CLIENT, "subject")) is not None)
    check(subj.find(q(NS_CLIENT, "subject")).text == "the topic", "topic as subject", subj)
    line = ctx.irc.wait(lambda l: l.startswith(":alice!") and " JOIN " in l)
    check("#test" in line, "IRC sees the XMPP user join", line)


def test_groupchat_both_ways(ctx):
    a = ctx.alice
    a.send("<message to='%s' type='groupchat' id='g1'><body>hello from xmpp</body></message>"
           % ROOM)
    line = ctx.irc.wait(lambda l: "PRIVMSG #test :hello from xmpp" in l)
    check(line.startswith(":alice!"), "sent as alice", line)
    echo = a.wait_message(groupchat_from(ROOM + "/alice", "hello from xmpp"))
    check(echo.get("id") == "g1", "XEP-0045 §7.4: reflected with its id", echo)
    ctx.irc.send("PRIVMSG #test :hello from irc")
    m = a.wait_message(groupchat_from(ROOM + "/ircbob", "hello from irc"))
    check(m.get("to") == a.jid, "to the joined resource", m)


def test_private_messages(ctx):
    a = ctx.alice
    bob_jid = "ircbob%irc.test@" + GW
    a.message(bob_jid, "psst from xmpp")
    line = ctx.irc.wait(lambda l: "PRIVMSG ircbob :psst from xmpp" in l)
    check(line.startswith(":alice!"), "a PRIVMSG to the nick", line)
    ctx.irc.send("PRIVMSG alice :psst from irc")
    m = a.wait_message(lambda e: e.get("from") == bob_jid and e.get("type") == "chat")
    check(body(m) == "psst from irc", "an IRC private message as chat from nick%server", m)
    a.message(ROOM + "/ircbob", "via the room")  # a MUC PM
    ctx.irc.wait(lambda l: "PRIVMSG ircbob :via the room" in l)


def test_nick_change_irc_side(ctx):
    """XEP-0045 §7.6.3: unavailable with 303 and the new nick, then the new occupant."""
    a = ctx.alice
    ctx.irc.send("NICK ircbob2")
    gone = a.wait(presence_from(ROOM + "/ircbob", "unavailable"))
    check("303" in status_codes(gone) and item(gone).get("nick") == "ircbob2",
          "303 with the new nick", gone)
    new = a.wait(presence_from(ROOM + "/ircbob2"))
    check(item(new).get("role") == "moderator", "same role under the new nick", new)


def test_nick_change_xmpp_side(ctx):
    a = ctx.alice
    a.send("<presence to='%s/alice2'/>" % ROOM)
    line = ctx.irc.wait(lambda l: l.startswith(":alice!") and " NICK " in l)
    check(line.endswith("alice2"), "IRC sees NICK alice2", line)
    gone = a.wait(presence_from(ROOM + "/alice", "unavailable"))
    check({"303", "110"} <= status_codes(gone) and item(gone).get("nick") == "alice2",
          "own nick change: 303 + 110", gone)
    a.wait(presence_from(ROOM + "/alice2"))


def test_me_action(ctx):
    a = ctx.alice
    a.send("<message to='%s' type='groupchat'><body>/me waves</body></message>" % ROOM)
    ctx.irc.wait(lambda l: "PRIVMSG #test :\x01ACTION waves\x01" in l)
    ctx.irc.send("PRIVMSG #test :\x01ACTION dances\x01")
    m = a.wait_message(groupchat_from(ROOM + "/ircbob2", "/me dances"))
    check(m is not None, "CTCP ACTION -> /me")


def test_formatting_stripped(ctx):
    a = ctx.alice
    ctx.irc.send("PRIVMSG #test :\x02bold\x02 \x0304,12red\x03 \x1funder\x1f")
    m = a.wait_message(groupchat_from(ROOM + "/ircbob2"))
    check(body(m) == "bold red under", "mIRC formatting removed", m)


def test_long_message_split(ctx):
    """Every IRC line <= 512 bytes with CR LF as relayed, valid UTF-8, nothing lost."""
    a = ctx.alice
    words = ["w%03d-é日本" % i for i in range(150)]
    text = " ".join(words)
    check(len(text.encode()) > 1500, "a long message")
    a.send("<message to='%s' type='groupchat'><body>%s</body></message>" % (ROOM, text))
    got = []
    start = len(ctx.irc.raw_lines)
    while " ".join(got) != text:
        line = ctx.irc.wait(lambda l: l.startswith(":alice2!") and "PRIVMSG #test :" in l)
        got.append(line.split("PRIVMSG #test :", 1)[1])
        check(len(got) < 20, "too many pieces: %s" % got)
    raws = [r for r in ctx.irc.raw_lines[start:] if b"PRIVMSG #test :" in r]
    check(len(raws) >= 3, "split into several lines: %d" % len(raws))
    for r in raws:
        check(len(r) + 2 <= 512, "a relayed line of %d bytes" % (len(r) + 2))
        r.decode("utf-8")  # strict: no character cut in half


def test_topic_from_xmpp(ctx):
    a = ctx.alice
    a.send("<message to='%s' type='groupchat'><subject>new topic</subject></message>" % ROOM)
    ctx.irc.wait(lambda l: " TOPIC #test :new topic" in l)
    s = a.wait(lambda e: e.tag == q(NS_CLIENT, "message") and
               e.find(q(NS_CLIENT, "subject")) is not None and
               e.find(q(NS_CLIENT, "subject")).text == "new topic")
    check(s.get("from") == ROOM + "/alice2", "the subject change comes back", s)


def test_irc_server_restart(ctx):
    """ngircd stops and starts again: tern-irc reconnects with backoff, rejoins, and
    messages flow both ways again."""
    a = ctx.alice
    stop_process(ctx.ngircd)
    ctx.irc.close()
    note = a.wait_message(lambda e: e.get("from") == ROOM and e.get("type") == "groupchat")
    check("lost" in (body(note) or ""), "the room says the connection was lost", note)
    time.sleep(0.5)
    start_ngircd(ctx)
    ctx.irc = IrcClient(HOST, ctx.irc_port, "ircbob", "#test")
    if "alice2" not in [n.lstrip("@+%~&") for n in ctx.irc.names]:  # not back yet: JOIN comes
        line = ctx.irc.wait(lambda l: l.startswith(":alice2!") and " JOIN " in l, timeout=30)
        check("#test" in line, "the gateway rejoined #test", line)
    a.wait(presence_from(ROOM + "/ircbob"), timeout=10)  # a JOIN or the new NAMES
    check(ctx.gw.poll() is None, "tern-irc kept running")
    ctx.irc.send("PRIVMSG #test :after the restart")
    a.wait_message(groupchat_from(ROOM + "/ircbob", "after the restart"), timeout=10)
    a.send("<message to='%s' type='groupchat'><body>me too</body></message>" % ROOM)
    ctx.irc.wait(lambda l: "PRIVMSG #test :me too" in l)


def test_tls(ctx):
    """The same ngircd through its TLS port (self-signed, tls_verify = false)."""
    b = login(ctx, "bob")
    register(b, nick="xbob")
    p = join(b, TLS_ROOM, "xbob")
    check(p.get("type") != "error", "joined over TLS", p)
    ctx.irc.wait(lambda l: l.startswith(":xbob!") and " JOIN " in l)
    b.send("<message to='%s' type='groupchat'><body>over tls</body></message>" % TLS_ROOM)
    ctx.irc.wait(lambda l: l.startswith(":xbob!") and "PRIVMSG #test :over tls" in l)
    b.send("<presence to='%s/xbob' type='unavailable'/>" % TLS_ROOM)
    ctx.irc.wait(lambda l: l.startswith(":xbob!") and (" PART " in l or " QUIT " in l))
    b.close()


def test_part(ctx):
    a = ctx.alice
    a.send("<presence to='%s/alice2' type='unavailable'><status>bye</status></presence>" % ROOM)
    line = ctx.irc.wait(lambda l: l.startswith(":alice2!") and (" PART " in l))
    check("#test" in line, "PART #test", line)
    p = a.wait(presence_from(ROOM + "/alice2", "unavailable"))
    check("110" in status_codes(p), "own unavailable presence with 110", p)
    # the last channel on that server: the gateway QUITs (seen by nobody: ask the server)
    deadline = time.monotonic() + 10
    while True:
        ctx.irc.send("WHOIS alice2")
        line = ctx.irc.wait(lambda l: " 401 " in l or " 318 " in l)
        if " 401 " in line:
            break
        check(time.monotonic() < deadline, "alice2 is still on IRC")
        time.sleep(0.2)


def test_sasl_plain(ctx):
    """[server sasl.test] sasl = true: CAP REQ sasl, AUTHENTICATE PLAIN with the registered
    username/password (scripted server: ngircd has no SASL)."""
    c = login(ctx, "carol")
    register(c, nick="carol", username="carol-acct", password="s3cr3t")
    p = join(c, "#sasl%sasl.test@" + GW, "carol")
    check(p.get("type") != "error", "joined after SASL", p)
    check(ctx.sasl.auth == b"carol-acct\0carol-acct\0s3cr3t",
          "AUTHENTICATE PLAIN payload: %r" % ctx.sasl.auth)
    check(ctx.sasl.order[:3] == ["CAP", "NICK", "USER"] or "CAP" in ctx.sasl.order,
          "CAP before registration: %s" % ctx.sasl.order)
    c.close()


class FakeSaslServer:
    """One IRC client at a time: requires CAP sasl + AUTHENTICATE PLAIN before 001."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((HOST, 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.auth = None
        self.order = []
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            try:
                self.serve(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def serve(self, conn):
        buf, nick, capped, done = b"", None, False, False
        out = lambda s: conn.sendall((s + "\r\n").encode())  # noqa: E731
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\r\n" in buf:
                raw, buf = buf.split(b"\r\n", 1)
                parts = raw.decode().split(" ")
                cmd = parts[0].upper()
                self.order.append(cmd)
                if cmd == "CAP" and parts[1] == "REQ":
                    capped = True
                    out(":sasl.test CAP * ACK :sasl")
                elif cmd == "AUTHENTICATE" and parts[1] == "PLAIN":
                    out("AUTHENTICATE +")
                elif cmd == "AUTHENTICATE":
                    self.auth = base64.b64decode(parts[1])
                    out(":sasl.test 900 * * carol-acct :You are now logged in")
                    out(":sasl.test 903 * :SASL authentication successful")
                elif cmd == "NICK":
                    nick = parts[1]
                elif cmd == "CAP" and parts[1] == "END":
                    done = capped and self.auth is not None
                    if done:
                        out(":sasl.test 001 %s :Welcome %s!u@h" % (nick, nick))
                    else:
                        out("ERROR :SASL required")
                        return
                elif cmd == "JOIN" and done:
                    ch = parts[1]
                    out(":%s!u@h JOIN %s" % (nick, ch))
                    out(":sasl.test 353 %s = %s :%s" % (nick, ch, nick))
                    out(":sasl.test 366 %s %s :End of NAMES list" % (nick, ch))
                elif cmd == "QUIT":
                    return

    def close(self):
        self.stopped = True
        self.srv.close()


if __name__ == "__main__":
    run_tests([
        ("tern-irc --check-config", test_check_config),
        ("disco#info, jabber:iq:gateway, room disco", test_disco_and_gateway),
        ("join needs registration; unlisted server refused", test_join_requires_registration),
        ("join: NAMES roles, self-presence 110, topic as subject", test_join),
        ("groupchat both ways (reflection with id)", test_groupchat_both_ways),
        ("private messages both ways", test_private_messages),
        ("IRC nick change -> presence 303", test_nick_change_irc_side),
        ("XMPP nick change -> NICK, 303 + 110", test_nick_change_xmpp_side),
        ("/me <-> CTCP ACTION", test_me_action),
        ("IRC formatting stripped", test_formatting_stripped),
        ("long message split for 512 bytes, UTF-8 safe", test_long_message_split),
        ("subject from XMPP -> TOPIC", test_topic_from_xmpp),
        ("ngircd restart -> reconnect, rejoin, messages flow", test_irc_server_restart),
        ("TLS to the IRC server", test_tls),
        ("part -> PART, 110; last channel -> QUIT", test_part),
        ("SASL PLAIN to an IRC server", test_sasl_plain),
    ], setup, teardown)
