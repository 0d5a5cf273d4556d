/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/server.h — what one running ternd holds: config, storage, TLS, listeners */
#pragma once

#include <glib.h>
#include "router/config.h"
#include "router/stream.h"
#include "router/tls.h"
#include "storage/storage.h"

#define TERN_NAME "Tern"

typedef struct Server Server;
struct Server {
    Config *config;       /* owned */
    Store *store;         /* owned */
    TlsStore *tls;        /* owned */
    char **domains;       /* prepared hosted domains, owned */
    GPtrArray *listeners; /* Listener*, owned */
    gboolean shutting_down;
    /* limits read once from the config (the table holds the defaults) */
    gsize c2s_stanza_size, preauth_stanza_size, outbuf_size;
    guint max_depth, max_attrs, preauth_timeout, idle_ping, ping_timeout;
};

/* Open storage and certificates, register the hosted domains, start listening.
 * transfer full; NULL + error (message says what and where). */
Server *server_new(Config *config /* transfer full */, GError **error);
/* Close every stream with a system-shutdown error; calls done() when they are gone. */
void server_shutdown(Server *srv, GSourceFunc done, gpointer ud);
void server_free(Server *srv);
/* A new stream's settings before authentication: its parser limits, the outbound buffer
 * ([limits] outbuf_size) and the read-rate bucket [limits] <kind>_read_rate and
 * <kind>_read_burst (kind: "c2s", "s2s" or "component"). */
void server_stream_limits(Server *srv, Stream *s, const XmlLimits *lim, const char *kind);
/* SIGHUP: reload certificates (config keys that are safe to change: log level). */
void server_reload(Server *srv);
gboolean server_is_hosted(const Server *srv, const char *domain);
