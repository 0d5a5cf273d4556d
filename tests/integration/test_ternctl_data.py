#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_ternctl_data.py — ternctl roster, roster-add, offline, export and
# import (XEP-0227) against running ternds: what ternctl writes, clients see; an export
# imported into a second ternd logs in with the same password and finds the same data.

import os
import shutil
import stat
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ternlib import (NS_CLIENT, NS_SASL, Ternd, XmppTimeout, check, error_condition, q,  # noqa: E402
                     run_tests)

NS_PIE = "urn:xmpp:pie:0"
NS_SCRAM = "urn:xmpp:pie:0#scram"
NS_ROSTER = "jabber:iq:roster"
NS_VCARD = "vcard-temp"
NS_PRIVATE = "jabber:iq:private"
NS_BLOCKING = "urn:xmpp:blocking"
PW = "data-pw-\u00e9"  # not ASCII: the SCRAM keys must survive the trip
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "gina")


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.t = Ternd().start()
    for u in USERS:
        ctx.t.adduser(u, PW)
    ctx.open = []
    ctx.tmp = tempfile.mkdtemp(prefix="ternctl-data-")
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    ctx.t.cleanup()
    shutil.rmtree(ctx.tmp, ignore_errors=True)


def out(r):
    return "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout.strip(), r.stderr.strip())


def ctl_ok(t, *args):
    r = t.ternctl(*args)
    check(r.returncode == 0, "ternctl %s: %s" % (" ".join(args), out(r)))
    return r


def login(ctx, t, user, resource=None, presence=False):
    c = t.client()
    ctx.open.append(c)
    c.login(user, PW, resource=resource)
    if presence:
        c.available()
    return c


def roster_get(c):
    r = c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to=None)
    check(r.get("type") == "result", "roster get failed", r)
    return {i.get("jid"): i for i in r.iter(q(NS_ROSTER, "item"))}


def item_state(item):
    return (item.get("name"), item.get("subscription"), item.get("ask"),
            sorted(g.text for g in item.findall(q(NS_ROSTER, "group"))))


def roster_lines(t, user):
    r = ctl_ok(t, "roster", user)
    return {line.split("\t")[0]: line.split("\t") for line in r.stdout.splitlines()}


def offline_count(t, user):
    return int(ctl_ok(t, "offline", user).stdout.split()[0])


def wait_offline(t, user, n, timeout=5.0):
    """Offline messages are committed once per loop turn: wait until n are stored."""
    deadline = time.monotonic() + timeout
    while True:
        got = offline_count(t, user)
        if got == n or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_roster_add_seen_by_client(ctx):
    """roster-add while ternd runs: the user's next roster get has the item."""
    ctl_ok(ctx.t, "roster-add", "alice@localhost", "bob@localhost", "Bobby", "Friends", "Work")
    c = login(ctx, ctx.t, "alice")
    items = roster_get(c)
    check("bob@localhost" in items, "the item added by ternctl is missing", *items.values())
    check(item_state(items["bob@localhost"]) == ("Bobby", "none", None, ["Friends", "Work"]),
          "item as added", items["bob@localhost"])
    c.close()


def test_roster_lists(ctx):
    """roster: one tab-separated line per visible item; roster-add replaces name and groups."""
    lines = roster_lines(ctx.t, "alice@localhost")
    check(lines.get("bob@localhost") == ["bob@localhost", "none", "-", "-", "Bobby", "Friends",
                                         "Work"], "roster line: %r" % lines)
    ctl_ok(ctx.t, "roster-add", "alice@localhost", "bob@localhost")
    lines = roster_lines(ctx.t, "alice@localhost")
    check(lines.get("bob@localhost") == ["bob@localhost", "none", "-", "-", ""],
          "name and groups replaced: %r" % lines)


def test_roster_add_keeps_subscription(ctx):
    """A pending incoming request is hidden until roster-add shows the item; the request and
    the subscription state stay."""
    carol = login(ctx, ctx.t, "carol", presence=True)
    carol.send("<presence to='alice@localhost' type='subscribe'/>")
    carol.ping()
    carol.close()
    check("carol@localhost" not in roster_lines(ctx.t, "alice@localhost"),
          "a pending-in only item is not listed")
    ctl_ok(ctx.t, "roster-add", "alice@localhost", "carol@localhost", "Carol")
    line = roster_lines(ctx.t, "alice@localhost").get("carol@localhost")
    check(line == ["carol@localhost", "none", "-", "pending-in", "Carol"],
          "pending-in kept: %r" % line)


