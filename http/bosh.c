/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/bosh.c — BOSH (XEP-0124, XEP-0206) at /http-bind: <body/> wrappers around a framed c2s
 * stream */
#include "http/http.h"

#include <string.h>

#include "http/bosh_body.h"

#include "c2s/c2s.h"
#include "router/conn.h"
#include "router/xml.h"

/*
 * A BOSH session is one c2s session on an RFC 7395 framed stream (router/stream.c), as for
 * WebSocket: each child of a request's <body/> is fed to the stream's virtual Conn as one
 * message, a session creation or xmpp:restart as an <open/>, type='terminate' as a <close/>.
 * What the stream writes comes back one element per message: <open/> gives the authid,
 * <stream:error/> and <close/> end the session, everything else is queued and goes out in
 * the body of the oldest held request (XEP-0124 §10, §12).
 *
 * Requests are processed in 'rid' order (§14.1): a rid ahead of the next one, within the
 * window of 'requests', waits for the gap; a rid already answered gets its response again
 * (§14.3, the last 'requests' responses are kept); anything else ends the session with
 * item-not-found. At most 'hold' requests wait for data, each at most 'wait' seconds; with
 * none held for 'inactivity' seconds the session ends as a broken connection (so that a
 * XEP-0198 session can be resumed).
 */

#define BOSH_VERSION "1.11"
#define BOSH_POLLING 2 /* seconds: advertised, not enforced */
#define EMPTY_BODY "<body xmlns='" NS_HTTPBIND "'/>"
#define FRAMING_CLOSE "<close xmlns='" NS_FRAMING "'/>"

typedef struct BoshSession BoshSession;

typedef struct {
    BoshSession *s;
    guint64 rid;
    SoupServerMessage *msg; /* ref held */
    gulong finished_id;
    guint timer;        /* 'wait' expiry (held requests) */
    GPtrArray *nodes;   /* buffered out-of-order request: its children (XmlNode*), else NULL */
    char *restart_to;   /* buffered: xmpp:restart='true' with this 'to' */
    gboolean terminate; /* buffered: type='terminate' */
    gboolean creation;  /* the session creation request: its answer carries the attributes */
} BoshReq;

struct BoshSession {
    char *sid;
    char *to;
    char *lang;
    char *peer;
    Conn *conn; /* NULL once the stream let go or we did */
    guint64 next_rid;
    guint wait, hold, requests;
    char ver[8];
    GQueue held;         /* BoshReq* processed and waiting for data, oldest first */
    GHashTable *waiting; /* rid -> BoshReq* received ahead of next_rid */
    GHashTable *cache;   /* rid -> GBytes* responses sent, for a repeated rid */
    GQueue cache_order;  /* guint64* keys of cache, oldest first */
    GString *out;        /* children for the next response */
    char *authid;        /* the id of the stream's current <open/> */
    char *from;
    char *stream_error; /* the <stream:error/> that ended it */
    gboolean ended;     /* the stream is over: the next answer terminates */
    guint deliver_idle;
    guint inactivity_src;
};

static Server *server;
static GHashTable *sessions; /* sid -> BoshSession* */

static void session_destroy(BoshSession *s);
static void schedule_deliver(BoshSession *s);

/* ---- responses ---- */

static void cors(SoupServerMessage *msg)
{
    /* any origin: the session is authenticated by SASL inside, never by cookies */
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "Access-Control-Allow-Origin", "*");
    soup_message_headers_replace(h, "Access-Control-Allow-Methods", "POST, OPTIONS");
    soup_message_headers_replace(h, "Access-Control-Allow-Headers", "Content-Type");
    soup_message_headers_replace(h, "Access-Control-Max-Age", "86400");
}

static void send_text(SoupServerMessage *msg, const char *text, gsize len)
{
    HttpRequest r = {.srv = server, .msg = msg};
    cors(msg);
    http_reply_text(&r, SOUP_STATUS_OK, "text/xml; charset=utf-8", text, len);
}

/* <body type='terminate' condition=.../> for a request that has no session (any more). */
static void send_terminate(SoupServerMessage *msg, const char *condition)
{
    g_autofree char *t = g_strdup_printf(
        "<body type='terminate' condition='%s' xmlns='" NS_HTTPBIND "'/>", condition);
    send_text(msg, t, strlen(t));
}

