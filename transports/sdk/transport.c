/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/transport.c — the XEP-0114 component connection: libstrophe setup,
 * reconnect with exponential backoff and jitter, stanza dispatch, sending */
#include "transports/sdk/sdk-private.h"

#include <errno.h>
#include <string.h>
#include <sys/select.h>

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 5347 /* XEP-0114 */
#define DEFAULT_RECONNECT_MIN_MS 500
#define DEFAULT_RECONNECT_MAX_MS 60000

typedef enum {
    TT_STATE_IDLE,       /* created, not started */
    TT_STATE_CONNECTING, /* TCP connect, stream header, handshake */
    TT_STATE_CONNECTED,  /* handshake accepted */
    TT_STATE_WAIT_RETRY, /* backoff timer running */
    TT_STATE_STOPPING,   /* </stream:stream> sent */
    TT_STATE_STOPPED,
} TtState;

struct TtTransport {
    char *domain, *secret, *host;
    guint16 port;
    guint reconnect_min_ms, reconnect_max_ms;
    TtGatewayInfo gw;
    TtHandlers handlers;
    gpointer user_data;

    GMainContext *context; /* ref */
    xmpp_ctx_t *ctx;
    xmpp_log_t log;
    TtLoop *loop;
    xmpp_conn_t *conn; /* the current attempt or connection, NULL in between */
    GPtrArray *dead;   /* xmpp_conn_t* to release outside libstrophe's callbacks */
    GSource *reaper;   /* idle that releases them */
    GSource *retry;    /* backoff timer */
    TtState state;
    guint attempt;  /* failed attempts since the last successful handshake */
    int refused_fd; /* set by on_sockopt for the attempt being made */
    GRand *rand;
    TtStore *store;
    guint64 dropped;
};

GQuark tt_error_quark(void)
{
    return g_quark_from_static_string("tern-transport-error-quark");
}

/* libstrophe's callbacks get the xmpp_conn_t but not always our pointer (the sockopt
 * callback has no user data): connection -> transport, for the conns we made. */
static GHashTable *conn_owner;
G_LOCK_DEFINE_STATIC(conn_owner);

static void conn_owner_set(xmpp_conn_t *conn, TtTransport *t)
{
    G_LOCK(conn_owner);
    if (!conn_owner)
        conn_owner = g_hash_table_new(NULL, NULL);
    if (t)
        g_hash_table_insert(conn_owner, conn, t);
    else
        g_hash_table_remove(conn_owner, conn);
    G_UNLOCK(conn_owner);
}

static TtTransport *conn_owner_get(xmpp_conn_t *conn)
{
    G_LOCK(conn_owner);
    TtTransport *t = conn_owner ? g_hash_table_lookup(conn_owner, conn) : NULL;
    G_UNLOCK(conn_owner);
    return t;
}

guint tt_backoff_delay(guint attempt, guint min_ms, guint max_ms, GRand *rand)
{
    guint64 cap = min_ms;
    for (guint i = 0; i < attempt && cap < max_ms; i++)
        cap *= 2;
    cap = MIN(cap, (guint64)max_ms);
    guint half = (guint)(cap / 2);
    return half + (guint)g_rand_int_range(rand, 0, (gint32)(cap - half) + 1);
}

/* libstrophe's log -> GLib. Its debug output has the whole stream (SENT/RECV) and the
 * handshake digest: the digest is left out (secrets are never logged). */
static void on_strophe_log(void *ud, xmpp_log_level_t level, const char *area, const char *msg)
{
    int saved = errno; /* libstrophe may read errno after logging */
    if (level == XMPP_LEVEL_DEBUG) {
        if (g_strcmp0(area, "auth") != 0 && !strstr(msg, "<handshake"))
            g_debug("libstrophe %s: %s", area, msg);
    } else if (level == XMPP_LEVEL_INFO) {
        g_info("libstrophe %s: %s", area, msg);
    } else {
        g_message("libstrophe %s: %s", area, msg);
    }
    errno = saved;
}

/* Refuses a socket that select() cannot watch (see tt_loop.c); libstrophe then closes it
 * and xmpp_connect_component() fails before connect(). */
