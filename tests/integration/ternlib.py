# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/ternlib.py — harness for the integration tests: TAP output, a ternd
# per test file, ternctl, a raw XMPP client (expat stream reader, STARTTLS, direct TLS,
# SASL PLAIN/SCRAM, bind) and slixmpp clients on an asyncio loop in a thread.
#
# Run every test with /usr/bin/python3 (Debian's slixmpp lives there). Environment:
#   TERN_BUILDDIR  folder with the ternd and ternctl binaries (default: the source root)
#   TERN_SRCDIR    the source root (default: two folders above this file)
#   TERN_KEEP_TMP  set to keep each ternd's temp folder (config, log, data) after the run

import base64
import collections
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import xml.etree.ElementTree as ET
import xml.parsers.expat
from xml.sax.saxutils import escape as xml_escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("TERN_SRCDIR") or os.path.dirname(os.path.dirname(HERE))
BUILDDIR = os.environ.get("TERN_BUILDDIR") or SRCDIR
HOST = "127.0.0.1"

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_VERSION = "jabber:iq:version"
NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"


def q(ns, name):
    """Clark notation, as ElementTree names elements: {ns}name."""
    return "{%s}%s" % (ns, name)


def local_name(tag):
    return tag.rsplit("}", 1)[-1]


def to_str(el):
    """An element as text, for diagnostics."""
    if el is None:
        return "(none)"
    try:
        return ET.tostring(el, encoding="unicode")
    except Exception:  # noqa: BLE001 - diagnostics only
        return repr(el)


# --------------------------------------------------------------------------------------
# TAP


class Tap:
    """TAP producer: plan, ok/not ok lines with '# ' diagnostics, a summary.

    tap.run(name, fn, *args) runs one named test: an exception (AssertionError from
    check() or anything else) makes it 'not ok' with the traceback as diagnostics.
    """

    def __init__(self):
        self.count = 0
        self.failed = 0
        self.planned = None

    def plan(self, n):
        self.planned = n
        print("1..%d" % n, flush=True)

    def diag(self, text):
        for line in str(text).rstrip("\n").splitlines() or [""]:
            print("# " + line, flush=True)

    def ok(self, cond, name, diag=None):
        self.count += 1
        name = name.replace("#", "\\#")
        if cond:
            print("ok %d - %s" % (self.count, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.count, name), flush=True)
            if diag:
                self.diag(diag)
        return bool(cond)

    def run(self, name, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a failing test, not a broken harness
            return self.ok(False, name, traceback.format_exc())
        return self.ok(True, name)

    def skip_all_failed(self, names, why):
        for n in names:
            self.ok(False, n, why)

    def finish(self):
        if self.planned is None:
            print("1..%d" % self.count, flush=True)
        elif self.planned != self.count:
            self.diag("planned %d tests but ran %d" % (self.planned, self.count))
        print("# %d passed, %d failed" % (self.count - self.failed, self.failed), flush=True)
        sys.stdout.flush()
        return 0


def check(cond, msg="", *elements):
    """assert with a message and the elements involved printed as XML."""
    if not cond:
        parts = [msg] if msg else []
        parts += [to_str(e) if isinstance(e, ET.Element) else str(e) for e in elements]
        raise AssertionError("\n".join(parts))


# Reports of every ternd this test file ran: sanitizer output in its log, or a bad exit.
TERND_PROBLEMS = []
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "CRITICAL **", "-ERROR **", "Bail out!")


def run_tests(tests, setup=None, teardown=None):
    """Run [(name, fn), ...] as one TAP test each and exit 0.

    setup() may return a context (e.g. a Ternd) given to each fn as its only argument;
    when setup() raises, every test is reported 'not ok' with the reason.
    """
    tap = Tap()
    tap.plan(len(tests) + 1)  # the last one: every ternd ran clean
    ctx = None
    # a SIGTERM (make, a CI timeout) unwinds through the finally below: our ternds stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        if setup:
            try:
                ctx = setup()
            except Exception:  # noqa: BLE001
                tap.skip_all_failed([n for n, _ in tests], "setup failed:\n" +
                                    traceback.format_exc())
                tests = []
        for name, fn in tests:
            if ctx is not None:
                tap.run(name, fn, ctx)
            else:
                tap.run(name, fn)
    finally:
        if teardown:
            try:
                teardown(ctx)
            except Exception:  # noqa: BLE001
                tap.diag("teardown failed:\n" + traceback.format_exc())
        for t in list(LIVE_TERNDS):  # e.g. started by a setup() that failed later
            t.cleanup()
        tap.ok(not TERND_PROBLEMS, "every ternd exited cleanly, no sanitizer or GLib reports",
               "\n".join(TERND_PROBLEMS))
    sys.exit(tap.finish())


def stop_process(p, timeout=10):
    """SIGTERM a process the test started (SIGKILL after timeout); its exit status, None when
    there is none."""
    if p is not None and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode if p is not None else None


