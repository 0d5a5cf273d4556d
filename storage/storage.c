/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/storage.c — named maps on one LMDB environment: key layout, schema, map growth */
#include "storage/storage.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <lmdb.h>

/*
 * Layout of the environment:
 * - db "meta": "schema_version" -> decimal text (STORE_SCHEMA_VERSION).
 * - db "map:<name>" per named map. LMDB key = enc(owner) '\0' enc(key), where enc(x) is x
 *   when strlen(x) <= ENC_PLAIN_MAX, else the first ENC_PLAIN_MAX bytes of x, 0x01 and the
 *   raw SHA-256 of x. A plain enc has no NUL; a hashed one has no NUL in its first 200 bytes
 *   and 0x01 at byte 200. So enc(owner) '\0' prefixes exactly that owner's keys (they are
 *   contiguous), the longest key is 467 bytes (LMDB allows 511), and byte order is kept
 *   except among strings longer than 200 bytes that share their first 200 bytes.
 * - value = [u8 flags] [u32 BE len + owner text, when VAL_OWNER_TEXT] [u32 BE len + key
 *   text, when VAL_KEY_TEXT] [value bytes]. Only hashed owners and keys carry their text
 *   (a hash cannot be read back); plain ones are read from the LMDB key.
 *
 * Every call is one transaction; writes are synced on commit (LMDB default flags).
 * Transactions run under resize_lock (read side) so that the map can be grown
 * (mdb_env_set_mapsize, write side) when no transaction of this process is active.
 * Foreach callbacks run after the transaction ended, so they may call the store.
 */

#define STORE_DEFAULT_MAP_SIZE ((size_t)256 << 20)
#if SIZE_MAX > 0xffffffffu
#define STORE_MAX_MAP_SIZE ((size_t)64 << 30)
#else
#define STORE_MAX_MAP_SIZE ((size_t)1 << 30)
#endif
#define STORE_MAX_DBS 32
#define STORE_MAX_ATTEMPTS 64 /* MAP_FULL doubling from a tiny map to the max, resizes */

#define ENC_PLAIN_MAX 200
#define ENC_HASH_LEN 32 /* SHA-256 */
#define ENC_LONG_LEN (ENC_PLAIN_MAX + 1 + ENC_HASH_LEN)
#define KEY_MAX (2 * ENC_LONG_LEN + 1)
G_STATIC_ASSERT(KEY_MAX <= 511); /* mdb_env_get_maxkeysize() of the default build */

#define VAL_OWNER_TEXT 0x01
#define VAL_KEY_TEXT 0x02

#define META_DB "meta"
#define META_SCHEMA_KEY "schema_version"

/* A TxnFunc return value: it set *error itself (not an LMDB code; those are > -30800 or
 * positive errno values, never -1). */
#define TXN_GERROR (-1)

GQuark store_error_quark(void)
{
    return g_quark_from_static_string("tern-store-error-quark");
}

struct Store {
    MDB_env *env;
    char *dir;
    GRWLock resize_lock; /* read: a txn of ours is active; write: mdb_env_set_mapsize */
    GMutex dbi_lock;     /* mdb_dbi_open must not run concurrently in one env */
    GHashTable *dbis;    /* db name -> MDB_dbi (named dbs are >= 2, never 0) */
};

typedef int (*TxnFunc)(Store *s, MDB_txn *txn, gpointer ud, GError **error);

static void set_mdb_error(Store *s, GError **error, int rc, const char *what)
{
    StoreError code = rc == MDB_MAP_FULL ? STORE_ERROR_FULL : STORE_ERROR_IO;
    g_set_error(error, STORE_ERROR, code, "store %s (%s): %s", s->dir, what, mdb_strerror(rc));
}

/* Changes the map size with no txn of ours active. size 0: adopt the size another process
 * wrote (MDB_MAP_RESIZED); else grow to double, up to STORE_MAX_MAP_SIZE. */
