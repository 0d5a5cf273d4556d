/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/config.h — tern-sms's configuration: one key table drives parsing,
 * --check-config and the shipped example (tern-sms.conf.example) */
#pragma once

#include <glib.h>

#include "router/conftable.h"
#include "transports/sdk/tern-transport.h"
#include "transports/sms/address.h"

/* The schema: [component], [smsc], [sms] and any number of [allow USER]. */
extern const ConfSchema sms_config_schema;

typedef struct {
    TtComponentConf component; /* [component] */
    /* [smsc] */
    char *smsc_host, *system_id, *password, *system_type;
    guint16 smsc_port;
    guint smsc_reconnect_min_ms, smsc_reconnect_max_ms;
    guint enquire_link_s, response_timeout_s, window, throttle_delay_ms, max_retries;
    /* [sms] */
    char *data_dir, *source_ton, *source_npi, *dest_ton, *dest_npi;
    char *country_code, *trunk_prefix;
    SmsAddrRule source_rule, dest_rule; /* from the above (strings borrowed from here) */
    guint rate_per_minute, rate_burst, max_parts, reassembly_timeout_s, receipt_wait_h;
    gboolean ref16, gsm7_packed;
    /* [allow USER]: user bare JID (lowercase) -> GStrv of E.164 numbers, or {"*"} */
    GHashTable *allow;
} SmsGwConfig;

/* Load and validate (unknown sections and keys are errors: CONFIG_ERROR). transfer full */
SmsGwConfig *sms_config_load(const char *path, GError **error);
/* The same from text (tests). transfer full */
SmsGwConfig *sms_config_load_data(const char *data, GError **error);
void sms_config_free(SmsGwConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmsGwConfig, sms_config_free)

/* May user (bare JID) send from number (E.164)? By the [allow USER] sections. */
gboolean sms_config_allowed(const SmsGwConfig *c, const char *user, const char *number);

/* The commented example config, generated from sms_config_schema. transfer full */
char *sms_config_example(void);
