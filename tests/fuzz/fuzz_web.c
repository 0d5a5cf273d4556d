/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_web.c — WebSocket/BOSH input: RFC 7395 framed streams and BOSH <body/>s */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "http/bosh_body.h"
#include "router/conn.h"
#include "router/stream.h"

/*
 * fuzz_framed — what http/ws.c does with WebSocket text messages: each goes to a framed
 * stream (router/stream.c on a virtual Conn, router/conn.c) with conn_virtual_feed().
 * Input: [flags] message (0xFF message)...   (0xFF never occurs in UTF-8)
 *   flags bits 0-1  limits: roomy, tight, tiny, none
 *         bit  2    <auth/> is answered with <success/> and a restart (as c2s/sasl.c does)
 *         bit  3    elements are echoed back with stream_send (the framed serializer)
 * Checks:
 *  - every message the stream writes is one standalone element that any parser reads
 *    (namespaces declared: stanzas in jabber:client, <stream:features/> and <stream:error/>
 *    with the stream prefix), the first is <open/>, nothing follows <close/>;
 *  - each element handed to the stream kind is a sane tree; no crash, leak or hang.
 *
 * fuzz_bosh_body — what http/bosh.c does with a request body: bosh_body_parse() with the
 * c2s limits, each child re-serialized by bosh_body_child_message() and fed to a framed
 * stream as above.
 * Input: [flags] body bytes
 *   flags bits 0-1  limits as above
 * Checks: a child message re-parses on its own to the same tree (children in the httpbind
 * namespace: to the same tree without a namespace); the framed checks above.
 */

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

static const XmlLimits limit_sets[4] = {
    {65536, 32, 64, 4096},
    {512, 6, 8, 300},
    {64, 2, 2, 120},
    {0, 0, 0, 0},
};

typedef struct {
    GPtrArray *out; /* char* messages written by the stream */
    gboolean restart_on_auth, echo;
    guint bare_echoes;    /* echoed stanza-named elements that came without a namespace */
    gboolean closed;      /* the sink was closed */
    gboolean close_seen;  /* a <close/> was written */
    gboolean stream_gone; /* on_closed */
} Run;

static Run *cur; /* the kind's callbacks have no user data of their own but the owner */

static void sink_send(gpointer ud, const char *buf, gsize len)
{
    Run *r = ud;
    FUZZ_CHECK(!r->closed, "a message after sink->close");
    FUZZ_CHECK(!r->close_seen, "a message after <close/>: %.*s", (int)MIN(len, 200), buf);
    g_autoptr(GError) err = NULL;
    g_autoptr(XmlNode) el = xml_parse_fragment(buf, (gssize)len, &err);
    FUZZ_CHECK(el != NULL, "not a standalone element (%s): %.*s", err ? err->message : "?",
               (int)MIN(len, 400), buf);
    if (r->out->len == 0)
        FUZZ_CHECK(xml_node_is(el, NS_FRAMING, "open"), "the first message is not <open/>: %.*s",
                   (int)MIN(len, 200), buf);
    if (xml_node_is(el, NS_FRAMING, "close"))
        r->close_seen = TRUE;
    if ((!strcmp(el->name, "message") || !strcmp(el->name, "iq") ||
         !strcmp(el->name, "presence")) &&
        !strcmp(el->ns, "")) {
        /* only the echo of an element that had none (tests/fuzz/regressions/fuzz_framed/
         * echo-of-a-no-namespace-message): the serializer must not drop one */
        FUZZ_CHECK(r->bare_echoes > 0, "a stanza without its namespace: %.*s",
                   (int)MIN(len, 200), buf);
        r->bare_echoes--;
    }
    g_ptr_array_add(r->out, g_strndup(buf, len));
}

static void sink_close(gpointer ud)
{
    Run *r = ud;
    r->closed = TRUE;
}

static const ConnSink sink = {sink_send, sink_close};

static gboolean k_open(Stream *s, const char *to, const char *from, const char *version,
                       const char *lang)
{
    if (to && !strcmp(to, "refused")) {
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "refused");
        return FALSE;
    }
    stream_set_local_domain(s, "example.org");
    return TRUE;
}

static void k_features(Stream *s, XmlNode *features)
{
    XmlNode *m = xml_node_add_child(features, NS_SASL, "mechanisms");
    xml_node_add_text(xml_node_add_child(m, NULL, "mechanism"), "PLAIN", -1);
}