def read_text(folder, name):
    """The text of a file (a log), "" when there is none."""
    try:
        with open(os.path.join(folder, name), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def scan_log(who, text):
    """Sanitizer or GLib reports in another program's log count like a ternd's."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            TERND_PROBLEMS.append("%s: %s\n%s" % (who, marker, text[-3000:]))
            return


class IrcClient:
    """A plain IRC client on a socket (answers PING): registered as nick, in channel
    when given; lines as text (raw_lines as bytes), the channel's names in names."""

    def __init__(self, host, port, nick, channel=None):
        self.port, self.nick = port, nick
        self.sock = socket.create_connection((host, port), timeout=5)
        self.buf = b""
        self.lines = []
        self.raw_lines = []
        self.send("NICK %s" % nick)
        self.send("USER %s 0 * :Tern test" % nick)
        self.wait(lambda l: " 001 " in l)
        self.names = []
        if channel:
            self.send("JOIN %s" % channel)
            self.wait(lambda l: " 366 " in l or (" 353 " in l and self.names.extend(
                l.split(" :", 1)[1].split()) and False))

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def wait(self, pred, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.lines):
                if pred(line):
                    del self.lines[:i + 1]
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise XmppTimeout("IRC %s: no matching line; got %s" % (self.nick,
                                                                       self.lines[-20:]))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise StreamClosed("IRC server closed: %s" % self.lines[-20:])
            self.buf += data
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                self.raw_lines.append(raw)
                line = raw.decode("utf-8", "replace")
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])
                else:
                    self.lines.append(line)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def wait_port(host, port, timeout=15):
    """Until something accepts TCP connections on host:port (raises after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def ctx_login(ctx, user, password, presence=True):
    """A client of ctx.t logged in as user, closed at teardown (ctx.open); with initial
    presence, reflected, unless presence is False."""
    c = ctx.t.client()
    ctx.open.append(c)
    c.login(user, password)
    if presence:
        c.available()
    return c


def flood_stanzas(to, count, prefix, body_len=1000):
    """count chat messages to 'to' with ids prefix000.. and a body_len body, all the same
    size; returns (stanzas, size in bytes)."""
    body = "z" * body_len
    stanzas = ["<message type='chat' to='%s' id='%s%03d'><body>%s</body></message>"
               % (to, prefix, i, body) for i in range(count)]
    return stanzas, len(stanzas[0].encode())


def check_paced(arrivals, prefix, size, rate, burst):
    """arrivals: [(id, seconds since the flood began)] of messages of size bytes sent at
    once: all came, in order, and every prefix fits burst + rate x time (a read-rate bucket
    was applied). Returns the last arrival's time."""
    count = len(arrivals)
    ids = [a[0] for a in arrivals]
    check(ids == ["%s%03d" % (prefix, i) for i in range(count)], "all delivered, in order: %s"
          % ids)
    for i, (_, at) in enumerate(arrivals):
        allowed = burst + rate * at + size
        check((i + 1) * size <= allowed, "message %d arrived at %.2f s: %d bytes taken, "
              "more than burst + rate x time (%d)" % (i, at, (i + 1) * size, allowed))
    return arrivals[-1][1]


class TerndCtx:
    """A test file's context: one started ternd (t) with accounts, and the clients its tests
    opened (open), all closed by close(). Files add their own attributes to it."""

    def __init__(self, users=(), pw=None, **ternd_args):
        self.open = []
        self.t = Ternd(**ternd_args).start()
        for u in users:
            self.t.adduser(u, pw)

    def client(self):
        c = self.t.client()
        self.open.append(c)
        return c

    def close(self):
        for c in self.open:
            c.close()
        self.t.cleanup()


def close_ctx(ctx):
    """run_tests() teardown for a TerndCtx (None when setup failed)."""
    if ctx is not None:
        ctx.close()


# --------------------------------------------------------------------------------------
# ternd and ternctl


def free_port(host=HOST):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def binary(name):
    return os.path.join(BUILDDIR, name)


def _conf_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ";".join(str(x) for x in v)
    return str(v)


def write_config(path, sections):
    """Write a GKeyFile from {section: {key: value}}; a value of None leaves the key out."""
    with open(path, "w", encoding="utf-8") as f:
        for section, keys in sections.items():
            f.write("[%s]\n" % section)
            for k, v in keys.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, _conf_value(v)))
            f.write("\n")


LIVE_TERNDS = []  # every Ternd not yet cleaned up; run_tests() stops what is left


