/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/out.c — outgoing server streams: resolve, connect, STARTTLS, SASL EXTERNAL, dialback */
#include "s2s/s2s.h"

#include <stdarg.h>
#include <string.h>

#include "router/conn.h"
#include "router/router.h"

#define OUT_TCP_CONNECT_MS 10000 /* one candidate address; the link's own deadline is longer */
/* XEP-0198: <r/> after a quarter of the window (queue_size) was sent. Each <r/> costs both
 * ends an element more (and the peer an <a/>): one per 5 stanzas was 40 % more elements on
 * a busy link. A quarter keeps the window open while acks take less than the time to send
 * three quarters of it. */
#define OUT_SM_R_EVERY (MAX(s2s_conf.queue_size / 4, 1))
#define OUT_SM_R_IDLE_US G_USEC_PER_SEC /* ... or once sending paused this long */

typedef enum {
    OUT_RESOLVING,
    OUT_CONNECTING,
    OUT_WAIT_FEATURES, /* our header sent: the peer's header and features next */
    OUT_WAIT_PROCEED,  /* <starttls/> sent */
    OUT_WAIT_SASL,     /* <auth mechanism='EXTERNAL'/> sent */
    OUT_OPEN,          /* negotiated: dialback and stanzas */
    OUT_CLOSED,
} OutState;

/* XEP-0198 on the stream (acks only: s2s never resumes, a new stream re-sends). */
typedef enum {
    SM_OFF,       /* not offered, or not needed yet */
    SM_REQUESTED, /* <enable/> sent: stanzas count already (the peer counts from it) */
    SM_ON,        /* <enabled/> */
    SM_FAILED,    /* <failed/>: the peer's TCP acknowledgement is all we have */
} SmState;

typedef struct {
    char *local, *remote, *id, *key;
    S2sVerifyFunc done;
    gpointer ud;
    gboolean sent;
} VerifyReq;

/* A stanza sent but not yet acknowledged by the peer (its <a h/> with XEP-0198, else its
 * TCP): when the stream breaks first, it is sent again on a new stream or bounced, never
 * silently lost. */
typedef struct {
    Stanza *st;
    S2sLink *link; /* borrowed; links attached to an out are only freed through it */
    S2sOut *out;
    guint64 wire; /* conn_wire_sent() once its bytes reached the kernel, 0 before */
} InFlight;

struct S2sOut {
    char *local, *remote;
    OutState state;
    Stream *stream;
    ResolveQuery *query;
    GPtrArray *candidates; /* ResolveCandidate* */
    guint next;
    ConnConnect *connecting;
    CertStatus cert;
    gboolean sasl_tried, peer_dialback, peer_db_errors, timed_out;
    char *fail_text;
    GPtrArray *links;   /* S2sLink*, borrowed */
    GHashTable *authed; /* local domain authenticated on this stream -> static method name */
    GQueue verifies;    /* VerifyReq* */
    GQueue inflight;    /* InFlight* */
    guint deadline_src;
    gint64 last_used;
    guint64 acked;    /* wire bytes the peer acknowledged when the stream ended */
    gboolean peer_sm; /* the last <stream:features/> offered XEP-0198 */
    SmState sm;
    guint32 sm_acked;   /* the peer's last h: inflight holds the stanzas after it */
    guint32 sm_h;       /* stanzas received on this stream since <enable/> */
    guint sm_since_r;   /* stanzas sent since our last <r/> */
    gint64 sm_progress; /* monotonic: last ack, or when inflight started filling */
    guint serial;       /* for ternctl: which links share a stream */
    gboolean direct_tls;
    GList node; /* in outs */
};

static GQueue outs = G_QUEUE_INIT;

static gboolean out_on_open(Stream *s, const char *to, const char *from, const char *version,
                            const char *lang);
static void out_on_element(Stream *s, XmlNode *el);
static void out_on_tls_ready(Stream *s);
static void out_on_closed(Stream *s);

static const StreamKind out_kind = {
    .name = "s2s-out",
    .content_ns = XML_NS_SERVER,
    .header_attrs = " xmlns:db='" NS_DIALBACK "'",
    .on_open = out_on_open,
    .on_element = out_on_element,
    .on_tls_ready = out_on_tls_ready,
    .on_closed = out_on_closed,
};

static void try_next(S2sOut *out);
static void out_finish(S2sOut *out);
static void out_retire(S2sOut *out);
static void detach_ready(S2sOut *out, S2sLink *l, guint64 acked);

