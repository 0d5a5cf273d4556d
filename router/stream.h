/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/stream.h — the one stream engine: framing, restarts, TLS, errors, limits */
#pragma once

#include <glib.h>
#include "router/conn.h"
#include "router/stanza.h"
#include "router/xml.h"

typedef struct Stream Stream;

typedef enum {
    STREAM_STATE_WAIT_OPEN, /* waiting for the peer's stream header */
    STREAM_STATE_OPEN,      /* headers exchanged */
    STREAM_STATE_CLOSING,   /* we sent </stream:stream> */
    STREAM_STATE_CLOSED,    /* connection gone */
} StreamState;

/* Per-kind callbacks (c2s, s2s-in, s2s-out, component, later BOSH/WebSocket). */
typedef struct {
    const char *name;       /* "c2s" for logs */
    const char *content_ns; /* jabber:client, jabber:server, jabber:component:accept */
    /* Extra raw attributes for our stream header, e.g. " xmlns:db='jabber:server:dialback'"
     * (trusted text, may be NULL). */
    const char *header_attrs;
    /* XEP-0114 §3: the peer's header needs no version, ours carries none and no
     * <stream:features/> follow it. */
    gboolean no_version;
    /* The peer's stream header arrived (to/from/version/lang borrowed, may be NULL).
     * Return FALSE after calling stream_error() to refuse it. Incoming: the engine then
     * sends our header (from = stream_set_local_domain()) and calls features(). Outgoing:
     * our header went first; the peer's <stream:features/> arrives through on_element(). */
    gboolean (*on_open)(Stream *s, const char *to, const char *from, const char *version,
                        const char *lang);
    /* Fill <stream:features/> (borrowed node) right after our header (incoming only). */
    void (*features)(Stream *s, XmlNode *features);
    /* One top-level element of the stream. transfer full. */
    void (*on_element)(Stream *s, XmlNode *el);
    /* The stream is ending (peer's </stream:stream>, a stream error, EOF): nothing more is
     * processed; the owner stops routing to it now, before the TCP close. Once; may be NULL. */
    void (*on_ending)(Stream *s);
    /* TLS is up (incoming: before the peer's new header; outgoing: our new header was just
     * sent). May be NULL. */
    void (*on_tls_ready)(Stream *s);
    /* The connection is gone (after an error, a close, or EOF); the owner frees the stream
     * with stream_free() (deferred freeing inside the engine makes this safe). */
    void (*on_closed)(Stream *s);
} StreamKind;

/* An incoming stream on a connected socket. The stream owns the connection. */
Stream *stream_new_incoming(const StreamKind *kind, int fd, gpointer owner);

/* RFC 7395 framing, used by WebSocket and BOSH (http/ws.c, http/bosh.c). An incoming stream
 * on a virtual connection (router/conn.h) whose transport delivers one message per element:
 * conn_virtual_feed() each message; each must be exactly one complete element (restricted
 * XML, the stream's limits). <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/> stands for
 * the stream header (also after a restart), <close/> for </stream:stream>. Our output: one
 * message per element, each a standalone document: <open/>, <stream:features
 * xmlns:stream=...>, stanzas with xmlns='jabber:client', <stream:error xmlns:stream=...>,
 * <close/>. No STARTTLS: security is the transport's (secure: HTTPS or loopback). */
#define NS_FRAMING "urn:ietf:params:xml:ns:xmpp-framing"
Stream *stream_new_framed(const StreamKind *kind, const ConnSink *sink, gpointer sink_ud,
                          const char *peer_addr, gboolean secure, gpointer owner);
gboolean stream_is_framed(const Stream *s);
/* TLS, or a framed stream whose transport is HTTPS or on loopback. */
gboolean stream_is_secure(const Stream *s);
/* An outgoing stream on a connected socket (s2s out). Set the local and peer domains, then
 * call stream_open() (plaintext / STARTTLS) or stream_start_direct_tls_client(): our header
 * goes first (from = local, to = peer), the peer's header and features follow. */
