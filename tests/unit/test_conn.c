/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_conn.c — connections, listeners, coalesced writes, close, STARTTLS, certs */
#include "router/conn.h"
#include "router/iobatch.h"
#include "router/tls.h"
#include "tests/unit/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- fixture: a listener, the server-side Conn, a raw client socket ---- */

typedef struct Fx Fx;
struct Fx {
    Listener *listener;
    Conn *conn;
    GString *in; /* what the server's on_data got */
    gboolean closed;
    GError *closed_err;
    gboolean (*data_hook)(Fx *fx, Conn *c); /* after appending to in */
    SSL_CTX *direct_tls;                    /* conn_start_tls right after accept */
    SSL_CTX *starttls_ctx;                  /* conn_start_tls on <starttls/> */
    int tls_ready;
    char *sni, *alpn;
    GBytes *exporter, *endpoint;
    gboolean ping_done, again_done;
    gboolean server_closes; /* conn_close after the big reply */
    int srv_sndbuf;         /* small server send buffer: writes block and wait for G_IO_OUT */

    int client;
    int client_rcvbuf;
    GString *client_in;
    gboolean client_eof;
    guint client_watch;
};

static gboolean srv_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    Fx *fx = ud;
    g_string_append_len(fx->in, buf, (gssize)len);
    return fx->data_hook ? fx->data_hook(fx, c) : TRUE;
}

static void srv_on_closed(Conn *c, const GError *err, gpointer ud)
{
    Fx *fx = ud;
    g_assert_false(fx->closed); /* once */
    fx->closed = TRUE;
    fx->closed_err = err ? g_error_copy(err) : NULL;
    conn_free(c); /* the documented owner move, from inside the callback */
    fx->conn = NULL;
}

static void srv_on_tls_ready(Conn *c, gpointer ud)
{
    Fx *fx = ud;
    fx->tls_ready++;
    g_assert_true(conn_is_tls(c));
    g_assert_nonnull(conn_ssl(c));
    fx->sni = g_strdup(conn_sni(c));
    fx->alpn = g_strdup(conn_alpn(c));
    fx->exporter = conn_channel_binding(c, "tls-exporter");
    fx->endpoint = conn_channel_binding(c, "tls-server-end-point");
    g_assert_null(conn_channel_binding(c, "tls-unique"));
}

static const ConnCallbacks srv_cbs = {srv_on_data, srv_on_closed, srv_on_tls_ready};

static void on_accept(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    Fx *fx = ud;
    g_assert_null(fx->conn);
    g_assert_cmpint(addr->sa_family, ==, AF_INET);
    if (fx->srv_sndbuf > 0)
        g_assert_cmpint(
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &fx->srv_sndbuf, sizeof fx->srv_sndbuf), ==, 0);
    fx->conn = conn_new(fd, &srv_cbs, fx);
    if (fx->direct_tls)
        conn_start_tls(fx->conn, fx->direct_tls); /* XEP-0368 */
}

static gboolean client_readable(int fd, GIOCondition cond, gpointer ud)
{
    Fx *fx = ud;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
        g_string_append_len(fx->client_in, buf, n);
        return G_SOURCE_CONTINUE;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    fx->client_eof = TRUE;
    fx->client_watch = 0;
    return G_SOURCE_REMOVE;
}

static int tcp_connect(guint16 port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    if (rcvbuf > 0)
        g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), ==, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
    return fd;
}

/* Listen, connect a client, wait for the server side Conn. */
static void fx_start(Fx *fx, gboolean watch_client)
{
    GError *err = NULL;
    fx->in = g_string_new(NULL);
    fx->client_in = g_string_new(NULL);
    fx->listener = listener_new("127.0.0.1:0", on_accept, fx, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(listener_port(fx->listener), >, 0);
    fx->client = tcp_connect(listener_port(fx->listener), fx->client_rcvbuf);
    RUN_UNTIL(fx->conn != NULL);
    g_assert_true(g_unix_set_fd_nonblocking(fx->client, TRUE, NULL));
    if (watch_client)
        fx->client_watch = g_unix_fd_add(fx->client, G_IO_IN, client_readable, fx);
}

static void fx_stop(Fx *fx)
{
    if (fx->client_watch)
        g_source_remove(fx->client_watch);
    if (fx->client >= 0)
        close(fx->client);
    conn_free(fx->conn);
    listener_free(fx->listener);
    g_string_free(fx->in, TRUE);
    g_string_free(fx->client_in, TRUE);
    g_clear_error(&fx->closed_err);
    g_free(fx->sni);
    g_free(fx->alpn);
    g_clear_pointer(&fx->exporter, g_bytes_unref);
    g_clear_pointer(&fx->endpoint, g_bytes_unref);
    /* Let destroyed sources and the flusher go before the next test. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void client_send(Fx *fx, const char *s)
{
    g_assert_cmpint(send(fx->client, s, strlen(s), MSG_NOSIGNAL), ==, (gssize)strlen(s));
}

static char *pattern(gsize len)
{
    char *p = g_malloc(len);
    for (gsize i = 0; i < len; i++)
        p[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    return p;
}

/* ---- plain TCP ---- */

static void test_plain_exchange(void)
{
    Fx fx = {.client = -1};
    fx_start(&fx, FALSE);
    g_assert_cmpstr(conn_peer_addr(fx.conn), ==, "127.0.0.1");
    g_assert_false(conn_is_tls(fx.conn));
    g_assert_null(conn_ssl(fx.conn));
    g_assert_null(conn_channel_binding(fx.conn, "tls-exporter"));

    client_send(&fx, "hello");
    RUN_UNTIL(fx.in->len >= 5);
    g_assert_cmpstr(fx.in->str, ==, "hello");
    g_assert_cmpint(conn_last_activity(fx.conn), >, 0);

    /* Several writes: nothing leaves before the loop turns, then one write carries all. */
    conn_write(fx.conn, "abc", 3);
    conn_write_str(fx.conn, "def");
    conn_write_str(fx.conn, "ghi");
    char buf[64];
    g_assert_cmpint(recv(fx.client, buf, sizeof buf, 0), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
    g_main_context_iteration(NULL, FALSE);
    struct pollfd pfd = {.fd = fx.client, .events = POLLIN};
    g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
    gssize n = recv(fx.client, buf, sizeof buf, 0);
    g_assert_cmpint(n, ==, 9);
    g_assert_cmpmem(buf, 9, "abcdefghi", 9);

    /* conn_flush writes at once, without a loop turn. */
    conn_write_str(fx.conn, "now");
    conn_flush(fx.conn);
    g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
    g_assert_cmpint(recv(fx.client, buf, sizeof buf, 0), ==, 3);

    /* Much data in small pieces arrives intact. */
    fx.client_watch = g_unix_fd_add(fx.client, G_IO_IN, client_readable, &fx);
    gsize total = 600 * 1000;
    g_autofree char *data = pattern(total);
    for (gsize off = 0; off < total; off += 1000)
        conn_write(fx.conn, data + off, 1000);
    RUN_UNTIL(fx.client_in->len >= total);
    g_assert_cmpmem(fx.client_in->str, fx.client_in->len, data, total);

    /* The peer goes away: on_closed with EOF, once. */
    close(fx.client);
    fx.client = -1;
    RUN_UNTIL(fx.closed);
    g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_EOF);
    fx_stop(&fx);
}

/* A peer that never reads: the outbound buffer overflows and the conn closes. */
static void test_overflow_slow_reader(void)
{
    Fx fx = {.client = -1, .client_rcvbuf = 4096};
    fx_start(&fx, FALSE);
    conn_set_max_outbuf(fx.conn, 64 * 1024);
    g_autofree char *chunk = pattern(16 * 1024);
    gsize written = 0;
    while (!fx.closed) {
        g_assert_cmpuint(written, <, 512 * 1024 * 1024);
        conn_write(fx.conn, chunk, 16 * 1024);
        g_assert_false(fx.closed); /* never from inside conn_write */
        written += 16 * 1024;
        g_main_context_iteration(NULL, FALSE);
    }
    g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_OVERFLOW);
    fx_stop(&fx);
}

static void test_overflow_single_write(void)
{
    Fx fx = {.client = -1};
    fx_start(&fx, TRUE);
    conn_set_max_outbuf(fx.conn, 1000);
    g_autofree char *big = pattern(2000);
    conn_write(fx.conn, big, 2000);
    g_assert_false(fx.closed);
    conn_write(fx.conn, "more", 4); /* after the overflow: ignored, no crash */
    RUN_UNTIL(fx.closed);
    g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_OVERFLOW);
    RUN_UNTIL(fx.client_eof);
    g_assert_cmpuint(fx.client_in->len, ==, 0);
    fx_stop(&fx);
}