static void verify_free(VerifyReq *v)
{
    g_free(v->local);
    g_free(v->remote);
    g_free(v->id);
    if (v->key)
        memset(v->key, 0, strlen(v->key));
    g_free(v->key);
    g_free(v);
}

static void out_set_fail(S2sOut *out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void out_set_fail(S2sOut *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_free(out->fail_text);
    out->fail_text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_message("s2s-out %s -> %s: %s", out->local, out->remote, out->fail_text);
}

/* ---- deadline: from start until every pair and verification is answered ---- */

static gboolean deadline_cb(gpointer data)
{
    S2sOut *out = data;
    out->deadline_src = 0;
    out->timed_out = TRUE;
    out_set_fail(out, "no answer within %u s", s2s_conf.connect_timeout);
    if (!out->stream) {
        out_finish(out);
        return G_SOURCE_REMOVE;
    }
    /* bounce now (RFC 6120 §8.3.3.17), not when a silent peer finally lets go */
    VerifyReq *v;
    while ((v = g_queue_pop_head(&out->verifies))) {
        v->done(FALSE, v->ud);
        verify_free(v);
    }
    for (guint i = out->links->len; i > 0; i--) {
        S2sLink *l = out->links->pdata[i - 1];
        if (l->state == LINK_READY)
            continue;
        g_ptr_array_remove_index(out->links, i - 1);
        l->out = NULL;
        s2s_link_fail(l, STANZA_ERR_REMOTE_SERVER_TIMEOUT, out->fail_text);
    }
    if (out->state == OUT_OPEN) { /* the pairs that work keep working */
        out->timed_out = FALSE;
        g_clear_pointer(&out->fail_text, g_free);
        return G_SOURCE_REMOVE;
    }
    out_retire(out);
    if (stream_state(out->stream) != STREAM_STATE_CLOSED)
        stream_error(out->stream, STREAM_ERR_CONNECTION_TIMEOUT, NULL);
    return G_SOURCE_REMOVE;
}

static void out_update_deadline(S2sOut *out)
{
    gboolean waiting = out->state != OUT_OPEN || !g_queue_is_empty(&out->verifies);
    for (guint i = 0; !waiting && i < out->links->len; i++)
        waiting = ((S2sLink *)out->links->pdata[i])->state != LINK_READY;
    if (waiting && !out->deadline_src && out->state != OUT_CLOSED)
        out->deadline_src = g_timeout_add_seconds(s2s_conf.connect_timeout, deadline_cb, out);
    else if (!waiting && out->deadline_src) {
        g_source_remove(out->deadline_src);
        out->deadline_src = 0;
    }
}

/* Our certificate for the stream's 'from'; a component domain without one of its own
 * uses the first hosted domain's (the peer then falls back to dialback). */
static SSL_CTX *client_ctx(S2sOut *out)
{
    SSL_CTX *ctx = tls_store_client_ctx(s2s_conf.srv->tls, out->local);
    return ctx ? ctx : tls_store_client_ctx(s2s_conf.srv->tls, s2s_conf.srv->domains[0]);
}

/* ---- resolve and connect ---- */

static void resolved_cb(GPtrArray *candidates, const GError *error, gpointer ud)
{
    S2sOut *out = ud;
    out->query = NULL;
    if (!candidates || candidates->len == 0) {
        if (error && error->domain == RESOLVE_ERROR && error->code == RESOLVE_ERROR_TIMEOUT)
            out->timed_out = TRUE;
        out_set_fail(out, "cannot resolve %s: %s", out->remote,
                     error ? error->message : "no addresses");
        if (candidates)
            g_ptr_array_unref(candidates);
        out_finish(out);
        return;
    }
    out->candidates = candidates;
    try_next(out);
}

static void connected_cb(int fd, const GError *error, gpointer ud)
{
    S2sOut *out = ud;
    out->connecting = NULL;
    ResolveCandidate *c = out->candidates->pdata[out->next - 1];
    if (fd < 0) {
        g_debug("s2s-out %s -> %s: %s (%s)", out->local, out->remote, error->message, c->host);
        out_set_fail(out, "cannot connect to %s: %s", out->remote, error->message);
        try_next(out);
        return;
    }
    out->state = OUT_WAIT_FEATURES;
    out->direct_tls = c->direct_tls;
    out->stream = stream_new_outgoing(&out_kind, fd, out);
    stream_set_local_domain(out->stream, out->local);
    stream_set_peer_domain(out->stream, out->remote);
    server_stream_limits(s2s_conf.srv, out->stream, &s2s_conf.preauth_limits, "s2s");
    g_debug("s2s-out %s -> %s: connected to %s port %u%s", out->local, out->remote, c->host,
            c->port, c->direct_tls ? " (direct TLS)" : "");
    if (c->direct_tls) /* XEP-0368: SNI is the domain, not the SRV target */
        stream_start_direct_tls_client(out->stream, client_ctx(out), out->remote);
    else
        stream_open(out->stream);
    s2s_status_changed();
}

static void try_next(S2sOut *out)
{
    if (out->timed_out || !out->candidates || out->next >= out->candidates->len) {
        if (!out->fail_text)
            out_set_fail(out, "no server of %s answered", out->remote);
        out_finish(out);
        return;
    }
    ResolveCandidate *c = out->candidates->pdata[out->next++];
    out->state = OUT_CONNECTING;
    out->cert = CERT_NONE;
    out->sasl_tried = FALSE;
    out->peer_dialback = out->peer_db_errors = out->peer_sm = FALSE;
    out->connecting =
        conn_connect((const struct sockaddr *)&c->addr, c->addr_len,
                     MIN(OUT_TCP_CONNECT_MS, s2s_conf.connect_timeout * 1000), connected_cb, out);
}

S2sOut *s2s_out_new(const char *local, const char *remote)
{
    static guint serials;
    S2sOut *out = g_new0(S2sOut, 1);
    out->serial = ++serials;
    out->local = g_strdup(local);
    out->remote = g_strdup(remote);
    out->links = g_ptr_array_new();
    out->authed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL); /* -> method */
    out->last_used = g_get_monotonic_time();
    out->node.data = out;
    g_queue_init(&out->verifies);
    g_queue_init(&out->inflight);
    g_queue_push_tail_link(&outs, &out->node);
    out->state = OUT_RESOLVING;
    g_debug("s2s-out %s -> %s: resolving", local, remote);
    out_update_deadline(out);
    out->query = resolver_lookup_s2s(s2s_conf.resolver, remote, resolved_cb, out);
    return out;
}