static gboolean store_resize(Store *s, gboolean adopt, GError **error)
{
    MDB_envinfo info;
    gboolean ok = FALSE;
    int rc;

    g_rw_lock_writer_lock(&s->resize_lock);
    rc = mdb_env_info(s->env, &info);
    if (rc != MDB_SUCCESS) {
        set_mdb_error(s, error, rc, "env info");
    } else if (adopt) {
        rc = mdb_env_set_mapsize(s->env, 0);
        if (rc != MDB_SUCCESS)
            set_mdb_error(s, error, rc, "adopt map size");
        ok = rc == MDB_SUCCESS;
    } else if (info.me_mapsize >= STORE_MAX_MAP_SIZE) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_FULL,
                    "store %s: map full at %zu bytes (the limit)", s->dir, info.me_mapsize);
    } else {
        size_t next =
            info.me_mapsize > STORE_MAX_MAP_SIZE / 2 ? STORE_MAX_MAP_SIZE : info.me_mapsize * 2;
        /* Two threads hitting MAP_FULL at once may both double: harmless. */
        rc = mdb_env_set_mapsize(s->env, next);
        if (rc != MDB_SUCCESS)
            set_mdb_error(s, error, rc, "grow map");
        else
            g_info("store %s: map grown to %zu bytes", s->dir, next);
        ok = rc == MDB_SUCCESS;
    }
    g_rw_lock_writer_unlock(&s->resize_lock);
    return ok;
}

/* Runs fn in one transaction (committed when fn returns MDB_SUCCESS), retrying after
 * MDB_MAP_FULL (grow) and MDB_MAP_RESIZED (adopt). fn may run more than once. */
static gboolean store_txn(Store *s, gboolean write, TxnFunc fn, gpointer ud, const char *what,
                          GError **error)
{
    for (guint attempt = 0;; attempt++) {
        MDB_txn *txn = NULL;
        GError *fn_error = NULL;
        int rc;

        g_rw_lock_reader_lock(&s->resize_lock);
        rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
        if (rc == MDB_SUCCESS) {
            rc = fn(s, txn, ud, &fn_error);
            if (rc == MDB_SUCCESS)
                rc = mdb_txn_commit(txn); /* also for read txns: keeps dbi handles */
            else
                mdb_txn_abort(txn);
        }
        g_rw_lock_reader_unlock(&s->resize_lock);

        if (rc == MDB_SUCCESS)
            return TRUE;
        if (rc == TXN_GERROR) {
            g_propagate_error(error, fn_error);
            return FALSE;
        }
        g_clear_error(&fn_error);
        if ((rc == MDB_MAP_FULL || rc == MDB_MAP_RESIZED) && attempt < STORE_MAX_ATTEMPTS) {
            if (!store_resize(s, rc == MDB_MAP_RESIZED, error))
                return FALSE;
            continue;
        }
        set_mdb_error(s, error, rc, what);
        return FALSE;
    }
}

/* --- keys and records --- */

typedef struct {
    guint8 data[KEY_MAX];
    gsize len;        /* whole key */
    gsize prefix_len; /* enc(owner) '\0' */
    guint8 flags;     /* VAL_* the value header needs */
} StoreKey;

/* Writes enc(x) to out (room for ENC_LONG_LEN); returns its length. */
static gsize enc(const char *x, guint8 *out, gboolean *hashed)
{
    gsize n = strlen(x), dlen = ENC_HASH_LEN;
    GChecksum *sum;

    *hashed = n > ENC_PLAIN_MAX;
    if (!*hashed) {
        memcpy(out, x, n);
        return n;
    }
    memcpy(out, x, ENC_PLAIN_MAX);
    out[ENC_PLAIN_MAX] = 0x01;
    sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_checksum_update(sum, (const guchar *)x, (gssize)n);
    g_checksum_get_digest(sum, out + ENC_PLAIN_MAX + 1, &dlen);
    g_checksum_free(sum);
    return ENC_LONG_LEN;
}

