/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/accounts.c — accounts map: SCRAM-SHA-1/-256 salted keys (RFC 5802 §3, RFC 7677) */
#include "storage/accounts.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* Map "accounts": owner = bare JID, key "creds" -> record v1 (126 bytes, big endian):
 * [u8 version 1][u32 iterations][u8 salt length 16][salt][SHA-1 StoredKey][SHA-1 ServerKey]
 * [SHA-256 StoredKey][SHA-256 ServerKey]. Never the password. */
#define ACCOUNTS_MAP "accounts"
#define ACCOUNTS_CREDS_KEY "creds"
#define RECORD_V1 1
#define RECORD_V1_LEN (1 + 4 + 1 + ACCOUNT_SALT_LEN + 2 * 20 + 2 * 32)

/* RFC 5802 §3: SaltedPassword = Hi(password, salt, i) (PBKDF2 with HMAC-H),
 * ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
 * ServerKey = HMAC(SaltedPassword, "Server Key"). Failures here mean a broken OpenSSL
 * (no input can cause them), so they abort like out-of-memory does. */
static void scram_keys(const EVP_MD *md, const char *password, const guint8 *salt,
                       guint32 iterations, guint8 *stored_key, guint8 *server_key)
{
    guint8 salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
    int n = EVP_MD_get_size(md);
    unsigned int len;

    if (n <= 0 || PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, ACCOUNT_SALT_LEN,
                                    (int)iterations, md, n, salted) != 1)
        g_error("accounts: PBKDF2 failed");
    if (!HMAC(md, salted, n, (const guint8 *)"Client Key", 10, client_key, &len) ||
        EVP_Digest(client_key, (size_t)n, stored_key, &len, md, NULL) != 1 ||
        !HMAC(md, salted, n, (const guint8 *)"Server Key", 10, server_key, &len))
        g_error("accounts: HMAC/digest failed");
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
}

void account_creds_derive(const char *password, guint32 iterations, AccountCreds *out)
{
    g_return_if_fail(password && out && iterations <= G_MAXINT);
    out->iterations = iterations ? iterations : ACCOUNT_DEFAULT_ITERATIONS;
    if (RAND_bytes(out->salt, ACCOUNT_SALT_LEN) != 1)
        g_error("accounts: RAND_bytes failed"); /* no safe salt: refuse to go on */
    scram_keys(EVP_sha1(), password, out->salt, out->iterations, out->sha1_stored_key,
               out->sha1_server_key);
    scram_keys(EVP_sha256(), password, out->salt, out->iterations, out->sha256_stored_key,
               out->sha256_server_key);
}

gboolean account_creds_verify_password(const AccountCreds *c, const char *password)
{
    guint8 stored[32], server[32];
    gboolean ok;

    g_return_val_if_fail(c && password, FALSE);
    if (c->iterations == 0 || c->iterations > G_MAXINT)
        return FALSE;
    scram_keys(EVP_sha256(), password, c->salt, c->iterations, stored, server);
    ok = CRYPTO_memcmp(stored, c->sha256_stored_key, sizeof stored) == 0;
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(server, sizeof server);
    return ok;
}

static void record_encode(const AccountCreds *c, guint8 *p)
{
    guint32 be = GUINT32_TO_BE(c->iterations);

    *p++ = RECORD_V1;
    memcpy(p, &be, 4);
    p += 4;
    *p++ = ACCOUNT_SALT_LEN;
    memcpy(p, c->salt, ACCOUNT_SALT_LEN);
    p += ACCOUNT_SALT_LEN;
    memcpy(p, c->sha1_stored_key, 20);
    memcpy(p + 20, c->sha1_server_key, 20);
    memcpy(p + 40, c->sha256_stored_key, 32);
    memcpy(p + 72, c->sha256_server_key, 32);
}

static gboolean record_decode(const guint8 *p, gsize len, AccountCreds *c, GError **error)
{
    guint32 be;

    if (len < 1 || p[0] != RECORD_V1) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_SCHEMA, "unknown account record version");
        return FALSE;
    }
    if (len != RECORD_V1_LEN || p[5] != ACCOUNT_SALT_LEN)
        goto corrupt;
    memcpy(&be, p + 1, 4);
    c->iterations = GUINT32_FROM_BE(be);
    if (c->iterations == 0 || c->iterations > G_MAXINT)
        goto corrupt;
    p += 6;
    memcpy(c->salt, p, ACCOUNT_SALT_LEN);
    p += ACCOUNT_SALT_LEN;
    memcpy(c->sha1_stored_key, p, 20);
    memcpy(c->sha1_server_key, p + 20, 20);
    memcpy(c->sha256_stored_key, p + 40, 32);
    memcpy(c->sha256_server_key, p + 72, 32);
    return TRUE;
corrupt:
    g_set_error(error, STORE_ERROR, STORE_ERROR_IO, "corrupt account record");
    return FALSE;
}

typedef enum { CREDS_ADD, CREDS_REPLACE, CREDS_SET } CredsMode;