static int on_sockopt(xmpp_conn_t *conn, void *sock)
{
    int fd = *(int *)sock;
    TtTransport *t = conn_owner_get(conn);
    if (!tt_fd_selectable(fd)) {
        if (t)
            t->refused_fd = fd;
        errno = EMFILE; /* never a stale EINPROGRESS: libstrophe checks errno after us */
        return -1;
    }
    if (t)
        tt_loop_watch(t->loop, fd, conn);
    return 0;
}

static int refuse_socket(xmpp_conn_t *conn, void *sock)
{
    errno = EPERM;
    return -1;
}

static void donor_event(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                        xmpp_stream_error_t *stream_error, void *ud)
{
}

/* COMPAT: libstrophe 0.12.0-0.12.2 (Debian 12 ships 0.12.2) allocate the stream-management
 * state only in xmpp_connect_client(), yet dereference it for every connection: a
 * component connection crashes on its first stanza or on a failed connect (NULL
 * conn->sm_state). Give it one: a donor connection whose xmpp_connect_client() fails in
 * our sockopt callback (no packet is sent) has allocated it; move it over with the public
 * xmpp_conn_get_sm_state()/xmpp_conn_set_sm_state(). Newer versions already have one. */
static void conn_give_sm_state(TtTransport *t, xmpp_conn_t *conn)
{
    xmpp_sm_state_t *sm = xmpp_conn_get_sm_state(conn);
    if (!sm) {
        xmpp_conn_t *donor = xmpp_conn_new(t->ctx);
        xmpp_conn_set_jid(donor, "sm-donor@tern.invalid");
        xmpp_conn_set_sockopt_callback(donor, refuse_socket);
        (void)xmpp_connect_client(donor, "127.0.0.1", 9, donor_event, NULL);
        sm = xmpp_conn_is_disconnected(donor) ? xmpp_conn_get_sm_state(donor) : NULL;
        xmpp_conn_release(donor);
    }
    if (sm && xmpp_conn_set_sm_state(conn, sm) != XMPP_EOK)
        xmpp_free_sm_state(sm);
}

static gboolean reap_dead(gpointer data)
{
    TtTransport *t = data;
    g_source_unref(t->reaper);
    t->reaper = NULL;
    for (guint i = 0; i < t->dead->len; i++)
        xmpp_conn_release(g_ptr_array_index(t->dead, i));
    g_ptr_array_set_size(t->dead, 0);
    return G_SOURCE_REMOVE;
}

/* The connection is over: forget it now, release it from a fresh main-loop turn (we may
 * be inside one of its callbacks). */
static void drop_conn(TtTransport *t)
{
    if (!t->conn)
        return;
    conn_owner_set(t->conn, NULL);
    g_ptr_array_add(t->dead, t->conn);
    t->conn = NULL;
    tt_loop_unwatch(t->loop);
    tt_loop_set_connecting(t->loop, FALSE);
    if (!t->reaper) {
        t->reaper = g_idle_source_new();
        g_source_set_callback(t->reaper, reap_dead, t, NULL);
        g_source_attach(t->reaper, t->context);
    }
}

static void transport_connect(TtTransport *t);

static gboolean on_retry(gpointer data)
{
    TtTransport *t = data;
    g_source_unref(t->retry);
    t->retry = NULL;
    transport_connect(t);
    return G_SOURCE_REMOVE;
}

static void connection_lost(TtTransport *t, GError *error)
{
    gboolean stopping = t->state == TT_STATE_STOPPING || t->state == TT_STATE_STOPPED;
    drop_conn(t);
    if (stopping) {
        t->state = TT_STATE_STOPPED;
        g_info("transport %s: stopped", t->domain);
        if (t->handlers.disconnected)
            t->handlers.disconnected(t, NULL, t->user_data);
        g_clear_error(&error);
        return;
    }
    guint delay = tt_backoff_delay(t->attempt, t->reconnect_min_ms, t->reconnect_max_ms, t->rand);
    t->attempt++;
    t->state = TT_STATE_WAIT_RETRY;
    if (g_error_matches(error, TT_ERROR, TT_ERROR_FD_SETSIZE))
        g_warning("transport %s: %s; reconnecting in %u ms", t->domain, error->message, delay);
    else
        g_message("transport %s: %s; reconnecting in %u ms", t->domain, error->message, delay);
    if (t->handlers.disconnected)
        t->handlers.disconnected(t, error, t->user_data);
    g_clear_error(&error);
    if (t->state == TT_STATE_WAIT_RETRY && !t->retry) { /* unless the handler stopped us */
        t->retry = g_timeout_source_new(delay);
        g_source_set_callback(t->retry, on_retry, t, NULL);
        g_source_attach(t->retry, t->context);
    }
}

