/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/s2s.c — federation module: config, the default route, the (local, remote) link table */
#include "s2s/s2s.h"

#include <glib/gstdio.h>
#include <string.h>

#include "router/router.h"

#define S2S_MAX_RETRIES 2                        /* reconnects of a link whose stream broke */
#define S2S_RETRY_RESET_US (30 * G_USEC_PER_SEC) /* ready that long: a fresh budget */

S2sConfig s2s_conf;
static Server *server;
static GHashTable *links; /* "local\nremote" -> S2sLink (owned) */
static guint timer_src;

/* ---- policy ---- */

static gboolean domain_listed(char **list, const char *domain)
{
    for (guint i = 0; list && list[i]; i++)
        if (!g_ascii_strcasecmp(list[i], domain))
            return TRUE;
    return FALSE;
}

gboolean s2s_is_ours(const char *domain)
{
    if (server_is_hosted(server, domain))
        return TRUE;
    RouterRoute *r = router_lookup(domain); /* XEP-0114 components federate too */
    return r && router_route_kind(r) != ROUTE_REMOTE;
}

gboolean s2s_domain_allowed(const char *domain)
{
    if (s2s_is_ours(domain) || domain_listed(s2s_conf.deny_domains, domain))
        return FALSE;
    if (s2s_conf.allow_domains && s2s_conf.allow_domains[0])
        return domain_listed(s2s_conf.allow_domains, domain);
    return TRUE;
}

/* Like Prosody's s2s_secure_auth / s2s_secure_domains / s2s_insecure_domains. */
gboolean s2s_needs_valid_cert(const char *domain)
{
    if (domain_listed(s2s_conf.secure_domains, domain))
        return TRUE;
    if (domain_listed(s2s_conf.insecure_domains, domain))
        return FALSE;
    return s2s_conf.require_valid_cert;
}

/* ---- links ---- */

static char *link_key(const char *local, const char *remote)
{
    return g_strconcat(local, "\n", remote, NULL);
}

static void link_free(gpointer p)
{
    S2sLink *l = p;
    Stanza *st;
    while ((st = g_queue_pop_head(&l->queue)))
        stanza_unref(st);
    g_free(l->local);
    g_free(l->remote);
    g_free(l);
}

static void link_remove(S2sLink *l)
{
    g_autofree char *key = link_key(l->local, l->remote);
    g_hash_table_remove(links, key);
    s2s_status_changed();
}

S2sLink *s2s_link_find(const char *local, const char *remote)
{
    g_autofree char *key = link_key(local, remote);
    return links ? g_hash_table_lookup(links, key) : NULL;
}

/* Find a stream for l: one being set up for the same pair, one to the same peer that may
 * carry another pair (piggybacking), else a new one. */
static void link_connect(S2sLink *l)
{
    S2sOut *out = s2s_out_find(l->local, l->remote);
    if (!out)
        out = s2s_out_new(l->local, l->remote);
    s2s_out_attach(out, l);
}

void s2s_link_ready(S2sLink *l, const char *auth)
{
    l->state = LINK_READY;
    l->auth = auth;
    g_message("s2s %s -> %s ready (%s)", l->local, l->remote, auth);
    Stanza *st;
    while (l->state == LINK_READY && s2s_out_ready(l->out) && (st = g_queue_pop_head(&l->queue)))
        s2s_out_send(l->out, st);
    s2s_status_changed();
}

void s2s_link_fail(S2sLink *l, StanzaErr err, const char *text)
{
    g_message("s2s %s -> %s failed: %s (%u stanzas bounced)", l->local, l->remote,
              text ? text : stanza_err_condition(err), g_queue_get_length(&l->queue));
    GQueue q = l->queue;
    g_queue_init(&l->queue);
    link_remove(l);
    /* RFC 6120 §8.3, §10.4: every queued stanza back to its sender (never errors) */
    Stanza *st;
    while ((st = g_queue_pop_head(&q))) {
        router_bounce(st, err, text);
        stanza_unref(st);
    }
}

void s2s_link_broken(S2sLink *l, GQueue *requeue)
{
    Stanza *st;
    while ((st = g_queue_pop_tail(requeue)))
        g_queue_push_head(&l->queue, st);
    l->out = NULL;
    gboolean was_ready = l->state == LINK_READY;
    l->state = LINK_WAIT;
    if (g_queue_is_empty(&l->queue)) {
        link_remove(l); /* reopened on demand */
        return;
    }
    if (s2s_conf.stopping)
        return; /* kept until s2s_fini */
    if (was_ready && g_get_real_time() - l->since > S2S_RETRY_RESET_US)
        l->retries = 0;
    if (l->retries >= S2S_MAX_RETRIES) {
        s2s_link_fail(l, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "the server link broke repeatedly");
        return;
    }
    l->retries++;
    g_message("s2s %s -> %s broke with %u stanzas undelivered; reconnecting", l->local, l->remote,
              g_queue_get_length(&l->queue));
    l->since = g_get_real_time();
    link_connect(l);
}

