/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve.h — c-ares in the GLib main loop: SRV (RFC 2782, XEP-0368) and A/AAAA */
#pragma once

#include <glib.h>
#include <sys/socket.h>

#define RESOLVE_ERROR (resolve_error_quark())
GQuark resolve_error_quark(void);
typedef enum {
    RESOLVE_ERROR_NOT_FOUND, /* no such domain / no usable record / "." target */
    RESOLVE_ERROR_TIMEOUT,
    RESOLVE_ERROR_FAILED, /* other c-ares failure (message has the c-ares reason) */
} ResolveError;

/* One address to try, in order. */
typedef struct {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char *host; /* SRV target or the domain itself (for logs / SNI is the domain) */
    guint16 port;
    gboolean direct_tls; /* from _xmpps-server._tcp (XEP-0368) */
} ResolveCandidate;

typedef struct Resolver Resolver;
typedef struct ResolveQuery ResolveQuery;

/* servers: "" = system resolv.conf; else "127.0.0.1:5353,[::1]:53". NULL + error when
 * c-ares cannot be set up. Lives on the thread-default main context. */
Resolver *resolver_new(const char *servers, GError **error);
void resolver_free(Resolver *r);

/* Candidates (GPtrArray of ResolveCandidate*, with free func; transfer full) for reaching
 * an XMPP server for domain, ordered: SRV per RFC 2782 (priority, weighted random) for
 * _xmpps-server._tcp and _xmpp-server._tcp merged by priority, each target's A/AAAA;
 * without SRV records, A/AAAA of the domain on port 5269. Exactly one callback per query,
 * never from inside resolver_lookup_s2s itself. Answers are cached for their TTL. */
typedef void (*ResolveDoneFunc)(GPtrArray *candidates, const GError *error, gpointer ud);
/* (On error candidates is NULL; on success error is NULL and candidates is non-empty.) */
ResolveQuery *resolver_lookup_s2s(Resolver *r, const char *domain, ResolveDoneFunc cb, gpointer ud);
/* Overall deadline of each query started afterwards (default 15000 ms): when it passes the
 * callback gets RESOLVE_ERROR_TIMEOUT. For tests and a future config key. */
void resolver_set_deadline(Resolver *r, guint deadline_ms);
/* Cancel: the callback is not called. q is invalid once its callback has run or after this. */
void resolver_cancel(ResolveQuery *q);
void resolve_candidate_free(ResolveCandidate *c);
