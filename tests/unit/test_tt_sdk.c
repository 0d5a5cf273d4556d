/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tt_sdk.c — the transport SDK against a scripted XEP-0114 server on the same
 * GMainContext: handshake, disco, registration, dispatch, reconnect; backoff; presence */
#include "transports/sdk/sdk-private.h"

#include <glib/gstdio.h>

#include "tests/unit/tt_fake_server.h"

#define SECRET "s3cret"

static void test_backoff(void)
{
    GRand *r = g_rand_new_with_seed(1);
    for (int i = 0; i < 1000; i++) {
        guint d0 = tt_backoff_delay(0, 500, 60000, r);
        g_assert_cmpuint(d0, >=, 250);
        g_assert_cmpuint(d0, <=, 500);
        guint d3 = tt_backoff_delay(3, 500, 60000, r); /* cap 4000 */
        g_assert_cmpuint(d3, >=, 2000);
        g_assert_cmpuint(d3, <=, 4000);
        guint d30 = tt_backoff_delay(30, 500, 60000, r); /* capped */
        g_assert_cmpuint(d30, >=, 30000);
        g_assert_cmpuint(d30, <=, 60000);
        g_assert_cmpuint(tt_backoff_delay(1000000, 500, 60000, r), <=, 60000);
    }
    /* jitter: not always the same value */
    guint a = tt_backoff_delay(5, 500, 60000, r), same = 0;
    for (int i = 0; i < 50; i++)
        same += tt_backoff_delay(5, 500, 60000, r) == a;
    g_assert_cmpuint(same, <, 10);
    g_rand_free(r);
}

static void test_presence_mapping(void)
{
    g_assert_cmpint(tt_show_from_legacy("Away"), ==, TT_SHOW_AWAY);
    g_assert_cmpint(tt_show_from_legacy(" busy "), ==, TT_SHOW_DND);
    g_assert_cmpint(tt_show_from_legacy("Extended Away"), ==, TT_SHOW_XA);
    g_assert_cmpint(tt_show_from_legacy("invisible"), ==, TT_SHOW_UNAVAILABLE);
    g_assert_cmpint(tt_show_from_legacy("online"), ==, TT_SHOW_AVAILABLE);
    g_assert_cmpint(tt_show_from_legacy("gone fishing"), ==, TT_SHOW_AVAILABLE);
    g_assert_cmpint(tt_show_from_legacy(NULL), ==, TT_SHOW_AVAILABLE);
    g_assert_cmpstr(tt_show_to_string(TT_SHOW_DND), ==, "dnd");
    g_assert_null(tt_show_to_string(TT_SHOW_AVAILABLE));
    g_assert_null(tt_show_to_string(TT_SHOW_UNAVAILABLE));
}

static void test_config_errors(void)
{
    g_autoptr(GError) error = NULL;
    TtConfig c = {.domain = "gw.test"};
    g_assert_null(tt_transport_new(&c, NULL, NULL, &error));
    g_assert_error(error, TT_ERROR, TT_ERROR_CONFIG);
    g_clear_error(&error);
    TtConfig c2 = {.domain = "gw.test", .secret = "x", .instructions = "needs a store"};
    g_assert_null(tt_transport_new(&c2, NULL, NULL, &error));
    g_assert_error(error, TT_ERROR, TT_ERROR_CONFIG);
}

/* --- against the fake server ------------------------------------------------------------ */

typedef struct {
    FakeServer *srv;
    TtTransport *t;
    char *dir;
    guint connected, disconnected;
    GError *last_error;
    GPtrArray *messages; /* bodies the message handler saw */
    GPtrArray *registered;
} Fx;

static const TtField fields[] = {
    {"nick", "Nickname", TT_FIELD_TEXT, TRUE},
    {"password", "Password", TT_FIELD_PRIVATE, FALSE},
    {"tls", "Use TLS", TT_FIELD_BOOLEAN, FALSE},
    {NULL, NULL, 0, FALSE},
};

static void on_connected(TtTransport *t, gpointer ud)
{
    ((Fx *)ud)->connected++;
}

static void on_disconnected(TtTransport *t, const GError *error, gpointer ud)
{
    Fx *f = ud;
    f->disconnected++;
    g_clear_error(&f->last_error);
    if (error)
        f->last_error = g_error_copy(error);
}

