/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/config.c — tern-irc.conf (GKeyFile) from one key table */
#include "transports/irc/config.h"

#include <stdlib.h>
#include <string.h>

#define SERVER_PREFIX "server "

const IrcConfKey irc_config_keys[] = {
    {"component", "domain", IRC_CONF_STRING, NULL, 0, 0,
     "the gateway's component domain (a [component DOMAIN] section of ternd.conf)"},
    {"component", "secret", IRC_CONF_STRING, NULL, 0, 0, "the shared secret of that section"},
    {"component", "host", IRC_CONF_STRING, "127.0.0.1", 0, 0, "ternd's component listener"},
    {"component", "port", IRC_CONF_INT, "5347", 1, 65535, "its port ([components] listen)"},
    {"component", "name", IRC_CONF_STRING, "IRC gateway", 0, 0, "name in service discovery"},
    {"component", "reconnect_min_ms", IRC_CONF_INT, "500", 10, 600000,
     "first delay before reconnecting to ternd (doubles, with jitter)"},
    {"component", "reconnect_max_ms", IRC_CONF_INT, "60000", 10, 3600000,
     "longest delay before reconnecting to ternd"},
    {"irc", "data_dir", IRC_CONF_STRING, "/var/lib/tern-irc", 0, 0,
     "registrations (an LMDB environment of its own)"},
    {"irc", "default_server", IRC_CONF_STRING, "", 0, 0,
     "server of JIDs without '%server' (#chan@gateway); empty: none"},
    {"irc", "allow_unlisted", IRC_CONF_BOOL, "false", 0, 0,
     "let users reach servers that have no [server NAME] section (TLS on 6697)"},
    {"irc", "username", IRC_CONF_STRING, "tern", 0, 0, "USER name sent to IRC servers"},
    {"irc", "realname", IRC_CONF_STRING, "XMPP user (Tern IRC gateway)", 0, 0,
     "real name sent to IRC servers"},
    {"irc", "reconnect_min_ms", IRC_CONF_INT, "1000", 10, 600000,
     "first delay before reconnecting to an IRC server (doubles, with jitter)"},
    {"irc", "reconnect_max_ms", IRC_CONF_INT, "60000", 10, 3600000,
     "longest delay before reconnecting to an IRC server"},
    {"irc", "throttle_burst", IRC_CONF_INT, "10", 1, 1000,
     "lines sent to an IRC server at once (flood protection)"},
    {"irc", "throttle_interval_ms", IRC_CONF_INT, "500", 1, 60000,
     "then one line per this many ms"},
    {"server", "host", IRC_CONF_STRING, "", 0, 0, "address to connect to; empty: NAME"},
    {"server", "port", IRC_CONF_INT, "6697", 1, 65535, "port"},
    {"server", "tls", IRC_CONF_BOOL, "true", 0, 0, "TLS (direct, as on 6697)"},
    {"server", "tls_verify", IRC_CONF_BOOL, "true", 0, 0,
     "check the certificate (false: accept any, e.g. a self-signed test server)"},
    {"server", "password", IRC_CONF_STRING, "", 0, 0, "server password (PASS), empty: none"},
    {"server", "sasl", IRC_CONF_BOOL, "false", 0, 0,
     "SASL PLAIN with the username/password users register with the gateway"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

GQuark irc_config_error_quark(void)
{
    return g_quark_from_static_string("tern-irc-config-error-quark");
}

static const IrcConfKey *find_key(const char *section, const char *key)
{
    for (const IrcConfKey *k = irc_config_keys; k->key; k++)
        if (strcmp(k->section, section) == 0 && strcmp(k->key, key) == 0)
            return k;
    return NULL;
}

/* The value of key in group (section kind), default applied, checked. transfer full */
static char *get(GKeyFile *kf, const char *group, const char *kind, const char *key, GError **error)
{
    const IrcConfKey *k = find_key(kind, key);
    g_assert(k); /* a key of the table */
    char *v = g_key_file_has_key(kf, group, key, NULL)
                  ? g_strstrip(g_key_file_get_value(kf, group, key, NULL))
                  : g_strdup(k->def);
    if (!v || (!*v && !k->def)) {
        g_set_error(error, IRC_CONFIG_ERROR, 0, "[%s] %s is required", group, key);
        g_free(v);
        return NULL;
    }
    if (k->type == IRC_CONF_INT) {
        char *end;
        gint64 n = g_ascii_strtoll(v, &end, 10);
        if (*end || !*v || n < k->min || n > k->max) {
            g_set_error(error, IRC_CONFIG_ERROR, 0,
                        "[%s] %s = %s: an integer in %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT
                        " is needed",
                        group, key, v, k->min, k->max);
            g_free(v);
            return NULL;
        }
    } else if (k->type == IRC_CONF_BOOL && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
        g_set_error(error, IRC_CONFIG_ERROR, 0, "[%s] %s = %s: true or false", group, key, v);
        g_free(v);
        return NULL;
    }
    return v;
}

#define GET_STR(dst, group, kind, key)                                                             \
    do {                                                                                           \
        if (!((dst) = get(kf, group, kind, key, error)))                                           \
            goto fail;                                                                             \
    } while (0)
#define GET_INT(dst, group, kind, key)                                                             \
    do {                                                                                           \
        g_autofree char *s_ = get(kf, group, kind, key, error);                                    \
        if (!s_)                                                                                   \
            goto fail;                                                                             \
        (dst) = (__typeof__(dst))g_ascii_strtoll(s_, NULL, 10);                                    \
    } while (0)
#define GET_BOOL(dst, group, kind, key)                                                            \
    do {                                                                                           \
        g_autofree char *s_ = get(kf, group, kind, key, error);                                    \
        if (!s_)                                                                                   \
            goto fail;                                                                             \
        (dst) = strcmp(s_, "true") == 0;                                                           \
    } while (0)

static void server_free(gpointer p)
{
    IrcServerConfig *s = p;
    g_free(s->name);
    g_free(s->host);
    g_free(s->password);
    g_free(s);
}

static gboolean check_keys(GKeyFile *kf, const char *group, const char *kind, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    for (char **k = keys; k && *k; k++) {
        if (!find_key(kind, *k)) {
            g_set_error(error, IRC_CONFIG_ERROR, 0, "[%s] %s: unknown key", group, *k);
            return FALSE;
        }
    }
    return TRUE;
}

static IrcGwConfig *load(GKeyFile *kf, GError **error)
{
    IrcGwConfig *c = g_new0(IrcGwConfig, 1);
    c->servers = g_ptr_array_new_with_free_func(server_free);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (char **g = groups; *g; g++) {
        const char *kind = g_str_has_prefix(*g, SERVER_PREFIX) ? "server" : *g;
        if (strcmp(kind, "component") != 0 && strcmp(kind, "irc") != 0 &&
            strcmp(kind, "server") != 0) {
            g_set_error(error, IRC_CONFIG_ERROR, 0, "[%s]: unknown section", *g);
            goto fail;
        }
        if (!check_keys(kf, *g, kind, error))
            goto fail;
    }
    GET_STR(c->domain, "component", "component", "domain");
    GET_STR(c->secret, "component", "component", "secret");
    GET_STR(c->host, "component", "component", "host");
    GET_STR(c->name, "component", "component", "name");
    GET_INT(c->port, "component", "component", "port");
    GET_INT(c->reconnect_min_ms, "component", "component", "reconnect_min_ms");
    GET_INT(c->reconnect_max_ms, "component", "component", "reconnect_max_ms");
    GET_STR(c->data_dir, "irc", "irc", "data_dir");
    GET_STR(c->default_server, "irc", "irc", "default_server");
    GET_STR(c->username, "irc", "irc", "username");
    GET_STR(c->realname, "irc", "irc", "realname");
    GET_BOOL(c->allow_unlisted, "irc", "irc", "allow_unlisted");
    GET_INT(c->irc_reconnect_min_ms, "irc", "irc", "reconnect_min_ms");
    GET_INT(c->irc_reconnect_max_ms, "irc", "irc", "reconnect_max_ms");
    GET_INT(c->throttle_burst, "irc", "irc", "throttle_burst");
    GET_INT(c->throttle_interval_ms, "irc", "irc", "throttle_interval_ms");
    if (strpbrk(c->domain, "@/ ") || !strchr(c->domain, '.')) {
        g_set_error(error, IRC_CONFIG_ERROR, 0, "[component] domain = %s: not a domain", c->domain);
        goto fail;
    }
    for (char *p = c->domain; *p; p++)
        *p = g_ascii_tolower(*p);
    for (char *p = c->default_server; *p; p++)
        *p = g_ascii_tolower(*p);
    if (!g_str_equal(c->username, "") && strpbrk(c->username, " @\r\n")) {
        g_set_error(error, IRC_CONFIG_ERROR, 0, "[irc] username: no spaces or '@'");
        goto fail;
    }
    for (char **g = groups; *g; g++) {
        if (!g_str_has_prefix(*g, SERVER_PREFIX))
            continue;
        IrcServerConfig *s = g_new0(IrcServerConfig, 1);
        g_ptr_array_add(c->servers, s);
        s->name = g_ascii_strdown(g_strstrip(*g + strlen(SERVER_PREFIX)), -1);
        if (!*s->name || !strchr(s->name, '.') || strpbrk(s->name, "%@/ ")) {
            g_set_error(error, IRC_CONFIG_ERROR, 0, "[%s]: a server name with a dot is needed", *g);
            goto fail;
        }
        GET_STR(s->host, *g, "server", "host");
        GET_INT(s->port, *g, "server", "port");
        GET_BOOL(s->tls, *g, "server", "tls");
        GET_BOOL(s->tls_verify, *g, "server", "tls_verify");
        GET_BOOL(s->sasl, *g, "server", "sasl");
        GET_STR(s->password, *g, "server", "password");
        if (!*s->host) {
            g_free(s->host);
            s->host = g_strdup(s->name);
        }
    }
    return c;
fail:
    irc_config_free(c);
    return NULL;
}

IrcGwConfig *irc_config_load_data(const char *data, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_data(kf, data, -1, G_KEY_FILE_NONE, error))
        return NULL;
    return load(kf, error);
}

IrcGwConfig *irc_config_load(const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error))
        return NULL;
    return load(kf, error);
}

