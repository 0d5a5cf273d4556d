/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/program.c — what every transport program shares: its command line and the
 * [component] section of its config file */
#include <stdio.h>
#include <string.h>

#include "transports/sdk/tern-transport.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

int tt_command_line(const char *program, const char *summary, char *(*example)(void), int *argc,
                    char ***argv, char **config_path, gboolean *check_only)
{
    g_autofree char *path = NULL;
    g_autofree char *default_path = g_strdup_printf("%s/%s.conf", SYSCONFDIR, program);
    g_autofree char *config_help = g_strdup_printf("configuration file (default %s)", default_path);
    gboolean version = FALSE, print_example = FALSE;
    *check_only = FALSE;
    GOptionEntry options[] = {
        {"config", 'c', 0, G_OPTION_ARG_FILENAME, &path, config_help, "FILE"},
        {"check-config", 0, 0, G_OPTION_ARG_NONE, check_only, "check the configuration and exit",
         NULL},
        {"print-example-config", 0, 0, G_OPTION_ARG_NONE, &print_example,
         "print the documented example configuration", NULL},
        {"version", 'V', 0, G_OPTION_ARG_NONE, &version, "print the version", NULL},
        {NULL},
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(summary);
    g_option_context_add_main_entries(oc, options, NULL);
    g_autoptr(GError) error = NULL;
    if (!g_option_context_parse(oc, argc, argv, &error)) {
        fprintf(stderr, "%s: %s\n", program, error->message);
        return 2;
    }
    if (version) {
        printf("%s %s\n", program, PACKAGE_VERSION);
        return 0;
    }
    if (print_example) {
        g_autofree char *text = example();
        fputs(text, stdout);
        return 0;
    }
    *config_path = path ? g_steal_pointer(&path) : g_steal_pointer(&default_path);
    return -1;
}

static gboolean component_invalid(const Config *cf, const char *what, GError **error)
{
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [component] %s", config_origin(cf),
                what);
    return FALSE;
}

gboolean tt_component_conf_read(TtComponentConf *out, const Config *cf, GError **error)
{
    memset(out, 0, sizeof *out);
    out->domain = g_ascii_strdown(config_get_string(cf, "component", "domain"), -1);
    out->secret = g_strdup(config_get_string(cf, "component", "secret"));
    out->host = g_strdup(config_get_string(cf, "component", "host"));
    out->name = g_strdup(config_get_string(cf, "component", "name"));
    out->port = config_get_int(cf, "component", "port");
    out->reconnect_min_ms = config_get_int(cf, "component", "reconnect_min_ms");
    out->reconnect_max_ms = config_get_int(cf, "component", "reconnect_max_ms");
    if (strpbrk(out->domain, "@/ ") || !strchr(out->domain, '.'))
        return component_invalid(cf, "domain: not a domain", error);
    if (out->reconnect_max_ms < out->reconnect_min_ms)
        return component_invalid(cf, "reconnect_max_ms is less than reconnect_min_ms", error);
    return TRUE;
}

void tt_component_conf_clear(TtComponentConf *c)
{
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    g_free(c->secret);
    g_free(c->domain);
    g_free(c->host);
    g_free(c->name);
    memset(c, 0, sizeof *c);
}

void tt_config_set_component(TtConfig *tc, const TtComponentConf *c)
{
    tc->domain = c->domain;
    tc->secret = c->secret;
    tc->host = c->host;
    tc->port = c->port;
    tc->name = c->name;
    tc->reconnect_min_ms = c->reconnect_min_ms;
    tc->reconnect_max_ms = c->reconnect_max_ms;
}
