/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/example/echo.c — the example gateway of docs/component-guide.md: a message to
 * anything@<domain> comes back with the prefix the user registered */
#include "transports/sdk/tern-transport.h"

#include <glib-unix.h>
#include <string.h>

static const TtField echo_fields[] = {
    {"prefix", "Prefix of the echoed messages", TT_FIELD_TEXT, TRUE},
    {NULL, NULL, 0, FALSE},
};

static gboolean on_message(TtTransport *t, xmpp_stanza_t *msg, gpointer user_data)
{
    const char *type = xmpp_stanza_get_type(msg);
    if (type && strcmp(type, "error") == 0)
        return TRUE; /* never answer an error */
    g_autofree char *body = tt_stanza_child_text(msg, "body");
    if (!body)
        return TRUE; /* chat states, receipts: nothing to echo */
    const char *from = xmpp_stanza_get_from(msg);
    g_autofree char *user = tt_jid_bare(from);
    if (!tt_is_registered(t, user)) {
        tt_send_error(t, msg, "auth", "registration-required", "register with the gateway first");
        return TRUE;
    }
    g_autofree char *prefix = tt_registration_get(t, user, "prefix");
    g_autofree char *text = g_strconcat(prefix ? prefix : "", body, NULL);
    tt_send(t, tt_message_new(t, type, xmpp_stanza_get_to(msg), from, text));
    return TRUE;
}

static void on_connected(TtTransport *t, gpointer user_data)
{
    g_message("echo: serving %s", tt_transport_domain(t));
}

static void on_disconnected(TtTransport *t, const GError *error, gpointer loop)
{
    if (!error) /* after tt_transport_stop(): we are done */
        g_main_loop_quit(loop);
}

static gboolean on_signal(gpointer t)
{
    tt_transport_stop(t);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv)
{
    g_autofree char *domain = NULL, *secret_file = NULL, *host = NULL, *data_dir = NULL;
    int port = 5347;
    GOptionEntry options[] = {
        {"domain", 'd', 0, G_OPTION_ARG_STRING, &domain, "component domain", "DOMAIN"},
        {"secret-file", 's', 0, G_OPTION_ARG_FILENAME, &secret_file, "file with the secret",
         "FILE"},
        {"host", 'H', 0, G_OPTION_ARG_STRING, &host, "ternd component host", "HOST"},
        {"port", 'p', 0, G_OPTION_ARG_INT, &port, "ternd component port", "PORT"},
        {"data-dir", 'D', 0, G_OPTION_ARG_FILENAME, &data_dir, "registrations", "DIR"},
        {NULL},
    };
    g_autoptr(GOptionContext) oc = g_option_context_new("— Tern example echo gateway");
    g_option_context_add_main_entries(oc, options, NULL);
    g_autoptr(GError) error = NULL;
    g_autofree char *secret = NULL;
    if (!g_option_context_parse(oc, &argc, &argv, &error) || !domain || !secret_file || !data_dir ||
        port < 1 || port > 65535 || !g_file_get_contents(secret_file, &secret, NULL, &error)) {
        g_printerr("tern-echo: %s\n",
                   error ? error->message : "--domain, --secret-file and --data-dir are needed");
        return 2;
    }
    TtConfig config = {
        .domain = domain,
        .secret = g_strstrip(secret),
        .host = host,
        .port = (guint16)port,
        .data_dir = data_dir,
        .name = "Echo gateway",
        .gateway_type = "echo",
        .instructions = "Choose the prefix of the echoed messages.",
        .fields = echo_fields,
    };
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    TtHandlers handlers = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .message = on_message,
    };
    g_autoptr(TtTransport) t = tt_transport_new(&config, &handlers, loop, &error);
    if (!t) {
        g_printerr("tern-echo: %s\n", error->message);
        return 1;
    }
    g_unix_signal_add(SIGTERM, on_signal, t);
    g_unix_signal_add(SIGINT, on_signal, t);
    tt_transport_start(t);
    g_main_loop_run(loop);
    return 0;
}