class Ternd:
    """One ternd on free loopback ports, in its own temp folder; a context manager.

    extra: {section: {key: value}} merged over the test defaults (value None removes a key).
    """

    START_TIMEOUT = 15.0
    STOP_TIMEOUT = 10.0

    def __init__(self, extra=None, domains=("localhost",), direct_tls=True, host=HOST):
        # host: the loopback address of its client ports (s2s tests give each server its own)
        self.host = host
        self.port = free_port(host)
        self.tls_port = free_port(host) if direct_tls else None
        while self.tls_port == self.port:
            self.tls_port = free_port(host)
        self.component_port = free_port(host)  # XEP-0114, never the shared 5347
        self.http_port = free_port(host)  # [http], never the shared 5280
        self.domain = domains[0]
        self.dir = tempfile.mkdtemp(prefix="ternd-test-")
        self.conf = os.path.join(self.dir, "ternd.conf")
        self.data_dir = os.path.join(self.dir, "data")
        self.certs_dir = os.path.join(self.dir, "certs")
        self.log_path = os.path.join(self.dir, "ternd.log")
        os.mkdir(self.data_dir)
        os.mkdir(self.certs_dir)
        self.config = {
            "server": {
                "domains": list(domains),
                "data_dir": self.data_dir,
                "certificates": self.certs_dir,
                "self_signed": True,
                "log_level": "debug",
            },
            "c2s": {
                "listen": "%s:%d" % (host, self.port),
                "direct_tls": "%s:%d" % (host, self.tls_port) if direct_tls else "",
                "allow_register": True,
                "register_interval": 0,
                "auth_fail_delay_ms": 0,
            },
            "limits": {},
            # federation off unless a test asks: no port 5269, no DNS (tests/integration/
            # test_s2s_*.py turn it on with their own ports and DNS server)
            "s2s": {"enabled": False, "listen": ""},
            "components": {"listen": "%s:%d" % (host, self.component_port)},
            "http": {"listen": "%s:%d" % (host, self.http_port)},
        }
        for section, keys in (extra or {}).items():
            self.config.setdefault(section, {}).update(keys)
        write_config(self.conf, self.config)
        self.proc = None
        self.expect_failure = False  # a test that makes ternd exit non-zero on purpose
        self._logf = None
        self.returncode = None
        LIVE_TERNDS.append(self)

    # -- lifecycle
    def start(self):
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary("ternd"), "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + self.START_TIMEOUT
        waiting = [self.port] + ([self.tls_port] if self.tls_port else [])
        while waiting:
            if self.proc.poll() is not None:
                raise RuntimeError("ternd exited with %s before listening; log:\n%s"
                                   % (self.proc.returncode, self.log()))
            try:
                socket.create_connection((self.host, waiting[0]), timeout=1).close()
                waiting.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ternd did not listen on %s:%s within %.0f s; log:\n%s"
                                   % (self.host, waiting, self.START_TIMEOUT, self.log()))
            time.sleep(0.05)
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.running():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """Wait for our ternd to exit; its exit status, or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self):
        """SIGTERM our ternd (by pid), SIGKILL after STOP_TIMEOUT; returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.returncode = self.proc.returncode
        if self._logf:
            self._logf.close()
            self._logf = None
        return self.returncode

    def cleanup(self):
        rc = self.stop()
        if self.proc is not None and not getattr(self, "_checked", False):
            self._checked = True
            log = self.log()
            for marker in SANITIZER_MARKERS:
                i = log.find(marker)
                if i >= 0:
                    TERND_PROBLEMS.append("%s: %s\n%s" % (self.dir, marker,
                                                           log[max(0, i - 200):i + 3000]))
                    break
            if rc not in (None, 0, -signal.SIGKILL) and not self.expect_failure:
                TERND_PROBLEMS.append("%s: ternd exited with %s; log tail:\n%s"
                                      % (self.dir, rc, self.log_tail(30)))
        if self in LIVE_TERNDS:
            LIVE_TERNDS.remove(self)
        if os.environ.get("TERN_KEEP_TMP"):
            print("# kept %s" % self.dir, flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def log(self):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError as e:
            return "(no log: %s)" % e

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    # -- helpers
    def ternctl(self, *args, stdin=None):
        return ternctl(["-c", self.conf] + list(args), stdin=stdin)

    def adduser(self, user, password):
        jid = user if "@" in user else "%s@%s" % (user, self.domain)
        r = self.ternctl("adduser", jid, password)
        check(r.returncode == 0, "ternctl adduser %s: exit %d\n%s%s" %
              (jid, r.returncode, r.stdout, r.stderr))
        return jid

    def client(self, **kw):
        kw.setdefault("domain", self.domain)
        kw.setdefault("host", self.host)
        return RawClient(self.port, **kw)

    def tls_client(self, **kw):
        kw.setdefault("domain", self.domain)
        kw.setdefault("host", self.host)
        return RawClient(self.tls_port, direct_tls=True, **kw)


def ternctl(args, stdin=None, timeout=30):
    """Run $TERN_BUILDDIR/ternctl ARGS; a CompletedProcess with text stdout/stderr."""
    return subprocess.run([binary("ternctl")] + list(args), input=stdin, capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, TERN_CONFIG=""))


def run_ternd(args, timeout=30):
    """Run $TERN_BUILDDIR/ternd ARGS to completion (--version, --check-config)."""
    return subprocess.run([binary("ternd")] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, TERN_CONFIG=""))


# --------------------------------------------------------------------------------------
# Raw XMPP client


