/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/in.c — incoming server streams: STARTTLS, SASL EXTERNAL, dialback, authorized pairs */
#include "s2s/s2s.h"

#include <string.h>
#include <unistd.h>

#include "router/conn.h"
#include "router/jid.h"
#include "router/router.h"

#define IN_MAX_DIALBACK_FAILURES 3
#define IN_MAX_PAIRS 32 /* domain pairs per stream, each may cost a verification */

typedef enum {
    PAIR_VERIFYING, /* asked the authoritative server */
    PAIR_VALID,
} PairState;

typedef struct {
    char *from, *to; /* remote domain, our domain */
    PairState state;
    const char *auth;
    S2sIn *in;
} InPair;

struct S2sIn {
    Stream *stream;
    char *local;  /* the header's 'to', fixed by the first header */
    char *remote; /* the header's 'from', may be NULL */
    CertStatus cert;
    GPtrArray *pairs; /* InPair* (owned) */
    guint db_failures;
    gboolean counted; /* in per_ip */
    gint64 since;
    guint serial; /* for ternctl */
    gboolean direct_tls;
    gboolean sm;  /* XEP-0198 enabled by the peer (acks only, no resumption) */
    guint32 sm_h; /* stanzas handled since <enable/>, wrapping */
    GList node;
};

static GQueue ins = G_QUEUE_INIT;
static GHashTable *per_ip; /* address -> count */

static gboolean in_on_open(Stream *s, const char *to, const char *from, const char *version,
                           const char *lang);
static void in_features(Stream *s, XmlNode *features);
static void in_on_element(Stream *s, XmlNode *el);
static void in_on_closed(Stream *s);

static const StreamKind in_kind = {
    .name = "s2s-in",
    .content_ns = XML_NS_SERVER,
    .header_attrs = " xmlns:db='" NS_DIALBACK "'",
    .on_open = in_on_open,
    .features = in_features,
    .on_element = in_on_element,
    .on_closed = in_on_closed,
};

static void pair_free(gpointer p)
{
    InPair *pair = p;
    s2s_out_verify_cancel(pair);
    g_free(pair->from);
    g_free(pair->to);
    g_free(pair);
}

static InPair *pair_find(S2sIn *in, const char *from, const char *to)
{
    for (guint i = 0; i < in->pairs->len; i++) {
        InPair *p = in->pairs->pdata[i];
        if (!g_strcmp0(p->from, from) && (!to || !g_strcmp0(p->to, to)))
            return p;
    }
    return NULL;
}

static InPair *pair_add(S2sIn *in, const char *from, const char *to, PairState st, const char *auth)
{
    InPair *p = g_new0(InPair, 1);
    p->from = g_strdup(from);
    p->to = g_strdup(to);
    p->state = st;
    p->auth = auth;
    p->in = in;
    g_ptr_array_add(in->pairs, p);
    return p;
}

static gboolean in_authenticated(S2sIn *in)
{
    for (guint i = 0; i < in->pairs->len; i++)
        if (((InPair *)in->pairs->pdata[i])->state == PAIR_VALID)
            return TRUE;
    return FALSE;
}

static void pair_valid(S2sIn *in, InPair *p, const char *auth)
{
    p->state = PAIR_VALID;
    p->auth = auth;
    stream_set_deadline(in->stream, 0, 0);
    stream_set_limits(in->stream, &s2s_conf.limits);
    g_message("s2s-in %s: %s -> %s authenticated (%s) from %s", stream_id(in->stream), p->from,
              p->to, auth, stream_peer_addr(in->stream));
    s2s_status_changed();
}

/* ---- accept ---- */

static void in_accept(int fd, gboolean direct_tls)
{
    Server *srv = s2s_conf.srv;
    if (srv->shutting_down || s2s_conf.stopping) {
        close(fd);
        return;
    }
    static guint serials;
    S2sIn *in = g_new0(S2sIn, 1);
    in->serial = ++serials;
    in->direct_tls = direct_tls;
    in->pairs = g_ptr_array_new_with_free_func(pair_free);
    in->since = g_get_real_time();
    in->node.data = in;
    in->stream = stream_new_incoming(&in_kind, fd, in);
    g_queue_push_tail_link(&ins, &in->node);
    server_stream_limits(srv, in->stream, &s2s_conf.preauth_limits, "s2s");
    stream_set_deadline(in->stream, srv->preauth_timeout, STREAM_ERR_CONNECTION_TIMEOUT);
    stream_set_verify_peer(in->stream, TRUE); /* XEP-0178: the peer's certificate */
    const char *ip = stream_peer_addr(in->stream);
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(per_ip, ip));
    if (n >= s2s_conf.max_streams_per_ip) {
        g_message("s2s-in: refusing a stream from %s: %u streams already", ip, n);
        stream_error(in->stream, STREAM_ERR_POLICY_VIOLATION, "too many streams from your address");
        return;
    }
    g_hash_table_insert(per_ip, g_strdup(ip), GUINT_TO_POINTER(n + 1));
    in->counted = TRUE;
    if (direct_tls) /* XEP-0368 */
        stream_start_direct_tls(in->stream, tls_store_server_ctx(srv->tls));
}

