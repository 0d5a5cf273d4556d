/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/ircconn.c — one IRC client connection on GIO (GSocketClient, TLS through
 * GTlsClientConnection): registration with SASL PLAIN, keepalive, throttling, reconnects */
#include "transports/irc/ircconn.h"

#include <gio/gio.h>
#include <string.h>

#include "transports/sdk/tern-transport.h"

#define INBUF_MAX 65536 /* a line longer than this ends the connection */
#define KEEPALIVE_TICK_S 30
#define PING_AFTER_S 90  /* silence before we PING */
#define DEAD_AFTER_S 240 /* silence before we give up on the server */
#define QUIT_LINGER_MS 2000

typedef enum {
    IRC_STATE_IDLE,
    IRC_STATE_CONNECTING,  /* TCP (and TLS) */
    IRC_STATE_REGISTERING, /* NICK/USER sent, waiting for 001 */
    IRC_STATE_READY,
    IRC_STATE_WAIT_RETRY,
    IRC_STATE_QUITTING, /* QUIT queued: no more callbacks */
    IRC_STATE_CLOSED,
} IrcState;

struct IrcConn {
    IrcConnConfig cfg; /* strings owned */
    IrcConnHandlers h;
    gpointer ud;
    IrcState state;
    GSocketClient *client;
    GIOStream *stream;
    GCancellable *cancel; /* this connection's pending operations */
    char rbuf[4096];
    GString *in;
    GQueue out;    /* char* lines with CR LF, throttled */
    GQueue held;   /* lines queued before 001 */
    GString *wbuf; /* being written (owned while writing) */
    gboolean writing;
    guint tokens;
    GSource *throttle, *retry, *keepalive, *linger;
    gint64 last_rx;
    char *nick, *user, *host;
    char *prefix_modes, *prefix_symbols;
    guint attempt, generation;
    gboolean free_when_closed;
    GRand *rand;
};

static guint live_conns; /* IrcConn objects not freed yet (lingering QUITs included) */

static void conn_close(IrcConn *c, GError *error, gboolean retry);
static void pump(IrcConn *c);

