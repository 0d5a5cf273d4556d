/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve_loop.c — a GSource that drives one c-ares channel: socket watches and timeouts */
#include "s2s/resolve_loop.h"

typedef struct {
    GSource base;
    ares_channel channel;
    GHashTable *fds; /* fd -> tag of g_source_add_unix_fd */
} ResolveLoop;

typedef struct {
    int fd;
    GIOCondition cond;
} ReadyFd;

void resolve_loop_update_timer(GSource *s)
{
    ResolveLoop *l = (ResolveLoop *)s;
    struct timeval tv;
    if (l->channel && ares_timeout(l->channel, NULL, &tv))
        g_source_set_ready_time(s, g_get_monotonic_time() + (gint64)tv.tv_sec * G_USEC_PER_SEC +
                                       tv.tv_usec);
    else
        g_source_set_ready_time(s, -1);
}

static gboolean resolve_loop_dispatch(GSource *s, GSourceFunc cb, gpointer ud)
{
    ResolveLoop *l = (ResolveLoop *)s;
    GArray *ready = g_array_new(FALSE, FALSE, sizeof(ReadyFd));
    GHashTableIter it;
    gpointer key, tag;
    gint64 due = g_source_get_ready_time(s);

    /* Snapshot first: ares_process_fd opens and closes sockets (sock_state_cb). */
    g_hash_table_iter_init(&it, l->fds);
    while (g_hash_table_iter_next(&it, &key, &tag)) {
        ReadyFd rf = {GPOINTER_TO_INT(key), g_source_query_unix_fd(s, tag)};
        if (rf.cond)
            g_array_append_val(ready, rf);
    }
    for (guint i = 0; i < ready->len && l->channel; i++) {
        ReadyFd *rf = &g_array_index(ready, ReadyFd, i);
        if (!g_hash_table_contains(l->fds, GINT_TO_POINTER(rf->fd)))
            continue; /* closed meanwhile */
        ares_process_fd(l->channel,
                        rf->cond & (G_IO_IN | G_IO_ERR | G_IO_HUP) ? rf->fd : ARES_SOCKET_BAD,
                        rf->cond & G_IO_OUT ? rf->fd : ARES_SOCKET_BAD);
    }
    g_array_unref(ready);
    if (l->channel && due >= 0 && g_get_monotonic_time() >= due)
        ares_process_fd(l->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts only */
    resolve_loop_update_timer(s);
    return G_SOURCE_CONTINUE;
}

static void resolve_loop_finalize(GSource *s)
{
    g_hash_table_destroy(((ResolveLoop *)s)->fds);
}

static GSourceFuncs resolve_loop_funcs = {NULL, NULL, resolve_loop_dispatch, resolve_loop_finalize,
                                          NULL, NULL};

GSource *resolve_loop_new(void)
{
    GSource *s = g_source_new(&resolve_loop_funcs, sizeof(ResolveLoop));
    ((ResolveLoop *)s)->fds = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_source_set_name(s, "tern-resolver");
    return s;
}

void resolve_loop_set_channel(GSource *s, ares_channel channel)
{
    ((ResolveLoop *)s)->channel = channel;
}

void resolve_loop_sock_state(void *source, ares_socket_t fd, int readable, int writable)
{
    ResolveLoop *l = source;
    GIOCondition cond = (readable ? G_IO_IN : 0) | (writable ? G_IO_OUT : 0);
    gpointer tag = NULL;
    gboolean known = g_hash_table_lookup_extended(l->fds, GINT_TO_POINTER(fd), NULL, &tag);

    if (!cond) {
        if (known) {
            g_source_remove_unix_fd(source, tag);
            g_hash_table_remove(l->fds, GINT_TO_POINTER(fd));
        }
    } else if (known) {
        g_source_modify_unix_fd(source, tag, cond);
    } else {
        tag = g_source_add_unix_fd(source, fd, cond);
        g_hash_table_insert(l->fds, GINT_TO_POINTER(fd), tag);
    }
}