/* key NULL: only the owner prefix. */
static void key_init(StoreKey *k, const char *owner, const char *key)
{
    gboolean hashed;

    k->flags = 0;
    k->len = enc(owner, k->data, &hashed);
    if (hashed)
        k->flags |= VAL_OWNER_TEXT;
    k->data[k->len++] = '\0';
    k->prefix_len = k->len;
    if (key) {
        k->len += enc(key, k->data + k->len, &hashed);
        if (hashed)
            k->flags |= VAL_KEY_TEXT;
    }
}

static gboolean key_has_prefix(const MDB_val *k, const StoreKey *prefix)
{
    return k->mv_size >= prefix->prefix_len &&
           memcmp(k->mv_data, prefix->data, prefix->prefix_len) == 0;
}

/* One stored record; pointers into LMDB memory, valid during the txn, not NUL-terminated. */
typedef struct {
    const char *owner, *key;
    gsize owner_len, key_len;
    gsize owner_enc; /* length of enc(owner) at the start of the LMDB key */
    const guint8 *val;
    gsize val_len;
} Record;

static gboolean take_text(const guint8 *p, gsize len, gsize *off, const char **s, gsize *n)
{
    guint32 be;

    if (len - *off < 4)
        return FALSE;
    memcpy(&be, p + *off, 4);
    *off += 4;
    *n = GUINT32_FROM_BE(be);
    if (len - *off < *n)
        return FALSE;
    *s = (const char *)p + *off;
    *off += *n;
    return TRUE;
}

static gboolean record_parse(const MDB_val *k, const MDB_val *v, Record *r)
{
    const guint8 *kp = k->mv_data, *vp = v->mv_data;
    gsize off = 1, owner_enc;

    if (v->mv_size < 1 || (vp[0] & ~(VAL_OWNER_TEXT | VAL_KEY_TEXT)) != 0)
        return FALSE;
    if (vp[0] & VAL_OWNER_TEXT) {
        owner_enc = ENC_LONG_LEN;
    } else {
        const guint8 *nul = memchr(kp, 0, k->mv_size);
        if (!nul)
            return FALSE;
        owner_enc = (gsize)(nul - kp);
    }
    if (k->mv_size < owner_enc + 1 || kp[owner_enc] != 0)
        return FALSE;
    r->owner_enc = owner_enc;
    r->owner = (const char *)kp;
    r->owner_len = owner_enc;
    if ((vp[0] & VAL_OWNER_TEXT) && !take_text(vp, v->mv_size, &off, &r->owner, &r->owner_len))
        return FALSE;
    r->key = (const char *)kp + owner_enc + 1;
    r->key_len = k->mv_size - owner_enc - 1;
    if ((vp[0] & VAL_KEY_TEXT) && !take_text(vp, v->mv_size, &off, &r->key, &r->key_len))
        return FALSE;
    r->val = vp + off;
    r->val_len = v->mv_size - off;
    return TRUE;
}

static int corrupt(Store *s, GError **error, const char *map)
{
    g_set_error(error, STORE_ERROR, STORE_ERROR_IO, "store %s: corrupt record in map %s", s->dir,
                map);
    return TXN_GERROR;
}

/* --- databases --- */

typedef struct {
    const char *name;
    unsigned int flags;
    MDB_dbi dbi;
    gboolean missing;
} DbiOpen;

static int dbi_open_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    DbiOpen *d = ud;
    int rc = mdb_dbi_open(txn, d->name, d->flags, &d->dbi);

    d->missing = rc == MDB_NOTFOUND;
    return d->missing ? MDB_SUCCESS : rc;
}

/* The db of a map, opened once (committed, so every later txn may use it) and cached.
 * create FALSE: *found FALSE (and TRUE returned) while the map does not exist yet. */
