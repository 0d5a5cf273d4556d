/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/tt_fake_server.h — a scripted XEP-0114 server side on the test's GMainContext,
 * for the SDK's unit tests (included by test_tt_sdk.c and test_tt_fdlimit.c) */
#pragma once

#include <gio/gio.h>
#include <string.h>
#include "tests/unit/testutil.h"

typedef struct {
    GSocketService *service;
    guint16 port;
    const char *secret;
    gboolean reject;  /* answer the handshake with <not-authorized/> */
    GPtrArray *conns; /* FakeConn* */
    guint handshakes;
} FakeServer;

typedef struct {
    FakeServer *srv;
    GSocketConnection *conn;
    GCancellable *cancel; /* the pending read: cancelled before the FakeConn is freed */
    GString *in;          /* everything received */
    gsize mark;           /* fake_wait() looks after this */
    gboolean header_sent, authed, closed;
    char id[16];
    char buf[4096];
} FakeConn;

static void fake_send(FakeConn *c, const char *text)
{
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
    g_autoptr(GError) error = NULL;
    if (!c->closed && !g_output_stream_write_all(out, text, strlen(text), NULL, NULL, &error))
        g_test_message("fake server write: %s", error->message);
}

static void fake_close(FakeConn *c)
{
    if (c->closed)
        return;
    c->closed = TRUE;
    g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
}

static void fake_process(FakeConn *c)
{
    if (!c->header_sent && strstr(c->in->str, "<stream:stream") &&
        strchr(strstr(c->in->str, "<stream:stream"), '>')) {
        c->header_sent = TRUE;
        g_snprintf(c->id, sizeof c->id, "id%u", g_random_int());
        g_autofree char *h = g_strdup_printf(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
            "xmlns:stream='http://etherx.jabber.org/streams' id='%s' from='gw.test'>",
            c->id);
        fake_send(c, h);
    }
    if (c->header_sent && !c->authed && strstr(c->in->str, "</handshake>")) {
        g_autofree char *want = NULL;
        g_autofree char *idsecret = g_strconcat(c->id, c->srv->secret, NULL);
        want = g_compute_checksum_for_string(G_CHECKSUM_SHA1, idsecret, -1);
        if (c->srv->reject || !strstr(c->in->str, want)) {
            fake_send(c, "<stream:error><not-authorized "
                         "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
                         "</stream:stream>");
            fake_close(c);
            return;
        }
        c->authed = TRUE;
        c->srv->handshakes++;
        c->mark = c->in->len;
        fake_send(c, "<handshake/>");
    }
}

static void fake_read(GObject *src, GAsyncResult *res, gpointer data)
{
    FakeConn *c = data;
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return; /* c may be gone */
    if (n <= 0) {
        fake_close(c);
        return;
    }
    g_string_append_len(c->in, c->buf, n);
    fake_process(c);
    if (!c->closed)
        g_input_stream_read_async(G_INPUT_STREAM(src), c->buf, sizeof c->buf, G_PRIORITY_DEFAULT,
                                  c->cancel, fake_read, c);
}

static gboolean fake_incoming(GSocketService *service, GSocketConnection *conn, GObject *source,
                              gpointer data)
{
    FakeServer *srv = data;
    FakeConn *c = g_new0(FakeConn, 1);
    c->srv = srv;
    c->conn = g_object_ref(conn);
    c->in = g_string_new(NULL);
    c->cancel = g_cancellable_new();
    g_ptr_array_add(srv->conns, c);
    g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(conn)), c->buf,
                              sizeof c->buf, G_PRIORITY_DEFAULT, c->cancel, fake_read, c);
    return TRUE;
}

static void fake_conn_free(gpointer p)
{
    FakeConn *c = p;
    g_cancellable_cancel(c->cancel);
    fake_close(c);
    g_object_unref(c->cancel);
    g_object_unref(c->conn);
    g_string_free(c->in, TRUE);
    g_free(c);
}

static FakeServer *fake_server_new(const char *secret)
{
    FakeServer *srv = g_new0(FakeServer, 1);
    srv->secret = secret;
    srv->conns = g_ptr_array_new_with_free_func(fake_conn_free);
    srv->service = g_socket_service_new();
    g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
    g_autoptr(GSocketAddress) bound = NULL;
    g_autoptr(GError) error = NULL;
    g_socket_listener_add_address(G_SOCKET_LISTENER(srv->service), addr, G_SOCKET_TYPE_STREAM,
                                  G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
    g_assert_no_error(error);
    srv->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_signal_connect(srv->service, "incoming", G_CALLBACK(fake_incoming), srv);
    g_socket_service_start(srv->service);
    return srv;
}

static void fake_server_free(FakeServer *srv)
{
    g_socket_service_stop(srv->service);
    g_socket_listener_close(G_SOCKET_LISTENER(srv->service));
    g_object_unref(srv->service);
    g_ptr_array_free(srv->conns, TRUE);
    g_free(srv);
}

/* The authenticated connection that came last, or NULL. */
static FakeConn *fake_last(FakeServer *srv)
{
    for (guint i = srv->conns->len; i > 0; i--) {
        FakeConn *c = srv->conns->pdata[i - 1];
        if (c->authed && !c->closed)
            return c;
    }
    return NULL;
}

/* Wait for text in what the last authenticated connection received after its mark; moves
 * the mark past it and returns what was received up to there (to check a whole stanza:
 * wait for its end tag). NULL on timeout. transfer full */
static char *fake_wait(FakeServer *srv, const char *text, int ms)
{
    gboolean found = LOOP_UNTIL(
        fake_last(srv) && strstr(fake_last(srv)->in->str + fake_last(srv)->mark, text), ms);
    FakeConn *c = fake_last(srv);
    if (!found) {
        g_test_message("fake server: no %s in %s", text, c ? c->in->str + c->mark : "(none)");
        return NULL;
    }
    gsize start = c->mark;
    c->mark = strstr(c->in->str + c->mark, text) - c->in->str + strlen(text);
    return g_strndup(c->in->str + start, c->mark - start);
}