def test_roster_errors(ctx):
    r = ctx.t.ternctl("roster", "nobody@localhost")
    check(r.returncode == 1 and "no account nobody@localhost" in r.stderr, out(r))
    r = ctx.t.ternctl("roster-add", "alice@localhost", "bob@localhost/phone")
    check(r.returncode == 2 and "bare JID" in r.stderr, out(r))
    r = ctx.t.ternctl("roster-add", "alice@localhost", "a@@b")
    check(r.returncode == 2 and "invalid contact" in r.stderr, out(r))
    r = ctx.t.ternctl("roster-add", "alice@localhost", "x@localhost", "X", "G", "G")
    check(r.returncode == 2 and "twice" in r.stderr, out(r))
    r = ctx.t.ternctl("roster", "alice@elsewhere.example")
    check(r.returncode == 2 and "not served" in r.stderr, out(r))
    r = ctx.t.ternctl("roster")
    check(r.returncode == 2 and "usage" in r.stderr, out(r))


def test_offline_count(ctx):
    """offline: the count of stored messages; -v lists key, from and the body's start."""
    check(offline_count(ctx.t, "bob@localhost") == 0, "nothing stored yet")
    sender = login(ctx, ctx.t, "gina", "g")
    bodies = ["first", "second\tline", "x" * 100]
    for b in bodies:
        sender.message("bob@localhost", b)
    sender.ping()
    n = wait_offline(ctx.t, "bob@localhost", 3)
    check(n == 3, "count after 3 messages to an offline user: %d" % n)
    r = ctl_ok(ctx.t, "offline", "-v", "bob@localhost")
    lines = r.stdout.splitlines()
    check(lines[0] == "3" and len(lines) == 4, out(r))
    rows = [line.split("\t") for line in lines[1:]]
    check([row[1] for row in rows] == [sender.jid] * 3, "from: %r" % rows)
    check([row[2] for row in rows] == ["first", "second\\tline", "x" * 60 + "..."],
          "bodies (escaped, cut at 60 characters): %r" % rows)
    check(rows == sorted(rows), "oldest first: %r" % rows)
    r = ctx.t.ternctl("offline", "nobody@localhost")
    check(r.returncode == 1, out(r))
    sender.close()


def vcard_set(c, fn):
    """Publish a vCard (XEP-0054); False when the server has no vcard-temp (yet)."""
    r = c.iq("set", "<vCard xmlns='%s'><FN>%s</FN></vCard>" % (NS_VCARD, fn), to=None)
    return r.get("type") == "result"