static gboolean map_dbi(Store *s, const char *map, gboolean create, MDB_dbi *dbi, gboolean *found,
                        GError **error)
{
    char *name = g_strconcat("map:", map, NULL);
    gpointer cached;
    gboolean ok = TRUE;

    g_mutex_lock(&s->dbi_lock);
    if (g_hash_table_lookup_extended(s->dbis, name, NULL, &cached)) {
        *dbi = GPOINTER_TO_UINT(cached);
        *found = TRUE;
    } else {
        DbiOpen d = {name, create ? MDB_CREATE : 0, 0, FALSE};
        ok = store_txn(s, create, dbi_open_txn, &d, name, error);
        *found = ok && !d.missing;
        if (*found) {
            *dbi = d.dbi;
            g_hash_table_insert(s->dbis, g_strdup(name), GUINT_TO_POINTER(d.dbi));
        }
    }
    g_mutex_unlock(&s->dbi_lock);
    g_free(name);
    return ok;
}

/* --- schema --- */

/* Upgrade steps: each moves the whole store from version `from` to from + 1 inside the
 * opening transaction. None yet; add { 1, upgrade_1_to_2 } when version 2 appears. */
typedef int (*StoreUpgradeFunc)(Store *s, MDB_txn *txn, GError **error);
static const struct {
    guint from;
    StoreUpgradeFunc fn;
} store_upgrades[] = {
    {0, NULL}, /* sentinel */
};

static int schema_write(MDB_txn *txn, MDB_dbi meta, guint version)
{
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%u", version);
    MDB_val k = {strlen(META_SCHEMA_KEY), (void *)META_SCHEMA_KEY}, v = {(size_t)n, buf};

    return mdb_put(txn, meta, &k, &v, 0);
}

/* A store with no version that already has maps predates versioning: refuse it. */
static int schema_check_empty(Store *s, MDB_txn *txn, GError **error)
{
    MDB_dbi main_dbi;
    MDB_stat st;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);

    if (rc == MDB_SUCCESS)
        rc = mdb_stat(txn, main_dbi, &st);
    if (rc != MDB_SUCCESS)
        return rc;
    if (st.ms_entries > 1) { /* "meta" itself was just created */
        g_set_error(error, STORE_ERROR, STORE_ERROR_SCHEMA,
                    "store %s has data but no schema version", s->dir);
        return TXN_GERROR;
    }
    return MDB_SUCCESS;
}

static int schema_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    MDB_dbi meta;
    MDB_val k = {strlen(META_SCHEMA_KEY), (void *)META_SCHEMA_KEY}, v;
    char buf[16];
    guint64 version;
    int rc = mdb_dbi_open(txn, META_DB, MDB_CREATE, &meta);

    if (rc != MDB_SUCCESS)
        return rc;
    rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rc = schema_check_empty(s, txn, error);
        return rc != MDB_SUCCESS ? rc : schema_write(txn, meta, STORE_SCHEMA_VERSION);
    }
    if (rc != MDB_SUCCESS)
        return rc;
    if (v.mv_size == 0 || v.mv_size >= sizeof buf)
        goto invalid;
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = '\0';
    if (!g_ascii_string_to_unsigned(buf, 10, 1, G_MAXUINT, &version, NULL))
        goto invalid;
    if (version > STORE_SCHEMA_VERSION) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_SCHEMA,
                    "store %s has schema version %" G_GUINT64_FORMAT
                    ", newer than this build (%u); use a newer tern",
                    s->dir, version, STORE_SCHEMA_VERSION);
        return TXN_GERROR;
    }
    if (version == STORE_SCHEMA_VERSION)
        return MDB_SUCCESS;
    for (guint64 from = version; from < STORE_SCHEMA_VERSION; from++) {
        StoreUpgradeFunc fn = NULL;
        for (gsize i = 0; i < G_N_ELEMENTS(store_upgrades); i++)
            if (store_upgrades[i].fn && store_upgrades[i].from == from)
                fn = store_upgrades[i].fn;
        if (!fn) {
            g_set_error(error, STORE_ERROR, STORE_ERROR_SCHEMA,
                        "store %s: no upgrade from schema version %" G_GUINT64_FORMAT, s->dir,
                        from);
            return TXN_GERROR;
        }
        g_message("store %s: upgrading schema %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT, s->dir,
                  from, from + 1);
        rc = fn(s, txn, error);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return schema_write(txn, meta, STORE_SCHEMA_VERSION);
invalid:
    g_set_error(error, STORE_ERROR, STORE_ERROR_SCHEMA, "store %s: invalid schema version", s->dir);
    return TXN_GERROR;
}

