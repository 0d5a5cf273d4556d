/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/config.c — the config key table drives parsing, checks and the example file */
#include "router/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

GQuark config_error_quark(void)
{
    return g_quark_from_static_string("tern-config-error-quark");
}

/* The contract: docs/ternd.conf.example is generated from this table and a unit test
 * fails when the shipped file drifts from it. */
const ConfKey config_keys[] = {
    {"server", "domains", CONF_LIST, "localhost", 0, 0, "domains this server hosts"},
    {"server", "data_dir", CONF_STRING, "data", 0, 0,
     "storage folder (LMDB); relative to this file's folder"},
    {"server", "certificates", CONF_STRING, "certs", 0, 0,
     "folder with <domain>.pem and <domain>.key for each domain"},
    {"server", "self_signed", CONF_BOOL, "true", 0, 0,
     "generate a self-signed certificate for a domain that has none"},
    {"server", "log_level", CONF_STRING, "message", 0, 0,
     "debug, info, message or warning"},
    {"c2s", "listen", CONF_ADDR, "[::]:5222", 0, 0,
     "client port with STARTTLS; empty disables"},
    {"c2s", "direct_tls", CONF_ADDR, "[::]:5223", 0, 0,
     "client port with direct TLS (XEP-0368); empty disables"},
    {"c2s", "require_tls", CONF_BOOL, "true", 0, 0,
     "refuse authentication before TLS (only turn off for tests)"},
    {"c2s", "max_resources", CONF_INT, "10", 1, 1000,
     "connected resources per account"},
    {"c2s", "allow_register", CONF_BOOL, "false", 0, 0,
     "XEP-0077 in-band registration of new accounts"},
    {"c2s", "register_interval", CONF_INT, "60", 0, 86400,
     "seconds between two registrations from one IP address"},
    {"c2s", "max_auth_failures", CONF_INT, "3", 1, 100,
     "failed SASL attempts on one stream before it is closed"},
    {"c2s", "auth_fail_delay_ms", CONF_INT, "1000", 0, 60000,
     "delay before a <failure/> answer to a wrong password"},
    {"storage", "map_size", CONF_INT, "268435456", 1048576, G_GINT64_CONSTANT(1) << 40,
     "initial LMDB map size in bytes; grows when full"},
    {"limits", "c2s_stanza_size", CONF_INT, "262144", 1024, 67108864,
     "largest stanza from an authenticated client, bytes"},
    {"limits", "preauth_stanza_size", CONF_INT, "16384", 1024, 1048576,
     "largest element before authentication, bytes"},
    {"limits", "max_depth", CONF_INT, "64", 4, 1024, "element nesting depth in a stanza"},
    {"limits", "max_attrs", CONF_INT, "64", 4, 4096, "attributes per element"},
    {"limits", "outbuf_size", CONF_INT, "1048576", 65536, 268435456,
     "bytes queued for a peer that does not read before it is disconnected"},
    {"limits", "preauth_timeout", CONF_INT, "60", 1, 3600,
     "seconds from connect to authenticated, else <connection-timeout/>"},
    {"limits", "roster_size", CONF_INT, "1000", 1, 100000,
     "items in one roster; more -> <not-allowed/>"},
    {"limits", "roster_text_length", CONF_INT, "1023", 1, 65535,
     "bytes of a roster item's name or group; more -> <not-acceptable/>"},
    {"limits", "offline_quota", CONF_INT, "1000", 0, 1000000,
     "offline messages kept per user; more -> <resource-constraint/> to the sender"},
    {"limits", "idle_ping", CONF_INT, "300", 5, 86400,
     "seconds of silence before the server pings a client (XEP-0199)"},
    {"limits", "ping_timeout", CONF_INT, "60", 1, 3600,
     "seconds to wait for the ping answer before closing"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

typedef struct {
    char *str;     /* CONF_STRING, CONF_ADDR */
    gint64 num;    /* CONF_INT, CONF_BOOL */
    char **list;   /* CONF_LIST */
    char *path;    /* absolute form of str */
} ConfValue;

struct Config {
    char *origin;
    char *base_dir;
    guint nkeys;
    ConfValue *values;
};

static guint config_nkeys(void)
{
    guint n = 0;
    while (config_keys[n].section)
        n++;
    return n;
}

static gboolean parse_value(Config *c, guint i, const char *raw, GError **error)
{
    const ConfKey *k = &config_keys[i];
    ConfValue *v = &c->values[i];
    g_autofree char *val = g_strstrip(g_strdup(raw));

    switch (k->type) {
    case CONF_STRING:
        g_free(v->str);
        v->str = g_steal_pointer(&val);
        break;
    case CONF_ADDR:
        if (*val) {
            const char *colon = strrchr(val, ':');
            char *end = NULL;
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (!colon || colon == val || !end || *end || port < 0 || port > 65535) {
                g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                            "%s: [%s] %s: '%s' is not an address (host:port, [v6]:port)",
                            c->origin, k->section, k->key, val);
                return FALSE;
            }
        }
        g_free(v->str);
        v->str = g_steal_pointer(&val);
        break;
    case CONF_INT: {
        char *end = NULL;
        errno = 0;
        gint64 n = g_ascii_strtoll(val, &end, 10);
        if (!*val || *end || errno) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [%s] %s: '%s' is not a number", c->origin, k->section, k->key,
                        val);
            return FALSE;
        }
        if (n < k->min || n > k->max) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [%s] %s: %" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT
                        "..%" G_GINT64_FORMAT,
                        c->origin, k->section, k->key, n, k->min, k->max);
            return FALSE;
        }
        v->num = n;
        break;
    }
    case CONF_BOOL:
        if (!g_ascii_strcasecmp(val, "true") || !g_ascii_strcasecmp(val, "yes") ||
            !strcmp(val, "1"))
            v->num = 1;
        else if (!g_ascii_strcasecmp(val, "false") || !g_ascii_strcasecmp(val, "no") ||
                 !strcmp(val, "0"))
            v->num = 0;
        else {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [%s] %s: '%s' is not true or false", c->origin, k->section,
                        k->key, val);
            return FALSE;
        }
        break;
    case CONF_LIST: {
        g_auto(GStrv) parts = g_strsplit(val, ";", -1);
        GPtrArray *out = g_ptr_array_new();
        for (guint j = 0; parts[j]; j++) {
            char *p = g_strstrip(parts[j]);
            if (*p)
                g_ptr_array_add(out, g_strdup(p));
        }
        g_ptr_array_add(out, NULL);
        g_strfreev(v->list);
        v->list = (char **)g_ptr_array_free(out, FALSE);
        break;
    }
    }
    return TRUE;
}

