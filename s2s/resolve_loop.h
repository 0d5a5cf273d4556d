/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve_loop.h — a GSource that drives one c-ares channel: socket watches and timeouts */
#pragma once

#include <ares.h>
#include <glib.h>

/* Create the source before the channel and give c-ares resolve_loop_sock_state with the
 * source as data (ARES_OPT_SOCK_STATE_CB); then resolve_loop_set_channel and attach it.
 * It watches exactly the sockets c-ares asks for and calls ares_process_fd for them, and for
 * timeouts at the time ares_timeout() names. Destroy it after ares_destroy(). */
GSource *resolve_loop_new(void);
void resolve_loop_set_channel(GSource *s, ares_channel channel);
void resolve_loop_sock_state(void *source, ares_socket_t fd, int readable, int writable);
/* Call after starting queries: c-ares has a new earliest timeout. */
void resolve_loop_update_timer(GSource *s);
