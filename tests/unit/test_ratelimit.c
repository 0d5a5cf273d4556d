/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_ratelimit.c — the read-rate token bucket: arithmetic, and in conn.c's reads */
#include "router/conn.h"
#include "router/ratelimit.h"

#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define S G_GINT64_CONSTANT(1000000)

static void test_starts_full(void)
{
    RateBucket b;
    rate_bucket_init(&b, 1000, 4000, 0);
    g_assert_cmpuint(rate_bucket_available(&b, 0), ==, 4000);
    rate_bucket_init(&b, 1000, 0, 0); /* burst 0: one second's worth */
    g_assert_cmpuint(rate_bucket_available(&b, 0), ==, 1000);
}

static void test_unlimited(void)
{
    RateBucket b;
    rate_bucket_init(&b, 0, 0, 0);
    g_assert_cmpuint(rate_bucket_available(&b, 5), ==, G_MAXSIZE);
    rate_bucket_take(&b, 1 << 30);
    g_assert_cmpuint(rate_bucket_available(&b, 6), ==, G_MAXSIZE);
    g_assert_cmpint(rate_bucket_wait_us(&b, 1 << 30), ==, 0);
}

static void test_refill_exact(void)
{
    RateBucket b;
    rate_bucket_init(&b, 1000, 1000, 0);
    rate_bucket_take(&b, 1000);
    g_assert_cmpuint(rate_bucket_available(&b, 0), ==, 0);
    /* 1000 B/s: one byte per millisecond; 999 µs is not a whole byte yet */
    g_assert_cmpuint(rate_bucket_available(&b, 999), ==, 0);
    g_assert_cmpuint(rate_bucket_available(&b, 1000), ==, 1);
    /* many tiny refills add up to exactly what one big one would (no rounding loss) */
    for (gint64 t = 1001; t <= 500000; t++)
        rate_bucket_available(&b, t);
    g_assert_cmpuint(rate_bucket_available(&b, 500000), ==, 500);
    /* capped at the burst however long it was idle */
    g_assert_cmpuint(rate_bucket_available(&b, 3600 * S), ==, 1000);
    /* time going backwards adds nothing */
    rate_bucket_take(&b, 1000);
    g_assert_cmpuint(rate_bucket_available(&b, 10 * S), ==, 0);
}

static void test_take_saturates(void)
{
    RateBucket b;
    rate_bucket_init(&b, 100, 100, 0);
    rate_bucket_take(&b, 101);
    g_assert_cmpuint(rate_bucket_available(&b, 0), ==, 0);
    rate_bucket_take(&b, G_MAXSIZE);
    g_assert_cmpuint(rate_bucket_available(&b, 0), ==, 0);
    g_assert_cmpuint(rate_bucket_available(&b, S / 2), ==, 50);
}

static void test_wait(void)
{
    RateBucket b;
    rate_bucket_init(&b, 2048, 4096, 0);
    g_assert_cmpint(rate_bucket_wait_us(&b, 4096), ==, 0);
    rate_bucket_take(&b, 4096);
    g_assert_cmpint(rate_bucket_wait_us(&b, 2048), ==, S);
    g_assert_cmpint(rate_bucket_wait_us(&b, 1), ==, 489); /* ceil(10^6 / 2048) */
    /* more than the burst can never be there at once: waiting for a full bucket */
    g_assert_cmpint(rate_bucket_wait_us(&b, 1 << 20), ==, 2 * S);
    /* after that wait the bytes are there, not one µs later */
    g_assert_cmpuint(rate_bucket_available(&b, 489), ==, 1);
}

/* A flood read in 16 KiB chunks at 1 MiB/s over 10 simulated seconds: the bytes
 * accepted stay within burst + rate × time, and reach it. */
