/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl_http.c — ternctl token-add / token-revoke / token-list (HTTP API tokens) */
#include <string.h>
#include <openssl/crypto.h>

#include "http/tokens.h"
#include "tools/ternctl.h"

/* token-add NAME --scope push|admin: prints the token once, on stdout alone. */
static int cmd_token_add(Ctl *ctl, int argc, char **argv)
{
    const char *name = NULL, *scope_text = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--scope") && i + 1 < argc)
            scope_text = argv[++i];
        else if (g_str_has_prefix(argv[i], "--scope="))
            scope_text = argv[i] + strlen("--scope=");
        else if (!name && argv[i][0] != '-')
            name = argv[i];
        else
            return ctl_fail(EXIT_USAGE, "usage: ternctl token-add NAME --scope push|admin");
    }
    TokenScope scope;
    if (!name || !scope_text)
        return ctl_fail(EXIT_USAGE, "usage: ternctl token-add NAME --scope push|admin");
    if (!token_scope_parse(scope_text, &scope))
        return ctl_fail(EXIT_USAGE, "unknown scope '%s' (push or admin)", scope_text);
    if (!token_name_valid(name))
        return ctl_fail(EXIT_USAGE, "'%s': a token name is 1 to %d of A-Z a-z 0-9 . _ -", name,
                        TOKEN_NAME_MAX);
    Store *s = ctl_store(ctl);
    if (!s)
        return EXIT_FAIL;
    g_autoptr(GError) err = NULL;
    char *token = token_create(s, name, scope, &err);
    store_close(s);
    if (!token)
        return ctl_fail(EXIT_FAIL, "%s", err->message);
    g_print("%s\n", token);
    g_printerr("ternctl: token %s (%s) created; it is shown only now\n", name,
               token_scope_name(scope));
    OPENSSL_cleanse(token, strlen(token));
    g_free(token);
    return EXIT_OK;
}

static int cmd_token_revoke(Ctl *ctl, int argc, char **argv)
{
    if (argc != 3)
        return ctl_fail(EXIT_USAGE, "usage: ternctl token-revoke NAME");
    Store *s = ctl_store(ctl);
    if (!s)
        return EXIT_FAIL;
    g_autoptr(GError) err = NULL;
    gboolean ok = token_revoke(s, argv[2], &err);
    store_close(s);
    if (!ok)
        return ctl_fail(EXIT_FAIL, "%s", err->message);
    g_print("%s: token revoked\n", argv[2]);
    return EXIT_OK;
}

/* NAME, SCOPE, CREATED (UTC), tab-separated, one token a line. */
static int cmd_token_list(Ctl *ctl, int argc, char **argv)
{
    if (argc != 2)
        return ctl_fail(EXIT_USAGE, "usage: ternctl token-list");
    Store *s = ctl_store(ctl);
    if (!s)
        return EXIT_FAIL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) list = token_list(s, &err);
    store_close(s);
    if (!list)
        return ctl_fail(EXIT_FAIL, "%s", err->message);
    for (guint i = 0; i < list->len; i++) {
        TokenInfo *t = g_ptr_array_index(list, i);
        g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(t->created);
        g_autofree char *iso = when ? g_date_time_format(when, "%Y-%m-%dT%H:%M:%SZ") : NULL;
        g_print("%s\t%s\t%s\n", t->name, token_scope_name(t->scope), iso ? iso : "?");
    }
    return EXIT_OK;
}

static const CtlCommand http_commands[] = {
    {"token-add", cmd_token_add},
    {"token-revoke", cmd_token_revoke},
    {"token-list", cmd_token_list},
};

const CtlCommand *ctl_http_command(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(http_commands); i++)
        if (!strcmp(http_commands[i].name, name))
            return &http_commands[i];
    return NULL;
}