/* ---- dialback on this stream ---- */

static void send_db_result(S2sOut *out, S2sLink *l)
{
    const char *id = stream_peer_id(out->stream);
    if (!id) {
        out_set_fail(out, "the peer's stream header has no id");
        stream_error(out->stream, STREAM_ERR_INVALID_XML, "a stream id is required");
        return;
    }
    /* XEP-0185: key over (receiving, originating, stream id) */
    g_autofree char *key = dialback_key(l->remote, l->local, id);
    g_autoptr(XmlNode) db = dialback_element("result", l->local, l->remote, NULL, NULL, key);
    stream_send(out->stream, db);
    memset(key, 0, strlen(key));
    l->state = LINK_AUTH;
}

static void send_verify(S2sOut *out, VerifyReq *v)
{
    g_autoptr(XmlNode) db = dialback_element("verify", v->local, v->remote, NULL, v->id, v->key);
    stream_send(out->stream, db);
    v->sent = TRUE;
}

/* Negotiation is over: send what waited for it. */
static void out_go_open(S2sOut *out)
{
    out->state = OUT_OPEN;
    stream_set_limits(out->stream, &s2s_conf.limits);
    g_debug("s2s-out %s -> %s: open (TLS %s, certificate %s)", out->local, out->remote,
            s2s_out_tls_version(out), cert_status_name(out->cert));
    for (GList *n = out->verifies.head; n; n = n->next)
        if (!((VerifyReq *)n->data)->sent)
            send_verify(out, n->data);
    for (guint i = 0; i < out->links->len; i++) {
        S2sLink *l = out->links->pdata[i];
        if (l->state != LINK_WAIT)
            continue;
        if (g_hash_table_contains(out->authed, l->local))
            s2s_link_ready(l, g_hash_table_lookup(out->authed, l->local));
        else if (s2s_conf.dialback)
            send_db_result(out, l);
    }
    if (!s2s_conf.dialback && !g_hash_table_contains(out->authed, out->local) &&
        out->links->len > 0) {
        out_set_fail(out, "SASL EXTERNAL failed and dialback is disabled");
        stream_close(out->stream);
        return;
    }
    out_update_deadline(out);
    s2s_status_changed();
}

static S2sLink *find_attached(S2sOut *out, const char *local, const char *remote)
{
    for (guint i = 0; i < out->links->len; i++) {
        S2sLink *l = out->links->pdata[i];
        if (!g_strcmp0(l->local, local) && !g_strcmp0(l->remote, remote))
            return l;
    }
    return NULL;
}

