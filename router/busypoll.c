/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/busypoll.c — spin briefly before the main loop blocks, while traffic flows */
#include "router/busypoll.h"

/* Spin only when the loop found work this recently: an idle server never spins. */
#define BUSY_RECENT_US 1000

static guint spin_us;
static gint64 last_ready; /* monotonic µs when a poll last reported ready descriptors */

static gint busy_poll(GPollFD *fds, guint nfds, gint timeout)
{
    gint r;

    if (timeout != 0 && spin_us > 0) {
        gint64 now = g_get_monotonic_time();

        if (now - last_ready <= BUSY_RECENT_US) {
            gint64 end = now + spin_us;

            do {
                r = g_poll(fds, nfds, 0);
                if (r != 0) {
                    if (r > 0)
                        last_ready = g_get_monotonic_time();
                    return r;
                }
            } while (g_get_monotonic_time() < end);
            /* GLib's timeouts are in ms; the spin was shorter than one: keep it */
        }
    }
    r = g_poll(fds, nfds, timeout);
    if (r > 0)
        last_ready = g_get_monotonic_time();
    return r;
}

void busy_poll_install(GMainContext *ctx, guint us)
{
    spin_us = us;
    g_main_context_set_poll_func(ctx, us > 0 ? busy_poll : NULL);
}