static void config_resolve_paths(Config *c)
{
    for (guint i = 0; i < c->nkeys; i++) {
        ConfValue *v = &c->values[i];
        if (config_keys[i].type != CONF_STRING)
            continue;
        g_free(v->path);
        if (!*v->str)
            v->path = g_strdup("");
        else if (g_path_is_absolute(v->str))
            v->path = g_strdup(v->str);
        else
            v->path = g_build_filename(c->base_dir, v->str, NULL);
    }
}

static Config *config_new_defaults(const char *origin, const char *base_dir)
{
    Config *c = g_new0(Config, 1);
    c->origin = g_strdup(origin);
    c->base_dir = base_dir ? g_strdup(base_dir) : g_get_current_dir();
    c->nkeys = config_nkeys();
    c->values = g_new0(ConfValue, c->nkeys);
    for (guint i = 0; i < c->nkeys; i++) {
        gboolean ok = parse_value(c, i, config_keys[i].def, NULL);
        g_assert(ok); /* the table's own defaults must parse */
    }
    return c;
}

static int config_find(const char *section, const char *key)
{
    for (int i = 0; config_keys[i].section; i++)
        if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].key, key))
            return i;
    return -1;
}

static gboolean config_check(Config *c, GError **error)
{
    char *const *domains = config_get_list(c, "server", "domains");
    if (!domains || !domains[0]) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [server] domains: at least one domain is needed", c->origin);
        return FALSE;
    }
    const char *lvl = config_get_string(c, "server", "log_level");
    if (!g_strv_contains((const char *const[]){"debug", "info", "message", "warning", NULL},
                         lvl)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [server] log_level: '%s' is not debug, info, message or warning",
                    c->origin, lvl);
        return FALSE;
    }
    return TRUE;
}