/* The default route: every stanza for a domain that is not ours. transfer full */
static void s2s_route(Stanza *st, gpointer ud)
{
    const char *remote = jid_domain(st->to);
    const char *local = st->from ? jid_domain(st->from) : NULL;
    if (!local || !s2s_is_ours(local)) {
        /* we never relay between two other domains (RFC 6120 §13.12 item 1) */
        g_message("s2s: not relaying a stanza from %s to %s", local ? local : "(none)", remote);
        stanza_unref(st);
        return;
    }
    if (s2s_conf.stopping) {
        router_bounce(st, STANZA_ERR_REMOTE_SERVER_TIMEOUT, "the server is shutting down");
        stanza_unref(st);
        return;
    }
    if (!s2s_domain_allowed(remote)) {
        router_bounce(st, STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
                      "federation with this domain is not allowed");
        stanza_unref(st);
        return;
    }
    S2sLink *l = s2s_link_find(local, remote);
    if (l && l->state == LINK_READY && s2s_out_ready(l->out)) {
        s2s_out_send(l->out, st);
        return;
    }
    if (!l) {
        l = g_new0(S2sLink, 1);
        l->local = g_strdup(local);
        l->remote = g_strdup(remote);
        l->since = g_get_real_time();
        g_queue_init(&l->queue);
        g_hash_table_insert(links, link_key(local, remote), l);
        link_connect(l);
    }
    if (g_queue_get_length(&l->queue) >= s2s_conf.queue_size) {
        router_bounce(st, STANZA_ERR_RESOURCE_CONSTRAINT, "too many stanzas wait for this domain");
        stanza_unref(st);
        return;
    }
    g_queue_push_tail(&l->queue, st);
    s2s_status_changed();
}

/* ---- status file for ternctl s2s ---- */

static guint status_src;

static void describe_link(GKeyFile *kf, guint n, S2sLink *l)
{
    g_autofree char *group = g_strdup_printf("link %u", n);
    g_key_file_set_string(kf, group, "direction", "out");
    g_key_file_set_string(kf, group, "local", l->local);
    g_key_file_set_string(kf, group, "remote", l->remote);
    g_key_file_set_string(kf, group, "state",
                          l->state == LINK_READY  ? "ready"
                          : l->state == LINK_AUTH ? "authenticating"
                                                  : "connecting");
    g_key_file_set_string(kf, group, "auth", l->auth ? l->auth : "none");
    g_key_file_set_string(kf, group, "tls", l->out ? s2s_out_tls_version(l->out) : "none");
    g_key_file_set_string(kf, group, "sm", l->out ? s2s_out_sm(l->out) : "off");
    g_key_file_set_integer(kf, group, "queued", (gint)g_queue_get_length(&l->queue));
    g_key_file_set_string(kf, group, "via", l->out ? s2s_out_via(l->out) : "-");
    g_key_file_set_string(kf, group, "cert",
                          l->out ? cert_status_name(s2s_out_peer_cert(l->out)) : "-");
    g_autofree char *stream =
        l->out ? g_strdup_printf("out%u", s2s_out_serial(l->out)) : g_strdup("-");
    g_key_file_set_string(kf, group, "stream", stream);
    g_key_file_set_int64(kf, group, "since", l->since / G_USEC_PER_SEC);
}

typedef struct {
    GKeyFile *kf;
    guint n;
} StatusCtx;

static void describe_in(S2sIn *in, gpointer ud)
{
    StatusCtx *c = ud;
    s2s_in_describe(in, c->kf, &c->n);
}

static gboolean write_status(gpointer data)
{
    status_src = 0;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    StatusCtx c = {kf, 0};
    g_key_file_set_int64(kf, "s2s", "written", g_get_real_time() / G_USEC_PER_SEC);
    g_key_file_set_boolean(kf, "s2s", "enabled", TRUE);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, links);
    while (g_hash_table_iter_next(&it, NULL, &v))
        describe_link(kf, c.n++, v);
    s2s_in_foreach(describe_in, &c);
    g_autofree char *text = g_key_file_to_data(kf, NULL, NULL);
    g_autofree char *path =
        g_build_filename(config_get_path(server->config, "server", "data_dir"), "s2s.status", NULL);
    g_autoptr(GError) err = NULL;
    if (!g_file_set_contents(path, text, -1, &err)) /* atomic: temp file and rename */
        g_warning("s2s: cannot write %s: %s", path, err->message);
    return G_SOURCE_REMOVE;
}

