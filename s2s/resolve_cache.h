/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve_cache.h — parsed DNS answers (SRV, A/AAAA) with their TTL, and a bounded cache */
#pragma once

#include <ares.h>
#include <glib.h>
#include <sys/socket.h>

#define RESOLVE_TTL_MAX 3600    /* s: cap on a positive answer's TTL */
#define RESOLVE_TTL_NEGATIVE 60 /* s: NXDOMAIN / no data */
#define RESOLVE_SRV_MAX 64      /* SRV records kept per answer (the lowest priorities) */

typedef struct {
    struct sockaddr_storage addr; /* port 0 */
    socklen_t len;
} ResolveAddr;

/* Immutable once built and refcounted: the cache and the queries share it. */
typedef struct {
    int status;          /* ARES_SUCCESS or the c-ares failure */
    gboolean no_service; /* SRV: the only record has target "." (RFC 2782) */
    GArray *srv;         /* SrvRecord (s2s/srv_order.h), targets owned here; SRV answers */
    GArray *addrs;       /* ResolveAddr; address answers */
} ResolveAnswer;

/* From an ares_query callback for an SRV name (abuf borrowed). *ttl_s: how long to cache it,
 * <= 0 for not at all (TTL 0, a failure that is not NXDOMAIN/no data, a malformed reply). */
ResolveAnswer *resolve_answer_from_srv(int status, const unsigned char *abuf, int alen,
                                       gboolean direct_tls, gint64 *ttl_s);
/* From an ares_getaddrinfo callback (res borrowed), keeping at most max_addrs addresses. */
ResolveAnswer *resolve_answer_from_addrinfo(int status, const struct ares_addrinfo *res,
                                            guint max_addrs, gint64 *ttl_s);
ResolveAnswer *resolve_answer_ref(ResolveAnswer *a);
void resolve_answer_unref(ResolveAnswer *a);

/* NXDOMAIN or no data: cached as a negative answer. */
gboolean resolve_status_negative(int status);

/* The smallest TTL in a DNS message's answer section (RFC 1035 §4.1, RFC 2181 §8), or -1
 * when the message is malformed or has no answer. Bounds-checked: m comes from the network.
 * (c-ares 1.18's ares_parse_srv_reply does not report TTLs.) */
gint64 resolve_dns_min_ttl(const unsigned char *m, gsize len);

/* Answers by key ("srv:<name>", "addr:<host>"), expiring with their TTL; when full, the
 * oldest insertion is evicted. */
typedef struct ResolveCache ResolveCache;
ResolveCache *resolve_cache_new(guint max_entries);
void resolve_cache_free(ResolveCache *c);
/* transfer full; NULL on a miss or an expired entry */
ResolveAnswer *resolve_cache_get(ResolveCache *c, const char *key);
/* a borrowed; nothing is stored when ttl_s <= 0 */
void resolve_cache_put(ResolveCache *c, const char *key, ResolveAnswer *a, gint64 ttl_s);
guint resolve_cache_size(ResolveCache *c);