/* conn_close: what was queued arrives, then EOF; on_closed(NULL) once the peer is done. */
static void test_close_flushes(void)
{
    Fx fx = {.client = -1, .client_rcvbuf = 8192, .srv_sndbuf = 8192};
    fx_start(&fx, FALSE);
    gsize total = 700 * 1024;
    g_autofree char *data = pattern(total);
    conn_write(fx.conn, data, total);
    conn_close(fx.conn);
    conn_write_str(fx.conn, "after close"); /* dropped */
    conn_close(fx.conn);                    /* idempotent */
    run_for(50);                            /* the client is not reading yet */
    g_assert_false(fx.closed);
    fx.client_watch = g_unix_fd_add(fx.client, G_IO_IN, client_readable, &fx);
    RUN_UNTIL(fx.client_eof);
    g_assert_cmpmem(fx.client_in->str, fx.client_in->len, data, total);
    close(fx.client);
    fx.client = -1;
    RUN_UNTIL(fx.closed);
    g_assert_no_error(fx.closed_err);
    fx_stop(&fx);
}

static gboolean hook_reply_and_close(Fx *fx, Conn *c)
{
    if (!strstr(fx->in->str, "quit"))
        return TRUE;
    conn_write_str(c, "bye");
    conn_close(c);
    return FALSE;
}

static void test_close_from_on_data(void)
{
    Fx fx = {.client = -1, .data_hook = hook_reply_and_close};
    fx_start(&fx, TRUE);
    client_send(&fx, "quit");
    RUN_UNTIL(fx.client_eof);
    g_assert_cmpstr(fx.client_in->str, ==, "bye");
    close(fx.client);
    fx.client = -1;
    RUN_UNTIL(fx.closed);
    g_assert_no_error(fx.closed_err);
    fx_stop(&fx);
}

static gboolean hook_free(Fx *fx, Conn *c)
{
    conn_write_str(c, "never sent");
    conn_free(c); /* from inside on_data: deferred, no use-after-free */
    fx->conn = NULL;
    return FALSE;
}

static void test_free_from_on_data(void)
{
    Fx fx = {.client = -1, .data_hook = hook_free};
    fx_start(&fx, TRUE);
    client_send(&fx, "x");
    RUN_UNTIL(fx.conn == NULL);
    RUN_UNTIL(fx.client_eof);
    g_assert_cmpuint(fx.client_in->len, ==, 0);
    g_assert_false(fx.closed); /* no on_closed after conn_free */
    fx_stop(&fx);
}

/* The peer resets: CONN_ERROR_IO with the system's words. */
static void test_peer_reset(void)
{
    Fx fx = {.client = -1};
    fx_start(&fx, FALSE);
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    g_assert_cmpint(setsockopt(fx.client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), ==, 0);
    client_send(&fx, "unread by anyone");
    conn_pause_reading(fx.conn, TRUE);
    run_for(20);
    close(fx.client); /* unread data + linger 0: RST */
    fx.client = -1;
    g_autofree char *data = pattern(64 * 1024);
    for (int i = 0; i < 4 && !fx.closed; i++) {
        conn_write(fx.conn, data, 64 * 1024);
        run_for(20);
    }
    RUN_UNTIL(fx.closed);
    g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_IO);
    g_test_message("%s", fx.closed_err->message);
    fx_stop(&fx);
}

static void test_pause_reading(void)
{
    Fx fx = {.client = -1};
    fx_start(&fx, TRUE);
    conn_pause_reading(fx.conn, TRUE);
    client_send(&fx, "held");
    run_for(50);
    g_assert_cmpuint(fx.in->len, ==, 0);
    conn_pause_reading(fx.conn, FALSE);
    RUN_UNTIL(fx.in->len == 4);
    g_assert_cmpstr(fx.in->str, ==, "held");
    fx_stop(&fx);
}

/* ---- addresses and listeners ---- */

/* ---- output in a long turn: written every CONN_FLUSH_EVERY connections, never before a
 * pending group commit ---- */

#define MT_CONNS 100

static struct {
    int client[MT_CONNS];
    Conn *conn[MT_CONNS];
    gboolean dirty_on_data;   /* each message makes a commit pending (like an archive) */
    int commits;              /* commit() calls */
    int out_before_commit;    /* clients that had their echo when commit() ran */
    int seen;                 /* on_data calls this turn */
    gboolean early_echo_seen; /* a late callback saw the first client's echo already out */
} mt;

