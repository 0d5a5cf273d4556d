/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tt_queue.c — the transport SDK's durable FIFO on TtStore (tt_queue_*) */
#include "transports/sdk/tern-transport.h"

#include "tests/unit/testutil.h"

static gboolean collect(guint64 id, const char *value, gpointer data)
{
    g_ptr_array_add(data, g_strdup_printf("%" G_GUINT64_FORMAT "=%s", id, value));
    return TRUE;
}

static char *listing(TtStore *s, const char *queue)
{
    g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    g_assert_true(tt_queue_foreach(s, queue, collect, rows, &error));
    g_assert_no_error(error);
    g_ptr_array_add(rows, NULL);
    return g_strjoinv(" ", (char **)rows->pdata);
}

static void test_fifo_survives_reopen(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("tt-queue-XXXXXX", &error);
    TtStore *s = tt_store_open(dir, &error);
    g_assert_no_error(error);
    /* more than 9 entries: ids must sort numerically, not as text */
    for (int i = 1; i <= 11; i++) {
        g_autofree char *v = g_strdup_printf("m%d", i);
        g_assert_cmpuint(tt_queue_push(s, "out", v, &error), ==, (guint64)i);
    }
    g_assert_cmpuint(tt_queue_push(s, "other", "x", &error), ==, 1); /* queues are separate */
    for (int i = 1; i <= 9; i++)
        g_assert_true(tt_queue_remove(s, "out", (guint64)i, &error));
    g_assert_true(tt_queue_update(s, "out", 10, "m10-sent", &error));
    g_assert_false(tt_queue_update(s, "out", 3, "gone", &error)); /* removed: an error */
    g_assert_error(error, TT_ERROR, TT_ERROR_STORE);
    g_clear_error(&error);
    g_assert_true(tt_queue_remove(s, "out", 3, &error)); /* absent: fine */
    tt_store_close(s);

    s = tt_store_open(dir, &error); /* durable: everything is there after a restart */
    g_assert_no_error(error);
    g_autofree char *l = listing(s, "out");
    g_assert_cmpstr(l, ==, "10=m10-sent 11=m11");
    /* ids are never reused, even after the queue emptied */
    g_assert_true(tt_queue_remove(s, "out", 10, &error));
    g_assert_true(tt_queue_remove(s, "out", 11, &error));
    g_assert_cmpuint(tt_queue_push(s, "out", "m12", &error), ==, 12);
    g_autofree char *l2 = listing(s, "out");
    g_assert_cmpstr(l2, ==, "12=m12");
    g_autofree char *l3 = listing(s, "other");
    g_assert_cmpstr(l3, ==, "1=x");
    /* registrations never see queue entries */
    g_autofree char *v = tt_store_get(s, "queue:out", "next");
    g_assert_cmpstr(v, ==, "13");
    tt_store_close(s);
    rm_rf(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tt/queue/fifo-survives-reopen", test_fifo_survives_reopen);
    return g_test_run();
}
