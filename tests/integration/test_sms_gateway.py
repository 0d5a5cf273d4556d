#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
# tests/integration/test_sms_gateway.py — tern-sms between ternd and an SMSC simulator that
# speaks real SMPP 3.4 PDUs (tests/integration/smsc/smsc.py, in this process): registration
# with the allow list, contacts whose presence follows the SMSC link, XMPP -> SMS in GSM-7,
# UCS-2 and concatenated, SMS -> XMPP (concatenated, out of order, a duplicate part),
# XEP-0184 receipts from delivery receipts, the SMSC down and up (queued SMS sent once, also
# across a gateway restart), throttling then success, a refused destination, a wrong
# password with retries, offline storage, the rate limit. Loopback only; every process is
# started here and stopped by pid.

import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from xml.sax.saxutils import escape as xml_escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "smsc"))
from ternlib import (HOST, NS_CLIENT, NS_DISCO_INFO, NS_REGISTER, TERND_PROBLEMS, Ternd,  # noqa: E402
                     binary, check, error_condition, q, read_text, run_tests, scan_log,
                     stop_process, ctx_login)
import smsc as smpp  # noqa: E402

GW = "sms.localhost"
SECRET = "sms-secret"
PW = "secret-pw"
SYSTEM_ID, SMPP_PW = "tern", "smpp-pw"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_DATA = "jabber:x:data"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ALICE_NUM, BOB_NUM, CAROL_NUM = "+15551110000", "+15552220000", "+15553330000"
PHONE = "+15557654321"
PHONE_JID = PHONE + "@" + GW


class Ctx:
    pass


def write_gateway_conf(ctx, path=None, password=SMPP_PW):
    with open(path or ctx.gw_conf, "w") as f:
        f.write("[component]\ndomain = %s\nsecret = %s\nhost = %s\nport = %d\n"
                "reconnect_min_ms = 100\nreconnect_max_ms = 1000\n"
                "[smsc]\nhost = %s\nport = %d\nsystem_id = %s\npassword = %s\n"
                "system_type = test\nreconnect_min_ms = 200\nreconnect_max_ms = 1600\n"
                "enquire_link_s = 2\nresponse_timeout_s = 5\nthrottle_delay_ms = 300\n"
                "[sms]\ndata_dir = %s\nrate_per_minute = 2\nrate_burst = 14\n"
                "reassembly_timeout_s = 60\n"
                "[allow alice@localhost]\nnumbers = %s\n[allow bob@localhost]\nnumbers = %s\n"
                "[allow carol@localhost]\nnumbers = *\n"
                % (GW, SECRET, HOST, ctx.t.component_port, HOST, ctx.smsc.port, SYSTEM_ID,
                   password, os.path.join(ctx.dir, "gw-data"), ALICE_NUM, BOB_NUM))


def start_gateway(ctx):
    log = open(os.path.join(ctx.dir, "tern-sms.log"), "ab")
    ctx.gw = subprocess.Popen([binary("transports/sms/tern-sms"), "-c", ctx.gw_conf],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                              env=dict(os.environ,
                                       G_MESSAGES_DEBUG=os.environ.get("TERN_SMS_DEBUG", "")))
    log.close()
    c = ctx.t.client()
    c.login("dave", PW)
    deadline = time.monotonic() + 15
    while True:
        r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=GW)
        if r.get("type") == "result":
            break
        check(ctx.gw.poll() is None and time.monotonic() < deadline,
              "tern-sms does not serve %s; log:\n%s"
              % (GW, read_text(ctx.dir, "tern-sms.log")[-3000:]))
        time.sleep(0.2)
    c.close()


def stop_gateway(ctx):
    rc = stop_process(ctx.gw)
    if rc != 0:
        TERND_PROBLEMS.append("tern-sms exited with %s; log:\n%s"
                              % (rc, read_text(ctx.dir, "tern-sms.log")[-3000:]))
    ctx.gw = None