class StreamReader:
    """Incremental expat reader of one XML stream (namespace aware).

    Events go to self.events: ("open", attrs), ("element", Element), ("close", None).
    Top-level children of the stream root become ElementTree elements named {ns}local.
    """

    def __init__(self):
        self.events = collections.deque()
        self.depth = 0
        self.stack = []
        self.root_tag = None
        self.root_attrs = {}
        self.p = xml.parsers.expat.ParserCreate(namespace_separator="}")
        self.p.buffer_text = True
        self.p.StartElementHandler = self._start
        self.p.EndElementHandler = self._end
        self.p.CharacterDataHandler = self._text

    @staticmethod
    def _name(n):
        return "{" + n if "}" in n else n

    def _start(self, name, attrs):
        tag = self._name(name)
        attrs = {self._name(k): v for k, v in attrs.items()}
        if self.depth == 0:
            self.root_tag = tag
            self.root_attrs = attrs
            self.events.append(("open", dict(attrs, tag=tag)))
        else:
            el = ET.Element(tag, attrs)
            if self.stack:
                self.stack[-1].append(el)
            self.stack.append(el)
        self.depth += 1

    def _end(self, name):
        self.depth -= 1
        if self.depth == 0:
            self.events.append(("close", None))
        else:
            el = self.stack.pop()
            if not self.stack:
                self.events.append(("element", el))

    def _text(self, data):
        if not self.stack:
            return
        el = self.stack[-1]
        if len(el):
            el[-1].tail = (el[-1].tail or "") + data
        else:
            el.text = (el.text or "") + data

    def feed(self, data):
        self.p.Parse(data, False)


class StreamClosed(Exception):
    pass


class XmppTimeout(AssertionError):
    pass


def b64(data):
    return base64.b64encode(data).decode("ascii")


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


def scram_client(mech, user, password, send_first, send_final):
    """RFC 5802 client. send_first(bytes) -> server-first bytes;
    send_final(bytes) -> (success, additional-data bytes) or raises. Returns the final result.
    """
    hname = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[mech]
    cnonce = b64(os.urandom(18))
    gs2 = "n,,"
    first_bare = "n=%s,r=%s" % (_saslname(user), cnonce)
    server_first = send_first((gs2 + first_bare).encode())
    attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    nonce, salt, iters = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
    check(nonce.startswith(cnonce), "server nonce does not extend the client nonce: %s"
          % server_first)
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, iters)
    client_key = hmac.new(salted, b"Client Key", hname).digest()
    stored_key = hashlib.new(hname, client_key).digest()
    final_wo_proof = "c=%s,r=%s" % (b64(gs2.encode()), nonce)
    auth_message = ",".join([first_bare, server_first.decode(), final_wo_proof]).encode()
    signature = hmac.new(stored_key, auth_message, hname).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", hname).digest()
    server_sig = hmac.new(server_key, auth_message, hname).digest()
    result = send_final(("%s,p=%s" % (final_wo_proof, b64(proof))).encode())
    return result, server_sig


