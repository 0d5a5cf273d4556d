/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/accounts.h — accounts: SCRAM salted credentials, never plaintext */
#pragma once

#include <glib.h>
#include "storage/storage.h"

#define ACCOUNT_SALT_LEN 16
#define ACCOUNT_DEFAULT_ITERATIONS 4096

/* Salted SCRAM keys for both hashes (RFC 5802 §3). */
typedef struct {
    guint32 iterations;
    guint8 salt[ACCOUNT_SALT_LEN];
    guint8 sha1_stored_key[20];
    guint8 sha1_server_key[20];
    guint8 sha256_stored_key[32];
    guint8 sha256_server_key[32];
} AccountCreds;

/* Derive credentials from a password (already SASLprep'd/OpaqueString-prepared by the
 * caller) with a fresh random salt. */
void account_creds_derive(const char *password, guint32 iterations, AccountCreds *out);
/* Constant-time password check against stored creds (PLAIN). */
gboolean account_creds_verify_password(const AccountCreds *c, const char *password);

/* Accounts are keyed by their bare JID "local@domain" (already prepared). */
gboolean account_create(Store *s, const char *bare, const char *password, GError **error);
gboolean account_set_password(Store *s, const char *bare, const char *password, GError **error);
/* Removes the credentials and every per-account map below; NOT_FOUND if none. */
gboolean account_delete(Store *s, const char *bare, GError **error);
extern const char *const account_data_maps[];
gboolean account_exists(Store *s, const char *bare);
/* FALSE (no error) when the account does not exist. */
gboolean account_get_creds(Store *s, const char *bare, AccountCreds *out, GError **error);
/* Store raw credentials (an import): create, or with overwrite replace when present.
 * EXISTS when the account exists and overwrite is FALSE. c is borrowed. */
gboolean account_put_creds(Store *s, const char *bare, const AccountCreds *c, gboolean overwrite,
                           GError **error);
/* Visit bare JIDs of all accounts (domain NULL) or of one domain. */
gboolean account_foreach(Store *s, const char *domain, StoreOwnerFunc fn, gpointer ud,
                         GError **error);