static void accept_cb(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    in_accept(fd, GPOINTER_TO_INT(ud));
}

static void in_free(S2sIn *in)
{
    g_queue_unlink(&ins, &in->node);
    if (in->counted) {
        const char *ip = stream_peer_addr(in->stream);
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(per_ip, ip));
        if (n <= 1)
            g_hash_table_remove(per_ip, ip);
        else
            g_hash_table_insert(per_ip, g_strdup(ip), GUINT_TO_POINTER(n - 1));
    }
    g_ptr_array_unref(in->pairs); /* cancels pending verifications */
    stream_free(in->stream);
    g_free(in->local);
    g_free(in->remote);
    g_free(in);
    s2s_status_changed();
}

static void in_on_closed(Stream *s)
{
    in_free(stream_owner(s));
}

/* ---- header and features ---- */

static gboolean in_on_open(Stream *s, const char *to, const char *from, const char *version,
                           const char *lang)
{
    S2sIn *in = stream_owner(s);
    g_autofree char *local = to ? jid_prep_domain(to, NULL) : NULL;
    if (!local || !s2s_is_ours(local)) { /* RFC 6120 §4.9.3.6 */
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "this server does not serve that domain");
        return FALSE;
    }
    if (in->local && strcmp(in->local, local)) {
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "the stream's 'to' changed on restart");
        return FALSE;
    }
    g_autofree char *remote = from ? jid_prep_domain(from, NULL) : NULL;
    if (from && !remote) {
        stream_error(s, STREAM_ERR_INVALID_FROM, "'from' is not a domain");
        return FALSE;
    }
    if (remote && !s2s_domain_allowed(remote)) {
        stream_error(s, STREAM_ERR_POLICY_VIOLATION, "federation with your domain is not allowed");
        return FALSE;
    }
    if (!in->local)
        in->local = g_steal_pointer(&local);
    g_free(in->remote);
    in->remote = g_steal_pointer(&remote);
    in->cert = verify_peer_cert(stream_conn(s), in->remote);
    stream_set_local_domain(s, in->local);
    return TRUE;
}

static void in_features(Stream *s, XmlNode *features)
{
    S2sIn *in = stream_owner(s);
    if (!stream_is_tls(s)) { /* RFC 6120 §5.3.1 */
        XmlNode *st = xml_node_add_child(features, NS_TLS, "starttls");
        if (s2s_conf.require_tls)
            xml_node_add_child(st, NULL, "required");
        if (s2s_conf.require_tls)
            return;
    }
    /* XEP-0178 §3 step 6: EXTERNAL only for a certificate valid for the header's 'from' */
    if (in->remote && in->cert == CERT_VALID && !pair_find(in, in->remote, in->local)) {
        XmlNode *m = xml_node_add_child(features, NS_SASL, "mechanisms");
        xml_node_add_text(xml_node_add_child(m, NULL, "mechanism"), "EXTERNAL", -1);
    }
    if (!in->sm) /* XEP-0198; <enable/> once a domain pair is authenticated */
        xml_node_add_child(features, NS_SM, "sm");
    if (s2s_conf.dialback) { /* XEP-0220 §2.1: with errors, so piggybacking is fine */
        XmlNode *db = xml_node_add_child(features, NS_DIALBACK_FEATURE, "dialback");
        xml_node_add_child(db, NULL, "errors");
    }
}

/* ---- SASL EXTERNAL ---- */

static void sasl_fail(Stream *s, const char *cond)
{
    g_autoptr(XmlNode) f = xml_node_new(NS_SASL, "failure");
    xml_node_add_child(f, NULL, cond);
    stream_send(s, f);
}

