/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/c2s.c — client streams: listeners, stream callbacks, bind, keepalive (RFC 6120) */
#include "c2s/c2s.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "c2s/modules.h"
#include "c2s/sm.h"
#include "c2s/streammgmt.h"
#include "router/conn.h"
#include "router/router.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_PING "urn:xmpp:ping"

static Server *server;
static GQueue sessions = G_QUEUE_INIT;
static GHashTable *per_ip; /* peer address -> GUINT count of connections */
static guint keepalive_src;

static gboolean c2s_on_open(Stream *s, const char *to, const char *from, const char *version,
                            const char *lang);
static void c2s_features(Stream *s, XmlNode *features);
static void c2s_on_element(Stream *s, XmlNode *el);
static void c2s_on_ending(Stream *s);
static void c2s_on_closed(Stream *s);
static void c2s_on_tls_ready(Stream *s);
static void phase_timer(C2sSession *cs, const char *key);

static const StreamKind c2s_kind = {
    .name = "c2s",
    .content_ns = XML_NS_CLIENT,
    .on_open = c2s_on_open,
    .features = c2s_features,
    .on_element = c2s_on_element,
    .on_ending = c2s_on_ending,
    .on_closed = c2s_on_closed,
    .on_tls_ready = c2s_on_tls_ready,
};

static void c2s_on_tls_ready(Stream *s)
{
    C2sSession *cs = stream_owner(s);
    if (cs) /* the handshake is done; now the (new) stream header must come */
        phase_timer(cs, "stream_open_timeout");
}

static XmlLimits c2s_limits(gboolean authed)
{
    return (XmlLimits){
        .max_stanza_bytes = authed ? server->c2s_stanza_size : server->preauth_stanza_size,
        .max_depth = server->max_depth,
        .max_attrs = server->max_attrs,
        .max_header_bytes = 4096,
    };
}

static gboolean phase_timeout_cb(gpointer data)
{
    C2sSession *cs = data;
    cs->phase_src = 0;
    if (cs->stream) /* a stalled TLS handshake or a stream that never opens */
        stream_error(cs->stream, STREAM_ERR_CONNECTION_TIMEOUT, "too slow");
    return G_SOURCE_REMOVE;
}

static void phase_timer(C2sSession *cs, const char *key)
{
    if (cs->phase_src)
        g_source_remove(cs->phase_src);
    cs->phase_src = key ? g_timeout_add_seconds(config_get_int(server->config, "limits", key),
                                                phase_timeout_cb, cs)
                        : 0;
}

/* A new session's pre-authentication limits, outbound buffer, read rate and deadline. */
static void session_limits(C2sSession *cs)
{
    XmlLimits lim = c2s_limits(FALSE);
    server_stream_limits(server, cs->stream, &lim, "c2s");
    stream_set_deadline(cs->stream, server->preauth_timeout, STREAM_ERR_CONNECTION_TIMEOUT);
}

Conn *c2s_accept_framed(const ConnSink *sink, gpointer sink_ud, const char *peer_ip,
                        gboolean secure)
{
    if (!server || server->shutting_down)
        return NULL;
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(per_ip, peer_ip));
    if (n >= (guint)config_get_int(server->config, "limits", "c2s_connections_per_ip")) {
        g_message("c2s: refusing a web connection from %s: %u already open", peer_ip, n);
        return NULL;
    }
    g_hash_table_insert(per_ip, g_strdup(peer_ip), GUINT_TO_POINTER(n + 1));
    C2sSession *cs = g_new0(C2sSession, 1);
    cs->srv = server;
    cs->link.data = cs;
    cs->peer_ip = g_strdup(peer_ip);
    cs->since = g_get_real_time();
    cs->stream = stream_new_framed(&c2s_kind, sink, sink_ud, peer_ip, secure, cs);
    phase_timer(cs, "stream_open_timeout");
    session_limits(cs); /* the read rate too: web input waits in the connection */
    g_queue_push_tail_link(&sessions, &cs->link);
    return stream_conn(cs->stream);
}