static GError *describe_end(TtTransport *t, int error, xmpp_stream_error_t *se,
                            gboolean was_connected)
{
    if (se && se->stanza) {
        const char *cond = "undefined-condition";
        for (xmpp_stanza_t *c = xmpp_stanza_get_children(se->stanza); c;
             c = xmpp_stanza_get_next(c)) {
            const char *n = xmpp_stanza_get_name(c);
            if (n && xmpp_stanza_is_tag(c) && strcmp(n, "text") != 0) {
                cond = n;
                break;
            }
        }
        return g_error_new(TT_ERROR, TT_ERROR_STREAM, "stream error <%s/>%s%s%s", cond,
                           se->text ? " (" : "", se->text ? se->text : "", se->text ? ")" : "");
    }
    if (error)
        return g_error_new(TT_ERROR, TT_ERROR_CLOSED, "connection to %s:%u: %s", t->host, t->port,
                           g_strerror(error));
    if (!was_connected)
        return g_error_new(TT_ERROR, TT_ERROR_CONNECT,
                           "no component stream with %s:%u (refused, closed or timed out)", t->host,
                           t->port);
    return g_error_new(TT_ERROR, TT_ERROR_CLOSED, "ternd closed the component stream");
}

static void on_conn_event(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                          xmpp_stream_error_t *stream_error, void *ud)
{
    TtTransport *t = ud;
    if (conn != t->conn)
        return; /* an old connection being released */
    switch (status) {
    case XMPP_CONN_CONNECT:
        t->state = TT_STATE_CONNECTED;
        t->attempt = 0;
        tt_loop_set_connecting(t->loop, FALSE);
        g_message("transport %s: connected to %s:%u", t->domain, t->host, t->port);
        if (t->handlers.connected)
            t->handlers.connected(t, t->user_data);
        break;
    case XMPP_CONN_RAW_CONNECT:
        break;
    case XMPP_CONN_DISCONNECT:
    case XMPP_CONN_FAIL:
        connection_lost(
            t, describe_end(t, error, stream_error,
                            t->state == TT_STATE_CONNECTED || t->state == TT_STATE_STOPPING));
        break;
    }
}

static int on_stanza(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    TtTransport *t = ud;
    const char *name = xmpp_stanza_get_name(st);
    const char *type = xmpp_stanza_get_type(st);
    const char *to = xmpp_stanza_get_to(st);
    if (!name || !to || !xmpp_stanza_get_from(st))
        return 1; /* ternd stamps both on every stanza it routes to us */
    gboolean to_domain = g_ascii_strcasecmp(to, t->domain) == 0;
    if (strcmp(name, "iq") == 0) {
        gboolean request = g_strcmp0(type, "get") == 0 || g_strcmp0(type, "set") == 0;
        if (request && to_domain && tt_gateway_handle_iq(t, &t->gw, st))
            return 1;
        if (t->handlers.iq && t->handlers.iq(t, st, t->user_data))
            return 1;
        if (request) /* RFC 6120 §8.2.3: a request always gets an answer */
            tt_send_error(t, st, "cancel", "service-unavailable", NULL);
    } else if (strcmp(name, "message") == 0) {
        if (t->handlers.message && t->handlers.message(t, st, t->user_data))
            return 1;
        tt_send_error(t, st, "cancel", "service-unavailable", NULL);
    } else if (strcmp(name, "presence") == 0) {
        if (to_domain && tt_gateway_handle_presence(t, &t->gw, st))
            return 1;
        if (t->handlers.presence)
            t->handlers.presence(t, st, t->user_data);
    }
    return 1; /* keep the handler */
}

