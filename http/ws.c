/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/ws.c — XMPP over WebSocket (RFC 7395): libsoup's WebSocket feeding a framed c2s stream */
#include "http/http.h"

#include <string.h>

#include "c2s/c2s.h"
#include "router/conn.h"

/*
 * libsoup does the HTTP upgrade and the RFC 6455 framing; each text message goes to the
 * client's virtual Conn (router/conn.c) as one message, and each element the framed stream
 * writes comes back as one text message. Everything XMPP (the one-element rule, restricted
 * XML, limits, SASL, bind, stream management) is the c2s session's, as on TCP.
 */

#define WS_PROTOCOL "xmpp" /* RFC 7395 §3.1 */
/* A message a little over the stanza limit still reaches the parser, which answers with
 * <policy-violation/>; libsoup closes with 1009 beyond this margin. */
#define WS_FRAME_MARGIN 16384

typedef struct {
    SoupWebsocketConnection *wsc; /* owned */
    Conn *conn;                   /* the c2s session's; NULL once either side let go */
    char *peer;
    GList link; /* in clients */
} WsClient;

static Server *server;
static GQueue clients = G_QUEUE_INIT;
static const char *const protocols[] = {WS_PROTOCOL, NULL};

static void ws_client_free(WsClient *w)
{
    g_queue_unlink(&clients, &w->link);
    g_signal_handlers_disconnect_matched(w->wsc, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, w);
    g_object_unref(w->wsc);
    g_free(w->peer);
    g_free(w);
}

/* ---- the sink: what the stream writes ---- */

static void sink_send(gpointer ud, const char *buf, gsize len)
{
    WsClient *w = ud;
    if (soup_websocket_connection_get_state(w->wsc) != SOUP_WEBSOCKET_STATE_OPEN)
        return;
    g_autoptr(GBytes) b = g_bytes_new(buf, len);
    soup_websocket_connection_send_message(w->wsc, SOUP_WEBSOCKET_DATA_TEXT, b);
}

/* The stream ended (its <close/> or stream error went out first): RFC 7395 §3.6, the server
 * closes the WebSocket connection. WsClient goes when libsoup reports "closed". */
static void sink_close(gpointer ud)
{
    WsClient *w = ud;
    w->conn = NULL;
    if (soup_websocket_connection_get_state(w->wsc) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close(w->wsc, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static const ConnSink ws_sink = {sink_send, sink_close};

/* ---- what the client sends ---- */

static void on_message(SoupWebsocketConnection *wsc, gint type, GBytes *message, gpointer ud)
{
    WsClient *w = ud;
    if (!w->conn)
        return;
    if (type != SOUP_WEBSOCKET_DATA_TEXT) { /* RFC 7395 §3.2: XMPP is sent as text */
        g_debug("ws %s: binary message refused", w->peer);
        Conn *c = g_steal_pointer(&w->conn);
        conn_virtual_gone(c);
        soup_websocket_connection_close(wsc, SOUP_WEBSOCKET_CLOSE_UNSUPPORTED_DATA,
                                        "XMPP messages are text (RFC 7395)");
        return;
    }
    gsize len = 0;
    const char *data = g_bytes_get_data(message, &len);
    conn_virtual_feed(w->conn, data, len);
}

static void on_closed(SoupWebsocketConnection *wsc, gpointer ud)
{
    WsClient *w = ud;
    g_debug("ws %s: closed (code %u)", w->peer, soup_websocket_connection_get_close_code(wsc));
    if (w->conn) /* the client went first: the session learns it as a broken connection */
        conn_virtual_gone(g_steal_pointer(&w->conn));
    ws_client_free(w);
}

static void on_error(SoupWebsocketConnection *wsc, GError *error, gpointer ud)
{
    WsClient *w = ud;
    g_debug("ws %s: %s", w->peer, error->message); /* "closed" follows */
}

/* The peer's address as c2s counts it (an IPv4-mapped IPv6 address as IPv4). */
static char *peer_ip(SoupServerMessage *msg)
{
    const char *host = soup_server_message_get_remote_host(msg);
    if (!host)
        return g_strdup("unknown");
    if (g_str_has_prefix(host, "::ffff:") && strchr(host, '.'))
        host += 7;
    return g_strdup(host);
}

static void on_websocket(SoupServer *soup, SoupServerMessage *msg, const char *path,
                         SoupWebsocketConnection *wsc, gpointer ud)
{
    WsClient *w = g_new0(WsClient, 1);
    w->wsc = g_object_ref(wsc);
    w->peer = peer_ip(msg);
    w->link.data = w;
    g_queue_push_tail_link(&clients, &w->link);
    soup_websocket_connection_set_max_incoming_payload_size(wsc, server->c2s_stanza_size +
                                                                     WS_FRAME_MARGIN);
    soup_websocket_connection_set_keepalive_interval(
        wsc, (guint)config_get_int(server->config, "http", "websocket_ping"));
    g_signal_connect(wsc, "message", G_CALLBACK(on_message), w);
    g_signal_connect(wsc, "closed", G_CALLBACK(on_closed), w);
    g_signal_connect(wsc, "error", G_CALLBACK(on_error), w);
    w->conn = c2s_accept_framed(&ws_sink, w, w->peer, http_peer_secure(msg));
    if (!w->conn) { /* too many connections from this address, or shutting down */
        soup_websocket_connection_close(wsc, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION,
                                        "connection refused");
        return;
    }
    g_debug("ws %s: XMPP over WebSocket", w->peer);
}

/* Before libsoup's handshake: RFC 7395 §3.2, a client that does not offer "xmpp" is not
 * served (libsoup itself would accept a handshake naming no subprotocol at all). */
static void on_request(SoupServer *soup, SoupServerMessage *msg, const char *path,
                       GHashTable *query, gpointer ud)
{
    const char *offered = soup_message_headers_get_list(
        soup_server_message_get_request_headers(msg), "Sec-WebSocket-Protocol");
    if (offered && soup_header_contains(offered, WS_PROTOCOL))
        return; /* the handshake follows */
    static const char text[] = "this endpoint speaks the WebSocket subprotocol \"xmpp\" only\n";
    soup_server_message_set_status(msg, SOUP_STATUS_BAD_REQUEST, NULL);
    soup_server_message_set_response(msg, "text/plain; charset=utf-8", SOUP_MEMORY_STATIC, text,
                                     sizeof text - 1);
    http_metrics_count_request(SOUP_STATUS_BAD_REQUEST);
}

void http_ws_init(Server *srv, SoupServer *soup)
{
    server = srv;
    /* no permessage-deflate: compression oracles, and the limits count what is sent */
    soup_server_remove_websocket_extension(soup, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
    soup_server_add_handler(soup, HTTP_PATH_WEBSOCKET, on_request, NULL, NULL);
    soup_server_add_websocket_handler(soup, HTTP_PATH_WEBSOCKET, NULL, (char **)protocols,
                                      on_websocket, NULL, NULL);
}

/* Connections whose closing handshake has not finished yet go at once. */
void http_ws_fini(void)
{
    WsClient *w;
    while ((w = g_queue_peek_head(&clients))) {
        if (w->conn)
            conn_virtual_gone(g_steal_pointer(&w->conn));
        GIOStream *io = soup_websocket_connection_get_io_stream(w->wsc);
        if (io && !g_io_stream_is_closed(io))
            g_io_stream_close(io, NULL, NULL);
        ws_client_free(w);
    }
    server = NULL;
}
