/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/roster.c — roster items as GVariant records in the "roster" map */
#include "storage/roster.h"

#include <string.h>

#define ROSTER_MAP "roster"
/* record: version byte, then (name, groups, flags, ver) */
#define ROSTER_RECORD_TYPE "(msasut)"
#define ROSTER_RECORD_FMT "(ms^asut)" /* ^as: a NULL-terminated char** */
#define ROSTER_RECORD_V1 1

enum {
    F_TO = 1 << 0,
    F_FROM = 1 << 1,
    F_PENDING_OUT = 1 << 2,
    F_PENDING_IN = 1 << 3,
    F_APPROVED = 1 << 4,
    F_IN_ROSTER = 1 << 5,
    F_REMOVED = 1 << 6,
};

RosterItem *roster_item_new(const char *jid)
{
    RosterItem *it = g_new0(RosterItem, 1);
    it->jid = g_strdup(jid);
    it->groups = g_new0(char *, 1);
    return it;
}

void roster_item_free(RosterItem *it)
{
    if (!it)
        return;
    g_free(it->jid);
    g_free(it->name);
    g_strfreev(it->groups);
    g_free(it);
}

const char *roster_item_subscription(const RosterItem *it)
{
    if (it->to && it->from)
        return "both";
    if (it->to)
        return "to";
    if (it->from)
        return "from";
    return "none";
}

static GBytes *item_encode(const RosterItem *it)
{
    guint32 flags = (it->to ? F_TO : 0) | (it->from ? F_FROM : 0) |
                    (it->pending_out ? F_PENDING_OUT : 0) | (it->pending_in ? F_PENDING_IN : 0) |
                    (it->approved ? F_APPROVED : 0) | (it->in_roster ? F_IN_ROSTER : 0) |
                    (it->removed ? F_REMOVED : 0);
    g_autoptr(GVariant) v = g_variant_ref_sink(g_variant_new(
        ROSTER_RECORD_FMT, it->name, (const char *const *)it->groups, flags, (guint64)it->ver));
    gsize n = g_variant_get_size(v);
    guint8 *buf = g_malloc(n + 1);
    buf[0] = ROSTER_RECORD_V1;
    memcpy(buf + 1, g_variant_get_data(v), n); /* g_variant_store needs aligned memory */
    return g_bytes_new_take(buf, n + 1);
}

/* Data read back from disk is checked like network input. */
static RosterItem *item_decode(const char *jid, const void *data, gsize len)
{
    const guint8 *p = data;
    if (len < 1 || p[0] != ROSTER_RECORD_V1)
        return NULL;
    g_autoptr(GBytes) b = g_bytes_new(p + 1, len - 1);
    g_autoptr(GVariant) raw =
        g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(ROSTER_RECORD_TYPE), b, FALSE));
    g_autoptr(GVariant) v = g_variant_get_normal_form(raw);
    RosterItem *it = g_new0(RosterItem, 1);
    it->jid = g_strdup(jid);
    guint32 flags;
    guint64 ver;
    g_variant_get(v, ROSTER_RECORD_FMT, &it->name, &it->groups, &flags, &ver);
    if (!it->groups)
        it->groups = g_new0(char *, 1);
    it->ver = ver;
    it->to = !!(flags & F_TO);
    it->from = !!(flags & F_FROM);
    it->pending_out = !!(flags & F_PENDING_OUT);
    it->pending_in = !!(flags & F_PENDING_IN);
    it->approved = !!(flags & F_APPROVED);
    it->in_roster = !!(flags & F_IN_ROSTER);
    it->removed = !!(flags & F_REMOVED);
    return it;
}

/* Versions only grow: microseconds since the epoch, at least one more than the last. */
static guint64 next_version(void)
{
    static guint64 last;
    guint64 now = (guint64)g_get_real_time();
    last = MAX(now, last + 1);
    return last;
}

RosterItem *roster_get(Store *s, const char *user, const char *contact, GError **error)
{
    g_autoptr(GBytes) b = store_map_get(s, ROSTER_MAP, user, contact, error);
    if (!b)
        return NULL;
    gsize len;
    const void *data = g_bytes_get_data(b, &len);
    RosterItem *it = item_decode(contact, data, len);
    if (!it) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_IO, "roster of %s: bad record for %s", user,
                    contact);
        return NULL;
    }
    if (it->removed) {
        roster_item_free(it);
        return NULL;
    }
    return it;
}

gboolean roster_put(Store *s, const char *user, RosterItem *it, GError **error)
{
    it->ver = next_version();
    it->removed = FALSE;
    g_autoptr(GBytes) b = item_encode(it);
    gsize len;
    const void *data = g_bytes_get_data(b, &len);
    return store_map_set(s, ROSTER_MAP, user, it->jid, data, len, error);
}

void roster_batch_put(StoreBatch *b, const char *user, RosterItem *it)
{
    it->ver = next_version();
    it->removed = FALSE;
    g_autoptr(GBytes) rec = item_encode(it);
    gsize len;
    const void *data = g_bytes_get_data(rec, &len);
    store_batch_set(b, ROSTER_MAP, user, it->jid, data, len);
}

gboolean roster_remove(Store *s, const char *user, const char *contact, guint64 *ver,
                       GError **error)
{
    g_autoptr(RosterItem) it = roster_item_new(contact);
    it->removed = TRUE;
    it->ver = next_version();
    if (ver)
        *ver = it->ver;
    g_autoptr(GBytes) b = item_encode(it);
    gsize len;
    const void *data = g_bytes_get_data(b, &len);
    return store_map_set(s, ROSTER_MAP, user, contact, data, len, error);
}

typedef struct {
    GPtrArray *items;
    guint64 ver;
} ListCtx;

static gboolean list_cb(const char *key, const void *val, gsize len, gpointer ud)
{
    ListCtx *c = ud;
    RosterItem *it = item_decode(key, val, len);
    if (!it) {
        g_warning("roster: skipping a bad record for %s", key);
        return TRUE;
    }
    c->ver = MAX(c->ver, it->ver);
    g_ptr_array_add(c->items, it);
    return TRUE;
}

GPtrArray *roster_list(Store *s, const char *user, guint64 *ver, GError **error)
{
    ListCtx c = {g_ptr_array_new_with_free_func((GDestroyNotify)roster_item_free), 0};
    if (!store_map_foreach(s, ROSTER_MAP, user, list_cb, &c, error)) {
        g_ptr_array_unref(c.items);
        return NULL;
    }
    if (ver)
        *ver = c.ver;
    return c.items;
}

guint roster_count(Store *s, const char *user, GError **error)
{
    g_autoptr(GPtrArray) items = roster_list(s, user, NULL, error);
    guint n = 0;
    for (guint i = 0; items && i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        if (!it->removed && it->in_roster)
            n++;
    }
    return n;
}

gboolean roster_delete_user(Store *s, const char *user, GError **error)
{
    return store_map_delete_owner(s, ROSTER_MAP, user, error);
}
