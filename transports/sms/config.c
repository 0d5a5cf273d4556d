/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/config.c — tern-sms.conf (GKeyFile) from one key table */
#include "transports/sms/config.h"

#include <string.h>

static const ConfKey fixed_keys[] = {
    TT_COMPONENT_CONF_KEYS("SMS gateway"),
    {"smsc", "host", CONF_STRING, NULL, 0, 0, "the SMSC's SMPP 3.4 address"},
    {"smsc", "port", CONF_INT, "2775", 1, 65535, "its port"},
    {"smsc", "system_id", CONF_STRING, NULL, 0, 0,
     "bind_transceiver system_id (at most 15 characters)"},
    {"smsc", "password", CONF_STRING, NULL, 0, 0, "bind password (at most 8 characters)"},
    {"smsc", "system_type", CONF_STRING, "", 0, 0,
     "bind system_type (at most 12 characters), empty: none"},
    {"smsc", "reconnect_min_ms", CONF_INT, "1000", 10, 600000,
     "first delay before reconnecting or binding again (doubles, with jitter)"},
    {"smsc", "reconnect_max_ms", CONF_INT, "60000", 10, 3600000,
     "longest delay before reconnecting to the SMSC"},
    {"smsc", "enquire_link_s", CONF_INT, "30", 1, 3600,
     "enquire_link keepalive interval while the link is idle"},
    {"smsc", "response_timeout_s", CONF_INT, "20", 1, 600,
     "a request without response for this long ends the link (it is re-established)"},
    {"smsc", "window", CONF_INT, "10", 1, 1000, "submit_sm sent before their responses"},
    {"smsc", "throttle_delay_ms", CONF_INT, "1000", 10, 600000,
     "pause after ESME_RTHROTTLED or ESME_RMSGQFUL before sending again"},
    {"smsc", "max_retries", CONF_INT, "5", 0, 1000,
     "temporary SMSC errors (throttling, queue full, system error) retried per message"},
    {"sms", "data_dir", CONF_STRING, "/var/lib/tern-sms", 0, 0,
     "registrations and the outgoing queue (an LMDB environment of its own)"},
    {"sms", "source_ton", CONF_STRING, "international", 0, 0,
     "how the user's number is written as source_addr: international (digits without '+'), "
     "national (trunk_prefix + national number) or unknown ('+' and digits)"},
    {"sms", "source_npi", CONF_STRING, "isdn", 0, 0, "source_addr_npi: isdn or unknown"},
    {"sms", "dest_ton", CONF_STRING, "international", 0, 0, "the same for destination_addr"},
    {"sms", "dest_npi", CONF_STRING, "isdn", 0, 0, "destination_addr_npi: isdn or unknown"},
    {"sms", "country_code", CONF_STRING, "", 0, 0,
     "national numbers: the country code they belong to (e.g. 44); needed by 'national'"},
    {"sms", "trunk_prefix", CONF_STRING, "0", 0, 0,
     "national numbers: the trunk prefix in front of them"},
    {"sms", "rate_per_minute", CONF_INT, "30", 0, 100000,
     "SMS texts one user may send per minute (0: no limit)"},
    {"sms", "rate_burst", CONF_INT, "10", 1, 100000, "... of which this many at once"},
    {"sms", "max_parts", CONF_INT, "10", 1, 255,
     "longest text, in SMS parts (a longer one is refused)"},
    {"sms", "ref16", CONF_BOOL, "false", 0, 0,
     "concatenation with 16-bit references (IEI 0x08) instead of 8-bit (IEI 0x00)"},
    {"sms", "gsm7_packed", CONF_BOOL, "false", 0, 0,
     "GSM 03.38 text packed 8 septets in 7 octets (most SMSCs want one septet per octet)"},
    {"sms", "receipt_wait_h", CONF_INT, "72", 1, 8760,
     "delivery receipts still awaited after this many hours are forgotten"},
    {"sms", "reassembly_timeout_s", CONF_INT, "300", 1, 86400,
     "an incoming concatenated SMS missing parts this long is delivered with a gap"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

/* [allow USER] */
static const ConfKey allow_keys[] = {
    {"allow", "numbers", CONF_LIST, NULL, 0, 0,
     "the numbers USER (a bare JID) may send from, in E.164; * for any number"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

const ConfSchema sms_config_schema = {
    .header = "# tern-sms.conf — the Tern SMS gateway (docs/sms-gateway.md)\n"
              "# Generated from transports/sms/config.c; every key is shown with its default.\n",
    .keys = fixed_keys,
    .repeat = "allow",
    .repeat_keys = allow_keys,
    .repeat_doc = "# Who may send from which number (admin only; users register the number they "
                  "send from):\n# one section per user",
    .repeat_name = "alice@example.org",
    .placeholders =
        (const char *const[]){"domain", "sms.example.org", "host", "smsc.example.net", "system_id",
                              "tern", "password", "changeme", "numbers", "+15551234567", NULL},
};

static gboolean invalid(GError **error, const Config *cf, const char *what)
{
    g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "%s: %s", config_origin(cf), what);
    return FALSE;
}

#define STR(cf, section, key) g_strdup(config_get_string(cf, section, key))
#define INT(cf, section, key) config_get_int(cf, section, key)
#define BOOL(cf, section, key) config_get_bool(cf, section, key)

static gboolean fits(const Config *cf, const char *v, gsize max, const char *key, GError **error)
{
    if (strlen(v) <= max)
        return TRUE;
    g_autofree char *what =
        g_strdup_printf("[smsc] %s: at most %zu characters (SMPP 3.4 §4.1.1)", key, max);
    return invalid(error, cf, what);
}

/* "international" / "national" / "unknown" and "isdn" / "unknown" -> the rule */
static gboolean rule(const Config *cf, SmsGwConfig *c, const char *ton, const char *npi,
                     const char *what, SmsAddrRule *r, GError **error)
{
    g_autofree char *msg = NULL;
    if (strcmp(ton, "international") == 0)
        r->ton = 1;
    else if (strcmp(ton, "national") == 0)
        r->ton = 2;
    else if (strcmp(ton, "unknown") == 0)
        r->ton = 0;
    else
        msg = g_strdup_printf("[sms] %s_ton = %s: international, national or unknown", what, ton);
    if (!msg && strcmp(npi, "isdn") == 0)
        r->npi = 1;
    else if (!msg && strcmp(npi, "unknown") == 0)
        r->npi = 0;
    else if (!msg)
        msg = g_strdup_printf("[sms] %s_npi = %s: isdn or unknown", what, npi);
    if (!msg && r->ton == 2 && !*c->country_code)
        msg = g_strdup_printf("[sms] %s_ton = national needs country_code", what);
    if (msg)
        return invalid(error, cf, msg);
    r->country_code = c->country_code;
    r->trunk_prefix = c->trunk_prefix;
    return TRUE;
}

static gboolean load_allow(const Config *cf, SmsGwConfig *c, GError **error)
{
    for (char *const *n = config_repeat_names(cf); *n; n++) {
        g_autofree char *group = g_strconcat("allow ", *n, NULL);
        if (!strchr(*n, '@') || strchr(*n, '/')) {
            g_autofree char *what = g_strdup_printf("[%s]: a user's bare JID is needed", group);
            return invalid(error, cf, what);
        }
        GPtrArray *nums = g_ptr_array_new_with_free_func(g_free);
        for (char *const *num = config_get_list(cf, group, "numbers"); num && *num; num++) {
            char *norm = strcmp(*num, "*") == 0 ? g_strdup("*") : sms_e164_normalize(*num);
            if (!norm) {
                g_ptr_array_free(nums, TRUE);
                g_autofree char *what = g_strdup_printf(
                    "[%s] numbers: %s is not an E.164 number (+ and country code) or *", group,
                    *num);
                return invalid(error, cf, what);
            }
            g_ptr_array_add(nums, norm);
        }
        g_ptr_array_set_free_func(nums, NULL);
        g_ptr_array_add(nums, NULL);
        g_hash_table_insert(c->allow, g_utf8_strdown(*n, -1), g_ptr_array_free(nums, FALSE));
    }
    return TRUE;
}

static SmsGwConfig *load(Config *cf, GError **error)
{
    if (!cf)
        return NULL;
    g_autoptr(SmsGwConfig) c = g_new0(SmsGwConfig, 1);
    c->allow = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
    if (!tt_component_conf_read(&c->component, cf, error))
        return NULL;
    c->smsc_host = STR(cf, "smsc", "host");
    c->smsc_port = INT(cf, "smsc", "port");
    c->system_id = STR(cf, "smsc", "system_id");
    c->password = STR(cf, "smsc", "password");
    c->system_type = STR(cf, "smsc", "system_type");
    c->smsc_reconnect_min_ms = INT(cf, "smsc", "reconnect_min_ms");
    c->smsc_reconnect_max_ms = INT(cf, "smsc", "reconnect_max_ms");
    c->enquire_link_s = INT(cf, "smsc", "enquire_link_s");
    c->response_timeout_s = INT(cf, "smsc", "response_timeout_s");
    c->window = INT(cf, "smsc", "window");
    c->throttle_delay_ms = INT(cf, "smsc", "throttle_delay_ms");
    c->max_retries = INT(cf, "smsc", "max_retries");
    c->data_dir = g_strdup(config_get_path(cf, "sms", "data_dir"));
    c->source_ton = STR(cf, "sms", "source_ton");
    c->source_npi = STR(cf, "sms", "source_npi");
    c->dest_ton = STR(cf, "sms", "dest_ton");
    c->dest_npi = STR(cf, "sms", "dest_npi");
    c->country_code = STR(cf, "sms", "country_code");
    c->trunk_prefix = STR(cf, "sms", "trunk_prefix");
    c->rate_per_minute = INT(cf, "sms", "rate_per_minute");
    c->rate_burst = INT(cf, "sms", "rate_burst");
    c->max_parts = INT(cf, "sms", "max_parts");
    c->ref16 = BOOL(cf, "sms", "ref16");
    c->gsm7_packed = BOOL(cf, "sms", "gsm7_packed");
    c->reassembly_timeout_s = INT(cf, "sms", "reassembly_timeout_s");
    c->receipt_wait_h = INT(cf, "sms", "receipt_wait_h");
    if (!fits(cf, c->system_id, 15, "system_id", error) ||
        !fits(cf, c->password, 8, "password", error) ||
        !fits(cf, c->system_type, 12, "system_type", error))
        return NULL;
    for (const char *p = c->country_code; *p; p++)
        if (!g_ascii_isdigit(*p) || p - c->country_code >= 3)
            return invalid(error, cf, "[sms] country_code: 1 to 3 digits, no '+'"), NULL;
    if (!rule(cf, c, c->source_ton, c->source_npi, "source", &c->source_rule, error) ||
        !rule(cf, c, c->dest_ton, c->dest_npi, "dest", &c->dest_rule, error))
        return NULL;
    if (c->smsc_reconnect_max_ms < c->smsc_reconnect_min_ms)
        return invalid(error, cf, "[smsc] reconnect_max_ms is less than reconnect_min_ms"), NULL;
    if (!load_allow(cf, c, error))
        return NULL;
    return g_steal_pointer(&c);
}

SmsGwConfig *sms_config_load_data(const char *data, GError **error)
{
    g_autoptr(Config) cf = config_parse(&sms_config_schema, data, "tern-sms.conf", NULL, error);
    return load(cf, error);
}

SmsGwConfig *sms_config_load(const char *path, GError **error)
{
    g_autoptr(Config) cf = config_parse_file(&sms_config_schema, path, error);
    return load(cf, error);
}

static void free_secret(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
    g_free(s);
}

void sms_config_free(SmsGwConfig *c)
{
    if (!c)
        return;
    tt_component_conf_clear(&c->component);
    g_free(c->smsc_host);
    g_free(c->system_id);
    free_secret(c->password);
    g_free(c->system_type);
    g_free(c->data_dir);
    g_free(c->source_ton);
    g_free(c->source_npi);
    g_free(c->dest_ton);
    g_free(c->dest_npi);
    g_free(c->country_code);
    g_free(c->trunk_prefix);
    if (c->allow)
        g_hash_table_destroy(c->allow);
    g_free(c);
}

gboolean sms_config_allowed(const SmsGwConfig *c, const char *user, const char *number)
{
    g_autofree char *u = g_utf8_strdown(user, -1);
    char **nums = g_hash_table_lookup(c->allow, u);
    for (char **n = nums; n && *n; n++)
        if (strcmp(*n, "*") == 0 || strcmp(*n, number) == 0)
            return TRUE;
    return FALSE;
}

char *sms_config_example(void)
{
    return config_schema_example(&sms_config_schema);
}
