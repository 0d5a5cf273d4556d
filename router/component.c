/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/component.c — XEP-0114 components (jabber:component:accept): listener, handshake,
 * routes with subdomains, round-robin, queues while away, keepalive; XEP-0356 via privilege.c */
#include "router/component.h"

#include <openssl/crypto.h>
#include <string.h>
#include <unistd.h>

#include "router/conn.h"
#include "router/hooks.h"
#include "router/jid.h"
#include "router/privilege.h"
#include "router/router.h"
#include "router/stream.h"

#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define PENDING_IQ_MAX 4096 /* remembered iq requests per component (multiple = true) */

typedef enum {
    COMP_STATE_WAIT_HEADER,    /* nothing named yet */
    COMP_STATE_WAIT_HANDSHAKE, /* header accepted, <handshake/> next (XEP-0114 §3) */
    COMP_STATE_READY,          /* authenticated: stanzas flow both ways */
    COMP_STATE_GONE,           /* the stream ended */
} CompState;

typedef struct Component Component;

typedef struct {
    Component *comp; /* borrowed; NULL until the header named a configured domain */
    Stream *stream;  /* owned */
    CompState state;
    gint64 since;  /* wall clock (µs) of the handshake */
    char *ping_id; /* our XEP-0199 ping waiting for its answer */
    gint64 ping_sent;
    GList link; /* in conns */
} CompConn;

typedef struct {
    Stanza *st;       /* owned */
    gint64 queued_at; /* monotonic */
} Queued;

struct Component {
    char *domain;  /* prepared */
    char *section; /* "component <domain as written>": config getters and messages */
    char *secret;
    char *name; /* disco#items name, NULL when none */
    gboolean subdomains, multiple;
    guint queue_max;
    PrivPerms perms;
    RouterRoute *route;
    GPtrArray *ready;    /* CompConn* in COMP_STATE_READY, borrowed */
    guint next;          /* round-robin position */
    GQueue queue;        /* Queued*, oldest first */
    GHashTable *pending; /* "from\nid" of an iq request -> the CompConn that sent it */
};

static Server *server;
static GPtrArray *components; /* Component*, in config order */
static GQueue conns = G_QUEUE_INIT;
static guint tick_src;
static gint64 idle_ping, ping_timeout, queue_timeout; /* µs */
static gsize stanza_size;

static gboolean comp_on_open(Stream *s, const char *to, const char *from, const char *version,
                             const char *lang);
static void comp_on_element(Stream *s, XmlNode *el);
static void comp_on_ending(Stream *s);
static void comp_on_closed(Stream *s);

static const StreamKind component_kind = {
    .name = "component",
    .content_ns = XML_NS_COMPONENT,
    .no_version = TRUE, /* XEP-0114 §3: no version, no features */
    .on_open = comp_on_open,
    .on_element = comp_on_element,
    .on_ending = comp_on_ending,
    .on_closed = comp_on_closed,
};

/* ---- the table of configured components ---- */

static Component *component_find(const char *domain)
{
    for (guint i = 0; components && i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        if (!strcmp(c->domain, domain))
            return c;
    }
    return NULL;
}

/* sub is a strict subdomain of domain ("a.b" of "b") */
static gboolean is_subdomain(const char *sub, const char *domain)
{
    gsize sl = strlen(sub), dl = strlen(domain);
    return sl > dl + 1 && sub[sl - dl - 1] == '.' && !strcmp(sub + sl - dl, domain);
}

/* The hosted domain a component belongs to (its parent), else the first one. */
static const char *server_domain_for(const Component *c)
{
    for (guint i = 0; server->domains[i]; i++)
        if (is_subdomain(c->domain, server->domains[i]))
            return server->domains[i];
    return server->domains[0];
}

static void queued_free(Queued *q)
{
    stanza_unref(q->st);
    g_free(q);
}

static void component_free(gpointer p)
{
    Component *c = p;
    router_unregister(c->route);
    g_queue_clear_full(&c->queue, (GDestroyNotify)queued_free);
    g_ptr_array_unref(c->ready);
    if (c->pending)
        g_hash_table_destroy(c->pending);
    OPENSSL_cleanse(c->secret, strlen(c->secret));
    g_free(c->secret);
    g_free(c->domain);
    g_free(c->section);
    g_free(c->name);
    g_free(c);
}

