/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_srv.c — hostile DNS answers through the s2s resolver's parsing and ordering */
#include "tests/fuzz/fuzz.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "s2s/resolve_cache.h"
#include "s2s/srv_order.h"

/*
 * Input: [flags] [len_hi] [len_lo] message1 message2
 *   message1 (len bytes, clamped) is the answer for _xmpps-server._tcp, message2 the rest
 *   for _xmpp-server._tcp, as c-ares hands them to srv_cb() in s2s/resolve.c; the same
 *   bytes are also read as A (message1) and AAAA (message2) answers. flags: bits 0-4 the
 *   `max` of srv_order (0 -> 32, the resolver's MAX_TARGETS); the rest seed the picks.
 * Checks (what s2s/resolve.c relies on): TTLs within [0, RESOLVE_TTL_MAX]; at most
 * RESOLVE_SRV_MAX records, each with a lower-case non-empty target other than "." and a
 * non-zero port; srv_order returns a permutation sorted by priority in its first `max`
 * places; srv_merge keeps priority order with direct TLS first at equal priority.
 */

#define MAX_TARGETS 32

typedef struct {
    guint32 state;
} Picks;

/* a deterministic SrvRandFunc: xorshift from the flags byte; answers within [0, max] */
static guint64 pick(guint64 max, gpointer ud)
{
    Picks *p = ud;
    p->state ^= p->state << 13;
    p->state ^= p->state >> 17;
    p->state ^= p->state << 5;
    return max == G_MAXUINT64 ? p->state : p->state % (max + 1);
}

static void check_answer(const ResolveAnswer *a, gint64 ttl, gboolean direct_tls)
{
    FUZZ_CHECK(ttl <= RESOLVE_TTL_MAX, "ttl %" G_GINT64_FORMAT, ttl);
    FUZZ_CHECK(a->srv != NULL && a->srv->len <= RESOLVE_SRV_MAX, "srv records");
    if (a->no_service)
        FUZZ_CHECK(a->srv->len == 0 && a->status == ARES_SUCCESS, "no_service with records");
    if (a->status != ARES_SUCCESS)
        FUZZ_CHECK(a->srv->len == 0, "records in a failed answer");
    for (guint i = 0; i < a->srv->len; i++) {
        const SrvRecord *r = &g_array_index(a->srv, SrvRecord, i);
        FUZZ_CHECK(r->target != NULL && *r->target && strcmp(r->target, ".") != 0, "target");
        FUZZ_CHECK(r->port != 0, "port 0 kept");
        FUZZ_CHECK(r->direct_tls == direct_tls, "direct_tls");
        for (const char *c = r->target; *c; c++)
            FUZZ_CHECK(!g_ascii_isupper(*c), "target '%s' not lower case", r->target);
    }
}

static gint cmp_ptr(gconstpointer a, gconstpointer b, gpointer ud)
{
    const char *x = ((const SrvRecord *)a)->target, *y = ((const SrvRecord *)b)->target;
    return x < y ? -1 : x > y;
}

/* srv_order on a copy: a permutation, sorted by priority where it selected */
static SrvRecord *ordered(const ResolveAnswer *a, gsize max, Picks *p, gsize *n_out)
{
    gsize n = a->srv->len, got;
    SrvRecord *recs = g_memdup2(a->srv->data, n * sizeof(SrvRecord));
    SrvRecord *before = g_memdup2(a->srv->data, n * sizeof(SrvRecord));

    got = srv_order(recs, n, max, pick, p);
    FUZZ_CHECK(got == MIN(n, max), "srv_order returned %zu of %zu (max %zu)", got, n, max);
    for (gsize i = 1; i < n; i++) /* selection moves records only within a priority */
        FUZZ_CHECK(recs[i - 1].priority <= recs[i].priority, "priority order broken at %zu", i);
    /* targets are distinct pointers: sorting them compares the two multisets */
    {
        SrvRecord *x = g_memdup2(recs, n * sizeof(SrvRecord));
        g_qsort_with_data(x, (gint)n, sizeof(SrvRecord), cmp_ptr, NULL);
        g_qsort_with_data(before, (gint)n, sizeof(SrvRecord), cmp_ptr, NULL);
        for (gsize i = 0; i < n; i++)
            FUZZ_CHECK(x[i].target == before[i].target && x[i].port == before[i].port &&
                           x[i].weight == before[i].weight,
                       "srv_order is not a permutation");
        g_free(x);
    }
    g_free(before);
    *n_out = got;
    return recs;
}