Config *config_load_data(const char *data, const char *origin, const char *base_dir,
                         GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_data(kf, data, strlen(data), G_KEY_FILE_NONE, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: %s", origin,
                    err->message);
        return NULL;
    }
    g_autoptr(Config) c = config_new_defaults(origin, base_dir);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint g = 0; groups[g]; g++) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, groups[g], NULL, NULL);
        gboolean known_section = FALSE;
        for (guint i = 0; config_keys[i].section; i++)
            if (!strcmp(config_keys[i].section, groups[g]))
                known_section = TRUE;
        if (!known_section) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s]: unknown section",
                        origin, groups[g]);
            return NULL;
        }
        for (guint k = 0; keys && keys[k]; k++) {
            int idx = config_find(groups[g], keys[k]);
            if (idx < 0) {
                g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                            "%s: [%s] %s: unknown key", origin, groups[g], keys[k]);
                return NULL;
            }
            g_autofree char *raw = g_key_file_get_value(kf, groups[g], keys[k], NULL);
            if (!parse_value(c, idx, raw ? raw : "", error))
                return NULL;
        }
    }
    if (!config_check(c, error))
        return NULL;
    config_resolve_paths(c);
    return g_steal_pointer(&c);
}

Config *config_load(const char *path, GError **error)
{
    if (!path) {
        Config *c = config_new_defaults("(defaults)", NULL);
        config_resolve_paths(c);
        return c;
    }
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    if (!g_file_get_contents(path, &data, NULL, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: %s", path, err->message);
        return NULL;
    }
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *dir = g_path_get_dirname(abs);
    return config_load_data(data, path, dir, error);
}

void config_free(Config *c)
{
    if (!c)
        return;
    for (guint i = 0; i < c->nkeys; i++) {
        g_free(c->values[i].str);
        g_free(c->values[i].path);
        g_strfreev(c->values[i].list);
    }
    g_free(c->values);
    g_free(c->origin);
    g_free(c->base_dir);
    g_free(c);
}

static const ConfValue *config_value(const Config *c, const char *section, const char *key,
                                     ConfType type)
{
    int i = config_find(section, key);
    if (i < 0 || (config_keys[i].type != type &&
                  !(type == CONF_STRING && config_keys[i].type == CONF_ADDR)))
        g_error("config key [%s] %s is not in the table with this type", section, key);
    return &c->values[i];
}

const char *config_get_string(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_STRING)->str;
}

gint64 config_get_int(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_INT)->num;
}

gboolean config_get_bool(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_BOOL)->num != 0;
}

char *const *config_get_list(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_LIST)->list;
}

const char *config_get_path(const Config *c, const char *section, const char *key)
{
    return config_value(c, section, key, CONF_STRING)->path;
}

const char *config_origin(const Config *c)
{
    return c->origin;
}

char *config_example(void)
{
    GString *out = g_string_new("# ternd.conf — every key with its default.\n"
                                "# Generated from the key table in router/config.c; "
                                "uncomment to change.\n");
    const char *section = NULL;
    for (guint i = 0; config_keys[i].section; i++) {
        const ConfKey *k = &config_keys[i];
        if (!section || strcmp(section, k->section)) {
            section = k->section;
            g_string_append_printf(out, "\n[%s]\n", section);
        }
        g_string_append_printf(out, "# %s", k->doc);
        if (k->type == CONF_INT)
            g_string_append_printf(out, " (%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT ")",
                                   k->min, k->max);
        else if (k->type == CONF_LIST)
            g_string_append(out, " (separated by ;)");
        g_string_append_printf(out, "\n#%s = %s\n", k->key, k->def);
    }
    return g_string_free(out, FALSE);
}
