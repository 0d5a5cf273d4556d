/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/ratelimit.c — a token bucket (bytes per second with a burst) for read rates */
#include "router/ratelimit.h"

#define US_PER_S G_GUINT64_CONSTANT(1000000)

void rate_bucket_init(RateBucket *b, guint64 rate, guint64 burst, gint64 now)
{
    /* caps keep burst × 10^6 and elapsed × rate far from 2^64 */
    rate = MIN(rate, G_GUINT64_CONSTANT(1) << 40);
    burst = MIN(burst ? burst : rate, G_GUINT64_CONSTANT(1) << 40);
    b->rate = rate;
    b->burst = MAX(burst, 1);
    b->credit = b->burst * US_PER_S;
    b->last = now;
}

gsize rate_bucket_available(RateBucket *b, gint64 now)
{
    if (b->rate == 0)
        return G_MAXSIZE;
    guint64 cap = b->burst * US_PER_S;
    if (now > b->last) {
        guint64 elapsed = (guint64)(now - b->last);
        guint64 room = cap - b->credit;
        /* elapsed × rate only when it cannot overflow, i.e. when it does not fill up */
        if (elapsed >= room / b->rate + 1)
            b->credit = cap;
        else
            b->credit += elapsed * b->rate;
        b->last = now;
    }
    return (gsize)(b->credit / US_PER_S);
}

void rate_bucket_take(RateBucket *b, gsize n)
{
    if (b->rate == 0)
        return;
    if ((guint64)n > b->credit / US_PER_S)
        b->credit = 0; /* also keeps n × 10^6 from overflowing */
    else
        b->credit -= (guint64)n * US_PER_S;
}

gint64 rate_bucket_wait_us(const RateBucket *b, gsize want)
{
    if (b->rate == 0)
        return 0;
    guint64 need = MIN((guint64)want, b->burst) * US_PER_S;
    if (b->credit >= need)
        return 0;
    return (gint64)((need - b->credit + b->rate - 1) / b->rate);
}
