/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/conn.h — connections: a vtable per kind (tcp, tls), coalesced writes, listeners */
#pragma once

#include <glib.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#define CONN_ERROR (conn_error_quark())
GQuark conn_error_quark(void);
typedef enum {
    CONN_ERROR_IO,       /* read/write error */
    CONN_ERROR_EOF,      /* peer closed */
    CONN_ERROR_TLS,      /* TLS handshake or record error */
    CONN_ERROR_OVERFLOW, /* outbound buffer over its limit */
} ConnError;

typedef struct Conn Conn;

typedef struct {
    /* Bytes arrived (plaintext after TLS). Return FALSE to stop reading this batch
     * (e.g. the connection is being closed / restarted); unread bytes are dropped. */
    gboolean (*on_data)(Conn *c, const char *buf, gsize len, gpointer ud);
    /* The connection is gone (EOF, error, overflow). Called once; the owner then calls
     * conn_free(). err borrowed. */
    void (*on_closed)(Conn *c, const GError *err, gpointer ud);
    /* The TLS handshake finished (server side after conn_start_tls). May be NULL. */
    void (*on_tls_ready)(Conn *c, gpointer ud);
} ConnCallbacks;

/* A connected socket (nonblocking is set here). Owned by the caller; conn_free closes. */
Conn *conn_new(int fd, const ConnCallbacks *cb, gpointer ud);
void conn_free(Conn *c);
/* Limits: outbound buffer bytes (over -> on_closed with CONN_ERROR_OVERFLOW). */
void conn_set_max_outbuf(Conn *c, gsize max);
/* An idle stream rests: give back the empty outbound buffer (conn_write makes a new one). */
void conn_release_idle(Conn *c);
/* Queue bytes; written once per main-loop turn (coalesced). */
void conn_write(Conn *c, const char *buf, gsize len);
void conn_write_str(Conn *c, const char *s);
/* Try to write queued bytes now. */
void conn_flush(Conn *c);
/* A group commit (c2s/mod_offline.c, c2s/mod_mam.c): writes gathered during a main-loop
 * turn are committed once, in each turn that has output to write, before it is written,
 * so that whatever that output acknowledges is durable first and the output still leaves
 * in the same turn; in a turn without output, by an idle at high priority. While one
 * waits, output is written only at the end of a long turn, not every CONN_FLUSH_EVERY
 * connections. Process-wide, at most 8 registered. */
typedef struct {
    void (*commit)(void); /* writes what was gathered; set before conn_group_commit_add */
    guint idle;           /* private: the idle, while a commit waits */
} ConnGroupCommit;
void conn_group_commit_add(ConnGroupCommit *g);
/* Unregisters g, after committing what waits (shutdown: what was accepted is written). */
void conn_group_commit_remove(ConnGroupCommit *g);
/* Something was gathered: commit it before this turn's output (or by the idle). */
void conn_group_commit_schedule(ConnGroupCommit *g);
/* Commit what waits now (a reader that must see it); nothing when nothing waits. */
void conn_group_commit_now(ConnGroupCommit *g);
/* Flush what is queued, then shut the connection down (TLS close_notify, then close).
 * on_closed is called when done (err NULL). Reading stops at once. */
void conn_close(Conn *c);
/* Bytes queued so far (a mark for conn_when_sent). */
guint64 conn_queued_mark(const Conn *c);
/* Call fn(ud) once every byte queued up to mark was handed to the kernel (at once when it
 * already was). When the connection ends first, fn is never called; destroy(ud) always is. */
void conn_when_sent(Conn *c, guint64 mark, void (*fn)(gpointer ud), gpointer ud,
                    GDestroyNotify destroy);
/* Bytes written to the socket so far, as they go on the wire (TLS records included), and
 * how many of them the peer's TCP acknowledged (SIOCOUTQ; frozen when the connection
 * closes). A mark taken with conn_wire_sent() inside a conn_when_sent() callback is acked
 * once conn_wire_acked() reaches it. */
guint64 conn_wire_sent(const Conn *c);
guint64 conn_wire_acked(const Conn *c);
/* Pause/resume reading (flow control). */
void conn_pause_reading(Conn *c, gboolean paused);
/* Read rate (token bucket): at most bytes_per_s on average, burst at once (0: one
 * second's worth; the bucket starts full). When it is empty reading stops (the bytes wait
 * in the kernel, TCP pushes back) and resumes from a timer; nothing is dropped.
 * bytes_per_s 0 = unlimited (the default). Counts plaintext (after TLS). */
void conn_set_read_rate(Conn *c, guint64 bytes_per_s, guint64 burst);