static gboolean client_has_data(int fd)
{
    char b;
    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

static void mt_commit(void)
{
    mt.commits++;
    for (int i = 0; i < MT_CONNS; i++)
        mt.out_before_commit += client_has_data(mt.client[i]);
}

static ConnGroupCommit mt_gc = {.commit = mt_commit};

static gboolean mt_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    conn_write(c, buf, len);
    if (mt.dirty_on_data)
        conn_group_commit_schedule(&mt_gc);
    if (++mt.seen == MT_CONNS && client_has_data(mt.client[0]))
        mt.early_echo_seen = TRUE;
    return TRUE;
}

static void mt_on_closed(Conn *c, const GError *err, gpointer ud)
{
}

static void run_mid_turn(gboolean dirty)
{
    static const ConnCallbacks cbs = {mt_on_data, mt_on_closed, NULL};
    memset(&mt, 0, sizeof mt);
    mt.dirty_on_data = dirty;
    conn_group_commit_add(&mt_gc);
    for (int i = 0; i < MT_CONNS; i++) {
        int sv[2];
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        mt.client[i] = sv[0];
        mt.conn[i] = conn_new(sv[1], &cbs, NULL);
        g_assert_nonnull(mt.conn[i]);
    }
    /* every connection readable before the turn: one epoll batch carries all of them */
    for (int i = 0; i < MT_CONNS; i++)
        g_assert_cmpint(write(mt.client[i], "x", 1), ==, 1);
    while (mt.seen < MT_CONNS)
        g_main_context_iteration(NULL, TRUE);
    for (int i = 0; i < MT_CONNS; i++) {
        char b = 0;
        struct pollfd pfd = {mt.client[i], POLLIN, 0};
        g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
        g_assert_cmpint(read(mt.client[i], &b, 1), ==, 1); /* nothing lost either way */
        g_assert_cmpint(b, ==, 'x');
    }
    conn_group_commit_remove(&mt_gc);
    for (int i = 0; i < MT_CONNS; i++) {
        conn_free(mt.conn[i]);
        close(mt.client[i]);
    }
}

static void test_flush_mid_turn(void)
{
    /* no commit waiting: the first connections' output leaves while the turn goes on */
    run_mid_turn(FALSE);
    g_assert_true(mt.early_echo_seen);
    g_assert_cmpint(mt.commits, ==, 0);
    /* a commit waiting: nothing leaves before it (durable before acknowledged) */
    run_mid_turn(TRUE);
    g_assert_false(mt.early_echo_seen);
    g_assert_cmpint(mt.commits, ==, 1);
    g_assert_cmpint(mt.out_before_commit, ==, 0);
}

/* A turn without output commits by the idle; "now" and "remove" commit only what waits. */
static int gc_commits;
static void gc_commit(void)
{
    gc_commits++;
}

static void test_group_commit_idle(void)
{
    ConnGroupCommit gc = {.commit = gc_commit};
    gc_commits = 0;
    conn_group_commit_add(&gc);
    conn_group_commit_schedule(&gc);
    conn_group_commit_schedule(&gc); /* twice in a turn: one commit */
    g_assert_cmpint(gc_commits, ==, 0);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(gc_commits, ==, 1);
    conn_group_commit_now(&gc); /* nothing waits */
    g_assert_cmpint(gc_commits, ==, 1);
    conn_group_commit_schedule(&gc);
    conn_group_commit_now(&gc); /* a reader that must see it: at once, and the idle is gone */
    g_assert_cmpint(gc_commits, ==, 2);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(gc_commits, ==, 2);
    conn_group_commit_schedule(&gc);
    conn_group_commit_remove(&gc); /* shutdown: what waits is written */
    g_assert_cmpint(gc_commits, ==, 3);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpint(gc_commits, ==, 3);
}

/* ---- a turn of many connections: reads ahead and writes in batches (router/iobatch.c) ---- */

#define BT_CONNS 40
static struct {
    Conn *conn[BT_CONNS];
    int client[BT_CONNS];
    GString *got[BT_CONNS];  /* what the server read */
    GString *echo[BT_CONNS]; /* what the client read back */
    gboolean closed[BT_CONNS];
    gint err_code[BT_CONNS];
} bt;

/* sizes around the 8 KiB read-ahead and the 16 KiB read; every fifth client half-closes */
static gsize bt_size(int i)
{
    static const gsize sizes[] = {100, 8192, 20000, 3000, 70000, 8193};
    return sizes[i % G_N_ELEMENTS(sizes)];
}

static gboolean bt_eof(int i)
{
    return i % 5 == 4;
}

static char bt_byte(int i, gsize off)
{
    return (char)((i * 31 + off * 7 + off / 251) & 0xff);
}

static gboolean bt_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    int i = GPOINTER_TO_INT(ud);
    g_string_append_len(bt.got[i], buf, (gssize)len);
    conn_write(c, buf, len); /* echo: many connections with output in one flush */
    return TRUE;
}

static void bt_on_closed(Conn *c, const GError *err, gpointer ud)
{
    int i = GPOINTER_TO_INT(ud);
    bt.closed[i] = TRUE;
    bt.err_code[i] = err ? err->code : -1;
}

