/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/config.c — the config key table drives parsing, checks and the example file */
#include "router/config.h"

#include <errno.h>
#include <gio/gio.h>
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
    {"server", "log_level", CONF_STRING, "message", 0, 0, "debug, info, message or warning"},
    {"c2s", "listen", CONF_ADDR, "[::]:5222", 0, 0, "client port with STARTTLS; empty disables"},
    {"c2s", "direct_tls", CONF_ADDR, "[::]:5223", 0, 0,
     "client port with direct TLS (XEP-0368); empty disables"},
    {"c2s", "require_tls", CONF_BOOL, "true", 0, 0,
     "refuse authentication before TLS (only turn off for tests)"},
    {"c2s", "max_resources", CONF_INT, "10", 1, 1000, "connected resources per account"},
    {"c2s", "allow_register", CONF_BOOL, "false", 0, 0,
     "XEP-0077 in-band registration of new accounts"},
    {"c2s", "register_interval", CONF_INT, "60", 0, 86400,
     "seconds between two registrations from one IP address"},
    {"c2s", "resume_timeout", CONF_INT, "300", 0, 86400,
     "seconds a broken XEP-0198 session waits for the client to resume it"},
    {"c2s", "sm_max_unacked", CONF_INT, "1000", 10, 100000,
     "stanzas a client may leave unacknowledged (XEP-0198); more -> <policy-violation/>"},
    {"c2s", "max_auth_failures", CONF_INT, "3", 1, 100,
     "failed SASL attempts on one stream before it is closed"},
    {"c2s", "auth_fail_delay_ms", CONF_INT, "1000", 0, 60000,
     "delay before a <failure/> answer to a wrong password"},
    {"s2s", "enabled", CONF_BOOL, "true", 0, 0,
     "federation with other XMPP servers; false: <remote-server-not-found/> for them"},
    {"s2s", "listen", CONF_ADDR, "[::]:5269", 0, 0,
     "server-to-server port with STARTTLS; empty disables incoming streams"},
    {"s2s", "direct_tls", CONF_ADDR, "", 0, 0,
     "server-to-server port with direct TLS (XEP-0368); empty disables"},
    {"s2s", "dns_servers", CONF_STRING, "", 0, 0,
     "DNS servers for SRV/A lookups, e.g. 127.0.0.1:5353,[::1]:53; empty: resolv.conf"},
    {"s2s", "require_tls", CONF_BOOL, "true", 0, 0,
     "refuse server streams without TLS (only turn off for tests)"},
    {"s2s", "ca_file", CONF_STRING, "", 0, 0,
     "extra trusted CAs (PEM) for peer certificates, besides the system store"},
    {"s2s", "require_valid_cert", CONF_BOOL, "false", 0, 0,
     "every peer needs a certificate valid for its domain (no dialback without one)"},
    {"s2s", "secure_domains", CONF_LIST, "", 0, 0,
     "peers that need a valid certificate even when require_valid_cert is false"},
    {"s2s", "insecure_domains", CONF_LIST, "", 0, 0,
     "peers allowed without a valid certificate even when require_valid_cert is true"},
    {"s2s", "dialback", CONF_BOOL, "true", 0, 0,
     "server dialback (XEP-0220) for peers without a usable certificate"},
    {"s2s", "allow_domains", CONF_LIST, "", 0, 0,
     "when not empty, federate with these domains only"},
    {"s2s", "deny_domains", CONF_LIST, "", 0, 0, "never federate with these domains"},
    {"s2s", "queue_size", CONF_INT, "1000", 1, 1000000,
     "stanzas waiting per remote domain while its link is set up; more are bounced"},
    {"s2s", "connect_timeout", CONF_INT, "30", 1, 600,
     "seconds to resolve, connect and authenticate, else <remote-server-timeout/>"},
    {"s2s", "idle_timeout", CONF_INT, "600", 1, 86400,
     "seconds without stanzas before a server link is closed (reopened on demand)"},
    {"s2s", "max_streams_per_ip", CONF_INT, "20", 1, 10000,
     "incoming server streams from one IP address"},
    {"components", "listen", CONF_ADDR, "127.0.0.1:5347", 0, 0,
     "XEP-0114 component port (keep it on loopback or a private network); empty disables"},
    {"components", "stanza_size", CONF_INT, "262144", 1024, 67108864,
     "largest stanza from an authenticated component, bytes"},
    {"components", "idle_ping", CONF_INT, "120", 5, 86400,
     "seconds of silence before the server pings a component (XEP-0199)"},
    {"components", "ping_timeout", CONF_INT, "300", 5, 86400,
     "seconds to wait for that answer before closing (never closed for silence alone)"},
    {"components", "queue_timeout", CONF_INT, "60", 1, 86400,
     "seconds a stanza waits in an away component's queue before it is bounced"},
    {"http", "listen", CONF_ADDR, "127.0.0.1:5280", 0, 0,
     "HTTP API, metrics, host-meta and console (docs/http-api.md); empty disables"},
    {"http", "tls", CONF_BOOL, "false", 0, 0,
     "HTTPS with the first domain's certificate from [server] certificates"},
    {"http", "allow_plain_public", CONF_BOOL, "false", 0, 0,
     "allow plain HTTP on an address that is not loopback (tokens travel in clear)"},
    {"http", "max_body", CONF_INT, "65536", 1024, 16777216,
     "largest request body in bytes; more -> 413"},
    {"http", "public_url", CONF_STRING, "", 0, 0,
     "base URL in host-meta links, e.g. https://xmpp.example.org:5281; empty: from Host"},
    {"storage", "map_size", CONF_INT, "268435456", 1048576, G_GINT64_CONSTANT(1) << 40,
     "initial LMDB map size in bytes; grows when full"},
    {"limits", "c2s_stanza_size", CONF_INT, "262144", 1024, 67108864,
     "largest stanza from an authenticated client, bytes"},
    {"limits", "s2s_stanza_size", CONF_INT, "524288", 1024, 67108864,
     "largest stanza from an authenticated server, bytes"},
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
    {"limits", "vcard_size", CONF_INT, "65536", 1024, 16777216,
     "bytes of a stored vCard (XEP-0054); more -> <not-acceptable/>"},
    {"limits", "archive_days", CONF_INT, "0", 0, 36500,
     "days messages stay in the archive (XEP-0313); 0 keeps them"},
    {"limits", "c2s_connections_per_ip", CONF_INT, "100", 1, 1000000,
     "client connections open at once from one IP address; more are closed at accept"},
    {"limits", "stream_open_timeout", CONF_INT, "10", 1, 600,
     "seconds for a new connection (or one after TLS) to send its stream header"},
    {"limits", "tls_handshake_timeout", CONF_INT, "10", 1, 600,
     "seconds for a TLS handshake (direct TLS or STARTTLS)"},
    {"limits", "idle_ping", CONF_INT, "300", 5, 86400,
     "seconds of silence before the server pings a client (XEP-0199)"},
    {"limits", "ping_timeout", CONF_INT, "60", 1, 3600,
     "seconds to wait for the ping answer before closing"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

/* The keys of every [component <domain>] section (XEP-0114, XEP-0356). */
const ConfKey config_component_keys[] = {
    {"component", "secret", CONF_STRING, "", 0, 0, "shared secret of the handshake (required)"},
    {"component", "name", CONF_STRING, "", 0, 0,
     "name of the item in the server's disco#items (XEP-0030); empty: none"},
    {"component", "subdomains", CONF_BOOL, "false", 0, 0,
     "route every subdomain (*.domain) to the component too"},
    {"component", "multiple", CONF_BOOL, "false", 0, 0,
     "accept several connections and share the stanzas among them round-robin"},
    {"component", "queue", CONF_INT, "0", 0, 10000,
     "stanzas held while the component is away; 0: bounce with <service-unavailable/>"},
    {"component", "roster", CONF_STRING, "none", 0, 0,
     "XEP-0356 roster access to hosted accounts: none, get, set or both"},
    {"component", "message", CONF_STRING, "none", 0, 0,
     "XEP-0356 messages on behalf of hosted accounts: none or outgoing"},
    {"component", "presence", CONF_STRING, "none", 0, 0,
     "XEP-0356 presence: none, managed_entity or roster (also the contacts' presence)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

#define COMPONENT_PREFIX "component "

typedef struct {
    char *str;   /* CONF_STRING, CONF_ADDR */
    gint64 num;  /* CONF_INT, CONF_BOOL */
    char **list; /* CONF_LIST */
    char *path;  /* absolute form of str */
} ConfValue;

/* One [component <domain>] section: a value per config_component_keys entry. */
typedef struct {
    char *name;   /* the section as written, for messages */
    char *domain; /* after "component " */
    ConfValue *values;
} ConfSection;

struct Config {
    char *origin;
    char *base_dir;
    guint nkeys;
    ConfValue *values;
    GPtrArray *components;      /* ConfSection*, in file order */
    GPtrArray *component_names; /* their domains, NULL-terminated (borrowed strings) */
};

static guint config_nkeys(void)
{
    guint n = 0;
    while (config_keys[n].section)
        n++;
    return n;
}

/* Parse raw into v for key k of [section] (the name shown in messages). */
static gboolean parse_into(const char *origin, const char *section, const ConfKey *k, ConfValue *v,
                           const char *raw, GError **error)
{
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
                            "%s: [%s] %s: '%s' is not an address (host:port, [v6]:port)", origin,
                            section, k->key, val);
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
                        "%s: [%s] %s: '%s' is not a number", origin, section, k->key, val);
            return FALSE;
        }
        if (n < k->min || n > k->max) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [%s] %s: %" G_GINT64_FORMAT " is out of range %" G_GINT64_FORMAT
                        "..%" G_GINT64_FORMAT,
                        origin, section, k->key, n, k->min, k->max);
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
                        "%s: [%s] %s: '%s' is not true or false", origin, section, k->key, val);
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

