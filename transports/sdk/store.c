/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/store.c — per-user key/value data of a transport in its own LMDB
 * environment (the transport's data dir; never ternd's) */
#include "transports/sdk/sdk-private.h"

#include <errno.h>
#include <string.h>
#include <lmdb.h>

/*
 * One named database "users". LMDB key = enc(user) 0x00 enc(key), where enc(x) is x when
 * it is at most ENC_PLAIN_MAX bytes, else its first ENC_PLAIN_MAX bytes, 0x01 and the hex
 * SHA-256 of x (LMDB keys are at most 511 bytes; JIDs may be 3071). A plain enc has no NUL
 * and a hashed one has 0x01 where a shorter plain one has its 0x00, so enc(user) 0x00
 * prefixes exactly that user's keys. The value is user 0x00 key 0x00 value: the original
 * text, since a hash cannot be read back. Every call is one transaction, synced on commit.
 */

#define STORE_MAP_SIZE ((size_t)256 << 20) /* sparse; registrations are small */
#define ENC_PLAIN_MAX 150
#define ENC_LONG_LEN (ENC_PLAIN_MAX + 1 + 64)
G_STATIC_ASSERT(2 * ENC_LONG_LEN + 1 <= 511);

struct TtStore {
    MDB_env *env;
    MDB_dbi dbi;
    char *dir;
};

static gboolean mdb_fail(TtStore *s, int rc, const char *what, GError **error)
{
    g_set_error(error, TT_ERROR, TT_ERROR_STORE, "store %s: %s: %s", s->dir, what,
                mdb_strerror(rc));
    return FALSE;
}

static void enc_append(GByteArray *out, const char *x)
{
    gsize n = strlen(x);
    if (n <= ENC_PLAIN_MAX) {
        g_byte_array_append(out, (const guint8 *)x, n);
        return;
    }
    g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, x, n);
    g_byte_array_append(out, (const guint8 *)x, ENC_PLAIN_MAX);
    g_byte_array_append(out, (const guint8 *)"\001", 1);
    g_byte_array_append(out, (const guint8 *)hex, 64);
}

/* enc(user) 0x00 [enc(key)] */
static GByteArray *make_key(const char *user, const char *key)
{
    GByteArray *k = g_byte_array_new();
    enc_append(k, user);
    g_byte_array_append(k, (const guint8 *)"", 1);
    if (key)
        enc_append(k, key);
    return k;
}

TtStore *tt_store_open(const char *dir, GError **error)
{
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, TT_ERROR, TT_ERROR_STORE, "store %s: %s", dir, g_strerror(errno));
        return NULL;
    }
    TtStore *s = g_new0(TtStore, 1);
    s->dir = g_strdup(dir);
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 2);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, STORE_MAP_SIZE);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "users", MDB_CREATE, &s->dbi);
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc != 0) {
        if (txn)
            mdb_txn_abort(txn);
        mdb_fail(s, rc, "open", error);
        tt_store_close(s);
        return NULL;
    }
    return s;
}

void tt_store_close(TtStore *s)
{
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    g_free(s->dir);
    g_free(s);
}

/* value layout: user 0x00 key 0x00 value; the three parts, borrowed from v */
static gboolean split_value(const MDB_val *v, const char **user, const char **key,
                            const char **value, gsize *value_len)
{
    const char *p = v->mv_data, *end = p + v->mv_size;
    const char *z1 = memchr(p, 0, v->mv_size);
    const char *z2 = z1 ? memchr(z1 + 1, 0, end - z1 - 1) : NULL;
    if (!z2)
        return FALSE;
    *user = p;
    *key = z1 + 1;
    *value = z2 + 1;
    *value_len = end - z2 - 1;
    return TRUE;
}

char *tt_store_get(TtStore *s, const char *user, const char *key)
{
    g_autoptr(GByteArray) k = make_key(user, key);
    MDB_txn *txn;
    MDB_val mk = {k->len, k->data}, mv;
    char *result = NULL;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return NULL;
    const char *u, *kk, *v;
    gsize vlen;
    if (mdb_get(txn, s->dbi, &mk, &mv) == 0 && split_value(&mv, &u, &kk, &v, &vlen) &&
        strcmp(u, user) == 0 && strcmp(kk, key) == 0) /* not a SHA-256 collision */
        result = g_strndup(v, vlen);
    mdb_txn_abort(txn);
    return result;
}

gboolean tt_store_set(TtStore *s, const char *user, const char *key, const char *value,
                      GError **error)
{
    g_autoptr(GByteArray) k = make_key(user, key);
    g_autoptr(GByteArray) v = g_byte_array_new();
    g_byte_array_append(v, (const guint8 *)user, strlen(user) + 1);
    g_byte_array_append(v, (const guint8 *)key, strlen(key) + 1);
    g_byte_array_append(v, (const guint8 *)value, strlen(value));
    MDB_txn *txn;
    MDB_val mk = {k->len, k->data}, mv = {v->len, v->data};
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return mdb_fail(s, rc, "begin", error);
    rc = mdb_put(txn, s->dbi, &mk, &mv, 0);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return mdb_fail(s, rc, "put", error);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? TRUE : mdb_fail(s, rc, "commit", error);
}

gboolean tt_store_delete(TtStore *s, const char *user, const char *key, GError **error)
{
    g_autoptr(GByteArray) k = make_key(user, key);
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val mk = {k->len, k->data}, mv;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return mdb_fail(s, rc, "begin", error);
    if (key) {
        rc = mdb_del(txn, s->dbi, &mk, NULL);
    } else {
        /* every key with the prefix enc(user) 0x00; seek again after each delete */
        rc = mdb_cursor_open(txn, s->dbi, &cur);
        while (rc == 0) {
            mk.mv_size = k->len;
            mk.mv_data = k->data;
            rc = mdb_cursor_get(cur, &mk, &mv, MDB_SET_RANGE);
            if (rc != 0 || mk.mv_size < k->len || memcmp(mk.mv_data, k->data, k->len) != 0)
                break;
            rc = mdb_cursor_del(cur, 0);
        }
        if (cur)
            mdb_cursor_close(cur);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return mdb_fail(s, rc, "delete", error);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? TRUE : mdb_fail(s, rc, "commit", error);
}

gboolean tt_store_foreach(TtStore *s, const char *user, TtStoreFunc func, gpointer user_data,
                          GError **error)
{
    g_autoptr(GByteArray) prefix = user ? make_key(user, NULL) : g_byte_array_new();
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(g_free);
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val mk = {prefix->len, prefix->data}, mv;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return mdb_fail(s, rc, "begin", error);
    rc = mdb_cursor_open(txn, s->dbi, &cur);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &mk, &mv, user ? MDB_SET_RANGE : MDB_FIRST);
    while (rc == 0 && mk.mv_size >= prefix->len &&
           (!prefix->len || memcmp(mk.mv_data, prefix->data, prefix->len) == 0)) {
        const char *u, *k, *v;
        gsize vlen;
        if (split_value(&mv, &u, &k, &v, &vlen) && (!user || strcmp(u, user) == 0)) {
            g_ptr_array_add(rows, g_strdup(u));
            g_ptr_array_add(rows, g_strdup(k));
            g_ptr_array_add(rows, g_strndup(v, vlen));
        }
        rc = mdb_cursor_get(cur, &mk, &mv, MDB_NEXT);
    }
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return mdb_fail(s, rc, "read", error);
    for (guint i = 0; i + 2 < rows->len; i += 3)
        if (!func(rows->pdata[i], rows->pdata[i + 1], rows->pdata[i + 2], user_data))
            break;
    return TRUE;
}
