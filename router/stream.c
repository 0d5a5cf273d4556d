/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/stream.c — one stream state machine shared by every stream kind (RFC 6120 §4) */
#include "router/stream.h"

#include <openssl/rand.h>
#include <string.h>

#define STREAM_CLOSE_TIMEOUT 10 /* seconds to wait for the peer's </stream:stream> */

typedef enum {
    RESTART_NONE,
    RESTART_SASL,       /* keep pipelined bytes for the new parser */
    RESTART_TLS,        /* drop every byte read before the handshake */
    RESTART_TLS_CLIENT, /* the same, we are the TLS client */
} RestartKind;

struct Stream {
    const StreamKind *kind;
    gpointer owner;
    Conn *conn;
    XmlParser *parser;
    XmlLimits limits;
    StreamState state;
    RestartKind restart;
    /* flags, packed */
    guint outgoing : 1;
    guint header_sent : 1;
    guint closed_notified : 1;
    guint ending_notified : 1;
    guint framed : 1;       /* one element per message, over a virtual Conn */
    guint framed_extra : 1; /* input: the root closed inside a message */
    SSL_CTX *tls_ctx;       /* pending STARTTLS, borrowed */
    char *tls_sni;          /* pending client STARTTLS */
    char *id;
    char *peer_id; /* the id of the peer's header (outgoing) */
    char *local_domain;
    char *peer_from; /* incoming: the peer header's 'from'; outgoing: the domain we call */
    char *lang;
    StreamEnd end_reason;
    guint deadline_src;
    StreamErr deadline_err;
    guint close_src;
    guint closed_idle;
    GString *out; /* scratch for serialization: the thread's, see stream_scratch() */

    /* RFC 7395 framing (stream_new_framed) */
    XmlNode *framed_el; /* input: the element of the message being parsed */
};

static const XmlParserCallbacks parser_cb;

/* Serialization scratch shared by the streams of a thread. Every use is: truncate,
 * serialize, conn_write() (which copies), with nothing in between that could reach another
 * stream; so no stream keeps a buffer the size of its largest stanza (memory per idle
 * session: ~1 KiB). */
static GString *stream_scratch(void)
{
    static __thread GString *scratch;
    if (!scratch)
        scratch = g_string_sized_new(4096);
    return scratch;
}

#define FRAMING_CLOSE "<close xmlns='" NS_FRAMING "'/>"

/* Framed streams have a parser only while a message is parsed. */
static void parser_stop(Stream *s)
{
    if (s->parser)
        xml_parser_stop(s->parser);
}

char *stream_random_id(void)
{
    guint8 raw[12];
    if (RAND_bytes(raw, sizeof raw) != 1)
        g_error("RAND_bytes failed"); /* no entropy: nothing safe to do */
    char *b64 = g_base64_encode(raw, sizeof raw);
    for (char *p = b64; *p; p++) /* URL-safe, no quoting needed anywhere */
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    return b64;
}

static void stream_new_parser(Stream *s)
{
    if (s->parser) { /* a restart: RFC 6120 §4.7.3, a new stream gets a new id */
        xml_parser_free(s->parser);
        g_free(s->id);
        s->id = stream_random_id();
    }
    s->parser = xml_parser_new(&parser_cb, s, &s->limits);
    s->state = STREAM_STATE_WAIT_OPEN;
    s->header_sent = FALSE;
    g_clear_pointer(&s->peer_id, g_free);
}

static void send_header(Stream *s);

static gboolean is_content_ns(const char *ns)
{
    return !strcmp(ns, XML_NS_CLIENT) || !strcmp(ns, XML_NS_SERVER) ||
           !strcmp(ns, XML_NS_COMPONENT);
}

/* Enter CLOSING and tell the owner once (it stops routing to this stream at once). */
static void stream_set_closing(Stream *s)
{
    s->state = STREAM_STATE_CLOSING;
    if (s->ending_notified)
        return;
    s->ending_notified = TRUE;
    if (s->kind->on_ending)
        s->kind->on_ending(s);
}