static void req_free(BoshReq *r)
{
    if (r->timer)
        g_source_remove(r->timer);
    if (r->msg) {
        if (r->finished_id)
            g_signal_handler_disconnect(r->msg, r->finished_id);
        g_object_unref(r->msg);
    }
    if (r->nodes)
        g_ptr_array_unref(r->nodes);
    g_free(r->restart_to);
    g_free(r);
}

/* Answer a held request with body (transfer full) and keep it for a repeated rid. */
static void req_answer(BoshReq *r, GBytes *body)
{
    BoshSession *s = r->s;
    gsize len = 0;
    const char *text = g_bytes_get_data(body, &len);
    if (r->msg) {
        send_text(r->msg, text, len);
        soup_server_message_unpause(r->msg);
    }
    guint64 *key = g_new(guint64, 1);
    *key = r->rid;
    g_hash_table_replace(s->cache, key, body);
    g_queue_push_tail(&s->cache_order, key);
    while (s->cache_order.length > s->requests + 1)
        g_hash_table_remove(s->cache, g_queue_pop_head(&s->cache_order));
    req_free(r);
}

/* The body of an answer: the session attributes for the creation request, the queued
 * output, and type='terminate' once the stream is over. transfer full */
static GBytes *build_body(BoshSession *s, BoshReq *r, gboolean with_data)
{
    GString *b = g_string_new("<body xmlns='" NS_HTTPBIND "'");
    if (r->creation) { /* XEP-0124 §7.1, XEP-0206 §4 */
        g_string_append_printf(b,
                               " sid='%s' wait='%u' requests='%u' hold='%u' inactivity='%d'"
                               " polling='%d' ver='%s' xmlns:xmpp='" NS_XBOSH
                               "' xmpp:version='1.0' xmpp:restartlogic='true'",
                               s->sid, s->wait, s->requests, s->hold,
                               (int)config_get_int(server->config, "http", "bosh_inactivity"),
                               BOSH_POLLING, s->ver);
        if (s->authid) {
            g_string_append(b, " authid='");
            xml_escape_append(b, s->authid, -1);
            g_string_append(b, "'");
        }
        if (s->from) {
            g_string_append(b, " from='");
            xml_escape_append(b, s->from, -1);
            g_string_append(b, "'");
        }
    }
    gboolean data = with_data && s->out->len > 0;
    if (s->ended && with_data) {
        if (s->stream_error && strstr(s->stream_error, "<host-unknown "))
            g_string_append(b, " type='terminate' condition='host-unknown'");
        else if (s->stream_error && strstr(s->stream_error, "<system-shutdown "))
            g_string_append(b, " type='terminate' condition='system-shutdown'");
        else if (s->stream_error) /* XEP-0206 §7 */
            g_string_append(b, " type='terminate' condition='remote-stream-error'");
        else
            g_string_append(b, " type='terminate'");
    }
    gboolean err = s->ended && with_data && s->stream_error;
    if (!data && !err) {
        g_string_append(b, "/>");
    } else {
        g_string_append(b, " xmlns:stream='" XML_NS_STREAMS "'>");
        if (data) {
            g_string_append_len(b, s->out->str, (gssize)s->out->len);
            g_string_truncate(s->out, 0);
        }
        if (err)
            g_string_append(b, s->stream_error);
        g_string_append(b, "</body>");
    }
    return g_string_free_to_bytes(b);
}

static gboolean inactivity_cb(gpointer data)
{
    BoshSession *s = data;
    s->inactivity_src = 0;
    g_debug("bosh %s: no request for %u s: the session ends", s->sid,
            (guint)config_get_int(server->config, "http", "bosh_inactivity"));
    session_destroy(s); /* as a broken connection: XEP-0198 may resume it */
    return G_SOURCE_REMOVE;
}

static void update_inactivity(BoshSession *s)
{
    if (s->inactivity_src) {
        g_source_remove(s->inactivity_src);
        s->inactivity_src = 0;
    }
    if (s->held.length == 0 && g_hash_table_size(s->waiting) == 0)
        s->inactivity_src = g_timeout_add_seconds(
            (guint)config_get_int(server->config, "http", "bosh_inactivity"), inactivity_cb, s);
}

