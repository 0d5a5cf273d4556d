/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/bridge.h — the one place where XMPP and SMPP meet: users' numbers,
 * contacts and their presence, the durable outbox, the inbox with reassembly and receipts */
#pragma once

#include "transports/sdk/tern-transport.h"
#include "transports/sms/config.h"

typedef struct Bridge Bridge;

/* t and cfg: borrowed, must outlive the bridge. Opens the SMPP link (started by
 * bridge_start) and loads the outbox and incomplete incoming messages from the store. */
Bridge *bridge_new(TtTransport *t, SmsGwConfig *cfg);
void bridge_start(Bridge *b);
/* unbind, stop timers (the outbox stays in the store) */
void bridge_stop(Bridge *b);
void bridge_free(Bridge *b);

/* TtHandlers with the Bridge as user data */
void bridge_on_connected(TtTransport *t, gpointer bridge);
gboolean bridge_on_message(TtTransport *t, xmpp_stanza_t *message, gpointer bridge);
gboolean bridge_on_presence(TtTransport *t, xmpp_stanza_t *presence, gpointer bridge);
gboolean bridge_on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer bridge);
void bridge_on_unregistered(TtTransport *t, const char *user, gpointer bridge);
char *bridge_legacy_to_jid(TtTransport *t, const char *legacy, gpointer bridge);

/* SMS waiting in the outbox (for tests and logs). */
guint bridge_outbox_length(Bridge *b);
