/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_roster.c — roster and offline records survive a round trip and a reopen */
#include <glib/gstdio.h>
#include <string.h>

#include "storage/offline.h"
#include "storage/roster.h"

static char *tmpdir(void)
{
    return g_dir_make_tmp("tern-roster-XXXXXX", NULL);
}

static void rmdir_all(const char *dir)
{
    g_autofree char *a = g_build_filename(dir, "data.mdb", NULL);
    g_autofree char *b = g_build_filename(dir, "lock.mdb", NULL);
    g_remove(a);
    g_remove(b);
    g_rmdir(dir);
}

/* Regression: records are stored after a version byte, so GVariant data is unaligned on
 * disk; encoding and decoding must not assume alignment. */
static void test_round_trip(void)
{
    g_autofree char *dir = tmpdir();
    g_autoptr(GError) err = NULL;
    Store *s = store_open(dir, 0, &err);
    g_assert_no_error(err);
    g_autoptr(RosterItem) it = roster_item_new("romeo@example.net");
    it->name = g_strdup("Romeo");
    g_strfreev(it->groups);
    it->groups = g_strsplit("Friends,Lovers", ",", -1);
    it->to = it->pending_in = it->in_roster = TRUE;
    g_assert_true(roster_put(s, "juliet@example.com", it, &err));
    guint64 v1 = it->ver;
    store_close(s);
    s = store_open(dir, 0, &err); /* reopen */
    g_autoptr(RosterItem) back = roster_get(s, "juliet@example.com", "romeo@example.net", &err);
    g_assert_no_error(err);
    g_assert_nonnull(back);
    g_assert_cmpstr(back->name, ==, "Romeo");
    g_assert_cmpstr(back->groups[1], ==, "Lovers");
    g_assert_null(back->groups[2]);
    g_assert_true(back->to && back->pending_in && back->in_roster);
    g_assert_false(back->from || back->pending_out || back->approved || back->removed);
    g_assert_cmpstr(roster_item_subscription(back), ==, "to");
    g_assert_cmpuint(back->ver, ==, v1);
    /* remove leaves a tombstone with a newer version */
    guint64 v2 = 0;
    g_assert_true(roster_remove(s, "juliet@example.com", "romeo@example.net", &v2, &err));
    g_assert_cmpuint(v2, >, v1);
    g_assert_null(roster_get(s, "juliet@example.com", "romeo@example.net", &err));
    guint64 ver = 0;
    g_autoptr(GPtrArray) items = roster_list(s, "juliet@example.com", &ver, &err);
    g_assert_cmpuint(items->len, ==, 1);
    g_assert_true(((RosterItem *)items->pdata[0])->removed);
    g_assert_cmpuint(ver, ==, v2);
    g_assert_cmpuint(roster_count(s, "juliet@example.com", NULL), ==, 0);
    store_close(s);
    rmdir_all(dir);
}

/* A long (3071-byte) JID as owner and contact. */
static void test_long_jids(void)
{
    g_autofree char *dir = tmpdir();
    g_autoptr(GError) err = NULL;
    Store *s = store_open(dir, 0, &err);
    g_autofree char *local = g_strnfill(1023, 'a');
    g_autofree char *domain = g_strnfill(1023, 'b');
    g_autofree char *user = g_strconcat(local, "@", domain, NULL);
    g_autofree char *contact = g_strconcat(local, "@c", domain, NULL);
    g_autoptr(RosterItem) it = roster_item_new(contact);
    it->in_roster = TRUE;
    g_assert_true(roster_put(s, user, it, &err));
    g_autoptr(GPtrArray) items = roster_list(s, user, NULL, &err);
    g_assert_cmpuint(items->len, ==, 1);
    g_assert_cmpstr(((RosterItem *)items->pdata[0])->jid, ==, contact);
    g_assert_true(offline_store(s, user, "<message/>", 10, 10, &err));
    g_assert_cmpuint(offline_count(s, user, NULL), ==, 1);
    store_close(s);
    rmdir_all(dir);
}

static gboolean collect(const char *key, const char *xml, gsize len, gpointer ud)
{
    g_ptr_array_add(ud, g_strndup(xml, len));
    return TRUE;
}

static void test_offline_order_quota_batch(void)
{
    g_autofree char *dir = tmpdir();
    g_autoptr(GError) err = NULL;
    Store *s = store_open(dir, 0, &err);
    for (int i = 0; i < 3; i++) {
        g_autofree char *m = g_strdup_printf("<message id='%d'/>", i);
        g_assert_true(offline_store(s, "u@x", m, strlen(m), 3, &err));
    }
    g_assert_false(offline_store(s, "u@x", "<m/>", 4, 3, &err));
    g_assert_error(err, STORE_ERROR, STORE_ERROR_FULL);
    g_clear_error(&err);
    g_autoptr(StoreBatch) b = store_batch_new();
    for (int i = 3; i < 6; i++) {
        g_autofree char *m = g_strdup_printf("<message id='%d'/>", i);
        g_autofree char *k = offline_new_key();
        offline_batch_add(b, "u@x", k, m, strlen(m));
    }
    g_assert_true(store_batch_commit(s, b, &err));
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    g_assert_true(offline_foreach(s, "u@x", collect, got, &err));
    g_assert_cmpuint(got->len, ==, 6);
    for (guint i = 0; i < 6; i++) {
        g_autofree char *want = g_strdup_printf("<message id='%u'/>", i);
        g_assert_cmpstr(got->pdata[i], ==, want); /* arrival order */
    }
    store_close(s);
    rmdir_all(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/roster/round-trip-reopen-tombstone", test_round_trip);
    g_test_add_func("/roster/long-jids", test_long_jids);
    g_test_add_func("/offline/order-quota-batch", test_offline_order_quota_batch);
    return g_test_run();
}
