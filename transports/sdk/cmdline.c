/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/cmdline.c — the command line every transport program shares */
#include <stdio.h>

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