/* ---- stanzas to a component ---- */

static char *pending_key(const char *jid, const char *id)
{
    return g_strconcat(jid, "\n", id, NULL);
}

/* Which connection takes st: the one that sent the iq request it answers, else the next in
 * turn. NULL when the component is away. */
static CompConn *pick(Component *c, const Stanza *st)
{
    if (c->ready->len == 0)
        return NULL;
    if (c->ready->len == 1)
        return g_ptr_array_index(c->ready, 0);
    if (c->pending && st->kind == STANZA_KIND_IQ && st->to && st->id && st->type &&
        (!strcmp(st->type, "result") || !strcmp(st->type, "error"))) {
        g_autofree char *key = pending_key(jid_full(st->to), st->id);
        CompConn *cc = g_hash_table_lookup(c->pending, key);
        if (cc) {
            g_hash_table_remove(c->pending, key);
            return cc;
        }
    }
    return g_ptr_array_index(c->ready, c->next++ % c->ready->len);
}

static void bounce(Stanza *st, const char *text)
{
    router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, text); /* nothing for errors */
    stanza_unref(st);
}

/* The route of a component domain (and its subdomains). transfer full */
static void route_deliver(Stanza *st, gpointer ud)
{
    Component *c = ud;
    CompConn *cc = pick(c, st);
    if (cc) {
        stream_send_stanza(cc->stream, st);
        stanza_unref(st);
        return;
    }
    if (c->queue_max == 0 || server->shutting_down) {
        bounce(st, "the component is not connected");
        return;
    }
    if (c->queue.length >= c->queue_max) {
        bounce(st, "the component is away and its queue is full");
        return;
    }
    Queued *q = g_new(Queued, 1);
    q->st = st;
    q->queued_at = g_get_monotonic_time();
    g_queue_push_tail(&c->queue, q);
}

/* ---- the stream ---- */

static XmlLimits comp_limits(gboolean authed)
{
    return (XmlLimits){
        .max_stanza_bytes = authed ? stanza_size : server->preauth_stanza_size,
        .max_depth = server->max_depth,
        .max_attrs = server->max_attrs,
        .max_header_bytes = 4096,
    };
}

static void accept_cb(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    if (server->shutting_down) {
        close(fd);
        return;
    }
    CompConn *cc = g_new0(CompConn, 1);
    cc->link.data = cc;
    cc->stream = stream_new_incoming(&component_kind, fd, cc);
    XmlLimits lim = comp_limits(FALSE);
    server_stream_limits(server, cc->stream, &lim, "component");
    stream_set_deadline(cc->stream, server->preauth_timeout, STREAM_ERR_CONNECTION_TIMEOUT);
    g_queue_push_tail_link(&conns, &cc->link);
}

static gboolean comp_on_open(Stream *s, const char *to, const char *from, const char *version,
                             const char *lang)
{
    CompConn *cc = stream_owner(s);
    g_autofree char *domain = to ? jid_prep_domain(to, NULL) : NULL;
    Component *c = domain ? component_find(domain) : NULL;
    if (!c) { /* XEP-0114 §3.1 */
        stream_error(s, STREAM_ERR_HOST_UNKNOWN,
                     to ? "no component is configured for this domain"
                        : "the stream header needs the component's domain in 'to'");
        return FALSE;
    }
    cc->comp = c;
    cc->state = COMP_STATE_WAIT_HANDSHAKE;
    stream_set_local_domain(s, c->domain); /* our header: from = the component's domain */
    return TRUE;
}

static gboolean pending_is(gpointer key, gpointer value, gpointer ud)
{
    return value == ud;
}

/* The connection stops taking stanzas (its stream is ending). */
static void conn_detach(CompConn *cc)
{
    Component *c = cc->comp;
    gboolean was_ready = cc->state == COMP_STATE_READY;
    cc->state = COMP_STATE_GONE;
    if (!c || !was_ready)
        return;
    g_ptr_array_remove(c->ready, cc);
    if (c->pending)
        g_hash_table_foreach_remove(c->pending, pending_is, cc);
    if (c->ready->len == 0)
        g_message("component %s is away%s", c->domain,
                  c->queue_max ? ": its stanzas are queued" : ": its stanzas are bounced");
}