/* --- environment --- */

Store *store_open(const char *dir, gsize map_size, GError **error)
{
    Store *s;
    int rc, dead;

    g_return_val_if_fail(dir != NULL, NULL);
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        int e = errno;
        g_set_error(error, STORE_ERROR, STORE_ERROR_IO, "cannot create store folder %s: %s", dir,
                    g_strerror(e));
        return NULL;
    }
    s = g_new0(Store, 1);
    s->dir = g_strdup(dir);
    g_rw_lock_init(&s->resize_lock);
    g_mutex_init(&s->dbi_lock);
    s->dbis = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    rc = mdb_env_create(&s->env);
    if (rc != MDB_SUCCESS) {
        s->env = NULL;
        set_mdb_error(s, error, rc, "create env");
        goto fail;
    }
    rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_set_mapsize(s->env, map_size ? map_size : STORE_DEFAULT_MAP_SIZE);
    if (rc == MDB_SUCCESS)
        rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc == MDB_SUCCESS)
        rc = mdb_reader_check(s->env, &dead); /* slots of crashed processes */
    if (rc != MDB_SUCCESS) {
        set_mdb_error(s, error, rc, "open");
        goto fail;
    }
    if (!store_txn(s, TRUE, schema_txn, NULL, META_DB, error))
        goto fail;
    return s;
fail:
    store_close(s);
    return NULL;
}

void store_close(Store *s)
{
    if (!s)
        return;
    if (s->env)
        mdb_env_close(s->env);
    g_hash_table_destroy(s->dbis);
    g_mutex_clear(&s->dbi_lock);
    g_rw_lock_clear(&s->resize_lock);
    g_free(s->dir);
    g_free(s);
}

gboolean store_sync(Store *s, GError **error)
{
    int rc;

    g_rw_lock_reader_lock(&s->resize_lock);
    rc = mdb_env_sync(s->env, 1);
    g_rw_lock_reader_unlock(&s->resize_lock);
    if (rc != MDB_SUCCESS) {
        set_mdb_error(s, error, rc, "sync");
        return FALSE;
    }
    return TRUE;
}

/* --- map operations --- */

typedef enum { PUT_SET, PUT_ADD, PUT_REPLACE } PutMode;

typedef struct {
    const char *map, *owner, *key;
    MDB_dbi dbi;
    StoreKey k;
    const void *val;
    gsize len;
    PutMode mode;
} PutOp;

static guint8 *put_text(guint8 *p, const char *text)
{
    gsize n = strlen(text);
    guint32 be = GUINT32_TO_BE((guint32)n);

    memcpy(p, &be, 4);
    memcpy(p + 4, text, n);
    return p + 4 + n;
}

static int put_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    PutOp *op = ud;
    MDB_val k = {op->k.len, op->k.data}, v;
    unsigned int flags = MDB_RESERVE;
    guint8 *p;
    int rc;

    if (op->mode == PUT_REPLACE) {
        rc = mdb_get(txn, op->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) {
            g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no such key in map %s",
                        op->map);
            return TXN_GERROR;
        }
        if (rc != MDB_SUCCESS)
            return rc;
    } else if (op->mode == PUT_ADD) {
        flags |= MDB_NOOVERWRITE;
    }
    v.mv_size = 1 + op->len;
    if (op->k.flags & VAL_OWNER_TEXT)
        v.mv_size += 4 + strlen(op->owner);
    if (op->k.flags & VAL_KEY_TEXT)
        v.mv_size += 4 + strlen(op->key);
    rc = mdb_put(txn, op->dbi, &k, &v, flags);
    if (rc == MDB_KEYEXIST) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_EXISTS, "key exists in map %s", op->map);
        return TXN_GERROR;
    }
    if (rc != MDB_SUCCESS)
        return rc;
    p = v.mv_data;
    *p++ = op->k.flags;
    if (op->k.flags & VAL_OWNER_TEXT)
        p = put_text(p, op->owner);
    if (op->k.flags & VAL_KEY_TEXT)
        p = put_text(p, op->key);
    if (op->len)
        memcpy(p, op->val, op->len);
    return MDB_SUCCESS;
}

