/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve_cache.c — parsed DNS answers (SRV, A/AAAA) with their TTL, and a bounded cache */
#include "s2s/resolve_cache.h"
#include "s2s/srv_order.h"

#include <string.h>

/* ---- answers ---- */

static void answer_clear(gpointer data)
{
    ResolveAnswer *a = data;
    if (a->srv) {
        for (guint i = 0; i < a->srv->len; i++)
            g_free((char *)g_array_index(a->srv, SrvRecord, i).target);
        g_array_unref(a->srv);
    }
    if (a->addrs)
        g_array_unref(a->addrs);
}

ResolveAnswer *resolve_answer_ref(ResolveAnswer *a)
{
    return g_rc_box_acquire(a);
}

void resolve_answer_unref(ResolveAnswer *a)
{
    if (a)
        g_rc_box_release_full(a, answer_clear);
}

gboolean resolve_status_negative(int status)
{
    return status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_ENONAME;
}

static gssize dns_skip_name(const unsigned char *m, gsize len, gsize off)
{
    while (off < len) {
        guint8 b = m[off];
        if (b == 0)
            return (gssize)off + 1;
        if ((b & 0xC0) == 0xC0) /* a compression pointer ends the name */
            return off + 2 <= len ? (gssize)off + 2 : -1;
        if (b & 0xC0)
            return -1; /* reserved label types */
        off += 1u + b;
    }
    return -1;
}

gint64 resolve_dns_min_ttl(const unsigned char *m, gsize len)
{
    gint64 min = -1;
    gssize off = 12;
    guint qd, an;

    if (!m || len < 12)
        return -1;
    qd = (guint)m[4] << 8 | m[5];
    an = (guint)m[6] << 8 | m[7];
    for (guint i = 0; i < qd; i++) {
        if ((off = dns_skip_name(m, len, (gsize)off)) < 0 || (gsize)off + 4 > len)
            return -1;
        off += 4; /* QTYPE, QCLASS */
    }
    for (guint i = 0; i < an; i++) {
        guint32 ttl;
        if ((off = dns_skip_name(m, len, (gsize)off)) < 0 || (gsize)off + 10 > len)
            return -1;
        ttl = (guint32)m[off + 4] << 24 | (guint32)m[off + 5] << 16 | (guint32)m[off + 6] << 8 |
              m[off + 7];
        if (ttl > G_MAXINT32)
            ttl = 0; /* RFC 2181 §8 */
        off += 10 + ((gssize)m[off + 8] << 8 | m[off + 9]);
        if ((gsize)off > len)
            return -1;
        min = min < 0 ? (gint64)ttl : MIN(min, (gint64)ttl);
    }
    return min;
}

/* g_array_sort is stable (GLib >= 2.32): equal priorities keep the answer's order. */
static gint srv_cmp_priority(gconstpointer a, gconstpointer b)
{
    return (gint)((const SrvRecord *)a)->priority - (gint)((const SrvRecord *)b)->priority;
}

ResolveAnswer *resolve_answer_from_srv(int status, const unsigned char *abuf, int alen,
                                       gboolean direct_tls, gint64 *ttl_s)
{
    ResolveAnswer *a = g_rc_box_new0(ResolveAnswer);
    struct ares_srv_reply *list = NULL;
    guint dots = 0, total = 0;

    a->srv = g_array_new(FALSE, FALSE, sizeof(SrvRecord));
    if (status == ARES_SUCCESS)
        status = ares_parse_srv_reply(abuf, alen, &list);
    for (struct ares_srv_reply *s = list; s; s = s->next) {
        SrvRecord rec = {NULL, s->priority, s->weight, s->port, direct_tls};
        total++;
        if (!s->host[0] || strcmp(s->host, ".") == 0) {
            dots++;
            continue;
        }
        if (s->port == 0)
            continue;
        rec.target = g_ascii_strdown(s->host, -1);
        g_array_append_val(a->srv, rec);
    }
    if (list)
        ares_free_data(list);
    if (a->srv->len > RESOLVE_SRV_MAX) {
        /* A hostile answer (up to ~3000 records in 64 KiB) must not fill the cache: keep
         * the lowest priorities, which are all that the first targets are drawn from. */
        g_array_sort(a->srv, srv_cmp_priority);
        for (guint i = RESOLVE_SRV_MAX; i < a->srv->len; i++)
            g_free((char *)g_array_index(a->srv, SrvRecord, i).target);
        g_array_set_size(a->srv, RESOLVE_SRV_MAX);
    }
    a->status = status;
    /* RFC 2782: "A Target of "." means that the service is decidedly not available at this
     * domain" — meaningful as the only record; among others it is skipped. */
    a->no_service = status == ARES_SUCCESS && total == 1 && dots == 1;
    if (status == ARES_SUCCESS)
        *ttl_s = MIN(resolve_dns_min_ttl(abuf, alen > 0 ? (gsize)alen : 0), RESOLVE_TTL_MAX);
    else
        *ttl_s = resolve_status_negative(status) ? RESOLVE_TTL_NEGATIVE : 0;
    return a;
}

