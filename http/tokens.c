/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/tokens.c — bearer tokens: 32 random bytes, stored as SHA-256, compared in constant time */
#include "http/tokens.h"

#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define TOKEN_BYTES 32
#define TOKEN_RECORD_VERSION "1"

const char *token_scope_name(TokenScope scope)
{
    return scope == TOKEN_SCOPE_ADMIN ? "admin" : "push";
}

gboolean token_scope_parse(const char *s, TokenScope *out)
{
    if (!g_strcmp0(s, "push"))
        *out = TOKEN_SCOPE_PUSH;
    else if (!g_strcmp0(s, "admin"))
        *out = TOKEN_SCOPE_ADMIN;
    else
        return FALSE;
    return TRUE;
}

gboolean token_name_valid(const char *name)
{
    gsize n = name ? strlen(name) : 0;
    if (n == 0 || n > TOKEN_NAME_MAX)
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return FALSE;
    return TRUE;
}

/* RFC 4648 §5 without padding; transfer full */
static char *base64url(const guint8 *data, gsize len)
{
    char *s = g_base64_encode(data, len);
    for (char *p = s; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    char *eq = strchr(s, '=');
    if (eq)
        *eq = '\0';
    return s;
}

static void token_hash(const char *token, guint8 out[32])
{
    unsigned int len = 0;
    if (EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL) != 1 || len != 32)
        g_error("tokens: SHA-256 failed"); /* a broken OpenSSL: no input causes this */
}

/* Decode a stored base64url hash into out; FALSE when it is not 32 bytes. */
static gboolean hash_decode(const char *text, guint8 out[32])
{
    gsize n = strlen(text);
    if (n != 43)
        return FALSE;
    char buf[45];
    for (gsize i = 0; i < n; i++) {
        char c = text[i];
        if (!g_ascii_isalnum(c) && c != '-' && c != '_')
            return FALSE;
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    buf[43] = '=';
    buf[44] = '\0';
    gsize len = 0;
    guchar *raw = g_base64_decode(buf, &len);
    gboolean ok = len == 32;
    if (ok)
        memcpy(out, raw, 32);
    g_free(raw);
    return ok;
}

char *token_create(Store *s, const char *name, TokenScope scope, GError **error)
{
    g_return_val_if_fail(token_name_valid(name), NULL);
    guint8 raw[TOKEN_BYTES], hash[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        g_error("tokens: RAND_bytes failed"); /* no safe token: refuse to go on */
    char *token = base64url(raw, sizeof raw);
    OPENSSL_cleanse(raw, sizeof raw);
    token_hash(token, hash);
    g_autofree char *hash_text = base64url(hash, sizeof hash);
    g_autofree char *rec =
        g_strdup_printf(TOKEN_RECORD_VERSION " %s %" G_GINT64_FORMAT " %s", token_scope_name(scope),
                        g_get_real_time() / G_USEC_PER_SEC, hash_text);
    GError *local = NULL;
    if (!store_map_add(s, TOKENS_MAP, TOKENS_OWNER, name, rec, strlen(rec), &local)) {
        if (g_error_matches(local, STORE_ERROR, STORE_ERROR_EXISTS)) {
            g_set_error(error, STORE_ERROR, STORE_ERROR_EXISTS, "a token named %s exists", name);
            g_error_free(local);
        } else {
            g_propagate_error(error, local);
        }
        OPENSSL_cleanse(token, strlen(token));
        g_free(token);
        return NULL;
    }
    return token;
}

gboolean token_revoke(Store *s, const char *name, GError **error)
{
    GError *local = NULL;
    g_autoptr(GBytes) v = store_map_get(s, TOKENS_MAP, TOKENS_OWNER, name, &local);
    if (!v) {
        if (local)
            g_propagate_error(error, local);
        else
            g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no token named %s", name);
        return FALSE;
    }
    return store_map_delete(s, TOKENS_MAP, TOKENS_OWNER, name, error);
}

void token_info_free(TokenInfo *t)
{
    if (!t)
        return;
    g_free(t->name);
    g_free(t);
}

/* "1 SCOPE CREATED HASH" -> parts; FALSE when it is not a version 1 record. */
static gboolean record_parse(const void *val, gsize len, TokenScope *scope, gint64 *created,
                             guint8 hash[32])
{
    g_autofree char *text = g_strndup(val, len);
    g_auto(GStrv) parts = g_strsplit(text, " ", 5);
    if (g_strv_length(parts) != 4 || strcmp(parts[0], TOKEN_RECORD_VERSION) ||
        !token_scope_parse(parts[1], scope))
        return FALSE;
    *created = g_ascii_strtoll(parts[2], NULL, 10);
    return hash_decode(parts[3], hash);
}

static gboolean list_one(const char *key, const void *val, gsize len, gpointer ud)
{
    TokenInfo t = {NULL, TOKEN_SCOPE_PUSH, 0};
    guint8 hash[32];
    if (!record_parse(val, len, &t.scope, &t.created, hash)) {
        g_warning("tokens: the record of %s is not readable; ignored", key);
        return TRUE;
    }
    TokenInfo *copy = g_new(TokenInfo, 1);
    *copy = t;
    copy->name = g_strdup(key);
    g_ptr_array_add(ud, copy);
    return TRUE;
}

GPtrArray *token_list(Store *s, GError **error)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)token_info_free);
    if (!store_map_foreach(s, TOKENS_MAP, TOKENS_OWNER, list_one, out, error)) {
        g_ptr_array_unref(out);
        return NULL;
    }
    return out;
}

typedef struct {
    guint8 want[32];
    char *name;
    TokenScope scope;
} VerifyCtx;

/* Every record is compared (no early exit), so the time does not tell which one matched. */
static gboolean verify_one(const char *key, const void *val, gsize len, gpointer ud)
{
    VerifyCtx *v = ud;
    TokenScope scope;
    gint64 created;
    guint8 hash[32];
    if (!record_parse(val, len, &scope, &created, hash))
        return TRUE;
    if (CRYPTO_memcmp(hash, v->want, sizeof hash) == 0 && !v->name) {
        v->name = g_strdup(key);
        v->scope = scope;
    }
    return TRUE;
}

gboolean token_verify(Store *s, const char *token, char **name, TokenScope *scope)
{
    if (!token || !*token || strlen(token) > 256)
        return FALSE;
    VerifyCtx v = {.name = NULL};
    token_hash(token, v.want);
    g_autoptr(GError) err = NULL;
    if (!store_map_foreach(s, TOKENS_MAP, TOKENS_OWNER, verify_one, &v, &err)) {
        g_warning("tokens: cannot read the tokens: %s", err->message);
        g_free(v.name);
        return FALSE;
    }
    OPENSSL_cleanse(v.want, sizeof v.want);
    if (!v.name)
        return FALSE;
    *name = v.name;
    *scope = v.scope;
    return TRUE;
}