static void handle_auth(S2sIn *in, XmlNode *el)
{
    const char *cond = "not-authorized";
    if (!stream_is_tls(in->stream)) {
        sasl_fail(in->stream, "encryption-required");
        return;
    }
    g_autofree char *domain = sasl_external_check(el, in->remote, in->cert, &cond);
    if (!domain) {
        g_message("s2s-in %s: SASL EXTERNAL for %s refused: %s (certificate %s)",
                  stream_id(in->stream), in->remote ? in->remote : "?", cond,
                  cert_status_name(in->cert));
        sasl_fail(in->stream, cond);
        return;
    }
    if (pair_find(in, domain, in->local)) {
        sasl_fail(in->stream, "not-authorized"); /* once per stream (RFC 6120 §6.4.8) */
        return;
    }
    pair_valid(in, pair_add(in, domain, in->local, PAIR_VALID, "sasl-external"), "sasl-external");
    stream_send_raw(in->stream, "<success xmlns='" NS_SASL "'/>");
    stream_restart(in->stream); /* RFC 6120 §6.4.6 */
}

/* ---- dialback: receiving server and authoritative server ---- */

static void db_reply(S2sIn *in, const char *name, const char *from, const char *to, const char *id,
                     const char *type, StanzaErr err)
{
    g_autoptr(XmlNode) db = dialback_element(name, from, to, type, id, NULL);
    if (!type)
        dialback_add_error(db, err);
    stream_send(in->stream, db);
}

static void verified_cb(gboolean valid, gpointer ud)
{
    InPair *p = ud;
    S2sIn *in = p->in;
    if (stream_state(in->stream) != STREAM_STATE_OPEN)
        return;
    db_reply(in, "result", p->to, p->from, NULL, valid ? "valid" : "invalid", 0);
    if (valid) {
        pair_valid(in, p, "dialback");
        return;
    }
    g_message("s2s-in %s: dialback for %s -> %s refused by its authoritative server",
              stream_id(in->stream), p->from, p->to);
    g_ptr_array_remove(in->pairs, p);
    in->db_failures++;
    gboolean pending = in->pairs->len > 0;
    if (!pending || in->db_failures >= IN_MAX_DIALBACK_FAILURES)
        stream_error(in->stream, STREAM_ERR_NOT_AUTHORIZED, "dialback failed");
}

/* XEP-0220 §2.1.2: <db:result from='originating' to='receiving'>key</db:result> */
static void handle_db_result(S2sIn *in, XmlNode *el)
{
    const char *from_attr = xml_node_attr(el, "from"), *to_attr = xml_node_attr(el, "to");
    if (xml_node_attr(el, "type")) /* a response on an incoming stream: authorizes nothing */
        return;
    if (s2s_conf.require_tls && !stream_is_tls(in->stream)) {
        stream_error(in->stream, STREAM_ERR_POLICY_VIOLATION, "STARTTLS first");
        return;
    }
    g_autofree char *from = from_attr ? jid_prep_domain(from_attr, NULL) : NULL;
    g_autofree char *to = to_attr ? jid_prep_domain(to_attr, NULL) : NULL;
    g_autofree char *key = xml_node_text(el);
    if (!from || !to) {
        stream_error(in->stream, STREAM_ERR_IMPROPER_ADDRESSING, "dialback needs from and to");
        return;
    }
    StanzaErr err = STANZA_ERR__COUNT;
    if (!s2s_conf.dialback)
        err = STANZA_ERR_POLICY_VIOLATION;
    else if (!s2s_is_ours(to))
        err = STANZA_ERR_ITEM_NOT_FOUND; /* XEP-0220 §2.4 */
    else if (!s2s_domain_allowed(from))
        err = STANZA_ERR_FORBIDDEN;
    else if (s2s_needs_valid_cert(from) &&
             verify_peer_cert(stream_conn(in->stream), from) != CERT_VALID)
        err = STANZA_ERR_NOT_AUTHORIZED;
    else if (!*g_strstrip(key))
        err = STANZA_ERR_BAD_REQUEST;
    if (err != STANZA_ERR__COUNT) {
        db_reply(in, "result", to, from, NULL, NULL, err);
        return;
    }
    InPair *p = pair_find(in, from, to);
    if (p) {
        if (p->state == PAIR_VALID)
            db_reply(in, "result", to, from, NULL, "valid", 0);
        return; /* verifying: the answer comes */
    }
    if (in->pairs->len >= IN_MAX_PAIRS) {
        db_reply(in, "result", to, from, NULL, NULL, STANZA_ERR_RESOURCE_CONSTRAINT);
        return;
    }
    p = pair_add(in, from, to, PAIR_VERIFYING, NULL);
    g_debug("s2s-in %s: verifying %s -> %s with its authoritative server", stream_id(in->stream),
            from, to);
    s2s_out_verify(to, from, stream_id(in->stream), key, verified_cb, p);
}