static void check_addrs(const unsigned char *m, int len, gboolean v6)
{
    struct ares_addrttl v4ttl[16];
    struct ares_addr6ttl v6ttl[16];
    int n = 16, status;
    struct hostent *host = NULL;
    struct ares_addrinfo ai;
    struct ares_addrinfo_node nodes[16];
    struct sockaddr_in sin[16];
    struct sockaddr_in6 sin6[16];
    ResolveAnswer *a;
    gint64 ttl = -7;

    status = v6 ? ares_parse_aaaa_reply(m, len, &host, v6ttl, &n)
                : ares_parse_a_reply(m, len, &host, v4ttl, &n);
    if (host != NULL)
        ares_free_hostent(host);
    if (status != ARES_SUCCESS)
        n = 0;
    FUZZ_CHECK(n >= 0 && n <= 16, "naddrttls %d", n);
    /* the ares_addrinfo that ares_getaddrinfo would hand addr_cb() for these addresses */
    memset(&ai, 0, sizeof ai);
    memset(nodes, 0, sizeof nodes);
    for (int i = 0; i < n; i++) {
        nodes[i].ai_next = i + 1 < n ? &nodes[i + 1] : NULL;
        if (v6) {
            memset(&sin6[i], 0, sizeof sin6[i]);
            sin6[i].sin6_family = AF_INET6;
            memcpy(&sin6[i].sin6_addr, &v6ttl[i].ip6addr, sizeof sin6[i].sin6_addr);
            nodes[i].ai_family = AF_INET6;
            nodes[i].ai_addr = (struct sockaddr *)&sin6[i];
            nodes[i].ai_addrlen = sizeof sin6[i];
            nodes[i].ai_ttl = v6ttl[i].ttl;
        } else {
            memset(&sin[i], 0, sizeof sin[i]);
            sin[i].sin_family = AF_INET;
            sin[i].sin_addr = v4ttl[i].ipaddr;
            nodes[i].ai_family = AF_INET;
            nodes[i].ai_addr = (struct sockaddr *)&sin[i];
            nodes[i].ai_addrlen = sizeof sin[i];
            nodes[i].ai_ttl = v4ttl[i].ttl;
        }
    }
    ai.nodes = n > 0 ? nodes : NULL;
    a = resolve_answer_from_addrinfo(ARES_SUCCESS, &ai, 4, &ttl);
    FUZZ_CHECK(a->addrs->len == (guint)MIN(n, 4), "%u addresses of %d", a->addrs->len, n);
    FUZZ_CHECK(n == 0 ? a->status == ARES_ENODATA && ttl == RESOLVE_TTL_NEGATIVE
                      : a->status == ARES_SUCCESS && ttl >= 0 && ttl <= RESOLVE_TTL_MAX,
               "address answer: status %d ttl %" G_GINT64_FORMAT, a->status, ttl);
    resolve_answer_unref(a);
}

int fuzz_srv(const uint8_t *data, size_t size)
{
    const unsigned char *m1, *m2;
    gsize l1, l2, max, n1 = 0, n2 = 0, merged;
    gint64 ttl1 = -7, ttl2 = -7, min_ttl;
    ResolveAnswer *a1, *a2;
    SrvRecord *o1, *o2, out[MAX_TARGETS];
    Picks p;

    fuzz_init();
    if (size < 3)
        return 0;
    max = data[0] & 31 ? data[0] & 31 : MAX_TARGETS;
    p.state = 0x9E3779B9u ^ data[0];
    l1 = MIN((gsize)data[1] << 8 | data[2], size - 3);
    m1 = data + 3;
    l2 = size - 3 - l1;
    m2 = m1 + l1;

    min_ttl = resolve_dns_min_ttl(m1, l1);
    FUZZ_CHECK(min_ttl >= -1 && min_ttl <= G_MAXINT32, "min ttl %" G_GINT64_FORMAT, min_ttl);

    a1 = resolve_answer_from_srv(ARES_SUCCESS, m1, (int)l1, TRUE, &ttl1);
    a2 = resolve_answer_from_srv(ARES_SUCCESS, m2, (int)l2, FALSE, &ttl2);
    check_answer(a1, ttl1, TRUE);
    check_answer(a2, ttl2, FALSE);

    o1 = ordered(a1, max, &p, &n1);
    o2 = ordered(a2, max, &p, &n2);
    merged = srv_merge(o1, n1, o2, n2, out, MAX_TARGETS);
    FUZZ_CHECK(merged == MIN(n1 + n2, MAX_TARGETS), "srv_merge wrote %zu", merged);
    for (gsize i = 1; i < merged; i++) {
        FUZZ_CHECK(out[i - 1].priority <= out[i].priority, "merge order at %zu", i);
        FUZZ_CHECK(out[i - 1].priority < out[i].priority || out[i - 1].direct_tls ||
                       !out[i].direct_tls,
                   "direct TLS not first at equal priority (XEP-0368 §3)");
    }
    g_free(o1);
    g_free(o2);
    resolve_answer_unref(a1);
    resolve_answer_unref(a2);

    /* a failure status: nothing parsed, negative TTL only for NXDOMAIN/no data */
    a1 = resolve_answer_from_srv(ARES_ENOTFOUND, m1, (int)l1, TRUE, &ttl1);
    FUZZ_CHECK(a1->srv->len == 0 && ttl1 == RESOLVE_TTL_NEGATIVE, "NXDOMAIN answer");
    resolve_answer_unref(a1);

    check_addrs(m1, (int)l1, FALSE);
    check_addrs(m2, (int)l2, TRUE);
    return 0;
}

FUZZ_LIBFUZZER_ENTRY(fuzz_srv)
