/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/bridge.h — the Bridge: the one place where the XMPP side (the transport
 * SDK) and the IRC side (IrcConn) meet, like biboumi's Bridge */
#pragma once

#include "transports/irc/config.h"
#include "transports/sdk/tern-transport.h"

typedef struct Bridge Bridge;

/* t and cfg: borrowed, must outlive the bridge. transfer full */
Bridge *bridge_new(TtTransport *t, IrcGwConfig *cfg);
/* QUIT every IRC connection (reason borrowed) and tell the users' rooms. */
void bridge_shutdown(Bridge *b, const char *reason);
void bridge_free(Bridge *b);

/* TtHandlers callbacks; user_data is the Bridge. */
gboolean bridge_on_message(TtTransport *t, xmpp_stanza_t *message, gpointer bridge);
gboolean bridge_on_presence(TtTransport *t, xmpp_stanza_t *presence, gpointer bridge);
gboolean bridge_on_iq(TtTransport *t, xmpp_stanza_t *iq, gpointer bridge);
void bridge_on_unregistered(TtTransport *t, const char *user, gpointer bridge);
gboolean bridge_on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer bridge);
char *bridge_legacy_to_jid(TtTransport *t, const char *legacy, gpointer bridge);

/* Number of live IRC sessions (user, server). */
guint bridge_session_count(Bridge *b);
