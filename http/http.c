/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/http.c — libsoup server: listen, TLS, path checks, the one route table, bearer auth */
#include "http/http.h"

#include <string.h>

#include "http/tokens.h"
#include "router/config.h"

static Server *server;
static SoupServer *soup;
static gint64 started; /* monotonic µs */
static gsize max_body;
static gsize bosh_max_body;
static gboolean https;
static char *listen_addr;

/* The one route table: every URL the server answers. WebSocket (GET /xmpp-websocket) is the
 * one exception: libsoup's own handler at that path (http/ws.c), set up in http_init(). */
static const HttpRoute routes[] = {
    {"POST", HTTP_PATH_BOSH, HTTP_AUTH_NONE, http_bosh}, /* authenticated by SASL inside */
    {"OPTIONS", HTTP_PATH_BOSH, HTTP_AUTH_NONE, http_bosh_options}, /* CORS preflight */
    {"POST", "/api/v1/push", HTTP_AUTH_PUSH, http_api_push},
    {"GET", "/api/v1/users", HTTP_AUTH_ADMIN, http_api_users_list},
    {"POST", "/api/v1/users", HTTP_AUTH_ADMIN, http_api_users_create},
    {"DELETE", "/api/v1/users/{}", HTTP_AUTH_ADMIN, http_api_users_delete},
    {"PUT", "/api/v1/users/{}/password", HTTP_AUTH_ADMIN, http_api_users_password},
    {"GET", "/api/v1/sessions", HTTP_AUTH_ADMIN, http_api_sessions_list},
    {"DELETE", "/api/v1/sessions/*", HTTP_AUTH_ADMIN, http_api_sessions_kick},
    {"GET", "/api/v1/s2s", HTTP_AUTH_ADMIN, http_api_s2s},
    {"GET", "/api/v1/components", HTTP_AUTH_ADMIN, http_api_components},
    {"GET", "/api/v1/stats", HTTP_AUTH_ADMIN, http_api_stats},
    {"GET", "/metrics", HTTP_AUTH_METRICS, http_metrics},
    {"GET", "/.well-known/host-meta", HTTP_AUTH_NONE, http_host_meta},
    {"GET", "/.well-known/host-meta.json", HTTP_AUTH_NONE, http_host_meta_json},
    {"GET", "/console", HTTP_AUTH_NONE, http_console_redirect},
    {"GET", "/console/", HTTP_AUTH_NONE, http_console_file},
    {"GET", "/console/{}", HTTP_AUTH_NONE, http_console_file},
};

gint64 http_uptime(void)
{
    return started ? (g_get_monotonic_time() - started) / G_USEC_PER_SEC : 0;
}

/* ---- replies ---- */

static void common_headers(SoupServerMessage *msg)
{
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
    soup_message_headers_replace(h, "Referrer-Policy", "no-referrer");
    soup_message_headers_replace(h, "X-Frame-Options", "DENY");
    soup_message_headers_replace(h, "Cache-Control", "no-store");
}

static void set_reply(SoupServerMessage *msg, guint status, const char *type, char *body, gsize len)
{
    common_headers(msg);
    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, type, SOUP_MEMORY_TAKE, body, len);
    http_metrics_count_request(status);
}

static void reply_error_msg(SoupServerMessage *msg, guint status, const char *text)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, text);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    gsize len = 0;
    char *body = json_to_string(root, FALSE);
    len = strlen(body);
    set_reply(msg, status, "application/json", body, len);
}

void http_reply_json(HttpRequest *req, guint status, JsonNode *root)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, FALSE);
    gsize len = 0;
    char *body = json_generator_to_data(gen, &len);
    json_node_unref(root);
    set_reply(req->msg, status, "application/json", body, len);
}

void http_reply_error(HttpRequest *req, guint status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    reply_error_msg(req->msg, status, text);
}

void http_reply_text(HttpRequest *req, guint status, const char *content_type, const char *body,
                     gsize len)
{
    set_reply(req->msg, status, content_type, g_memdup2(body, len), len);
}

/* ---- JSON bodies ---- */