static void transport_connect(TtTransport *t)
{
    xmpp_conn_t *conn = xmpp_conn_new(t->ctx);
    conn_give_sm_state(t, conn);
    xmpp_conn_set_jid(conn, t->domain);
    xmpp_conn_set_pass(conn, t->secret);
    xmpp_conn_set_sockopt_callback(conn, on_sockopt);
    xmpp_handler_add(conn, on_stanza, NULL, NULL, NULL, t);
    conn_owner_set(conn, t);
    t->conn = conn;
    t->state = TT_STATE_CONNECTING;
    t->refused_fd = -1;
    tt_loop_set_connecting(t->loop, TRUE);
    /* libstrophe creates the socket inside this call: let it have the spare number */
    tt_loop_release_spare(t->loop);
    int rc = xmpp_connect_component(conn, t->host, t->port, on_conn_event, t);
    tt_loop_reserve_spare(t->loop);
    if (rc == XMPP_EOK)
        return;
    GError *error;
    if (t->refused_fd >= 0) {
        error = g_error_new(TT_ERROR, TT_ERROR_FD_SETSIZE,
                            "refused socket fd %d: it is >= FD_SETSIZE (%d) and libstrophe "
                            "watches sockets with select(); close descriptors or start the "
                            "transport before opening many",
                            t->refused_fd, FD_SETSIZE);
    } else {
        error = g_error_new(TT_ERROR, TT_ERROR_CONNECT, "cannot connect to %s:%u (libstrophe %d)",
                            t->host, t->port, rc);
    }
    connection_lost(t, error);
}

static gpointer strophe_init(gpointer unused)
{
    xmpp_initialize();
    return NULL;
}

static gboolean copy_config(TtTransport *t, const TtConfig *c, GError **error)
{
    if (!c->domain || !*c->domain || strpbrk(c->domain, "@/ ") || !c->secret || !*c->secret) {
        g_set_error(error, TT_ERROR, TT_ERROR_CONFIG,
                    "a transport needs a component domain and a secret");
        return FALSE;
    }
    t->domain = g_ascii_strdown(c->domain, -1);
    t->secret = g_strdup(c->secret);
    t->host = g_strdup(c->host && *c->host ? c->host : DEFAULT_HOST);
    t->port = c->port ? c->port : DEFAULT_PORT;
    t->reconnect_min_ms = c->reconnect_min_ms ? c->reconnect_min_ms : DEFAULT_RECONNECT_MIN_MS;
    t->reconnect_max_ms = MAX(t->reconnect_min_ms,
                              c->reconnect_max_ms ? c->reconnect_max_ms : DEFAULT_RECONNECT_MAX_MS);
    TtGatewayInfo *gw = &t->gw;
    gw->domain = t->domain;
    gw->name = g_strdup(c->name ? c->name : t->domain);
    gw->gateway_type = g_strdup(c->gateway_type ? c->gateway_type : "xmpp");
    gw->instructions = g_strdup(c->instructions);
    gw->prompt_desc = g_strdup(c->prompt_desc);
    gw->prompt = g_strdup(c->prompt ? c->prompt : "Legacy address");
    gw->features = g_strdupv((char **)c->features);
    guint n = 0;
    while (c->fields && c->fields[n].var)
        n++;
    gw->fields = g_new0(TtField, n + 1);
    for (guint i = 0; i < n; i++) {
        gw->fields[i] = c->fields[i];
        gw->fields[i].var = g_strdup(c->fields[i].var);
        gw->fields[i].label = g_strdup(c->fields[i].label ? c->fields[i].label : c->fields[i].var);
    }
    if (gw->instructions && !c->data_dir) {
        g_set_error(error, TT_ERROR, TT_ERROR_CONFIG,
                    "registration (instructions) needs a data_dir for the store");
        return FALSE;
    }
    return TRUE;
}