static void send_queue(Component *c, CompConn *cc)
{
    Queued *q;
    while ((q = g_queue_pop_head(&c->queue))) {
        stream_send_stanza(cc->stream, q->st);
        queued_free(q);
    }
}

/* XEP-0114 §3: <handshake>hex(SHA-1(stream id + secret))</handshake> */
static void handshake(CompConn *cc, XmlNode *el)
{
    g_autoptr(XmlNode) owned = el;
    Component *c = cc->comp;
    Stream *s = cc->stream;
    if (!xml_node_is(el, XML_NS_COMPONENT, "handshake")) {
        stream_error(s, STREAM_ERR_NOT_AUTHORIZED, "the <handshake/> comes first");
        return;
    }
    g_autofree char *raw = xml_node_text(el);
    g_autofree char *got = g_ascii_strdown(g_strstrip(raw), -1);
    g_autofree char *input = g_strconcat(stream_id(s), c->secret, NULL);
    g_autofree char *want = g_compute_checksum_for_string(G_CHECKSUM_SHA1, input, -1);
    OPENSSL_cleanse(input, strlen(input));
    gboolean ok = strlen(got) == strlen(want) && !CRYPTO_memcmp(got, want, strlen(want));
    OPENSSL_cleanse(want, strlen(want));
    if (!ok) {
        g_message("component %s from %s: wrong handshake", c->domain, stream_peer_addr(s));
        stream_error(s, STREAM_ERR_NOT_AUTHORIZED, "the handshake does not match the secret");
        return;
    }
    if (c->ready->len > 0 && !c->multiple) {
        g_message("component %s from %s: already connected", c->domain, stream_peer_addr(s));
        stream_error(s, STREAM_ERR_CONFLICT, "this component is already connected");
        return;
    }
    cc->state = COMP_STATE_READY;
    cc->since = g_get_real_time();
    stream_set_deadline(s, 0, STREAM_ERR_CONNECTION_TIMEOUT);
    XmlLimits lim = comp_limits(TRUE);
    stream_set_limits(s, &lim);
    stream_send_raw(s, "<handshake/>");
    g_ptr_array_add(c->ready, cc);
    if (c->multiple && !c->pending)
        c->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_message("component %s connected from %s (%u connection%s, %u queued)", c->domain,
              stream_peer_addr(s), c->ready->len, c->ready->len == 1 ? "" : "s", c->queue.length);
    g_autoptr(Stanza) adv = privilege_advertisement(&c->perms, server_domain_for(c), c->domain);
    if (adv) /* XEP-0356 §4.2: once the stream is authenticated */
        stream_send_stanza(s, adv);
    send_queue(c, cc);
}

static gboolean is_stanza_name(const XmlNode *el)
{
    return !strcmp(el->ns, XML_NS_COMPONENT) &&
           (!strcmp(el->name, "message") || !strcmp(el->name, "presence") ||
            !strcmp(el->name, "iq"));
}

/* Its own domain, or a subdomain of it with subdomains = true. */
static gboolean from_allowed(const Component *c, const Jid *from)
{
    const char *d = jid_domain(from);
    return !strcmp(d, c->domain) || (c->subdomains && is_subdomain(d, c->domain));
}

static gboolean is_ping_reply(CompConn *cc, const Stanza *st)
{
    gboolean reply = cc->ping_id && st->kind == STANZA_KIND_IQ && st->id &&
                     !strcmp(st->id, cc->ping_id) && st->type &&
                     (!strcmp(st->type, "result") || !strcmp(st->type, "error"));
    g_clear_pointer(&cc->ping_id, g_free); /* any stanza shows the component is alive */
    return reply;
}

static void remember_request(Component *c, CompConn *cc, const Stanza *st)
{
    if (!c->pending || st->kind != STANZA_KIND_IQ || !st->id || !st->type ||
        (strcmp(st->type, "get") && strcmp(st->type, "set")))
        return;
    if (g_hash_table_size(c->pending) >= PENDING_IQ_MAX)
        g_hash_table_remove_all(c->pending); /* unanswered ones: round-robin for the rest */
    g_hash_table_insert(c->pending, pending_key(jid_full(st->from), st->id), cc);
}