static gboolean on_message(TtTransport *t, xmpp_stanza_t *st, gpointer ud)
{
    Fx *f = ud;
    char *body = tt_stanza_child_text(st, "body");
    g_ptr_array_add(f->messages, body);
    tt_send(t, tt_message_new(t, "chat", xmpp_stanza_get_to(st), xmpp_stanza_get_from(st), body));
    return TRUE;
}

static gboolean on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer ud)
{
    const char *nick = g_hash_table_lookup(values, "nick");
    if (g_strcmp0(nick, "root") == 0) {
        g_set_error(error, TT_ERROR, TT_ERROR_NOT_ACCEPTABLE, "nick root is reserved");
        return FALSE;
    }
    g_ptr_array_add(((Fx *)ud)->registered, g_strdup(user));
    return TRUE;
}

static void fx_setup(Fx *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    f->srv = fake_server_new(SECRET);
    f->dir = g_dir_make_tmp("tt-sdk-XXXXXX", &error);
    g_assert_no_error(error);
    f->messages = g_ptr_array_new_with_free_func(g_free);
    f->registered = g_ptr_array_new_with_free_func(g_free);
    TtConfig c = {
        .domain = "gw.test",
        .secret = SECRET,
        .port = f->srv->port,
        .data_dir = f->dir,
        .name = "Test gateway",
        .gateway_type = "irc",
        .instructions = "Give a nick.",
        .fields = fields,
        .prompt_desc = "Enter a nick",
        .prompt = "Nick",
        .features = (const char *const[]){"http://jabber.org/protocol/muc", NULL},
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 200,
    };
    TtHandlers h = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .message = on_message,
        .registering = on_registering,
    };
    f->t = tt_transport_new(&c, &h, f, &error);
    g_assert_no_error(error);
}