class RawClient:
    """A blocking XMPP client speaking raw XML over a socket, for protocol-level tests."""

    def __init__(self, port, host=HOST, domain="localhost", timeout=5.0, direct_tls=False):
        self.host, self.port, self.domain, self.timeout = host, port, domain, timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.tls = False
        self.raw = bytearray()
        self.eof = False
        self.stream_closed = False
        self.stream_attrs = None
        self.features = None
        self.jid = None
        self.queue = collections.deque()
        self.reader = StreamReader()
        if direct_tls:
            self._wrap_tls()

    # -- transport
    def _wrap_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname=self.domain)
        self.tls = True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _read(self, deadline):
        """Read once (until deadline); feed the parser. False on timeout."""
        if self.eof:
            raise StreamClosed("connection closed by the server")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLZeroReturnError:
            data = b""
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError):
            data = b""
        if not data:
            self.eof = True
            return True
        self.raw += data
        self.reader.feed(data)
        while self.reader.events:
            kind, val = self.reader.events.popleft()
            if kind == "open":
                self.stream_attrs = val
            elif kind == "close":
                self.stream_closed = True
            else:
                self.queue.append(val)
        return True

    def wait_raw(self, regex, timeout=None):
        """Wait until the bytes received match regex (bytes or str); the match."""
        deadline = time.monotonic() + (timeout or self.timeout)
        rx = re.compile(regex.encode() if isinstance(regex, str) else regex)
        while True:
            m = rx.search(bytes(self.raw))
            if m:
                return m
            if self.eof or not self._read(deadline) and time.monotonic() >= deadline:
                raise XmppTimeout("no match for %r; received: %r" % (regex, bytes(self.raw)))

    def wait(self, match=None, timeout=None):
        """The first queued top-level element accepted by match (a Clark tag, a callable
        or None for any); it is removed from the queue, others stay. Raises StreamClosed
        when the stream ends before it comes, XmppTimeout after timeout."""
        if isinstance(match, str):
            tag = match
            match = lambda e: e.tag == tag  # noqa: E731
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for el in list(self.queue):
                if match is None or match(el):
                    self.queue.remove(el)
                    return el
            if self.stream_closed or self.eof:
                raise StreamClosed("stream closed while waiting; queued: %s; received: %r"
                                   % ([to_str(e) for e in self.queue], bytes(self.raw[-2000:])))
            if not self._read(deadline) and time.monotonic() >= deadline:
                raise XmppTimeout("timed out waiting; queued: %s; received: %r"
                                  % ([to_str(e) for e in self.queue], bytes(self.raw[-2000:])))

    def wait_stream_open(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.stream_attrs is None:
            if self.eof:
                raise StreamClosed("closed before a stream header; received %r" % bytes(self.raw))
            if not self._read(deadline) and time.monotonic() >= deadline:
                raise XmppTimeout("no stream header; received %r" % bytes(self.raw))
        return self.stream_attrs

    def wait_closed(self, timeout=None):
        """True when the server closes the TCP connection within timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            try:
                if not self._read(deadline) and time.monotonic() >= deadline:
                    return False
            except StreamClosed:
                break
            except xml.parsers.expat.ExpatError:
                self.reader = StreamReader()  # bytes after the stream's end: read on to EOF
        return True

    def stream_error(self, timeout=None):
        """Wait for <stream:error/>; the name of its condition (e.g. 'restricted-xml')."""
        el = self.wait(q(NS_STREAM, "error"), timeout)
        return error_condition(el, NS_STREAM_ERR), el

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- stream
    def header(self, to=None, ns=NS_CLIENT, version="1.0", from_=None, xml_decl=True):
        to = self.domain if to is None else to
        attrs = ""
        if to:
            attrs += " to=%s" % quoteattr(to)
        if from_:
            attrs += " from=%s" % quoteattr(from_)
        if version:
            attrs += " version=%s" % quoteattr(version)
        return ("%s<stream:stream%s xmlns=%s xmlns:stream='%s' xml:lang='en'>"
                % ("<?xml version='1.0'?>" if xml_decl else "", attrs, quoteattr(ns), NS_STREAM))

    def open_stream(self, **kw):
        """Send a stream header, wait for the server's and its <stream:features/>."""
        self.reader = StreamReader()
        self.stream_attrs = None
        self.stream_closed = False
        self.send(self.header(**kw))
        self.wait_stream_open()
        self.features = self.wait(q(NS_STREAM, "features"))
        return self.features

    def mechanisms(self):
        m = self.features.find(q(NS_SASL, "mechanisms")) if self.features is not None else None
        return [x.text for x in m.findall(q(NS_SASL, "mechanism"))] if m is not None else []

    def starttls(self):
        check(self.features is not None and
              self.features.find(q(NS_TLS, "starttls")) is not None,
              "no <starttls/> offered", self.features)
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.wait(lambda e: e.tag in (q(NS_TLS, "proceed"), q(NS_TLS, "failure")))
        check(el.tag == q(NS_TLS, "proceed"), "STARTTLS refused", el)
        self._wrap_tls()
        return self.open_stream()

    def connect(self):
        """Stream header, then STARTTLS unless already on TLS; the features."""
        self.open_stream()
        if not self.tls:
            self.starttls()
        return self.features

    # -- SASL
    def _sasl_step(self):
        return self.wait(lambda e: e.tag in (q(NS_SASL, "challenge"), q(NS_SASL, "success"),
                                             q(NS_SASL, "failure")))

    @staticmethod
    def _payload(el):
        t = (el.text or "").strip()
        return base64.b64decode(t) if t and t != "=" else b""

    def auth(self, mech, initial=None):
        """Send <auth/>; the server's answer (challenge, success or failure)."""
        body = "" if initial is None else (b64(initial) if initial else "=")
        self.send("<auth xmlns='%s' mechanism=%s>%s</auth>" % (NS_SASL, quoteattr(mech), body))
        return self._sasl_step()

    def sasl(self, user, password, mech="SCRAM-SHA-1"):
        """Authenticate; the <success/> or <failure/> element (SCRAM: server signature checked)."""
        if mech == "PLAIN":
            return self.auth("PLAIN", b"\0" + user.encode() + b"\0" + password.encode())
        state = {}

        class Early(Exception):
            pass

        def first(msg):
            el = self.auth(mech, msg)
            if el.tag != q(NS_SASL, "challenge"):
                state["early"] = el
                raise Early()
            return self._payload(el)

        def final(msg):
            self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, b64(msg)))
            el = self._sasl_step()
            if el.tag == q(NS_SASL, "challenge"):  # additional data as a challenge
                state["v"] = self._payload(el)
                self.send("<response xmlns='%s'/>" % NS_SASL)
                el = self._sasl_step()
            return el

        try:
            el, server_sig = scram_client(mech, user, password, first, final)
        except Early:
            return state["early"]
        if el.tag == q(NS_SASL, "success"):
            v = state.get("v") or self._payload(el)
            attrs = dict(kv.split("=", 1) for kv in v.decode().split(",") if "=" in kv)
            check("v" in attrs and base64.b64decode(attrs["v"]) == server_sig,
                  "SCRAM server signature missing or wrong: %r" % v, el)
        return el

    def login(self, user, password, mech="SCRAM-SHA-1", resource=None, bind=True):
        """TLS (if not yet), SASL, stream restart, bind; the bound full JID (or features)."""
        if self.features is None:
            self.connect()
        el = self.sasl(user, password, mech)
        check(el.tag == q(NS_SASL, "success"), "SASL %s failed for %s" % (mech, user), el)
        self.open_stream()
        if not bind:
            return self.features
        return self.bind(resource)

    def bind(self, resource=None):
        """Bind (and the legacy session if required); the full JID. Raises on an error."""
        res = "<resource>%s</resource>" % xml_escape(resource) if resource is not None else ""
        iq = self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, res), to=None)
        check(iq.get("type") == "result", "bind failed", iq)
        jid_el = iq.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        check(jid_el is not None and jid_el.text, "bind result without <jid/>", iq)
        self.jid = jid_el.text
        sess = self.features.find(q(NS_SESSION, "session"))
        if sess is not None and sess.find(q(NS_SESSION, "optional")) is None:
            r = self.iq("set", "<session xmlns='%s'/>" % NS_SESSION, to=None)
            check(r.get("type") == "result", "session failed", r)
        return self.jid

    def bind_raw(self, resource=None):
        """Bind without checking; the answer iq."""
        res = "<resource>%s</resource>" % xml_escape(resource) if resource is not None else ""
        return self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, res), to=None)

    # -- stanzas
    def available(self):
        """Initial presence; returns once the server reflected it (RFC 6121 §4.2.2)."""
        self.send("<presence/>")
        self.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == self.jid)

    def iq(self, type_, payload, to="", id_=None, timeout=None, from_=None):
        """Send an iq and wait for the result/error with the same id. to='' means the
        user's own server domain, None means no 'to'."""
        id_ = id_ or "iq-" + uuid.uuid4().hex[:10]
        if to == "":
            to = self.domain
        attrs = " type=%s id=%s" % (quoteattr(type_), quoteattr(id_))
        if to:
            attrs += " to=%s" % quoteattr(to)
        if from_:
            attrs += " from=%s" % quoteattr(from_)
        self.send("<iq%s>%s</iq>" % (attrs, payload))
        return self.wait(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == id_ and
                         e.get("type") in ("result", "error"), timeout)

    def message(self, to, body, type_="chat", id_=None):
        id_ = id_ or "m-" + uuid.uuid4().hex[:10]
        self.send("<message type=%s to=%s id=%s><body>%s</body></message>"
                  % (quoteattr(type_), quoteattr(to), quoteattr(id_), xml_escape(body)))
        return id_

    def wait_message(self, pred=None, timeout=None):
        return self.wait(lambda e: e.tag == q(NS_CLIENT, "message") and
                         (pred is None or pred(e)), timeout)

    def ping(self, to="", timeout=None):
        return self.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=to, timeout=timeout)


