/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/metrics.c — GET /metrics in the Prometheus text format (names in docs/http-api.md) */
#include "http/http.h"

#include <glib/gstdio.h>
#include <string.h>

#include "c2s/c2s.h"
#include "c2s/sm.h"
#include "router/component.h"
#include "router/hooks.h"
#include "router/router.h"
#include "s2s/s2s.h"
#include "storage/offline.h"

#define OFFLINE_GAUGE_TTL                                                                          \
    (10 * G_USEC_PER_SEC) /* the queue total is counted at most this often                         \
                           */

static Server *server;
static guint64 offline_stored;   /* messages committed to offline storage */
static guint64 http_requests[6]; /* by status class: [1] 1xx ... [5] 5xx */
static guint64 http_auth_failures;
static guint64 offline_gauge;
static gint64 offline_gauge_at;

void http_metrics_count_request(guint status)
{
    if (status >= 100 && status < 600)
        http_requests[status / 100]++;
}

void http_metrics_count_auth_failure(void)
{
    http_auth_failures++;
}

static HookResult on_offline_stored(const char *event, gpointer data, gpointer ud)
{
    offline_stored++;
    return HOOK_PASS;
}

void http_metrics_init(Server *srv)
{
    server = srv;
    hook_add("message/offline-stored", 0, on_offline_stored, NULL);
}

void http_metrics_fini(void)
{
    hook_remove("message/offline-stored", on_offline_stored, NULL);
    server = NULL;
}

static gboolean count_owner(const char *owner, gpointer ud)
{
    *(guint64 *)ud += offline_count(server->store, owner, NULL);
    return TRUE;
}

/* Messages waiting in offline storage, all users (a scan; cached OFFLINE_GAUGE_TTL). */
static guint64 offline_queued(void)
{
    gint64 now = g_get_monotonic_time();
    if (offline_gauge_at && now - offline_gauge_at < OFFLINE_GAUGE_TTL)
        return offline_gauge;
    guint64 n = 0;
    g_autoptr(GError) err = NULL;
    if (!store_map_foreach_owner(server->store, "offline", count_owner, &n, &err))
        g_warning("metrics: cannot count offline messages: %s", err->message);
    offline_gauge = n;
    offline_gauge_at = now;
    return n;
}

static guint64 storage_bytes(void)
{
    g_autofree char *path =
        g_build_filename(config_get_path(server->config, "server", "data_dir"), "data.mdb", NULL);
    GStatBuf st;
    return g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

static void metric(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(GString *out, const char *name, const char *labels, guint64 v)
{
    g_string_append_printf(out, "%s%s %" G_GUINT64_FORMAT "\n", name, labels ? labels : "", v);
}

void http_metrics(HttpRequest *req)
{
    GString *out = g_string_new(NULL);
    const RouterStats *rs = router_stats();

    metric(out, "tern_connections", "gauge", "Open connections by kind.");
    value(out, "tern_connections", "{kind=\"c2s\"}", c2s_count());
    value(out, "tern_connections", "{kind=\"s2s\"}", s2s_count());
    value(out, "tern_connections", "{kind=\"component\"}", component_count());
    metric(out, "tern_sessions", "gauge", "Bound client resources.");
    value(out, "tern_sessions", NULL, sm_session_count());
    metric(out, "tern_users_online", "gauge", "Accounts with at least one bound resource.");
    value(out, "tern_users_online", NULL, sm_user_count());
    metric(out, "tern_stanzas_routed_total", "counter", "Stanzas routed (router_deliver).");
    value(out, "tern_stanzas_routed_total", NULL, rs->routed);
    metric(out, "tern_stanzas_bounced_total", "counter", "Stanzas answered with an error.");
    value(out, "tern_stanzas_bounced_total", NULL, rs->bounced);
    metric(out, "tern_stanza_errors_total", "counter",
           "Stanzas answered with an error, by RFC 6120 condition.");
    for (int e = 0; e < STANZA_ERR__COUNT; e++) {
        g_autofree char *labels = g_strdup_printf("{condition=\"%s\"}", stanza_err_condition(e));
        value(out, "tern_stanza_errors_total", labels, router_bounced_by(e));
    }
    metric(out, "tern_offline_stored_total", "counter",
           "Messages committed to offline storage since the start.");
    value(out, "tern_offline_stored_total", NULL, offline_stored);
    metric(out, "tern_offline_messages", "gauge", "Messages waiting in offline storage.");
    value(out, "tern_offline_messages", NULL, offline_queued());
    metric(out, "tern_storage_bytes", "gauge", "Size of the LMDB data file (data.mdb).");
    value(out, "tern_storage_bytes", NULL, storage_bytes());
    metric(out, "tern_auth_failures_total", "counter", "Failed client SASL authentications.");
    value(out, "tern_auth_failures_total", NULL, c2s_auth_failure_count());
    metric(out, "tern_http_requests_total", "counter", "HTTP responses by status class.");
    for (guint c = 1; c <= 5; c++) {
        g_autofree char *labels = g_strdup_printf("{code=\"%uxx\"}", c);
        value(out, "tern_http_requests_total", labels, http_requests[c]);
    }
    metric(out, "tern_http_auth_failures_total", "counter", "HTTP requests with an unknown token.");
    value(out, "tern_http_auth_failures_total", NULL, http_auth_failures);
    metric(out, "tern_uptime_seconds", "gauge", "Seconds since ternd started.");
    value(out, "tern_uptime_seconds", NULL, (guint64)http_uptime());

    http_reply_text(req, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", out->str,
                    out->len);
    g_string_free(out, TRUE);
}
