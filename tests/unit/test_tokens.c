/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tokens.c — HTTP API tokens: stored hashed, verified, revoked; names */
#include "http/tokens.h"
#include "tests/unit/testutil.h"

#include <string.h>
#include <glib/gstdio.h>

static char *tmp_dir;

static Store *open_store(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_build_filename(tmp_dir, "store", NULL);
    Store *s = store_open(dir, 0, &err);
    g_assert_no_error(err);
    return s;
}

static gboolean find_text(const char *key, const void *val, gsize len, gpointer ud)
{
    const char *needle = ud;
    g_assert_null(g_strstr_len(val, (gssize)len, needle)); /* never the token itself */
    return TRUE;
}

static void test_create_verify_revoke(void)
{
    Store *s = open_store();
    g_autoptr(GError) err = NULL;
    g_autofree char *admin = token_create(s, "ops", TOKEN_SCOPE_ADMIN, &err);
    g_assert_no_error(err);
    g_autofree char *push = token_create(s, "ci.push", TOKEN_SCOPE_PUSH, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(strlen(admin), ==, 43); /* 32 bytes, base64url without padding */
    g_assert_null(strpbrk(admin, "+/="));
    g_assert_cmpstr(admin, !=, push);

    g_assert_true(store_map_foreach(s, TOKENS_MAP, TOKENS_OWNER, find_text, admin, NULL));

    char *name = NULL;
    TokenScope scope;
    g_assert_true(token_verify(s, admin, &name, &scope));
    g_assert_cmpstr(name, ==, "ops");
    g_assert_cmpint(scope, ==, TOKEN_SCOPE_ADMIN);
    g_free(name);
    g_assert_true(token_verify(s, push, &name, &scope));
    g_assert_cmpstr(name, ==, "ci.push");
    g_assert_cmpint(scope, ==, TOKEN_SCOPE_PUSH);
    g_free(name);

    g_autofree char *wrong = g_strdup(admin);
    wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
    g_assert_false(token_verify(s, wrong, &name, &scope));
    g_assert_false(token_verify(s, "", &name, &scope));
    g_assert_false(token_verify(s, NULL, &name, &scope));

    g_assert_null(token_create(s, "ops", TOKEN_SCOPE_PUSH, &err));
    g_assert_error(err, STORE_ERROR, STORE_ERROR_EXISTS);
    g_clear_error(&err);

    g_autoptr(GPtrArray) list = token_list(s, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(list->len, ==, 2);
    TokenInfo *first = g_ptr_array_index(list, 0);
    g_assert_cmpstr(first->name, ==, "ci.push");
    g_assert_cmpint(first->created, >, 0);

    g_assert_true(token_revoke(s, "ops", &err));
    g_assert_no_error(err);
    g_assert_false(token_verify(s, admin, &name, &scope));
    g_assert_false(token_revoke(s, "ops", &err));
    g_assert_error(err, STORE_ERROR, STORE_ERROR_NOT_FOUND);
    store_close(s);
}

static void test_names_and_scopes(void)
{
    g_assert_true(token_name_valid("a"));
    g_assert_true(token_name_valid("grafana-1.push_x"));
    g_assert_false(token_name_valid(""));
    g_assert_false(token_name_valid(NULL));
    g_assert_false(token_name_valid("with space"));
    g_assert_false(token_name_valid("a/b"));
    g_autofree char *long_name = g_strnfill(TOKEN_NAME_MAX + 1, 'x');
    g_assert_false(token_name_valid(long_name));
    TokenScope sc;
    g_assert_true(token_scope_parse("push", &sc) && sc == TOKEN_SCOPE_PUSH);
    g_assert_true(token_scope_parse("admin", &sc) && sc == TOKEN_SCOPE_ADMIN);
    g_assert_false(token_scope_parse("root", &sc));
    g_assert_cmpstr(token_scope_name(TOKEN_SCOPE_ADMIN), ==, "admin");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_autoptr(GError) err = NULL;
    tmp_dir = g_dir_make_tmp("tern-tokens-XXXXXX", &err);
    g_assert_no_error(err);
    g_test_add_func("/tokens/create-verify-revoke", test_create_verify_revoke);
    g_test_add_func("/tokens/names-and-scopes", test_names_and_scopes);
    int rc = g_test_run();
    rm_rf(tmp_dir);
    g_free(tmp_dir);
    return rc;
}