/* A stanza from an authenticated component. transfer full */
static void handle_stanza(CompConn *cc, XmlNode *el)
{
    Component *c = cc->comp;
    Stream *s = cc->stream;
    if (!is_stanza_name(el)) {
        stream_error(s, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
        xml_node_free(el);
        return;
    }
    const char *from = xml_node_attr(el, "from");
    if (!from || !xml_node_attr(el, "to")) { /* RFC 6120 §4.9.3.7 */
        stream_error(s, STREAM_ERR_IMPROPER_ADDRESSING, "a stanza needs 'from' and 'to'");
        xml_node_free(el);
        return;
    }
    g_autoptr(Jid) fj = jid_new(from, NULL);
    if (!fj || !from_allowed(c, fj)) { /* RFC 6120 §4.9.3.9 */
        stream_error(s, STREAM_ERR_INVALID_FROM, "'from' is not in the component's domain");
        xml_node_free(el);
        return;
    }
    /* keep what an error reply needs: stanza_new frees el when the 'to' is malformed */
    g_autofree char *name = g_strdup(el->name);
    g_autofree char *id = g_strdup(xml_node_attr(el, "id"));
    g_autofree char *type = g_strdup(xml_node_attr(el, "type"));
    g_autoptr(Stanza) st = stanza_new(el, NULL);
    if (!st) { /* RFC 6120 §8.3.3.8 */
        XmlNode *shell = xml_node_new(XML_NS_COMPONENT, name);
        xml_node_set_attr(shell, "id", id);
        xml_node_set_attr(shell, "type", type);
        xml_node_set_attr(shell, "from", jid_full(fj));
        g_autoptr(Stanza) orig = stanza_new(shell, NULL);
        g_autoptr(Stanza) reply = stanza_error_reply(orig, STANZA_ERR_JID_MALFORMED,
                                                     "the 'to' address is not a valid JID");
        if (reply)
            stream_send_stanza(s, reply);
        return;
    }
    if (is_ping_reply(cc, st))
        return;
    Stanza *reply = NULL;
    if (privilege_handle(server, &c->perms, st, &reply)) { /* XEP-0356 */
        if (reply) {
            stream_send_stanza(s, reply);
            stanza_unref(reply);
        }
        return;
    }
    remember_request(c, cc, st);
    router_deliver(g_steal_pointer(&st));
}

static void comp_on_element(Stream *s, XmlNode *el)
{
    CompConn *cc = stream_owner(s);
    if (!strcmp(el->ns, XML_NS_STREAMS)) { /* e.g. a stream error from the component */
        xml_node_free(el);
        return;
    }
    switch (cc->state) {
    case COMP_STATE_WAIT_HANDSHAKE:
        handshake(cc, el);
        return;
    case COMP_STATE_READY:
        handle_stanza(cc, el);
        return;
    case COMP_STATE_WAIT_HEADER:
    case COMP_STATE_GONE:
        xml_node_free(el);
        return;
    }
}

static void comp_on_ending(Stream *s)
{
    conn_detach(stream_owner(s));
}

static void comp_on_closed(Stream *s)
{
    CompConn *cc = stream_owner(s);
    conn_detach(cc);
    g_queue_unlink(&conns, &cc->link);
    stream_free(cc->stream);
    g_free(cc->ping_id);
    g_free(cc);
}

/* ---- keepalive and queue expiry ---- */

static void send_ping(CompConn *cc, gint64 now)
{
    cc->ping_id = stream_random_id();
    cc->ping_sent = now;
    g_autoptr(XmlNode) iq = xml_node_new(XML_NS_COMPONENT, "iq");
    xml_node_set_attr(iq, "type", "get");
    xml_node_set_attr(iq, "id", cc->ping_id);
    xml_node_set_attr(iq, "from", server_domain_for(cc->comp));
    xml_node_set_attr(iq, "to", cc->comp->domain);
    xml_node_add_child(iq, NS_PING, "ping");
    stream_send(cc->stream, iq);
}

/* XEP-0199 §4.2: a silent component is pinged, never cut for silence alone; one that does
 * not answer for ping_timeout is closed. Queued stanzas older than queue_timeout bounce. */
static gboolean tick_cb(gpointer data)
{
    gint64 now = g_get_monotonic_time();
    for (GList *l = conns.head, *next; l; l = next) {
        next = l->next;
        CompConn *cc = l->data;
        if (cc->state != COMP_STATE_READY || stream_state(cc->stream) != STREAM_STATE_OPEN)
            continue;
        if (cc->ping_id) {
            if (now - cc->ping_sent > ping_timeout)
                stream_error(cc->stream, STREAM_ERR_CONNECTION_TIMEOUT, "no answer to ping");
            continue;
        }
        if (now - conn_last_activity(stream_conn(cc->stream)) >= idle_ping)
            send_ping(cc, now);
    }
    for (guint i = 0; components && i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        Queued *q;
        while ((q = g_queue_peek_head(&c->queue)) && now - q->queued_at > queue_timeout) {
            g_queue_pop_head(&c->queue);
            bounce(q->st, "the component did not come back in time");
            g_free(q);
        }
    }
    return G_SOURCE_CONTINUE;
}

/* ---- disco and XEP-0356 presence ---- */

/* XEP-0030: every configured component (connected or not) is an item of the hosted domain
 * it is a subdomain of; one under no hosted domain is listed by all of them. */
static HookResult on_disco_items(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    XmlNode *q = ev->origin;
    const char *host = ev->st->from ? jid_domain(ev->st->from) : "";
    for (guint i = 0; i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        const char *parent = server_domain_for(c);
        if (strcmp(parent, host) && is_subdomain(c->domain, parent))
            continue; /* another hosted domain's */
        XmlNode *item = xml_node_add_child(q, NS_DISCO_ITEMS, "item");
        xml_node_set_attr(item, "jid", c->domain);
        if (c->name)
            xml_node_set_attr(item, "name", c->name);
    }
    return HOOK_PASS;
}

static void forward_presence(const Stanza *st, PrivPresence needed)
{
    if (st->type && strcmp(st->type, "unavailable"))
        return; /* XEP-0356 §6.1: available and unavailable only */
    for (guint i = 0; i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        if (c->perms.presence >= needed && c->ready->len > 0 &&
            !(st->from && from_allowed(c, st->from)))
            privilege_forward_presence(st, c->domain);
    }
}

/* §6.1: an account's own presence changes */
static HookResult on_own_presence(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    forward_presence(ev->st, PRIV_PRESENCE_MANAGED_ENTITY);
    return HOOK_PASS;
}

/* §6.4: presence an account receives from its contacts */
static HookResult on_to_user(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    if (ev->st->kind != STANZA_KIND_PRESENCE)
        return HOOK_PASS;
    gboolean wanted = FALSE; /* read the roster only when a component may see it */
    for (guint i = 0; i < components->len && !wanted; i++) {
        Component *c = g_ptr_array_index(components, i);
        wanted = c->perms.presence == PRIV_PRESENCE_ROSTER && c->ready->len > 0;
    }
    if (wanted && privilege_is_contact_presence(server, ev->st))
        forward_presence(ev->st, PRIV_PRESENCE_ROSTER);
    return HOOK_PASS;
}

static const char *const own_presence_events[] = {"presence/initial", "presence/update",
                                                  "presence/unavailable"};

/* ---- lifetime ---- */

static Component *component_new(const Config *cfg, const char *section, char *domain)
{
    Component *c = g_new0(Component, 1);
    c->domain = domain;
    c->section = g_strdup(section);
    c->secret = g_strdup(config_get_string(cfg, section, "secret"));
    const char *name = config_get_string(cfg, section, "name");
    c->name = *name ? g_strdup(name) : NULL;
    c->subdomains = config_get_bool(cfg, section, "subdomains");
    c->multiple = config_get_bool(cfg, section, "multiple");
    c->queue_max = config_get_int(cfg, section, "queue");
    privilege_perms_parse(&c->perms, config_get_string(cfg, section, "roster"),
                          config_get_string(cfg, section, "message"),
                          config_get_string(cfg, section, "presence"));
    c->ready = g_ptr_array_new();
    g_queue_init(&c->queue);
    return c;
}

static gboolean add_component(Config *cfg, const char *written, GError **error)
{
    g_autofree char *section = g_strconcat("component ", written, NULL);
    g_autoptr(GError) e = NULL;
    char *domain = jid_prep_domain(written, &e);
    const char *why = NULL;
    if (!domain)
        why = e->message;
    else if (server_is_hosted(server, domain))
        why = "it is one of [server] domains";
    else if (component_find(domain))
        why = "a second section for this domain";
    if (why) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s]: %s", config_origin(cfg),
                    section, why);
        g_free(domain);
        return FALSE;
    }
    Component *c = component_new(cfg, section, domain);
    g_ptr_array_add(components, c);
    c->route = router_register(c->domain, ROUTE_COMPONENT, route_deliver, c);
    if (!c->route) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [%s]: the domain is routed elsewhere", config_origin(cfg), section);
        return FALSE;
    }
    router_route_set_subdomains(c->route, c->subdomains);
    return TRUE;
}