static void fx_teardown(Fx *f, gconstpointer data)
{
    tt_transport_free(f->t);
    fake_server_free(f->srv);
    g_ptr_array_free(f->messages, TRUE);
    g_ptr_array_free(f->registered, TRUE);
    g_clear_error(&f->last_error);
    rm_rf(f->dir);
    g_free(f->dir);
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void fx_connect(Fx *f)
{
    tt_transport_start(f->t);
    g_assert_true(LOOP_UNTIL(f->connected == 1, 5000));
    g_assert_true(tt_transport_is_connected(f->t));
    g_assert_cmpuint(f->srv->handshakes, ==, 1);
}

static void test_disco_and_ping(Fx *f, gconstpointer data)
{
    fx_connect(f);
    FakeConn *c = fake_last(f->srv);
    fake_send(c, "<iq type='get' id='d1' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    g_autofree char *r = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(r);
    g_assert_nonnull(strstr(r, "id=\"d1\""));
    g_assert_nonnull(strstr(r, "type=\"result\""));
    g_assert_nonnull(strstr(r, "to=\"alice@test/r\""));
    g_assert_nonnull(strstr(r, "category=\"gateway\""));
    g_assert_nonnull(strstr(r, "type=\"irc\""));
    g_assert_nonnull(strstr(r, "var=\"jabber:iq:register\""));
    g_assert_nonnull(strstr(r, "var=\"jabber:iq:gateway\""));
    g_assert_nonnull(strstr(r, "var=\"http://jabber.org/protocol/muc\""));
    fake_send(c, "<iq type='get' id='p1' from='alice@test/r' to='gw.test'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>");
    g_autofree char *p = fake_wait(f->srv, "id=\"p1\"", 3000);
    g_assert_nonnull(p);
    /* an iq the SDK and the program do not handle: service-unavailable */
    fake_send(c, "<iq type='get' id='u1' from='alice@test/r' to='x@gw.test'>"
                 "<query xmlns='urn:example'/></iq>");
    g_autofree char *u = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(u);
    g_assert_nonnull(strstr(u, "service-unavailable"));
    g_assert_nonnull(strstr(u, "type=\"error\""));
}

static void test_register_flow(Fx *f, gconstpointer data)
{
    fx_connect(f);
    FakeConn *c = fake_last(f->srv);
    fake_send(c, "<iq type='get' id='r1' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'/></iq>");
    g_autofree char *form = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(form);
    g_assert_nonnull(strstr(form, "<instructions>Give a nick.</instructions>"));
    g_assert_nonnull(strstr(form, "var=\"FORM_TYPE\""));
    g_assert_nonnull(strstr(form, "<nick/>")); /* XEP-0077 legacy field */
    g_assert_null(strstr(form, "<registered/>"));
    /* missing required field */
    fake_send(c, "<iq type='set' id='r2' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'><password>x</password></query></iq>");
    g_autofree char *e = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(strstr(e, "not-acceptable"));
    /* refused by the program */
    fake_send(c, "<iq type='set' id='r3' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'><nick>root</nick></query></iq>");
    g_autofree char *e2 = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(strstr(e2, "not-acceptable"));
    g_assert_nonnull(strstr(e2, "nick root is reserved"));
    /* a data form */
    fake_send(c, "<iq type='set' id='r4' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>"
                 "<field var='nick'><value>al &amp; ice</value></field>"
                 "<field var='password'><value>pw</value></field>"
                 "<field var='tls'><value>true</value></field></x></query></iq>");
    g_autofree char *ok = fake_wait(f->srv, "id=\"r4\"", 3000);
    g_assert_nonnull(ok);
    g_autofree char *sub = fake_wait(f->srv, "type=\"subscribe\"", 3000);
    g_assert_nonnull(sub); /* XEP-0100 §4.1.1 */
    g_assert_true(tt_is_registered(f->t, "alice@test"));
    g_autofree char *nick = tt_registration_get(f->t, "alice@test", "nick");
    g_autofree char *tls = tt_registration_get(f->t, "alice@test", "tls");
    g_assert_cmpstr(nick, ==, "al & ice");
    g_assert_cmpstr(tls, ==, "1");
    g_assert_cmpuint(f->registered->len, ==, 1);
    g_auto(GStrv) users = tt_registered_users(f->t);
    g_assert_cmpuint(g_strv_length(users), ==, 1);
    g_assert_cmpstr(users[0], ==, "alice@test");
    /* the form again: registered, values shown, never the password */
    fake_send(c, "<iq type='get' id='r5' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'/></iq>");
    g_autofree char *form2 = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(strstr(form2, "<registered/>"));
    g_assert_nonnull(strstr(form2, "al &amp; ice"));
    g_assert_null(strstr(form2, ">pw<"));
    /* subscription from the user: approved, then available */
    fake_send(c, "<presence type='subscribe' from='alice@test' to='gw.test'/>");
    g_autofree char *subd = fake_wait(f->srv, "type=\"subscribed\"", 3000);
    g_assert_nonnull(subd);
    /* remove */
    fake_send(c, "<iq type='set' id='r6' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:register'><remove/></query></iq>");
    g_autofree char *rm = fake_wait(f->srv, "type=\"unsubscribe\"", 3000);
    g_assert_nonnull(rm);
    g_assert_false(tt_is_registered(f->t, "alice@test"));
    g_assert_null(tt_registration_get(f->t, "alice@test", "nick"));
}

static void test_gateway_prompt(Fx *f, gconstpointer data)
{
    fx_connect(f);
    FakeConn *c = fake_last(f->srv);
    fake_send(c, "<iq type='get' id='g1' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:gateway'/></iq>");
    g_autofree char *g1 = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(strstr(g1, "<prompt>Nick</prompt>"));
    g_assert_nonnull(strstr(g1, "<desc>Enter a nick</desc>"));
    fake_send(c, "<iq type='set' id='g2' from='alice@test/r' to='gw.test'>"
                 "<query xmlns='jabber:iq:gateway'><prompt>d'artagnan</prompt></query></iq>");
    g_autofree char *g2 = fake_wait(f->srv, "</iq>", 3000);
    g_assert_nonnull(strstr(g2, "<jid>d\\27artagnan@gw.test</jid>"));
}

static void test_message_dispatch(Fx *f, gconstpointer data)
{
    fx_connect(f);
    FakeConn *c = fake_last(f->srv);
    fake_send(c, "<message type='chat' from='alice@test/r' to='bob@gw.test'>"
                 "<body>hi &lt;there&gt;</body></message>");
    g_autofree char *echo = fake_wait(f->srv, "</message>", 3000);
    g_assert_nonnull(echo);
    g_assert_cmpuint(f->messages->len, ==, 1);
    g_assert_cmpstr(f->messages->pdata[0], ==, "hi <there>");
    g_assert_nonnull(strstr(echo, "from=\"bob@gw.test\""));
    g_assert_nonnull(strstr(echo, "hi &lt;there&gt;"));
    /* sent from a GLib timer, outside any libstrophe callback: written this turn */
    tt_send(f->t, tt_message_new(f->t, "chat", "x@gw.test", "alice@test/r", "from a timer"));
    g_autofree char *t2 = fake_wait(f->srv, "from a timer", 3000);
    g_assert_nonnull(t2);
    g_assert_cmpuint(tt_transport_dropped(f->t), ==, 0);
}

static void test_reconnect(Fx *f, gconstpointer data)
{
    fx_connect(f);
    fake_close(fake_last(f->srv));
    g_assert_true(LOOP_UNTIL(f->disconnected == 1, 5000));
    g_assert_error(f->last_error, TT_ERROR, TT_ERROR_CLOSED);
    g_assert_false(tt_transport_is_connected(f->t));
    tt_send(f->t, tt_message_new(f->t, "chat", "x@gw.test", "alice@test", "lost"));
    g_assert_cmpuint(tt_transport_dropped(f->t), ==, 1);
    g_assert_true(LOOP_UNTIL(f->connected == 2, 5000)); /* backoff 10-20 ms */
    g_assert_cmpuint(f->srv->handshakes, ==, 2);
    /* and a graceful stop: </stream:stream>, no reconnect */
    tt_transport_stop(f->t);
    g_autofree char *end = fake_wait(f->srv, "</stream:stream>", 3000);
    g_assert_nonnull(end);
    fake_close(fake_last(f->srv) ? fake_last(f->srv) : f->srv->conns->pdata[1]);
    g_assert_true(LOOP_UNTIL(f->disconnected == 2, 5000));
    g_assert_null(f->last_error);
    g_usleep(100000);
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_assert_cmpuint(f->connected, ==, 2);
}

static void test_bad_secret(Fx *f, gconstpointer data)
{
    f->srv->reject = TRUE;
    tt_transport_start(f->t);
    g_assert_true(LOOP_UNTIL(f->disconnected >= 1, 5000));
    g_assert_error(f->last_error, TT_ERROR, TT_ERROR_STREAM);
    g_assert_nonnull(strstr(f->last_error->message, "not-authorized"));
    g_assert_cmpuint(f->connected, ==, 0);
    /* it keeps trying (the secret may be fixed on the server side) */
    f->srv->reject = FALSE;
    g_assert_true(LOOP_UNTIL(f->connected == 1, 5000));
}

static void test_nothing_listening(Fx *f, gconstpointer data)
{
    g_socket_service_stop(f->srv->service);
    g_socket_listener_close(G_SOCKET_LISTENER(f->srv->service));
    tt_transport_start(f->t);
    g_assert_true(LOOP_UNTIL(f->disconnected >= 3, 5000)); /* retries, no crash */
    g_assert_error(f->last_error, TT_ERROR, TT_ERROR_CONNECT);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tt/sdk/backoff", test_backoff);
    g_test_add_func("/tt/sdk/presence-mapping", test_presence_mapping);
    g_test_add_func("/tt/sdk/config-errors", test_config_errors);
#define ADD(path, fn) g_test_add(path, Fx, NULL, fx_setup, fn, fx_teardown)
    ADD("/tt/sdk/disco-ping", test_disco_and_ping);
    ADD("/tt/sdk/register", test_register_flow);
    ADD("/tt/sdk/gateway-prompt", test_gateway_prompt);
    ADD("/tt/sdk/message-dispatch", test_message_dispatch);
    ADD("/tt/sdk/reconnect-and-stop", test_reconnect);
    ADD("/tt/sdk/bad-secret", test_bad_secret);
    ADD("/tt/sdk/nothing-listening", test_nothing_listening);
    return g_test_run();
}
