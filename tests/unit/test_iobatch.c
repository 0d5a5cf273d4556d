/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_iobatch.c — a batch gives what send()/recv() would, through io_uring or not */
#include "router/iobatch.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    const char *name;
    gssize res;
} Result;

typedef struct {
    Result r[16];
    guint n;
} Results;

static void record(gpointer ud, gssize res, gpointer data)
{
    Results *rs = data;
    g_assert_cmpuint(rs->n, <, G_N_ELEMENTS(rs->r));
    rs->r[rs->n++] = (Result){ud, res};
}

static gssize result_of(const Results *rs, const char *name)
{
    for (guint i = 0; i < rs->n; i++)
        if (strcmp(rs->r[i].name, name) == 0)
            return rs->r[i].res;
    g_assert_not_reached();
}

static void pair(int sv[2])
{
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), ==, 0);
}

/* mode: TRUE through io_uring (when the kernel allows it), FALSE plain system calls */
static IoBatch *batch_for(gconstpointer mode, guint cap)
{
    iobatch_set_enabled(GPOINTER_TO_INT(mode));
    IoBatch *b = iobatch_new(cap);
    iobatch_set_enabled(TRUE);
    if (GPOINTER_TO_INT(mode) && !iobatch_uses_ring(b))
        g_test_message("io_uring refused here: this run makes plain system calls");
    if (!GPOINTER_TO_INT(mode))
        g_assert_false(iobatch_uses_ring(b));
    return b;
}

static void test_results(gconstpointer mode)
{
    int a[2], b[2], c[2];
    pair(a);
    pair(b);
    pair(c);
    IoBatch *ib = batch_for(mode, 8);
    Results rs = {0};

    /* sends: whole, whole, to a peer that is gone (-EPIPE, no SIGPIPE), to no socket */
    close(c[1]);
    int bad = open("/dev/null", O_RDONLY | O_CLOEXEC);
    g_assert_true(iobatch_send(ib, a[0], "hello", 5, "a"));
    g_assert_true(iobatch_send(ib, b[0], "world!", 6, "b"));
    g_assert_true(iobatch_send(ib, c[0], "lost", 4, "c"));
    g_assert_true(iobatch_send(ib, bad, "x", 1, "bad"));
    g_assert_cmpuint(iobatch_queued(ib), ==, 4);
    g_assert_cmpuint(iobatch_run(ib, record, &rs), ==, 4);
    g_assert_cmpuint(iobatch_queued(ib), ==, 0);
    g_assert_cmpint(result_of(&rs, "a"), ==, 5);
    g_assert_cmpint(result_of(&rs, "b"), ==, 6);
    g_assert_cmpint(result_of(&rs, "c"), ==, -EPIPE);
    g_assert_cmpint(result_of(&rs, "bad"), ==, -ENOTSOCK);

    /* receives: data, less than there is, nothing yet (-EAGAIN at once, never a wait), EOF */
    char x[16] = {0}, y[4] = {0}, z[4];
    close(b[0]);
    rs.n = 0;
    g_assert_true(iobatch_recv(ib, a[1], x, sizeof x, "a"));
    g_assert_true(iobatch_recv(ib, b[1], y, 4, "b"));
    g_assert_true(iobatch_recv(ib, a[0], z, sizeof z, "empty"));
    g_assert_cmpuint(iobatch_run(ib, record, &rs), ==, 3);
    g_assert_cmpint(result_of(&rs, "a"), ==, 5);
    g_assert_cmpmem(x, 5, "hello", 5);
    g_assert_cmpint(result_of(&rs, "b"), ==, 4);
    g_assert_cmpmem(y, 4, "worl", 4);
    g_assert_cmpint(result_of(&rs, "empty"), ==, -EAGAIN);
    rs.n = 0;
    g_assert_true(iobatch_recv(ib, b[1], y, 4, "rest"));
    g_assert_true(iobatch_recv(ib, b[1], y + 2, 2, "eof"));
    iobatch_run(ib, record, &rs);
    g_assert_cmpint(result_of(&rs, "rest"), ==, 2);
    g_assert_cmpmem(y, 2, "d!", 2);
    g_assert_cmpint(result_of(&rs, "eof"), ==, 0);

    /* one operation alone, and an empty run */
    rs.n = 0;
    g_assert_true(iobatch_send(ib, a[1], "1", 1, "one"));
    g_assert_cmpuint(iobatch_run(ib, record, &rs), ==, 1);
    g_assert_cmpint(result_of(&rs, "one"), ==, 1);
    g_assert_cmpuint(iobatch_run(ib, record, &rs), ==, 0);
    g_assert_cmpuint(rs.n, ==, 1);

    iobatch_free(ib);
    close(bad);
    close(a[0]);
    close(a[1]);
    close(b[1]);
    close(c[0]);
}

/* Full: the caller is told, and runs first. A send larger than the socket takes is short,
 * as send() would be, and never blocks. */
static void test_full_and_short(gconstpointer mode)
{
    int a[2];
    pair(a);
    int small = 4096;
    g_assert_cmpint(setsockopt(a[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
    IoBatch *ib = batch_for(mode, 2);
    g_assert_cmpuint(iobatch_capacity(ib), ==, 2);
    Results rs = {0};
    gsize big = 1 << 20;
    char *data = g_malloc0(big);
    g_assert_true(iobatch_send(ib, a[0], data, big, "big"));
    g_assert_true(iobatch_send(ib, a[0], data, big, "blocked"));
    g_assert_false(iobatch_send(ib, a[0], data, 1, "third"));
    g_assert_false(iobatch_recv(ib, a[1], data, 1, "third"));
    g_assert_cmpuint(iobatch_run(ib, record, &rs), ==, 2);
    gssize first = result_of(&rs, "big");
    g_assert_cmpint(first, >, 0);
    g_assert_cmpint(first, <, (gssize)big);
    g_assert_cmpint(result_of(&rs, "blocked"), ==, -EAGAIN);
    /* what was taken arrives whole */
    gssize got = 0;
    for (;;) {
        ssize_t r = recv(a[1], data, big, 0);
        if (r <= 0)
            break;
        got += r;
    }
    g_assert_cmpint(got, ==, first);
    iobatch_free(ib);
    g_free(data);
    close(a[0]);
    close(a[1]);
}

int main(int argc, char **argv)
{
    /* SIGPIPE left at its default: a send to a closed peer must not raise it (MSG_NOSIGNAL) */
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/iobatch/ring/results", GINT_TO_POINTER(TRUE), test_results);
    g_test_add_data_func("/iobatch/plain/results", GINT_TO_POINTER(FALSE), test_results);
    g_test_add_data_func("/iobatch/ring/full-and-short", GINT_TO_POINTER(TRUE),
                         test_full_and_short);
    g_test_add_data_func("/iobatch/plain/full-and-short", GINT_TO_POINTER(FALSE),
                         test_full_and_short);
    return g_test_run();
}
