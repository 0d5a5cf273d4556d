/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/tt_loop.c — libstrophe on a GLib main loop: a GSource around
 * xmpp_run_once(), and the guard that keeps descriptors >= FD_SETSIZE away from select() */
#include "transports/sdk/sdk-private.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/select.h>
#include <unistd.h>

/*
 * libstrophe has no hook for a foreign event loop: xmpp_run_once() writes what is queued,
 * fires timed handlers, select()s on the sockets of its connections with the given
 * timeout and reads once. We call it with a timeout of 0 from a GSource that polls the
 * component socket with GLib (poll(), no descriptor limit), so the select() inside never
 * blocks and everything runs on the GMainContext of the transport — no thread, no locks.
 *
 * select() itself stays: FD_SET() on a descriptor >= FD_SETSIZE writes past the fd_set on
 * libstrophe's stack (memory corruption; an open upstream bug). Two defences:
 *  1. tt_transport.c installs a sockopt callback (xmpp_conn_set_sockopt_callback, 0.12+)
 *     that refuses such a socket before connect(): libstrophe closes it and
 *     xmpp_connect_component() fails, so select() never sees it; the transport reports
 *     TT_ERROR_FD_SETSIZE and retries with backoff.
 *  2. To make that rare, the loop keeps a spare descriptor below FD_SETSIZE (taken at
 *     startup, before the program opens many sockets) and closes it right before
 *     libstrophe calls socket(), which POSIX makes return the lowest free number. A
 *     program with thousands of legacy connections (an IRC gateway) then still gets a
 *     selectable component socket. Another thread may take the slot in between; then
 *     defence 1 applies.
 */

#define TICK_CONNECTED_MS 1000 /* libstrophe's timed handlers and timeouts are coarse */
#define TICK_CONNECTING_MS 100

typedef struct {
    GSource base;
    TtLoop *loop;
} LoopSource;

struct TtLoop {
    xmpp_ctx_t *ctx;    /* borrowed */
    LoopSource *source; /* owned */
    gpointer tag;       /* g_source_add_unix_fd tag of the watched socket, NULL when none */
    int fd;
    xmpp_conn_t *conn; /* borrowed, while watched */
    gboolean connecting;
    gboolean kick;
    int spare_fd; /* < FD_SETSIZE, or -1 */
};

gboolean tt_fd_selectable(int fd)
{
    return fd >= 0 && fd < FD_SETSIZE;
}

static void loop_schedule_tick(TtLoop *l)
{
    gint64 ms = l->connecting ? TICK_CONNECTING_MS : TICK_CONNECTED_MS;
    g_source_set_ready_time(&l->source->base, g_source_get_time(&l->source->base) + ms * 1000);
}

static gboolean loop_prepare(GSource *source, gint *timeout)
{
    TtLoop *l = ((LoopSource *)source)->loop;
    *timeout = -1;
    if (l->kick)
        return TRUE;
    if (l->tag) {
        GIOCondition want = G_IO_IN | G_IO_ERR | G_IO_HUP;
        /* connect() completion, and a send queue that did not drain (EAGAIN) */
        if (l->connecting || (l->conn && xmpp_conn_send_queue_len(l->conn) > 0))
            want |= G_IO_OUT;
        g_source_modify_unix_fd(source, l->tag, want);
    }
    return FALSE;
}

static gboolean loop_check(GSource *source)
{
    TtLoop *l = ((LoopSource *)source)->loop;
    return l->kick || (l->tag && g_source_query_unix_fd(source, l->tag) != 0);
}

static gboolean loop_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
    TtLoop *l = ((LoopSource *)source)->loop;
    GIOCondition got = l->tag ? g_source_query_unix_fd(source, l->tag) : 0;
    l->kick = FALSE;
    /* timeout 0: select() only polls; it never sees a descriptor >= FD_SETSIZE because
     * those sockets were refused before connect() (tt_transport.c) */
    xmpp_run_once(l->ctx, 0);
    /* What the handlers queued while reading (replies, the handshake after the stream
     * header) is written by the next call: one more turn right away. */
    if (got)
        l->kick = TRUE;
    loop_schedule_tick(l);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs loop_funcs = {
    .prepare = loop_prepare,
    .check = loop_check,
    .dispatch = loop_dispatch,
};

TtLoop *tt_loop_new(xmpp_ctx_t *ctx, GMainContext *context)
{
    TtLoop *l = g_new0(TtLoop, 1);
    l->ctx = ctx;
    l->fd = -1;
    l->spare_fd = -1;
    l->source = (LoopSource *)g_source_new(&loop_funcs, sizeof(LoopSource));
    l->source->loop = l;
    g_source_set_name(&l->source->base, "libstrophe");
    g_source_attach(&l->source->base, context);
    loop_schedule_tick(l);
    tt_loop_reserve_spare(l);
    return l;
}

void tt_loop_free(TtLoop *l)
{
    if (!l)
        return;
    tt_loop_unwatch(l);
    g_source_destroy(&l->source->base);
    g_source_unref(&l->source->base);
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    g_free(l);
}

void tt_loop_watch(TtLoop *l, int fd, xmpp_conn_t *conn)
{
    tt_loop_unwatch(l);
    l->fd = fd;
    l->conn = conn;
    l->tag = g_source_add_unix_fd(&l->source->base, fd, G_IO_IN | G_IO_OUT);
}

void tt_loop_unwatch(TtLoop *l)
{
    if (l->tag)
        g_source_remove_unix_fd(&l->source->base, l->tag);
    l->tag = NULL;
    l->fd = -1;
    l->conn = NULL;
}

void tt_loop_kick(TtLoop *l)
{
    if (l->kick)
        return;
    l->kick = TRUE;
    g_main_context_wakeup(g_source_get_context(&l->source->base));
}

void tt_loop_set_connecting(TtLoop *l, gboolean connecting)
{
    l->connecting = connecting;
    loop_schedule_tick(l);
}

void tt_loop_release_spare(TtLoop *l)
{
    if (l->spare_fd < 0)
        return;
    if (close(l->spare_fd) != 0)
        g_message("transport: closing the spare descriptor %d: %s", l->spare_fd, g_strerror(errno));
    l->spare_fd = -1;
}

void tt_loop_reserve_spare(TtLoop *l)
{
    if (l->spare_fd >= 0)
        return;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        g_message("transport: no spare descriptor: %s", g_strerror(errno));
        return;
    }
    if (!tt_fd_selectable(fd)) {
        /* every number below FD_SETSIZE is taken; keeping this one would not help */
        close(fd);
        return;
    }
    l->spare_fd = fd;
}
