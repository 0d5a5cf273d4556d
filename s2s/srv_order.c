/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/srv_order.c — RFC 2782 SRV ordering (priority, weighted random) and XEP-0368 merge */
#include "s2s/srv_order.h"

#include <string.h>

guint64 srv_rand_default(guint64 max, gpointer ud)
{
    guint64 v = ((guint64)g_random_int() << 32) | g_random_int();
    (void)ud;
    /* The modulo bias is below 2^-31 for any sum of 16-bit weights we can see. */
    return max == G_MAXUINT64 ? v : v % (max + 1);
}

/* Priority ascending; within a priority the weight-0 records first. RFC 2782: "arrange all
 * SRV RRs (that have not been ordered yet) in any order, except that all those with weight 0
 * are placed at the beginning of the list". */
static gint srv_cmp_priority(gconstpointer a, gconstpointer b, gpointer ud)
{
    const SrvRecord *x = a, *y = b;
    (void)ud;
    if (x->priority != y->priority)
        return (gint)x->priority - (gint)y->priority;
    return (gint)(x->weight != 0) - (gint)(y->weight != 0);
}

gsize srv_order(SrvRecord *records, gsize n, gsize max, SrvRandFunc rand_func, gpointer ud)
{
    gsize done = 0;

    if (n == 0 || max == 0)
        return 0;
    if (!rand_func)
        rand_func = srv_rand_default;
    n = MIN(n, (gsize)G_MAXINT);
    /* g_qsort_with_data is a stable sort (GLib >= 2.32): equal keys keep the answer's order. */
    g_qsort_with_data(records, (gint)n, sizeof(*records), srv_cmp_priority, NULL);

    while (done < n && done < max) {
        /* [done, end) is the group of records with the lowest priority not yet ordered */
        gsize end = done + 1;
        while (end < n && records[end].priority == records[done].priority)
            end++;
        while (done < end && done < max) {
            guint64 sum = 0, running = 0, pick;
            gsize k;
            for (gsize i = done; i < end; i++)
                sum += records[i].weight;
            /* "choose a uniform random number between 0 and the sum computed (inclusive),
             * and select the RR whose running sum value is the first in the selected order
             * which is greater than or equal to the random number selected" */
            pick = rand_func(sum, ud);
            if (pick > sum)
                pick = sum; /* a broken rand_func must not walk off the group */
            for (k = done; k < end; k++) {
                running += records[k].weight;
                if (running >= pick)
                    break;
            }
            if (k == end)
                k = end - 1;
            /* Move the pick to the front; the rest keep their order (weight 0 still first). */
            if (k != done) {
                SrvRecord sel = records[k];
                memmove(&records[done + 1], &records[done], (k - done) * sizeof(*records));
                records[done] = sel;
            }
            done++;
        }
    }
    return MIN(n, max);
}

gsize srv_merge(const SrvRecord *tls, gsize n_tls, const SrvRecord *tcp, gsize n_tcp,
                SrvRecord *out, gsize max)
{
    gsize i = 0, j = 0, o = 0;

    while (o < max && (i < n_tls || j < n_tcp)) {
        /* XEP-0368 §3: at equal priority, prefer direct TLS */
        if (i < n_tls && (j >= n_tcp || tls[i].priority <= tcp[j].priority))
            out[o++] = tls[i++];
        else
            out[o++] = tcp[j++];
    }
    return o;
}