static gboolean bt_client_readable(int fd, GIOCondition cond, gpointer ud)
{
    int i = GPOINTER_TO_INT(ud);
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
        g_string_append_len(bt.echo[i], buf, n);
    return n > 0 || (n < 0 && errno == EAGAIN) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean bt_done(void)
{
    for (int i = 0; i < BT_CONNS; i++)
        if (bt_eof(i) ? !bt.closed[i] : bt.echo[i]->len < bt_size(i))
            return FALSE;
    return TRUE;
}

/* Forty connections readable in one turn, some sending more than a read-ahead slot, some
 * closing after their data; the server echoes through a small send buffer, so batched
 * writes come back short and wait for writable. Every byte arrives once, in order. */
static void test_batch_turn(gconstpointer mode)
{
    static const ConnCallbacks cbs = {bt_on_data, bt_on_closed, NULL};
    guint watch[BT_CONNS];
    int small = 4096;
    memset(&bt, 0, sizeof bt);
    iobatch_set_enabled(GPOINTER_TO_INT(mode));
    for (int i = 0; i < BT_CONNS; i++) {
        int sv[2];
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        g_assert_cmpint(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
        bt.client[i] = sv[0];
        bt.got[i] = g_string_new(NULL);
        bt.echo[i] = g_string_new(NULL);
        bt.conn[i] = conn_new(sv[1], &cbs, GINT_TO_POINTER(i));
        g_assert_nonnull(bt.conn[i]);
    }
    iobatch_set_enabled(TRUE);
    for (int i = 0; i < BT_CONNS; i++) {
        g_autofree char *data = g_malloc(bt_size(i));
        for (gsize k = 0; k < bt_size(i); k++)
            data[k] = bt_byte(i, k);
        g_assert_cmpint(write(bt.client[i], data, bt_size(i)), ==, (gssize)bt_size(i));
        if (bt_eof(i))
            g_assert_cmpint(shutdown(bt.client[i], SHUT_WR), ==, 0);
    }
    for (int i = 0; i < BT_CONNS; i++)
        watch[i] = bt_eof(i) ? 0
                             : g_unix_fd_add(bt.client[i], G_IO_IN, bt_client_readable,
                                             GINT_TO_POINTER(i));
    RUN_UNTIL(bt_done());
    for (int i = 0; i < BT_CONNS; i++) {
        g_assert_cmpuint(bt.got[i]->len, ==, bt_size(i));
        for (gsize k = 0; k < bt_size(i); k++)
            if (bt.got[i]->str[k] != bt_byte(i, k))
                g_error("conn %d: byte %zu read wrong", i, k);
        if (bt_eof(i)) {
            g_assert_cmpint(bt.err_code[i], ==, CONN_ERROR_EOF);
            conn_free(bt.conn[i]);
        } else {
            g_assert_false(bt.closed[i]);
            g_assert_cmpuint(bt.echo[i]->len, ==, bt_size(i));
            g_assert_true(memcmp(bt.echo[i]->str, bt.got[i]->str, bt_size(i)) == 0);
            g_source_remove(watch[i]);
            conn_free(bt.conn[i]);
        }
        close(bt.client[i]);
        g_string_free(bt.got[i], TRUE);
        g_string_free(bt.echo[i], TRUE);
    }
}

static void test_parse_hostport(void)
{
    static const struct {
        const char *in, *host;
        guint16 port;
    } good[] = {
        {"127.0.0.1:5222", "127.0.0.1", 5222},
        {"[::]:5269", "::", 5269},
        {"[::1]:0", "::1", 0},
        {"*:5223", "*", 5223},
        {"localhost:65535", "localhost", 65535},
    };
    static const char *const bad[] = {
        "",         "5222",      ":5222",   "host:",     "host:65536", "host:-1", "host:52x",
        "::1:5222", "[::1]5222", "[]:5222", "[::1:5222", "a b:5222",   "host:+5", "[::1]:",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        GError *err = NULL;
        char *host = NULL;
        guint16 port = 1;
        g_assert_true(conn_parse_hostport(good[i].in, &host, &port, &err));
        g_assert_no_error(err);
        g_assert_cmpstr(host, ==, good[i].host);
        g_assert_cmpuint(port, ==, good[i].port);
        g_free(host);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *err = NULL;
        char *host = NULL;
        guint16 port = 0;
        g_assert_false(conn_parse_hostport(bad[i], &host, &port, &err));
        g_assert_error(err, CONN_ERROR, CONN_ERROR_IO);
        g_assert_null(host);
        g_clear_error(&err);
    }
}

static gboolean ignore_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    return TRUE;
}

static void ignore_closed(Conn *c, const GError *err, gpointer ud)
{
}

static void count_accept(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    static const ConnCallbacks cbs = {ignore_data, ignore_closed, NULL};
    (*(int *)ud)++;
    /* A v4 peer on a dual-stack socket reads as plain IPv4, not ::ffff:127.0.0.1. */
    Conn *c = conn_new(fd, &cbs, NULL);
    g_assert_cmpstr(conn_peer_addr(c), ==, "127.0.0.1");
    conn_free(c);
}

static void test_listener_any_and_errors(void)
{
    GError *err = NULL;
    int accepted = 0;
    Listener *any = listener_new("*:0", count_accept, &accepted, &err);
    g_assert_no_error(err);
    guint16 port = listener_port(any);
    g_assert_cmpuint(port, >, 0);
    int fd = tcp_connect(port, 0); /* IPv4 reaches the dual-stack (or 0.0.0.0) socket */
    RUN_UNTIL(accepted == 1);
    close(fd);

    /* The same port again cannot bind; the error says where. */
    g_autofree char *again = g_strdup_printf("*:%u", port);
    Listener *dup = listener_new(again, count_accept, &accepted, &err);
    g_assert_null(dup);
    g_assert_error(err, CONN_ERROR, CONN_ERROR_IO);
    g_assert_nonnull(strstr(err->message, again));
    g_clear_error(&err);
    listener_free(any);

    g_assert_null(listener_new("127.0.0.1:http", count_accept, &accepted, &err));
    g_assert_error(err, CONN_ERROR, CONN_ERROR_IO);
    g_clear_error(&err);

    Listener *v6 = listener_new("[::1]:0", count_accept, &accepted, &err);
    if (v6) {
        g_assert_cmpuint(listener_port(v6), >, 0);
        listener_free(v6);
    } else {
        g_test_message("no IPv6 loopback here: %s", err->message);
        g_clear_error(&err);
    }
}

static void free_listener_accept(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    Listener **l = ud;
    close(fd);
    listener_free(*l); /* from inside its own callback */
    *l = NULL;
}

static void test_listener_free_in_callback(void)
{
    GError *err = NULL;
    Listener *l = NULL;
    l = listener_new("127.0.0.1:0", free_listener_accept, &l, &err);
    g_assert_no_error(err);
    guint16 port = listener_port(l);
    int a = tcp_connect(port, 0), b = tcp_connect(port, 0);
    RUN_UNTIL(l == NULL);
    close(a);
    close(b);
}

/* ---- TLS ---- */

typedef struct {
    guint16 port;
    gboolean starttls;
    const char *sni;
    const unsigned char *alpn; /* wire format */
    unsigned int alpn_len;
    gsize big;              /* bytes the server sends after "again" */
    gboolean slow;          /* small receive buffer, late reader: the server's writes block */
    gboolean server_closes; /* expect close_notify and EOF from the server */
    unsigned char exporter[32];
    unsigned char endpoint[EVP_MAX_MD_SIZE];
    unsigned int endpoint_len;
    char *error;
    gboolean done;
} TlsClient;

static gboolean read_until(int fd, SSL *ssl, GString *acc, const char *needle)
{
    while (!g_str_has_suffix(acc->str, needle)) {
        char buf[16384];
        int n = ssl ? SSL_read(ssl, buf, sizeof buf) : (int)recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return FALSE;
        g_string_append_len(acc, buf, n);
    }
    return TRUE;
}

static gboolean ssl_send(SSL *ssl, const char *s)
{
    return SSL_write(ssl, s, (int)strlen(s)) == (int)strlen(s);
}

static gpointer tls_client_thread(gpointer data)
{
    TlsClient *tc = data;
    g_autoptr(GString) acc = g_string_new(NULL);
    struct timeval tv = {.tv_sec = 10};
    int fd = tcp_connect(tc->port, tc->slow ? 4096 : 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    if (tc->starttls) {
        const char *st = "<starttls/>";
        if (send(fd, st, strlen(st), MSG_NOSIGNAL) != (gssize)strlen(st) ||
            !read_until(fd, NULL, acc, "<proceed/>")) {
            tc->error = g_strdup("no <proceed/>");
            goto out;
        }
        g_string_truncate(acc, 0);
    }
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (tc->sni)
        SSL_set_tlsext_host_name(ssl, tc->sni);
    if (tc->alpn)
        SSL_set_alpn_protos(ssl, tc->alpn, tc->alpn_len);
    if (SSL_connect(ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        tc->error = g_strdup_printf("SSL_connect: %s", e);
        goto out;
    }
    static const char label[] = "EXPORTER-Channel-Binding";
    SSL_export_keying_material(ssl, tc->exporter, 32, label, strlen(label), NULL, 0, 0);
    X509 *peer = SSL_get1_peer_certificate(ssl);
    X509_digest(peer, EVP_sha256(), tc->endpoint, &tc->endpoint_len);
    X509_free(peer);

    if (!ssl_send(ssl, "ping") || !read_until(fd, ssl, acc, "pong")) {
        tc->error = g_strdup("no pong");
        goto out;
    }
    /* TLS 1.3 KeyUpdate asking the server to update too. */
    if (SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED) != 1 || !ssl_send(ssl, "again")) {
        tc->error = g_strdup("cannot send after key update");
        goto out;
    }
    if (tc->slow)
        g_usleep(300 * 1000);
    if (!read_until(fd, ssl, acc, "<end/>")) {
        tc->error = g_strdup("no reply after key update");
        goto out;
    }
    gsize want = strlen("pong") + strlen("again-ok") + tc->big + strlen("<end/>");
    if (acc->len != want) {
        tc->error = g_strdup_printf("got %zu bytes, want %zu", acc->len, want);
        goto out;
    }
    if (tc->server_closes) {
        char b[16];
        int n = SSL_read(ssl, b, sizeof b);
        if (n > 0 || SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN) {
            tc->error = g_strdup("no close_notify from the server");
            goto out;
        }
        if (recv(fd, b, sizeof b, 0) != 0) {
            tc->error = g_strdup("no EOF after close_notify");
            goto out;
        }
    }
    SSL_shutdown(ssl); /* close_notify */
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return NULL;
}

static gboolean hook_tls_server(Fx *fx, Conn *c)
{
    if (!conn_is_tls(c)) {
        if (!strstr(fx->in->str, "<starttls/>"))
            return TRUE;
        conn_write_str(c, "<proceed/>");
        conn_start_tls(c, fx->starttls_ctx);
        g_string_truncate(fx->in, 0);
        return FALSE; /* RFC 6120 §5.4.3.3: nothing more in plaintext */
    }
    if (!fx->ping_done && strstr(fx->in->str, "ping")) {
        fx->ping_done = TRUE;
        conn_write_str(c, "pong");
    }
    if (!fx->again_done && strstr(fx->in->str, "again")) {
        fx->again_done = TRUE;
        conn_write_str(c, "again-ok");
        g_autofree char *big = pattern(512 * 1024);
        for (gsize off = 0; off < 512 * 1024; off += 8192)
            conn_write(c, big + off, 8192);
        conn_write_str(c, "<end/>");
        if (fx->server_closes)
            conn_close(c);
    }
    return TRUE;
}

static char *make_tmpdir(void)
{
    GError *err = NULL;
    char *dir = g_dir_make_tmp("tern-test-conn-XXXXXX", &err);
    g_assert_no_error(err);
    return dir;
}

static TlsStore *make_store(const char *top, char **certs_dir_out)
{
    GError *err = NULL;
    char *certs = g_build_filename(top, "certs", NULL);
    char *domains[] = {"localhost", NULL};
    TlsStore *s = tls_store_new(certs, domains, TRUE, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s);
    *certs_dir_out = certs;
    return s;
}

static void run_tls(gboolean starttls, const char *sni, const char *alpn_name,
                    gboolean server_closes)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    SSL_CTX *ctx = tls_store_server_ctx(store);

    Fx fx = {.client = -1,
             .data_hook = hook_tls_server,
             .server_closes = server_closes,
             .srv_sndbuf = server_closes ? 8192 : 0};
    GError *err = NULL;
    fx.in = g_string_new(NULL);
    fx.client_in = g_string_new(NULL);
    if (starttls)
        fx.starttls_ctx = ctx;
    else
        fx.direct_tls = ctx;
    fx.listener = listener_new("127.0.0.1:0", on_accept, &fx, &err);
    g_assert_no_error(err);

    unsigned char alpn[32];
    TlsClient tc = {.port = listener_port(fx.listener),
                    .starttls = starttls,
                    .sni = sni,
                    .big = 512 * 1024,
                    .slow = server_closes,
                    .server_closes = server_closes};
    if (alpn_name) {
        alpn[0] = (unsigned char)strlen(alpn_name);
        memcpy(alpn + 1, alpn_name, strlen(alpn_name));
        tc.alpn = alpn;
        tc.alpn_len = 1 + (unsigned int)strlen(alpn_name);
    }
    GThread *th = g_thread_new("tls-client", tls_client_thread, &tc);
    RUN_UNTIL(fx.closed);
    g_thread_join(th);
    g_assert_cmpstr(tc.error, ==, NULL);
    if (server_closes)
        g_assert_no_error(fx.closed_err); /* conn_close finished */
    else
        g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_EOF); /* the client's close_notify */
    g_assert_cmpint(fx.tls_ready, ==, 1);
    g_assert_cmpstr(fx.sni, ==, sni);
    g_assert_cmpstr(fx.alpn, ==, alpn_name);

    /* RFC 9266: both ends derive the same 32 bytes. */
    g_assert_nonnull(fx.exporter);
    g_assert_cmpmem(g_bytes_get_data(fx.exporter, NULL), g_bytes_get_size(fx.exporter), tc.exporter,
                    32);
    /* RFC 5929: the ECDSA-SHA256 certificate hashes with SHA-256. */
    g_assert_nonnull(fx.endpoint);
    g_assert_cmpmem(g_bytes_get_data(fx.endpoint, NULL), g_bytes_get_size(fx.endpoint), tc.endpoint,
                    tc.endpoint_len);
    g_free(tc.error);
    fx_stop(&fx);
    tls_store_free(store);
    rm_rf(top);
}

