/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/main.c — tern-sms: the SMS gateway, a XEP-0114 component of ternd built on
 * the transport SDK, an ESME of an SMSC over SMPP 3.4 (docs/sms-gateway.md) */
#include <glib-unix.h>
#include <stdio.h>

#include "transports/sms/bridge.h"
#include "transports/sms/config.h"

#define STOP_GRACE_MS 3000

/* XEP-0077: the number the user sends from (checked against [allow]) */
static const TtField sms_fields[] = {
    {"phone", "Your phone number, in E.164 form (+15551234567)", TT_FIELD_TEXT, TRUE},
    {NULL, NULL, 0, FALSE},
};

static const char *const sms_features[] = {"urn:xmpp:receipts", NULL};

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
    g_message("tern-sms: stopping (%u SMS stay in the outbox)", bridge_outbox_length(app->bridge));
    bridge_stop(app->bridge); /* unbind */
    tt_transport_stop(app->t);
    g_timeout_add(STOP_GRACE_MS, quit_anyway, app);
    return G_SOURCE_CONTINUE;
}

/* TtHandlers -> the Bridge */
static void on_connected(TtTransport *t, gpointer d)
{
    bridge_on_connected(t, ((App *)d)->bridge);
}

static gboolean on_message(TtTransport *t, xmpp_stanza_t *st, gpointer d)
{
    return bridge_on_message(t, st, ((App *)d)->bridge);
}

static gboolean on_presence(TtTransport *t, xmpp_stanza_t *st, gpointer d)
{
    return bridge_on_presence(t, st, ((App *)d)->bridge);
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
    int status =
        tt_command_line("tern-sms", "— Tern SMS gateway (XEP-0114 component, SMPP 3.4 ESME)",
                        sms_config_example, &argc, &argv, &config_path, &check_only);
    if (status >= 0)
        return status;
    g_autoptr(GError) error = NULL;
    g_autoptr(SmsGwConfig) cfg = sms_config_load(config_path, &error);
    if (!cfg) {
        fprintf(stderr, "tern-sms: %s\n", error->message); /* names the file */
        return 1;
    }
    if (check_only) {
        printf("tern-sms: %s: OK (component %s, SMSC %s:%u as %s, %u user%s in [allow])\n",
               config_path, cfg->component.domain, cfg->smsc_host, cfg->smsc_port, cfg->system_id,
               g_hash_table_size(cfg->allow), g_hash_table_size(cfg->allow) == 1 ? "" : "s");
        return 0;
    }

    App app = {0};
    app.loop = g_main_loop_new(NULL, FALSE);
    TtConfig tc = {
        .data_dir = cfg->data_dir,
        .gateway_type = "sms",
        .instructions = "Register the phone number you send from (E.164, e.g. +15551234567; "
                        "the administrator allows it). Then write to +<number>@this-gateway.",
        .fields = sms_fields,
        .prompt_desc = "Enter a phone number with its country code",
        .prompt = "Phone number",
        .features = sms_features,
    };
    tt_config_set_component(&tc, &cfg->component);
    TtHandlers h = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .message = on_message,
        .presence = on_presence,
        .registering = on_registering,
        .unregistered = on_unregistered,
        .legacy_to_jid = on_legacy_to_jid,
    };
    app.t = tt_transport_new(&tc, &h, &app, &error);
    if (!app.t) {
        fprintf(stderr, "tern-sms: %s\n", error->message);
        g_main_loop_unref(app.loop);
        return 1;
    }
    app.bridge = bridge_new(app.t, cfg); /* before tt_transport_start(): nothing arrives yet */
    g_unix_signal_add(SIGTERM, on_signal, &app);
    g_unix_signal_add(SIGINT, on_signal, &app);
    bridge_start(app.bridge);
    tt_transport_start(app.t);
    g_message("tern-sms %s: component %s via %s:%u, SMSC %s:%u", PACKAGE_VERSION, cfg->component.domain,
              cfg->component.host, cfg->component.port, cfg->smsc_host, cfg->smsc_port);
    g_main_loop_run(app.loop);
    bridge_free(app.bridge);
    tt_transport_free(app.t);
    g_main_loop_unref(app.loop);
    return 0;
}