/* ---- the virtual kind: no socket, a message transport (WebSocket, BOSH) behind it ----
 * Every conn_write() is one message: at flush time (once per main-loop turn, as for tcp)
 * each is handed to sink->send in order, boundaries kept. conn_close() flushes, then calls
 * sink->close; so does any other end of the connection that the transport did not report
 * itself (outbound buffer overflow, conn_free). After sink->close the transport must not
 * touch the Conn again. conn_when_sent marks complete when the bytes reached sink->send. */
typedef struct {
    /* One message (borrowed for the call). */
    void (*send)(gpointer sink_ud, const char *buf, gsize len);
    /* The Conn ends: close the transport. Called once, never after conn_virtual_gone(). */
    void (*close)(gpointer sink_ud);
} ConnSink;
/* peer_addr copied; secure: HTTPS or a loopback peer (see conn_is_secure). */
Conn *conn_new_virtual(const ConnCallbacks *cb, gpointer ud, const ConnSink *sink, gpointer sink_ud,
                       const char *peer_addr, gboolean secure);
/* The transport received one message: on_data with exactly these bytes (if still open). */
void conn_virtual_feed(Conn *c, const char *buf, gsize len);
/* The transport is gone: on_closed follows with CONN_ERROR_EOF; sink is never called again. */
void conn_virtual_gone(Conn *c);
gboolean conn_is_virtual(const Conn *c);
/* TLS, or a virtual connection its transport vouches for (HTTPS, loopback). */
gboolean conn_is_secure(const Conn *c);

/* Server-side TLS: after the queued plaintext (e.g. <proceed/>) is written, start the
 * handshake. Bytes read but not yet delivered are discarded (RFC 6120 §5.4.3.3).
 * on_tls_ready follows, or on_closed with CONN_ERROR_TLS. ctx borrowed (ref'd). */
void conn_start_tls(Conn *c, SSL_CTX *ctx);
/* Client-side TLS (s2s out): after the queued plaintext is written, send the ClientHello
 * with SNI sni (copied, may be NULL). The chain is verified against ctx's store but the
 * handshake never fails on it: read SSL_get_verify_result(conn_ssl(c)) afterwards. */
void conn_start_tls_client(Conn *c, SSL_CTX *ctx, const char *sni);
/* Server side: ask the peer for a certificate (s2s, XEP-0178); any certificate is accepted
 * by the handshake, the verdict stays in SSL_get_verify_result(). Before conn_start_tls. */
void conn_set_verify_peer(Conn *c, gboolean verify);
gboolean conn_is_tls(const Conn *c);
SSL *conn_ssl(const Conn *c);              /* borrowed, NULL when not TLS */
const char *conn_peer_addr(const Conn *c); /* "127.0.0.1" */
const char *conn_sni(const Conn *c);       /* server name the client asked for, or NULL */
const char *conn_alpn(const Conn *c);      /* negotiated ALPN protocol or NULL */
/* Channel binding data (RFC 9266 tls-exporter / RFC 5929 tls-server-end-point).
 * transfer full; NULL when not available (e.g. tls-exporter on TLS < 1.3). */
GBytes *conn_channel_binding(const Conn *c, const char *type);
/* Time of last read/write activity (g_get_monotonic_time()). */
gint64 conn_last_activity(const Conn *c);

/* Outgoing TCP connect, nonblocking. fn is called exactly once from the main loop (never
 * from inside conn_connect) with the connected fd (transfer full) or -1 and an error
 * (CONN_ERROR_IO; timeout_ms 0 = the kernel's own timeout), unless cancelled first. */
typedef struct ConnConnect ConnConnect;
typedef void (*ConnConnectFunc)(int fd, const GError *error, gpointer ud);
ConnConnect *conn_connect(const struct sockaddr *addr, socklen_t len, guint timeout_ms,
                          ConnConnectFunc fn, gpointer ud);
/* Cancel a pending connect: fn is not called, the socket is closed. */
void conn_connect_cancel(ConnConnect *cc);

/* Listeners */
typedef struct Listener Listener;
/* accept callback: fd transfer full. */
typedef void (*ListenerAcceptFunc)(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud);
/* addr: "127.0.0.1:5222", "[::]:5222", "*:5222". NULL + error when it cannot bind. */
Listener *listener_new(const char *addr, ListenerAcceptFunc fn, gpointer ud, GError **error);
void listener_free(Listener *l);
guint16 listener_port(const Listener *l);

/* Parse "host:port" / "[v6]:port" (borrowed) into host (transfer full) and port. */
gboolean conn_parse_hostport(const char *s, char **host, guint16 *port, GError **error);