static void test_tls_starttls(void)
{
    run_tls(TRUE, "localhost", "xmpp-client", FALSE);
}

/* The server's TLS writes block on a slow reader; conn_close flushes, then close_notify. */
static void test_tls_slow_reader_server_close(void)
{
    run_tls(TRUE, "localhost", "xmpp-client", TRUE);
}

static void test_tls_direct(void)
{
    run_tls(FALSE, "muc.localhost", "xmpp-server", FALSE); /* SNI by the parent domain */
}

static void test_tls_unknown_sni_no_alpn(void)
{
    run_tls(FALSE, "elsewhere.example", NULL, FALSE); /* default certificate; no ALPN */
}

/* conn_close before the handshake is done: on_closed(NULL), the client sees EOF. */
static void test_tls_close_mid_handshake(void)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    Fx fx = {.client = -1, .direct_tls = tls_store_server_ctx(store)};
    fx_start(&fx, TRUE);
    run_for(20);
    conn_close(fx.conn);
    RUN_UNTIL(fx.closed && fx.client_eof);
    g_assert_no_error(fx.closed_err);
    g_assert_cmpint(fx.tls_ready, ==, 0);
    fx_stop(&fx);
    tls_store_free(store);
    rm_rf(top);
}

/* Plaintext where a ClientHello should be: CONN_ERROR_TLS with OpenSSL's words. */
static void test_tls_garbage(void)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    Fx fx = {.client = -1, .direct_tls = tls_store_server_ctx(store)};
    fx_start(&fx, TRUE);
    client_send(&fx, "<?xml version='1.0'?><stream:stream to='localhost'>\r\n\r\n");
    RUN_UNTIL(fx.closed);
    g_assert_error(fx.closed_err, CONN_ERROR, CONN_ERROR_TLS);
    g_test_message("%s", fx.closed_err->message);
    g_assert_cmpint(fx.tls_ready, ==, 0);
    fx.direct_tls = NULL;
    fx_stop(&fx);
    tls_store_free(store);
    rm_rf(top);
}

