#!/usr/bin/env python3
# tests/fuzz/make_corpus.py — writes the seed corpora tests/fuzz/corpus/<target>/ (run it
# after changing a seed; files it does not write, e.g. inputs a fuzzer found, are kept).
# The byte layout each target expects is described at the top of its fuzz_<target>.c.
import base64
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- XML streams -----------------------------------------------------------------------
STREAMS = "http://etherx.jabber.org/streams"
C2S = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s' "
       "to='example.com' version='1.0' xml:lang='en'>" % STREAMS)
S2S = ("<stream:stream xmlns='jabber:server' xmlns:stream='%s' xmlns:db='jabber:server:dialback' "
       "from='example.org' to='example.com' version='1.0'>" % STREAMS)
COMPONENT = ("<stream:stream xmlns='jabber:component:accept' xmlns:stream='%s' "
             "to='irc.example.com'>" % STREAMS)
STANZAS = [
    "<message to='juliet@example.com/balcony' type='chat' id='m1' xml:lang='en'>"
    "<body>Art thou not Romeo, &amp; a Montague? &lt;3</body>"
    "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    "<presence><show>away</show><status>gone &#x1F600; \u00e9</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v='/></presence>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>",
    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq>",
    "<message to='a@b'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' "
    "from='x@y/z'><body>inner</body></message></forwarded></message>",
    "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>\n  \t",
    "<r xmlns='urn:xmpp:sm:3'/><a xmlns='urn:xmpp:sm:3' h='4'/>",
    "<message xmlns:x='urn:x' x:attr='1' y='&quot;&apos;'><body><![CDATA[<not markup>]]></body>"
    "</message>",
]


def xml_stream_seeds():
    t = "fuzz_xml_stream"
    # [flags][seed]: flags bits 0-1 chunk size class, 2-3 limits, 4-5 stop after N, 6, 7
    write(t, "c2s-session", b"\x00\x01" + (C2S + "".join(STANZAS) + "</stream:stream>").encode())
    write(t, "c2s-7byte-chunks", b"\x01\x07" + (C2S + "".join(STANZAS[:3])).encode())
    write(t, "c2s-limits-tight", b"\x09\x03" + (C2S + "".join(STANZAS)).encode())
    write(t, "c2s-sasl-restart", b"\x12\x05" + (
        C2S + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>"
        + C2S + STANZAS[3] + "</stream:stream>").encode())
    write(t, "c2s-starttls-restart", b"\x13\x09" + (
        C2S + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + C2S + STANZAS[0]).encode())
    write(t, "c2s-raise-limits", b"\x88\x02" + (C2S + "".join(STANZAS)).encode())
    write(t, "s2s-dialback", b"\x02\x11" + (
        S2S + "<db:result from='example.org' to='example.com'>b4835385f37fe2895af6c196b59097b1"
        "6862406db80559900d953bf09f2de8ed</db:result><db:verify from='example.org' "
        "to='example.com' id='417GAF25'>aaa</db:verify><message from='a@example.org' "
        "to='b@example.com'><body>hi</body></message></stream:stream>").encode())
    write(t, "component-handshake", b"\x01\x21" + (
        COMPONENT + "<handshake>aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e</handshake>"
        "<message from='bot@irc.example.com' to='a@example.com'><body>x</body></message>").encode())
    write(t, "stop-on-open", b"\x40\x00" + (C2S + C2S + STANZAS[2]).encode())
    write(t, "restricted-doctype", b"\x00\x00<!DOCTYPE x [<!ENTITY a 'b'>]>" + C2S.encode())
    write(t, "restricted-comment-pi", b"\x01\x00" + (C2S + "<!-- c --><?pi x?>").encode())
    write(t, "undefined-entity", b"\x00\x00" + (C2S + "<message>&lol;</message>").encode())
    write(t, "bad-utf8", b"\x00\x00" + C2S.encode() + b"<message><body>\xc3\x28\xed\xa0\x80"
          b"</body></message>")
    write(t, "text-at-stream-level", b"\x00\x00" + (C2S + "hello").encode())
    write(t, "encoding-utf16-decl", b"\x00\x00<?xml version='1.0' encoding='UTF-16'?><a/>")
    write(t, "deep-nesting", b"\x0c\x00" + (C2S + "<a>" * 40 + "</a>" * 40).encode())
    write(t, "many-attributes", b"\x0c\x00" + (
        C2S + "<message " + " ".join("a%d='%d'" % (i, i) for i in range(20)) + "/>").encode())
    write(t, "wrong-stream-ns", b"\x00\x00<stream:stream xmlns:stream='urn:wrong' "
          b"xmlns='jabber:client'><message/></stream:stream>")