/* XEP-0220 §2.1.3: we are the authoritative server for 'to'. */
static void handle_db_verify(S2sIn *in, XmlNode *el)
{
    if (xml_node_attr(el, "type")) /* unsolicited answer: authorizes nothing */
        return;
    const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
    const char *id = xml_node_attr(el, "id");
    if (!from || !to || !id) {
        stream_error(in->stream, STREAM_ERR_IMPROPER_ADDRESSING, "db:verify needs from, to, id");
        return;
    }
    if (!s2s_is_ours(to)) {
        db_reply(in, "verify", to, from, id, NULL, STANZA_ERR_ITEM_NOT_FOUND);
        return;
    }
    g_autofree char *key = xml_node_text(el);
    gboolean ok = dialback_key_check(from, to, id, g_strstrip(key));
    db_reply(in, "verify", to, from, id, ok ? "valid" : "invalid", 0);
}

/* ---- stanzas ---- */

static gboolean is_stanza(const XmlNode *el)
{
    return !strcmp(el->ns, XML_NS_SERVER) &&
           (!strcmp(el->name, "message") || !strcmp(el->name, "presence") ||
            !strcmp(el->name, "iq"));
}

static void handle_stanza(S2sIn *in, XmlNode *el)
{
    if (!in_authenticated(in)) {
        xml_node_free(el);
        stream_error(in->stream, STREAM_ERR_NOT_AUTHORIZED, "authenticate first");
        return;
    }
    if (!xml_node_attr(el, "from") || !xml_node_attr(el, "to")) { /* RFC 6120 §8.1.1.1 */
        xml_node_free(el);
        stream_error(in->stream, STREAM_ERR_IMPROPER_ADDRESSING, "'from' and 'to' are required");
        return;
    }
    Stanza *st = stanza_new(el, NULL);
    if (!st) {
        stream_error(in->stream, STREAM_ERR_IMPROPER_ADDRESSING, "malformed address");
        return;
    }
    InPair *p = pair_find(in, jid_domain(st->from), jid_domain(st->to));
    if (!p || p->state != PAIR_VALID) { /* RFC 6120 §4.9.3.9 */
        g_message("s2s-in %s: stanza from %s to %s on a stream not authenticated for them",
                  stream_id(in->stream), jid_domain(st->from), jid_domain(st->to));
        stanza_unref(st);
        stream_error(in->stream, STREAM_ERR_INVALID_FROM, "that domain pair is not authenticated");
        return;
    }
    router_deliver(st);
    if (in->sm)
        in->sm_h++;
}

/* ---- XEP-0198: we only receive stanzas here, so we count and answer <r/> ---- */

static void sm_failed(S2sIn *in, const char *cond)
{
    g_autoptr(XmlNode) f = xml_node_new(NS_SM, "failed");
    xml_node_add_child(f, NS_STANZAS, cond);
    stream_send(in->stream, f);
}

static void handle_sm(S2sIn *in, XmlNode *el)
{
    if (!strcmp(el->name, "enable")) {
        if (!in_authenticated(in)) { /* XEP-0198 §3: after authentication */
            sm_failed(in, "unexpected-request");
            return;
        }
        if (in->sm) {
            sm_failed(in, "unexpected-request");
            return;
        }
        in->sm = TRUE; /* never resumable on s2s: a new stream re-sends (XEP-0198 §5) */
        in->sm_h = 0;
        stream_send_raw(in->stream, "<enabled xmlns='" NS_SM "'/>");
        g_debug("s2s-in %s: stream management on", stream_id(in->stream));
        s2s_status_changed();
    } else if (!strcmp(el->name, "r") && in->sm) {
        g_autoptr(XmlNode) a = xml_node_new(NS_SM, "a");
        g_autofree char *hs = g_strdup_printf("%u", in->sm_h);
        xml_node_set_attr(a, "h", hs);
        stream_send(in->stream, a);
    }
    /* <a/>: we send no stanzas on an incoming stream, there is nothing to release */
}