/* ---- certificates ---- */

static void copy_file(const char *from, const char *to)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(from, &data, &len, NULL));
    g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
}

/* ---- TLS connections in batches: ciphertext read ahead handed to OpenSSL in order, and
 * ciphertext written for many connections in one call, what the kernel left sent first ---- */

#define TB_CONNS 6
#define TB_RECORDS 120 /* small TLS records: a read ahead holds many, a read takes one */
#define TB_RECORD 500
static struct {
    Conn *conn[TB_CONNS];
    int accepted, ready, closed;
    gint connected, go, finished;
    gboolean paused_once;
    GString *got[TB_CONNS];
} tb;

typedef struct {
    guint16 port;
    char *error;
} TbClient;

static char tb_byte(gsize off)
{
    return (char)('a' + (off * 7 + off / 500) % 26);
}

static gpointer tb_client_thread(gpointer data)
{
    TbClient *tc = data;
    struct timeval tv = {.tv_sec = 10};
    int fd = tcp_connect(tc->port, 4096); /* a small window: the echo comes back short */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    char rec[TB_RECORD], back[16384];
    gsize total = (gsize)TB_RECORDS * TB_RECORD, got = 0;
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) {
        tc->error = g_strdup("SSL_connect failed");
        goto out;
    }
    g_atomic_int_inc(&tb.connected);
    while (!g_atomic_int_get(&tb.go))
        g_usleep(1000);
    for (int k = 0; k < TB_RECORDS; k++) {
        for (int j = 0; j < TB_RECORD; j++)
            rec[j] = tb_byte((gsize)k * TB_RECORD + j);
        if (SSL_write(ssl, rec, TB_RECORD) != TB_RECORD) {
            tc->error = g_strdup("SSL_write failed");
            goto out;
        }
    }
    g_usleep(100 * 1000); /* the server's batched echo meets a full window */
    while (got < total) { /* the echo, byte for byte */
        int n = SSL_read(ssl, back, sizeof back);
        if (n <= 0) {
            tc->error = g_strdup_printf("echo stopped at %zu of %zu bytes", got, total);
            goto out;
        }
        for (int j = 0; j < n; j++)
            if (back[j] != tb_byte(got + j)) {
                tc->error = g_strdup_printf("echo byte %zu wrong", got + j);
                goto out;
            }
        got += n;
    }
    SSL_shutdown(ssl);
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    g_atomic_int_inc(&tb.finished);
    return NULL;
}

static gboolean tb_resume(gpointer data)
{
    conn_pause_reading(data, FALSE);
    return G_SOURCE_REMOVE;
}

static gboolean tb_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    int i = GPOINTER_TO_INT(ud);
    g_string_append_len(tb.got[i], buf, (gssize)len);
    conn_write(c, buf, len);
    if (i == 0 && !tb.paused_once) {
        /* paused with ciphertext read ahead and not taken: it must wait, not vanish */
        tb.paused_once = TRUE;
        conn_pause_reading(c, TRUE);
        g_timeout_add(50, tb_resume, c);
    }
    return TRUE;
}

static void tb_on_closed(Conn *c, const GError *err, gpointer ud)
{
    tb.closed++;
}

static void tb_on_ready(Conn *c, gpointer ud)
{
    tb.ready++;
}

static void tb_accept(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    static const ConnCallbacks cbs = {tb_on_data, tb_on_closed, tb_on_ready};
    g_assert_cmpint(tb.accepted, <, TB_CONNS);
    if (tb.accepted % 2 == 1) { /* small send buffer: batched TLS writes come back short */
        int small = 4096;
        g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
    }
    Conn *c = conn_new(fd, &cbs, GINT_TO_POINTER(tb.accepted));
    tb.conn[tb.accepted++] = c;
    conn_start_tls(c, ud);
}

