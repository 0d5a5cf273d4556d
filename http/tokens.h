/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/tokens.h — bearer tokens of the HTTP API, stored hashed (ternctl token-*, ternd) */
#pragma once

#include <glib.h>

#include "storage/storage.h"

/* Map "tokens", owner "tokens", key = the token's NAME, value (text, version 1):
 * "1 SCOPE CREATED HASH" — SCOPE push|admin, CREATED unix seconds, HASH base64url (no
 * padding) of SHA-256 over the token text. The token itself (32 random bytes, base64url)
 * is shown once at creation and never stored. */
#define TOKENS_MAP "tokens"
#define TOKENS_OWNER "tokens"
#define TOKEN_NAME_MAX 64

typedef enum {
    TOKEN_SCOPE_PUSH,  /* POST /api/v1/push */
    TOKEN_SCOPE_ADMIN, /* everything, push included */
} TokenScope;

const char *token_scope_name(TokenScope scope); /* "push", "admin" */
gboolean token_scope_parse(const char *s, TokenScope *out);
/* 1..64 characters of A-Z a-z 0-9 . _ - */
gboolean token_name_valid(const char *name);

/* A new token NAME with scope: the token text (transfer full, to show once). STORE_ERROR_EXISTS
 * when NAME is taken. */
char *token_create(Store *s, const char *name, TokenScope scope, GError **error);
/* STORE_ERROR_NOT_FOUND when there is no token NAME. */
gboolean token_revoke(Store *s, const char *name, GError **error);

typedef struct {
    char *name;
    TokenScope scope;
    gint64 created; /* unix seconds */
} TokenInfo;
void token_info_free(TokenInfo *t);
/* Every token in name order (GPtrArray of TokenInfo* with its free function), or NULL +
 * error. transfer full */
GPtrArray *token_list(Store *s, GError **error);

/* Does token match a stored one? Compares the SHA-256 with every stored hash in constant
 * time (CRYPTO_memcmp). TRUE + name (transfer full) and scope when it does. */
gboolean token_verify(Store *s, const char *token, char **name, TokenScope *scope);