void irc_config_free(IrcGwConfig *c)
{
    if (!c)
        return;
    g_free(c->domain);
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    g_free(c->secret);
    g_free(c->host);
    g_free(c->name);
    g_free(c->data_dir);
    g_free(c->default_server);
    g_free(c->username);
    g_free(c->realname);
    g_ptr_array_free(c->servers, TRUE);
    g_free(c);
}

const IrcServerConfig *irc_config_server(IrcGwConfig *c, const char *name)
{
    for (guint i = 0; i < c->servers->len; i++) {
        IrcServerConfig *s = c->servers->pdata[i];
        if (g_ascii_strcasecmp(s->name, name) == 0)
            return s;
    }
    if (!c->allow_unlisted)
        return NULL;
    IrcServerConfig *s = g_new0(IrcServerConfig, 1); /* kept: later lookups find it */
    s->name = g_ascii_strdown(name, -1);
    s->host = g_strdup(s->name);
    s->port = 6697;
    s->tls = s->tls_verify = TRUE;
    s->password = g_strdup("");
    g_ptr_array_add(c->servers, s);
    return s;
}

char *irc_config_example(void)
{
    GString *out = g_string_new("# tern-irc.conf — the Tern IRC gateway (docs/irc-gateway.md)\n"
                                "# Generated from transports/irc/config.c; every key is shown "
                                "with its default.\n");
    const char *section = NULL;
    for (const IrcConfKey *k = irc_config_keys; k->key; k++) {
        if (!section || strcmp(section, k->section) != 0) {
            section = k->section;
            if (strcmp(section, "server") == 0)
                g_string_append(out, "\n# One section per IRC server; JIDs name it "
                                     "#channel%irc.example.net@gateway\n"
                                     "[server irc.example.net]\n");
            else
                g_string_append_printf(out, "\n[%s]\n", section);
        }
        g_string_append_printf(out, "# %s%s\n", k->doc, k->def ? "" : " (required)");
        if (!k->def)
            g_string_append_printf(out, "%s = %s\n", k->key,
                                   strcmp(k->key, "domain") == 0 ? "irc.example.org" : "change-me");
        else if (*k->def)
            g_string_append_printf(out, "%s = %s\n", k->key, k->def);
        else
            g_string_append_printf(out, "%s =\n", k->key);
    }
    return g_string_free(out, FALSE);
}