gboolean component_init(Server *srv, GError **error)
{
    Config *cfg = srv->config;
    server = srv;
    idle_ping = config_get_int(cfg, "components", "idle_ping") * G_USEC_PER_SEC;
    ping_timeout = config_get_int(cfg, "components", "ping_timeout") * G_USEC_PER_SEC;
    queue_timeout = config_get_int(cfg, "components", "queue_timeout") * G_USEC_PER_SEC;
    stanza_size = config_get_int(cfg, "components", "stanza_size");
    components = g_ptr_array_new_with_free_func(component_free);
    char *const *written = config_component_domains(cfg);
    for (guint i = 0; written[i]; i++)
        if (!add_component(cfg, written[i], error))
            return FALSE;
    hook_add("disco-items/host", 0, on_disco_items, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(own_presence_events); i++)
        hook_add(own_presence_events[i], 0, on_own_presence, NULL);
    hook_add("stanza/to-user", 50, on_to_user, NULL); /* after filters such as blocking */
    tick_src = g_timeout_add_seconds(1, tick_cb, NULL);
    const char *addr = config_get_string(cfg, "components", "listen");
    if (!*addr)
        return TRUE;
    Listener *l = listener_new(addr, accept_cb, NULL, error);
    if (!l) {
        g_prefix_error(error, "[components] listen = %s: ", addr);
        return FALSE;
    }
    g_ptr_array_add(srv->listeners, l);
    g_message("components listening on %s, port %u (%u configured)", addr, listener_port(l),
              components->len);
    return TRUE;
}