static gboolean closed_idle_cb(gpointer data)
{
    Stream *s = data;
    s->closed_idle = 0;
    if (s->kind->on_closed)
        s->kind->on_closed(s);
    return G_SOURCE_REMOVE;
}

/* Always tell the owner from a fresh stack, so that no caller frees what it is using. */
static void stream_notify_closed(Stream *s)
{
    if (s->closed_notified)
        return;
    s->closed_notified = TRUE;
    stream_set_closing(s);
    s->state = STREAM_STATE_CLOSED;
    s->closed_idle = g_idle_add_full(G_PRIORITY_HIGH, closed_idle_cb, s, NULL);
}

static gboolean conn_data_cb(Conn *c, const char *buf, gsize len, gpointer ud)
{
    Stream *s = ud;
    while (len > 0 && s->state != STREAM_STATE_CLOSED) {
        gsize consumed = 0;
        XmlFeedResult r = xml_parser_feed(s->parser, buf, len, &consumed);
        if (r == XML_FEED_OK)
            return TRUE;
        if (r == XML_FEED_ERROR)
            return FALSE;
        /* XML_FEED_STOPPED: a restart, or the stream is being closed */
        if (s->state == STREAM_STATE_CLOSING || s->state == STREAM_STATE_CLOSED)
            return FALSE;
        if (s->restart == RESTART_TLS || s->restart == RESTART_TLS_CLIENT) {
            stream_new_parser(s);
            if (s->restart == RESTART_TLS_CLIENT) /* RFC 6120 §5.4.3.3: drop the rest */
                conn_start_tls_client(s->conn, s->tls_ctx, s->tls_sni);
            else
                conn_start_tls(s->conn, s->tls_ctx);
            s->restart = RESTART_NONE;
            s->tls_ctx = NULL;
            g_clear_pointer(&s->tls_sni, g_free);
            return FALSE;
        }
        if (s->restart != RESTART_SASL)
            return FALSE; /* stopped for good */
        s->restart = RESTART_NONE;
        stream_new_parser(s);
        if (s->outgoing) /* RFC 6120 §6.4.6: the initiating entity opens the new stream */
            send_header(s);
        buf += consumed;
        len -= consumed;
    }
    return s->state != STREAM_STATE_CLOSED;
}

static void conn_closed_cb(Conn *c, const GError *err, gpointer ud)
{
    Stream *s = ud;
    if (s->end_reason == STREAM_END_NONE)
        s->end_reason =
            err && err->code == CONN_ERROR_OVERFLOW ? STREAM_END_ERROR : STREAM_END_BROKEN;
    if (err && err->code != CONN_ERROR_EOF)
        g_debug("%s stream %s from %s closed: %s", s->kind->name, s->id, conn_peer_addr(c),
                err->message);
    stream_notify_closed(s);
}

static void conn_tls_ready_cb(Conn *c, gpointer ud)
{
    Stream *s = ud;
    if (s->outgoing) /* RFC 6120 §5.4.3.3: a new stream over TLS, opened by us */
        send_header(s);
    if (s->kind->on_tls_ready)
        s->kind->on_tls_ready(s);
}

static const ConnCallbacks conn_cb = {
    .on_data = conn_data_cb,
    .on_closed = conn_closed_cb,
    .on_tls_ready = conn_tls_ready_cb,
};

Stream *stream_new_outgoing(const StreamKind *kind, int fd, gpointer owner)
{
    Stream *s = stream_new_incoming(kind, fd, owner);
    s->outgoing = TRUE;
    return s;
}

gboolean stream_is_outgoing(const Stream *s)
{
    return s->outgoing;
}

void stream_open(Stream *s)
{
    send_header(s);
}

void stream_set_peer_domain(Stream *s, const char *domain)
{
    g_free(s->peer_from);
    s->peer_from = g_strdup(domain);
}

const char *stream_peer_domain(const Stream *s)
{
    return s->peer_from;
}