JsonObject *http_body_object(HttpRequest *req, const char *const *allowed)
{
    gsize len = 0;
    const char *data = req->body ? g_bytes_get_data(req->body, &len) : NULL;
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    if (!data || len == 0) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "a JSON object is required");
        return NULL;
    }
    if (memchr(data, '\0', len) || !json_parser_load_from_data(p, data, (gssize)len, &err)) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "malformed JSON: %s",
                         err ? err->message : "a NUL byte");
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "the body must be a JSON object");
        return NULL;
    }
    JsonObject *o = json_node_get_object(root);
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next)
        if (!g_strv_contains(allowed, l->data)) {
            http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "unknown field \"%s\"",
                             (const char *)l->data);
            return NULL;
        }
    return json_object_ref(o);
}

gboolean http_text_ok(const char *s)
{
    if (!g_utf8_validate(s, -1, NULL))
        return FALSE;
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xFFFE || c == 0xFFFF)
            return FALSE; /* XML 1.0 §2.2 Char */
    }
    return TRUE;
}

gboolean http_member_string(HttpRequest *req, JsonObject *o, const char *name, gboolean required,
                            const char **out)
{
    *out = NULL;
    JsonNode *n = json_object_get_member(o, name);
    if (!n) {
        if (required)
            http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"%s\" is required", name);
        return !required;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"%s\" must be a string", name);
        return FALSE;
    }
    const char *s = json_node_get_string(n);
    if (!http_text_ok(s)) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"%s\" contains control characters", name);
        return FALSE;
    }
    *out = s;
    return TRUE;
}

/* A Host header we may echo into links: a DNS name or an IP literal, with a port. */
static gboolean host_header_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return FALSE;
    for (const char *p = h; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr(".-:[]", *p))
            return FALSE;
    return TRUE;
}

char *http_base_url(HttpRequest *req)
{
    const char *pub = config_get_string(server->config, "http", "public_url");
    if (*pub) {
        gsize n = strlen(pub);
        while (n > 0 && pub[n - 1] == '/')
            n--;
        return g_strndup(pub, n);
    }
    const char *host =
        soup_message_headers_get_one(soup_server_message_get_request_headers(req->msg), "Host");
    return g_strdup_printf("%s://%s", https ? "https" : "http",
                           host_header_ok(host) ? host : listen_addr);
}

/* ---- paths ---- */

/* Split the raw (still percent-encoded) path into decoded segments. libsoup has already
 * resolved "." and ".." segments (RFC 3986 §5.2.4), also percent-encoded ones. Refused
 * (NULL): an empty segment inside ("//"), an encoded '/' or '\' or NUL, control
 * characters, invalid UTF-8, a remaining "." or "..". A final '/' gives a last "". */
static char **path_split(const char *raw, const char **why)
{
    if (raw[0] != '/' || strlen(raw) > 2048) {
        *why = "bad path";
        return NULL;
    }
    g_auto(GStrv) parts = g_strsplit(raw + 1, "/", -1);
    guint n = g_strv_length(parts);
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n; i++) {
        const char *p = parts[i];
        if (!*p && i + 1 < n) {
            *why = "empty path segment";
            goto bad;
        }
        if (strchr(p, '\\') || g_strstr_len(p, -1, "%00")) {
            *why = "bad character in the path";
            goto bad;
        }
        char *seg = g_uri_unescape_string(p, "/\\"); /* NULL for %2F, %5C, %00 */
        if (!seg) {
            *why = "bad percent-encoding in the path";
            goto bad;
        }
        if (!http_text_ok(seg) || strpbrk(seg, "\t\r\n") || !strcmp(seg, ".") ||
            !strcmp(seg, "..")) {
            g_free(seg);
            *why = "bad path segment";
            goto bad;
        }
        g_ptr_array_add(out, seg);
    }
    g_ptr_array_add(out, NULL);
    return (char **)g_ptr_array_free(out, FALSE);
bad:
    g_ptr_array_unref(out);
    return NULL;
}