static void k_element(Stream *s, XmlNode *el)
{
    g_autoptr(XmlNode) owned = el; /* freed on return; clang: otherwise unused */
    (void)owned;
    fuzz_check_tree(el);
    if (cur->restart_on_auth && xml_node_is(el, NS_SASL, "auth")) {
        g_autoptr(XmlNode) ok = xml_node_new(NS_SASL, "success");
        stream_send(s, ok);
        stream_restart(s);
        return;
    }
    if (cur->echo) {
        if (!strcmp(el->ns, "") && (!strcmp(el->name, "message") || !strcmp(el->name, "iq") ||
                                    !strcmp(el->name, "presence")))
            cur->bare_echoes++;
        stream_send(s, el);
    }
}

static void k_closed(Stream *s)
{
    cur->stream_gone = TRUE;
}

static const StreamKind kind = {
    .name = "fuzz",
    .content_ns = XML_NS_CLIENT,
    .on_open = k_open,
    .features = k_features,
    .on_element = k_element,
    .on_closed = k_closed,
};

static void drain(void)
{
    for (int i = 0; i < 16 && g_main_context_iteration(NULL, FALSE); i++)
        ;
}

static Stream *framed_new(Run *r, guint8 flags)
{
    memset(r, 0, sizeof *r);
    r->out = g_ptr_array_new_with_free_func(g_free);
    r->restart_on_auth = (flags & 4) != 0;
    r->echo = (flags & 8) != 0;
    cur = r;
    Stream *s = stream_new_framed(&kind, &sink, r, "192.0.2.1", TRUE, r);
    stream_set_limits(s, &limit_sets[flags & 3]);
    return s;
}

static void framed_feed(Stream *s, Run *r, const char *buf, gsize len)
{
    if (r->closed || r->stream_gone)
        return;
    conn_virtual_feed(stream_conn(s), buf, len);
    drain();
}

static void framed_end(Stream *s, Run *r)
{
    drain();
    stream_free(s);
    g_ptr_array_unref(r->out);
    cur = NULL;
}

int fuzz_framed(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 1)
        return 0;
    Run r;
    Stream *s = framed_new(&r, data[0]);
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p <= end) {
        const char *sep = memchr(p, 0xFF, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        framed_feed(s, &r, p, (gsize)(stop - p));
        p = stop + 1;
    }
    framed_end(s, &r);
    return 0;
}

int fuzz_bosh_body(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (size < 1)
        return 0;
    const XmlLimits *lim = &limit_sets[data[0] & 3];
    BoshBody b = {0};
    gboolean ok = bosh_body_parse((const char *)data + 1, size - 1, lim, &b);
    FUZZ_CHECK(ok || b.why, "a refused body says why");
    if (!ok) {
        bosh_body_clear(&b);
        return 0;
    }
    Run r;
    Stream *s = framed_new(&r, data[0] | 8);
    framed_feed(s, &r, "<open xmlns='" NS_FRAMING "' to='example.org' version='1.0'/>",
                strlen("<open xmlns='" NS_FRAMING "' to='example.org' version='1.0'/>"));
    for (guint i = 0; i < b.nodes->len; i++) {
        const XmlNode *n = g_ptr_array_index(b.nodes, i);
        g_autoptr(GString) msg = g_string_new(NULL);
        bosh_body_child_message(n, msg);
        g_autoptr(GError) err = NULL;
        g_autoptr(XmlNode) back = xml_parse_fragment(msg->str, (gssize)msg->len, &err);
        FUZZ_CHECK(back != NULL, "a child message does not parse (%s): %s",
                   err ? err->message : "?", msg->str);
        if (strcmp(n->ns, NS_HTTPBIND)) {
            g_autofree char *want = fuzz_dump(n, NULL);
            g_autofree char *got = fuzz_dump(back, NULL);
            FUZZ_CHECK(!strcmp(want, got), "child changed:\n%s\n%s", want, got);
        } else {
            FUZZ_CHECK(!strcmp(back->ns, "") && !strcmp(back->name, n->name),
                       "an httpbind child is not written without a namespace: %s", msg->str);
        }
        framed_feed(s, &r, msg->str, msg->len);
    }
    framed_end(s, &r);
    bosh_body_clear(&b);
    return 0;
}

#ifdef FUZZ_WEB_BOSH
FUZZ_LIBFUZZER_ENTRY(fuzz_bosh_body)
#else
FUZZ_LIBFUZZER_ENTRY(fuzz_framed)
#endif
