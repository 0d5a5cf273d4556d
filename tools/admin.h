/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/admin.h — account operations shared by ternctl and the HTTP admin API */
#pragma once

#include <glib.h>

#include "storage/storage.h"

#define ADMIN_ERROR (admin_error_quark())
GQuark admin_error_quark(void);
typedef enum {
    ADMIN_ERROR_INVALID,    /* not a JID, not an account JID, an unusable password */
    ADMIN_ERROR_NOT_SERVED, /* the domain is not one of [server] domains */
} AdminError;

/* Storage outcomes come as STORE_ERROR: EXISTS (create), NOT_FOUND (passwd, delete), IO. */

/* The prepared bare JID of an account on one of domains (NULL-terminated, prepared), or
 * NULL + ADMIN_ERROR. transfer full */
char *admin_account_jid(char *const *domains, const char *arg, GError **error);
/* Why a password cannot be used (the rule of c2s/mod_register.c), or NULL. */
const char *admin_password_problem(const char *pw);

/* Each checks the JID and the password first. bare (may be NULL) gets the prepared JID
 * (transfer full) when it was valid, also when the storage step fails. */
gboolean admin_user_create(Store *s, char *const *domains, const char *jid, const char *password,
                           char **bare, GError **error);
gboolean admin_user_passwd(Store *s, char *const *domains, const char *jid, const char *password,
                           char **bare, GError **error);
/* Removes the account and every per-account map (storage/accounts.c). */
gboolean admin_user_delete(Store *s, char *const *domains, const char *jid, char **bare,
                           GError **error);
/* Bare JIDs of every account, or of one domain (prepared here; NULL: all), in storage order.
 * NULL-terminated GPtrArray of char* with g_free, or NULL + error. transfer full */
GPtrArray *admin_user_list(Store *s, const char *domain, GError **error);
