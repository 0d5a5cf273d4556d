/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tt_store.c — the transport SDK's per-user LMDB store */
#include "transports/sdk/tern-transport.h"
#include "tests/unit/testutil.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
    char *dir;
    TtStore *s;
} Fixture;

static void fx_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    f->dir = g_dir_make_tmp("tt-store-XXXXXX", &error);
    g_assert_no_error(error);
    f->s = tt_store_open(f->dir, &error);
    g_assert_no_error(error);
}

static void fx_teardown(Fixture *f, gconstpointer data)
{
    tt_store_close(f->s);
    rm_rf(f->dir);
    g_free(f->dir);
}

static gboolean collect(const char *user, const char *key, const char *value, gpointer data)
{
    g_ptr_array_add(data, g_strdup_printf("%s|%s|%s", user, key, value));
    return TRUE;
}

static GPtrArray *all(TtStore *s, const char *user)
{
    GPtrArray *rows = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_assert_true(tt_store_foreach(s, user, collect, rows, &error));
    g_assert_no_error(error);
    return rows;
}

static void test_get_set_delete(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_assert_null(tt_store_get(f->s, "alice@example.org", "nick"));
    g_assert_true(tt_store_set(f->s, "alice@example.org", "nick", "alice", &error));
    g_assert_true(tt_store_set(f->s, "alice@example.org", "password", "", &error));
    g_assert_true(tt_store_set(f->s, "alice@example.orgx", "nick", "other", &error));
    g_assert_no_error(error);
    g_autofree char *v1 = tt_store_get(f->s, "alice@example.org", "nick");
    g_autofree char *v2 = tt_store_get(f->s, "alice@example.org", "password");
    g_assert_cmpstr(v1, ==, "alice");
    g_assert_cmpstr(v2, ==, ""); /* empty, not absent */
    g_assert_true(tt_store_set(f->s, "alice@example.org", "nick", "alice2", &error));
    g_autofree char *v3 = tt_store_get(f->s, "alice@example.org", "nick");
    g_assert_cmpstr(v3, ==, "alice2");
    g_assert_true(tt_store_delete(f->s, "alice@example.org", "nick", &error));
    g_assert_true(tt_store_delete(f->s, "alice@example.org", "nick", &error)); /* absent: ok */
    g_assert_no_error(error);
    g_assert_null(tt_store_get(f->s, "alice@example.org", "nick"));
}

static void test_foreach_and_delete_user(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    const char *users[] = {"a@x", "a@xy", "b@x"};
    for (gsize i = 0; i < G_N_ELEMENTS(users); i++)
        for (int k = 0; k < 3; k++) {
            g_autofree char *key = g_strdup_printf("k%d", k);
            g_assert_true(tt_store_set(f->s, users[i], key, users[i], &error));
        }
    g_autoptr(GPtrArray) a = all(f->s, "a@x");
    g_assert_cmpuint(a->len, ==, 3); /* not a@xy's: the prefix ends with 0x00 */
    g_assert_cmpstr(a->pdata[0], ==, "a@x|k0|a@x");
    g_autoptr(GPtrArray) every = all(f->s, NULL);
    g_assert_cmpuint(every->len, ==, 9);
    g_assert_true(tt_store_delete(f->s, "a@x", NULL, &error));
    g_assert_no_error(error);
    g_autoptr(GPtrArray) after = all(f->s, NULL);
    g_assert_cmpuint(after->len, ==, 6);
    g_autoptr(GPtrArray) xy = all(f->s, "a@xy");
    g_assert_cmpuint(xy->len, ==, 3);
}

static void test_long_parts(Fixture *f, gconstpointer data)
{
    /* JIDs up to 3071 bytes: hashed in the LMDB key (511 bytes max), text kept */
    g_autoptr(GError) error = NULL;
    g_autofree char *u1 = g_strnfill(3000, 'u');
    g_autofree char *u2 = g_strdup(u1);
    u2[2999] = 'v'; /* same first 150 bytes */
    g_autofree char *key = g_strnfill(1000, 'k');
    g_assert_true(tt_store_set(f->s, u1, key, "one", &error));
    g_assert_true(tt_store_set(f->s, u2, key, "two", &error));
    g_assert_no_error(error);
    g_autofree char *v1 = tt_store_get(f->s, u1, key);
    g_autofree char *v2 = tt_store_get(f->s, u2, key);
    g_assert_cmpstr(v1, ==, "one");
    g_assert_cmpstr(v2, ==, "two");
    g_autoptr(GPtrArray) rows = all(f->s, u2);
    g_assert_cmpuint(rows->len, ==, 1);
    g_assert_true(g_str_has_prefix(rows->pdata[0], u2));
    g_assert_true(tt_store_delete(f->s, u1, NULL, &error));
    g_assert_null(tt_store_get(f->s, u1, key));
    g_autofree char *still = tt_store_get(f->s, u2, key);
    g_assert_cmpstr(still, ==, "two");
}

static void test_reopen(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_assert_true(tt_store_set(f->s, "bob@example.org", "nick", "bob", &error));
    tt_store_close(f->s);
    f->s = tt_store_open(f->dir, &error);
    g_assert_no_error(error);
    g_autofree char *v = tt_store_get(f->s, "bob@example.org", "nick");
    g_assert_cmpstr(v, ==, "bob");
}

static gboolean stop_after_one(const char *user, const char *key, const char *value, gpointer data)
{
    (*(int *)data)++;
    return FALSE;
}

static void test_foreach_stop(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_assert_true(tt_store_set(f->s, "c@x", "a", "1", &error));
    g_assert_true(tt_store_set(f->s, "c@x", "b", "2", &error));
    int n = 0;
    g_assert_true(tt_store_foreach(f->s, NULL, stop_after_one, &n, &error));
    g_assert_cmpint(n, ==, 1);
}

static void test_open_error(void)
{
    g_autoptr(GError) error = NULL;
    g_assert_null(tt_store_open("/proc/version/nope", &error));
    g_assert_error(error, TT_ERROR, TT_ERROR_STORE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fx_setup, fn, fx_teardown)
    ADD("/tt/store/get-set-delete", test_get_set_delete);
    ADD("/tt/store/foreach-delete-user", test_foreach_and_delete_user);
    ADD("/tt/store/long-parts", test_long_parts);
    ADD("/tt/store/reopen", test_reopen);
    ADD("/tt/store/foreach-stop", test_foreach_stop);
    g_test_add_func("/tt/store/open-error", test_open_error);
    return g_test_run();
}