TtTransport *tt_transport_new(const TtConfig *config, const TtHandlers *handlers,
                              gpointer user_data, GError **error)
{
    static GOnce once = G_ONCE_INIT;
    g_once(&once, strophe_init, NULL);

    TtTransport *t = g_new0(TtTransport, 1);
    t->dead = g_ptr_array_new();
    t->refused_fd = -1;
    if (handlers)
        t->handlers = *handlers;
    t->user_data = user_data;
    if (!copy_config(t, config, error)) {
        tt_transport_free(t);
        return NULL;
    }
    if (config->data_dir && !(t->store = tt_store_open(config->data_dir, error))) {
        tt_transport_free(t);
        return NULL;
    }
    t->context = g_main_context_ref_thread_default();
    t->log.handler = on_strophe_log;
    t->log.userdata = t;
    t->ctx = xmpp_ctx_new(NULL, &t->log);
    /* before the program opens its many legacy sockets: keep a low descriptor */
    t->loop = tt_loop_new(t->ctx, t->context);
    t->rand = g_rand_new();
    return t;
}

void tt_transport_start(TtTransport *t)
{
    if (t->state != TT_STATE_IDLE && t->state != TT_STATE_STOPPED)
        return;
    t->attempt = 0;
    transport_connect(t);
}

void tt_transport_stop(TtTransport *t)
{
    if (t->retry) {
        g_source_destroy(t->retry);
        g_source_unref(t->retry);
        t->retry = NULL;
    }
    TtState was = t->state;
    t->state = TT_STATE_STOPPING;
    if (was == TT_STATE_CONNECTED && t->conn) {
        xmpp_disconnect(t->conn); /* </stream:stream>; on_conn_event follows */
        tt_loop_kick(t->loop);
    } else {
        connection_lost(t, NULL);
    }
}

void tt_transport_free(TtTransport *t)
{
    if (!t)
        return;
    t->state = TT_STATE_STOPPED;
    if (t->retry) {
        g_source_destroy(t->retry);
        g_source_unref(t->retry);
    }
    if (t->reaper) {
        g_source_destroy(t->reaper);
        g_source_unref(t->reaper);
    }
    if (t->conn) {
        conn_owner_set(t->conn, NULL);
        g_ptr_array_add(t->dead, t->conn);
        t->conn = NULL;
    }
    if (t->loop)
        tt_loop_unwatch(t->loop);
    for (guint i = 0; i < t->dead->len; i++)
        xmpp_conn_release(g_ptr_array_index(t->dead, i)); /* on_conn_event ignores them */
    g_ptr_array_free(t->dead, TRUE);
    tt_loop_free(t->loop);
    if (t->ctx)
        xmpp_ctx_free(t->ctx);
    if (t->context)
        g_main_context_unref(t->context);
    tt_store_close(t->store);
    if (t->rand)
        g_rand_free(t->rand);
    for (TtField *f = t->gw.fields; f && f->var; f++) {
        g_free((char *)f->var);
        g_free((char *)f->label);
    }
    g_free(t->gw.fields);
    g_free(t->gw.name);
    g_free(t->gw.gateway_type);
    g_free(t->gw.instructions);
    g_free(t->gw.prompt_desc);
    g_free(t->gw.prompt);
    g_strfreev(t->gw.features);
    g_free(t->domain);
    if (t->secret)
        memset(t->secret, 0, strlen(t->secret));
    g_free(t->secret);
    g_free(t->host);
    g_free(t);
}

gboolean tt_transport_is_connected(TtTransport *t)
{
    return t->state == TT_STATE_CONNECTED;
}

const char *tt_transport_domain(TtTransport *t)
{
    return t->domain;
}

TtStore *tt_transport_store(TtTransport *t)
{
    return t->store;
}

xmpp_ctx_t *tt_ctx(TtTransport *t)
{
    return t->ctx;
}

guint64 tt_transport_dropped(TtTransport *t)
{
    return t->dropped;
}

const TtHandlers *tt_transport_handlers(TtTransport *t, gpointer *user_data)
{
    *user_data = t->user_data;
    return &t->handlers;
}

void tt_send(TtTransport *t, xmpp_stanza_t *stanza)
{
    if (t->state != TT_STATE_CONNECTED || !t->conn) {
        t->dropped++;
        g_debug("transport %s: not connected, dropped a <%s/>", t->domain,
                xmpp_stanza_get_name(stanza));
    } else {
        xmpp_send(t->conn, stanza);
        tt_loop_kick(t->loop);
    }
    xmpp_stanza_release(stanza);
}