/* Answer what can be answered now (XEP-0124 §10, §12). */
static gboolean deliver_cb(gpointer data)
{
    BoshSession *s = data;
    s->deliver_idle = 0;
    BoshReq *r;
    if (s->ended) { /* the first held request carries the rest and the end; others end too */
        gboolean first = TRUE;
        while ((r = g_queue_pop_head(&s->held))) {
            req_answer(r, build_body(s, r, first));
            first = FALSE;
        }
        if (!first) {
            session_destroy(s);
            return G_SOURCE_REMOVE;
        }
        update_inactivity(s);
        return G_SOURCE_REMOVE;
    }
    r = g_queue_peek_head(&s->held);
    if (r && s->out->len > 0 && (!r->creation || s->authid)) {
        g_queue_pop_head(&s->held);
        req_answer(r, build_body(s, r, TRUE));
    }
    while (s->held.length > s->hold) {
        r = g_queue_peek_head(&s->held);
        if (r->creation && !s->authid)
            break; /* its answer needs the stream's id: comes with the next flush */
        g_queue_pop_head(&s->held);
        req_answer(r, build_body(s, r, FALSE));
    }
    update_inactivity(s);
    return G_SOURCE_REMOVE;
}

static void schedule_deliver(BoshSession *s)
{
    /* after the flush of this loop turn: every message of it is in s->out */
    if (!s->deliver_idle)
        s->deliver_idle = g_idle_add(deliver_cb, s);
}

static gboolean wait_cb(gpointer data)
{
    BoshReq *r = data;
    BoshSession *s = r->s;
    r->timer = 0;
    if (r->creation && !s->authid)
        return G_SOURCE_REMOVE; /* never: the stream opens in the same loop turn */
    g_queue_remove(&s->held, r);
    req_answer(r, build_body(s, r, s->out->len > 0));
    update_inactivity(s);
    return G_SOURCE_REMOVE;
}

/* The HTTP client went away while its request was held. */
static void on_finished(SoupServerMessage *msg, gpointer data)
{
    BoshReq *r = data;
    g_signal_handler_disconnect(msg, r->finished_id);
    r->finished_id = 0;
    g_object_unref(r->msg);
    r->msg = NULL;
}

static BoshReq *req_new(BoshSession *s, guint64 rid, SoupServerMessage *msg)
{
    BoshReq *r = g_new0(BoshReq, 1);
    r->s = s;
    r->rid = rid;
    r->msg = g_object_ref(msg);
    r->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_finished), r);
    soup_server_message_pause(msg);
    return r;
}

static void hold_req(BoshSession *s, BoshReq *r)
{
    g_queue_push_tail(&s->held, r);
    r->timer = g_timeout_add_seconds(s->wait, wait_cb, r);
    /* §12: over 'hold', the oldest goes back now (its data, if any, is in s->out) */
    while (s->held.length > s->hold) {
        BoshReq *old = g_queue_peek_head(&s->held);
        if (old->creation && !s->authid)
            break;
        g_queue_pop_head(&s->held);
        req_answer(old, build_body(s, old, !s->ended));
    }
    schedule_deliver(s);
}

/* ---- the sink: what the stream writes ---- */

static void sink_send(gpointer ud, const char *buf, gsize len)
{
    BoshSession *s = ud;
    static const char open_prefix[] = "<open xmlns='" NS_FRAMING "'";
    static const char close_prefix[] = "<close xmlns='" NS_FRAMING "'";
    if (len >= sizeof open_prefix - 1 && !memcmp(buf, open_prefix, sizeof open_prefix - 1)) {
        g_autoptr(XmlNode) o = xml_parse_fragment(buf, (gssize)len, NULL); /* our own text */
        if (o) {
            g_free(s->authid);
            s->authid = g_strdup(xml_node_attr(o, "id"));
            g_free(s->from);
            s->from = g_strdup(xml_node_attr(o, "from"));
        }
        schedule_deliver(s);
        return;
    }
    if (len >= sizeof close_prefix - 1 && !memcmp(buf, close_prefix, sizeof close_prefix - 1)) {
        s->ended = TRUE;
        schedule_deliver(s);
        return;
    }
    if (len >= 13 && !memcmp(buf, "<stream:error", 13)) {
        g_free(s->stream_error);
        s->stream_error = g_strndup(buf, len);
        s->ended = TRUE;
        schedule_deliver(s);
        return;
    }
    g_string_append_len(s->out, buf, (gssize)len);
    schedule_deliver(s);
}

