/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/pages.c — XEP-0156 host-meta (XRD and JSON) and the web console's static files */
#include "http/http.h"

#include <string.h>

#include "router/xml.h"

/* XEP-0156 §3.2: the connection methods of this HTTP server (BOSH and WebSocket). */
#define REL_BOSH "urn:xmpp:alt-connections:xbosh"
#define REL_WEBSOCKET "urn:xmpp:alt-connections:websocket"
#define PATH_BOSH HTTP_PATH_BOSH
#define PATH_WEBSOCKET HTTP_PATH_WEBSOCKET

/* Generated from http/console/ at build time (Makefile.am). */
extern const char http_console_index_html[];
extern const char http_console_console_js[];
extern const char http_console_console_css[];

/* transfer full */
static char *websocket_url(const char *base)
{
    if (g_str_has_prefix(base, "https://"))
        return g_strconcat("wss://", base + 8, PATH_WEBSOCKET, NULL);
    if (g_str_has_prefix(base, "http://"))
        return g_strconcat("ws://", base + 7, PATH_WEBSOCKET, NULL);
    return g_strconcat(base, PATH_WEBSOCKET, NULL);
}

/* XEP-0156 §4: anyone may read it, from any origin. */
static void cors(HttpRequest *req)
{
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                 "Access-Control-Allow-Origin", "*");
}

void http_host_meta(HttpRequest *req)
{
    g_autofree char *base = http_base_url(req);
    g_autofree char *bosh = g_strconcat(base, PATH_BOSH, NULL);
    g_autofree char *ws = websocket_url(base);
    GString *out = g_string_new("<?xml version='1.0' encoding='utf-8'?>\n"
                                "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n");
    g_string_append(out, "  <Link rel='" REL_BOSH "' href='");
    xml_escape_append(out, bosh, -1);
    g_string_append(out, "'/>\n  <Link rel='" REL_WEBSOCKET "' href='");
    xml_escape_append(out, ws, -1);
    g_string_append(out, "'/>\n</XRD>\n");
    cors(req);
    http_reply_text(req, SOUP_STATUS_OK, "application/xrd+xml; charset=utf-8", out->str, out->len);
    g_string_free(out, TRUE);
}

static void link_json(JsonBuilder *b, const char *rel, const char *href)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "rel");
    json_builder_add_string_value(b, rel);
    json_builder_set_member_name(b, "href");
    json_builder_add_string_value(b, href);
    json_builder_end_object(b);
}

void http_host_meta_json(HttpRequest *req)
{
    g_autofree char *base = http_base_url(req);
    g_autofree char *bosh = g_strconcat(base, PATH_BOSH, NULL);
    g_autofree char *ws = websocket_url(base);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "links");
    json_builder_begin_array(b);
    link_json(b, REL_BOSH, bosh);
    link_json(b, REL_WEBSOCKET, ws);
    json_builder_end_array(b);
    json_builder_end_object(b);
    cors(req);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}

void http_console_redirect(HttpRequest *req)
{
    soup_server_message_set_redirect(req->msg, SOUP_STATUS_MOVED_PERMANENTLY, "/console/");
    http_metrics_count_request(SOUP_STATUS_MOVED_PERMANENTLY);
}

/* The console: no inline script or style, nothing from elsewhere (CSP). */
void http_console_file(HttpRequest *req)
{
    const char *name = req->params[0] ? req->params[0] : "index.html";
    const char *body, *type;
    if (!strcmp(name, "index.html")) {
        body = http_console_index_html;
        type = "text/html; charset=utf-8";
    } else if (!strcmp(name, "console.js")) {
        body = http_console_console_js;
        type = "text/javascript; charset=utf-8";
    } else if (!strcmp(name, "console.css")) {
        body = http_console_console_css;
        type = "text/css; charset=utf-8";
    } else {
        http_reply_error(req, SOUP_STATUS_NOT_FOUND, "no such resource");
        return;
    }
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                 "Content-Security-Policy",
                                 "default-src 'none'; script-src 'self'; style-src 'self'; "
                                 "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                 "form-action 'none'; frame-ancestors 'none'");
    http_reply_text(req, SOUP_STATUS_OK, type, body, strlen(body));
}