/* Does route pattern match segs? Collects the parameters in params. */
static gboolean route_match(const char *pattern, char **segs, GPtrArray *params)
{
    g_auto(GStrv) pat = g_strsplit(pattern + 1, "/", -1);
    guint i = 0;
    for (; pat[i]; i++) {
        if (!strcmp(pat[i], "*")) {
            if (!segs[i] || !*segs[i])
                return FALSE;
            for (guint j = i; segs[j]; j++)
                if (!*segs[j])
                    return FALSE; /* a trailing '/' */
            g_ptr_array_add(params, g_strjoinv("/", segs + i));
            return TRUE;
        }
        if (!segs[i])
            return FALSE;
        if (!strcmp(pat[i], "{}")) {
            if (!*segs[i])
                return FALSE;
            g_ptr_array_add(params, g_strdup(segs[i]));
        } else if (strcmp(pat[i], segs[i])) {
            return FALSE;
        }
    }
    return segs[i] == NULL;
}

/* ---- authorization (RFC 6750) ---- */

static gboolean peer_is_loopback(SoupServerMessage *msg);

gboolean http_peer_secure(SoupServerMessage *msg)
{
    return https || peer_is_loopback(msg);
}

static gboolean peer_is_loopback(SoupServerMessage *msg)
{
    GSocketAddress *sa = soup_server_message_get_remote_address(msg);
    if (!sa || !G_IS_INET_SOCKET_ADDRESS(sa))
        return FALSE;
    GInetAddress *ia = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(sa));
    if (g_inet_address_get_is_loopback(ia))
        return TRUE;
    if (g_inet_address_get_family(ia) != G_SOCKET_FAMILY_IPV6)
        return FALSE;
    const guint8 *b = g_inet_address_to_bytes(ia); /* ::ffff:127.x.y.z */
    static const guint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(b, mapped, 12) == 0 && b[12] == 127;
}

static void unauthorized(HttpRequest *req, guint status, const char *challenge, const char *text)
{
    soup_message_headers_replace(soup_server_message_get_response_headers(req->msg),
                                 "WWW-Authenticate", challenge);
    http_reply_error(req, status, "%s", text);
}

static gboolean authorize(HttpRequest *req, HttpAuth auth, char **token_name)
{
    if (auth == HTTP_AUTH_NONE || (auth == HTTP_AUTH_METRICS && req->loopback))
        return TRUE;
    const char *h = soup_message_headers_get_one(soup_server_message_get_request_headers(req->msg),
                                                 "Authorization");
    if (!h || g_ascii_strncasecmp(h, "Bearer ", 7)) {
        unauthorized(req, SOUP_STATUS_UNAUTHORIZED, "Bearer realm=\"tern\"",
                     "a bearer token is required");
        return FALSE;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    TokenScope scope;
    if (!token_verify(server->store, token, token_name, &scope)) {
        http_metrics_count_auth_failure();
        g_message("http: a request for %s with an unknown token from %s", req->path,
                  soup_server_message_get_remote_host(req->msg));
        unauthorized(req, SOUP_STATUS_UNAUTHORIZED,
                     "Bearer realm=\"tern\", error=\"invalid_token\"", "the token is not valid");
        return FALSE;
    }
    if (auth != HTTP_AUTH_PUSH && scope != TOKEN_SCOPE_ADMIN) {
        unauthorized(req, SOUP_STATUS_FORBIDDEN,
                     "Bearer realm=\"tern\", error=\"insufficient_scope\", scope=\"admin\"",
                     "this needs a token with the admin scope");
        return FALSE;
    }
    return TRUE;
}

/* ---- the request pipeline ---- */

/* Chunked bodies are counted as they come, and dropped past max_body. */
typedef struct {
    GByteArray *buf;
    gsize limit;
    gboolean too_big;
} BodyCollect;

/* BOSH bodies carry stanzas: their own, larger limit. */
static gsize body_limit(const char *path)
{
    return path && !strcmp(path, HTTP_PATH_BOSH) ? bosh_max_body : max_body;
}

static void body_collect_free(gpointer p)
{
    BodyCollect *bc = p;
    if (bc->buf)
        g_byte_array_unref(bc->buf);
    g_free(bc);
}

static void on_got_chunk(SoupServerMessage *msg, GBytes *chunk, gpointer ud)
{
    BodyCollect *bc = ud;
    gsize len = g_bytes_get_size(chunk);
    if (bc->too_big)
        return;
    if (bc->buf->len + len > bc->limit) {
        bc->too_big = TRUE;
        g_byte_array_set_size(bc->buf, 0);
        return;
    }
    g_byte_array_append(bc->buf, g_bytes_get_data(chunk, NULL), (guint)len);
}

/* Headers read, body not yet: a declared length over max_body is refused unread. */
static void on_early(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *query,
                     gpointer ud)
{
    SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
    SoupEncoding enc = soup_message_headers_get_encoding(h);
    if (enc == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(h) > (goffset)body_limit(path)) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                                     "close");
        reply_error_msg(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the body is too large");
        return;
    }
    if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF) {
        BodyCollect *bc = g_new0(BodyCollect, 1);
        bc->buf = g_byte_array_new();
        bc->limit = body_limit(path);
        soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
        g_object_set_data_full(G_OBJECT(msg), "tern-body", bc, body_collect_free);
        g_signal_connect(msg, "got-chunk", G_CALLBACK(on_got_chunk), bc);
    }
}