static void handle_db_result(S2sOut *out, XmlNode *el)
{
    const char *type = xml_node_attr(el, "type");
    S2sLink *l = find_attached(out, xml_node_attr(el, "to"), xml_node_attr(el, "from"));
    if (!l || l->state != LINK_AUTH || !type) { /* unsolicited: authorizes nothing */
        g_debug("s2s-out %s -> %s: ignoring an unsolicited dialback result", out->local,
                out->remote);
        return;
    }
    if (g_str_equal(type, "valid")) {
        g_hash_table_insert(out->authed, g_strdup(l->local), "dialback");
        s2s_link_ready(l, "dialback");
        out_update_deadline(out);
        return;
    }
    g_ptr_array_remove(out->links, l);
    l->out = NULL;
    s2s_link_fail(l, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "the remote server refused dialback");
    out_update_deadline(out);
}

static void handle_db_verify(S2sOut *out, XmlNode *el)
{
    const char *type = xml_node_attr(el, "type"), *id = xml_node_attr(el, "id");
    const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
    for (GList *n = out->verifies.head; n; n = n->next) {
        VerifyReq *v = n->data;
        if (!v->sent || g_strcmp0(v->id, id) || g_strcmp0(v->local, to) ||
            g_strcmp0(v->remote, from) || !type)
            continue;
        g_queue_delete_link(&out->verifies, n);
        v->done(g_str_equal(type, "valid"), v->ud);
        verify_free(v);
        out_update_deadline(out);
        return;
    }
    g_debug("s2s-out %s -> %s: ignoring an unsolicited dialback verify", out->local, out->remote);
}

/* ---- XEP-0198 acks (the stream-management part of s2s; no resumption) ---- */

/* Stanzas count (the peer's <a/> releases them, not its TCP)? */
static gboolean sm_tracking(const S2sOut *out)
{
    return out->sm == SM_REQUESTED || out->sm == SM_ON;
}

static gboolean sm_window_full(const S2sOut *out)
{
    return sm_tracking(out) && out->inflight.length >= s2s_conf.queue_size;
}

static void sm_request(S2sOut *out)
{
    out->sm_since_r = 0;
    stream_send_raw(out->stream, "<r xmlns='" NS_SM "'/>");
}

/* The window has room again: send what the ready links queued meanwhile. */
static void sm_drain(S2sOut *out)
{
    for (guint i = 0; i < out->links->len; i++) {
        S2sLink *l = out->links->pdata[i];
        Stanza *st;
        while (l->state == LINK_READY && s2s_out_ready(out) && (st = g_queue_pop_head(&l->queue)))
            s2s_out_send(out, st);
    }
    s2s_status_changed();
}

/* <a h/>: forget the stanzas up to h (32-bit, wrapping). FALSE after a stream error. */
static gboolean sm_ack(S2sOut *out, const char *h_text)
{
    char *end = NULL;
    guint64 h = h_text ? g_ascii_strtoull(h_text, &end, 10) : G_MAXUINT64;
    guint32 n = (guint32)h - out->sm_acked;
    if (!h_text || !*h_text || *end || h > G_MAXUINT32 || n > out->inflight.length) {
        out_set_fail(out, "%s acknowledged %s stanzas, %u were sent", out->remote,
                     h_text ? h_text : "?", (guint32)(out->sm_acked + out->inflight.length));
        stream_error(out->stream, STREAM_ERR_UNDEFINED_CONDITION,
                     "'h' acknowledges more stanzas than were sent");
        return FALSE;
    }
    for (guint32 i = 0; i < n; i++) {
        InFlight *f = g_queue_peek_head(&out->inflight);
        if (!f->wire) { /* still in our buffer: the peer cannot have it */
            out_set_fail(out, "%s acknowledged stanzas not yet sent", out->remote);
            stream_error(out->stream, STREAM_ERR_UNDEFINED_CONDITION,
                         "'h' acknowledges more stanzas than were sent");
            return FALSE;
        }
        g_queue_pop_head(&out->inflight);
        stanza_unref(f->st);
        g_free(f);
    }
    out->sm_acked = (guint32)h;
    if (n > 0)
        out->sm_progress = g_get_monotonic_time();
    return TRUE;
}