def setup():
    ctx = Ctx()
    ctx.t = Ternd(extra={"component " + GW: {"secret": SECRET}}).start()
    for u in ("alice", "bob", "carol", "dave"):
        ctx.t.adduser(u, PW)
    ctx.dir = tempfile.mkdtemp(prefix="tern-sms-", dir=ctx.t.dir)
    ctx.smsc = smpp.Smsc(HOST, SYSTEM_ID, SMPP_PW).start()
    ctx.gw = None
    ctx.gw_conf = os.path.join(ctx.dir, "tern-sms.conf")
    ctx.open = []
    write_gateway_conf(ctx)
    start_gateway(ctx)
    ctx.smsc.bound_link()
    return ctx


def teardown(ctx):
    if ctx is None:
        return
    for c in ctx.open:
        c.close()
    if ctx.gw is not None:
        stop_gateway(ctx)
    scan_log("tern-sms", read_text(ctx.dir, "tern-sms.log"))
    ctx.smsc.stop()
    ctx.t.cleanup()


# --------------------------------------------------------------------------------------
# helpers


def login(ctx, user):
    return ctx_login(ctx, user, PW)


def register(c, phone):
    return c.iq("set", "<query xmlns='%s'><phone>%s</phone></query>"
                % (NS_REGISTER, xml_escape(phone)), to=GW)


def presence_from(frm, type_=None):
    def m(e):
        return (e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm and
                e.get("type") == type_)
    return m


def body(e):
    b = e.find(q(NS_CLIENT, "body"))
    return b.text if b is not None else None


def error_text(e):
    t = e.find("%s/%s" % (q(NS_CLIENT, "error"), q(NS_STANZAS, "text")))
    return t.text if t is not None else ""


def send_sms(c, to, text, receipt=False):
    id_ = "m-" + uuid.uuid4().hex[:8]
    c.send("<message type='chat' to='%s' id='%s'><body>%s</body>%s</message>"
           % (to, id_, xml_escape(text),
              "<request xmlns='%s'/>" % NS_RECEIPTS if receipt else ""))
    return id_


def submits_with(ctx, text):
    return [s for s in ctx.smsc.submits if s["text"] == text]


def wait_submit_text(ctx, text, status=smpp.ESME_ROK, timeout=15):
    ctx.smsc.wait_for(lambda: any(s["status"] == status for s in submits_with(ctx, text)),
                      timeout, "submit_sm of %r" % text)
    return [s for s in submits_with(ctx, text) if s["status"] == status][0]


# --------------------------------------------------------------------------------------
# tests


def test_check_config(ctx):
    r = subprocess.run([binary("transports/sms/tern-sms"), "--check-config", "-c", ctx.gw_conf],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0 and "OK" in r.stdout, "a good config: %s%s" % (r.stdout, r.stderr))
    bad = os.path.join(ctx.dir, "bad.conf")
    write_gateway_conf(ctx, bad, password="far-too-long")
    r = subprocess.run([binary("transports/sms/tern-sms"), "--check-config", "-c", bad],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "password" in r.stderr and "8 characters" in r.stderr,
          "a password SMPP cannot carry: %s%s" % (r.stdout, r.stderr))
    with open(bad, "a") as f:
        f.write("[allow mallory@localhost]\nnumbers = 555\n")
    r = subprocess.run([binary("transports/sms/tern-sms"), "--check-config", "-c", bad],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1, "bad config exits 1: %s" % r.stderr)


def test_disco_and_form(ctx):
    c = login(ctx, "alice")
    ctx.alice = c
    r = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=GW)
    ident = r.find(".//" + q(NS_DISCO_INFO, "identity"))
    check(ident is not None and ident.get("category") == "gateway" and
          ident.get("type") == "sms", "XEP-0100 identity gateway/sms", r)
    feats = {f.get("var") for f in r.findall(".//" + q(NS_DISCO_INFO, "feature"))}
    check({NS_REGISTER, NS_RECEIPTS} <= feats, "features", r)
    r = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=GW)
    field = [f for f in r.iter(q(NS_DATA, "field")) if f.get("var") == "phone"]
    check(field and field[0].find(q(NS_DATA, "required")) is not None,
          "the form asks for the phone number (required)", r)
    check(r.find(".//" + q(NS_REGISTER, "phone")) is not None, "and the XEP-0077 <phone/>", r)