const char *stream_peer_id(const Stream *s)
{
    return s->peer_id;
}

void stream_set_verify_peer(Stream *s, gboolean verify)
{
    conn_set_verify_peer(s->conn, verify);
}

Stream *stream_new_incoming(const StreamKind *kind, int fd, gpointer owner)
{
    Stream *s = g_new0(Stream, 1);
    s->kind = kind;
    s->owner = owner;
    s->id = stream_random_id();
    s->lang = g_strdup("en");
    s->out = stream_scratch();
    s->limits = (XmlLimits){
        .max_stanza_bytes = 16384, .max_depth = 64, .max_attrs = 64, .max_header_bytes = 4096};
    s->conn = conn_new(fd, &conn_cb, s);
    stream_new_parser(s);
    return s;
}

void stream_free(Stream *s)
{
    if (!s)
        return;
    if (s->deadline_src)
        g_source_remove(s->deadline_src);
    if (s->close_src)
        g_source_remove(s->close_src);
    if (s->closed_idle)
        g_source_remove(s->closed_idle);
    conn_free(s->conn);
    xml_parser_free(s->parser);
    g_free(s->id);
    g_free(s->peer_id);
    g_free(s->tls_sni);
    g_free(s->local_domain);
    g_free(s->peer_from);
    g_free(s->lang);
    g_free(s);
}

gpointer stream_owner(const Stream *s)
{
    return s->owner;
}

void stream_set_owner(Stream *s, gpointer owner)
{
    s->owner = owner;
}

StreamEnd stream_end_reason(const Stream *s)
{
    return s->end_reason;
}

Conn *stream_conn(const Stream *s)
{
    return s->conn;
}

const char *stream_id(const Stream *s)
{
    return s->id;
}

StreamState stream_state(const Stream *s)
{
    return s->state;
}

gboolean stream_is_tls(const Stream *s)
{
    return conn_is_tls(s->conn);
}

gboolean stream_is_framed(const Stream *s)
{
    return s->framed;
}

gboolean stream_is_secure(const Stream *s)
{
    return conn_is_secure(s->conn);
}

const char *stream_peer_addr(const Stream *s)
{
    return conn_peer_addr(s->conn);
}

void stream_set_limits(Stream *s, const XmlLimits *limits)
{
    s->limits = *limits;
    if (s->parser)
        xml_parser_set_limits(s->parser, limits);
}

void stream_set_max_outbuf(Stream *s, gsize max)
{
    conn_set_max_outbuf(s->conn, max);
}

void stream_set_local_domain(Stream *s, const char *domain)
{
    g_free(s->local_domain);
    s->local_domain = g_strdup(domain);
}

const char *stream_local_domain(const Stream *s)
{
    return s->local_domain;
}

const char *stream_lang(const Stream *s)
{
    return s->lang;
}

static void send_header(Stream *s)
{
    if (s->header_sent)
        return;
    GString *h;
    if (s->framed) { /* RFC 7395 §3.3.2 */
        h = g_string_new("<open xmlns='" NS_FRAMING "' id='");
    } else {
        h = g_string_new("<?xml version='1.0'?><stream:stream xmlns='");
        xml_escape_append(h, s->kind->content_ns, -1);
        g_string_append(h, "' xmlns:stream='" XML_NS_STREAMS "' id='");
    }
    xml_escape_append(h, s->id, -1);
    g_string_append(h, "'");
    if (s->local_domain) {
        g_string_append(h, " from='");
        xml_escape_append(h, s->local_domain, -1);
        g_string_append(h, "'");
    }
    if (s->peer_from) { /* RFC 6120 §4.7.2 */
        g_string_append(h, " to='");
        xml_escape_append(h, s->peer_from, -1);
        g_string_append(h, "'");
    }
    if (s->kind->header_attrs)
        g_string_append(h, s->kind->header_attrs);
    if (!s->kind->no_version)
        g_string_append(h, " version='1.0'");
    g_string_append(h, " xml:lang='");
    xml_escape_append(h, s->lang, -1);
    g_string_append(h, s->framed ? "'/>" : "'>");
    conn_write(s->conn, h->str, h->len);
    g_string_free(h, TRUE);
    s->header_sent = TRUE;
}