static void c2s_accept(int fd, const struct sockaddr *addr, gboolean direct_tls)
{
    if (server->shutting_down) {
        close(fd);
        return;
    }
    char ip[64] = "";
    if (addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip, sizeof ip);
    else if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6))
            inet_ntop(AF_INET, &a6->s6_addr[12], ip, sizeof ip);
        else
            inet_ntop(AF_INET6, a6, ip, sizeof ip);
    }
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(per_ip, ip));
    if (n >= (guint)config_get_int(server->config, "limits", "c2s_connections_per_ip")) {
        g_message("c2s: refusing a connection from %s: %u already open", ip, n);
        close(fd); /* before any byte: nothing is spent on it */
        return;
    }
    g_hash_table_insert(per_ip, g_strdup(ip), GUINT_TO_POINTER(n + 1));
    C2sSession *cs = g_new0(C2sSession, 1);
    cs->srv = server;
    cs->link.data = cs;
    cs->peer_ip = g_strdup(ip);
    cs->since = g_get_real_time();
    cs->stream = stream_new_incoming(&c2s_kind, fd, cs);
    phase_timer(cs, direct_tls ? "tls_handshake_timeout" : "stream_open_timeout");
    session_limits(cs);
    g_queue_push_tail_link(&sessions, &cs->link);
    if (direct_tls) /* XEP-0368 */
        stream_start_direct_tls(cs->stream, tls_store_server_ctx(server->tls));
}

static void accept_starttls_cb(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    c2s_accept(fd, addr, FALSE);
}

static void accept_direct_tls_cb(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    c2s_accept(fd, addr, TRUE);
}

static void session_free(C2sSession *cs)
{
    g_queue_unlink(&sessions, &cs->link);
    if (cs->phase_src)
        g_source_remove(cs->phase_src);
    if (cs->peer_ip) {
        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(per_ip, cs->peer_ip));
        if (n <= 1)
            g_hash_table_remove(per_ip, cs->peer_ip);
        else
            g_hash_table_insert(per_ip, g_strdup(cs->peer_ip), GUINT_TO_POINTER(n - 1));
        g_free(cs->peer_ip);
    }
    g_free(cs->sm_id);
    csi_session_clear(cs);
    if (cs->delay_src)
        g_source_remove(cs->delay_src);
    sasl_session_clear(cs);
    stream_free(cs->stream);
    g_free(cs->domain);
    g_free(cs->username);
    g_free(cs->ping_id);
    if (cs->jid)
        jid_unref(cs->jid);
    if (cs->presence)
        stanza_unref(cs->presence);
    g_free(cs);
}

/* The session ends as soon as its stream does: presence goes out now (RFC 6121 §4.6),
 * unless the connection broke and the client can resume it (XEP-0198). */
static void c2s_on_ending(Stream *s)
{
    C2sSession *cs = stream_owner(s);
    if (!cs) /* a stream whose session moved on (resumed elsewhere) */
        return;
    if (cs->state != C2S_STATE_BOUND)
        return;
    if (stream_end_reason(s) == STREAM_END_BROKEN && smgmt_hibernate(cs))
        return;
    smgmt_session_end(cs);
}

static void c2s_on_closed(Stream *s)
{
    C2sSession *cs = stream_owner(s);
    if (!cs) {
        stream_free(s);
        return;
    }
    if (cs->sm_hibernating) { /* the session lives on without a stream */
        stream_free(s);
        cs->stream = NULL;
        return;
    }
    smgmt_session_end(cs);
    session_free(cs);
}

void c2s_session_end(C2sSession *cs)
{
    smgmt_session_end(cs);
    if (cs->stream)
        stream_close(cs->stream); /* freed when its connection is gone */
    else
        session_free(cs);
}

static gboolean c2s_on_open(Stream *s, const char *to, const char *from, const char *version,
                            const char *lang)
{
    C2sSession *cs = stream_owner(s);
    phase_timer(cs, NULL);
    if (!to) {
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "the stream header needs a 'to'");
        return FALSE;
    }
    g_autofree char *domain = jid_prep_domain(to, NULL);
    if (!domain || !server_is_hosted(server, domain)) {
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "this server does not serve that domain");
        return FALSE;
    }
    if (cs->domain && strcmp(cs->domain, domain)) {
        stream_error(s, STREAM_ERR_HOST_UNKNOWN, "the stream's 'to' changed on restart");
        return FALSE;
    }
    if (!cs->domain)
        cs->domain = g_steal_pointer(&domain);
    if (cs->state == C2S_STATE_BOUND) { /* no restart after bind */
        stream_error(s, STREAM_ERR_POLICY_VIOLATION, "stream restart after resource binding");
        return FALSE;
    }
    stream_set_local_domain(s, cs->domain);
    return TRUE;
}

static gboolean tls_allowed_to_auth(C2sSession *cs)
{
    /* a framed stream is secure when its transport is (HTTPS, or a loopback peer) */
    return stream_is_secure(cs->stream) || !config_get_bool(server->config, "c2s", "require_tls");
}