def test_registration_allow_list(ctx):
    b = login(ctx, "bob")
    r = register(b, "+15559990000")
    check(r.get("type") == "error" and error_condition(r) == "not-authorized",
          "a number not in bob's [allow] entry: not-authorized", r)
    r = register(b, "12345")
    check(r.get("type") == "error" and error_condition(r) == "not-acceptable",
          "not an E.164 number: not-acceptable", r)
    d = login(ctx, "dave")
    r = register(d, "+15554440000")
    check(error_condition(r) == "not-authorized", "dave is not in [allow] at all", r)
    send_sms(d, PHONE_JID, "unregistered")
    e = d.wait_message(lambda m: m.get("type") == "error")
    check(error_condition(e) == "registration-required", "sending needs a registration", e)
    a = ctx.alice
    r = register(a, "+1 (555) 111-0000")
    check(r.get("type") == "result", "alice registers her allowed number", r)
    a.wait(presence_from(GW, "subscribe"))  # XEP-0100 §4.1.1: the gateway asks
    r = a.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to=GW)
    phone = r.find(".//" + q(NS_REGISTER, "phone"))
    check(r.find(".//" + q(NS_REGISTER, "registered")) is not None and phone is not None and
          phone.text == ALICE_NUM, "registered, the number stored in E.164", r)
    r = register(b, ALICE_NUM)
    check(error_condition(r) in ("not-authorized", "not-acceptable"),
          "bob cannot take alice's number", r)


def test_contact_presence(ctx):
    a = ctx.alice
    a.send("<presence type='subscribe' to='%s'/>" % PHONE_JID)
    a.wait(presence_from(PHONE_JID, "subscribed"))
    p = a.wait(presence_from(PHONE_JID))
    check(p.get("type") is None, "the contact is available while the SMSC link is up", p)


def test_xmpp_to_sms_ascii(ctx):
    a = ctx.alice
    send_sms(a, PHONE_JID, "Hello SMS world {€}")
    s = wait_submit_text(ctx, "Hello SMS world {€}")
    check(s["data_coding"] == 0 and s["esm_class"] == 0 and s["udh"] is None,
          "GSM 03.38, one part: %s" % s)
    check(s["source_addr"] == ALICE_NUM[1:] and s["source_addr_ton"] == 1 and
          s["source_addr_npi"] == 1, "source: alice's number, international/ISDN: %s" % s)
    check(s["destination_addr"] == PHONE[1:] and s["dest_addr_ton"] == 1,
          "destination: %s" % s)
    check(s["registered_delivery"] == 0, "no receipt asked: %s" % s)


def test_xmpp_to_sms_unicode(ctx):
    text = "Привет, мир! 😀"
    send_sms(ctx.alice, PHONE_JID, text)
    s = wait_submit_text(ctx, text)
    check(s["data_coding"] == 8 and s["payload"] == text.encode("utf-16-be"),
          "UCS-2 (UTF-16BE): %s" % s)


def test_xmpp_to_sms_concatenated(ctx):
    text = "".join("%03d-" % i for i in range(75))  # 300 characters
    n = len(ctx.smsc.submits)
    send_sms(ctx.alice, PHONE_JID, text)
    ctx.smsc.wait_submits(n + 2)
    parts = ctx.smsc.submits[n:n + 2]
    for i, p in enumerate(parts):
        udh = p["udh"]
        check(p["esm_class"] & 0x40 and udh is not None and len(udh) == 6 and
              udh[:3] == b"\x05\x00\x03" and udh[4] == 2 and udh[5] == i + 1,
              "part %d: UDHI and an 8-bit concatenation IE: %s" % (i + 1, p))
    check(parts[0]["udh"][3] == parts[1]["udh"][3], "one reference for both parts")
    check(len(parts[0]["payload"]) == 153, "153 septets in the first part")
    check(parts[0]["text"] + parts[1]["text"] == text, "the text in order")


