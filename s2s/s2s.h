/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/s2s.h — server-to-server federation: links, streams, dialback, SASL EXTERNAL */
#pragma once

#include <glib.h>
#include "router/server.h"
#include "router/stanza.h"
#include "router/stream.h"
#include "s2s/resolve.h"

#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_SM "urn:xmpp:sm:3" /* XEP-0198, acks only on s2s (no resumption) */

/* ---- public: server startup (router/server.c) ---- */

/* Read [s2s], start the listeners, become the router's default route. With enabled =
 * false nothing happens (the router answers <remote-server-not-found/>). */
gboolean s2s_init(Server *srv, GError **error);
void s2s_fini(void);
/* Close every s2s stream with err (shutdown); how many were open. */
guint s2s_close_all(StreamErr err, const char *text);
guint s2s_count(void);

/* ---- shared by the s2s files ---- */

typedef struct S2sOut S2sOut;
typedef struct S2sIn S2sIn;

/* RFC 6125 verdict on a peer certificate for one domain. */
typedef enum {
    CERT_NONE,      /* no TLS or no certificate */
    CERT_UNTRUSTED, /* chain not valid (self-signed, unknown CA, expired...) */
    CERT_MISMATCH,  /* chain valid, but not for this domain */
    CERT_VALID,
} CertStatus;

typedef enum {
    LINK_WAIT,  /* waiting for a stream to carry it (resolving, connecting, negotiating) */
    LINK_AUTH,  /* dialback result sent, waiting for the answer */
    LINK_READY, /* authenticated: stanzas flow */
} LinkState;

/* One (local, remote) domain pair we send on. Owned by the link table in s2s.c. */
typedef struct {
    char *local, *remote;
    LinkState state;
    GQueue queue;     /* Stanza* waiting (owned) */
    S2sOut *out;      /* the stream carrying it, borrowed; NULL when none */
    const char *auth; /* "sasl-external" / "dialback" once ready */
    gint64 since;     /* wall clock (µs) the link was created */
    guint retries;    /* reconnects after a broken stream */
} S2sLink;

typedef struct {
    Server *srv;
    Resolver *resolver;
    XmlLimits preauth_limits, limits;
    gboolean require_tls, require_valid_cert, dialback;
    char **secure_domains, **insecure_domains, **allow_domains, **deny_domains; /* borrowed */
    guint queue_size, connect_timeout, idle_timeout, max_streams_per_ip;
    gboolean stopping; /* shutdown: no reconnects */
} S2sConfig;

extern S2sConfig s2s_conf;

/* s2s.c: policy and the link table */
/* A hosted domain or one of our components: we speak for it. */
gboolean s2s_is_ours(const char *domain);
gboolean s2s_domain_allowed(const char *domain);
gboolean s2s_needs_valid_cert(const char *domain);
S2sLink *s2s_link_find(const char *local, const char *remote);
/* The link became ready: send its queue. */
void s2s_link_ready(S2sLink *l, const char *auth);
/* The link failed: bounce its queue with err and remove it. */
void s2s_link_fail(S2sLink *l, StanzaErr err, const char *text);
/* The stream carrying l broke: put back what was not delivered (transfer full, in order,
 * at the front) and reconnect, or bounce when out of retries. */
void s2s_link_broken(S2sLink *l, GQueue *requeue);
void s2s_status_changed(void);

/* out.c: outgoing streams */
/* An outgoing stream for (local, remote): connect and negotiate. */
S2sOut *s2s_out_new(const char *local, const char *remote);
/* An open stream to remote that may carry another pair (piggybacking), or NULL. */
S2sOut *s2s_out_find(const char *local, const char *remote);
/* Attach l to out: dialback for it (or ready at once when the pair is authenticated). */
void s2s_out_attach(S2sOut *out, S2sLink *l);
/* Can stanzas go out on it now? FALSE too while [s2s] queue_size stanzas wait for a
 * XEP-0198 ack (the link queues them meanwhile). */