static gboolean store_map_put(Store *s, const char *map, const char *owner, const char *key,
                              const void *val, gsize len, PutMode mode, GError **error)
{
    PutOp op = {.map = map, .owner = owner, .key = key, .val = val, .len = len, .mode = mode};
    gboolean found;

    g_return_val_if_fail(s && map && owner && key && (val || !len), FALSE);
    g_return_val_if_fail(strlen(owner) <= G_MAXUINT32 && strlen(key) <= G_MAXUINT32, FALSE);
    if (!map_dbi(s, map, TRUE, &op.dbi, &found, error))
        return FALSE;
    key_init(&op.k, owner, key);
    return store_txn(s, TRUE, put_txn, &op, map, error);
}

gboolean store_map_set(Store *s, const char *map, const char *owner, const char *key,
                       const void *val, gsize len, GError **error)
{
    return store_map_put(s, map, owner, key, val, len, PUT_SET, error);
}

gboolean store_map_add(Store *s, const char *map, const char *owner, const char *key,
                       const void *val, gsize len, GError **error)
{
    return store_map_put(s, map, owner, key, val, len, PUT_ADD, error);
}

gboolean store_map_replace(Store *s, const char *map, const char *owner, const char *key,
                           const void *val, gsize len, GError **error)
{
    return store_map_put(s, map, owner, key, val, len, PUT_REPLACE, error);
}

char *store_seq_key(void)
{
    static guint64 last_us;
    static guint32 seq;
    guint64 now = (guint64)g_get_real_time();
    if (now <= last_us) {
        now = last_us;
        seq++;
    } else {
        seq = 0;
    }
    last_us = now;
    return g_strdup_printf("%016" G_GINT64_MODIFIER "x%08x", now, seq);
}

/* --- batches: several writes, one transaction, one sync (group commit) --- */

typedef struct {
    char *map, *owner, *key;
    GBytes *val;
    MDB_dbi dbi;
} BatchOp;

struct StoreBatch {
    GPtrArray *ops;
};

static void batch_op_free(gpointer p)
{
    BatchOp *op = p;
    g_free(op->map);
    g_free(op->owner);
    g_free(op->key);
    g_bytes_unref(op->val);
    g_free(op);
}

StoreBatch *store_batch_new(void)
{
    StoreBatch *b = g_new0(StoreBatch, 1);
    b->ops = g_ptr_array_new_with_free_func(batch_op_free);
    return b;
}

void store_batch_free(StoreBatch *b)
{
    if (!b)
        return;
    g_ptr_array_unref(b->ops);
    g_free(b);
}

void store_batch_set(StoreBatch *b, const char *map, const char *owner, const char *key,
                     const void *val, gsize len)
{
    BatchOp *op = g_new0(BatchOp, 1);
    op->map = g_strdup(map);
    op->owner = g_strdup(owner);
    op->key = g_strdup(key);
    op->val = g_bytes_new(val, len);
    g_ptr_array_add(b->ops, op);
}

guint store_batch_len(const StoreBatch *b)
{
    return b->ops->len;
}