def xml_differential_seeds():
    t = "fuzz_xml_differential"
    # [mode]: bit 0 builder, bits 1-2 content ns (none, client, server, component)
    for i, st in enumerate(STANZAS):
        ns = " xmlns='jabber:client'" if i % 2 == 0 else ""
        doc = st.replace(">", ns + ">", 1) if ns and not st.startswith("<r ") else st
        if st.startswith("<r "):
            doc = "<x>" + st + "</x>"
        write(t, "stanza-%d" % i, bytes([(i % 4) << 1]) + doc.encode())
    write(t, "server-in-client", b"\x02<message xmlns='jabber:server'><x xmlns='urn:x'>"
          b"<message xmlns='jabber:server'/></x><body xmlns='jabber:server'>b</body></message>")
    write(t, "attr-escapes", b"\x04<iq xmlns='jabber:client' id='&#9;&#10;&#13;&lt;&amp;&quot;'"
          b" xml:lang='&apos;' xmlns:p='urn:p&amp;q' p:a='\xf0\x9f\x98\x80' type='get'/>")
    write(t, "ns-undeclare", b"\x06<a xmlns='urn:a'><b xmlns=''><c xmlns='urn:a'/></b></a>")
    write(t, "text-nasty", b"\x00<body>]]&gt; &#13;&#10; \xef\xbf\xbd \xc2\x85 &#x10FFFD;</body>")
    for i in range(6):
        write(t, "builder-%d" % i, bytes([1 | (i % 4) << 1]) + hashlib.sha256(b"seed%d" % i)
              .digest() * 3)


# ---- JIDs: RFC 7622 §3.5 examples, valid and not ------------------------------------------
JIDS_OK = ["juliet@example.com", "juliet@example.com/foo", "juliet@example.com/foo bar",
           "juliet@example.com/foo@bar", "foo\\20bar@example.com", "fussball@example.com",
           "fu\u00dfball@example.com", "\u03c0@example.com", "\u03a3@example.com/foo",
           "\u03c3@example.com/foo", "\u03c2@example.com/foo", "king@example.com/\u265a",
           "example.com", "example.com/foobar", "a.example.com/b@example.net",
           "EXAMPLE.COM.", "user@[2001:db8::1]/r", "[::ffff:127.0.0.1]", "127.0.0.1",
           "xn--mnchen-3ya.de", "m\u00fcnchen.de/\u00e9", "u@\uff45xample.com"]
JIDS_BAD = ["\"juliet\"@example.com", "foo bar@example.com", "juliet@example.com/ foo",
            "@example.com/", "henry\u2163@example.com", "\u265a@example.com", "juliet@",
            "/foobar", "a@b@c", "a@.com", "x" * 1100 + "@example.com", "ex ample.com",
            "a@xn--zz", "a@[1.2.3.4]", "a@b/\u0000", "\u200d@example.com"]


def jid_seeds():
    t = "fuzz_jid"
    for i, j in enumerate(JIDS_OK):
        write(t, "ok-%02d" % i, j)
    for i, j in enumerate(JIDS_BAD):
        write(t, "bad-%02d" % i, j)
    write(t, "parts-1", "Juliet\0Example.COM\0balcony \u2163")
    write(t, "parts-2", "\0example.com\0")


# ---- SCRAM: RFC 5802 §5 and RFC 7677 §3 shaped messages --------------------------------------
SERVER_NONCE = "3rfcNHYJY1ZVvWVs7j"  # fixed by fuzz_sasl.c
CB_DATA = b"0123456789abcdef0123456789abcdef"