static void parser_stream_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                               guint nattrs, const char *default_ns)
{
    Stream *s = ud;
    const char *to = NULL, *from = NULL, *version = NULL, *lang = NULL, *id = NULL;
    for (guint i = 0; i < nattrs; i++) {
        const XmlAttr *a = &attrs[i];
        if (a->ns && !strcmp(a->ns, XML_NS_XML) && !strcmp(a->name, "lang"))
            lang = a->value;
        else if (a->ns)
            continue;
        else if (!strcmp(a->name, "to"))
            to = a->value;
        else if (!strcmp(a->name, "from"))
            from = a->value;
        else if (!strcmp(a->name, "version"))
            version = a->value;
        else if (!strcmp(a->name, "id"))
            id = a->value;
    }
    if (s->outgoing) {
        g_free(s->peer_id);
        s->peer_id = id && *id && strlen(id) < 1024 ? g_strdup(id) : NULL;
    } else {
        g_free(s->peer_from);
        s->peer_from = from && *from ? g_strdup(from) : NULL;
    }
    if (lang && *lang && strlen(lang) < 64) {
        g_free(s->lang);
        s->lang = g_strdup(lang);
    }
    if (strcmp(ns, XML_NS_STREAMS) || strcmp(name, "stream")) {
        stream_error(s, STREAM_ERR_INVALID_NAMESPACE, "the root must be stream:stream");
        return;
    }
    if (strcmp(default_ns, s->kind->content_ns)) { /* RFC 6120 §4.9.3.10 */
        g_autofree char *t =
            g_strdup_printf("the content namespace must be %s", s->kind->content_ns);
        stream_error(s, STREAM_ERR_INVALID_NAMESPACE, t);
        return;
    }
    /* RFC 6120 §4.7.5 */
    if (!s->kind->no_version && (!version || strncmp(version, "1.", 2))) {
        stream_error(s, STREAM_ERR_UNSUPPORTED_VERSION, "XMPP 1.0 streams only");
        return;
    }
    if (!s->kind->on_open(s, to, from, version, lang))
        return;
    if (s->state == STREAM_STATE_CLOSING || s->state == STREAM_STATE_CLOSED)
        return;
    s->state = STREAM_STATE_OPEN;
    if (s->outgoing)
        return; /* the features come from the peer */
    send_header(s);
    if (s->kind->no_version)
        return; /* XEP-0114 §3: no features */
    g_autoptr(XmlNode) features = xml_node_new(XML_NS_STREAMS, "features");
    if (s->kind->features)
        s->kind->features(s, features);
    g_string_truncate(s->out, 0);
    /* framed: a standalone document, each child declares its namespace */
    g_string_append(s->out, s->framed ? "<stream:features xmlns:stream='" XML_NS_STREAMS "'>"
                                      : "<stream:features>");
    for (XmlNode *f = xml_node_first_element(features); f; f = xml_node_next_element(f, NULL, NULL))
        xml_node_serialize(f, s->framed ? "" : s->kind->content_ns, s->out);
    g_string_append(s->out, "</stream:features>");
    conn_write(s->conn, s->out->str, s->out->len);
}

static void parser_element(gpointer ud, XmlNode *el)
{
    Stream *s = ud;
    if (s->state != STREAM_STATE_OPEN) {
        xml_node_free(el);
        return;
    }
    s->kind->on_element(s, el);
}

static void parser_stream_close(gpointer ud)
{
    Stream *s = ud;
    if (s->end_reason == STREAM_END_NONE)
        s->end_reason = STREAM_END_PEER_CLOSE;
    if (s->state == STREAM_STATE_OPEN)
        conn_write_str(s->conn, "</stream:stream>");
    stream_set_closing(s);
    parser_stop(s);
    conn_close(s->conn);
}