/* XEP-0478: tell the client the limits it must stay under. */
static void limits_feature(C2sSession *cs, XmlNode *features)
{
    XmlNode *l = xml_node_add_child(features, "urn:xmpp:stream-limits:0", "limits");
    g_autofree char *bytes = g_strdup_printf("%" G_GSIZE_FORMAT, cs->state == C2S_STATE_CONNECTED
                                                                     ? server->preauth_stanza_size
                                                                     : server->c2s_stanza_size);
    g_autofree char *idle = g_strdup_printf("%u", server->idle_ping + server->ping_timeout);
    xml_node_add_text(xml_node_add_child(l, NULL, "max-bytes"), bytes, -1);
    xml_node_add_text(xml_node_add_child(l, NULL, "idle-seconds"), idle, -1);
}

static void c2s_features(Stream *s, XmlNode *features)
{
    C2sSession *cs = stream_owner(s);
    limits_feature(cs, features);
    switch (cs->state) {
    case C2S_STATE_CONNECTED:
        if (!stream_is_tls(s) && !stream_is_framed(s)) { /* RFC 6120 §5.3.1; RFC 7395 §3.8 */
            XmlNode *st = xml_node_add_child(features, NS_TLS, "starttls");
            if (config_get_bool(server->config, "c2s", "require_tls"))
                xml_node_add_child(st, NULL, "required");
        }
        if (tls_allowed_to_auth(cs)) {
            sasl_features(cs, features);
            if (mod_register_enabled()) /* XEP-0077 §4 */
                xml_node_add_child(features, "http://jabber.org/features/iq-register", "register");
        }
        break;
    case C2S_STATE_AUTHED: {
        xml_node_add_child(features, NS_BIND, "bind");
        XmlNode *sess = xml_node_add_child(features, NS_SESSION, "session");
        xml_node_add_child(sess, NULL, "optional"); /* RFC 3921 compat, draft-cridland */
        xml_node_add_child(features, "urn:xmpp:features:rosterver", "ver");    /* RFC 6121 §2.6 */
        xml_node_add_child(features, "urn:xmpp:features:pre-approval", "sub"); /* §3.4 */
        smgmt_features(cs, features);                                          /* XEP-0198 */
        csi_features(cs, features);                                            /* XEP-0352 */
        break;
    }
    case C2S_STATE_BOUND:
        break;
    }
}

void c2s_transmit(C2sSession *cs, const XmlNode *el)
{
    if (cs->sm_enabled && !smgmt_track(cs, el, NULL, NULL, NULL, FALSE))
        return;
    if (cs->stream)
        stream_send(cs->stream, el);
}

void c2s_send_el(C2sSession *cs, const XmlNode *el)
{
    if (csi_hold(cs, el)) /* XEP-0352: not now */
        return;
    c2s_transmit(cs, el);
}

void c2s_session_send(C2sSession *cs, const Stanza *st)
{
    c2s_send_el(cs, st->el);
}

static void send_iq_error(C2sSession *cs, Stanza *st, StanzaErr err, const char *text)
{
    g_autoptr(Stanza) reply = stanza_error_reply(st, err, text);
    if (reply)
        c2s_session_send(cs, reply);
}

static void handle_bind(C2sSession *cs, Stanza *st)
{
    XmlNode *bind = stanza_iq_payload(st);
    if (g_strcmp0(st->type, "set")) {
        send_iq_error(cs, st, STANZA_ERR_BAD_REQUEST, "bind is an iq of type set");
        return;
    }
    XmlNode *res = xml_node_child(bind, NS_BIND, "resource");
    g_autofree char *requested = res ? xml_node_text(res) : NULL;
    StanzaErr err;
    const char *why = NULL;
    if (requested && !*requested)
        g_clear_pointer(&requested, g_free);
    if (!sm_bind(cs, requested, &err, &why)) {
        send_iq_error(cs, st, err, why);
        return;
    }
    cs->state = C2S_STATE_BOUND;
    g_autoptr(Stanza) reply = stanza_iq_result(st);
    stanza_set_to(reply, NULL);
    stanza_set_from(reply, NULL);
    XmlNode *b = xml_node_add_child(reply->el, NS_BIND, "bind");
    xml_node_add_text(xml_node_add_child(b, NULL, "jid"), jid_full(cs->jid), -1);
    c2s_session_send(cs, reply);
    g_message("c2s %s bound %s from %s", stream_id(cs->stream), jid_full(cs->jid),
              stream_peer_addr(cs->stream));
}

