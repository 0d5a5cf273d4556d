/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/testutil.h — what several unit tests share: removing a temporary folder, and
 * turning the main loop until a condition holds or for a while. Header-only. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

/* Remove path and everything below it (cleanup: what cannot be removed stays). */
static inline void rm_rf(const char *path)
{
    GDir *d = g_dir_open(path, 0, NULL);
    if (!d) {
        g_remove(path);
        return;
    }
    const char *name;
    while ((name = g_dir_read_name(d))) {
        g_autofree char *child = g_build_filename(path, name, NULL);
        rm_rf(child);
    }
    g_dir_close(d);
    g_rmdir(path);
}

static inline gboolean deadline_hit(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* Turn the default main context until cond holds or ms passed; cond's value. */
#define LOOP_UNTIL(cond, ms)                                                                       \
    ({                                                                                             \
        gboolean expired_ = FALSE;                                                                 \
        guint timer_ = g_timeout_add(ms, deadline_hit, &expired_);                                 \
        while (!(cond) && !expired_)                                                               \
            g_main_context_iteration(NULL, TRUE);                                                  \
        if (!expired_)                                                                             \
            g_source_remove(timer_);                                                               \
        (gboolean)(cond);                                                                          \
    })

/* The same, failing the test when cond does not hold within 20 s. */
#define RUN_UNTIL(cond) g_assert_true(LOOP_UNTIL(cond, 20000))

/* Turn the loop for ms (to show that something does NOT happen). */
static inline void run_for(guint ms)
{
    gboolean done = FALSE;
    g_timeout_add(ms, deadline_hit, &done);
    while (!done)
        g_main_context_iteration(NULL, TRUE);
}
