/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/config.c — tern-irc.conf (GKeyFile) from one key table */
#include "transports/irc/config.h"

#include <stdlib.h>
#include <string.h>

static const ConfKey fixed_keys[] = {
    TT_COMPONENT_CONF_KEYS("IRC gateway"),
    {"irc", "data_dir", CONF_STRING, "/var/lib/tern-irc", 0, 0,
     "registrations (an LMDB environment of its own)"},
    {"irc", "default_server", CONF_STRING, "", 0, 0,
     "server of JIDs without '%server' (#chan@gateway); empty: none"},
    {"irc", "allow_unlisted", CONF_BOOL, "false", 0, 0,
     "let users reach servers that have no [server NAME] section (TLS on 6697)"},
    {"irc", "username", CONF_STRING, "tern", 0, 0, "USER name sent to IRC servers"},
    {"irc", "realname", CONF_STRING, "XMPP user (Tern IRC gateway)", 0, 0,
     "real name sent to IRC servers"},
    {"irc", "reconnect_min_ms", CONF_INT, "1000", 10, 600000,
     "first delay before reconnecting to an IRC server (doubles, with jitter)"},
    {"irc", "reconnect_max_ms", CONF_INT, "60000", 10, 3600000,
     "longest delay before reconnecting to an IRC server"},
    {"irc", "throttle_burst", CONF_INT, "10", 1, 1000,
     "lines sent to an IRC server at once (flood protection)"},
    {"irc", "throttle_interval_ms", CONF_INT, "500", 1, 60000,
     "then one line per this many ms"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

/* [server NAME] */
static const ConfKey server_keys[] = {
    {"server", "host", CONF_STRING, "", 0, 0, "address to connect to; empty: NAME"},
    {"server", "port", CONF_INT, "6697", 1, 65535, "port"},
    {"server", "tls", CONF_BOOL, "true", 0, 0, "TLS (direct, as on 6697)"},
    {"server", "tls_verify", CONF_BOOL, "true", 0, 0,
     "check the certificate (false: accept any, e.g. a self-signed test server)"},
    {"server", "password", CONF_STRING, "", 0, 0, "server password (PASS), empty: none"},
    {"server", "sasl", CONF_BOOL, "false", 0, 0,
     "SASL PLAIN with the username/password users register with the gateway"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

const ConfSchema irc_config_schema = {
    .header = "# tern-irc.conf — the Tern IRC gateway (docs/irc-gateway.md)\n"
              "# Generated from transports/irc/config.c; every key is shown with its default.\n",
    .keys = fixed_keys,
    .repeat = "server",
    .repeat_keys = server_keys,
    .repeat_doc = "# One section per IRC server; JIDs name it #channel%irc.example.net@gateway",
    .repeat_name = "irc.example.net",
    .placeholders = (const char *const[]){"domain", "irc.example.org", NULL},
};

static void server_free(gpointer p)
{
    IrcServerConfig *s = p;
    g_free(s->name);
    g_free(s->host);
    g_free(s->password);
    g_free(s);
}

static gboolean invalid(GError **error, const Config *cf, const char *what)
{
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: %s", config_origin(cf), what);
    return FALSE;
}

#define STR(cf, section, key) g_strdup(config_get_string(cf, section, key))
#define INT(cf, section, key) config_get_int(cf, section, key)
#define BOOL(cf, section, key) config_get_bool(cf, section, key)

static IrcGwConfig *load(Config *cf, GError **error)
{
    if (!cf)
        return NULL;
    g_autoptr(IrcGwConfig) c = g_new0(IrcGwConfig, 1);
    c->servers = g_ptr_array_new_with_free_func(server_free);
    if (!tt_component_conf_read(&c->component, cf, error))
        return NULL;
    c->data_dir = STR(cf, "irc", "data_dir");
    c->default_server = g_ascii_strdown(config_get_string(cf, "irc", "default_server"), -1);
    c->username = STR(cf, "irc", "username");
    c->realname = STR(cf, "irc", "realname");
    c->allow_unlisted = BOOL(cf, "irc", "allow_unlisted");
    c->irc_reconnect_min_ms = INT(cf, "irc", "reconnect_min_ms");
    c->irc_reconnect_max_ms = INT(cf, "irc", "reconnect_max_ms");
    c->throttle_burst = INT(cf, "irc", "throttle_burst");
    c->throttle_interval_ms = INT(cf, "irc", "throttle_interval_ms");
    if (!g_str_equal(c->username, "") && strpbrk(c->username, " @\r\n"))
        return invalid(error, cf, "[irc] username: no spaces or '@'"), NULL;
    for (char *const *n = config_repeat_names(cf); *n; n++) {
        g_autofree char *group = g_strconcat("server ", *n, NULL);
        IrcServerConfig *s = g_new0(IrcServerConfig, 1);
        g_ptr_array_add(c->servers, s);
        s->name = g_ascii_strdown(*n, -1);
        if (!strchr(s->name, '.') || strpbrk(s->name, "%@/ ")) {
            g_autofree char *what = g_strdup_printf("[%s]: a server name with a dot is needed", group);
            return invalid(error, cf, what), NULL;
        }
        s->host = STR(cf, group, "host");
        s->port = INT(cf, group, "port");
        s->tls = BOOL(cf, group, "tls");
        s->tls_verify = BOOL(cf, group, "tls_verify");
        s->sasl = BOOL(cf, group, "sasl");
        s->password = STR(cf, group, "password");
        if (!*s->host) {
            g_free(s->host);
            s->host = g_strdup(s->name);
        }
    }
    return g_steal_pointer(&c);
}

IrcGwConfig *irc_config_load_data(const char *data, GError **error)
{
    g_autoptr(Config) cf = config_parse(&irc_config_schema, data, "tern-irc.conf", NULL, error);
    return load(cf, error);
}

IrcGwConfig *irc_config_load(const char *path, GError **error)
{
    g_autoptr(Config) cf = config_parse_file(&irc_config_schema, path, error);
    return load(cf, error);
}

void irc_config_free(IrcGwConfig *c)
{
    if (!c)
        return;
    tt_component_conf_clear(&c->component);
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
    return config_schema_example(&irc_config_schema);
}
