/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/reasm.c — concatenated SMS reassembly (reasm.h) */
#include "transports/sms/reasm.h"

#define GAP "[…]"

typedef struct {
    char *from, *to;
    guint16 ref;
    guint8 total, have;
    char **parts; /* total entries, NULL where missing */
    gint64 first_us;
} Pending;

struct SmsReasm {
    gint64 timeout_us;
    GHashTable *pending; /* key -> Pending* */
};

static void pending_free(gpointer p)
{
    Pending *m = p;
    for (guint i = 0; i < m->total; i++)
        g_free(m->parts[i]);
    g_free(m->parts);
    g_free(m->from);
    g_free(m->to);
    g_free(m);
}

SmsReasm *sms_reasm_new(gint64 timeout_us)
{
    SmsReasm *r = g_new0(SmsReasm, 1);
    r->timeout_us = timeout_us;
    r->pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, pending_free);
    return r;
}

void sms_reasm_free(SmsReasm *r)
{
    if (!r)
        return;
    g_hash_table_destroy(r->pending);
    g_free(r);
}

char *sms_reasm_key(const char *from, const char *to, guint16 ref, guint8 total)
{
    return g_strdup_printf("%s\x1f%s\x1f%u\x1f%u", from, to, ref, total);
}

static char *join(Pending *m)
{
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < m->total; i++)
        g_string_append(s, m->parts[i] ? m->parts[i] : GAP);
    return g_string_free(s, FALSE);
}

char *sms_reasm_add(SmsReasm *r, const char *from, const char *to, guint16 ref, guint8 total,
                    guint8 seq, const char *text, gint64 now_us, gboolean *duplicate)
{
    if (duplicate)
        *duplicate = FALSE;
    if (total == 0 || seq == 0 || seq > total)
        return NULL;
    if (total == 1)
        return g_strdup(text);
    g_autofree char *key = sms_reasm_key(from, to, ref, total);
    Pending *m = g_hash_table_lookup(r->pending, key);
    if (!m) {
        m = g_new0(Pending, 1);
        m->from = g_strdup(from);
        m->to = g_strdup(to);
        m->ref = ref;
        m->total = total;
        m->parts = g_new0(char *, total);
        m->first_us = now_us;
        g_hash_table_insert(r->pending, g_strdup(key), m);
    }
    if (m->parts[seq - 1]) { /* a resent part (e.g. our deliver_sm_resp was lost) */
        if (duplicate)
            *duplicate = TRUE;
        return NULL;
    }
    m->parts[seq - 1] = g_strdup(text);
    if (++m->have < m->total)
        return NULL;
    char *whole = join(m);
    g_hash_table_remove(r->pending, key);
    return whole;
}

guint sms_reasm_expire(SmsReasm *r, gint64 now_us, SmsReasmFunc func, gpointer user_data)
{
    GHashTableIter it;
    gpointer k, v;
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(pending_free);
    g_hash_table_iter_init(&it, r->pending);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Pending *m = v;
        if (now_us - m->first_us >= r->timeout_us) {
            g_hash_table_iter_steal(&it); /* the key is ours now */
            g_free(k);
            g_ptr_array_add(gone, m);
        }
    }
    for (guint i = 0; i < gone->len; i++) {
        Pending *m = gone->pdata[i];
        g_autofree char *text = join(m);
        if (func)
            func(m->from, m->to, m->ref, m->total, text, user_data);
    }
    return gone->len;
}

guint sms_reasm_pending(SmsReasm *r)
{
    return g_hash_table_size(r->pending);
}
