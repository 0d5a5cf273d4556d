/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/ratelimit.h — a token bucket (bytes per second with a burst) for read rates */
#pragma once

#include <glib.h>

/* Tokens are bytes. The credit is kept in byte-microseconds (tokens × 10^6), so refills
 * are exact integer arithmetic at any rate: no float drift, no rounding loss between two
 * refills a microsecond apart. */
typedef struct {
    guint64 rate;   /* tokens per second; 0 = unlimited */
    guint64 burst;  /* capacity in tokens (>= 1 when rate > 0) */
    guint64 credit; /* tokens × 10^6 */
    gint64 last;    /* monotonic µs of the last refill */
} RateBucket;

/* rate 0 = unlimited; burst 0 = one second's worth. The bucket starts full (a new
 * connection may send its burst at once: stream header, TLS, login). */
void rate_bucket_init(RateBucket *b, guint64 rate, guint64 burst, gint64 now);
/* Add what accrued since the last refill (up to burst); the whole tokens available.
 * G_MAXSIZE when unlimited. */
gsize rate_bucket_available(RateBucket *b, gint64 now);
/* Spend n tokens (saturates at 0: a caller never takes more than available). */
void rate_bucket_take(RateBucket *b, gsize n);
/* Microseconds from the last refill until want tokens (capped at burst) are there; 0 when
 * they already are. */
gint64 rate_bucket_wait_us(const RateBucket *b, gsize want);
