/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/srv_order.h — RFC 2782 SRV ordering and the XEP-0368 merge, as pure functions */
#pragma once

#include <glib.h>

typedef struct {
    const char *target; /* borrowed */
    guint16 priority;
    guint16 weight;
    guint16 port;
    gboolean direct_tls; /* the record came from _xmpps-server._tcp */
} SrvRecord;

/* A uniform random number in [0, max] (both inclusive). */
typedef guint64 (*SrvRandFunc)(guint64 max, gpointer ud);

/* The default SrvRandFunc (GLib's global generator; ud unused). */
guint64 srv_rand_default(guint64 max, gpointer ud);

/* Orders records (borrowed, reordered in place) per RFC 2782 "Usage rules": priority
 * ascending; within a priority, repeated weighted random selection with the weight-0
 * records placed first. Only the first `max` positions are selected (the rest stay in
 * priority order), so a hostile answer with thousands of records costs O(n log n + max * n).
 * Returns min(n, max). */
gsize srv_order(SrvRecord *records, gsize n, gsize max, SrvRandFunc rand_func, gpointer ud);

/* Merges two lists that srv_order() ordered into out (room for max) by priority; at equal
 * priority a direct-TLS record comes first (XEP-0368 §3). Returns the count written. */
gsize srv_merge(const SrvRecord *tls, gsize n_tls, const SrvRecord *tcp, gsize n_tcp,
                SrvRecord *out, gsize max);
