/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_storage.c — storage maps, key layout, map growth, schema, accounts */
#include "storage/storage.h"
#include "storage/accounts.h"
#include "tests/unit/testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* --- helpers --- */

typedef struct {
    char *tmp;
    char *dir; /* store folder inside tmp, not yet created */
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data)
{
    GError *error = NULL;

    f->tmp = g_dir_make_tmp("tern-storage-XXXXXX", &error);
    g_assert_no_error(error);
    f->dir = g_build_filename(f->tmp, "store", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    rm_rf(f->tmp);
    g_free(f->dir);
    g_free(f->tmp);
}

static Store *open_ok(const char *dir, gsize map_size)
{
    GError *error = NULL;
    Store *s = store_open(dir, map_size, &error);

    g_assert_no_error(error);
    g_assert_nonnull(s);
    return s;
}

static void set_ok(Store *s, const char *map, const char *owner, const char *key, const char *val)
{
    GError *error = NULL;

    g_assert_true(store_map_set(s, map, owner, key, val, strlen(val), &error));
    g_assert_no_error(error);
}

/* The value as a string, NULL when absent. */
static char *get_str(Store *s, const char *map, const char *owner, const char *key)
{
    GError *error = NULL;
    GBytes *b = store_map_get(s, map, owner, key, &error);
    gsize len;
    const char *data;
    char *out;

    g_assert_no_error(error);
    if (!b)
        return NULL;
    data = g_bytes_get_data(b, &len);
    out = g_strndup(data, len);
    g_bytes_unref(b);
    return out;
}

static void assert_get(Store *s, const char *map, const char *owner, const char *key,
                       const char *want)
{
    char *got = get_str(s, map, owner, key);

    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

typedef struct {
    GPtrArray *keys;  /* char* */
    GPtrArray *vals;  /* char* */
    guint stop_after; /* 0 = never stop */
} Collect;

static void collect_init(Collect *c, guint stop_after)
{
    c->keys = g_ptr_array_new_with_free_func(g_free);
    c->vals = g_ptr_array_new_with_free_func(g_free);
    c->stop_after = stop_after;
}

static void collect_clear(Collect *c)
{
    g_ptr_array_unref(c->keys);
    g_ptr_array_unref(c->vals);
}

static gboolean collect_kv(const char *key, const void *val, gsize len, gpointer ud)
{
    Collect *c = ud;

    g_ptr_array_add(c->keys, g_strdup(key));
    g_ptr_array_add(c->vals, g_strndup(val, len));
    return !c->stop_after || c->keys->len < c->stop_after;
}

static gboolean collect_owner(const char *owner, gpointer ud)
{
    Collect *c = ud;

    g_ptr_array_add(c->keys, g_strdup(owner));
    return !c->stop_after || c->keys->len < c->stop_after;
}

static void foreach_ok(Store *s, const char *map, const char *owner, Collect *c)
{
    GError *error = NULL;

    g_assert_true(store_map_foreach(s, map, owner, collect_kv, c, &error));
    g_assert_no_error(error);
}

static void owners_ok(Store *s, const char *map, Collect *c)
{
    GError *error = NULL;

    g_assert_true(store_map_foreach_owner(s, map, collect_owner, c, &error));
    g_assert_no_error(error);
}

static void assert_strv(GPtrArray *got, const char *const *want)
{
    guint n = g_strv_length((char **)want);

    g_assert_cmpuint(got->len, ==, n);
    for (guint i = 0; i < n; i++)
        g_assert_cmpstr(got->pdata[i], ==, want[i]);
}

/* Reads (and with set: writes; "" deletes) "schema_version" in db "meta" straight in LMDB. */
static char *raw_meta(const char *dir, const char *set)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen("schema_version"), (void *)"schema_version"}, v;
    char *out = NULL;

    g_assert_cmpint(mdb_env_create(&env), ==, 0);
    g_assert_cmpint(mdb_env_set_maxdbs(env, 32), ==, 0);
    g_assert_cmpint(mdb_env_open(env, dir, 0, 0600), ==, 0);
    g_assert_cmpint(mdb_txn_begin(env, NULL, 0, &txn), ==, 0);
    g_assert_cmpint(mdb_dbi_open(txn, "meta", 0, &dbi), ==, 0);
    if (mdb_get(txn, dbi, &k, &v) == 0)
        out = g_strndup(v.mv_data, v.mv_size);
    if (set && *set) {
        v = (MDB_val){strlen(set), (void *)set};
        g_assert_cmpint(mdb_put(txn, dbi, &k, &v, 0), ==, 0);
    } else if (set) {
        g_assert_cmpint(mdb_del(txn, dbi, &k, NULL), ==, 0);
    }
    g_assert_cmpint(mdb_txn_commit(txn), ==, 0);
    mdb_env_close(env);
    return out;
}

