/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/main.c — tern-irc: the IRC gateway, a XEP-0114 component of ternd built on
 * the transport SDK (docs/irc-gateway.md) */
#include <glib-unix.h>
#include <stdio.h>

#include "transports/irc/bridge.h"
#include "transports/irc/config.h"
#include "transports/irc/ircconn.h"

#define STOP_GRACE_MS 3000

/* XEP-0077 fields, stored per user: the default nick, and the SASL PLAIN account of the
 * servers whose section says sasl = true */
static const TtField irc_fields[] = {
    {"nick", "Default IRC nick", TT_FIELD_TEXT, FALSE},
    {"username", "IRC account (SASL), if the server wants one", TT_FIELD_TEXT, FALSE},
    {"password", "IRC account password (SASL)", TT_FIELD_PRIVATE, FALSE},
    {NULL, NULL, 0, FALSE},
};

static const char *const irc_features[] = {"http://jabber.org/protocol/muc", NULL};

typedef struct {
    GMainLoop *loop;
    TtTransport *t;
    Bridge *bridge;
    gboolean stopping;
} App;

static void on_disconnected(TtTransport *t, const GError *error, gpointer data)
{
    App *app = data;
    if (!error && app->stopping)
        g_main_loop_quit(app->loop);
}

static gboolean quit_anyway(gpointer data)
{
    g_main_loop_quit(((App *)data)->loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_signal(gpointer data)
{
    App *app = data;
    if (app->stopping)
        return G_SOURCE_CONTINUE;
    app->stopping = TRUE;
    g_message("tern-irc: stopping");
    bridge_shutdown(app->bridge, "Gateway shutting down"); /* QUITs, rooms told */
    tt_transport_stop(app->t);
    g_timeout_add(STOP_GRACE_MS, quit_anyway, app);
    return G_SOURCE_CONTINUE;
}

/* TtHandlers -> the Bridge (the SDK gives every callback the same user data: the App) */
static gboolean on_message(TtTransport *t, xmpp_stanza_t *st, gpointer d)
{
    return bridge_on_message(t, st, ((App *)d)->bridge);
}

static gboolean on_presence(TtTransport *t, xmpp_stanza_t *st, gpointer d)
{
    return bridge_on_presence(t, st, ((App *)d)->bridge);
}

static gboolean on_iq(TtTransport *t, xmpp_stanza_t *st, gpointer d)
{
    return bridge_on_iq(t, st, ((App *)d)->bridge);
}

static gboolean on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer d)
{
    return bridge_on_registering(t, user, values, error, ((App *)d)->bridge);
}

static void on_unregistered(TtTransport *t, const char *user, gpointer d)
{
    bridge_on_unregistered(t, user, ((App *)d)->bridge);
}

static char *on_legacy_to_jid(TtTransport *t, const char *legacy, gpointer d)
{
    return bridge_legacy_to_jid(t, legacy, ((App *)d)->bridge);
}

int main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean check_only;
    int status = tt_command_line("tern-irc", "— Tern IRC gateway (XEP-0114 component)",
                                 irc_config_example, &argc, &argv, &config_path, &check_only);
    if (status >= 0)
        return status;
    g_autoptr(GError) error = NULL;
    g_autoptr(IrcGwConfig) cfg = irc_config_load(config_path, &error);
    if (!cfg) {
        fprintf(stderr, "tern-irc: %s\n", error->message); /* names the file */
        return 1;
    }
    if (check_only) {
        printf("tern-irc: %s: OK (component %s, %u IRC server section%s)\n", config_path,
               cfg->component.domain, cfg->servers->len, cfg->servers->len == 1 ? "" : "s");
        return 0;
    }

    App app = {0};
    app.loop = g_main_loop_new(NULL, FALSE);
    TtConfig tc = {
        .data_dir = cfg->data_dir,
        .gateway_type = "irc",
        .instructions = "Register to use IRC through this gateway. Then join "
                        "#channel%irc.server@this-gateway with your nick.",
        .fields = irc_fields,
        .prompt_desc = "Enter an IRC nick or #channel, with %server unless it is the default",
        .prompt = "IRC nick or channel",
        .features = irc_features,
    };
    tt_config_set_component(&tc, &cfg->component);
    TtHandlers h = {
        .disconnected = on_disconnected,
        .message = on_message,
        .presence = on_presence,
        .iq = on_iq,
        .registering = on_registering,
        .unregistered = on_unregistered,
        .legacy_to_jid = on_legacy_to_jid,
    };
    app.t = tt_transport_new(&tc, &h, &app, &error);
    if (!app.t) {
        fprintf(stderr, "tern-irc: %s\n", error->message);
        g_main_loop_unref(app.loop);
        return 1;
    }
    app.bridge = bridge_new(app.t, cfg); /* before tt_transport_start(): nothing arrives yet */
    g_unix_signal_add(SIGTERM, on_signal, &app);
    g_unix_signal_add(SIGINT, on_signal, &app);
    tt_transport_start(app.t);
    g_message("tern-irc %s: component %s via %s:%u", PACKAGE_VERSION, cfg->component.domain,
              cfg->component.host, cfg->component.port);
    g_main_loop_run(app.loop);
    bridge_free(app.bridge);
    /* let the last QUITs out (each IrcConn closes within 2 s) */
    gint64 until = g_get_monotonic_time() + (STOP_GRACE_MS + 500) * (gint64)1000;
    while (irc_conn_live() > 0 && g_get_monotonic_time() < until)
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(10000);
    tt_transport_free(app.t);
    g_main_loop_unref(app.loop);
    return 0;
}
