/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/main.c — ternd: options, logging, signals, the main loop */

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "router/iobatch.h"
#include "router/server.h"

static GMainLoop *loop;
static Server *server;
static GLogLevelFlags log_threshold = G_LOG_LEVEL_MESSAGE;

static GLogWriterOutput log_writer(GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                                   gpointer ud)
{
    GLogLevelFlags l = level & G_LOG_LEVEL_MASK;
    if (l > log_threshold && !(l & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)))
        return G_LOG_WRITER_HANDLED;
    if (g_log_writer_is_journald(fileno(stderr)))
        return g_log_writer_journald(level, fields, n_fields, ud);
    return g_log_writer_standard_streams(level, fields, n_fields, ud);
}

static void set_log_level(const char *name)
{
    if (!strcmp(name, "debug"))
        log_threshold = G_LOG_LEVEL_DEBUG;
    else if (!strcmp(name, "info"))
        log_threshold = G_LOG_LEVEL_INFO;
    else if (!strcmp(name, "warning"))
        log_threshold = G_LOG_LEVEL_WARNING;
    else
        log_threshold = G_LOG_LEVEL_MESSAGE;
}

static gboolean on_quit_done(gpointer ud)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static gboolean on_term(gpointer ud)
{
    if (server->shutting_down)
        return G_SOURCE_CONTINUE;
    g_message("signal received: shutting down");
    server_shutdown(server, on_quit_done, NULL);
    return G_SOURCE_CONTINUE;
}

static gboolean on_hup(gpointer ud)
{
    const char *path = ud;
    if (path) {
        g_autoptr(GError) err = NULL;
        g_autoptr(Config) c = config_load(path, &err);
        if (!c)
            g_warning("reload: config not reloaded: %s", err->message);
        else
            set_log_level(config_get_string(c, "server", "log_level"));
    }
    server_reload(server);
    return G_SOURCE_CONTINUE;
}

static const char *default_config(void)
{
    const char *env = g_getenv("TERN_CONFIG");
    if (env && *env)
        return env;
    if (g_file_test("ternd.conf", G_FILE_TEST_EXISTS))
        return "ternd.conf";
    if (g_file_test(SYSCONFDIR "/ternd.conf", G_FILE_TEST_EXISTS))
        return SYSCONFDIR "/ternd.conf";
    return NULL;
}

/* The HTTPS listener's TLS is GnuTLS through glib-networking, which reads its priority
 * string from the environment: the same policy as router/tls.c gives OpenSSL (TLS 1.2 and
 * 1.3, ECDHE with AEAD ciphers, no compression; docs/security.md). An operator's own
 * G_TLS_GNUTLS_PRIORITY wins. */
#define HTTPS_GNUTLS_PRIORITY                                                                      \
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"            \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-COMP-ALL"

int main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    gboolean check = FALSE, version = FALSE, example = FALSE;
    GOptionEntry entries[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "config file", "FILE"},
        {"check-config", 0, 0, G_OPTION_ARG_NONE, &check, "check the config and exit", NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version", NULL},
        {"example-config", 0, 0, G_OPTION_ARG_NONE, &example, "print the documented example config",
         NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    setlocale(LC_ALL, "");
    g_setenv("G_TLS_GNUTLS_PRIORITY", HTTPS_GNUTLS_PRIORITY, FALSE); /* before GIO loads TLS */
    g_autoptr(GOptionContext) octx = g_option_context_new("— the Tern XMPP server");
    g_option_context_add_main_entries(octx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(octx, &argc, &argv, &err)) {
        fprintf(stderr, "ternd: %s\n", err->message);
        return 2;
    }
    if (version) {
        printf("ternd %s\n", PACKAGE_VERSION);
        return 0;
    }
    if (example) {
        g_autofree char *text = config_example();
        fputs(text, stdout);
        return 0;
    }
    if (!config_path && default_config())
        config_path = g_strdup(default_config());
    Config *config = config_load(config_path, &err);
    if (!config) {
        fprintf(stderr, "ternd: %s\n", err->message);
        return 2;
    }
    if (check) {
        g_autoptr(GString) out = g_string_new(NULL);
        char *const *domains = config_get_list(config, "server", "domains");
        gboolean ok =
            tls_check_dir(config_get_path(config, "server", "certificates"), (char **)domains, out);
        gboolean self_signed = config_get_bool(config, "server", "self_signed");
        printf("%s: configuration OK\n%s", config_origin(config), out->str);
        if (!ok && self_signed)
            printf("missing certificates will be generated (self-signed) at start\n");
        config_free(config);
        return ok || self_signed ? 0 : 1;
    }
    set_log_level(config_get_string(config, "server", "log_level"));
    g_log_set_writer_func(log_writer, NULL, NULL);
    iobatch_set_enabled(config_get_bool(config, "server", "io_uring"));
    signal(SIGPIPE, SIG_IGN);

    loop = g_main_loop_new(NULL, FALSE);
    server = server_new(config, &err);
    if (!server) {
        fprintf(stderr, "ternd: %s\n", err->message);
        return err->domain == CONFIG_ERROR ? 2 : 1;
    }
    g_unix_signal_add(SIGTERM, on_term, NULL);
    g_unix_signal_add(SIGINT, on_term, NULL);
    g_unix_signal_add(SIGHUP, on_hup, config_path);
    g_message("ternd %s serving %s", PACKAGE_VERSION, server->domains[0]);
    g_message("create an account with: ternctl%s%s adduser user@%s", config_path ? " -c " : "",
              config_path ? config_path : "", server->domains[0]);
    g_main_loop_run(loop);
    server_free(server);
    g_main_loop_unref(loop);
    g_message("ternd stopped");
    return 0;
}