ResolveAnswer *resolve_answer_from_addrinfo(int status, const struct ares_addrinfo *res,
                                            guint max_addrs, gint64 *ttl_s)
{
    ResolveAnswer *a = g_rc_box_new0(ResolveAnswer);
    gint64 min = RESOLVE_TTL_MAX;

    a->addrs = g_array_new(FALSE, TRUE, sizeof(ResolveAddr));
    for (struct ares_addrinfo_node *n = res ? res->nodes : NULL;
         n && status == ARES_SUCCESS && a->addrs->len < max_addrs; n = n->ai_next) {
        ResolveAddr ra;
        if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) || !n->ai_addr ||
            n->ai_addrlen > sizeof(ra.addr))
            continue;
        memset(&ra, 0, sizeof(ra));
        memcpy(&ra.addr, n->ai_addr, n->ai_addrlen);
        ra.len = n->ai_addrlen;
        g_array_append_val(a->addrs, ra);
        min = MIN(min, (gint64)MAX(n->ai_ttl, 0)); /* /etc/hosts and literals: 0 */
    }
    for (struct ares_addrinfo_cname *c = res ? res->cnames : NULL; c; c = c->next)
        min = MIN(min, (gint64)MAX(c->ttl, 0));
    if (status == ARES_SUCCESS && a->addrs->len == 0)
        status = ARES_ENODATA;
    a->status = status;
    if (status == ARES_SUCCESS)
        *ttl_s = min;
    else
        *ttl_s = resolve_status_negative(status) ? RESOLVE_TTL_NEGATIVE : 0;
    return a;
}

/* ---- the cache ---- */

typedef struct {
    char *key; /* also the hash key */
    ResolveAnswer *answer;
    gint64 expires; /* monotonic µs */
    GList *link;    /* in ResolveCache.order */
} CacheEntry;

struct ResolveCache {
    GHashTable *entries; /* key -> CacheEntry */
    GQueue order;        /* CacheEntry*, oldest insertion first */
    guint max;
};

static void cache_entry_free(gpointer data)
{
    CacheEntry *e = data;
    resolve_answer_unref(e->answer);
    g_free(e->key);
    g_free(e);
}

static void cache_remove(ResolveCache *c, CacheEntry *e)
{
    g_queue_delete_link(&c->order, e->link);
    g_hash_table_remove(c->entries, e->key); /* frees e */
}

ResolveCache *resolve_cache_new(guint max_entries)
{
    ResolveCache *c = g_new0(ResolveCache, 1);
    c->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, cache_entry_free);
    g_queue_init(&c->order);
    c->max = MAX(max_entries, 1);
    return c;
}

void resolve_cache_free(ResolveCache *c)
{
    if (!c)
        return;
    g_queue_clear(&c->order);
    g_hash_table_destroy(c->entries);
    g_free(c);
}

ResolveAnswer *resolve_cache_get(ResolveCache *c, const char *key)
{
    CacheEntry *e = g_hash_table_lookup(c->entries, key);
    if (!e)
        return NULL;
    if (g_get_monotonic_time() >= e->expires) {
        cache_remove(c, e);
        return NULL;
    }
    return resolve_answer_ref(e->answer);
}

void resolve_cache_put(ResolveCache *c, const char *key, ResolveAnswer *a, gint64 ttl_s)
{
    CacheEntry *e;
    if (ttl_s <= 0)
        return;
    if ((e = g_hash_table_lookup(c->entries, key)))
        cache_remove(c, e);
    while (g_hash_table_size(c->entries) >= c->max)
        cache_remove(c, g_queue_peek_head(&c->order));
    e = g_new0(CacheEntry, 1);
    e->key = g_strdup(key);
    e->answer = resolve_answer_ref(a);
    e->expires = g_get_monotonic_time() + MIN(ttl_s, RESOLVE_TTL_MAX) * G_USEC_PER_SEC;
    g_queue_push_tail(&c->order, e);
    e->link = c->order.tail;
    g_hash_table_insert(c->entries, e->key, e);
}

guint resolve_cache_size(ResolveCache *c)
{
    return g_hash_table_size(c->entries);
}