static gboolean parse_value(Config *c, guint i, const char *raw, GError **error)
{
    return parse_into(c->origin, config_keys[i].section, &config_keys[i], &c->values[i], raw,
                      error);
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
    c->components = g_ptr_array_new();
    c->component_names = g_ptr_array_new();
    g_ptr_array_add(c->component_names, NULL);
    for (guint i = 0; i < c->nkeys; i++) {
        gboolean ok = parse_value(c, i, config_keys[i].def, NULL);
        g_assert(ok); /* the table's own defaults must parse */
    }
    return c;
}

static int component_key_find(const char *key)
{
    for (int i = 0; config_component_keys[i].key; i++)
        if (!strcmp(config_component_keys[i].key, key))
            return i;
    return -1;
}

static ConfSection *component_find(const Config *c, const char *domain)
{
    for (guint i = 0; i < c->components->len; i++) {
        ConfSection *sec = g_ptr_array_index(c->components, i);
        if (!strcmp(sec->domain, domain))
            return sec;
    }
    return NULL;
}

/* [component <domain>]: a section of config_component_keys, defaults first. */
static gboolean load_component(Config *c, GKeyFile *kf, const char *group, GError **error)
{
    g_autofree char *domain = g_strstrip(g_strdup(group + strlen("component")));
    if (!*domain) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [%s]: name the component's domain: [component <domain>]", c->origin,
                    group);
        return FALSE;
    }
    if (component_find(c, domain)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [%s]: a second section for this component", c->origin, group);
        return FALSE;
    }
    guint n = 0;
    while (config_component_keys[n].key)
        n++;
    ConfSection *sec = g_new0(ConfSection, 1);
    sec->name = g_strdup(group);
    sec->domain = g_steal_pointer(&domain);
    sec->values = g_new0(ConfValue, n);
    g_ptr_array_add(c->components, sec);
    g_ptr_array_insert(c->component_names, c->component_names->len - 1, sec->domain);
    for (guint i = 0; i < n; i++) {
        const ConfKey *k = &config_component_keys[i];
        gboolean ok = parse_into(c->origin, group, k, &sec->values[i], k->def, NULL);
        g_assert(ok); /* the table's own defaults must parse */
    }
    g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
    for (guint k = 0; keys && keys[k]; k++) {
        int idx = component_key_find(keys[k]);
        if (idx < 0) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s] %s: unknown key",
                        c->origin, group, keys[k]);
            return FALSE;
        }
        g_autofree char *raw = g_key_file_get_value(kf, group, keys[k], NULL);
        if (!parse_into(c->origin, group, &config_component_keys[idx], &sec->values[idx],
                        raw ? raw : "", error))
            return FALSE;
    }
    return TRUE;
}