static void sm_handle(S2sOut *out, XmlNode *el)
{
    if (!strcmp(el->name, "enabled") && out->sm == SM_REQUESTED) {
        out->sm = SM_ON;
        g_debug("s2s-out %s -> %s: stream management on", out->local, out->remote);
        if (!g_queue_is_empty(&out->inflight))
            sm_request(out);
        s2s_status_changed();
    } else if (!strcmp(el->name, "failed") && out->sm == SM_REQUESTED) {
        out->sm = SM_FAILED; /* what was sent is covered by TCP acks from now on */
        g_debug("s2s-out %s -> %s: stream management refused", out->local, out->remote);
        sm_drain(out);
    } else if (!strcmp(el->name, "a") && out->sm == SM_ON) {
        if (sm_ack(out, xml_node_attr(el, "h")))
            sm_drain(out);
    } else if (!strcmp(el->name, "r") && out->sm == SM_ON) {
        g_autoptr(XmlNode) a = xml_node_new(NS_SM, "a");
        g_autofree char *hs = g_strdup_printf("%u", out->sm_h);
        xml_node_set_attr(a, "h", hs);
        stream_send(out->stream, a);
    } else {
        g_debug("s2s-out %s -> %s: ignoring <%s xmlns='" NS_SM "'/>", out->local, out->remote,
                el->name);
    }
}

/* Every second: ask for an ack once sending paused; a peer that acknowledges nothing for
 * idle_timeout is gone (its stanzas go to a new stream). FALSE when the stream broke. */
static gboolean sm_check(S2sOut *out, gint64 now)
{
    if (!sm_tracking(out) || g_queue_is_empty(&out->inflight) ||
        stream_state(out->stream) != STREAM_STATE_OPEN)
        return TRUE;
    if (now - out->sm_progress >= (gint64)s2s_conf.idle_timeout * G_USEC_PER_SEC) {
        out_set_fail(out, "%s acknowledged nothing for %u s", out->remote, s2s_conf.idle_timeout);
        stream_error(out->stream, STREAM_ERR_CONNECTION_TIMEOUT, "no acknowledgement");
        return FALSE;
    }
    if (out->sm == SM_ON && out->sm_since_r > 0 && now - out->last_used >= OUT_SM_R_IDLE_US)
        sm_request(out);
    return TRUE;
}

/* ---- stream callbacks ---- */

static gboolean out_on_open(Stream *s, const char *to, const char *from, const char *version,
                            const char *lang)
{
    return TRUE; /* the peer's 'from' may name another of its domains (RFC 6120 §4.7.1) */
}

static void out_on_tls_ready(Stream *s)
{
    S2sOut *out = stream_owner(s);
    out->cert = verify_peer_cert(stream_conn(s), out->remote);
    g_debug("s2s-out %s -> %s: TLS up, certificate %s", out->local, out->remote,
            cert_status_name(out->cert));
    if (out->cert != CERT_VALID && s2s_needs_valid_cert(out->remote)) {
        out_set_fail(out, "the certificate of %s is %s", out->remote, cert_status_name(out->cert));
        stream_error(s, STREAM_ERR_POLICY_VIOLATION, "a valid certificate is required");
    }
}

static void handle_features(S2sOut *out, XmlNode *f)
{
    Stream *s = out->stream;
    if (!stream_is_tls(s)) {
        if (xml_node_child(f, NS_TLS, "starttls")) { /* RFC 6120 §5.4.2 */
            stream_send_raw(s, "<starttls xmlns='" NS_TLS "'/>");
            out->state = OUT_WAIT_PROCEED;
            return;
        }
        if (s2s_conf.require_tls || s2s_needs_valid_cert(out->remote)) {
            out_set_fail(out, "%s does not offer TLS", out->remote);
            stream_error(s, STREAM_ERR_POLICY_VIOLATION, "TLS is required");
            return;
        }
    }
    XmlNode *db = xml_node_child(f, NS_DIALBACK_FEATURE, "dialback");
    out->peer_dialback = db != NULL;
    out->peer_sm = xml_node_child(f, NS_SM, "sm") != NULL; /* enabled with the first stanza */
    out->peer_db_errors = db && xml_node_child(db, NS_DIALBACK_FEATURE, "errors");
    if (!g_hash_table_contains(out->authed, out->local) && !out->sasl_tried && stream_is_tls(s) &&
        sasl_external_offered(f)) { /* XEP-0178 */
        g_autoptr(XmlNode) auth = sasl_external_auth(out->local);
        stream_send(s, auth);
        out->sasl_tried = TRUE;
        out->state = OUT_WAIT_SASL;
        return;
    }
    out_go_open(out);
}