static void parser_error(gpointer ud, XmlError err, const char *text)
{
    Stream *s = ud;
    StreamErr se;
    switch (err) {
    case XML_ERR_RESTRICTED:
        se = STREAM_ERR_RESTRICTED_XML;
        break;
    case XML_ERR_POLICY:
        se = STREAM_ERR_POLICY_VIOLATION;
        break;
    case XML_ERR_INVALID_NS:
        se = STREAM_ERR_INVALID_NAMESPACE;
        break;
    case XML_ERR_BAD_FORMAT:
        se = STREAM_ERR_BAD_FORMAT;
        break;
    default:
        se = STREAM_ERR_NOT_WELL_FORMED;
        break;
    }
    g_debug("%s stream %s from %s: XML error: %s", s->kind->name, s->id, conn_peer_addr(s->conn),
            text);
    stream_error(s, se, text);
}

/* The parser rests (no input for a second or two, between stanzas): so may the connection. */
static void parser_hibernated(gpointer ud)
{
    Stream *s = ud;

    if (s->conn != NULL)
        conn_release_idle(s->conn);
}

static const XmlParserCallbacks parser_cb = {
    .stream_open = parser_stream_open,
    .element = parser_element,
    .stream_close = parser_stream_close,
    .error = parser_error,
    .hibernated = parser_hibernated,
};

/* ---- RFC 7395 framed input: one element per message ---- */

static void framed_root_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                             guint nattrs, const char *default_ns)
{
    /* the synthetic root of the message's document: nothing to do */
}

static void framed_parser_element(gpointer ud, XmlNode *el)
{
    Stream *s = ud;
    xml_node_free(s->framed_el); /* never set here: the parser stops after one element */
    s->framed_el = el;
    xml_parser_stop(s->parser); /* whatever follows in the message is looked at by the caller */
}

static void framed_parser_close(gpointer ud)
{
    Stream *s = ud;
    s->framed_extra = TRUE; /* </stream:stream> inside a message: not one element */
    xml_parser_stop(s->parser);
}

static const XmlParserCallbacks framed_parser_cb = {
    .stream_open = framed_root_open,
    .element = framed_parser_element,
    .stream_close = framed_parser_close,
    .error = parser_error,
};

static gboolean only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return FALSE;
    return TRUE;
}

/* The peer's <close/> (RFC 7395 §3.6): answer it (unless we closed first) and end. */
static void framed_peer_close(Stream *s)
{
    if (s->end_reason == STREAM_END_NONE)
        s->end_reason = STREAM_END_PEER_CLOSE;
    if (s->state == STREAM_STATE_OPEN || s->state == STREAM_STATE_WAIT_OPEN)
        conn_write_str(s->conn, FRAMING_CLOSE);
    stream_set_closing(s);
    conn_close(s->conn);
}

static void framed_element(Stream *s, XmlNode *el)
{
    if (xml_node_is(el, NS_FRAMING, "close")) {
        xml_node_free(el);
        framed_peer_close(s);
        return;
    }
    if (s->state == STREAM_STATE_CLOSING) { /* we closed: only its <close/> matters now */
        xml_node_free(el);
        return;
    }
    if (xml_node_is(el, NS_FRAMING, "open")) {
        g_autoptr(XmlNode) owned = el; /* freed on return; clang: otherwise unused */
        (void)owned;
        if (s->state != STREAM_STATE_WAIT_OPEN) {
            stream_error(s, STREAM_ERR_BAD_FORMAT, "<open/> on an open stream without a restart");
            return;
        }
        /* the same checks as a stream header: version, 'to', language */
        parser_stream_open(s, XML_NS_STREAMS, "stream", el->attrs, el->nattrs, s->kind->content_ns);
        return;
    }
    if (s->state != STREAM_STATE_OPEN) {
        xml_node_free(el);
        stream_error(s, STREAM_ERR_INVALID_NAMESPACE,
                     "the stream starts with <open xmlns='" NS_FRAMING "'/>");
        return;
    }
    s->kind->on_element(s, el);
    if (s->restart == RESTART_SASL && s->state == STREAM_STATE_OPEN) {
        /* RFC 7395 §3.4: the client opens the new stream with a new <open/> */
        s->restart = RESTART_NONE;
        g_free(s->id);
        s->id = stream_random_id();
        s->state = STREAM_STATE_WAIT_OPEN;
        s->header_sent = FALSE;
    }
}

