/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/config.c — the config key table drives parsing, checks and the example file */
#include "router/config.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdlib.h>
#include <string.h>

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
    {"server", "io_uring", CONF_BOOL, "true", 0, 0,
     "hand a main-loop turn's socket reads and writes to the kernel in one system call "
     "(io_uring; falls back by itself where the kernel refuses it)"},
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
    {"http", "websocket", CONF_BOOL, "true", 0, 0,
     "XMPP over WebSocket (RFC 7395) at /xmpp-websocket"},
    {"http", "websocket_ping", CONF_INT, "30", 0, 3600,
     "seconds between WebSocket pings (keepalive); 0: none"},
    {"http", "bosh", CONF_BOOL, "true", 0, 0, "BOSH (XEP-0124/0206) at /http-bind"},
    {"http", "bosh_max_body", CONF_INT, "294912", 1024, 67108864,
     "largest BOSH request body in bytes; more -> 413"},
    {"http", "bosh_max_wait", CONF_INT, "60", 1, 3600,
     "longest a BOSH request is held waiting for data, seconds (the client's 'wait' is capped)"},
    {"http", "bosh_max_hold", CONF_INT, "1", 1, 8,
     "most BOSH requests held at once per session (the client's 'hold' is capped)"},
    {"http", "bosh_inactivity", CONF_INT, "60", 5, 3600,
     "seconds a BOSH session may go without a request before it ends"},
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
    {"limits", "c2s_read_rate", CONF_INT, "1048576", 0, 1073741824,
     "bytes per second read from one client connection (more waits in TCP); 0: unlimited"},
    {"limits", "c2s_read_burst", CONF_INT, "1048576", 1024, 1073741824,
     "bytes a client connection may send at once above its read rate"},
    {"limits", "s2s_read_rate", CONF_INT, "33554432", 0, 1073741824,
     "bytes per second read from one server stream (carries many users); 0: unlimited"},
    {"limits", "s2s_read_burst", CONF_INT, "8388608", 1024, 1073741824,
     "bytes a server stream may send at once above its read rate"},
    {"limits", "component_read_rate", CONF_INT, "33554432", 0, 1073741824,
     "bytes per second read from one component connection; 0: unlimited"},
    {"limits", "component_read_burst", CONF_INT, "8388608", 1024, 1073741824,
     "bytes a component connection may send at once above its read rate"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

/* The keys of every [component <domain>] section (XEP-0114, XEP-0356). */
const ConfKey config_component_keys[] = {
    {"component", "secret", CONF_STRING, NULL, 0, 0, "shared secret of the handshake"},
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

static const ConfSchema ternd_schema = {
    .header = "# ternd.conf — every key with its default.\n"
              "# Generated from the key table in router/config.c; uncomment to change.\n",
    .keys = config_keys,
    .repeat = "component",
    .repeat_keys = config_component_keys,
    .repeat_doc = "# One section per XEP-0114 component, named after its domain (none by default):",
    .repeat_name = "irc.example.org",
    .commented = TRUE,
};

/* A [component x] key whose value must be one of choices (NULL-terminated). */
static gboolean check_choice(const Config *c, const char *group, const char *key,
                             const char *const *choices, const char *what, GError **error)
{
    const char *v = config_get_string(c, group, key);
    if (g_strv_contains(choices, v))
        return TRUE;
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: [%s] %s: '%s' is not %s",
                config_origin(c), group, key, v, what);
    return FALSE;
}

static gboolean check_components(const Config *c, GError **error)
{
    for (char *const *d = config_component_domains(c); *d; d++) {
        g_autofree char *group = g_strconcat("component ", *d, NULL);
        if (!check_choice(c, group, "roster",
                          (const char *const[]){"none", "get", "set", "both", NULL},
                          "none, get, set or both", error) ||
            !check_choice(c, group, "message", (const char *const[]){"none", "outgoing", NULL},
                          "none or outgoing", error) ||
            !check_choice(c, group, "presence",
                          (const char *const[]){"none", "managed_entity", "roster", NULL},
                          "none, managed_entity or roster", error))
            return FALSE;
    }
    return TRUE;
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
                config_origin(c), addr);
    return FALSE;
}

static gboolean config_check(Config *c, GError **error)
{
    char *const *domains = config_get_list(c, "server", "domains");
    if (!domains || !domains[0]) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [server] domains: at least one domain is needed", config_origin(c));
        return FALSE;
    }
    const char *lvl = config_get_string(c, "server", "log_level");
    if (!g_strv_contains((const char *const[]){"debug", "info", "message", "warning", NULL}, lvl)) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                    "%s: [server] log_level: '%s' is not debug, info, message or warning",
                    config_origin(c), lvl);
        return FALSE;
    }
    return check_components(c, error) && check_http(c, error);
}

Config *config_load_data(const char *data, const char *origin, const char *base_dir, GError **error)
{
    g_autoptr(Config) c = config_parse(&ternd_schema, data, origin, base_dir, error);
    return c && config_check(c, error) ? g_steal_pointer(&c) : NULL;
}

Config *config_load(const char *path, GError **error)
{
    if (!path)
        return config_defaults(&ternd_schema);
    g_autoptr(Config) c = config_parse_file(&ternd_schema, path, error);
    return c && config_check(c, error) ? g_steal_pointer(&c) : NULL;
}

char *const *config_component_domains(const Config *c)
{
    return config_repeat_names(c);
}

char *config_example(void)
{
    return config_schema_example(&ternd_schema);
}