def test_sms_to_xmpp(ctx):
    a = ctx.alice
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], smpp.gsm_encode("Hi from the phone €"))
    check(st == smpp.ESME_ROK, "deliver_sm_resp OK: %s" % st)
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID)
    check(body(m) == "Hi from the phone €" and m.get("type") == "chat", "as chat", m)
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], b"bell\x07 and \x1b", data_coding=1)
    check(st == smpp.ESME_ROK, "IA5 with control characters accepted: %s" % st)
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID)
    check(body(m) == "bell\ufffd and \ufffd", "controls XML cannot carry are replaced", m)
    st = ctx.smsc.deliver(PHONE[1:], "15550000001", b"nobody")
    check(st == smpp.ESME_RINVDSTADR, "an unregistered number is refused: %s" % st)


def test_sms_to_xmpp_concatenated(ctx):
    a = ctx.alice
    one, two = "First half of a long text, ", "and the second half."
    udh = lambda seq: bytes([5, 0, 3, 0x42, 2, seq])  # noqa: E731
    for seq, text in ((2, two), (1, one), (2, two)):  # out of order, then a duplicate
        st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], udh(seq) + smpp.gsm_encode(text),
                              esm_class=0x40)
        check(st == smpp.ESME_ROK, "part %d accepted: %s" % (seq, st))
    uni = "Ünïcödé in two parts: 日本語"
    raw = uni.encode("utf-16-be")
    for seq, chunk in ((1, raw[:20]), (2, raw[20:])):
        hdr = bytes([6, 8, 4, 0x12, 0x34, 2, seq])  # 16-bit reference
        ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], hdr + chunk, data_coding=8, esm_class=0x40)
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID)
    check(body(m) == one + two, "reassembled once", m)
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID)
    check(body(m) == uni, "UCS-2 with a 16-bit reference reassembled (no duplicate first)", m)


def test_sms_parts_across_restart(ctx):
    """A part acknowledged before a gateway restart is kept (LMDB) and joined after it."""
    a = ctx.alice
    udh = lambda seq: bytes([5, 0, 3, 0x77, 2, seq])  # noqa: E731
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], udh(1) + smpp.gsm_encode("kept over "),
                          esm_class=0x40)
    check(st == smpp.ESME_ROK, "part 1 acknowledged: %s" % st)
    stop_gateway(ctx)
    start_gateway(ctx)
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], udh(2) + smpp.gsm_encode("a restart"),
                          esm_class=0x40, timeout=20)
    check(st == smpp.ESME_ROK, "part 2 acknowledged: %s" % st)
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID)
    check(body(m) == "kept over a restart", "reassembled across the restart", m)


def test_delivery_receipt(ctx):
    a = ctx.alice
    id_ = send_sms(a, PHONE_JID, "please confirm", receipt=True)
    s = wait_submit_text(ctx, "please confirm")
    check(s["registered_delivery"] == 1, "registered_delivery asked: %s" % s)
    m = a.wait_message(lambda e: e.find(q(NS_RECEIPTS, "received")) is not None)
    check(m.get("from") == PHONE_JID and
          m.find(q(NS_RECEIPTS, "received")).get("id") == id_,
          "XEP-0184 <received/> with the message's id", m)