static const HttpRoute *find_route(HttpRequest *req, char **segs, GPtrArray *params, GString *allow)
{
    const char *method = req->method;
    if (!strcmp(method, "HEAD"))
        method = "GET";
    for (guint i = 0; i < G_N_ELEMENTS(routes); i++) {
        g_ptr_array_set_size(params, 0);
        if (!route_match(routes[i].path, segs, params))
            continue;
        if (!strcmp(routes[i].method, method))
            return &routes[i];
        g_string_append_printf(allow, "%s%s", allow->len ? ", " : "", routes[i].method);
    }
    return NULL;
}

static void on_request(SoupServer *s, SoupServerMessage *msg, const char *path, GHashTable *query,
                       gpointer ud)
{
    HttpRequest req = {
        .srv = server,
        .msg = msg,
        .method = soup_server_message_get_method(msg),
        .path = path,
        .query = query,
        .loopback = peer_is_loopback(msg),
    };
    const char *why = NULL;
    g_auto(GStrv) segs = path_split(path, &why);
    if (!segs) { /* before any route is looked at */
        http_reply_error(&req, SOUP_STATUS_BAD_REQUEST, "%s", why);
        return;
    }
    g_autoptr(GPtrArray) params = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) allow = g_string_new(NULL);
    const HttpRoute *route = find_route(&req, segs, params, allow);
    if (!route && allow->len) {
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow",
                                     allow->str);
        http_reply_error(&req, SOUP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
        return;
    }
    if (!route) {
        http_reply_error(&req, SOUP_STATUS_NOT_FOUND, "no such resource");
        return;
    }
    g_autofree char *token_name = NULL;
    if (!authorize(&req, route->auth, &token_name))
        return;
    req.token = token_name;
    BodyCollect *bc = g_object_get_data(G_OBJECT(msg), "tern-body");
    g_autoptr(GBytes) body = NULL;
    if (bc && bc->too_big) {
        http_reply_error(&req, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the body is too large");
        return;
    }
    if (bc)
        body = g_bytes_new(bc->buf->data, bc->buf->len);
    else
        body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
    if (g_bytes_get_size(body) > body_limit(path)) { /* belt and braces */
        http_reply_error(&req, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "the body is too large");
        return;
    }
    req.body = body;
    g_ptr_array_add(params, NULL);
    req.params = (char **)params->pdata;
    route->fn(&req);
}

/* ---- lifetime ---- */

static gboolean load_certificate(GError **error)
{
    const char *pem = tls_store_cert_path(server->tls, server->domains[0]);
    if (!pem || !g_str_has_suffix(pem, ".pem")) {
        g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID, "[http] tls: no certificate for %s",
                    server->domains[0]);
        return FALSE;
    }
    g_autofree char *base = g_strndup(pem, strlen(pem) - 4);
    g_autofree char *key = g_strconcat(base, ".key", NULL);
    g_autoptr(GTlsCertificate) cert = g_tls_certificate_new_from_files(pem, key, error);
    if (!cert) {
        g_prefix_error(error, "[http] tls: %s: ", pem);
        return FALSE;
    }
    soup_server_set_tls_certificate(soup, cert);
    return TRUE;
}