static void test_tls_batch_turn(void)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    GError *err = NULL;
    GThread *th[TB_CONNS];
    TbClient tc[TB_CONNS];
    memset(&tb, 0, sizeof tb);
    Listener *l = listener_new("127.0.0.1:0", tb_accept, tls_store_server_ctx(store), &err);
    g_assert_no_error(err);
    for (int i = 0; i < TB_CONNS; i++) {
        tb.got[i] = g_string_new(NULL);
        tc[i] = (TbClient){listener_port(l), NULL};
        th[i] = g_thread_new("tls-batch-client", tb_client_thread, &tc[i]);
    }
    RUN_UNTIL(tb.ready == TB_CONNS && g_atomic_int_get(&tb.connected) == TB_CONNS);
    /* all send while the loop is not turning: the next turn finds them all readable */
    g_atomic_int_set(&tb.go, 1);
    g_usleep(150 * 1000);
    RUN_UNTIL(g_atomic_int_get(&tb.finished) == TB_CONNS && tb.closed == TB_CONNS);
    for (int i = 0; i < TB_CONNS; i++) {
        g_thread_join(th[i]);
        if (tc[i].error)
            g_error("client %d: %s", i, tc[i].error);
        g_assert_cmpuint(tb.got[i]->len, ==, (gsize)TB_RECORDS * TB_RECORD);
        conn_free(tb.conn[i]);
        g_string_free(tb.got[i], TRUE);
    }
    g_assert_true(tb.paused_once);
    listener_free(l);
    tls_store_free(store);
    rm_rf(top);
}

/* ---- the wire accounting while ciphertext waits in the write stash: s2s/out.c forgets a
 * stanza (no XEP-0198) once conn_wire_acked() passes its mark, so it must count only what
 * reached the kernel and the peer's TCP acknowledged, never what waits in the stash ---- */

#define WA_TOTAL (1024 * 1024)
static struct {
    Conn *conn;
    gboolean ready, closed;
    gint client_fd, handshaken, reading, finished;
    gint ciphertext_read; /* BIO_number_read of the client's socket BIO */
    char *error;
} wa;

static char wa_byte(gsize off)
{
    return (char)('A' + (off * 13 + off / 1000) % 26);
}

static gpointer wa_client_thread(gpointer data)
{
    guint16 port = GPOINTER_TO_UINT(data);
    struct timeval tv = {.tv_sec = 10};
    int fd = tcp_connect(port, 4096);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = SSL_new(ctx);
    char back[16384];
    gsize got = 0;
    SSL_set_fd(ssl, fd);
    g_atomic_int_set(&wa.client_fd, fd);
    if (SSL_connect(ssl) != 1) {
        wa.error = g_strdup("SSL_connect failed");
        goto out;
    }
    g_atomic_int_set(&wa.ciphertext_read, (gint)BIO_number_read(SSL_get_rbio(ssl)));
    g_atomic_int_set(&wa.handshaken, 1);
    while (!g_atomic_int_get(&wa.reading))
        g_usleep(1000);
    while (got < WA_TOTAL) {
        int n = SSL_read(ssl, back, sizeof back);
        if (n <= 0) {
            wa.error = g_strdup_printf("stopped at %zu of %d bytes", got, WA_TOTAL);
            goto out;
        }
        for (int j = 0; j < n; j++)
            if (back[j] != wa_byte(got + j)) {
                wa.error = g_strdup_printf("byte %zu wrong", got + j);
                goto out;
            }
        got += n;
        g_atomic_int_set(&wa.ciphertext_read, (gint)BIO_number_read(SSL_get_rbio(ssl)));
    }
out:
    g_atomic_int_set(&wa.finished, 1);
    while (wa.error == NULL && g_atomic_int_get(&wa.reading) != 2) /* main checked */
        g_usleep(1000);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    return NULL;
}

static void wa_on_ready(Conn *c, gpointer ud)
{
    g_autofree char *big = g_malloc(WA_TOTAL);
    for (gsize i = 0; i < WA_TOTAL; i++)
        big[i] = wa_byte(i);
    conn_write(c, big, WA_TOTAL);
    wa.ready = TRUE;
}

static gboolean wa_on_data(Conn *c, const char *buf, gsize len, gpointer ud)
{
    return TRUE;
}

static void wa_on_closed(Conn *c, const GError *err, gpointer ud)
{
    wa.closed = TRUE;
}

static void wa_accept(int fd, const struct sockaddr *addr, socklen_t len, gpointer ud)
{
    static const ConnCallbacks cbs = {wa_on_data, wa_on_closed, wa_on_ready};
    int small = 4096; /* the kernel takes little: most of a batched write waits in the stash */
    g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
    wa.conn = conn_new(fd, &cbs, NULL);
    conn_start_tls(wa.conn, ud);
}

/* What the client's kernel holds or the client read: every byte its TCP acknowledged. */
static guint64 wa_client_has(void)
{
    int queued = 0;
    g_assert_cmpint(ioctl(g_atomic_int_get(&wa.client_fd), FIONREAD, &queued), ==, 0);
    return (guint64)queued + (guint64)g_atomic_int_get(&wa.ciphertext_read);
}

static void test_tls_wire_accounting(void)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    GError *err = NULL;
    memset(&wa, 0, sizeof wa);
    Listener *l = listener_new("127.0.0.1:0", wa_accept, tls_store_server_ctx(store), &err);
    g_assert_no_error(err);
    GThread *th = g_thread_new("wire-client", wa_client_thread, GUINT_TO_POINTER(listener_port(l)));
    RUN_UNTIL(wa.ready && g_atomic_int_get(&wa.handshaken));
    /* the client does not read: turns go by, the sockets fill, ciphertext waits */
    run_for(300);
    SSL *ssl = conn_ssl(wa.conn);
    guint64 encrypted = BIO_number_written(SSL_get_wbio(ssl)); /* what OpenSSL handed the BIO */
    guint64 sent = conn_wire_sent(wa.conn);
    g_assert_cmpuint(sent, <, encrypted);    /* some of it waits in the stash */
    g_assert_cmpuint(sent, <, WA_TOTAL / 4); /* and the kernel holds little */
    /* nothing moves now: on loopback every byte in the client's kernel is acknowledged,
     * and nothing else is */
    guint64 acked = 0, has = 0;
    for (int tries = 0; tries < 100; tries++) {
        acked = conn_wire_acked(wa.conn);
        has = wa_client_has();
        if (acked == has)
            break;
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(acked, ==, has);
    g_atomic_int_set(&wa.reading, 1);
    RUN_UNTIL(g_atomic_int_get(&wa.finished));
    if (wa.error)
        g_error("client: %s", wa.error);
    /* all read: the stash drained into the kernel, and acknowledged to the last byte */
    RUN_UNTIL(conn_wire_acked(wa.conn) == (guint64)g_atomic_int_get(&wa.ciphertext_read));
    g_assert_cmpuint(conn_wire_sent(wa.conn), ==, BIO_number_written(SSL_get_wbio(ssl)));
    g_atomic_int_set(&wa.reading, 2);
    RUN_UNTIL(wa.closed);
    g_thread_join(th);
    conn_free(wa.conn);
    listener_free(l);
    tls_store_free(store);
    rm_rf(top);
}