def test_smsc_down_then_up(ctx):
    """Queued while the SMSC is down (also across a gateway restart), sent once after."""
    a = ctx.alice
    ctx.smsc.stop()
    p = a.wait(presence_from(PHONE_JID, "unavailable"))
    check("SMSC" in (p.findtext(q(NS_CLIENT, "status")) or ""), "unavailable, saying why", p)
    send_sms(a, PHONE_JID, "queued one")
    a.ping(to=GW)  # the gateway has handled it
    stop_gateway(ctx)  # a restart while the message waits in LMDB
    start_gateway(ctx)
    send_sms(a, PHONE_JID, "queued two")
    a.ping(to=GW)
    check(not submits_with(ctx, "queued one") and not submits_with(ctx, "queued two"),
          "nothing sent while the SMSC is down")
    ctx.smsc.start()  # same port
    wait_submit_text(ctx, "queued one")
    wait_submit_text(ctx, "queued two")
    a.wait(presence_from(PHONE_JID), timeout=15)
    send_sms(a, PHONE_JID, "after the restart")
    wait_submit_text(ctx, "after the restart")
    check(len(submits_with(ctx, "queued one")) == 1 and len(submits_with(ctx, "queued two")) == 1,
          "each queued SMS exactly once: %s" % [s["text"] for s in ctx.smsc.submits[-6:]])
    i1 = ctx.smsc.submits.index(submits_with(ctx, "queued one")[0])
    i2 = ctx.smsc.submits.index(submits_with(ctx, "queued two")[0])
    check(i1 < i2, "in the order they were written")


def test_throttling(ctx):
    ctx.smsc.next_status = [smpp.ESME_RTHROTTLED]
    send_sms(ctx.alice, PHONE_JID, "slow down")
    wait_submit_text(ctx, "slow down")
    statuses = [s["status"] for s in submits_with(ctx, "slow down")]
    check(statuses == [smpp.ESME_RTHROTTLED, smpp.ESME_ROK],
          "ESME_RTHROTTLED, then sent again and accepted: %s" % statuses)


def test_smsc_error(ctx):
    a = ctx.alice
    ctx.smsc.next_status = [smpp.ESME_RINVDSTADR]
    id_ = send_sms(a, PHONE_JID, "to a bad number")
    e = a.wait_message(lambda m: m.get("type") == "error" and m.get("id") == id_)
    check(e.get("from") == PHONE_JID and error_condition(e) == "item-not-found" and
          "ESME_RINVDSTADR" in error_text(e), "a clear error reply", e)
    check(len(submits_with(ctx, "to a bad number")) == 1, "a permanent error is not retried")


def test_wrong_password(ctx):
    a = ctx.alice
    ctx.smsc.stop()
    a.wait(presence_from(PHONE_JID, "unavailable"))
    n = len(ctx.smsc.binds)
    ctx.smsc.password = "changed"
    ctx.smsc.start()
    ctx.smsc.wait_for(lambda: len(ctx.smsc.binds) >= n + 3, 20, "3 refused binds")
    refused = ctx.smsc.binds[n:n + 3]
    check(all(b["status"] == smpp.ESME_RINVPASWD for b in refused), "refused: %s" % refused)
    gaps = [refused[i + 1]["time"] - refused[i]["time"] for i in range(2)]
    check(all(g >= 0.09 for g in gaps), "not retried at once (backoff): %s" % gaps)
    p = a.wait(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == PHONE_JID and
               "invalid password" in (e.findtext(q(NS_CLIENT, "status")) or ""), timeout=10)
    check(p.get("type") == "unavailable", "the contact tells why the link is down", p)
    ctx.smsc.password = SMPP_PW  # the operator fixes it: the next retry binds
    p = a.wait(presence_from(PHONE_JID), timeout=20)
    check(p.get("type") is None, "available again", p)


def test_offline_storage(ctx):
    a = ctx.alice
    a.send("<presence type='unavailable'/></stream:stream>")
    check(a.wait_closed(10), "ternd ended alice's only session")
    a.close()
    ctx.open.remove(a)
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], smpp.gsm_encode("while you were away"))
    check(st == smpp.ESME_ROK, "accepted: %s" % st)
    a = login(ctx, "alice")
    ctx.alice = a
    m = a.wait_message(lambda e: e.get("from") == PHONE_JID and body(e) == "while you were away")
    check(m.find("{urn:xmpp:delay}delay") is not None, "from offline storage (delayed)", m)