/* A [component x] key whose value must be one of choices (NULL-terminated). */
static gboolean check_choice(const Config *c, const ConfSection *sec, const char *key,
                             const char *const *choices, const char *what, GError **error)
{
    const char *v = sec->values[component_key_find(key)].str;
    if (g_strv_contains(choices, v))
        return TRUE;
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s] %s: '%s' is not %s", c->origin,
                sec->name, key, v, what);
    return FALSE;
}

static gboolean check_components(const Config *c, GError **error)
{
    for (guint i = 0; i < c->components->len; i++) {
        const ConfSection *sec = g_ptr_array_index(c->components, i);
        if (!*sec->values[component_key_find("secret")].str) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [%s] secret: a component needs a secret", c->origin, sec->name);
            return FALSE;
        }
        if (!check_choice(c, sec, "roster",
                          (const char *const[]){"none", "get", "set", "both", NULL},
                          "none, get, set or both", error) ||
            !check_choice(c, sec, "message", (const char *const[]){"none", "outgoing", NULL},
                          "none or outgoing", error) ||
            !check_choice(c, sec, "presence",
                          (const char *const[]){"none", "managed_entity", "roster", NULL},
                          "none, managed_entity or roster", error))
            return FALSE;
    }
    return TRUE;
}

static int config_find(const char *section, const char *key)
{
    for (int i = 0; config_keys[i].section; i++)
        if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].key, key))
            return i;
    return -1;
}