/* --- maps --- */

static void test_set_get_delete(Fixture *f, gconstpointer data)
{
    GError *error = NULL;
    GBytes *b;
    struct stat st;
    Store *s = open_ok(f->dir, 0);

    g_assert_cmpint(g_stat(f->dir, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);

    /* absent map, absent key: NULL without error */
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", NULL);
    set_ok(s, "roster", "romeo@example.org", "juliet@example.org", "v1");
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", "v1");
    assert_get(s, "roster", "romeo@example.org", "nurse@example.org", NULL);
    set_ok(s, "roster", "romeo@example.org", "juliet@example.org", "v2");
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", "v2");

    /* owners and maps are separate */
    assert_get(s, "roster", "juliet@example.org", "juliet@example.org", NULL);
    assert_get(s, "offline", "romeo@example.org", "juliet@example.org", NULL);
    set_ok(s, "offline", "romeo@example.org", "juliet@example.org", "other map");
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", "v2");

    /* empty value and empty key */
    g_assert_true(store_map_set(s, "roster", "romeo@example.org", "", NULL, 0, &error));
    g_assert_no_error(error);
    b = store_map_get(s, "roster", "romeo@example.org", "", &error);
    g_assert_no_error(error);
    g_assert_nonnull(b);
    g_assert_cmpuint(g_bytes_get_size(b), ==, 0);
    g_bytes_unref(b);

    /* add / replace */
    g_assert_false(
        store_map_add(s, "roster", "romeo@example.org", "juliet@example.org", "x", 1, &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_EXISTS);
    g_clear_error(&error);
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", "v2");
    g_assert_false(
        store_map_replace(s, "roster", "romeo@example.org", "tybalt@example.org", "x", 1, &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND);
    g_clear_error(&error);
    assert_get(s, "roster", "romeo@example.org", "tybalt@example.org", NULL);
    g_assert_true(
        store_map_add(s, "roster", "romeo@example.org", "tybalt@example.org", "t1", 2, &error));
    g_assert_true(
        store_map_replace(s, "roster", "romeo@example.org", "tybalt@example.org", "t2", 2, &error));
    g_assert_no_error(error);
    assert_get(s, "roster", "romeo@example.org", "tybalt@example.org", "t2");

    /* delete: present, absent, absent map */
    g_assert_true(store_map_delete(s, "roster", "romeo@example.org", "juliet@example.org", &error));
    assert_get(s, "roster", "romeo@example.org", "juliet@example.org", NULL);
    g_assert_true(store_map_delete(s, "roster", "romeo@example.org", "juliet@example.org", &error));
    g_assert_true(store_map_delete(s, "nomap", "romeo@example.org", "x", &error));
    g_assert_true(store_map_delete_owner(s, "nomap", "romeo@example.org", &error));
    g_assert_no_error(error);
    assert_get(s, "offline", "romeo@example.org", "juliet@example.org", "other map");

    /* delete_owner removes that owner only */
    set_ok(s, "roster", "romeo@example.orga", "k", "longer owner");
    set_ok(s, "roster", "romeo@example.or", "k", "shorter owner");
    g_assert_true(store_map_delete_owner(s, "roster", "romeo@example.org", &error));
    g_assert_no_error(error);
    assert_get(s, "roster", "romeo@example.org", "tybalt@example.org", NULL);
    assert_get(s, "roster", "romeo@example.org", "", NULL);
    assert_get(s, "roster", "romeo@example.orga", "k", "longer owner");
    assert_get(s, "roster", "romeo@example.or", "k", "shorter owner");

    g_assert_true(store_sync(s, &error));
    g_assert_no_error(error);
    store_close(s);

    /* durable across reopen */
    s = open_ok(f->dir, 0);
    assert_get(s, "offline", "romeo@example.org", "juliet@example.org", "other map");
    assert_get(s, "roster", "romeo@example.orga", "k", "longer owner");
    store_close(s);
}

static void test_foreach_order(Fixture *f, gconstpointer data)
{
    static const char *const keys[] = {"c", "a", "b", "aa", "B", "a\xc3\xa9", NULL};
    static const char *const sorted[] = {"B", "a", "aa", "a\xc3\xa9", "b", "c", NULL};
    static const char *const owners[] = {"n", "o", "o2", "oa", NULL};
    Store *s = open_ok(f->dir, 0);
    Collect c;

    for (guint i = 0; keys[i]; i++)
        set_ok(s, "m", "o", keys[i], keys[i]);
    set_ok(s, "m", "o2", "x", "o2");
    set_ok(s, "m", "oa", "a", "oa");
    set_ok(s, "m", "n", "z", "n");
    set_ok(s, "other", "p", "z", "other map");

    collect_init(&c, 0);
    foreach_ok(s, "m", "o", &c);
    assert_strv(c.keys, sorted);
    assert_strv(c.vals, sorted);
    collect_clear(&c);

    collect_init(&c, 2); /* the callback stops the walk */
    foreach_ok(s, "m", "o", &c);
    g_assert_cmpuint(c.keys->len, ==, 2);
    collect_clear(&c);

    collect_init(&c, 0); /* owner without keys, map without data */
    foreach_ok(s, "m", "nobody", &c);
    foreach_ok(s, "nomap", "o", &c);
    owners_ok(s, "nomap", &c);
    g_assert_cmpuint(c.keys->len, ==, 0);
    collect_clear(&c);

    collect_init(&c, 0);
    owners_ok(s, "m", &c);
    assert_strv(c.keys, owners);
    collect_clear(&c);

    collect_init(&c, 1);
    owners_ok(s, "m", &c);
    g_assert_cmpuint(c.keys->len, ==, 1);
    collect_clear(&c);

    store_close(s);
}

/* A 3071-byte string: a fixed fill with the last byte given. */
static char *long_str(char fill, gsize len, char last)
{
    char *s = g_malloc(len + 1);

    memset(s, fill, len);
    s[len - 1] = last;
    s[len] = '\0';
    return s;
}

static gboolean contains(GPtrArray *a, const char *s)
{
    for (guint i = 0; i < a->len; i++)
        if (strcmp(a->pdata[i], s) == 0)
            return TRUE;
    return FALSE;
}

static void test_long_keys(Fixture *f, gconstpointer data)
{
    GError *error = NULL;
    Store *s = open_ok(f->dir, 0);
    char *owner_a = long_str('o', 3071, 'a'), *owner_b = long_str('o', 3071, 'b');
    char *owner_200 = long_str('o', 200, 'o'), *owner_201 = long_str('o', 201, 'o');
    char *k200 = long_str('k', 200, 'k'), *k201 = long_str('k', 201, 'k');
    char *ka = long_str('k', 3071, 'a'), *kb = long_str('k', 3071, 'b');
    char *kutf8 = g_strnfill(1000, 'x');
    char *kutf8_full = g_strconcat(kutf8, "\xe2\x82\xac\xe2\x82\xac", NULL); /* euro signs */
    const char *key_set[] = {k200, k201, ka, kb, kutf8_full, "short"};
    Collect c;

    for (guint i = 0; i < G_N_ELEMENTS(key_set); i++) {
        set_ok(s, "m", owner_a, key_set[i], key_set[i]);
        set_ok(s, "m", owner_b, key_set[i], "b");
    }
    set_ok(s, "m", owner_200, ka, "200");
    set_ok(s, "m", owner_201, ka, "201");

    for (guint i = 0; i < G_N_ELEMENTS(key_set); i++) {
        assert_get(s, "m", owner_a, key_set[i], key_set[i]);
        assert_get(s, "m", owner_b, key_set[i], "b");
    }
    assert_get(s, "m", owner_200, ka, "200");
    assert_get(s, "m", owner_201, ka, "201");
    assert_get(s, "m", owner_201, kb, NULL);

    /* foreach gives back the original text; keys up to 200 bytes keep their order */
    collect_init(&c, 0);
    foreach_ok(s, "m", owner_a, &c);
    g_assert_cmpuint(c.keys->len, ==, G_N_ELEMENTS(key_set));
    for (guint i = 0; i < G_N_ELEMENTS(key_set); i++) {
        g_assert_true(contains(c.keys, key_set[i]));
        g_assert_cmpstr(c.keys->pdata[i], ==, c.vals->pdata[i]);
    }
    g_assert_cmpstr(c.keys->pdata[0], ==, k200);
    g_assert_cmpstr(c.keys->pdata[c.keys->len - 2], ==, "short");
    g_assert_cmpstr(c.keys->pdata[c.keys->len - 1], ==, kutf8_full);
    collect_clear(&c);

    collect_init(&c, 0);
    owners_ok(s, "m", &c);
    g_assert_cmpuint(c.keys->len, ==, 4);
    g_assert_cmpstr(c.keys->pdata[0], ==, owner_200);
    g_assert_true(contains(c.keys, owner_a));
    g_assert_true(contains(c.keys, owner_b));
    g_assert_true(contains(c.keys, owner_201));
    collect_clear(&c);

    g_assert_true(store_map_delete(s, "m", owner_a, ka, &error));
    assert_get(s, "m", owner_a, ka, NULL);
    assert_get(s, "m", owner_b, ka, "b");
    g_assert_true(store_map_delete_owner(s, "m", owner_a, &error));
    g_assert_no_error(error);
    collect_init(&c, 0);
    foreach_ok(s, "m", owner_a, &c);
    g_assert_cmpuint(c.keys->len, ==, 0);
    foreach_ok(s, "m", owner_b, &c);
    g_assert_cmpuint(c.keys->len, ==, G_N_ELEMENTS(key_set));
    collect_clear(&c);
    assert_get(s, "m", owner_201, ka, "201");

    store_close(s);
    g_free(owner_a);
    g_free(owner_b);
    g_free(owner_200);
    g_free(owner_201);
    g_free(k200);
    g_free(k201);
    g_free(ka);
    g_free(kb);
    g_free(kutf8);
    g_free(kutf8_full);
}

/* --- map growth --- */

#define BIG_VALUE (64 * 1024)

static void write_big(Store *s, const char *owner, guint n)
{
    GError *error = NULL;
    guint8 *val = g_malloc(BIG_VALUE);

    for (guint i = 0; i < n; i++) {
        char key[16];
        g_snprintf(key, sizeof key, "k%04u", i);
        memset(val, (int)('A' + i % 26), BIG_VALUE);
        g_assert_true(store_map_set(s, "big", owner, key, val, BIG_VALUE, &error));
        g_assert_no_error(error);
    }
    g_free(val);
}

static void check_big(Store *s, const char *owner, guint n)
{
    GError *error = NULL;

    for (guint i = 0; i < n; i++) {
        char key[16];
        gsize len;
        const guint8 *p;
        GBytes *b;
        g_snprintf(key, sizeof key, "k%04u", i);
        b = store_map_get(s, "big", owner, key, &error);
        g_assert_no_error(error);
        g_assert_nonnull(b);
        p = g_bytes_get_data(b, &len);
        g_assert_cmpuint(len, ==, BIG_VALUE);
        g_assert_cmpint(p[0], ==, 'A' + i % 26);
        g_assert_cmpint(p[BIG_VALUE - 1], ==, 'A' + i % 26);
        g_bytes_unref(b);
    }
}

static void test_map_full_grows(Fixture *f, gconstpointer data)
{
    Store *s = open_ok(f->dir, 64 * 1024);
    char *file = g_build_filename(f->dir, "data.mdb", NULL);
    struct stat st;

    write_big(s, "o", 64); /* 4 MiB through a 64 KiB map */
    check_big(s, "o", 64);
    store_close(s);
    g_assert_cmpint(g_stat(file, &st), ==, 0);
    g_assert_cmpint(st.st_size, >=, 64 * BIG_VALUE);

    /* reopening with the tiny size still maps everything */
    s = open_ok(f->dir, 64 * 1024);
    check_big(s, "o", 64);
    write_big(s, "p", 8);
    check_big(s, "p", 8);
    store_close(s);
    g_free(file);
}

/* --- schema --- */

static void test_schema_version(Fixture *f, gconstpointer data)
{
    GError *error = NULL;
    Store *s = open_ok(f->dir, 0);
    char *v;

    set_ok(s, "m", "o", "k", "v");
    store_close(s);
    v = raw_meta(f->dir, NULL);
    g_assert_cmpstr(v, ==, G_STRINGIFY(STORE_SCHEMA_VERSION));
    g_free(v);

    /* a newer store is refused, untouched */
    g_free(raw_meta(f->dir, "999"));
    g_assert_null(store_open(f->dir, 0, &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_SCHEMA);
    g_assert_nonnull(strstr(error->message, "newer"));
    g_clear_error(&error);
    v = raw_meta(f->dir, NULL);
    g_assert_cmpstr(v, ==, "999");
    g_free(v);

    g_free(raw_meta(f->dir, "x1"));
    g_assert_null(store_open(f->dir, 0, &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_SCHEMA);
    g_clear_error(&error);

    /* data without a version is not taken for a new store */
    g_free(raw_meta(f->dir, ""));
    g_assert_null(store_open(f->dir, 0, &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_SCHEMA);
    g_clear_error(&error);

    g_free(raw_meta(f->dir, G_STRINGIFY(STORE_SCHEMA_VERSION)));
    s = open_ok(f->dir, 0);
    assert_get(s, "m", "o", "k", "v");
    store_close(s);
}

/* --- accounts --- */

/* Reference SCRAM keys computed here, checked against the RFC vectors below. */
static void ref_keys(const EVP_MD *md, const char *pw, const guint8 *salt, gsize salt_len,
                     guint32 iterations, guint8 *client_key, guint8 *stored, guint8 *server)
{
    guint8 salted[EVP_MAX_MD_SIZE];
    unsigned int n = (unsigned int)EVP_MD_get_size(md), len;

    g_assert_cmpint(PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)salt_len, (int)iterations, md,
                                      (int)n, salted),
                    ==, 1);
    g_assert_nonnull(HMAC(md, salted, (int)n, (const guint8 *)"Client Key", 10, client_key, &len));
    g_assert_cmpint(EVP_Digest(client_key, n, stored, &len, md, NULL), ==, 1);
    g_assert_nonnull(HMAC(md, salted, (int)n, (const guint8 *)"Server Key", 10, server, &len));
}

/* RFC 5802 §5 / RFC 7677 §3 example exchanges for user "user", password "pencil". */
static void rfc_vector(const EVP_MD *md, const char *salt_b64, const char *auth_message,
                       const char *proof_b64, const char *sig_b64, AccountCreds *out)
{
    guint8 client_key[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE], server[EVP_MAX_MD_SIZE];
    guint8 sig[EVP_MAX_MD_SIZE];
    unsigned int n = (unsigned int)EVP_MD_get_size(md), len;
    gsize salt_len;
    guint8 *salt = g_base64_decode(salt_b64, &salt_len);
    char *b64;

    ref_keys(md, "pencil", salt, salt_len, 4096, client_key, stored, server);
    g_assert_nonnull(
        HMAC(md, stored, (int)n, (const guint8 *)auth_message, strlen(auth_message), sig, &len));
    for (unsigned int i = 0; i < n; i++)
        sig[i] ^= client_key[i]; /* ClientProof = ClientKey XOR ClientSignature */
    b64 = g_base64_encode(sig, n);
    g_assert_cmpstr(b64, ==, proof_b64);
    g_free(b64);
    g_assert_nonnull(
        HMAC(md, server, (int)n, (const guint8 *)auth_message, strlen(auth_message), sig, &len));
    b64 = g_base64_encode(sig, n);
    g_assert_cmpstr(b64, ==, sig_b64);
    g_free(b64);
    if (out && salt_len == ACCOUNT_SALT_LEN) {
        memset(out, 0, sizeof *out);
        out->iterations = 4096;
        memcpy(out->salt, salt, ACCOUNT_SALT_LEN);
        memcpy(out->sha256_stored_key, stored, 32);
        memcpy(out->sha256_server_key, server, 32);
    }
    g_free(salt);
}

static void test_account_creds(void)
{
    AccountCreds c, c2, rfc;
    guint8 client_key[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE], server[EVP_MAX_MD_SIZE];

    rfc_vector(EVP_sha1(), "QSXCR+Q6sek8bf92",
               "n=user,r=fyko+d2lbbFgONRv9qkxdawL,"
               "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,"
               "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
               "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=", NULL);
    rfc_vector(EVP_sha256(), "W22ZaJ0SNY7soEsUEjb6gQ==",
               "n=user,r=rOprNGfwEbeRWgbNEkqO,"
               "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
               "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
               "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
               "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
               "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &rfc);
    g_assert_true(account_creds_verify_password(&rfc, "pencil"));
    g_assert_false(account_creds_verify_password(&rfc, "pencil "));

    /* derive matches the reference for its salt, for both hashes */
    account_creds_derive("pencil", 0, &c);
    g_assert_cmpuint(c.iterations, ==, ACCOUNT_DEFAULT_ITERATIONS);
    ref_keys(EVP_sha1(), "pencil", c.salt, ACCOUNT_SALT_LEN, c.iterations, client_key, stored,
             server);
    g_assert_cmpmem(c.sha1_stored_key, 20, stored, 20);
    g_assert_cmpmem(c.sha1_server_key, 20, server, 20);
    ref_keys(EVP_sha256(), "pencil", c.salt, ACCOUNT_SALT_LEN, c.iterations, client_key, stored,
             server);
    g_assert_cmpmem(c.sha256_stored_key, 32, stored, 32);
    g_assert_cmpmem(c.sha256_server_key, 32, server, 32);
    g_assert_true(account_creds_verify_password(&c, "pencil"));
    g_assert_false(account_creds_verify_password(&c, "Pencil"));
    g_assert_false(account_creds_verify_password(&c, ""));

    /* fresh salt each time */
    account_creds_derive("pencil", 1000, &c2);
    g_assert_cmpuint(c2.iterations, ==, 1000);
    g_assert_true(memcmp(c.salt, c2.salt, ACCOUNT_SALT_LEN) != 0);
    g_assert_true(account_creds_verify_password(&c2, "pencil"));
}

static void test_accounts(Fixture *f, gconstpointer data)
{
    static const char *const all[] = {"a@example.org",  "b@example.org", "c@sub.example.org",
                                      "d@xexample.org", "e@other.org",   NULL};
    static const char *const in_example[] = {"a@example.org", "b@example.org", NULL};
    GError *error = NULL;
    AccountCreds c;
    Store *s = open_ok(f->dir, 0);
    Collect col;

    g_assert_false(account_exists(s, "a@example.org"));
    g_assert_false(account_get_creds(s, "a@example.org", &c, &error));
    g_assert_no_error(error);

    g_assert_true(account_create(s, "a@example.org", "secret", &error));
    g_assert_no_error(error);
    g_assert_true(account_exists(s, "a@example.org"));
    g_assert_false(account_create(s, "a@example.org", "other", &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_EXISTS);
    g_clear_error(&error);

    g_assert_true(account_get_creds(s, "a@example.org", &c, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(c.iterations, ==, ACCOUNT_DEFAULT_ITERATIONS);
    g_assert_true(account_creds_verify_password(&c, "secret"));
    g_assert_false(account_creds_verify_password(&c, "other"));

    g_assert_true(account_set_password(s, "a@example.org", "new secret", &error));
    g_assert_no_error(error);
    g_assert_true(account_get_creds(s, "a@example.org", &c, &error));
    g_assert_true(account_creds_verify_password(&c, "new secret"));
    g_assert_false(account_creds_verify_password(&c, "secret"));

    /* set_password does not create */
    g_assert_false(account_set_password(s, "z@example.org", "x", &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(account_exists(s, "z@example.org"));

    for (guint i = 1; all[i]; i++) {
        g_assert_true(account_create(s, all[i], "pw", &error));
        g_assert_no_error(error);
    }
    collect_init(&col, 0);
    g_assert_true(account_foreach(s, "example.org", collect_owner, &col, &error));
    g_assert_no_error(error);
    assert_strv(col.keys, in_example);
    collect_clear(&col);
    collect_init(&col, 0);
    g_assert_true(account_foreach(s, NULL, collect_owner, &col, &error));
    assert_strv(col.keys, all);
    collect_clear(&col);
    collect_init(&col, 0);
    g_assert_true(account_foreach(s, "nowhere.example", collect_owner, &col, &error));
    g_assert_cmpuint(col.keys->len, ==, 0);
    collect_clear(&col);
    g_assert_no_error(error);

    g_assert_true(account_delete(s, "a@example.org", &error));
    g_assert_no_error(error);
    g_assert_false(account_exists(s, "a@example.org"));
    g_assert_false(account_delete(s, "a@example.org", &error));
    g_assert_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_true(account_exists(s, "b@example.org"));

    /* a re-created account starts with the new password only */
    g_assert_true(account_create(s, "a@example.org", "third", &error));
    g_assert_true(account_get_creds(s, "a@example.org", &c, &error));
    g_assert_no_error(error);
    g_assert_true(account_creds_verify_password(&c, "third"));
    store_close(s);
}

/* --- two processes: ternd keeps the store open while ternctl writes --- */

static int child_write(const char *dir)
{
    GError *error = NULL;
    Store *s = store_open(dir, 64 * 1024, &error);
    guint8 *val = g_malloc0(BIG_VALUE);
    gboolean ok = s != NULL;

    for (guint i = 0; ok && i < 32; i++) { /* 2 MiB: beyond the parent's 64 KiB map */
        char key[16];
        g_snprintf(key, sizeof key, "k%04u", i);
        memset(val, (int)('A' + i % 26), BIG_VALUE);
        ok = store_map_set(s, "big", "child", key, val, BIG_VALUE, &error);
    }
    ok = ok && store_map_set(s, "m", "o", "from", "child", 5, &error);
    ok = ok && account_create(s, "child@example.org", "pw", &error);
    if (error)
        g_printerr("child: %s\n", error->message);
    g_clear_error(&error);
    g_free(val);
    store_close(s);
    return ok ? 0 : 1;
}

static void test_two_processes(Fixture *f, gconstpointer data)
{
    GError *error = NULL;
    Store *s = open_ok(f->dir, 64 * 1024);
    int status;
    pid_t pid;

    set_ok(s, "m", "o", "from", "parent");
    assert_get(s, "m", "o", "from", "parent");
    fflush(NULL);
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0)
        _exit(child_write(f->dir)); /* never touches the parent's env */
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);

    /* the parent's map is now too small: MDB_MAP_RESIZED is handled inside */
    assert_get(s, "m", "o", "from", "child");
    check_big(s, "child", 32);
    g_assert_true(account_exists(s, "child@example.org"));
    set_ok(s, "m", "o", "after", "parent");
    write_big(s, "parent", 40);
    check_big(s, "parent", 40);
    g_assert_true(store_sync(s, &error));
    g_assert_no_error(error);
    store_close(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("/storage/set-get-delete", test_set_get_delete);
    ADD("/storage/foreach-order", test_foreach_order);
    ADD("/storage/long-owners-and-keys", test_long_keys);
    ADD("/storage/map-full-grows", test_map_full_grows);
    ADD("/storage/schema-version", test_schema_version);
    ADD("/storage/two-processes", test_two_processes);
    ADD("/accounts/store", test_accounts);
#undef ADD
    g_test_add_func("/accounts/creds", test_account_creds);
    return g_test_run();
}