def test_export_import_round_trip(ctx):
    """dave's roster (with ask and a pending request), offline messages and vCard, exported
    and imported into a second ternd: same password, same roster, the messages in order."""
    t = ctx.t
    ctl_ok(t, "roster-add", "dave@localhost", "bob@localhost", "Bob <B&B>", "Friends")
    dave = login(ctx, t, "dave", "d", presence=True)
    dave.send("<presence to='frank@localhost' type='subscribe'/>")  # frank offline: ask
    has_vcard_module = vcard_set(dave, "Dave D.")
    before = roster_get(dave)
    dave.close()
    erin = login(ctx, t, "erin", "e", presence=True)
    erin.send("<presence to='dave@localhost' type='subscribe'/>")  # pending in for dave
    bodies = ["offline %d \u263a & <b>" % i for i in range(3)]
    for b in bodies:
        erin.message("dave@localhost", b)
    erin.ping()
    check(wait_offline(t, "dave@localhost", 3) == 3, "3 offline messages for dave")
    erin.close()

    path = os.path.join(ctx.tmp, "dave.xml")
    ctl_ok(t, "export", "dave@localhost", path)
    ctx.dave_path = path  # for the --force test, whatever fails below
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600, "the export is private (0600)")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    check(text.startswith("<?xml version='1.0' encoding='UTF-8'?>"), "XML declaration")
    check(PW not in text and "password" not in text, "no password in the export")
    doc = ET.fromstring(text)
    user = doc.find("%s/%s" % (q(NS_PIE, "host"), q(NS_PIE, "user")))
    check(doc.tag == q(NS_PIE, "server-data") and user is not None and
          user.get("name") == "dave", "server-data/host/user", doc)
    mechs = sorted(s.get("mechanism") for s in user.findall(q(NS_SCRAM, "scram-credentials")))
    check(mechs == ["SCRAM-SHA-1", "SCRAM-SHA-256"], "SCRAM credentials: %r" % mechs)
    items = {i.get("jid"): i for i in user.iter(q(NS_ROSTER, "item"))}
    check(item_state(items["frank@localhost"]) == (None, "none", "subscribe", []),
          "ask kept", items["frank@localhost"])
    check("erin@localhost" not in items, "a pending-in only contact is not a roster item", user)
    pres = user.findall(q(NS_CLIENT, "presence"))
    check([(p.get("from"), p.get("type")) for p in pres] == [("erin@localhost", "subscribe")],
          "pending-in as <presence type='subscribe'/> (XEP-0227)", user)
    msgs = user.findall("%s/%s" % (q(NS_PIE, "offline-messages"), q(NS_CLIENT, "message")))
    check([m.findtext(q(NS_CLIENT, "body")) for m in msgs] == bodies, "offline messages", user)
    if has_vcard_module:
        check(user.find(q(NS_VCARD, "vCard")) is not None, "vCard exported", user)
    else:  # no mod_vcard yet: the vCard reaches storage through the import instead
        ctx.vcard_via_import = True
        v = ET.SubElement(user, q(NS_VCARD, "vCard"))
        ET.SubElement(v, q(NS_VCARD, "FN")).text = "Dave D."
        with open(path, "w", encoding="utf-8") as f:
            f.write(ET.tostring(doc, encoding="unicode"))

    with Ternd() as t2:
        r = ctl_ok(t2, "import", path)
        check("dave@localhost: imported: 2 roster items, 3 offline messages, vCard" in r.stdout,
              out(r))
        for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"):
            with t2.client() as c:
                c.connect()
                el = c.sasl("dave", PW, mech)
                check(el.tag == q(NS_SASL, "success"), "%s login after import" % mech, el)
        d2 = t2.client()
        ctx.open.append(d2)
        d2.login("dave", PW, resource="new")
        after = roster_get(d2)
        check({j: item_state(i) for j, i in after.items()} ==
              {j: item_state(i) for j, i in before.items()}, "the same roster",
              *list(after.values()) + list(before.values()))
        d2.send("<presence/>")
        got = [d2.wait_message().findtext(q(NS_CLIENT, "body")) for _ in bodies]
        check(got == bodies, "offline messages in order: %r" % got)
        req = d2.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and
                      e.get("type") == "subscribe")
        check(req.get("from") == "erin@localhost", "the pending request comes again", req)
        if has_vcard_module:
            r = d2.iq("get", "<vCard xmlns='%s'/>" % NS_VCARD, to=None)
            check(r.findtext("%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN"))) == "Dave D.",
                  "vCard after import", r)
        d2.close()
        again = ET.fromstring(ctl_ok(t2, "export", "dave@localhost").stdout)
        fn = again.find(".//%s/%s" % (q(NS_VCARD, "vCard"), q(NS_VCARD, "FN")))
        check(fn is not None and fn.text == "Dave D.", "the vCard is stored", again)
        check(len(again.findall(".//" + q(NS_CLIENT, "message"))) == 0,
              "delivered messages left storage", again)


def test_import_existing_needs_force(ctx):
    """An existing account: exit 1 and nothing changes; --force overwrites it."""
    path = ctx.dave_path
    r = ctx.t.ternctl("import", path)
    check(r.returncode == 1 and "dave@localhost exists" in r.stderr and
          "nothing imported" in r.stderr, out(r))
    r = ctx.t.ternctl("import", "--force", path)
    check(r.returncode == 0, out(r))
    check(offline_count(ctx.t, "dave@localhost") == 3, "the file's 3 messages (old ones gone)")
    c = login(ctx, ctx.t, "dave", "after-force")
    check(set(roster_get(c)) == {"bob@localhost", "frank@localhost"}, "roster after --force")
    c.close()


BAD_FILES = {
    "truncated": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>", "line 1"),
    "comment": ("<server-data xmlns='urn:xmpp:pie:0'><!-- x --></server-data>", "comment"),
    "wrong root": ("<data xmlns='urn:x'/>", "not <server-data"),
    "no users": ("<server-data xmlns='urn:xmpp:pie:0'/>", "no <user/>"),
    "host not served": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='other.example'>"
                        "<user name='zed' password='p'/></host></server-data>", "not served"),
    "no credentials": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>"
                       "<user name='zed'/></host></server-data>", "no credentials"),
    "bad subscription": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>"
                         "<user name='zed' password='p'><query xmlns='jabber:iq:roster'>"
                         "<item jid='a@localhost' subscription='remove'/></query></user></host>"
                         "</server-data>", "subscription 'remove'"),
    "bad base64": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>"
                   "<user name='zed'><scram-credentials xmlns='urn:xmpp:pie:0#scram' "
                   "mechanism='SCRAM-SHA-1'><iter-count>4096</iter-count><salt>!!</salt>"
                   "</scram-credentials></user></host></server-data>", "not base64"),
    "xinclude": ("<server-data xmlns='urn:xmpp:pie:0'><host jid='localhost'>"
                 "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='u.xml'/>"
                 "</host></server-data>", "XInclude"),
}