def error_condition(el, ns=NS_STANZA_ERR):
    """The defined condition in a stream error or in a stanza's <error/>; None if none."""
    if el is None:
        return None
    err = el if el.tag == q(NS_STREAM, "error") else el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None
    for child in err:
        if child.tag.startswith("{%s}" % ns) and local_name(child.tag) != "text":
            return local_name(child.tag)
    return None


def sasl_condition(el):
    """The condition in a SASL <failure/>."""
    for child in el:
        if child.tag.startswith("{%s}" % NS_SASL) and local_name(child.tag) != "text":
            return local_name(child.tag)
    return None


def register(client, username, password):
    """XEP-0077 §3.1 in-band registration over an unauthenticated (TLS) stream; the answer iq."""
    form = client.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=None)
    check(form.get("type") == "result", "registration form not served", form)
    return client.iq("set", "<query xmlns='%s'><username>%s</username><password>%s</password>"
                     "</query>" % (NS_REGISTER, xml_escape(username), xml_escape(password)),
                     to=None)


# --------------------------------------------------------------------------------------
# slixmpp


class SlixLoop:
    """An asyncio loop in a daemon thread where slixmpp clients live; call() runs a
    coroutine there and waits for its result from the test's (main) thread."""

    def __init__(self):
        import asyncio
        self.asyncio = asyncio
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="slixmpp", daemon=True)
        self.thread.start()
        self.clients = []

    def _run(self):
        self.asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro, timeout=20):
        fut = self.asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def call_soon(self, fn, *args):
        async def wrap():
            return fn(*args)
        return self.call(wrap())

    def client(self, jid, password, port, mech=None, direct_tls=False, plugins=("xep_0030",
               "xep_0199", "xep_0092"), timeout=20, channel_binding=False):
        """Create a slixmpp ClientXMPP, connect to 127.0.0.1:port (STARTTLS, or direct TLS),
        wait for session_start; a SlixClient. Raises with the reason when the login fails."""
        c = self.call(self._make(jid, password, mech, plugins, channel_binding), timeout)
        self.clients.append(c)
        c.connect(port, direct_tls, timeout)
        return c

    async def _make(self, jid, password, mech, plugins, channel_binding):
        return SlixClient(self, jid, password, mech, plugins, channel_binding)

    def shutdown(self):
        """Disconnect every client, cancel what is left on the loop, stop the thread."""
        async def close_all():
            asyncio = self.asyncio
            waits = []
            for c in self.clients:
                x = c.xmpp
                if x.transport is not None:
                    waits.append(x.disconnect(wait=0.5))
                else:
                    x.cancel_connection_attempt()
            if waits:
                await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=3)
            me = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not me]
            for t in rest:
                t.cancel()
            if rest:
                await asyncio.wait(rest, timeout=2)
        try:
            self.call(close_all(), timeout=10)
        except Exception:  # noqa: BLE001 - best effort at the end of a run
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class SlixClient:
    """A slixmpp ClientXMPP (created on the SlixLoop thread) and what it received."""

    def __init__(self, runner, jid, password, mech, plugins, channel_binding=False):
        import asyncio
        import queue
        import slixmpp
        self.runner = runner
        kw = {"sasl_mech": mech} if mech else {}
        self.xmpp = x = slixmpp.ClientXMPP(jid, password, **kw)
        x.loop = asyncio.get_running_loop()
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        for p in plugins:
            x.register_plugin(p)
        # COMPAT: slixmpp 1.8.3 offers tls-unique channel-binding data whenever it is on TLS,
        # so a non-PLUS SCRAM gets gs2 flag 'y' ("client supports channel binding, thinks the
        # server does not"), which a server that advertises SCRAM-*-PLUS must refuse
        # (RFC 5802 §6 downgrade rule); slixmpp ignores XEP-0440's advertised types. Present
        # slixmpp as a client without channel binding ('n'), as most clients are.
        fm = x['feature_mechanisms']
        creds = fm.sasl_callback

        def no_channel_binding(required, optional):
            result = creds(required, optional)
            if "channel_binding" in result:
                result["channel_binding"] = None
            return result
        if not channel_binding:
            fm.sasl_callback = no_channel_binding
        self.messages = queue.Queue()
        self.echo = False
        self.state = queue.Queue()
        self.failures = []
        x.add_event_handler("session_start", self._session_start)
        x.add_event_handler("failed_auth", self._failed_auth)
        x.add_event_handler("failed_all_auth", lambda e: self.state.put(("failed", e)))
        x.add_event_handler("no_auth", lambda e: self.state.put(("failed", "no_auth")))
        x.add_event_handler("connection_failed", lambda e: self.state.put(("failed", e)))
        x.add_event_handler("disconnected", lambda e: self.state.put(("disconnected", e)))
        x.add_event_handler("stream_error", lambda e: self.state.put(("stream_error", e)))
        x.add_event_handler("message", self._message)

    async def _session_start(self, event):
        self.xmpp.send_presence()
        self.state.put(("session_start", None))

    def _failed_auth(self, stanza):
        self.failures.append(stanza)
        self.state.put(("failed_auth", str(stanza)))

    def _message(self, msg):
        self.messages.put(msg)
        if self.echo and msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply("echo: %s" % msg["body"]).send()

    def connect(self, port, direct_tls, timeout):
        def go():
            self.xmpp.connect((HOST, port), use_ssl=direct_tls)
        self.runner.call_soon(go)
        deadline = time.monotonic() + timeout
        events = []
        while True:
            try:
                kind, val = self.state.get(timeout=max(0.1, deadline - time.monotonic()))
            except Exception:  # queue.Empty
                raise XmppTimeout("slixmpp %s: no session within %ss; events: %s"
                                  % (self.xmpp.boundjid, timeout, events))
            events.append((kind, str(val)[:500]))
            if kind == "session_start":
                return
            if kind in ("failed", "disconnected", "stream_error", "failed_auth"):
                self.disconnect()
                raise AssertionError("slixmpp %s login failed: %s" % (self.xmpp.boundjid, events))

    @property
    def jid(self):
        return str(self.xmpp.boundjid)

    def tls_version(self):
        """The TLS version of the connection (None when not on TLS)."""
        def get():
            t = self.xmpp.transport
            obj = t.get_extra_info("ssl_object") if t else None
            return obj.version() if obj is not None else None
        return self.runner.call_soon(get)

    def send_message(self, to, body, mtype="chat"):
        self.runner.call_soon(lambda: self.xmpp.send_message(mto=to, mbody=body, mtype=mtype))

    def wait_message(self, pred=None, timeout=10):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            try:
                m = self.messages.get(timeout=max(0.05, deadline - time.monotonic()))
            except Exception:  # queue.Empty
                raise XmppTimeout("%s: no matching message in %ss; got: %s"
                                  % (self.jid, timeout, [str(s) for s in seen]))
            if pred is None or pred(m):
                return m
            seen.append(m)
            if time.monotonic() > deadline:
                raise XmppTimeout("%s: no matching message; got: %s"
                                  % (self.jid, [str(s) for s in seen]))

    def iq(self, coro_fn, timeout=10):
        """Run an awaitable built on the loop thread (lambda: plugin call) and return it."""
        async def go():
            return await coro_fn()
        return self.runner.call(go(), timeout)

    def disconnect(self):
        def go():
            if self.xmpp.transport is not None:
                self.xmpp.disconnect(wait=0.5)
            else:
                self.xmpp.cancel_connection_attempt()
        try:
            self.runner.call_soon(go)
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------------------
# Federation: a test CA (openssl CLI), a loopback DNS server (dnsmasq), helpers for
# tests/integration/test_s2s_*.py


