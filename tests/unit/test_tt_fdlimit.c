/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tt_fdlimit.c — 1,100 descriptors open before the transport connects, so
 * libstrophe's socket would be >= FD_SETSIZE: the SDK refuses it cleanly (select() never
 * sees it) and recovers, or uses its spare descriptor and works. Run under ASan too. */
#include "transports/sdk/sdk-private.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/tt_fake_server.h"

#define SECRET "fd-secret"
#define FILL_TO 1100

typedef struct {
    guint connected, disconnected;
    GError *last_error;
} Seen;

static void on_connected(TtTransport *t, gpointer ud)
{
    ((Seen *)ud)->connected++;
}

static void on_disconnected(TtTransport *t, const GError *error, gpointer ud)
{
    Seen *s = ud;
    s->disconnected++;
    g_clear_error(&s->last_error);
    if (error)
        s->last_error = g_error_copy(error);
}

static gboolean enough_descriptors(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return FALSE;
    if (rl.rlim_cur < FILL_TO + 200) {
        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)FILL_TO + 500);
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < FILL_TO + 200)
            return FALSE;
    }
    return TRUE;
}

/* Take every free descriptor number up to FILL_TO: /dev/null opened again and again. */
static GArray *fill_descriptors(void)
{
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_array_append_val(fds, fd);
        if (fd >= FILL_TO)
            break;
    }
    return fds;
}

static void release_descriptors(GArray *fds)
{
    for (guint i = 0; i < fds->len; i++)
        close(g_array_index(fds, int, i));
    g_array_free(fds, TRUE);
}

static TtTransport *new_transport(FakeServer *srv, Seen *seen)
{
    TtConfig c = {
        .domain = "gw.test",
        .secret = SECRET,
        .port = srv->port,
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 100,
    };
    TtHandlers h = {.connected = on_connected, .disconnected = on_disconnected};
    g_autoptr(GError) error = NULL;
    TtTransport *t = tt_transport_new(&c, &h, seen, &error);
    g_assert_no_error(error);
    return t;
}

/* The descriptor of our TCP connection to port, or -1. */
static int socket_to(guint16 port)
{
    for (int fd = 0; fd < FILL_TO + 100; fd++) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && peer.sin_family == AF_INET &&
            ntohs(peer.sin_port) == port) {
            /* the server's accepted socket has the ephemeral peer port, not this one */
            return fd;
        }
    }
    return -1;
}

static void roundtrip(FakeServer *srv)
{
    FakeConn *c = fake_last(srv);
    g_assert_nonnull(c);
    fake_send(c, "<iq type='get' id='fd1' from='alice@test/r' to='gw.test'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>");
    g_autofree char *r = fake_wait(srv, "id=\"fd1\"", 3000);
    g_assert_nonnull(r);
}

static void test_refused_then_recovers(void)
{
    if (!enough_descriptors()) {
        g_test_skip("RLIMIT_NOFILE too low for 1,100 descriptors");
        return;
    }
    /* the refusal is a warning (operators must see it); not fatal in this test */
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    FakeServer *srv = fake_server_new(SECRET);
    GArray *fds = fill_descriptors(); /* no number below FILL_TO is free */
    Seen seen = {0};
    TtTransport *t = new_transport(srv, &seen); /* no spare descriptor possible */
    tt_transport_start(t);
    g_assert_true(LOOP_UNTIL(seen.disconnected >= 3, 5000)); /* refused, retried, refused */
    g_assert_error(seen.last_error, TT_ERROR, TT_ERROR_FD_SETSIZE);
    g_assert_nonnull(strstr(seen.last_error->message, "FD_SETSIZE"));
    g_assert_cmpuint(seen.connected, ==, 0);
    g_assert_cmpuint(srv->conns->len, ==, 0); /* nothing ever reached the network */
    /* descriptors freed: the next retry gets a selectable socket and connects */
    release_descriptors(fds);
    g_assert_true(LOOP_UNTIL(seen.connected == 1, 5000));
    roundtrip(srv);
    int fd = socket_to(srv->port);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fd, <, FD_SETSIZE);
    tt_transport_free(t);
    fake_server_free(srv);
    g_clear_error(&seen.last_error);
}

static void test_spare_descriptor(void)
{
    if (!enough_descriptors()) {
        g_test_skip("RLIMIT_NOFILE too low for 1,100 descriptors");
        return;
    }
    FakeServer *srv = fake_server_new(SECRET);
    Seen seen = {0};
    TtTransport *t = new_transport(srv, &seen); /* keeps a spare number below 1024 */
    GArray *fds = fill_descriptors();           /* then the program opens 1,100 more */
    tt_transport_start(t);
    g_assert_true(LOOP_UNTIL(seen.connected == 1, 5000));
    g_assert_cmpuint(seen.disconnected, ==, 0);
    roundtrip(srv);
    int fd = socket_to(srv->port);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fd, <, FD_SETSIZE); /* the spare one */
    /* the server restarts the stream: the reconnect also finds a spare (taken again) */
    fake_close(fake_last(srv));
    g_assert_true(LOOP_UNTIL(seen.connected == 2, 5000));
    roundtrip(srv);
    g_assert_cmpint(socket_to(srv->port), <, FD_SETSIZE);
    tt_transport_free(t);
    release_descriptors(fds);
    fake_server_free(srv);
    g_clear_error(&seen.last_error);
}

static void test_selectable(void)
{
    g_assert_true(tt_fd_selectable(0));
    g_assert_true(tt_fd_selectable(FD_SETSIZE - 1));
    g_assert_false(tt_fd_selectable(FD_SETSIZE));
    g_assert_false(tt_fd_selectable(-1));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tt/fdlimit/selectable", test_selectable);
    g_test_add_func("/tt/fdlimit/refused-then-recovers", test_refused_then_recovers);
    g_test_add_func("/tt/fdlimit/spare-descriptor", test_spare_descriptor);
    return g_test_run();
}