gboolean s2s_out_ready(const S2sOut *out);
/* Send st (transfer full) on l's ready stream. */
void s2s_out_send(S2sOut *out, Stanza *st);
/* Ask remote's authoritative server whether key is right (XEP-0220 §2.1.3): db:verify
 * from local to remote for stream id; done(valid, ud) comes once, from the loop. */
typedef void (*S2sVerifyFunc)(gboolean valid, gpointer ud);
void s2s_out_verify(const char *local, const char *remote, const char *id, const char *key,
                    S2sVerifyFunc done, gpointer ud);
/* Cancel every pending verification whose ud is ud (the incoming stream went away). */
void s2s_out_verify_cancel(gpointer ud);
void s2s_out_close_idle(gint64 now);
guint s2s_out_close_all(StreamErr err, const char *text);
void s2s_out_free_all(void);
guint s2s_out_count(void);
/* For status: a number per stream, "direct-tls" / "starttls" / "plain" (static). */
guint s2s_out_serial(const S2sOut *out);
/* The RFC 6125 verdict on the peer's certificate for the remote domain. */
CertStatus s2s_out_peer_cert(const S2sOut *out);
const char *s2s_out_via(const S2sOut *out);
/* "TLSv1.3", or "none" (static). */
const char *s2s_out_tls_version(const S2sOut *out);
/* XEP-0198 on the stream: "on" or "off" (static). */
const char *s2s_out_sm(const S2sOut *out);

/* in.c: incoming streams */
gboolean s2s_in_init(GError **error);
void s2s_in_close_idle(gint64 now);
guint s2s_in_close_all(StreamErr err, const char *text);
void s2s_in_free_all(void);
guint s2s_in_count(void);
void s2s_in_foreach(void (*fn)(S2sIn *in, gpointer ud), gpointer ud);
/* Status groups "link N" for the stream's pairs; *n counts on. */
void s2s_in_describe(S2sIn *in, GKeyFile *kf, guint *n);

/* dialback.c: XEP-0220 with keys per XEP-0185 */
void dialback_init(void);
void dialback_fini(void);
/* hex HMAC-SHA256(SHA256(secret), receiving ' ' originating ' ' id). transfer full */
char *dialback_key(const char *receiving, const char *originating, const char *id);
/* Constant-time check of a key received in db:verify. */
gboolean dialback_key_check(const char *receiving, const char *originating, const char *id,
                            const char *key);
/* <db:result/> / <db:verify/> builders (transfer full); type/id/key may be NULL. */
XmlNode *dialback_element(const char *name, const char *from, const char *to, const char *type,
                          const char *id, const char *key);
/* Add <error type=... ><cond/></error> (XEP-0220 §2.4) to a db element. */
void dialback_add_error(XmlNode *db, StanzaErr err);

/* sasl_external.c: XEP-0178 */
/* Outgoing: the <auth mechanism='EXTERNAL'/> for local (transfer full). */
XmlNode *sasl_external_auth(const char *local);
/* Incoming: is EXTERNAL in the peer's <mechanisms/>? */
gboolean sasl_external_offered(const XmlNode *features);
/* Incoming <auth/> (borrowed): the authenticated domain (transfer full) or NULL with the
 * SASL failure condition in *cond ("not-authorized", "invalid-authzid", ...). */
char *sasl_external_check(const XmlNode *auth, const char *stream_from, CertStatus cert,
                          const char **cond);

/* verify.c: RFC 6125 */
/* The verdict on the peer certificate of conn's TLS session for domain. */
CertStatus verify_peer_cert(Conn *conn, const char *domain);
/* Does the certificate name domain (DNS-ID incl. leftmost wildcard, XmppAddr; CN-ID only
 * when no subjectAltName identifier is present)? */
gboolean verify_cert_names(X509 *cert, const char *domain);
const char *cert_status_name(CertStatus st);