NS_SERVER = "jabber:server"
NS_DIALBACK = "jabber:server:dialback"
NS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"


def loopback_net():
    """A random 127.x.y. prefix for one test run: its servers get their own loopback
    addresses (standard ports usually free), and runs in parallel never collide."""
    import random
    return "127.%d.%d." % (random.randint(100, 254), random.randint(1, 254))


def die_with_parent():
    """preexec_fn: SIGTERM the child when the test process dies (no orphans after a kill)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def port_on(addr, preferred):
    """preferred when nobody listens on addr:preferred, else a free port on addr."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, preferred))
        return preferred
    except OSError:
        return free_port(addr)
    finally:
        s.close()


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))


class TestCA:
    """A throwaway CA made with the openssl CLI; issue() makes server certificates with
    subjectAltName DNS names (both TLS usages, as XMPP servers need)."""

    def __init__(self, folder):
        self.dir = folder
        os.makedirs(folder, exist_ok=True)
        self.key = os.path.join(folder, "ca.key")
        self.pem = os.path.join(folder, "ca.pem")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", self.pem, "-days", "2",
                 "-subj", "/CN=Tern Test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, domain, out_dir, names=None):
        """<out_dir>/<domain>.pem (leaf + CA) and .key; returns (pem, key)."""
        os.makedirs(out_dir, exist_ok=True)
        key = os.path.join(out_dir, domain + ".key")
        pem = os.path.join(out_dir, domain + ".pem")
        csr = os.path.join(self.dir, domain + ".csr")
        ext = os.path.join(self.dir, domain + ".ext")
        leaf = os.path.join(self.dir, domain + ".crt")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join("DNS:" + n for n in (names or [domain])))
            f.write("basicConstraints=critical,CA:FALSE\n")
            f.write("keyUsage=critical,digitalSignature,keyEncipherment\n")
            f.write("extendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + domain)
        _openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key,
                 "-CAcreateserial", "-out", leaf, "-days", "2", "-extfile", ext)
        with open(pem, "w") as out, open(leaf) as a, open(self.pem) as b:
            out.write(a.read() + b.read())
        os.chmod(key, 0o600)
        return pem, key


