/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/bench_storage.c — durable offline messages per second (single vs group commit) and
 * the storage side of a login with a 1,000-item roster. A benchmark, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/offline.h"
#include "storage/roster.h"

static const char msg[] =
    "<message xmlns='jabber:client' from='alice@localhost/res' to='bob@localhost' "
    "type='chat' id='m-0123456789'><body>A message of about two hundred and forty bytes, "
    "as in the routing benchmark.</body><delay xmlns='urn:xmpp:delay' "
    "stamp='2026-11-24T05:00:00.000000Z'/></message>";

static double now_s(void)
{
    return g_get_monotonic_time() / 1e6;
}

int main(int argc, char **argv)
{
    guint n = argc > 1 ? (guint)atoi(argv[1]) : 20000;
    guint batch = argc > 2 ? (guint)atoi(argv[2]) : 100;
    g_autofree char *dir = g_dir_make_tmp("tern-bench-XXXXXX", NULL);
    g_autoptr(GError) err = NULL;
    Store *s = store_open(dir, 0, &err);
    if (!s) {
        fprintf(stderr, "bench_storage: %s\n", err->message);
        return 1;
    }
    /* 1. one synced transaction per message */
    guint single = MIN(n, 2000);
    double t0 = now_s();
    for (guint i = 0; i < single; i++) {
        g_autofree char *user = g_strdup_printf("user%u@localhost", i % 100);
        if (!offline_store(s, user, msg, sizeof msg - 1, 1000000, &err)) {
            fprintf(stderr, "bench_storage: %s\n", err->message);
            return 1;
        }
    }
    double t1 = now_s();
    printf("offline, one synced commit each:   %8.0f msg/s (%u messages)\n",
           single / (t1 - t0), single);
    /* 2. group commit: `batch` messages per synced transaction */
    t0 = now_s();
    for (guint i = 0; i < n; i += batch) {
        g_autoptr(StoreBatch) b = store_batch_new();
        for (guint j = i; j < MIN(n, i + batch); j++) {
            g_autofree char *user = g_strdup_printf("user%u@localhost", j % 100);
            g_autofree char *key = offline_new_key();
            offline_batch_add(b, user, key, msg, sizeof msg - 1);
        }
        if (!store_batch_commit(s, b, &err)) {
            fprintf(stderr, "bench_storage: %s\n", err->message);
            return 1;
        }
    }
    t1 = now_s();
    printf("offline, group commit of %4u:      %8.0f msg/s (%u messages)\n", batch,
           n / (t1 - t0), n);
    /* 3. a 1,000-item roster: write it, then read it as a login does */
    for (guint i = 0; i < 1000; i++) {
        g_autofree char *jid = g_strdup_printf("contact%04u@example.org", i);
        g_autoptr(RosterItem) it = roster_item_new(jid);
        it->in_roster = it->to = it->from = TRUE;
        it->name = g_strdup_printf("Contact %u", i);
        g_strfreev(it->groups);
        it->groups = g_strsplit("Friends", ",", -1);
        if (!roster_put(s, "big@localhost", it, &err)) {
            fprintf(stderr, "bench_storage: %s\n", err->message);
            return 1;
        }
    }
    guint rounds = 200;
    t0 = now_s();
    for (guint r = 0; r < rounds; r++) {
        guint64 ver;
        g_autoptr(GPtrArray) items = roster_list(s, "big@localhost", &ver, &err);
        if (!items || items->len != 1000) {
            fprintf(stderr, "bench_storage: roster_list failed\n");
            return 1;
        }
    }
    t1 = now_s();
    printf("roster of 1,000 items read:        %8.2f ms per login\n",
           (t1 - t0) * 1000 / rounds);
    store_close(s);
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_storage: could not remove %s\n", dir);
    return 0;
}