def test_malformed_pdus(ctx):
    """Bad PDUs from the SMSC get an SMPP error or end the link (then rebound), no crash."""
    link = ctx.smsc.bound_link()
    base = (smpp.cstr("") + bytes([1, 1]) + smpp.cstr(PHONE[1:]) + bytes([1, 1]) +
            smpp.cstr(ALICE_NUM[1:]) + bytes([0, 0, 0]) + smpp.cstr("") + smpp.cstr("") +
            bytes([0, 0, 0, 0, 2]) + b"ok")
    st = link.request(smpp.DELIVER_SM, base + struct.pack(">HHH", 0x020E, 2, 5))
    check(st == 0x01, "a TLV of the wrong length: ESME_RINVMSGLEN, got %s" % st)
    st = link.request(smpp.DELIVER_SM, smpp.cstr("") + bytes([1, 1]) + b"9" * 30)
    check(st == 0x01, "an address without its NUL: ESME_RINVMSGLEN, got %s" % st)
    st = link.request(0x00000103, b"")  # data_sm: not supported
    check(st == smpp.ESME_RINVCMDID, "an unsupported command: generic_nack, got %s" % st)
    n = len(ctx.smsc.binds)
    link.send(b"\x00\x00\x00\x05junk")  # command_length below 16: not SMPP any more
    ctx.smsc.wait_for(lambda: len(ctx.smsc.binds) > n, 15, "a new bind")
    st = ctx.smsc.deliver(PHONE[1:], ALICE_NUM[1:], smpp.gsm_encode("still here"))
    check(st == smpp.ESME_ROK, "the new link works: %s" % st)
    ctx.alice.wait_message(lambda e: body(e) == "still here")
    check(ctx.gw.poll() is None, "tern-sms kept running")


def test_rate_limit(ctx):
    c = login(ctx, "carol")
    r = register(c, CAROL_NUM)
    check(r.get("type") == "result", "carol may use any number", r)
    ids = [send_sms(c, PHONE_JID, "burst %d" % i) for i in range(15)]
    e = c.wait_message(lambda m: m.get("type") == "error")
    check(error_condition(e) == "resource-constraint" and e.get("id") in ids[14:],
          "the 15th SMS at once is refused (rate_burst = 14)", e)
    wait_submit_text(ctx, "burst 13")


if __name__ == "__main__":
    run_tests([
        ("tern-sms --check-config", test_check_config),
        ("disco#info and the registration form", test_disco_and_form),
        ("registration: allow list, E.164, registration-required", test_registration_allow_list),
        ("an added contact is available while the link is up", test_contact_presence),
        ("XMPP -> SMS: GSM 03.38", test_xmpp_to_sms_ascii),
        ("XMPP -> SMS: UCS-2", test_xmpp_to_sms_unicode),
        ("XMPP -> SMS: 300 characters, concatenated", test_xmpp_to_sms_concatenated),
        ("SMS -> XMPP", test_sms_to_xmpp),
        ("SMS -> XMPP: concatenated, out of order, duplicate part", test_sms_to_xmpp_concatenated),
        ("SMS parts kept across a gateway restart", test_sms_parts_across_restart),
        ("delivery receipt -> XEP-0184", test_delivery_receipt),
        ("SMSC down then up: queued SMS sent once", test_smsc_down_then_up),
        ("ESME_RTHROTTLED then success", test_throttling),
        ("SMSC error -> XMPP error reply", test_smsc_error),
        ("wrong password: reported, retried with backoff", test_wrong_password),
        ("offline user gets the SMS from offline storage", test_offline_storage),
        ("malformed PDUs from the SMSC", test_malformed_pdus),
        ("per-user rate limit", test_rate_limit),
    ], setup, teardown)