def sasl_seeds():
    t = "fuzz_sasl"
    ff = b"\xff"
    # flags: bit 0 SHA-256, bit 1 PLUS, bit 2 server offers PLUS, bit 3 harness adds the proof
    c1 = "fyko+d2lbbFgONRv9qkxdawL"
    write(t, "rfc5802-auto-proof", b"\x08n,,n=user,r=" + c1.encode() + ff +
          ("c=biws,r=" + c1 + SERVER_NONCE).encode())
    write(t, "rfc5802-final", b"\x00n,,n=user,r=" + c1.encode() + ff +
          ("c=biws,r=" + c1 + SERVER_NONCE + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=").encode())
    c2 = "rOprNGfwEbeRWgbNEkqO"
    write(t, "rfc7677-auto-proof", b"\x09n,,n=user,r=" + c2.encode() + ff +
          ("c=biws,r=" + c2 + SERVER_NONCE).encode() + ff + b"c=biws")
    write(t, "rfc7677-final", b"\x01n,,n=user,r=" + c2.encode() + ff +
          ("c=biws,r=" + c2 + SERVER_NONCE +
           ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").encode())
    gs2 = b"p=tls-exporter,,"
    cbind = base64.b64encode(gs2 + CB_DATA).decode()
    write(t, "plus-auto-proof", b"\x0b" + gs2 + b"n=user,r=abc" + ff +
          ("c=" + cbind + ",r=abc" + SERVER_NONCE).encode())
    write(t, "y-flag-downgrade", b"\x04y,,n=user,r=abc" + ff +
          ("c=eSws,r=abc" + SERVER_NONCE + ",p=AAAA").encode())
    write(t, "authzid-escapes", b"\x08n,a=ad=2Cmin=3D,n=us=2Cer,r=x,ext=1" + ff +
          ("c=" + base64.b64encode(b"n,a=ad=2Cmin=3D,").decode() + ",r=x" + SERVER_NONCE +
           ",e=1").encode())
    write(t, "mext-refused", b"\x00n,,m=x,n=user,r=abc")
    write(t, "unknown-user", b"\x08n,,n=nobody,r=abc" + ff + ("c=biws,r=abc" + SERVER_NONCE)
          .encode())
    write(t, "plain-authzid", b"\x00admin@example.com\0user\0pencil")
    write(t, "plain-simple", b"\x00\0user\0pencil")
    write(t, "plain-bad", b"\x00\0\0pencil\0")


# ---- DNS answers, by hand (RFC 1035 §4.1) -------------------------------------------------
def dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_msg(qname, qtype, answers, flags=0x8180, an_count=None):
    body = dns_name(qname) + struct.pack(">HH", qtype, 1)
    for rtype, ttl, rdata in answers:
        body += b"\xc0\x0c" + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata
    n = len(answers) if an_count is None else an_count
    return struct.pack(">HHHHHH", 0x1234, flags, 1, n, 0, 0) + body


def srv(prio, weight, port, target, raw_target=None):
    return (33, 3600, struct.pack(">HHH", prio, weight, port) +
            (raw_target if raw_target is not None else dns_name(target)))


def srv_seeds():
    t = "fuzz_srv"
    tls = "_xmpps-server._tcp.example.com"
    tcp = "_xmpp-server._tcp.example.com"

    def pair(name, flags, m1, m2):
        write(t, name, bytes([flags]) + struct.pack(">H", len(m1)) + m1 + m2)

    pair("srv-basic", 0, dns_msg(tls, 33, [srv(10, 5, 5223, "xmpp1.example.com")]),
         dns_msg(tcp, 33, [srv(10, 0, 5269, "XMPP2.Example.COM"), srv(20, 60, 5269, "b.example"),
                           srv(20, 40, 5270, "c.example")]))
    pair("srv-dot-target", 3, dns_msg(tls, 33, [srv(0, 0, 0, ".")]),
         dns_msg(tcp, 33, [srv(0, 0, 5269, "."), srv(1, 1, 5269, "x.example")]))
    pair("srv-port-zero-ttl-huge", 1, dns_msg(tls, 33, [(33, 0xFFFFFFFF,
                                                         struct.pack(">HHH", 1, 1, 0) +
                                                         dns_name("a.example"))]),
         dns_msg(tcp, 33, [srv(5, 5, 5269, "a.example")]))
    pair("srv-many", 31, dns_msg(tls, 33, [srv(i % 7, i * 13 % 100, 5269, "h%d.example" % i)
                                           for i in range(100)]), b"")
    pair("srv-compressed-target", 2, dns_msg(tls, 33, [srv(1, 1, 5269, None, b"\x03srv\xc0\x0c")]),
         dns_msg(tcp, 33, [srv(1, 1, 5269, None, b"\xc0\x0c")]))
    pair("srv-pointer-loop", 0, dns_msg(tls, 33, [srv(1, 1, 5269, None, b"\xc0\x2a")]), b"")
    pair("srv-count-lies", 0, dns_msg(tls, 33, [srv(1, 1, 5269, "a.example")], an_count=40),
         dns_msg(tcp, 33, [], flags=0x8183))
    pair("srv-truncated", 0, dns_msg(tls, 33, [srv(1, 1, 5269, "a.example")])[:-5], b"\x12")
    pair("srv-wrong-rtype", 0, dns_msg(tls, 33, [(1, 60, bytes([192, 0, 2, 1]))]),
         dns_msg(tcp, 33, [(5, 60, dns_name("alias.example"))]))
    a = dns_msg("xmpp.example.com", 1, [(1, 300, bytes([192, 0, 2, i])) for i in range(1, 6)])
    aaaa = dns_msg("xmpp.example.com", 28, [(28, 60, bytes(15) + bytes([i])) for i in range(1, 3)])
    pair("a-aaaa", 5, a, aaaa)
    pair("a-cname", 5, dns_msg("xmpp.example.com", 1, [(5, 10, dns_name("real.example")),
                                                        (1, 20, bytes([198, 51, 100, 7]))]), aaaa)


# ---- dialback and SASL EXTERNAL ------------------------------------------------------------
def dialback_seeds():
    t = "fuzz_dialback"
    db = " xmlns:db='jabber:server:dialback'"
    write(t, "db-result", b"\x00<db:result" + db.encode() + b" from='example.org' "
          b"to='example.com'>b4835385f37fe2895af6c196b59097b16862406db80559900d953bf09f2de8ed"
          b"</db:result>")
    write(t, "db-verify", b"\x04<db:verify" + db.encode() + b" from='Example.ORG' "
          b"to='example.com' id='417GAF25'> b4835385f37f </db:verify>")
    write(t, "db-verify-space-id", b"\x08<verify xmlns='jabber:server:dialback' from='a b' "
          b"to='c' id='x y'>k</verify>")
    write(t, "db-result-typed", b"\x00<db:result" + db.encode() + b" from='example.com' "
          b"to='example.org' type='valid'/>")
    write(t, "db-result-escapes", b"\x7c<db:result" + db.encode() + b" from='&lt;x&gt;&#10;' "
          b"to='&apos;&quot;' id='&amp;'/>")
    for name, flags, text in [("auth-authzid", 0x83, "ZXhhbXBsZS5vcmc="),
                              ("auth-empty", 0x83, "="), ("auth-upper", 0x83, "RVhBTVBMRS5PUkc="),
                              ("auth-nul", 0x83, "ZXhhbQBwbGUub3Jn"),
                              ("auth-no-cert", 0x80, "ZXhhbXBsZS5vcmc="),
                              ("auth-other-domain", 0x83, "ZXZpbC5leGFtcGxl")]:
        write(t, name, bytes([flags]) + b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
              b"mechanism='EXTERNAL'>" + text.encode() + b"</auth>")
    write(t, "features", b"\x00<stream:features xmlns:stream='%s'><mechanisms "
          b"xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism> EXTERNAL </mechanism>"
          b"</mechanisms></stream:features>" % STREAMS.encode())


if __name__ == "__main__":
    xml_stream_seeds()
    xml_differential_seeds()
    jid_seeds()
    sasl_seeds()
    srv_seeds()
    dialback_seeds()
    for d in sorted(os.listdir(CORPUS)):
        print("%s: %d files" % (d, len(os.listdir(os.path.join(CORPUS, d)))), file=sys.stderr)
