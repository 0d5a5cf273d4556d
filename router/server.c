/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/server.c — bring a ternd up and down: storage, TLS, routes, listeners, modules */
#include "router/server.h"

#include "c2s/c2s.h"
#include "c2s/modules.h"
#include "c2s/sm.h"
#include "http/http.h"
#include "router/component.h"
#include "router/conn.h"
#include "router/hooks.h"
#include "router/jid.h"
#include "router/router.h"
#include "s2s/s2s.h"

static void read_limits(Server *srv)
{
    Config *c = srv->config;
    srv->c2s_stanza_size = config_get_int(c, "limits", "c2s_stanza_size");
    srv->preauth_stanza_size = config_get_int(c, "limits", "preauth_stanza_size");
    srv->outbuf_size = config_get_int(c, "limits", "outbuf_size");
    srv->max_depth = config_get_int(c, "limits", "max_depth");
    srv->max_attrs = config_get_int(c, "limits", "max_attrs");
    srv->preauth_timeout = config_get_int(c, "limits", "preauth_timeout");
    srv->idle_ping = config_get_int(c, "limits", "idle_ping");
    srv->ping_timeout = config_get_int(c, "limits", "ping_timeout");
}

gboolean server_is_hosted(const Server *srv, const char *domain)
{
    return g_strv_contains((const char *const *)srv->domains, domain);
}

static gboolean prepare_domains(Server *srv, GError **error)
{
    char *const *raw = config_get_list(srv->config, "server", "domains");
    GPtrArray *out = g_ptr_array_new();
    for (guint i = 0; raw[i]; i++) {
        g_autoptr(GError) e = NULL;
        char *d = jid_prep_domain(raw[i], &e);
        if (!d) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [server] domains: '%s' is not a valid domain: %s",
                        config_origin(srv->config), raw[i], e->message);
            g_ptr_array_add(out, NULL);
            g_strfreev((char **)g_ptr_array_free(out, FALSE));
            return FALSE;
        }
        g_ptr_array_add(out, d);
    }
    g_ptr_array_add(out, NULL);
    srv->domains = (char **)g_ptr_array_free(out, FALSE);
    return TRUE;
}

Server *server_new(Config *config, GError **error)
{
    Server *srv = g_new0(Server, 1);
    srv->config = config;
    srv->listeners = g_ptr_array_new_with_free_func((GDestroyNotify)listener_free);
    read_limits(srv);
    if (!prepare_domains(srv, error))
        goto fail;
    srv->store = store_open(config_get_path(config, "server", "data_dir"),
                            config_get_int(config, "storage", "map_size"), error);
    if (!srv->store)
        goto fail;
    srv->tls = tls_store_new(config_get_path(config, "server", "certificates"), srv->domains,
                             config_get_bool(config, "server", "self_signed"), error);
    if (!srv->tls)
        goto fail;
    router_init();
    sm_init(srv);
    for (guint i = 0; srv->domains[i]; i++)
        router_register(srv->domains[i], ROUTE_LOCAL, sm_deliver, srv);
    for (guint i = 0; c2s_modules[i]; i++) {
        if (!c2s_modules[i]->init(srv, error)) {
            g_prefix_error(error, "module %s: ", c2s_modules[i]->name);
            goto fail;
        }
        hook_add_all(c2s_modules[i]->hooks);
    }
    if (!c2s_init(srv, error))
        goto fail;
    if (!component_init(srv, error))
        goto fail;
    if (!s2s_init(srv, error))
        goto fail;
    if (!http_init(srv, error))
        goto fail;
    return srv;
fail:
    server_free(srv);
    return NULL;
}

typedef struct {
    Server *srv;
    GSourceFunc done;
    gpointer ud;
    guint waited;
} ShutdownWait;

static gboolean shutdown_poll(gpointer data)
{
    ShutdownWait *w = data;
    /* up to 5 s for peers to read the close */
    if (c2s_count() + s2s_count() + component_count() > 0 && w->waited++ < 50)
        return G_SOURCE_CONTINUE;
    w->done(w->ud);
    return G_SOURCE_REMOVE;
}

void server_shutdown(Server *srv, GSourceFunc done, gpointer ud)
{
    srv->shutting_down = TRUE;
    g_ptr_array_set_size(srv->listeners, 0);
    guint n = c2s_close_all(STREAM_ERR_SYSTEM_SHUTDOWN, "the server is shutting down");
    guint ns = s2s_close_all(STREAM_ERR_SYSTEM_SHUTDOWN, "the server is shutting down");
    guint nc = component_close_all(STREAM_ERR_SYSTEM_SHUTDOWN, "the server is shutting down");
    g_message("shutting down: closing %u client, %u server and %u component streams", n, ns, nc);
    ShutdownWait *w = g_new0(ShutdownWait, 1);
    w->srv = srv;
    w->done = done;
    w->ud = ud;
    g_timeout_add_full(G_PRIORITY_DEFAULT, 100, shutdown_poll, w, g_free);
}

void server_reload(Server *srv)
{
    g_autoptr(GError) err = NULL;
    if (!tls_store_reload(srv->tls, &err))
        g_warning("reload: certificates kept as they were: %s", err->message);
    else
        g_message("reload: certificates reloaded");
    http_reload();
}

void server_free(Server *srv)
{
    if (!srv)
        return;
    http_fini();
    s2s_fini();
    c2s_fini();
    component_fini();
    for (guint i = 0; c2s_modules[i]; i++) {
        if (c2s_modules[i]->fini)
            c2s_modules[i]->fini();
        hook_remove_all(c2s_modules[i]->hooks);
    }
    g_ptr_array_unref(srv->listeners);
    sm_fini();
    router_fini();
    hooks_fini();
    if (srv->store) {
        g_autoptr(GError) err = NULL;
        if (!store_sync(srv->store, &err))
            g_warning("storage sync at shutdown failed: %s", err->message);
        store_close(srv->store);
    }
    tls_store_free(srv->tls);
    g_strfreev(srv->domains);
    config_free(srv->config);
    g_free(srv);
}

void server_stream_limits(Server *srv, Stream *s, const XmlLimits *lim, const char *kind)
{
    g_autofree char *rate = g_strdup_printf("%s_read_rate", kind);
    g_autofree char *burst = g_strdup_printf("%s_read_burst", kind);

    stream_set_limits(s, lim);
    stream_set_max_outbuf(s, srv->outbuf_size);
    conn_set_read_rate(stream_conn(s), config_get_int(srv->config, "limits", rate),
                       config_get_int(srv->config, "limits", burst));
}