static gboolean is_stanza_name(const XmlNode *el)
{
    return !strcmp(el->ns, XML_NS_CLIENT) &&
           (!strcmp(el->name, "message") || !strcmp(el->name, "presence") ||
            !strcmp(el->name, "iq"));
}

/* An iq before bind: only bind and session (RFC 6120 §7.1), everything else is refused. */
static void handle_authed(C2sSession *cs, XmlNode *el)
{
    if (strcmp(el->name, "iq") || strcmp(el->ns, XML_NS_CLIENT)) {
        stream_error(cs->stream, STREAM_ERR_NOT_AUTHORIZED, "bind a resource first");
        xml_node_free(el);
        return;
    }
    xml_node_set_attr(el, "from", NULL);
    xml_node_set_attr(el, "to", NULL);
    g_autoptr(Stanza) st = stanza_new(el, NULL);
    XmlNode *payload = stanza_iq_payload(st);
    if (payload && xml_node_is(payload, NS_BIND, "bind"))
        handle_bind(cs, st);
    else
        stream_error(cs->stream, STREAM_ERR_NOT_AUTHORIZED, "bind a resource first");
}

/* The client answered our keepalive ping. */
static gboolean is_ping_reply(C2sSession *cs, Stanza *st)
{
    if (!cs->ping_id || st->kind != STANZA_KIND_IQ || !st->id || strcmp(st->id, cs->ping_id))
        return FALSE;
    if (st->to && strcmp(jid_full(st->to), cs->domain))
        return FALSE;
    g_clear_pointer(&cs->ping_id, g_free);
    return TRUE;
}