/* [http]: plain HTTP only on loopback unless allowed (bearer tokens would travel in clear). */
static gboolean check_http(const Config *c, GError **error)
{
    const char *addr = config_get_string(c, "http", "listen");
    if (!*addr || config_get_bool(c, "http", "tls") ||
        config_get_bool(c, "http", "allow_plain_public"))
        return TRUE;
    g_autofree char *host = g_strndup(addr, (gsize)(strrchr(addr, ':') - addr));
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(host);
    if (!strcmp(host, "localhost") || (ia && g_inet_address_get_is_loopback(ia)))
        return TRUE;
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                "%s: [http] listen: '%s' is not a loopback address: set [http] tls = true, or "
                "allow_plain_public = true to serve plain HTTP there",
                c->origin, addr);
    return FALSE;
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
    if (!g_strv_contains((const char *const[]){"debug", "info", "message", "warning", NULL}, lvl)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [server] log_level: '%s' is not debug, info, message or warning",
                    c->origin, lvl);
        return FALSE;
    }
    return check_components(c, error) && check_http(c, error);
}

Config *config_load_data(const char *data, const char *origin, const char *base_dir, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_data(kf, data, strlen(data), G_KEY_FILE_NONE, &err)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: %s", origin, err->message);
        return NULL;
    }
    g_autoptr(Config) c = config_new_defaults(origin, base_dir);
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    for (guint g = 0; groups[g]; g++) {
        if (!strcmp(groups[g], "component") || g_str_has_prefix(groups[g], COMPONENT_PREFIX)) {
            if (!load_component(c, kf, groups[g], error))
                return NULL;
            continue;
        }
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
                g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s] %s: unknown key",
                            origin, groups[g], keys[k]);
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
    for (guint i = 0; c->components && i < c->components->len; i++) {
        ConfSection *sec = g_ptr_array_index(c->components, i);
        for (guint j = 0; config_component_keys[j].key; j++) {
            g_free(sec->values[j].str);
            g_free(sec->values[j].path);
            g_strfreev(sec->values[j].list);
        }
        g_free(sec->values);
        g_free(sec->name);
        g_free(sec->domain);
        g_free(sec);
    }
    if (c->components)
        g_ptr_array_unref(c->components);
    if (c->component_names)
        g_ptr_array_unref(c->component_names);
    g_free(c->origin);
    g_free(c->base_dir);
    g_free(c);
}

static const ConfValue *config_value(const Config *c, const char *section, const char *key,
                                     ConfType type)
{
    if (g_str_has_prefix(section, COMPONENT_PREFIX)) { /* [component <domain>] */
        const ConfSection *sec = component_find(c, section + strlen(COMPONENT_PREFIX));
        int i = component_key_find(key);
        if (!sec || i < 0 || config_component_keys[i].type != type)
            g_error("config key [%s] %s is not configured with this type", section, key);
        return &sec->values[i];
    }
    int i = config_find(section, key);
    if (i < 0 ||
        (config_keys[i].type != type && !(type == CONF_STRING && config_keys[i].type == CONF_ADDR)))
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

char *const *config_component_domains(const Config *c)
{
    return (char *const *)c->component_names->pdata;
}

static void example_key(GString *out, const ConfKey *k, const char *value)
{
    g_string_append_printf(out, "# %s", k->doc);
    if (k->type == CONF_INT)
        g_string_append_printf(out, " (%" G_GINT64_FORMAT "..%" G_GINT64_FORMAT ")", k->min,
                               k->max);
    else if (k->type == CONF_LIST)
        g_string_append(out, " (separated by ;)");
    g_string_append_printf(out, "\n#%s = %s\n", k->key, value);
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
        example_key(out, k, k->def);
    }
    g_string_append(out, "\n# One section per XEP-0114 component, named after its domain "
                         "(none by default):\n#[component irc.example.org]\n");
    for (guint i = 0; config_component_keys[i].key; i++) {
        const ConfKey *k = &config_component_keys[i];
        /* the secret has no default: show a placeholder */
        example_key(out, k, !strcmp(k->key, "secret") ? "change-me" : k->def);
    }
    return g_string_free(out, FALSE);
}