static int batch_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    StoreBatch *b = ud;
    for (guint i = 0; i < b->ops->len; i++) {
        BatchOp *op = g_ptr_array_index(b->ops, i);
        gsize len;
        const void *val = g_bytes_get_data(op->val, &len);
        PutOp put = {.map = op->map,
                     .owner = op->owner,
                     .key = op->key,
                     .val = val,
                     .len = len,
                     .mode = PUT_SET,
                     .dbi = op->dbi};
        key_init(&put.k, op->owner, op->key);
        int rc = put_txn(s, txn, &put, error);
        if (rc != MDB_SUCCESS)
            return rc;
    }
    return MDB_SUCCESS;
}

gboolean store_batch_commit(Store *s, StoreBatch *b, GError **error)
{
    if (b->ops->len == 0)
        return TRUE;
    for (guint i = 0; i < b->ops->len; i++) { /* DBIs are opened outside the write txn */
        BatchOp *op = g_ptr_array_index(b->ops, i);
        gboolean found;
        g_return_val_if_fail(strlen(op->owner) <= G_MAXUINT32, FALSE);
        if (!map_dbi(s, op->map, TRUE, &op->dbi, &found, error))
            return FALSE;
    }
    return store_txn(s, TRUE, batch_txn, b, "batch", error);
}

typedef struct {
    const char *map;
    MDB_dbi dbi;
    StoreKey k;
    GBytes *out;
} GetOp;

static int get_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    GetOp *op = ud;
    MDB_val k = {op->k.len, op->k.data}, v;
    Record r;
    int rc = mdb_get(txn, op->dbi, &k, &v);

    g_clear_pointer(&op->out, g_bytes_unref);
    if (rc == MDB_NOTFOUND)
        return MDB_SUCCESS;
    if (rc != MDB_SUCCESS)
        return rc;
    if (!record_parse(&k, &v, &r))
        return corrupt(s, error, op->map);
    op->out = g_bytes_new(r.val, r.val_len);
    return MDB_SUCCESS;
}

GBytes *store_map_get(Store *s, const char *map, const char *owner, const char *key, GError **error)
{
    GetOp op = {.map = map};
    gboolean found;

    g_return_val_if_fail(s && map && owner && key, NULL);
    if (!map_dbi(s, map, FALSE, &op.dbi, &found, error) || !found)
        return NULL;
    key_init(&op.k, owner, key);
    if (!store_txn(s, FALSE, get_txn, &op, map, error))
        g_clear_pointer(&op.out, g_bytes_unref);
    return op.out;
}

typedef struct {
    MDB_dbi dbi;
    StoreKey k;
} DelOp;

static int del_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    DelOp *op = ud;
    MDB_val k = {op->k.len, op->k.data};
    int rc = mdb_del(txn, op->dbi, &k, NULL);

    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

gboolean store_map_delete(Store *s, const char *map, const char *owner, const char *key,
                          GError **error)
{
    DelOp op;
    gboolean found;

    g_return_val_if_fail(s && map && owner && key, FALSE);
    if (!map_dbi(s, map, FALSE, &op.dbi, &found, error))
        return FALSE;
    if (!found)
        return TRUE;
    key_init(&op.k, owner, key);
    return store_txn(s, TRUE, del_txn, &op, map, error);
}

static int del_owner_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    DelOp *op = ud;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, op->dbi, &cur);

    if (rc != MDB_SUCCESS)
        return rc;
    for (;;) {
        /* Seek again after each delete rather than rely on cursor state after del. */
        k = (MDB_val){op->k.prefix_len, op->k.data};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc != MDB_SUCCESS || !key_has_prefix(&k, &op->k))
            break;
        rc = mdb_cursor_del(cur, 0);
        if (rc != MDB_SUCCESS)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

gboolean store_map_delete_owner(Store *s, const char *map, const char *owner, GError **error)
{
    DelOp op;
    gboolean found;

    g_return_val_if_fail(s && map && owner, FALSE);
    if (!map_dbi(s, map, FALSE, &op.dbi, &found, error))
        return FALSE;
    if (!found)
        return TRUE;
    key_init(&op.k, owner, NULL);
    return store_txn(s, TRUE, del_owner_txn, &op, map, error);
}