static void sink_close(gpointer ud)
{
    BoshSession *s = ud;
    s->conn = NULL;
    s->ended = TRUE;
    schedule_deliver(s);
}

static const ConnSink bosh_sink = {sink_send, sink_close};

/* ---- sessions ---- */

static void session_destroy(BoshSession *s)
{
    g_hash_table_steal(sessions, s->sid);
    if (s->conn) /* we end it: the stream sees a broken connection */
        conn_virtual_gone(g_steal_pointer(&s->conn));
    BoshReq *r;
    GList *rest = g_hash_table_get_values(s->waiting);
    g_hash_table_steal_all(s->waiting);
    while ((r = g_queue_pop_head(&s->held)))
        rest = g_list_prepend(rest, r);
    for (GList *l = rest; l; l = l->next) {
        r = l->data;
        if (r->msg) {
            send_terminate(r->msg, "item-not-found");
            soup_server_message_unpause(r->msg);
        }
        req_free(r);
    }
    g_list_free(rest);
    g_hash_table_unref(s->waiting);
    g_hash_table_unref(s->cache);
    g_queue_clear(&s->cache_order); /* the keys went with the table */
    if (s->deliver_idle)
        g_source_remove(s->deliver_idle);
    if (s->inactivity_src)
        g_source_remove(s->inactivity_src);
    g_string_free(s->out, TRUE);
    g_free(s->sid);
    g_free(s->to);
    g_free(s->lang);
    g_free(s->peer);
    g_free(s->authid);
    g_free(s->from);
    g_free(s->stream_error);
    g_free(s);
}

static void feed_open(BoshSession *s, const char *to)
{
    GString *o = g_string_new("<open xmlns='" NS_FRAMING "' version='1.0' to='");
    xml_escape_append(o, to, -1);
    g_string_append(o, "' xml:lang='");
    xml_escape_append(o, s->lang, -1);
    g_string_append(o, "'/>");
    if (s->conn)
        conn_virtual_feed(s->conn, o->str, o->len);
    g_string_free(o, TRUE);
}

/* One child of a <body/> as its own message (bosh_body_child_message). */
static void feed_node(BoshSession *s, const XmlNode *n)
{
    if (!s->conn)
        return;
    g_autoptr(GString) t = g_string_sized_new(256);
    bosh_body_child_message(n, t);
    conn_virtual_feed(s->conn, t->str, t->len);
}

/* ---- requests ---- */

static gboolean parse_uint(const char *s, guint64 max, guint64 *out)
{
    return s && g_ascii_string_to_unsigned(s, 10, 0, max, out, NULL);
}

/* ---- processing, in rid order ---- */

/* Feed what the request carries and hold it for the answer. */
static void process(BoshSession *s, BoshReq *r)
{
    s->next_rid = r->rid + 1;
    if (r->nodes)
        for (guint i = 0; i < r->nodes->len; i++)
            feed_node(s, g_ptr_array_index(r->nodes, i));
    g_clear_pointer(&r->nodes, g_ptr_array_unref);
    if (r->terminate) { /* XEP-0124 §13: the children went first, then the stream ends */
        if (s->conn)
            conn_virtual_feed(s->conn, FRAMING_CLOSE, strlen(FRAMING_CLOSE));
        s->ended = TRUE;
    } else if (r->restart_to) { /* XEP-0206 §5 */
        feed_open(s, *r->restart_to ? r->restart_to : s->to);
    }
    hold_req(s, r);
}

static void process_waiting(BoshSession *s)
{
    BoshReq *r;
    while (!s->ended && (r = g_hash_table_lookup(s->waiting, &s->next_rid))) {
        g_hash_table_steal(s->waiting, &s->next_rid);
        process(s, r);
    }
}