static void source_clear(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

static GSource *timeout_on(guint ms, GSourceFunc fn, gpointer data)
{
    GSource *s = g_timeout_source_new(ms);
    g_source_set_callback(s, fn, data, NULL);
    g_source_attach(s, g_main_context_get_thread_default());
    return s;
}

IrcConn *irc_conn_new(const IrcConnConfig *config, const IrcConnHandlers *handlers,
                      gpointer user_data)
{
    IrcConn *c = g_new0(IrcConn, 1);
    live_conns++;
    c->cfg = *config;
    c->cfg.host = g_strdup(config->host);
    c->cfg.password = g_strdup(config->password);
    c->cfg.nick = g_strdup(config->nick);
    c->cfg.username = g_strdup(config->username ? config->username : "tern");
    c->cfg.realname = g_strdup(config->realname ? config->realname : config->nick);
    c->cfg.sasl_user = g_strdup(config->sasl_user);
    c->cfg.sasl_password = g_strdup(config->sasl_password);
    if (!c->cfg.reconnect_min_ms)
        c->cfg.reconnect_min_ms = 1000;
    c->cfg.reconnect_max_ms =
        MAX(c->cfg.reconnect_min_ms, c->cfg.reconnect_max_ms ? c->cfg.reconnect_max_ms : 60000);
    if (!c->cfg.throttle_burst)
        c->cfg.throttle_burst = 10;
    if (!c->cfg.throttle_interval_ms)
        c->cfg.throttle_interval_ms = 500;
    c->h = *handlers;
    c->ud = user_data;
    c->in = g_string_new(NULL);
    c->nick = g_strdup(config->nick);
    c->prefix_modes = g_strdup("qaohv");
    c->prefix_symbols = g_strdup("~&@%+");
    c->rand = g_rand_new();
    g_queue_init(&c->out);
    g_queue_init(&c->held);
    return c;
}

static void really_free(IrcConn *c)
{
    source_clear(&c->throttle);
    source_clear(&c->retry);
    source_clear(&c->keepalive);
    source_clear(&c->linger);
    g_queue_clear_full(&c->out, g_free);
    g_queue_clear_full(&c->held, g_free);
    g_string_free(c->in, TRUE);
    g_free((char *)c->cfg.host);
    g_free((char *)c->cfg.password);
    g_free((char *)c->cfg.nick);
    g_free((char *)c->cfg.username);
    g_free((char *)c->cfg.realname);
    g_free((char *)c->cfg.sasl_user);
    if (c->cfg.sasl_password)
        memset((char *)c->cfg.sasl_password, 0, strlen(c->cfg.sasl_password));
    g_free((char *)c->cfg.sasl_password);
    g_free(c->nick);
    g_free(c->user);
    g_free(c->host);
    g_free(c->prefix_modes);
    g_free(c->prefix_symbols);
    g_rand_free(c->rand);
    g_free(c);
    live_conns--;
}

guint irc_conn_live(void)
{
    return live_conns;
}

void irc_conn_free(IrcConn *c)
{
    if (!c)
        return;
    if (c->state == IRC_STATE_QUITTING && c->stream) {
        c->free_when_closed = TRUE; /* the QUIT is on its way; conn_close() frees */
        return;
    }
    memset(&c->h, 0, sizeof c->h);
    c->state = IRC_STATE_CLOSED; /* close quietly */
    conn_close(c, NULL, FALSE);
    really_free(c);
}

/* --- writing ------------------------------------------------------------------------ */

static void on_written(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, &n, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return; /* c may be gone */
    IrcConn *c = data;
    c->writing = FALSE;
    g_string_erase(c->wbuf, 0, n);
    if (!ok) {
        conn_close(c, g_steal_pointer(&error), TRUE);
        return;
    }
    pump(c);
}

static gboolean on_throttle(gpointer data)
{
    IrcConn *c = data;
    c->tokens = MIN(c->tokens + 1, c->cfg.throttle_burst);
    pump(c);
    if (c->tokens >= c->cfg.throttle_burst) {
        g_source_unref(c->throttle);
        c->throttle = NULL;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Move what the throttle allows to the write buffer and write it. */
static void pump(IrcConn *c)
{
    if (!c->stream)
        return;
    while (c->tokens > 0 && !g_queue_is_empty(&c->out)) {
        g_autofree char *line = g_queue_pop_head(&c->out);
        g_string_append(c->wbuf, line);
        c->tokens--;
    }
    if (c->tokens < c->cfg.throttle_burst && !c->throttle)
        c->throttle = timeout_on(c->cfg.throttle_interval_ms, on_throttle, c);
    if (!c->writing && c->wbuf->len) {
        c->writing = TRUE;
        g_output_stream_write_all_async(g_io_stream_get_output_stream(c->stream), c->wbuf->str,
                                        c->wbuf->len, G_PRIORITY_DEFAULT, c->cancel, on_written, c);
    } else if (!c->writing && c->state == IRC_STATE_QUITTING && g_queue_is_empty(&c->out)) {
        conn_close(c, NULL, FALSE); /* QUIT written */
    }
}

/* Queue a line; urgent ones (PONG, QUIT, registration) skip the throttle queue. */
static void send_line(IrcConn *c, const char *line, gboolean urgent)
{
    /* secrets stay out of the log */
    gboolean secret = g_str_has_prefix(line, "PASS ") || g_str_has_prefix(line, "AUTHENTICATE ");
    g_debug("irc %s:%u <- %s", c->cfg.host, c->cfg.port, secret ? "(credentials)" : line);
    char *l = g_strconcat(line, "\r\n", NULL);
    if (urgent) {
        g_string_append(c->wbuf, l);
        g_free(l);
    } else {
        g_queue_push_tail(&c->out, l);
    }
    pump(c);
}

void irc_conn_send(IrcConn *c, const char *line)
{
    if (c->state == IRC_STATE_READY)
        send_line(c, line, FALSE);
    else if (c->state == IRC_STATE_CONNECTING || c->state == IRC_STATE_REGISTERING ||
             c->state == IRC_STATE_IDLE || c->state == IRC_STATE_WAIT_RETRY)
        g_queue_push_tail(&c->held, g_strdup(line));
}

/* --- registration and reading --------------------------------------------------------- */

static void send_sasl_plain(IrcConn *c)
{
    /* RFC 4616: authzid \0 authcid \0 passwd, base64 (IRCv3 SASL: chunks of 400) */
    GString *raw = g_string_new(NULL);
    g_string_append(raw, c->cfg.sasl_user);
    g_string_append_c(raw, '\0');
    g_string_append(raw, c->cfg.sasl_user);
    g_string_append_c(raw, '\0');
    g_string_append(raw, c->cfg.sasl_password);
    g_autofree char *b64 = g_base64_encode((const guchar *)raw->str, raw->len);
    memset(raw->str, 0, raw->len);
    g_string_free(raw, TRUE);
    gsize n = strlen(b64);
    for (gsize off = 0; off < n; off += 400) {
        g_autofree char *chunk = g_strndup(b64 + off, 400);
        g_autofree char *line = g_strconcat("AUTHENTICATE ", chunk, NULL);
        send_line(c, line, TRUE);
    }
    if (n % 400 == 0)
        send_line(c, "AUTHENTICATE +", TRUE);
    memset(b64, 0, n);
}

static void parse_isupport(IrcConn *c, const IrcMessage *m)
{
    for (guint i = 1; i + 1 < m->params->len; i++) {
        const char *tok = m->params->pdata[i];
        if (!g_str_has_prefix(tok, "PREFIX=(")) /* PREFIX=(ov)@+ */
            continue;
        const char *modes = tok + 8, *close = strchr(modes, ')');
        if (!close || strlen(close + 1) != (gsize)(close - modes))
            continue;
        g_free(c->prefix_modes);
        g_free(c->prefix_symbols);
        c->prefix_modes = g_strndup(modes, close - modes);
        c->prefix_symbols = g_strdup(close + 1);
    }
}

static void next_nick(IrcConn *c, gboolean erroneous)
{
    char *n;
    if (erroneous || strlen(c->nick) >= 28)
        n = g_strdup_printf("xmpp%04u", g_rand_int_range(c->rand, 0, 10000));
    else
        n = g_strconcat(c->nick, "_", NULL); /* RFC 2812 §5.2 433: try another */
    g_free(c->nick);
    c->nick = n;
    g_autofree char *line = irc_line("NICK", c->nick, NULL);
    send_line(c, line, TRUE);
}

static void registered(IrcConn *c, const IrcMessage *m)
{
    g_free(c->nick);
    c->nick = g_strdup(irc_message_param(m, 0));
    /* "Welcome to the Internet Relay Network nick!user@host" (RFC 2812 §5.1) */
    const char *text = irc_message_param(m, 1);
    const char *last = text ? strrchr(text, ' ') : NULL;
    last = last ? last + 1 : text;
    const char *bang = last ? strchr(last, '!') : NULL, *at = bang ? strchr(bang, '@') : NULL;
    if (at) {
        g_free(c->user);
        g_free(c->host);
        c->user = g_strndup(bang + 1, at - bang - 1);
        c->host = g_strdup(at + 1);
    }
    c->state = IRC_STATE_READY;
    c->attempt = 0;
    char *line;
    while ((line = g_queue_pop_head(&c->held))) {
        send_line(c, line, FALSE);
        g_free(line);
    }
    if (c->h.ready)
        c->h.ready(c, c->ud);
}

/* One line from the server; FALSE when the connection ended while handling it. */
static gboolean handle_line(IrcConn *c, const char *raw)
{
    g_autofree char *line = irc_to_utf8(raw, -1);
    g_debug("irc %s:%u -> %s", c->cfg.host, c->cfg.port, line);
    g_autoptr(IrcMessage) m = irc_message_parse(line);
    if (!m)
        return TRUE;
    const char *cmd = m->command, *p0 = irc_message_param(m, 0);
    if (strcmp(cmd, "PING") == 0) {
        g_autofree char *pong = irc_line("PONG", p0 ? p0 : "", NULL);
        send_line(c, pong, TRUE);
        return TRUE;
    }
    if (strcmp(cmd, "ERROR") == 0) {
        conn_close(
            c, g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "server: %s", p0 ? p0 : ""),
            TRUE);
        return FALSE;
    }
    if (strcmp(cmd, "005") == 0)
        parse_isupport(c, m);
    if (c->state == IRC_STATE_REGISTERING) {
        const char *p1 = irc_message_param(m, 1), *p2 = irc_message_param(m, 2);
        if (strcmp(cmd, "CAP") == 0 && g_strcmp0(p1, "ACK") == 0 && p2 && strstr(p2, "sasl")) {
            send_line(c, "AUTHENTICATE PLAIN", TRUE);
        } else if (strcmp(cmd, "CAP") == 0 && g_strcmp0(p1, "NAK") == 0) {
            g_message("irc %s: the server has no SASL; registering without", c->cfg.host);
            send_line(c, "CAP END", TRUE);
        } else if (strcmp(cmd, "AUTHENTICATE") == 0 && g_strcmp0(p0, "+") == 0) {
            send_sasl_plain(c);
        } else if (strcmp(cmd, "903") == 0 || strcmp(cmd, "907") == 0) {
            send_line(c, "CAP END", TRUE);
        } else if (strcmp(cmd, "902") == 0 || strcmp(cmd, "904") == 0 || strcmp(cmd, "905") == 0 ||
                   strcmp(cmd, "906") == 0 || strcmp(cmd, "908") == 0) {
            conn_close(c,
                       g_error_new(G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                                   "SASL authentication failed (%s %s)", cmd, p1 ? p1 : ""),
                       FALSE);
            return FALSE;
        } else if (strcmp(cmd, "433") == 0 || strcmp(cmd, "436") == 0) {
            next_nick(c, FALSE);
        } else if (strcmp(cmd, "432") == 0) {
            next_nick(c, TRUE);
        } else if (strcmp(cmd, "001") == 0) {
            registered(c, m);
        }
        return c->stream != NULL;
    }
    if (c->state != IRC_STATE_READY)
        return TRUE;
    if (strcmp(cmd, "NICK") == 0 && p0) {
        g_autofree char *who = irc_prefix_nick(m->prefix);
        g_autofree char *a = who ? irc_casefold(who) : NULL, *b = irc_casefold(c->nick);
        if (a && strcmp(a, b) == 0) {
            g_free(c->nick);
            c->nick = g_strdup(p0);
            g_free((char *)c->cfg.nick); /* a reconnect asks for the nick we had */
            c->cfg.nick = g_strdup(p0);
        }
    }
    if (c->h.message)
        c->h.message(c, m, c->ud);
    return c->stream != NULL && c->state == IRC_STATE_READY;
}

static void on_read(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    IrcConn *c = data;
    if (n <= 0) {
        conn_close(c,
                   error ? g_steal_pointer(&error)
                         : g_error_new(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                       "the server closed the connection"),
                   TRUE);
        return;
    }
    c->last_rx = g_get_monotonic_time();
    g_string_append_len(c->in, c->rbuf, n);
    char *nl;
    GCancellable *cancel = g_object_ref(c->cancel);
    while ((nl = memchr(c->in->str, '\n', c->in->len))) {
        gsize len = nl - c->in->str;
        g_autofree char *line = g_strndup(c->in->str, len && nl[-1] == '\r' ? len - 1 : len);
        g_string_erase(c->in, 0, len + 1);
        if (!handle_line(c, line) || g_cancellable_is_cancelled(cancel)) {
            g_object_unref(cancel);
            return; /* closed (c may be waiting to be freed by its owner) */
        }
    }
    g_object_unref(cancel);
    if (c->in->len > INBUF_MAX) {
        conn_close(c, g_error_new(G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "line too long"), TRUE);
        return;
    }
    g_input_stream_read_async(g_io_stream_get_input_stream(c->stream), c->rbuf, sizeof c->rbuf,
                              G_PRIORITY_DEFAULT, c->cancel, on_read, c);
}

static gboolean on_keepalive(gpointer data)
{
    IrcConn *c = data;
    gint64 idle = (g_get_monotonic_time() - c->last_rx) / G_USEC_PER_SEC;
    if (idle >= DEAD_AFTER_S) {
        source_clear(&c->keepalive);
        conn_close(c, g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "ping timeout"), TRUE);
        return G_SOURCE_REMOVE;
    }
    if (idle >= PING_AFTER_S && c->state == IRC_STATE_READY)
        send_line(c, "PING :tern-keepalive", TRUE);
    return G_SOURCE_CONTINUE;
}

/* --- connecting ------------------------------------------------------------------------ */

static gboolean accept_any_certificate(GTlsConnection *conn, GTlsCertificate *cert,
                                       GTlsCertificateFlags errors, gpointer data)
{
    return TRUE; /* tls_verify = false in this server's section */
}

static void on_client_event(GSocketClient *client, GSocketClientEvent event,
                            GSocketConnectable *connectable, GIOStream *connection, gpointer data)
{
    if (event == G_SOCKET_CLIENT_TLS_HANDSHAKING && G_IS_TLS_CONNECTION(connection))
        g_signal_connect(connection, "accept-certificate", G_CALLBACK(accept_any_certificate),
                         NULL);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    GSocketConnection *sc =
        g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    IrcConn *c = data;
    g_clear_object(&c->client);
    if (!sc) {
        conn_close(c, g_steal_pointer(&error), TRUE);
        return;
    }
    /* the 30 s of g_socket_client_set_timeout() were for connecting; a quiet channel is
     * no error (the keepalive watches the connection) */
    g_socket_set_timeout(g_socket_connection_get_socket(sc), 0);
    c->stream = G_IO_STREAM(sc);
    c->wbuf = g_string_new(NULL);
    c->tokens = c->cfg.throttle_burst;
    c->state = IRC_STATE_REGISTERING;
    c->last_rx = g_get_monotonic_time();
    c->keepalive = timeout_on(KEEPALIVE_TICK_S * 1000, on_keepalive, c);
    g_free(c->nick);
    c->nick = g_strdup(c->cfg.nick);
    if (c->cfg.password && *c->cfg.password) {
        g_autofree char *l = irc_line("PASS", c->cfg.password, NULL);
        send_line(c, l, TRUE);
    }
    if (c->cfg.sasl_user && *c->cfg.sasl_user && c->cfg.sasl_password)
        send_line(c, "CAP REQ :sasl", TRUE); /* IRCv3: registration waits for CAP END */
    g_autofree char *nick = irc_line("NICK", c->nick, NULL);
    g_autofree char *user = irc_line("USER", c->cfg.username, "0", "*", c->cfg.realname, NULL);
    send_line(c, nick, TRUE);
    send_line(c, user, TRUE);
    g_input_stream_read_async(g_io_stream_get_input_stream(c->stream), c->rbuf, sizeof c->rbuf,
                              G_PRIORITY_DEFAULT, c->cancel, on_read, c);
}

void irc_conn_connect(IrcConn *c)
{
    if (c->state != IRC_STATE_IDLE && c->state != IRC_STATE_WAIT_RETRY)
        return;
    source_clear(&c->retry);
    c->state = IRC_STATE_CONNECTING;
    c->cancel = g_cancellable_new();
    c->client = g_socket_client_new();
    g_socket_client_set_timeout(c->client, 30);
    g_socket_client_set_tls(c->client, c->cfg.tls);
    if (c->cfg.tls && !c->cfg.tls_verify)
        g_signal_connect(c->client, "event", G_CALLBACK(on_client_event), c);
    g_socket_client_connect_to_host_async(c->client, c->cfg.host, c->cfg.port, c->cancel,
                                          on_connected, c);
}

static gboolean on_retry(gpointer data)
{
    IrcConn *c = data;
    g_source_unref(c->retry);
    c->retry = NULL;
    c->generation++;
    irc_conn_connect(c);
    return G_SOURCE_REMOVE;
}

static void conn_close(IrcConn *c, GError *error, gboolean retry)
{
    IrcState was = c->state;
    gboolean quitting = was == IRC_STATE_QUITTING;
    if (c->cancel) {
        g_cancellable_cancel(c->cancel);
        g_clear_object(&c->cancel);
    }
    g_clear_object(&c->client);
    if (c->stream) {
        g_io_stream_close_async(c->stream, G_PRIORITY_DEFAULT, NULL, NULL, NULL);
        g_clear_object(&c->stream);
    }
    if (c->wbuf) {
        g_string_free(c->wbuf, TRUE);
        c->wbuf = NULL;
    }
    c->writing = FALSE;
    g_string_truncate(c->in, 0);
    g_queue_clear_full(&c->out, g_free);
    g_queue_init(&c->out);
    source_clear(&c->throttle);
    source_clear(&c->keepalive);
    source_clear(&c->linger);
    if (quitting || was == IRC_STATE_CLOSED || was == IRC_STATE_IDLE) {
        c->state = IRC_STATE_CLOSED;
        g_clear_error(&error);
        if (quitting && c->free_when_closed)
            really_free(c);
        return;
    }
    g_queue_clear_full(&c->held, g_free); /* the owner re-sends what it needs on ready */
    g_queue_init(&c->held);
    guint delay =
        tt_backoff_delay(c->attempt++, c->cfg.reconnect_min_ms, c->cfg.reconnect_max_ms, c->rand);
    c->state = retry ? IRC_STATE_WAIT_RETRY : IRC_STATE_CLOSED;
    if (retry)
        c->retry = timeout_on(delay, on_retry, c);
    g_message("irc %s:%u: %s%s", c->cfg.host, c->cfg.port, error ? error->message : "disconnected",
              retry ? "; reconnecting" : "");
    if (c->h.disconnected)
        c->h.disconnected(c, error, retry, c->ud);
    g_clear_error(&error);
}

static gboolean on_linger(gpointer data)
{
    IrcConn *c = data;
    g_source_unref(c->linger);
    c->linger = NULL;
    conn_close(c, NULL, FALSE);
    return G_SOURCE_REMOVE;
}

void irc_conn_quit(IrcConn *c, const char *reason)
{
    source_clear(&c->retry);
    memset(&c->h, 0, sizeof c->h);
    if (c->state == IRC_STATE_QUITTING)
        return;
    if (!c->stream) { /* connecting or waiting to retry: just stop */
        c->state = IRC_STATE_CLOSED;
        conn_close(c, NULL, FALSE);
        return;
    }
    c->state = IRC_STATE_QUITTING;
    g_queue_clear_full(&c->out, g_free); /* nothing after the QUIT matters */
    g_queue_init(&c->out);
    g_autofree char *line = irc_line("QUIT", reason ? reason : "", NULL);
    c->linger = timeout_on(QUIT_LINGER_MS, on_linger, c);
    send_line(c, line, TRUE);
}

gboolean irc_conn_is_ready(IrcConn *c)
{
    return c->state == IRC_STATE_READY;
}

const char *irc_conn_nick(IrcConn *c)
{
    return c->nick;
}

const char *irc_conn_user(IrcConn *c)
{
    return c->user;
}

const char *irc_conn_host(IrcConn *c)
{
    return c->host;
}

const char *irc_conn_prefix_symbols(IrcConn *c)
{
    return c->prefix_symbols;
}

char irc_conn_prefix_mode(IrcConn *c, char symbol)
{
    const char *p = symbol ? strchr(c->prefix_symbols, symbol) : NULL;
    return p ? c->prefix_modes[p - c->prefix_symbols] : 0;
}

char irc_conn_mode_prefix(IrcConn *c, char mode)
{
    const char *p = mode ? strchr(c->prefix_modes, mode) : NULL;
    return p ? c->prefix_symbols[p - c->prefix_modes] : 0;
}

guint irc_conn_generation(IrcConn *c)
{
    return c->generation;
}