void component_fini(void)
{
    if (!components)
        return;
    if (tick_src)
        g_source_remove(tick_src);
    tick_src = 0;
    hook_remove("disco-items/host", on_disco_items, NULL);
    for (guint i = 0; i < G_N_ELEMENTS(own_presence_events); i++)
        hook_remove(own_presence_events[i], on_own_presence, NULL);
    hook_remove("stanza/to-user", on_to_user, NULL);
    CompConn *cc;
    while ((cc = g_queue_pop_head(&conns))) { /* streams not gone by now */
        stream_free(cc->stream);
        g_free(cc->ping_id);
        g_free(cc);
    }
    g_clear_pointer(&components, g_ptr_array_unref);
    server = NULL;
}

guint component_close_all(StreamErr err, const char *text)
{
    guint n = 0;
    for (GList *l = conns.head; l; l = l->next) {
        CompConn *cc = l->data;
        if (stream_state(cc->stream) != STREAM_STATE_CLOSED &&
            stream_state(cc->stream) != STREAM_STATE_CLOSING) {
            stream_error(cc->stream, err, text);
            n++;
        }
    }
    for (guint i = 0; components && i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        Queued *q;
        while ((q = g_queue_pop_head(&c->queue))) {
            bounce(q->st, "the server is shutting down");
            g_free(q);
        }
    }
    return n;
}

guint component_count(void)
{
    return conns.length;
}

void component_info_free(ComponentInfo *info)
{
    if (!info)
        return;
    g_free(info->domain);
    g_free(info);
}

GPtrArray *component_list(void)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)component_info_free);
    for (guint i = 0; components && i < components->len; i++) {
        Component *c = g_ptr_array_index(components, i);
        ComponentInfo *info = g_new0(ComponentInfo, 1);
        info->domain = g_strdup(c->domain);
        info->connections = c->ready->len;
        for (guint j = 0; j < c->ready->len; j++) {
            CompConn *cc = g_ptr_array_index(c->ready, j);
            if (!info->since || cc->since < info->since)
                info->since = cc->since;
        }
        info->queued = c->queue.length;
        g_ptr_array_add(out, info);
    }
    return out;
}