static void out_on_element(Stream *s, XmlNode *el)
{
    S2sOut *out = stream_owner(s);
    g_autoptr(XmlNode) owned = el;
    if (xml_node_is(el, XML_NS_STREAMS, "features")) {
        if (out->state == OUT_WAIT_FEATURES)
            handle_features(out, el);
    } else if (xml_node_is(el, XML_NS_STREAMS, "error")) {
        XmlNode *cond = xml_node_first_element(el);
        out_set_fail(out, "stream error from %s: %s", out->remote, cond ? cond->name : "?");
    } else if (!strcmp(el->ns, NS_TLS) && out->state == OUT_WAIT_PROCEED) {
        if (!strcmp(el->name, "proceed")) {
            out->state = OUT_WAIT_FEATURES;
            stream_starttls_client(s, client_ctx(out), out->remote);
        } else {
            out_set_fail(out, "%s refused STARTTLS", out->remote);
            stream_close(s);
        }
    } else if (!strcmp(el->ns, NS_SASL) && out->state == OUT_WAIT_SASL) {
        if (!strcmp(el->name, "success")) { /* XEP-0178 §3 step 11: restart */
            g_hash_table_insert(out->authed, g_strdup(out->local), "sasl-external");
            out->state = OUT_WAIT_FEATURES;
            stream_restart(s);
        } else {
            g_debug("s2s-out %s -> %s: SASL EXTERNAL refused, trying dialback", out->local,
                    out->remote);
            out_go_open(out); /* XEP-0178 §4: fall back to dialback */
        }
    } else if (!strcmp(el->ns, NS_SM) && out->state == OUT_OPEN) {
        sm_handle(out, el);
    } else if (!strcmp(el->ns, XML_NS_SERVER) && sm_tracking(out)) {
        out->sm_h++; /* a stanza on our outgoing stream: dropped, but counted as handled */
        g_debug("s2s-out %s -> %s: ignoring a <%s/> stanza", out->local, out->remote, el->name);
    } else if (xml_node_is(el, NS_DIALBACK, "result") && out->state == OUT_OPEN) {
        handle_db_result(out, el);
    } else if (xml_node_is(el, NS_DIALBACK, "verify") && out->state == OUT_OPEN) {
        handle_db_verify(out, el);
    } else {
        g_debug("s2s-out %s -> %s: ignoring <%s xmlns='%s'/>", out->local, out->remote, el->name,
                el->ns);
    }
}

static void out_on_closed(Stream *s)
{
    S2sOut *out = stream_owner(s);
    OutState was = out->state;
    out->acked = conn_wire_acked(stream_conn(s));
    stream_free(out->stream);
    out->stream = NULL;
    if (was < OUT_OPEN && !out->timed_out && out->candidates &&
        out->next < out->candidates->len) { /* RFC 6120 §3.2.1: the next address */
        try_next(out);
        return;
    }
    if (!out->fail_text)
        out_set_fail(out, "the stream to %s closed", out->remote);
    out_finish(out);
}

/* ---- the end of a stream: links re-queue or bounce, verifications fail ---- */

/* l leaves out: what the peer did not acknowledge (with XEP-0198 its <a/>, else its TCP:
 * acked wire bytes) goes back to the front of its queue. */
static void detach_ready(S2sOut *out, S2sLink *l, guint64 acked)
{
    GQueue requeue = G_QUEUE_INIT;
    for (GList *n = out->inflight.head; n; n = n->next) {
        InFlight *f = n->data;
        if (f->link != l || !f->st)
            continue;
        if (sm_tracking(out) || !f->wire || f->wire > acked)
            g_queue_push_tail(&requeue, g_steal_pointer(&f->st));
    }
    l->out = NULL;
    s2s_link_broken(l, &requeue);
}

static void out_finish(S2sOut *out)
{
    out->state = OUT_CLOSED;
    g_queue_unlink(&outs, &out->node);
    if (out->deadline_src)
        g_source_remove(out->deadline_src);
    out->deadline_src = 0;
    if (out->query)
        resolver_cancel(out->query);
    conn_connect_cancel(out->connecting);
    if (out->stream) { /* from free_all: nothing more to say to the peer */
        stream_free(out->stream);
        out->stream = NULL;
    }
    VerifyReq *v;
    while ((v = g_queue_pop_head(&out->verifies))) {
        v->done(FALSE, v->ud);
        verify_free(v);
    }
    StanzaErr err =
        out->timed_out ? STANZA_ERR_REMOTE_SERVER_TIMEOUT : STANZA_ERR_REMOTE_SERVER_NOT_FOUND;
    GPtrArray *links = g_steal_pointer(&out->links);
    for (guint i = 0; i < links->len; i++) {
        S2sLink *l = links->pdata[i];
        l->out = NULL;
        if (l->state != LINK_READY)
            s2s_link_fail(l, err, out->fail_text);
        else
            detach_ready(out, l, out->acked);
    }
    g_ptr_array_unref(links);
    InFlight *f;
    while ((f = g_queue_pop_head(&out->inflight))) {
        if (f->st)
            stanza_unref(f->st);
        g_free(f);
    }
    if (out->candidates)
        g_ptr_array_unref(out->candidates);
    g_hash_table_unref(out->authed);
    g_free(out->fail_text);
    g_free(out->local);
    g_free(out->remote);
    g_free(out);
    s2s_status_changed();
}

