/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/config.h — tern-irc's configuration: one key table drives parsing,
 * --check-config and the shipped example (tern-irc.conf.example) */
#pragma once

#include <glib.h>

#include "router/conftable.h"
#include "transports/sdk/tern-transport.h"

/* The schema: [component], [irc] and any number of [server NAME]. */
extern const ConfSchema irc_config_schema;

/* [server NAME]: how to reach the IRC server that JIDs call NAME */
typedef struct {
    char *name; /* lowercase, as in "#chan%NAME@gateway" */
    char *host;
    guint16 port;
    gboolean tls, tls_verify, sasl;
    char *password; /* server PASS, or NULL */
} IrcServerConfig;

typedef struct {
    TtComponentConf component; /* [component] */
    /* [irc] */
    char *data_dir, *default_server, *realname, *username;
    gboolean allow_unlisted;
    guint irc_reconnect_min_ms, irc_reconnect_max_ms;
    guint throttle_burst, throttle_interval_ms;
    GPtrArray *servers; /* IrcServerConfig*, in file order */
} IrcGwConfig;

/* Load and validate (unknown sections and keys are errors: CONFIG_ERROR). transfer full */
IrcGwConfig *irc_config_load(const char *path, GError **error);
/* The same from text (tests). transfer full */
IrcGwConfig *irc_config_load_data(const char *data, GError **error);
void irc_config_free(IrcGwConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IrcGwConfig, irc_config_free)

/* The section of the server JIDs call name; for an unlisted name when allow_unlisted, a
 * default one (TLS on port 6697, verified) kept in c. NULL when not served. borrowed */
const IrcServerConfig *irc_config_server(IrcGwConfig *c, const char *name);

/* The example config, generated from irc_config_schema. transfer full */
char *irc_config_example(void);