class Dnsmasq:
    """dnsmasq on 127.0.0.1:<free port>, authoritative for .test (never forwards):
    srv = [(service_domain, target, port)] e.g. ("_xmpp-server._tcp.a.test", "a.test", 5269),
    hosts = [(name, address)]. Stopped by pid."""

    def __init__(self, folder, srv=(), hosts=()):
        self.port = free_port()
        self.log_path = os.path.join(folder, "dnsmasq.log")
        args = ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--conf-file=/dev/null", "--pid-file=", "--user=root",
                "--port=%d" % self.port, "--listen-address=127.0.0.1", "--bind-interfaces",
                "--local=/test/", "--log-queries", "--log-facility=-"]
        # (service, target, port) or (service, target, port, priority)
        args += ["--srv-host=%s,%s,%d,%d,0" % (tuple(r) + (0,))[:4] for r in srv]
        args += ["--host-record=%s,%s" % h for h in hosts]
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsmasq exited: %s" % self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("dnsmasq did not start: %s" % self.log())
                time.sleep(0.05)

    @property
    def servers(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError as e:
            return str(e)

    def stop(self):
        stop_process(self.proc, 5)
        self._logf.close()


def s2s_ternd(domain, addr, s2s_port, dns, certs=None, ca_file="", extra=None):
    """A Ternd for domain (or a tuple of domains, the first one its main domain) with its
    client ports and s2s port on loopback address addr. certs: (pem, key) for the main
    domain, or {domain: (pem, key)}, instead of self-signed certificates."""
    domains = (domain,) if isinstance(domain, str) else tuple(domain)
    if certs and not isinstance(certs, dict):
        certs = {domains[0]: certs}
    conf = {
        "s2s": {"enabled": True, "listen": "%s:%d" % (addr, s2s_port),
                "dns_servers": dns, "ca_file": ca_file, "connect_timeout": 5},
        "server": {"self_signed": not certs},
    }
    for section, keys in (extra or {}).items():
        conf.setdefault(section, {}).update(keys)
    t = Ternd(extra=conf, domains=domains, direct_tls=False, host=addr)
    t.s2s_port = s2s_port
    for d, pair in (certs or {}).items():
        for src, ext in zip(pair, (".pem", ".key")):
            shutil.copy(src, os.path.join(t.certs_dir, d + ext))
    return t


def s2s_links(ternd):
    """`ternctl s2s` as a list of dicts (dir, local, remote, state, auth, tls, queued, age,
    via, stream, cert)."""
    r = ternd.ternctl("s2s")
    check(r.returncode == 0, "ternctl s2s failed: %s%s" % (r.stdout, r.stderr))
    rows = []
    names = ("dir", "local", "remote", "state", "auth", "tls", "queued", "age", "via", "stream",
             "cert")
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        if len(f) == len(names):
            rows.append(dict(zip(names, f)))
    return rows


def online_client(ternd, user, password, resource="res", domain=None):
    """A logged-in RawClient that sent its initial presence (so bare-JID messages reach it)."""
    domain = domain or ternd.domain
    ternd.adduser("%s@%s" % (user, domain), password)
    c = ternd.client(domain=domain)
    c.login(user, password, resource=resource)
    c.send("<presence/>")
    return c
