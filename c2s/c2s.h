/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/c2s.h — client sessions (RFC 6120): TLS, SASL, bind, then stanzas */
#pragma once

#include <glib.h>
#include "router/server.h"
#include "router/stanza.h"
#include "router/stream.h"
#include "c2s/scram.h"

typedef enum {
    C2S_STATE_CONNECTED, /* stream open, not authenticated */
    C2S_STATE_AUTHED,    /* SASL done, not bound */
    C2S_STATE_BOUND,     /* resource bound: stanzas flow */
} C2sState;

typedef struct C2sSession C2sSession;
struct C2sSession {
    Server *srv;
    Stream *stream; /* owned */
    C2sState state;
    /* flags, packed (one session per connected client) */
    guint available : 1;
    guint roster_requested : 1; /* interested resource: gets roster pushes (RFC 6121 §2.1.6) */
    guint offline_sent : 1;     /* offline messages were flushed to this session */
    guint sm_enabled : 1;
    guint sm_resumable : 1;
    guint sm_hibernating : 1;
    guint carbons : 1;      /* XEP-0280 enabled */
    guint csi_inactive : 1; /* XEP-0352 */
    char *domain;           /* the stream's 'to' (a hosted domain), fixed at first header */
    char *username;         /* prepared localpart after SASL */
    Jid *jid;               /* full JID after bind */
    /* SASL */
    char *mech;
    ScramServer *scram;
    guint auth_failures;
    guint delay_src;
    /* presence */
    int priority;
    Stanza *presence;     /* last broadcast presence, owned */
    GHashTable *directed; /* JIDs (strings) that got directed available presence */
    /* keepalive (XEP-0199) */
    char *ping_id;
    gint64 ping_sent;
    /* XEP-0198 stream management (c2s/streammgmt.c) */
    char *sm_id;         /* resumption id */
    guint32 sm_h_in;     /* stanzas handled from the client */
    guint32 sm_h_acked;  /* our stanzas the client acknowledged */
    GQueue sm_unacked;   /* SmItem*, oldest first */
    guint sm_timer;      /* resumption timeout while hibernating */
    guint sm_since_r;    /* stanzas sent since our last <r/> */
    char *peer_ip;       /* counted in the per-address connection limit */
    gint64 since;        /* wall clock (µs) of the connection (HTTP admin API) */
    guint phase_src;     /* stream-open / TLS handshake timer */
    GPtrArray *csi_held; /* XmlNode* held while inactive */
    GList link;          /* in the list of all sessions */
};

gboolean c2s_init(Server *srv, GError **error);
/* A client session over a web transport (http/ws.c, http/bosh.c): an RFC 7395 framed stream
 * on a virtual connection, the same session otherwise (SASL, bind, XEP-0198, limits,
 * timeouts). Returns the connection to feed (borrowed: valid until sink->close is called or
 * the transport calls conn_virtual_gone()), or NULL when refused (shutting down, too many
 * connections from peer_ip). secure: HTTPS or a loopback peer (PLAIN and auth allowed). */
Conn *c2s_accept_framed(const ConnSink *sink, gpointer sink_ud, const char *peer_ip,
                        gboolean secure);
void c2s_fini(void);
/* Send a stanza to this client (borrowed). With stream management it is kept until the
 * client acknowledges it; a hibernating session only queues. */
void c2s_session_send(C2sSession *cs, const Stanza *st);
void c2s_send_el(C2sSession *cs, const XmlNode *el);
/* Put it on the wire now (XEP-0198 tracking included), past any CSI holding. */
void c2s_transmit(C2sSession *cs, const XmlNode *el);
/* End a session for good (frees it when its stream is already gone). */
void c2s_session_end(C2sSession *cs);
/* Close every client stream with err (shutdown). Returns how many were open. */
guint c2s_close_all(StreamErr err, const char *text);
guint c2s_count(void);

/* c2s/sasl.c — RFC 6120 §6 */
void sasl_features(C2sSession *cs, XmlNode *features);
/* Handles an element in urn:ietf:params:xml:ns:xmpp-sasl (transfer full). */
void sasl_handle(C2sSession *cs, XmlNode *el);
void sasl_session_clear(C2sSession *cs);
/* Failed authentications (wrong credentials) since the start, all streams (metrics). */
guint64 c2s_auth_failure_count(void);