/* --- iteration: collect inside the txn, call back after it --- */

typedef struct {
    char *key;
    GBytes *val;
} Item;

static void item_free(gpointer p)
{
    Item *it = p;
    g_free(it->key);
    g_bytes_unref(it->val);
    g_free(it);
}

typedef struct {
    const char *map;
    MDB_dbi dbi;
    StoreKey k;
    GPtrArray *items; /* Item or owner text */
} ScanOp;

static int foreach_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    ScanOp *op = ud;
    MDB_cursor *cur;
    MDB_val k = {op->k.prefix_len, op->k.data}, v;
    MDB_cursor_op how = MDB_SET_RANGE;
    int rc = mdb_cursor_open(txn, op->dbi, &cur);

    if (rc != MDB_SUCCESS)
        return rc;
    g_ptr_array_set_size(op->items, 0);
    while ((rc = mdb_cursor_get(cur, &k, &v, how)) == MDB_SUCCESS && key_has_prefix(&k, &op->k)) {
        Record r;
        Item *it;
        if (!record_parse(&k, &v, &r)) {
            rc = corrupt(s, error, op->map);
            break;
        }
        it = g_new(Item, 1);
        it->key = g_strndup(r.key, r.key_len);
        it->val = g_bytes_new(r.val, r.val_len);
        g_ptr_array_add(op->items, it);
        how = MDB_NEXT;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? MDB_SUCCESS : rc;
}

gboolean store_map_foreach(Store *s, const char *map, const char *owner, StoreMapFunc fn,
                           gpointer ud, GError **error)
{
    ScanOp op = {.map = map};
    gboolean found, ok;

    g_return_val_if_fail(s && map && owner && fn, FALSE);
    if (!map_dbi(s, map, FALSE, &op.dbi, &found, error))
        return FALSE;
    if (!found)
        return TRUE;
    key_init(&op.k, owner, NULL);
    op.items = g_ptr_array_new_with_free_func(item_free);
    ok = store_txn(s, FALSE, foreach_txn, &op, map, error);
    for (guint i = 0; ok && i < op.items->len; i++) {
        Item *it = op.items->pdata[i];
        gsize len;
        const void *data = g_bytes_get_data(it->val, &len);
        if (!fn(it->key, data, len, ud))
            break;
    }
    g_ptr_array_unref(op.items);
    return ok;
}

static int owners_txn(Store *s, MDB_txn *txn, gpointer ud, GError **error)
{
    ScanOp *op = ud;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, op->dbi, &cur);

    if (rc != MDB_SUCCESS)
        return rc;
    g_ptr_array_set_size(op->items, 0);
    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
        Record r;
        if (!record_parse(&k, &v, &r)) {
            rc = corrupt(s, error, op->map);
            break;
        }
        g_ptr_array_add(op->items, g_strndup(r.owner, r.owner_len));
        /* Skip the rest of this owner: its keys all sort below enc(owner) 0x01. */
        memcpy(op->k.data, k.mv_data, r.owner_enc);
        op->k.data[r.owner_enc] = 0x01;
        op->k.len = r.owner_enc + 1;
        k = (MDB_val){op->k.len, op->k.data};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

gboolean store_map_foreach_owner(Store *s, const char *map, StoreOwnerFunc fn, gpointer ud,
                                 GError **error)
{
    ScanOp op = {.map = map};
    gboolean found, ok;

    g_return_val_if_fail(s && map && fn, FALSE);
    if (!map_dbi(s, map, FALSE, &op.dbi, &found, error))
        return FALSE;
    if (!found)
        return TRUE;
    op.items = g_ptr_array_new_with_free_func(g_free);
    ok = store_txn(s, FALSE, owners_txn, &op, map, error);
    for (guint i = 0; ok && i < op.items->len; i++)
        if (!fn(op.items->pdata[i], ud))
            break;
    g_ptr_array_unref(op.items);
    return ok;
}
