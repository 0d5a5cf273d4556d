/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/component.h — XEP-0114 components: listener, handshake, routes, queues, keepalive */
#pragma once

#include <glib.h>
#include "router/server.h"
#include "router/stanza.h"

/* Read [components] and every [component <domain>], register each domain's route (it stays
 * registered while the component is away, so its stanzas are queued or bounced, never sent
 * to the s2s default route), start the listener. FALSE + error (CONFIG_ERROR for a wrong
 * section, "file: [component x]: what"). */
gboolean component_init(Server *srv, GError **error);
/* Stop timers and hooks, free what is left (after server_shutdown). Safe without init. */
void component_fini(void);
/* Shutdown: close every component stream with err and bounce the queued stanzas; how many
 * streams were open. */
guint component_close_all(StreamErr err, const char *text);
/* Component connections, authenticated or not (shutdown waits for 0). */
guint component_count(void);

/* One configured component, for ternctl and the HTTP API. */
typedef struct {
    char *domain;      /* prepared */
    guint connections; /* authenticated connections now; 0 = away */
    gint64 since;      /* wall clock (µs) of the oldest of them; 0 when away */
    guint queued;      /* stanzas held while away ([component x] queue) */
} ComponentInfo;

void component_info_free(ComponentInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ComponentInfo, component_info_free)
/* Every configured component in config order, connected or away (GPtrArray of
 * ComponentInfo* with its free function). transfer full */
GPtrArray *component_list(void);
