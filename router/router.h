/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/router.h — the routing table: a stanza's 'to' domain picks its route */
#pragma once

#include <glib.h>
#include "router/stanza.h"

typedef enum {
    ROUTE_LOCAL,     /* a hosted domain: its session manager */
    ROUTE_COMPONENT, /* XEP-0114 component */
    ROUTE_REMOTE,    /* s2s: the default route */
} RouteKind;

/* Deliver st (transfer full) on this route. */
typedef void (*RouteDeliverFunc)(Stanza *st, gpointer ud);

typedef struct RouterRoute RouterRoute;

void router_init(void);
void router_fini(void);
/* Register the route for domain (prepared, copied). FALSE when the domain has one. */
RouterRoute *router_register(const char *domain, RouteKind kind, RouteDeliverFunc fn, gpointer ud);
void router_unregister(RouterRoute *r);
/* Route every subdomain of r's domain to r too (XEP-0114 components): router_lookup()
 * tries the exact domain first, then each parent domain whose route has this on. */
void router_route_set_subdomains(RouterRoute *r, gboolean on);
/* The route for every domain that has none (s2s). fn NULL: unroutable. */
void router_set_default(RouteDeliverFunc fn, gpointer ud);
/* Which route serves domain, or NULL (default route). borrowed */
RouterRoute *router_lookup(const char *domain);
RouteKind router_route_kind(const RouterRoute *r);
gboolean router_is_local(const char *domain);

/* Route st (transfer full) by its 'to' domain. A stanza without a route gets the RFC 6120
 * error reply (remote-server-not-found), never a silent drop. */
void router_deliver(Stanza *st);
/* Bounce st (borrowed) with err back to its sender (nothing for an error stanza). */
void router_bounce(const Stanza *st, StanzaErr err, const char *text);

/* Counters (metrics) */
typedef struct {
    guint64 routed;
    guint64 bounced;
} RouterStats;
const RouterStats *router_stats(void);
/* Bounces (error replies sent) with condition err since the start. */
guint64 router_bounced_by(StanzaErr err);