void s2s_status_changed(void)
{
    if (!status_src && links) /* at most every 100 ms */
        status_src = g_timeout_add(100, write_status, NULL);
}

/* ---- lifetime ---- */

static gboolean timer_cb(gpointer data)
{
    gint64 now = g_get_monotonic_time();
    s2s_out_close_idle(now);
    s2s_in_close_idle(now);
    return G_SOURCE_CONTINUE;
}

static void read_config(Server *srv)
{
    Config *c = srv->config;
    s2s_conf.srv = srv;
    s2s_conf.require_tls = config_get_bool(c, "s2s", "require_tls");
    s2s_conf.require_valid_cert = config_get_bool(c, "s2s", "require_valid_cert");
    s2s_conf.dialback = config_get_bool(c, "s2s", "dialback");
    s2s_conf.secure_domains = (char **)config_get_list(c, "s2s", "secure_domains");
    s2s_conf.insecure_domains = (char **)config_get_list(c, "s2s", "insecure_domains");
    s2s_conf.allow_domains = (char **)config_get_list(c, "s2s", "allow_domains");
    s2s_conf.deny_domains = (char **)config_get_list(c, "s2s", "deny_domains");
    s2s_conf.queue_size = config_get_int(c, "s2s", "queue_size");
    s2s_conf.connect_timeout = config_get_int(c, "s2s", "connect_timeout");
    s2s_conf.idle_timeout = config_get_int(c, "s2s", "idle_timeout");
    s2s_conf.max_streams_per_ip = config_get_int(c, "s2s", "max_streams_per_ip");
    s2s_conf.preauth_limits = (XmlLimits){
        .max_stanza_bytes = srv->preauth_stanza_size,
        .max_depth = srv->max_depth,
        .max_attrs = srv->max_attrs,
        .max_header_bytes = 4096,
    };
    s2s_conf.limits = s2s_conf.preauth_limits;
    s2s_conf.limits.max_stanza_bytes = config_get_int(c, "limits", "s2s_stanza_size");
}

gboolean s2s_init(Server *srv, GError **error)
{
    server = srv;
    if (!config_get_bool(srv->config, "s2s", "enabled")) {
        g_message("s2s disabled: stanzas for other domains get <remote-server-not-found/>");
        return TRUE;
    }
    read_config(srv);
    const char *ca_file = config_get_path(srv->config, "s2s", "ca_file");
    if (!tls_store_set_trust(srv->tls, ca_file, error)) {
        g_prefix_error(error, "[s2s] ca_file: ");
        return FALSE;
    }
    const char *dns = config_get_string(srv->config, "s2s", "dns_servers");
    s2s_conf.resolver = resolver_new(dns, error);
    if (!s2s_conf.resolver) {
        g_prefix_error(error, "[s2s] dns_servers = %s: ", dns);
        return FALSE;
    }
    dialback_init();
    links = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, link_free);
    if (!s2s_in_init(error))
        return FALSE;
    router_set_default(s2s_route, NULL);
    timer_src = g_timeout_add_seconds(1, timer_cb, NULL);
    s2s_status_changed();
    return TRUE;
}

void s2s_fini(void)
{
    if (!links)
        return;
    router_set_default(NULL, NULL);
    s2s_conf.stopping = TRUE;
    if (timer_src)
        g_source_remove(timer_src);
    timer_src = 0;
    if (status_src)
        g_source_remove(status_src);
    status_src = 0;
    g_autofree char *status =
        g_build_filename(config_get_path(server->config, "server", "data_dir"), "s2s.status", NULL);
    g_unlink(status); /* ternctl s2s: not running */
    s2s_in_free_all();
    s2s_out_free_all();
    guint queued = 0;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, links);
    while (g_hash_table_iter_next(&it, NULL, &v))
        queued += g_queue_get_length(&((S2sLink *)v)->queue);
    if (queued)
        g_message("s2s: %u stanzas were still waiting at shutdown", queued);
    g_clear_pointer(&links, g_hash_table_destroy);
    resolver_free(s2s_conf.resolver);
    dialback_fini();
    memset(&s2s_conf, 0, sizeof s2s_conf);
}

guint s2s_close_all(StreamErr err, const char *text)
{
    if (!links)
        return 0;
    s2s_conf.stopping = TRUE;
    return s2s_out_close_all(err, text) + s2s_in_close_all(err, text);
}

guint s2s_count(void)
{
    return links ? s2s_out_count() + s2s_in_count() : 0;
}