static gboolean framed_data_cb(Conn *c, const char *buf, gsize len, gpointer ud)
{
    Stream *s = ud;
    const char *end = buf + len;
    if (s->state == STREAM_STATE_CLOSED)
        return FALSE;
    while (buf < end && only_space(buf, buf + 1))
        buf++;
    if (end - buf >= 5 && !memcmp(buf, "<?xml", 5)) { /* a standalone document may have one */
        const char *q = g_strstr_len(buf, MIN(end - buf, 256), "?>");
        if (q)
            buf = q + 2;
    }
    /* Each message is parsed on its own, inside a root that declares the stream's content
     * namespace (lenient to clients that leave xmlns='jabber:client' out), with the limits
     * of the stream; the parser stops at the end of the first element. */
    g_autofree char *root = g_strdup_printf("<stream:stream xmlns='%s' xmlns:stream='%s'>",
                                            s->kind->content_ns, XML_NS_STREAMS);
    s->parser = xml_parser_new(&framed_parser_cb, s, &s->limits);
    s->framed_extra = FALSE;
    XmlFeedResult r = xml_parser_feed(s->parser, root, strlen(root), NULL);
    gsize consumed = 0;
    if (r == XML_FEED_OK)
        r = xml_parser_feed(s->parser, buf, (gsize)(end - buf), &consumed);
    xml_parser_free(s->parser);
    s->parser = NULL;
    XmlNode *el = g_steal_pointer(&s->framed_el);
    if (r == XML_FEED_ERROR || s->state == STREAM_STATE_CLOSED) { /* the error was sent */
        xml_node_free(el);
        return FALSE;
    }
    if (!el || s->framed_extra || !only_space(buf + consumed, end)) {
        xml_node_free(el);
        if (s->state == STREAM_STATE_CLOSING)
            return FALSE;
        stream_error(s, STREAM_ERR_NOT_WELL_FORMED,
                     "a message holds exactly one complete element (RFC 7395 §3.3.3)");
        return FALSE;
    }
    framed_element(s, el);
    return s->state != STREAM_STATE_CLOSED;
}

static const ConnCallbacks framed_conn_cb = {
    .on_data = framed_data_cb,
    .on_closed = conn_closed_cb,
};

Stream *stream_new_framed(const StreamKind *kind, const ConnSink *sink, gpointer sink_ud,
                          const char *peer_addr, gboolean secure, gpointer owner)
{
    Stream *s = g_new0(Stream, 1);
    s->kind = kind;
    s->owner = owner;
    s->framed = TRUE;
    s->id = stream_random_id();
    s->lang = g_strdup("en");
    s->out = stream_scratch();
    s->limits = (XmlLimits){
        .max_stanza_bytes = 16384, .max_depth = 64, .max_attrs = 64, .max_header_bytes = 4096};
    s->state = STREAM_STATE_WAIT_OPEN;
    s->conn = conn_new_virtual(&framed_conn_cb, s, sink, sink_ud, peer_addr, secure);
    return s;
}

void stream_start_direct_tls(Stream *s, SSL_CTX *ctx)
{
    conn_start_tls(s->conn, ctx);
}

void stream_start_direct_tls_client(Stream *s, SSL_CTX *ctx, const char *sni)
{
    conn_start_tls_client(s->conn, ctx, sni);
}