static guint clamp_attr(const BoshBody *b, const char *name, guint def, guint max)
{
    guint64 v = def;
    if (!parse_uint(bosh_body_attr(b, NULL, name), G_MAXUINT32, &v))
        v = def;
    return (guint)CLAMP(v, 1, max);
}

static void create_session(HttpRequest *req, BoshBody *p, guint64 rid)
{
    const char *to = bosh_body_attr(p, NULL, "to");
    if (!to || !*to) {
        send_terminate(req->msg, "improper-addressing"); /* XEP-0124 §7.1: 'to' is required */
        return;
    }
    guint max_wait = (guint)config_get_int(server->config, "http", "bosh_max_wait");
    guint max_hold = (guint)config_get_int(server->config, "http", "bosh_max_hold");
    BoshSession *s = g_new0(BoshSession, 1);
    s->sid = stream_random_id();
    s->to = g_strdup(to);
    const char *lang = bosh_body_attr(p, XML_NS_XML, "lang");
    s->lang = g_strdup(lang && *lang && strlen(lang) < 64 ? lang : "en");
    s->wait = clamp_attr(p, "wait", max_wait, max_wait);
    s->hold = clamp_attr(p, "hold", 1, max_hold);
    s->requests = s->hold + 1;
    /* §7.1: the lower of the client's version and ours (1.x, minor compared as a number) */
    const char *ver = bosh_body_attr(p, NULL, "ver");
    guint64 minor = 0;
    if (ver && g_str_has_prefix(ver, "1.") && parse_uint(ver + 2, 99, &minor) && minor < 11)
        g_snprintf(s->ver, sizeof s->ver, "1.%u", (guint)minor);
    else
        g_strlcpy(s->ver, BOSH_VERSION, sizeof s->ver);
    s->waiting = g_hash_table_new(g_int64_hash, g_int64_equal);
    s->cache =
        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, (GDestroyNotify)g_bytes_unref);
    s->out = g_string_new(NULL);
    const char *host = soup_server_message_get_remote_host(req->msg);
    s->peer = g_strdup(host && g_str_has_prefix(host, "::ffff:") && strchr(host, '.') ? host + 7
                       : host                                                         ? host
                                                                                      : "unknown");
    s->conn = c2s_accept_framed(&bosh_sink, s, s->peer, http_peer_secure(req->msg));
    if (!s->conn) {
        send_terminate(req->msg, "policy-violation"); /* too many from this address */
        session_destroy(s);
        return;
    }
    g_hash_table_insert(sessions, s->sid, s);
    g_debug("bosh %s: new session from %s (wait %u, hold %u)", s->sid, s->peer, s->wait, s->hold);
    BoshReq *r = req_new(s, rid, req->msg);
    r->creation = TRUE;
    s->next_rid = rid + 1;
    feed_open(s, to);
    hold_req(s, r);
}