static void handle_bound(C2sSession *cs, XmlNode *el)
{
    if (!is_stanza_name(el)) {
        stream_error(cs->stream, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
        xml_node_free(el);
        return;
    }
    /* RFC 6120 §8.1.2.1: 'from' is ours to stamp; a client may only name itself. */
    const char *from = xml_node_attr(el, "from");
    if (from) {
        g_autoptr(Jid) fj = jid_new(from, NULL);
        if (!fj || !jid_bare_equal(fj, cs->jid) || (jid_resource(fj) && !jid_equal(fj, cs->jid))) {
            stream_error(cs->stream, STREAM_ERR_INVALID_FROM, "'from' is not this session");
            xml_node_free(el);
            return;
        }
    }
    const char *to_attr = xml_node_attr(el, "to");
    Jid *to = to_attr ? jid_new(to_attr, NULL) : NULL;
    if (to_attr && !to) { /* RFC 6120 §8.3.3.8 */
        XmlNode *shell = xml_node_new(XML_NS_CLIENT, el->name);
        xml_node_set_attr(shell, "id", xml_node_attr(el, "id"));
        xml_node_set_attr(shell, "type", xml_node_attr(el, "type"));
        xml_node_set_attr(shell, "from", jid_full(cs->jid));
        xml_node_free(el);
        g_autoptr(Stanza) orig = stanza_new(shell, NULL);
        g_autoptr(Stanza) reply = stanza_error_reply(orig, STANZA_ERR_JID_MALFORMED,
                                                     "the 'to' address is not a valid JID");
        if (reply)
            c2s_session_send(cs, reply);
        return;
    }
    xml_node_set_attr(el, "from", jid_full(cs->jid));
    Stanza *st = stanza_new_addressed(el, to, jid_ref(cs->jid));
    smgmt_inbound(cs);
    if (is_ping_reply(cs, st)) {
        stanza_unref(st);
        return;
    }
    sm_from_client(cs, st);
}

static void c2s_on_element(Stream *s, XmlNode *el)
{
    C2sSession *cs = stream_owner(s);
    if (!cs) {
        xml_node_free(el);
        return;
    }
    if (!strcmp(el->ns, XML_NS_STREAMS)) { /* e.g. a stream error from the client */
        xml_node_free(el);
        return;
    }
    switch (cs->state) {
    case C2S_STATE_CONNECTED:
        if (xml_node_is(el, NS_TLS, "starttls")) {
            xml_node_free(el);
            if (stream_is_tls(s) || stream_is_framed(s)) { /* framed: TLS is the transport's */
                conn_write_str(stream_conn(s), "<failure xmlns='" NS_TLS "'/>");
                stream_close(s);
                return;
            }
            stream_starttls(s, tls_store_server_ctx(server->tls));
            phase_timer(cs, "tls_handshake_timeout");
            return;
        }
        if (!strcmp(el->ns, NS_SASL)) {
            sasl_handle(cs, el);
            return;
        }
        if (!strcmp(el->name, "iq") && !strcmp(el->ns, XML_NS_CLIENT) && tls_allowed_to_auth(cs)) {
            xml_node_set_attr(el, "from", NULL);
            xml_node_set_attr(el, "to", NULL);
            g_autoptr(Stanza) st = stanza_new(el, NULL);
            XmlNode *payload = stanza_iq_payload(st);
            if (payload && xml_node_is(payload, "jabber:iq:register", "query")) {
                mod_register_preauth(cs, st);
                return;
            }
        } else {
            xml_node_free(el);
        }
        stream_error(s, STREAM_ERR_NOT_AUTHORIZED, "authenticate first");
        return;
    case C2S_STATE_AUTHED:
    case C2S_STATE_BOUND:
        if (!strcmp(el->ns, NS_SM)) { /* XEP-0198 nonzas, counted by nobody */
            C2sSession *owner = smgmt_handle(cs, el);
            if (owner != cs) /* resumed: the stream now belongs to the old session */
                session_free(cs);
            return;
        }
        if (!strcmp(el->ns, "urn:xmpp:csi:0") && cs->state == C2S_STATE_BOUND) {
            csi_handle(cs, el);
            return;
        }
        if (cs->state == C2S_STATE_AUTHED)
            handle_authed(cs, el);
        else
            handle_bound(cs, el);
        return;
    }
}

/* XEP-0199 §4.2: ping silent clients, close the ones that do not answer. */
static gboolean keepalive_cb(gpointer data)
{
    gint64 now = g_get_monotonic_time();
    for (GList *l = sessions.head; l; l = l->next) {
        C2sSession *cs = l->data;
        if (cs->state != C2S_STATE_BOUND || !cs->stream ||
            stream_state(cs->stream) != STREAM_STATE_OPEN)
            continue;
        gint64 idle = now - conn_last_activity(stream_conn(cs->stream));
        if (cs->ping_id) {
            if (now - cs->ping_sent > (gint64)server->ping_timeout * G_USEC_PER_SEC)
                stream_error(cs->stream, STREAM_ERR_CONNECTION_TIMEOUT, "no answer to ping");
            continue;
        }
        if (idle < (gint64)server->idle_ping * G_USEC_PER_SEC)
            continue;
        cs->ping_id = stream_random_id();
        cs->ping_sent = now;
        g_autoptr(XmlNode) iq = xml_node_new(XML_NS_CLIENT, "iq");
        xml_node_set_attr(iq, "type", "get");
        xml_node_set_attr(iq, "id", cs->ping_id);
        xml_node_set_attr(iq, "from", cs->domain);
        xml_node_set_attr(iq, "to", jid_full(cs->jid));
        xml_node_add_child(iq, NS_PING, "ping");
        c2s_send_el(cs, iq);
    }
    return G_SOURCE_CONTINUE;
}

gboolean c2s_init(Server *srv, GError **error)
{
    server = srv;
    per_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    const char *keys[] = {"listen", "direct_tls"};
    for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *addr = config_get_string(srv->config, "c2s", keys[i]);
        if (!*addr)
            continue;
        Listener *l =
            listener_new(addr, i == 0 ? accept_starttls_cb : accept_direct_tls_cb, NULL, error);
        if (!l) {
            g_prefix_error(error, "[c2s] %s = %s: ", keys[i], addr);
            return FALSE;
        }
        g_ptr_array_add(srv->listeners, l);
        g_message("c2s listening on %s (%s), port %u", addr, i == 0 ? "STARTTLS" : "direct TLS",
                  listener_port(l));
    }
    keepalive_src = g_timeout_add_seconds(1, keepalive_cb, NULL);
    smgmt_init(srv);
    return TRUE;
}

void c2s_fini(void)
{
    if (keepalive_src)
        g_source_remove(keepalive_src);
    keepalive_src = 0;
    smgmt_fini();
    g_clear_pointer(&per_ip, g_hash_table_destroy);
}

guint c2s_close_all(StreamErr err, const char *text)
{
    guint n = 0;
    for (GList *l = sessions.head, *next; l; l = next) {
        C2sSession *cs = l->data;
        next = l->next;
        if (!cs->stream) { /* hibernating: ends now, its unacked messages go offline */
            c2s_session_end(cs);
            continue;
        }
        if (stream_state(cs->stream) != STREAM_STATE_CLOSED) {
            stream_error(cs->stream, err, text);
            n++;
        }
    }
    return n;
}

guint c2s_count(void)
{
    return sessions.length;
}
