/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/offline.c — the "offline" map: key = time-ordered sequence, value = stanza XML */
#include "storage/offline.h"

#define OFFLINE_MAP "offline"

char *offline_new_key(void)
{
    return store_seq_key();
}

static gboolean count_cb(const char *key, const void *val, gsize len, gpointer ud)
{
    (*(guint *)ud)++;
    return TRUE;
}

guint offline_count(Store *s, const char *user, GError **error)
{
    guint n = 0;
    store_map_foreach(s, OFFLINE_MAP, user, count_cb, &n, error);
    return n;
}

gboolean offline_store(Store *s, const char *user, const char *xml, gsize len, guint quota,
                       GError **error)
{
    GError *e = NULL;
    guint n = offline_count(s, user, &e);
    if (e) {
        g_propagate_error(error, e);
        return FALSE;
    }
    if (n >= quota) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_FULL, "%s has %u offline messages (quota)",
                    user, n);
        return FALSE;
    }
    g_autofree char *key = offline_new_key();
    return store_map_add(s, OFFLINE_MAP, user, key, xml, len, error);
}

typedef struct {
    OfflineFunc fn;
    gpointer ud;
} ForeachCtx;

static gboolean foreach_cb(const char *key, const void *val, gsize len, gpointer ud)
{
    ForeachCtx *c = ud;
    return c->fn(key, val, len, c->ud);
}

gboolean offline_foreach(Store *s, const char *user, OfflineFunc fn, gpointer ud, GError **error)
{
    ForeachCtx c = {fn, ud};
    return store_map_foreach(s, OFFLINE_MAP, user, foreach_cb, &c, error);
}

gboolean offline_delete(Store *s, const char *user, const char *key, GError **error)
{
    return store_map_delete(s, OFFLINE_MAP, user, key, error);
}

gboolean offline_delete_user(Store *s, const char *user, GError **error)
{
    return store_map_delete_owner(s, OFFLINE_MAP, user, error);
}

void offline_batch_add(StoreBatch *b, const char *user, const char *key, const char *xml, gsize len)
{
    store_batch_set(b, OFFLINE_MAP, user, key, xml, len);
}