static void test_tls_store_and_check(void)
{
    g_autofree char *top = make_tmpdir();
    g_autofree char *certs = NULL;
    TlsStore *store = make_store(top, &certs);
    g_autofree char *pem = g_build_filename(certs, "localhost.pem", NULL);
    g_autofree char *key = g_build_filename(certs, "localhost.key", NULL);
    g_assert_cmpstr(tls_store_cert_path(store, "localhost"), ==, pem);
    g_assert_null(tls_store_cert_path(store, "nope.example"));
    GStatBuf st;
    g_assert_cmpint(g_stat(key, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(g_stat(certs, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0700);

    g_autoptr(GString) out = g_string_new(NULL);
    char *ok_domains[] = {"localhost", NULL};
    g_assert_true(tls_check_dir(certs, ok_domains, out));
    g_assert_true(g_str_has_prefix(out->str, "localhost: OK (CN=localhost, expires "));

    /* Missing, mismatched key, and a name the certificate does not cover. */
    char *other[] = {"other.test", NULL};
    GError *err = NULL;
    TlsStore *store2 = tls_store_new(certs, other, TRUE, &err);
    g_assert_no_error(err);
    tls_store_free(store2);
    g_autofree char *mm_pem = g_build_filename(certs, "mismatch.test.pem", NULL);
    g_autofree char *mm_key = g_build_filename(certs, "mismatch.test.key", NULL);
    g_autofree char *other_key = g_build_filename(certs, "other.test.key", NULL);
    g_autofree char *wr_pem = g_build_filename(certs, "wrong.test.pem", NULL);
    g_autofree char *wr_key = g_build_filename(certs, "wrong.test.key", NULL);
    copy_file(pem, mm_pem);
    copy_file(other_key, mm_key);
    copy_file(pem, wr_pem);
    copy_file(key, wr_key);

    char *bad[] = {"localhost", "missing.test", "mismatch.test", "wrong.test", NULL};
    g_string_truncate(out, 0);
    g_assert_false(tls_check_dir(certs, bad, out));
    g_test_message("%s", out->str);
    g_assert_nonnull(strstr(out->str, "localhost: OK"));
    g_assert_nonnull(strstr(out->str, "missing.test: missing "));
    g_assert_nonnull(strstr(out->str, "mismatch.test: cannot load key "));
    g_assert_nonnull(strstr(out->str, "mismatch.test.key: "));
    g_assert_nonnull(strstr(out->str, "wrong.test: certificate "));
    g_assert_nonnull(strstr(out->str, "subjectAltName does not cover wrong.test"));
    /* Checking generates nothing. */
    g_autofree char *missing_pem = g_build_filename(certs, "missing.test.pem", NULL);
    g_assert_false(g_file_test(missing_pem, G_FILE_TEST_EXISTS));

    /* Without self_signed a missing certificate is an error naming the file. */
    char *missing[] = {"missing.test", NULL};
    g_assert_null(tls_store_new(certs, missing, FALSE, &err));
    g_assert_error(err, TLS_ERROR, TLS_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "missing.test.pem"));
    g_clear_error(&err);
    /* A mismatched pair is refused at load too. */
    char *mm[] = {"mismatch.test", NULL};
    g_assert_null(tls_store_new(certs, mm, FALSE, &err));
    g_assert_error(err, TLS_ERROR, TLS_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "mismatch.test.key"));
    g_clear_error(&err);

    /* Reload swaps contexts; a failed reload keeps the old ones. */
    tls_store_free(store);
    store = tls_store_new(certs, ok_domains, FALSE, &err);
    g_assert_no_error(err);
    SSL_CTX *before = tls_store_server_ctx(store);
    SSL_CTX_up_ref(before); /* as a live connection would */
    g_assert_true(tls_store_reload(store, &err));
    g_assert_no_error(err);
    SSL_CTX *after = tls_store_server_ctx(store);
    g_assert_true(after != before);
    g_assert_nonnull(SSL_CTX_get0_certificate(before)); /* still usable */
    SSL_CTX_free(before);
    g_assert_cmpint(g_unlink(key), ==, 0);
    g_assert_false(tls_store_reload(store, &err));
    g_assert_error(err, TLS_ERROR, TLS_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "localhost.key"));
    g_clear_error(&err);
    g_assert_true(tls_store_server_ctx(store) == after);
    tls_store_free(store);
    rm_rf(top);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* as ternd does: TLS writes go through write(2) */
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/conn/plain/exchange", test_plain_exchange);
    g_test_add_func("/conn/plain/overflow-slow-reader", test_overflow_slow_reader);
    g_test_add_func("/conn/plain/overflow-single-write", test_overflow_single_write);
    g_test_add_func("/conn/plain/close-flushes", test_close_flushes);
    g_test_add_func("/conn/plain/close-from-on-data", test_close_from_on_data);
    g_test_add_func("/conn/plain/free-from-on-data", test_free_from_on_data);
    g_test_add_func("/conn/plain/pause-reading", test_pause_reading);
    g_test_add_func("/conn/plain/peer-reset", test_peer_reset);
    g_test_add_func("/conn/plain/flush-mid-turn", test_flush_mid_turn);
    g_test_add_func("/conn/group-commit/idle", test_group_commit_idle);
    g_test_add_data_func("/conn/plain/batch-turn/io_uring", GINT_TO_POINTER(TRUE), test_batch_turn);
    g_test_add_data_func("/conn/plain/batch-turn/plain-calls", GINT_TO_POINTER(FALSE),
                         test_batch_turn);
    g_test_add_func("/conn/addr/parse-hostport", test_parse_hostport);
    g_test_add_func("/conn/listener/any-and-errors", test_listener_any_and_errors);
    g_test_add_func("/conn/listener/free-in-callback", test_listener_free_in_callback);
    g_test_add_func("/conn/tls/starttls", test_tls_starttls);
    g_test_add_func("/conn/tls/slow-reader-server-close", test_tls_slow_reader_server_close);
    g_test_add_func("/conn/tls/direct-sni-parent", test_tls_direct);
    g_test_add_func("/conn/tls/unknown-sni-no-alpn", test_tls_unknown_sni_no_alpn);
    g_test_add_func("/conn/tls/garbage-handshake", test_tls_garbage);
    g_test_add_func("/conn/tls/close-mid-handshake", test_tls_close_mid_handshake);
    g_test_add_func("/conn/tls/store-and-check", test_tls_store_and_check);
    g_test_add_func("/conn/tls/batch-turn", test_tls_batch_turn);
    g_test_add_func("/conn/tls/wire-accounting", test_tls_wire_accounting);
    return g_test_run();
}