/* "127.0.0.1:5280", "[::1]:5280", "*:5280", "localhost:5280" (checked by the config). */
static gboolean listen_on(const char *addr, GError **error)
{
    const char *colon = strrchr(addr, ':');
    g_autofree char *host = g_strndup(addr, (gsize)(colon - addr));
    guint port = (guint)g_ascii_strtoull(colon + 1, NULL, 10);
    SoupServerListenOptions opts = https ? SOUP_SERVER_LISTEN_HTTPS : 0;
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    gboolean ok;
    if (!strcmp(host, "*")) {
        ok = soup_server_listen_all(soup, port, opts, error);
    } else if (!strcmp(host, "localhost")) {
        ok = soup_server_listen_local(soup, port, opts, error);
    } else {
        g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(host);
        if (!ia) {
            g_set_error(error, CONFIG_ERROR, CONFIG_ERROR_INVALID,
                        "%s: [http] listen: '%s' is not an IP address",
                        config_origin(server->config), host);
            return FALSE;
        }
        g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(ia, (guint16)port);
        ok = soup_server_listen(soup, sa, opts, error);
    }
    if (!ok)
        g_prefix_error(error, "[http] listen %s: ", addr);
    return ok;
}

gboolean http_init(Server *srv, GError **error)
{
    server = srv;
    started = g_get_monotonic_time();
    const char *addr = config_get_string(srv->config, "http", "listen");
    if (!*addr)
        return TRUE;
    max_body = (gsize)config_get_int(srv->config, "http", "max_body");
    bosh_max_body = (gsize)config_get_int(srv->config, "http", "bosh_max_body");
    https = config_get_bool(srv->config, "http", "tls");
    listen_addr = g_strdup(addr);
    soup = soup_server_new("server-header", TERN_NAME, "raw-paths", TRUE, NULL);
    if (https && !load_certificate(error))
        return FALSE;
    soup_server_add_early_handler(soup, NULL, on_early, NULL, NULL);
    soup_server_add_handler(soup, NULL, on_request, NULL, NULL);
    http_bosh_init(srv);
    if (config_get_bool(srv->config, "http", "websocket")) {
        /* its own handler at the path; bodies are limited as everywhere */
        soup_server_add_early_handler(soup, HTTP_PATH_WEBSOCKET, on_early, NULL, NULL);
        http_ws_init(srv, soup);
    }
    if (!listen_on(addr, error))
        return FALSE;
    http_metrics_init(srv);
    g_message("http: listening on %s (%s)", addr, https ? "https" : "http");
    return TRUE;
}

void http_reload(void)
{
    g_autoptr(GError) err = NULL;
    if (soup && https && !load_certificate(&err))
        g_warning("http: reload: the certificate stays as it was: %s", err->message);
}

/* COMPAT: glib-networking runs TLS handshakes on GLib's shared worker threads, which then
 * hold thread-local data of the dlopen()ed GnuTLS; LeakSanitizer (GCC 12, glibc 2.36)
 * crashes ("Tracer caught signal 11") scanning it at exit. In sanitizer builds, let the idle
 * workers end first: they leave their pool after 0.5 s and then stop, as no unused thread
 * may stay. */
static void drain_worker_threads(void)
{
#ifdef __SANITIZE_ADDRESS__
    g_thread_pool_set_max_unused_threads(0);
    g_usleep(G_USEC_PER_SEC * 7 / 10);
    g_thread_pool_stop_unused_threads();
#endif
}

void http_fini(void)
{
    if (soup) {
        http_ws_fini();
        http_bosh_fini();
        soup_server_disconnect(soup);
        g_clear_object(&soup);
        http_metrics_fini();
        if (https)
            drain_worker_threads();
    }
    g_clear_pointer(&listen_addr, g_free);
    server = NULL;
}
