/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/router.c — a small router that does one thing: domain -> route */
#include "router/router.h"

#include <string.h>

struct RouterRoute {
    char *domain;
    RouteKind kind;
    RouteDeliverFunc fn;
    gpointer ud;
    gboolean subdomains; /* also *.domain */
};

static GHashTable *routes; /* domain -> RouterRoute */
static RouteDeliverFunc default_fn;
static gpointer default_ud;
static RouterStats stats;
static guint64 bounced_by[STANZA_ERR__COUNT]; /* metrics: errors by condition */

static void route_free(gpointer p)
{
    RouterRoute *r = p;
    g_free(r->domain);
    g_free(r);
}

void router_init(void)
{
    if (!routes)
        routes = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, route_free);
}

void router_fini(void)
{
    g_clear_pointer(&routes, g_hash_table_destroy);
    default_fn = NULL;
    default_ud = NULL;
}

RouterRoute *router_register(const char *domain, RouteKind kind, RouteDeliverFunc fn, gpointer ud)
{
    router_init();
    if (g_hash_table_contains(routes, domain))
        return NULL;
    RouterRoute *r = g_new0(RouterRoute, 1);
    r->domain = g_strdup(domain);
    r->kind = kind;
    r->fn = fn;
    r->ud = ud;
    g_hash_table_insert(routes, r->domain, r);
    return r;
}

void router_unregister(RouterRoute *r)
{
    if (r && routes)
        g_hash_table_remove(routes, r->domain);
}

void router_set_default(RouteDeliverFunc fn, gpointer ud)
{
    default_fn = fn;
    default_ud = ud;
}

void router_route_set_subdomains(RouterRoute *r, gboolean on)
{
    r->subdomains = on;
}

RouterRoute *router_lookup(const char *domain)
{
    if (!routes)
        return NULL;
    RouterRoute *r = g_hash_table_lookup(routes, domain);
    if (r)
        return r;
    /* a.b.example.org: b.example.org, then example.org, then org, if routed with subdomains */
    for (const char *p = strchr(domain, '.'); p && p[1]; p = strchr(p + 1, '.')) {
        r = g_hash_table_lookup(routes, p + 1);
        if (r && r->subdomains)
            return r;
    }
    return NULL;
}

RouteKind router_route_kind(const RouterRoute *r)
{
    return r->kind;
}

gboolean router_is_local(const char *domain)
{
    RouterRoute *r = router_lookup(domain);
    return r && r->kind == ROUTE_LOCAL;
}

void router_bounce(const Stanza *st, StanzaErr err, const char *text)
{
    Stanza *reply = stanza_error_reply(st, err, text);
    if (!reply)
        return; /* RFC 6120 §8.3.1: errors are never answered with errors */
    stats.bounced++;
    if ((guint)err < STANZA_ERR__COUNT)
        bounced_by[err]++;
    if (!reply->to) { /* nobody to tell */
        stanza_unref(reply);
        return;
    }
    router_deliver(reply);
}

void router_deliver(Stanza *st)
{
    stats.routed++;
    if (!st->to) { /* the edge always fills 'to' before routing; be safe anyway */
        router_bounce(st, STANZA_ERR_BAD_REQUEST, "no recipient");
        stanza_unref(st);
        return;
    }
    RouterRoute *r = router_lookup(jid_domain(st->to));
    if (r) {
        r->fn(st, r->ud);
        return;
    }
    if (default_fn) {
        default_fn(st, default_ud);
        return;
    }
    /* RFC 6120 §10.4.3: no server-to-server route */
    router_bounce(st, STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "federation is not enabled");
    stanza_unref(st);
}

const RouterStats *router_stats(void)
{
    return &stats;
}

guint64 router_bounced_by(StanzaErr err)
{
    return (guint)err < STANZA_ERR__COUNT ? bounced_by[err] : 0;
}
