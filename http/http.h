/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/http.h — the HTTP front (libsoup 3): one route table, tokens, JSON replies */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "router/server.h"

/* Read [http], start listening (nothing when [http] listen is empty). FALSE + error
 * (CONFIG_ERROR for a wrong [http] value) when it cannot. */
gboolean http_init(Server *srv, GError **error);
/* Stop listening, drop the connections and the hooks. Safe without init. */
void http_fini(void);
/* SIGHUP: load the HTTPS certificate again (the first hosted domain's). */
void http_reload(void);

/* Who may call a route (docs/http-api.md, "Tokens"). */
typedef enum {
    HTTP_AUTH_NONE,    /* public */
    HTTP_AUTH_PUSH,    /* a push or an admin token */
    HTTP_AUTH_ADMIN,   /* an admin token */
    HTTP_AUTH_METRICS, /* nothing from loopback, else an admin token */
} HttpAuth;

/* One request, as a handler sees it (everything borrowed for the call). */
typedef struct {
    Server *srv;
    SoupServerMessage *msg;
    const char *method;
    const char *path;  /* as routed (decoded, dot segments resolved by libsoup) */
    char **params;     /* the path's "{}" segments, then the "*" rest, NULL-terminated */
    GHashTable *query; /* decoded query, may be NULL */
    GBytes *body;      /* the request body (at most [http] max_body bytes) */
    const char *token; /* name of the token that authorized it, or NULL */
    gboolean loopback; /* the peer is on a loopback address */
} HttpRequest;

typedef void (*HttpHandler)(HttpRequest *req);

/* A route of the one table in http/http.c. path: literal segments, "{}" for one segment
 * (a parameter), a final "*" for the rest of the path (one or more segments, joined with
 * '/': a full JID keeps its resource). BOSH (/http-bind) and WebSocket (/xmpp-websocket)
 * are added to the same table. */
typedef struct {
    const char *method;
    const char *path;
    HttpAuth auth;
    HttpHandler fn;
} HttpRoute;

/* ---- replies (each sets status and body once) ---- */
/* root: transfer full */
void http_reply_json(HttpRequest *req, guint status, JsonNode *root);
/* {"error": "..."} */
void http_reply_error(HttpRequest *req, guint status, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* body copied */
void http_reply_text(HttpRequest *req, guint status, const char *content_type, const char *body,
                     gsize len);

/* The body as a JSON object whose members are all in allowed (NULL-terminated). NULL after
 * a 400 reply (malformed JSON, not an object, an unknown member). transfer full */
JsonObject *http_body_object(HttpRequest *req, const char *const *allowed);
/* An optional string member: NULL when absent; FALSE after a 400 reply when not a string or
 * not fit for XML text (control characters). */
gboolean http_member_string(HttpRequest *req, JsonObject *o, const char *name, gboolean required,
                            const char **out);
/* Is s fit for XML character data (valid UTF-8, no control character but tab, LF, CR)? */
gboolean http_text_ok(const char *s);
/* The server's base URL for links: [http] public_url, else the scheme and the request's
 * Host header (checked), else the listen address. transfer full, no trailing '/' */
char *http_base_url(HttpRequest *req);

/* ---- the handlers of the table ---- */
/* http/api_push.c */
void http_api_push(HttpRequest *req);
/* http/api_admin.c */
void http_api_users_list(HttpRequest *req);
void http_api_users_create(HttpRequest *req);
void http_api_users_delete(HttpRequest *req);
void http_api_users_password(HttpRequest *req);
void http_api_sessions_list(HttpRequest *req);
void http_api_sessions_kick(HttpRequest *req);
void http_api_s2s(HttpRequest *req);
void http_api_components(HttpRequest *req);
void http_api_stats(HttpRequest *req);
/* http/metrics.c */
void http_metrics(HttpRequest *req);
void http_metrics_init(Server *srv);
void http_metrics_fini(void);
/* Counted by http/http.c */
void http_metrics_count_request(guint status);
void http_metrics_count_auth_failure(void);
/* http/pages.c: XEP-0156 host-meta and the web console */
void http_host_meta(HttpRequest *req);
void http_host_meta_json(HttpRequest *req);
void http_console_redirect(HttpRequest *req);
void http_console_file(HttpRequest *req);

/* XEP-0156 / RFC 7395 / XEP-0206 paths on this listener (clients hard-code them). */
#define HTTP_PATH_BOSH "/http-bind"
#define HTTP_PATH_WEBSOCKET "/xmpp-websocket"
/* HTTPS, or a peer on a loopback address: web client streams may authenticate. */
gboolean http_peer_secure(SoupServerMessage *msg);
/* http/ws.c: RFC 7395 at HTTP_PATH_WEBSOCKET (a libsoup WebSocket handler). */
void http_ws_init(Server *srv, SoupServer *soup);
void http_ws_fini(void);
/* http/bosh.c: XEP-0124/0206 at HTTP_PATH_BOSH (routes of the table). */
void http_bosh_init(Server *srv);
void http_bosh_fini(void);
void http_bosh(HttpRequest *req);
void http_bosh_options(HttpRequest *req);

/* Seconds since http_init (ternd's start). */
gint64 http_uptime(void);
