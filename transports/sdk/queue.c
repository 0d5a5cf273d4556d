/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/queue.c — a durable FIFO on TtStore (tt_queue_*, tern-transport.h): entries
 * are keys "e:<20-digit id>" of the pseudo-user "queue:<name>", so key order is id order */
#include "transports/sdk/sdk-private.h"

#include <stdlib.h>
#include <string.h>

#define KEY_NEXT "next" /* the next id to hand out; sorts after every "e:..." key */
#define KEY_PREFIX "e:"

static char *owner(const char *queue)
{
    return g_strconcat("queue:", queue, NULL);
}

static char *entry_key(guint64 id)
{
    return g_strdup_printf(KEY_PREFIX "%020" G_GUINT64_FORMAT, id);
}

guint64 tt_queue_push(TtStore *s, const char *queue, const char *value, GError **error)
{
    g_autofree char *who = owner(queue);
    g_autofree char *next = tt_store_get(s, who, KEY_NEXT);
    guint64 id = next ? g_ascii_strtoull(next, NULL, 10) : 1;
    if (id == 0)
        id = 1;
    g_autofree char *key = entry_key(id);
    g_autofree char *after = g_strdup_printf("%" G_GUINT64_FORMAT, id + 1);
    /* the counter first: a crash in between wastes an id, never reuses one */
    if (!tt_store_set(s, who, KEY_NEXT, after, error) || !tt_store_set(s, who, key, value, error))
        return 0;
    return id;
}

gboolean tt_queue_update(TtStore *s, const char *queue, guint64 id, const char *value,
                         GError **error)
{
    g_autofree char *who = owner(queue);
    g_autofree char *key = entry_key(id);
    g_autofree char *old = tt_store_get(s, who, key);
    if (!old) {
        g_set_error(error, TT_ERROR, TT_ERROR_STORE, "queue %s: no entry %" G_GUINT64_FORMAT, queue,
                    id);
        return FALSE;
    }
    return tt_store_set(s, who, key, value, error);
}

gboolean tt_queue_remove(TtStore *s, const char *queue, guint64 id, GError **error)
{
    g_autofree char *who = owner(queue);
    g_autofree char *key = entry_key(id);
    return tt_store_delete(s, who, key, error);
}

typedef struct {
    TtQueueFunc func;
    gpointer user_data;
    gboolean stopped;
} ForeachCtx;

static gboolean each(const char *user, const char *key, const char *value, gpointer data)
{
    ForeachCtx *c = data;
    if (!g_str_has_prefix(key, KEY_PREFIX))
        return TRUE;
    guint64 id = g_ascii_strtoull(key + strlen(KEY_PREFIX), NULL, 10);
    if (!c->func(id, value, c->user_data)) {
        c->stopped = TRUE;
        return FALSE;
    }
    return TRUE;
}

gboolean tt_queue_foreach(TtStore *s, const char *queue, TtQueueFunc func, gpointer user_data,
                          GError **error)
{
    g_autofree char *who = owner(queue);
    ForeachCtx c = {func, user_data, FALSE};
    return tt_store_foreach(s, who, each, &c, error);
}