void http_bosh(HttpRequest *req)
{
    if (!sessions || !config_get_bool(server->config, "http", "bosh")) {
        http_reply_error(req, SOUP_STATUS_NOT_FOUND, "no such resource");
        return;
    }
    gsize len = 0;
    const char *data = req->body ? g_bytes_get_data(req->body, &len) : NULL;
    BoshBody p = {0};
    XmlLimits lim = {.max_stanza_bytes = server->c2s_stanza_size,
                     .max_depth = server->max_depth,
                     .max_attrs = server->max_attrs,
                     .max_header_bytes = 4096};
    if (!data || !bosh_body_parse(data, len, &lim, &p)) {
        g_debug("bosh: bad request from %s: %s", soup_server_message_get_remote_host(req->msg),
                p.why ? p.why : "no body");
        const char *sid = bosh_body_attr(&p, NULL, "sid");
        BoshSession *s = sid ? g_hash_table_lookup(sessions, sid) : NULL;
        if (s) /* XEP-0124 §17.2: bad-request is terminal */
            session_destroy(s);
        send_terminate(req->msg, "bad-request");
        bosh_body_clear(&p);
        return;
    }
    guint64 rid = 0;
    if (!parse_uint(bosh_body_attr(&p, NULL, "rid"), G_GUINT64_CONSTANT(9007199254740991), &rid)) {
        send_terminate(req->msg, "bad-request"); /* §14: rid is required, at most 2^53-1 */
        bosh_body_clear(&p);
        return;
    }
    const char *sid = bosh_body_attr(&p, NULL, "sid");
    if (!sid) {
        create_session(req, &p, rid);
        bosh_body_clear(&p);
        return;
    }
    BoshSession *s = g_hash_table_lookup(sessions, sid);
    if (!s) {
        send_terminate(req->msg, "item-not-found"); /* §17.2 */
        bosh_body_clear(&p);
        return;
    }
    if (rid < s->next_rid) { /* §14.3: a repeated request gets the same answer */
        GBytes *cached = g_hash_table_lookup(s->cache, &rid);
        for (GList *l = s->held.head; l && !cached; l = l->next) {
            BoshReq *h = l->data;
            if (h->rid != rid)
                continue;
            /* still held: the new request takes its place, the old one gets nothing */
            HttpRequest old = {.srv = server, .msg = h->msg};
            if (h->msg) {
                cors(h->msg);
                http_reply_text(&old, SOUP_STATUS_OK, "text/xml; charset=utf-8", EMPTY_BODY,
                                strlen(EMPTY_BODY));
                soup_server_message_unpause(h->msg);
                g_signal_handler_disconnect(h->msg, h->finished_id);
                g_object_unref(h->msg);
            }
            h->msg = g_object_ref(req->msg);
            h->finished_id = g_signal_connect(req->msg, "finished", G_CALLBACK(on_finished), h);
            soup_server_message_pause(req->msg);
            bosh_body_clear(&p);
            return;
        }
        if (cached) {
            gsize clen = 0;
            const char *ctext = g_bytes_get_data(cached, &clen);
            send_text(req->msg, ctext, clen);
        } else {
            session_destroy(s);
            send_terminate(req->msg, "item-not-found");
        }
        bosh_body_clear(&p);
        return;
    }
    if (rid >= s->next_rid + s->requests || g_hash_table_contains(s->waiting, &rid)) {
        session_destroy(s); /* §14.1: outside the window */
        send_terminate(req->msg, "item-not-found");
        bosh_body_clear(&p);
        return;
    }
    if (s->held.length + g_hash_table_size(s->waiting) >= s->requests) {
        session_destroy(s); /* §11: more simultaneous requests than 'requests' */
        send_terminate(req->msg, "policy-violation");
        bosh_body_clear(&p);
        return;
    }
    BoshReq *r = req_new(s, rid, req->msg);
    r->nodes = g_steal_pointer(&p.nodes);
    r->terminate = !g_strcmp0(bosh_body_attr(&p, NULL, "type"), "terminate");
    const char *restart = bosh_body_attr(&p, NS_XBOSH, "restart");
    if (restart && !strcmp(restart, "true")) {
        const char *to = bosh_body_attr(&p, NULL, "to");
        r->restart_to = g_strdup(to ? to : "");
    }
    bosh_body_clear(&p);
    if (s->inactivity_src) {
        g_source_remove(s->inactivity_src);
        s->inactivity_src = 0;
    }
    if (rid > s->next_rid) { /* ahead: waits for the requests before it */
        g_hash_table_insert(s->waiting, &r->rid, r);
        return;
    }
    process(s, r);
    process_waiting(s);
}

/* CORS preflight (browsers ask before a cross-origin POST with text/xml). */
void http_bosh_options(HttpRequest *req)
{
    cors(req->msg);
    soup_server_message_set_status(req->msg, SOUP_STATUS_NO_CONTENT, NULL);
    http_metrics_count_request(SOUP_STATUS_NO_CONTENT);
}

void http_bosh_init(Server *srv)
{
    server = srv;
    sessions = g_hash_table_new(g_str_hash, g_str_equal);
}

/* Shutdown: the streams are gone or going; held requests are dropped with the server. */
void http_bosh_fini(void)
{
    if (!sessions)
        return;
    GList *all = g_hash_table_get_values(sessions);
    for (GList *l = all; l; l = l->next)
        session_destroy(l->data);
    g_list_free(all);
    g_clear_pointer(&sessions, g_hash_table_unref);
    server = NULL;
}