/* ---- API for s2s.c and in.c ---- */

S2sOut *s2s_out_find(const char *local, const char *remote)
{
    for (GList *n = outs.head; n; n = n->next) {
        S2sOut *out = n->data;
        if (out->state == OUT_CLOSED || strcmp(out->remote, remote))
            continue;
        if (!strcmp(out->local, local))
            return out; /* the same pair, in any state */
    }
    for (GList *n = outs.head; n; n = n->next) {
        S2sOut *out = n->data;
        /* XEP-0220 §5: piggyback only where the peer announced dialback errors, and only
         * over a stream as trusted as a fresh one would be */
        if (out->state == OUT_OPEN && !strcmp(out->remote, remote) && out->peer_db_errors &&
            s2s_conf.dialback && (out->cert == CERT_VALID || !s2s_needs_valid_cert(remote)))
            return out;
    }
    return NULL;
}

void s2s_out_attach(S2sOut *out, S2sLink *l)
{
    l->out = out;
    l->state = LINK_WAIT;
    g_ptr_array_add(out->links, l);
    if (out->state == OUT_OPEN) {
        if (g_hash_table_contains(out->authed, l->local))
            s2s_link_ready(l, g_hash_table_lookup(out->authed, l->local));
        else
            send_db_result(out, l);
    }
    out_update_deadline(out);
}

static void inflight_written(gpointer ud)
{
    InFlight *f = ud;
    f->wire = conn_wire_sent(stream_conn(f->out->stream));
}

/* Forget what the peer's TCP acknowledged (without XEP-0198). */
static void prune_inflight(S2sOut *out)
{
    if (!out->stream || g_queue_is_empty(&out->inflight) || sm_tracking(out))
        return;
    guint64 acked = conn_wire_acked(stream_conn(out->stream));
    InFlight *f;
    while ((f = g_queue_peek_head(&out->inflight)) && f->wire && f->wire <= acked) {
        g_queue_pop_head(&out->inflight);
        stanza_unref(f->st);
        g_free(f);
    }
}

gboolean s2s_out_ready(const S2sOut *out)
{
    return out && out->state == OUT_OPEN && out->stream &&
           stream_state(out->stream) == STREAM_STATE_OPEN && !sm_window_full(out);
}

void s2s_out_send(S2sOut *out, Stanza *st)
{
    S2sLink *l = s2s_link_find(jid_domain(st->from), jid_domain(st->to));
    if (!s2s_out_ready(out) || !l) {
        if (l) { /* the stream is going away: wait for the next one */
            g_queue_push_tail(&l->queue, st);
            return;
        }
        router_bounce(st, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, NULL);
        stanza_unref(st);
        return;
    }
    out->last_used = g_get_monotonic_time();
    prune_inflight(out);
    if (out->peer_sm && out->sm == SM_OFF && g_queue_is_empty(&out->inflight)) {
        /* authenticated (stanzas flow only on ready links): count from here on */
        stream_send_raw(out->stream, "<enable xmlns='" NS_SM "'/>");
        out->sm = SM_REQUESTED;
        out->sm_acked = out->sm_h = 0;
        out->sm_since_r = 0;
    }
    if (sm_tracking(out) && g_queue_is_empty(&out->inflight))
        out->sm_progress = out->last_used;
    stream_send_stanza(out->stream, st);
    InFlight *f = g_new0(InFlight, 1);
    f->st = st;
    f->link = l;
    f->out = out;
    g_queue_push_tail(&out->inflight, f);
    Conn *c = stream_conn(out->stream);
    conn_when_sent(c, conn_queued_mark(c), inflight_written, f, NULL);
    if (out->sm == SM_ON && (++out->sm_since_r >= OUT_SM_R_EVERY || sm_window_full(out)))
        sm_request(out);
}

