/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/busypoll.h — spin briefly before the main loop blocks, while traffic flows */
#pragma once

#include <glib.h>

/* When the main loop of ctx is about to block and it had ready descriptors less than a
 * millisecond ago, it polls without blocking for up to us microseconds first; an idle
 * server blocks at once, as before. 0 turns it off (the default poll function). For the
 * thread that runs ctx; one setting per process. See docs/performance.md ("busy polling"):
 * on machines where a wake-up from sleep costs more than a message (VMs), it buys latency
 * and CPU per message under load for at most `us` of CPU per quiet moment. */
void busy_poll_install(GMainContext *ctx, guint us);