def test_import_malformed(ctx):
    """A bad file: exit 2 naming the file and what is wrong; no account is created."""
    for name, (text, why) in BAD_FILES.items():
        path = os.path.join(ctx.tmp, "bad-%s.xml" % name.replace(" ", "-"))
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        r = ctx.t.ternctl("import", path)
        check(r.returncode == 2 and path in r.stderr and why in r.stderr,
              "%s: %s" % (name, out(r)))
    r = ctx.t.ternctl("import", os.path.join(ctx.tmp, "missing.xml"))
    check(r.returncode == 2, out(r))
    check("zed@localhost" not in ctl_ok(ctx.t, "listusers").stdout.split(), "no zed created")


def test_import_password_private_blocklist(ctx):
    """A XEP-0227 file from elsewhere: a plaintext password (derived, never stored), private
    XML and a blocklist; exported again, with SCRAM keys instead of the password."""
    path = os.path.join(ctx.tmp, "henry.xml")
    with open(path, "w", encoding="utf-8") as f:
        f.write("<?xml version='1.0' encoding='UTF-8'?>\n"
                "<server-data xmlns='urn:xmpp:pie:0'>\n <host jid='localhost'>\n"
                "  <user name='Henry' password='h-pass'>\n"
                "   <query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
                "<conference jid='room@conf.example' autojoin='true'/></storage></query>\n"
                "   <blocklist xmlns='urn:xmpp:blocking'><item jid='spam@example.net'/>"
                "</blocklist>\n"
                "   <query xmlns='jabber:iq:privacy'/>\n"
                "  </user>\n </host>\n</server-data>\n")
    r = ctl_ok(ctx.t, "import", path)
    check("henry@localhost: imported" in r.stdout and "1 private XML, 1 blocked" in r.stdout,
          out(r))
    check("skipped <query xmlns='jabber:iq:privacy'/>" in r.stderr, "the skip is reported: " +
          out(r))
    with ctx.t.client() as c:
        c.connect()
        el = c.sasl("henry", "h-pass", "SCRAM-SHA-256")
        check(el.tag == q(NS_SASL, "success"), "login with the imported password", el)
    doc = ET.fromstring(ctl_ok(ctx.t, "export", "henry@localhost").stdout)
    user = doc.find(".//" + q(NS_PIE, "user"))
    check(user.get("password") is None, "never a password in an export", user)
    conf = user.find(".//{storage:bookmarks}conference")
    check(conf is not None and conf.get("jid") == "room@conf.example", "private XML", user)
    item = user.find("%s/%s" % (q(NS_BLOCKING, "blocklist"), q(NS_BLOCKING, "item")))
    check(item is not None and item.get("jid") == "spam@example.net", "blocklist", user)


def test_export_errors(ctx):
    r = ctx.t.ternctl("export", "nobody@localhost")
    check(r.returncode == 1 and "no account" in r.stderr, out(r))
    r = ctx.t.ternctl("export")
    check(r.returncode == 2, out(r))


TESTS = [
    ("roster-add: a logged-in client's roster get shows the item", test_roster_add_seen_by_client),
    ("roster lists items; roster-add replaces name and groups", test_roster_lists),
    ("roster-add keeps the subscription state", test_roster_add_keeps_subscription),
    ("roster/roster-add errors and exit codes", test_roster_errors),
    ("offline counts and lists stored messages", test_offline_count),
    ("export -> import into a second ternd: password, roster, offline, vCard",
     test_export_import_round_trip),
    ("import of an existing account needs --force", test_import_existing_needs_force),
    ("a malformed import file exits 2 with the reason", test_import_malformed),
    ("import of a password, private XML and a blocklist", test_import_password_private_blocklist),
    ("export errors", test_export_errors),
]

if __name__ == "__main__":
    run_tests(TESTS, setup, teardown)