/* Encode and store: add (create), replace (set_password) or set (import with overwrite). */
static gboolean put_creds(Store *s, const char *bare, const AccountCreds *c, CredsMode mode,
                          GError **error)
{
    guint8 rec[RECORD_V1_LEN];
    GError *local = NULL;
    gboolean ok;

    record_encode(c, rec);
    if (mode == CREDS_ADD)
        ok = store_map_add(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, rec, sizeof rec, &local);
    else if (mode == CREDS_REPLACE)
        ok = store_map_replace(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, rec, sizeof rec, &local);
    else
        ok = store_map_set(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, rec, sizeof rec, &local);
    OPENSSL_cleanse(rec, sizeof rec);
    if (g_error_matches(local, STORE_ERROR, STORE_ERROR_EXISTS))
        g_set_error(error, STORE_ERROR, STORE_ERROR_EXISTS, "account %s already exists", bare);
    else if (g_error_matches(local, STORE_ERROR, STORE_ERROR_NOT_FOUND))
        g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no account %s", bare);
    else if (local)
        g_propagate_error(error, g_steal_pointer(&local));
    g_clear_error(&local);
    return ok;
}

/* Derive and store with add (create) or replace (set_password) semantics. */
static gboolean account_put(Store *s, const char *bare, const char *password, gboolean create,
                            GError **error)
{
    AccountCreds c;
    gboolean ok;

    g_return_val_if_fail(s && bare && *bare && password, FALSE);
    account_creds_derive(password, ACCOUNT_DEFAULT_ITERATIONS, &c);
    ok = put_creds(s, bare, &c, create ? CREDS_ADD : CREDS_REPLACE, error);
    OPENSSL_cleanse(&c, sizeof c);
    return ok;
}

gboolean account_create(Store *s, const char *bare, const char *password, GError **error)
{
    return account_put(s, bare, password, TRUE, error);
}

gboolean account_set_password(Store *s, const char *bare, const char *password, GError **error)
{
    return account_put(s, bare, password, FALSE, error);
}

gboolean account_get_creds(Store *s, const char *bare, AccountCreds *out, GError **error)
{
    GBytes *rec;
    gsize len;
    const guint8 *p;
    gboolean ok;

    g_return_val_if_fail(s && bare && out, FALSE);
    rec = store_map_get(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, error);
    if (!rec)
        return FALSE;
    p = g_bytes_get_data(rec, &len);
    ok = record_decode(p, len, out, error);
    if (!ok)
        g_prefix_error(error, "account %s: ", bare);
    g_bytes_unref(rec);
    return ok;
}

gboolean account_put_creds(Store *s, const char *bare, const AccountCreds *c, gboolean overwrite,
                           GError **error)
{
    g_return_val_if_fail(s && bare && *bare && c, FALSE);
    if (c->iterations == 0 || c->iterations > G_MAXINT) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_IO, "account %s: bad iteration count %u", bare,
                    c->iterations);
        return FALSE;
    }
    return put_creds(s, bare, c, overwrite ? CREDS_SET : CREDS_ADD, error);
}

gboolean account_exists(Store *s, const char *bare)
{
    GError *error = NULL;
    GBytes *rec;

    g_return_val_if_fail(s && bare, FALSE);
    rec = store_map_get(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, &error);
    if (error) {
        g_warning("account %s: %s", bare, error->message);
        g_error_free(error);
    }
    if (!rec)
        return FALSE;
    g_bytes_unref(rec);
    return TRUE;
}

/* Every map that holds per-account data (owner = the bare JID). */
const char *const account_data_maps[] = {
    "roster",       "offline", "vcard",    "private", "blocklist",
    "lastactivity", "archive", "mamprefs", "push",    NULL};

gboolean account_delete(Store *s, const char *bare, GError **error)
{
    GError *local = NULL;
    GBytes *rec;

    g_return_val_if_fail(s && bare, FALSE);
    rec = store_map_get(s, ACCOUNTS_MAP, bare, ACCOUNTS_CREDS_KEY, &local);
    if (!rec) {
        if (local)
            g_propagate_error(error, local);
        else
            g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no account %s", bare);
        return FALSE;
    }
    g_bytes_unref(rec);
    /* The user's data goes first, the credentials last: a crash in between leaves an
     * account that can still log in, never data a re-created account would inherit. */
    for (guint i = 0; account_data_maps[i]; i++)
        if (!store_map_delete_owner(s, account_data_maps[i], bare, error))
            return FALSE;
    /* Two deleters racing both succeed; that is harmless. Every key of the account goes. */
    return store_map_delete_owner(s, ACCOUNTS_MAP, bare, error);
}

typedef struct {
    char *suffix; /* "@domain", NULL for all */
    StoreOwnerFunc fn;
    gpointer ud;
} ForeachCtx;

static gboolean foreach_filter(const char *owner, gpointer ud)
{
    ForeachCtx *ctx = ud;

    if (ctx->suffix &&
        (!g_str_has_suffix(owner, ctx->suffix) || strlen(owner) == strlen(ctx->suffix)))
        return TRUE;
    return ctx->fn(owner, ctx->ud);
}

gboolean account_foreach(Store *s, const char *domain, StoreOwnerFunc fn, gpointer ud,
                         GError **error)
{
    ForeachCtx ctx = {domain ? g_strconcat("@", domain, NULL) : NULL, fn, ud};
    gboolean ok;

    g_return_val_if_fail(s && fn, FALSE);
    ok = store_map_foreach_owner(s, ACCOUNTS_MAP, foreach_filter, &ctx, error);
    g_free(ctx.suffix);
    return ok;
}