void s2s_out_verify(const char *local, const char *remote, const char *id, const char *key,
                    S2sVerifyFunc done, gpointer ud)
{
    S2sOut *out = NULL;
    for (GList *n = outs.head; n && !out; n = n->next) {
        S2sOut *o = n->data;
        if (o->state != OUT_CLOSED && !strcmp(o->local, local) && !strcmp(o->remote, remote))
            out = o;
    }
    if (!out)
        out = s2s_out_new(local, remote);
    VerifyReq *v = g_new0(VerifyReq, 1);
    v->local = g_strdup(local);
    v->remote = g_strdup(remote);
    v->id = g_strdup(id);
    v->key = g_strdup(key);
    v->done = done;
    v->ud = ud;
    g_queue_push_tail(&out->verifies, v);
    if (out->state == OUT_OPEN)
        send_verify(out, v);
    out_update_deadline(out);
}

void s2s_out_verify_cancel(gpointer ud)
{
    for (GList *n = outs.head; n; n = n->next) {
        S2sOut *out = n->data;
        for (GList *m = out->verifies.head; m;) {
            GList *next = m->next;
            VerifyReq *v = m->data;
            if (v->ud == ud) {
                g_queue_delete_link(&out->verifies, m);
                verify_free(v);
            }
            m = next;
        }
    }
}

/* Detach the links so that new stanzas start a new stream, then close. */
static void out_retire(S2sOut *out)
{
    guint64 acked = out->stream ? conn_wire_acked(stream_conn(out->stream)) : 0;
    GPtrArray *links = g_steal_pointer(&out->links);
    out->links = g_ptr_array_new();
    for (guint i = 0; i < links->len; i++)
        detach_ready(out, links->pdata[i], acked);
    g_ptr_array_unref(links);
}

void s2s_out_close_idle(gint64 now)
{
    for (GList *n = outs.head; n; n = n->next) {
        S2sOut *out = n->data;
        if (out->state != OUT_OPEN)
            continue;
        prune_inflight(out);
        if (!sm_check(out, now) || (sm_tracking(out) && !g_queue_is_empty(&out->inflight)))
            continue; /* broken, or waiting for acks */
        if (now - out->last_used < (gint64)s2s_conf.idle_timeout * G_USEC_PER_SEC ||
            !g_queue_is_empty(&out->verifies) || stream_state(out->stream) != STREAM_STATE_OPEN)
            continue;
        gboolean busy = FALSE;
        for (guint i = 0; i < out->links->len; i++) {
            S2sLink *l = out->links->pdata[i];
            busy |= l->state != LINK_READY || !g_queue_is_empty(&l->queue);
        }
        if (busy)
            continue;
        g_debug("s2s-out %s -> %s: idle, closing", out->local, out->remote);
        out_retire(out);
        stream_close(out->stream);
        s2s_status_changed();
    }
}

guint s2s_out_close_all(StreamErr err, const char *text)
{
    guint n = 0;
    for (GList *l = outs.head, *next; l; l = next) {
        next = l->next;
        S2sOut *out = l->data;
        if (!out->stream) { /* resolving or connecting: nobody to tell */
            out_retire(out);
            out_set_fail(out, "%s", text ? text : "closing");
            out_finish(out);
            continue;
        }
        if (stream_state(out->stream) != STREAM_STATE_CLOSED) {
            out_retire(out);
            stream_error(out->stream, err, text);
            n++;
        }
    }
    return n;
}

void s2s_out_free_all(void)
{
    while (outs.head) {
        S2sOut *out = outs.head->data;
        if (!out->fail_text)
            out->fail_text = g_strdup("the server is shutting down");
        out_finish(out);
    }
}

guint s2s_out_count(void)
{
    return outs.length;
}

CertStatus s2s_out_peer_cert(const S2sOut *out)
{
    return out->cert;
}

guint s2s_out_serial(const S2sOut *out)
{
    return out->serial;
}

const char *s2s_out_via(const S2sOut *out)
{
    if (!out->stream)
        return "-";
    if (out->direct_tls)
        return "direct-tls";
    return stream_is_tls(out->stream) ? "starttls" : "plain";
}

const char *s2s_out_sm(const S2sOut *out)
{
    return out->sm == SM_ON ? "on" : "off";
}

const char *s2s_out_tls_version(const S2sOut *out)
{
    if (!out->stream || !stream_is_tls(out->stream))
        return "none";
    return SSL_get_version(conn_ssl(stream_conn(out->stream)));
}