void stream_starttls_client(Stream *s, SSL_CTX *ctx, const char *sni)
{
    s->restart = RESTART_TLS_CLIENT;
    s->tls_ctx = ctx;
    g_free(s->tls_sni);
    s->tls_sni = g_strdup(sni);
    parser_stop(s);
}

void stream_starttls(Stream *s, SSL_CTX *ctx)
{
    conn_write_str(s->conn, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    s->restart = RESTART_TLS;
    s->tls_ctx = ctx;
    parser_stop(s);
}

void stream_restart(Stream *s)
{
    s->restart = RESTART_SASL;
    parser_stop(s);
}

void stream_send(Stream *s, const XmlNode *el)
{
    if (s->state != STREAM_STATE_OPEN)
        return;
    g_string_truncate(s->out, 0);
    xml_node_serialize(el, s->kind->content_ns, s->out);
    if (s->framed && is_content_ns(el->ns)) /* RFC 7395 §3.3.3: a standalone document */
        g_string_insert(s->out, 1 + strlen(el->name),
                        !strcmp(s->kind->content_ns, XML_NS_CLIENT) ? " xmlns='" XML_NS_CLIENT "'"
                                                                    : " xmlns='" XML_NS_SERVER "'");
    conn_write(s->conn, s->out->str, s->out->len);
}

void stream_send_stanza(Stream *s, const Stanza *st)
{
    stream_send(s, st->el);
}

void stream_send_raw(Stream *s, const char *xml)
{
    if (s->state != STREAM_STATE_OPEN)
        return;
    conn_write_str(s->conn, xml);
}

void stream_error(Stream *s, StreamErr err, const char *text)
{
    if (s->state == STREAM_STATE_CLOSING || s->state == STREAM_STATE_CLOSED)
        return;
    s->end_reason = STREAM_END_ERROR;
    send_header(s); /* RFC 6120 §4.9.1.2 */
    g_string_truncate(s->out, 0);
    stream_error_serialize(err, text, s->out);
    if (s->framed) { /* RFC 7395 §3.6.2: the error, then <close/>, each its own message */
        g_string_insert(s->out, strlen("<stream:error"), " xmlns:stream='" XML_NS_STREAMS "'");
        conn_write(s->conn, s->out->str, s->out->len);
        conn_write_str(s->conn, FRAMING_CLOSE);
    } else {
        g_string_append(s->out, "</stream:stream>");
        conn_write(s->conn, s->out->str, s->out->len);
    }
    g_debug("%s stream %s from %s: stream error %s%s%s", s->kind->name, s->id,
            conn_peer_addr(s->conn), stream_err_condition(err), text ? ": " : "", text ? text : "");
    stream_set_closing(s);
    parser_stop(s);
    conn_close(s->conn);
}

static gboolean close_timeout_cb(gpointer data)
{
    Stream *s = data;
    s->close_src = 0;
    conn_close(s->conn);
    return G_SOURCE_REMOVE;
}

void stream_close(Stream *s)
{
    if (s->state == STREAM_STATE_CLOSING || s->state == STREAM_STATE_CLOSED)
        return;
    s->end_reason = STREAM_END_LOCAL;
    if (!s->header_sent)
        send_header(s);
    conn_write_str(s->conn, s->framed ? FRAMING_CLOSE : "</stream:stream>");
    stream_set_closing(s);
    parser_stop(s);
    s->close_src = g_timeout_add_seconds(STREAM_CLOSE_TIMEOUT, close_timeout_cb, s);
}

static gboolean deadline_cb(gpointer data)
{
    Stream *s = data;
    s->deadline_src = 0;
    stream_error(s, s->deadline_err, NULL);
    return G_SOURCE_REMOVE;
}

void stream_set_deadline(Stream *s, guint seconds, StreamErr err)
{
    if (s->deadline_src) {
        g_source_remove(s->deadline_src);
        s->deadline_src = 0;
    }
    if (seconds) {
        s->deadline_err = err;
        s->deadline_src = g_timeout_add_seconds(seconds, deadline_cb, s);
    }
}