static void in_on_element(Stream *s, XmlNode *el)
{
    S2sIn *in = stream_owner(s);
    if (!strcmp(el->ns, XML_NS_STREAMS)) {
        xml_node_free(el);
        return;
    }
    if (is_stanza(el)) {
        handle_stanza(in, el);
        return;
    }
    g_autoptr(XmlNode) owned = el;
    if (xml_node_is(el, NS_TLS, "starttls")) {
        if (stream_is_tls(s)) {
            stream_send_raw(s, "<failure xmlns='" NS_TLS "'/>");
            stream_close(s);
            return;
        }
        stream_starttls(s, tls_store_server_ctx(s2s_conf.srv->tls));
    } else if (xml_node_is(el, NS_SASL, "auth")) {
        handle_auth(in, el);
    } else if (xml_node_is(el, NS_DIALBACK, "result")) {
        handle_db_result(in, el);
    } else if (xml_node_is(el, NS_DIALBACK, "verify")) {
        handle_db_verify(in, el);
    } else if (!strcmp(el->ns, NS_SM)) {
        handle_sm(in, el);
    } else if (!in_authenticated(in)) {
        stream_error(s, STREAM_ERR_NOT_AUTHORIZED, "authenticate first");
    } else {
        stream_error(s, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
    }
}

/* ---- module ---- */

gboolean s2s_in_init(GError **error)
{
    Server *srv = s2s_conf.srv;
    per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    const char *keys[] = {"listen", "direct_tls"};
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *addr = config_get_string(srv->config, "s2s", keys[i]);
        if (!*addr)
            continue;
        Listener *l = listener_new(addr, accept_cb, GINT_TO_POINTER(i == 1), error);
        if (!l) {
            g_prefix_error(error, "[s2s] %s = %s: ", keys[i], addr);
            return FALSE;
        }
        g_ptr_array_add(srv->listeners, l);
        g_message("s2s listening on %s (%s), port %u", addr, i == 0 ? "STARTTLS" : "direct TLS",
                  listener_port(l));
    }
    return TRUE;
}

void s2s_in_close_idle(gint64 now)
{
    for (GList *n = ins.head; n; n = n->next) {
        S2sIn *in = n->data;
        if (stream_state(in->stream) != STREAM_STATE_OPEN || !in_authenticated(in))
            continue; /* the pre-authentication deadline covers the others */
        if (now - conn_last_activity(stream_conn(in->stream)) >=
            (gint64)s2s_conf.idle_timeout * G_USEC_PER_SEC)
            stream_close(in->stream);
    }
}

guint s2s_in_close_all(StreamErr err, const char *text)
{
    guint n = 0;
    for (GList *l = ins.head; l; l = l->next) {
        S2sIn *in = l->data;
        if (stream_state(in->stream) != STREAM_STATE_CLOSED) {
            stream_error(in->stream, err, text);
            n++;
        }
    }
    return n;
}

void s2s_in_free_all(void)
{
    while (ins.head)
        in_free(ins.head->data);
    g_clear_pointer(&per_ip, g_hash_table_destroy);
}

guint s2s_in_count(void)
{
    return ins.length;
}

void s2s_in_foreach(void (*fn)(S2sIn *in, gpointer ud), gpointer ud)
{
    for (GList *l = ins.head; l; l = l->next)
        fn(l->data, ud);
}

void s2s_in_describe(S2sIn *in, GKeyFile *kf, guint *n)
{
    const char *tls =
        stream_is_tls(in->stream) ? SSL_get_version(conn_ssl(stream_conn(in->stream))) : "none";
    gboolean any = FALSE;
    for (guint i = 0; i <= in->pairs->len; i++) {
        InPair *p = i < in->pairs->len ? in->pairs->pdata[i] : NULL;
        if (!p && any)
            break;
        g_autofree char *group = g_strdup_printf("link %u", (*n)++);
        g_key_file_set_string(kf, group, "direction", "in");
        g_key_file_set_string(kf, group, "local", p ? p->to : in->local ? in->local : "");
        g_key_file_set_string(kf, group, "remote",
                              p            ? p->from
                              : in->remote ? in->remote
                                           : stream_peer_addr(in->stream));
        g_key_file_set_string(kf, group, "state",
                              p && p->state == PAIR_VALID ? "ready" : "authenticating");
        g_key_file_set_string(kf, group, "auth", p && p->auth ? p->auth : "none");
        g_key_file_set_string(kf, group, "tls", tls);
        g_key_file_set_string(kf, group, "sm", in->sm ? "on" : "off");
        g_key_file_set_integer(kf, group, "queued", 0);
        g_key_file_set_string(kf, group, "via",
                              in->direct_tls              ? "direct-tls"
                              : stream_is_tls(in->stream) ? "starttls"
                                                          : "plain");
        g_key_file_set_string(
            kf, group, "cert",
            cert_status_name(p ? verify_peer_cert(stream_conn(in->stream), p->from) : in->cert));
        g_autofree char *stream = g_strdup_printf("in%u", in->serial);
        g_key_file_set_string(kf, group, "stream", stream);
        g_key_file_set_int64(kf, group, "since", in->since / G_USEC_PER_SEC);
        any = TRUE;
    }
}
