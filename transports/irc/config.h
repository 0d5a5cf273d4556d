/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/config.h — tern-irc's configuration: one key table drives parsing,
 * --check-config and the shipped example (tern-irc.conf.example) */
#pragma once

#include <glib.h>

#define IRC_CONFIG_ERROR (irc_config_error_quark())
GQuark irc_config_error_quark(void);

typedef enum {
    IRC_CONF_STRING,
    IRC_CONF_INT,
    IRC_CONF_BOOL,
} IrcConfType;

typedef struct {
    const char *section; /* "component", "irc", or "server" for every [server NAME] */
    const char *key;
    IrcConfType type;
    const char *def; /* default as written in the file; NULL: required */
    gint64 min, max; /* IRC_CONF_INT bounds */
    const char *doc;
} IrcConfKey;

extern const IrcConfKey irc_config_keys[]; /* ended by key == NULL */

/* [server NAME]: how to reach the IRC server that JIDs call NAME */
typedef struct {
    char *name; /* lowercase, as in "#chan%NAME@gateway" */
    char *host;
    guint16 port;
    gboolean tls, tls_verify, sasl;
    char *password; /* server PASS, or NULL */
} IrcServerConfig;

typedef struct {
    /* [component] */
    char *domain, *secret, *host, *name;
    guint16 port;
    guint reconnect_min_ms, reconnect_max_ms;
    /* [irc] */
    char *data_dir, *default_server, *realname, *username;
    gboolean allow_unlisted;
    guint irc_reconnect_min_ms, irc_reconnect_max_ms;
    guint throttle_burst, throttle_interval_ms;
    GPtrArray *servers; /* IrcServerConfig*, in file order */
} IrcGwConfig;

/* Load and validate (unknown sections and keys are errors). transfer full */
IrcGwConfig *irc_config_load(const char *path, GError **error);
/* The same from text (tests). transfer full */
IrcGwConfig *irc_config_load_data(const char *data, GError **error);
void irc_config_free(IrcGwConfig *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IrcGwConfig, irc_config_free)

/* The section of the server JIDs call name; for an unlisted name when allow_unlisted, a
 * default one (TLS on port 6697, verified) kept in c. NULL when not served. borrowed */
const IrcServerConfig *irc_config_server(IrcGwConfig *c, const char *name);

/* The commented example config, generated from irc_config_keys. transfer full */
char *irc_config_example(void);