static void test_long_run(void)
{
    RateBucket b;
    const guint64 rate = 1 << 20, burst = 1 << 18;
    rate_bucket_init(&b, rate, burst, 0);
    guint64 total = 0;
    for (gint64 now = 0; now <= 10 * S; now += 1000) {
        gsize n = MIN(rate_bucket_available(&b, now), 16384);
        rate_bucket_take(&b, n);
        total += n;
        g_assert_cmpuint(total, <=, burst + rate * (guint64)now / S);
    }
    g_assert_cmpuint(total, >=, burst + rate * 10 - 16384);
}

/* Huge values do not overflow: a 1 TiB/s rate after a year idle is capped at the burst. */
static void test_huge(void)
{
    RateBucket b;
    rate_bucket_init(&b, G_MAXUINT64, G_MAXUINT64, 0);
    rate_bucket_take(&b, G_MAXSIZE);
    g_assert_cmpuint(rate_bucket_available(&b, G_GINT64_CONSTANT(365) * 86400 * S), ==,
                     G_GUINT64_CONSTANT(1) << 40);
}

/* ---- the bucket in router/conn.c's read path ---- */

typedef struct {
    gsize total;
    gint64 t0;
    guint64 rate, burst;
    gboolean over; /* more read than burst + rate x time at some point */
    gboolean closed;
    gboolean in_order;
    guchar next;
} ReadFx;

static gboolean rate_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    ReadFx *fx = ud;
    gint64 now = g_get_monotonic_time();
    for (gsize i = 0; i < len; i++, fx->next++)
        fx->in_order = fx->in_order && (guchar)buf[i] == fx->next;
    fx->total += len;
    if (fx->total > fx->burst + fx->rate * (guint64)(now - fx->t0) / 1000000)
        fx->over = TRUE;
    return TRUE;
}

static void rate_on_closed(Conn *c, const GError *err, gpointer ud)
{
    ((ReadFx *)ud)->closed = TRUE;
}

static gboolean deadline_hit(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* A peer that sends 30,000 bytes at once to a connection limited to 20,000 B/s with a
 * 2,048-byte burst: every byte arrives, in order, never faster than the bucket allows
 * (so not before 1.4 s). */
static void test_conn_read_rate(void)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    int size = 256 * 1024;
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    ReadFx fx = {.rate = 20000, .burst = 2048, .in_order = TRUE};
    static const ConnCallbacks cb = {rate_on_data, rate_on_closed, NULL};
    Conn *c = conn_new(sv[0], &cb, &fx);
    fx.t0 = g_get_monotonic_time(); /* not after the bucket's own start */
    conn_set_read_rate(c, fx.rate, fx.burst);
    guchar data[30000];
    for (gsize i = 0; i < sizeof data; i++)
        data[i] = (guchar)i;
    g_assert_cmpint(write(sv[1], data, sizeof data), ==, (gssize)sizeof data);
    gboolean timed_out = FALSE;
    guint t = g_timeout_add(10000, deadline_hit, &timed_out);
    while (fx.total < sizeof data && !fx.closed && !timed_out)
        g_main_context_iteration(NULL, TRUE);
    g_assert_false(timed_out);
    g_source_remove(t);
    gint64 elapsed = g_get_monotonic_time() - fx.t0;
    g_assert_cmpuint(fx.total, ==, sizeof data);
    g_assert_true(fx.in_order);
    g_assert_false(fx.over);
    g_assert_cmpint(elapsed, >=, (gint64)(sizeof data - fx.burst) * 1000000 / 20000);
    conn_free(c);
    close(sv[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ratelimit/starts-full", test_starts_full);
    g_test_add_func("/ratelimit/unlimited", test_unlimited);
    g_test_add_func("/ratelimit/refill-exact", test_refill_exact);
    g_test_add_func("/ratelimit/take-saturates", test_take_saturates);
    g_test_add_func("/ratelimit/wait", test_wait);
    g_test_add_func("/ratelimit/long-run", test_long_run);
    g_test_add_func("/ratelimit/huge", test_huge);
    g_test_add_func("/ratelimit/conn-read-rate", test_conn_read_rate);
    return g_test_run();
}
