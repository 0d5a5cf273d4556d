/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/scram.h — SCRAM (RFC 5802, RFC 7677) server side, PLAIN (RFC 4616) parsing */
#pragma once

#include <glib.h>
#include "storage/accounts.h"

typedef enum { SCRAM_SHA1, SCRAM_SHA256 } ScramHash;

/* Primitives (for tests with RFC vectors and for accounts). out sizes: hash length. */
gsize scram_hash_len(ScramHash h);
void scram_salted_password(ScramHash h, const char *password, const guint8 *salt, gsize salt_len,
                           guint32 iterations, guint8 *out);
void scram_client_key(ScramHash h, const guint8 *salted, guint8 *out);
void scram_server_key(ScramHash h, const guint8 *salted, guint8 *out);
void scram_stored_key(ScramHash h, const guint8 *client_key, guint8 *out);
void scram_hmac(ScramHash h, const guint8 *key, gsize key_len, const char *msg, gsize msg_len,
                guint8 *out);

/* Result of one step of a server-side exchange */
typedef enum {
    SASL_STEP_CONTINUE, /* send challenge */
    SASL_STEP_SUCCESS,  /* send success with additional data (may be NULL) */
    SASL_STEP_FAILURE,  /* send failure with condition */
} SaslStep;

/* RFC 6120 §6.5 failure conditions */
typedef enum {
    SASL_FAIL_ABORTED,
    SASL_FAIL_ACCOUNT_DISABLED,
    SASL_FAIL_CREDENTIALS_EXPIRED,
    SASL_FAIL_ENCRYPTION_REQUIRED,
    SASL_FAIL_INCORRECT_ENCODING,
    SASL_FAIL_INVALID_AUTHZID,
    SASL_FAIL_INVALID_MECHANISM,
    SASL_FAIL_MALFORMED_REQUEST,
    SASL_FAIL_MECHANISM_TOO_WEAK,
    SASL_FAIL_NOT_AUTHORIZED,
    SASL_FAIL_TEMPORARY_AUTH_FAILURE,
} SaslFail;
const char *sasl_fail_condition(SaslFail f); /* "not-authorized" */

/* Looks up credentials of a username (localpart, to be prepared by the callee).
 * Returns FALSE when no such user. */
typedef gboolean (*ScramCredsFunc)(const char *username, AccountCreds *out, gpointer ud);

typedef struct ScramServer ScramServer;
/* cb_type: channel binding type the server would accept with -PLUS ("tls-exporter" or
 * "tls-server-end-point"), NULL for the non-PLUS mechanism. cb_data: its data (borrowed,
 * copied). server_supports_plus: whether -PLUS was advertised (for the 'y' flag check). */
ScramServer *scram_server_new(ScramHash h, gboolean plus, const char *cb_type, GBytes *cb_data,
                              gboolean server_supports_plus, ScramCredsFunc creds, gpointer ud);
void scram_server_free(ScramServer *s);
/* Feed a client message (decoded from base64; may contain NUL). out: the server message
 * to send (transfer full, raw not base64), fail: the condition on failure. */
SaslStep scram_server_step(ScramServer *s, const guint8 *in, gsize in_len, GBytes **out,
                           SaslFail *fail);
/* After success: the authenticated username (prepared localpart) and authzid (or NULL). */
const char *scram_server_username(const ScramServer *s);
const char *scram_server_authzid(const ScramServer *s);
/* Tests only: use this server nonce (printable ASCII without ',', borrowed, copied) instead of
 * a random one, to replay the RFC 5802 §5 / RFC 7677 §3 examples. */
void scram_server_set_nonce_for_testing(ScramServer *s, const char *nonce);

/* PLAIN (RFC 4616): "authzid\0authcid\0passwd". Returns FALSE when malformed.
 * Out strings transfer full (authzid may be NULL when empty). */
gboolean sasl_plain_parse(const guint8 *in, gsize len, char **authzid, char **authcid,
                          char **password);
