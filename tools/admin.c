/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/admin.c — one implementation of the account operations behind ternctl and HTTP */
#include "tools/admin.h"

#include <string.h>

#include "router/jid.h"
#include "storage/accounts.h"

#define PASSWORD_MAX 1024 /* bytes, with the NUL */

GQuark admin_error_quark(void)
{
    return g_quark_from_static_string("tern-admin-error-quark");
}

char *admin_account_jid(char *const *domains, const char *arg, GError **error)
{
    GError *local = NULL;
    g_autoptr(Jid) j = jid_new(arg, &local);
    if (!j) {
        g_set_error(error, ADMIN_ERROR, ADMIN_ERROR_INVALID, "invalid JID '%s': %s", arg,
                    local->message);
        g_error_free(local);
        return NULL;
    }
    if (!jid_local(j) || jid_resource(j)) {
        g_set_error(error, ADMIN_ERROR, ADMIN_ERROR_INVALID,
                    "'%s': an account is a bare JID user@domain", arg);
        return NULL;
    }
    if (!domains || !g_strv_contains((const char *const *)domains, jid_domain(j))) {
        g_set_error(error, ADMIN_ERROR, ADMIN_ERROR_NOT_SERVED,
                    "%s is not served here ([server] domains)", jid_domain(j));
        return NULL;
    }
    return g_strdup(jid_bare(j));
}

/* TODO: full PRECIS OpaqueString (RFC 8265 §4.2: space mapping, NFC, disallowed code
 * points) in one function shared with c2s/, so that both prepare a password alike. */
const char *admin_password_problem(const char *pw)
{
    if (!pw || !*pw)
        return "the password is empty";
    if (strlen(pw) >= PASSWORD_MAX)
        return "the password is longer than 1023 bytes";
    if (!g_utf8_validate(pw, -1, NULL))
        return "the password is not valid UTF-8";
    for (const char *p = pw; *p; p = g_utf8_next_char(p))
        if (g_unichar_iscntrl(g_utf8_get_char(p)))
            return "the password contains a control character";
    return NULL;
}

static gboolean set_password(Store *s, char *const *domains, const char *jid, const char *password,
                             gboolean create, char **bare_out, GError **error)
{
    g_autofree char *bare = admin_account_jid(domains, jid, error);
    if (!bare)
        return FALSE;
    if (bare_out)
        *bare_out = g_strdup(bare);
    const char *problem = admin_password_problem(password);
    if (problem) {
        g_set_error_literal(error, ADMIN_ERROR, ADMIN_ERROR_INVALID, problem);
        return FALSE;
    }
    return create ? account_create(s, bare, password, error)
                  : account_set_password(s, bare, password, error);
}

gboolean admin_user_create(Store *s, char *const *domains, const char *jid, const char *password,
                           char **bare, GError **error)
{
    return set_password(s, domains, jid, password, TRUE, bare, error);
}

gboolean admin_user_passwd(Store *s, char *const *domains, const char *jid, const char *password,
                           char **bare, GError **error)
{
    return set_password(s, domains, jid, password, FALSE, bare, error);
}

gboolean admin_user_delete(Store *s, char *const *domains, const char *jid, char **bare_out,
                           GError **error)
{
    g_autofree char *bare = admin_account_jid(domains, jid, error);
    if (!bare)
        return FALSE;
    if (bare_out)
        *bare_out = g_strdup(bare);
    return account_delete(s, bare, error);
}

static gboolean collect(const char *owner, gpointer ud)
{
    g_ptr_array_add(ud, g_strdup(owner));
    return TRUE;
}

GPtrArray *admin_user_list(Store *s, const char *domain, GError **error)
{
    g_autofree char *prepared = NULL;
    if (domain) {
        GError *local = NULL;
        prepared = jid_prep_domain(domain, &local);
        if (!prepared) {
            g_set_error(error, ADMIN_ERROR, ADMIN_ERROR_INVALID, "invalid domain '%s': %s", domain,
                        local->message);
            g_error_free(local);
            return NULL;
        }
    }
    GPtrArray *out = g_ptr_array_new_null_terminated(16, g_free, TRUE);
    if (!account_foreach(s, prepared, collect, out, error)) {
        g_ptr_array_unref(out);
        return NULL;
    }
    return out;
}