Stream *stream_new_outgoing(const StreamKind *kind, int fd, gpointer owner);
gboolean stream_is_outgoing(const Stream *s);
/* Send our stream header (outgoing). */
void stream_open(Stream *s);
/* The peer's domain: incoming, the 'from' of its header; outgoing, set by the owner and
 * written as 'to' (copied). */
void stream_set_peer_domain(Stream *s, const char *domain);
const char *stream_peer_domain(const Stream *s);
/* The 'id' of the peer's current stream header (outgoing: the id the receiving server
 * chose, as dialback keys need it), or NULL. */
const char *stream_peer_id(const Stream *s);
/* Incoming: ask the peer for a certificate when TLS starts (s2s). Before the handshake. */
void stream_set_verify_peer(Stream *s, gboolean verify);
void stream_free(Stream *s);
gpointer stream_owner(const Stream *s);
Conn *stream_conn(const Stream *s);
const char *stream_id(const Stream *s);
StreamState stream_state(const Stream *s);
gboolean stream_is_tls(const Stream *s);
const char *stream_peer_addr(const Stream *s);

/* Parser limits for the stream and its later restarts. */
void stream_set_limits(Stream *s, const XmlLimits *limits);
void stream_set_max_outbuf(Stream *s, gsize max);
/* Our domain for the 'from' of our stream header (copied). */
void stream_set_local_domain(Stream *s, const char *domain);
const char *stream_local_domain(const Stream *s);
const char *stream_lang(const Stream *s);

/* Direct TLS (XEP-0368): handshake first, then the stream. ctx borrowed. */
void stream_start_direct_tls(Stream *s, SSL_CTX *ctx);
/* STARTTLS: send <proceed/>, drop whatever the peer sent after <starttls/>, handshake,
 * then expect a new stream header (RFC 6120 §5.4.3.3). */
void stream_starttls(Stream *s, SSL_CTX *ctx);
/* Outgoing direct TLS (XEP-0368): handshake as the client, then our header. */
void stream_start_direct_tls_client(Stream *s, SSL_CTX *ctx, const char *sni);
/* Outgoing STARTTLS, after the peer's <proceed/>: drop whatever follows it, handshake as
 * the client with SNI sni, then send a new header (RFC 6120 §5.4.3.3). */
void stream_starttls_client(Stream *s, SSL_CTX *ctx, const char *sni);
/* Expect a new stream header after the current element (SASL success, RFC 6120 §6.4.6);
 * outgoing: our new header is sent at once (RFC 6120 §6.4.6 for the initiating entity);
 * bytes the peer pipelined after it go to the fresh parser. */
void stream_restart(Stream *s);

/* Output: serialized in the stream's content namespace, coalesced per loop turn. */
void stream_send(Stream *s, const XmlNode *el);
void stream_send_stanza(Stream *s, const Stanza *st);
void stream_send_raw(Stream *s, const char *xml);

/* RFC 6120 §4.9: send <stream:error> (with our header first when none was sent), close
 * the stream and the connection. text may be NULL. */
void stream_error(Stream *s, StreamErr err, const char *text);
/* Send </stream:stream> and close once the peer closes too (or after a timeout). */
void stream_close(Stream *s);

/* Total pre-authentication deadline etc.: when it fires, stream_error(err). 0 cancels. */
void stream_set_deadline(Stream *s, guint seconds, StreamErr err);

/* Why a stream ended (XEP-0198 resumption only follows a broken connection). */
typedef enum {
    STREAM_END_NONE,       /* still open */
    STREAM_END_PEER_CLOSE, /* the peer sent </stream:stream> */
    STREAM_END_LOCAL,      /* we closed it (stream_close) */
    STREAM_END_ERROR,      /* we sent a stream error */
    STREAM_END_BROKEN,     /* the connection dropped (EOF, I/O or TLS error) */
} StreamEnd;
StreamEnd stream_end_reason(const Stream *s);
/* Hand the stream to another owner (XEP-0198 resumption moves it to the old session). */
void stream_set_owner(Stream *s, gpointer owner);

/* Generate a random stream id / resource-like token (transfer full). */
char *stream_random_id(void);
