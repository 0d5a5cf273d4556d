/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/api_admin.c — admin API: users (as ternctl), sessions and kicks, links, stats */
#include "http/http.h"

#include <string.h>

#include "c2s/c2s.h"
#include "c2s/sm.h"
#include "router/component.h"
#include "router/router.h"
#include "s2s/s2s.h"
#include "tools/admin.h"

static guint error_status(const GError *err)
{
    if (err->domain == ADMIN_ERROR)
        return SOUP_STATUS_BAD_REQUEST;
    if (g_error_matches(err, STORE_ERROR, STORE_ERROR_EXISTS))
        return SOUP_STATUS_CONFLICT;
    if (g_error_matches(err, STORE_ERROR, STORE_ERROR_NOT_FOUND))
        return SOUP_STATUS_NOT_FOUND;
    return SOUP_STATUS_INTERNAL_SERVER_ERROR;
}

static void reply_gerror(HttpRequest *req, const GError *err)
{
    http_reply_error(req, error_status(err), "%s", err->message);
}

/* ISO 8601 UTC of a wall clock in µs; transfer full */
static char *iso_time(gint64 usec)
{
    g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(usec / G_USEC_PER_SEC);
    return t ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("");
}

static void member_string(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    if (value)
        json_builder_add_string_value(b, value);
    else
        json_builder_add_null_value(b);
}

static void member_int(JsonBuilder *b, const char *name, gint64 value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, value);
}

static void member_bool(JsonBuilder *b, const char *name, gboolean value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, value);
}

/* Close a session: a stream error, or at once when it hibernates (XEP-0198). */
static void kick(C2sSession *cs, StreamErr err, const char *text)
{
    if (cs->stream && stream_state(cs->stream) < STREAM_STATE_CLOSING)
        stream_error(cs->stream, err, text);
    else if (!cs->stream)
        c2s_session_end(cs);
}

/* Kick every session of bare; how many. */
static guint kick_account(const char *bare, StreamErr err, const char *text)
{
    GPtrArray *list = sm_sessions_of(bare);
    if (!list)
        return 0;
    /* kicking changes the list: work on a copy */
    g_autoptr(GPtrArray) copy = g_ptr_array_copy(list, NULL, NULL);
    for (guint i = 0; i < copy->len; i++)
        kick(g_ptr_array_index(copy, i), err, text);
    return copy->len;
}

/* ---- users: the same operations as ternctl (tools/admin.c) ---- */

void http_api_users_list(HttpRequest *req)
{
    const char *domain = req->query ? g_hash_table_lookup(req->query, "domain") : NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) users = admin_user_list(req->srv->store, domain, &err);
    if (!users) {
        reply_gerror(req, err);
        return;
    }
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; i < users->len; i++)
        json_builder_add_string_value(b, g_ptr_array_index(users, i));
    json_builder_end_array(b);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}

static void reply_jid(HttpRequest *req, guint status, const char *bare, const char *extra, gint64 n)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    member_string(b, "jid", bare);
    if (extra)
        member_int(b, extra, n);
    json_builder_end_object(b);
    http_reply_json(req, status, json_builder_get_root(b));
}

void http_api_users_create(HttpRequest *req)
{
    static const char *const fields[] = {"jid", "password", NULL};
    g_autoptr(JsonObject) o = http_body_object(req, fields);
    const char *jid, *password;
    if (!o || !http_member_string(req, o, "jid", TRUE, &jid) ||
        !http_member_string(req, o, "password", TRUE, &password))
        return;
    g_autoptr(GError) err = NULL;
    g_autofree char *bare = NULL;
    if (!admin_user_create(req->srv->store, req->srv->domains, jid, password, &bare, &err)) {
        reply_gerror(req, err);
        return;
    }
    g_message("http: %s created by token %s", bare, req->token);
    reply_jid(req, SOUP_STATUS_CREATED, bare, NULL, 0);
}

void http_api_users_delete(HttpRequest *req)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *bare = NULL;
    if (!admin_user_delete(req->srv->store, req->srv->domains, req->params[0], &bare, &err)) {
        reply_gerror(req, err);
        return;
    }
    /* like Prosody: the account's streams end with <not-authorized/> */
    guint n = kick_account(bare, STREAM_ERR_NOT_AUTHORIZED, "the account was deleted");
    g_message("http: %s deleted by token %s (%u sessions closed)", bare, req->token, n);
    reply_jid(req, SOUP_STATUS_OK, bare, "sessions_closed", n);
}

void http_api_users_password(HttpRequest *req)
{
    static const char *const fields[] = {"password", NULL};
    g_autoptr(JsonObject) o = http_body_object(req, fields);
    const char *password;
    if (!o || !http_member_string(req, o, "password", TRUE, &password))
        return;
    g_autoptr(GError) err = NULL;
    g_autofree char *bare = NULL;
    if (!admin_user_passwd(req->srv->store, req->srv->domains, req->params[0], password, &bare,
                           &err)) {
        reply_gerror(req, err);
        return;
    }
    g_message("http: password of %s changed by token %s", bare, req->token);
    reply_jid(req, SOUP_STATUS_OK, bare, NULL, 0);
}

/* ---- sessions ---- */

static void session_json(C2sSession *cs, gpointer ud)
{
    JsonBuilder *b = ud;
    g_autofree char *since = iso_time(cs->since);
    json_builder_begin_object(b);
    member_string(b, "jid", jid_full(cs->jid));
    member_string(b, "resource", jid_resource(cs->jid));
    member_string(b, "ip", cs->peer_ip);
    member_string(b, "since", since);
    member_bool(b, "sm", cs->sm_enabled);
    member_bool(b, "hibernating", cs->sm_hibernating);
    member_bool(b, "available", cs->available);
    member_int(b, "priority", cs->priority);
    member_bool(b, "tls", cs->stream && stream_is_tls(cs->stream));
    json_builder_end_object(b);
}

void http_api_sessions_list(HttpRequest *req)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    sm_foreach_session(session_json, b);
    json_builder_end_array(b);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}

/* DELETE /api/v1/sessions/{full JID}: <policy-violation/> "kicked by an administrator";
 * a bare JID kicks every session of the account. */
void http_api_sessions_kick(HttpRequest *req)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Jid) jid = jid_new(req->params[0], &err);
    if (!jid || !jid_local(jid)) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "'%s' is not a user's JID", req->params[0]);
        return;
    }
    guint n = 0;
    if (jid_resource(jid)) {
        C2sSession *cs = sm_session(jid);
        if (cs) {
            kick(cs, STREAM_ERR_POLICY_VIOLATION, "kicked by an administrator");
            n = 1;
        }
    } else {
        n = kick_account(jid_bare(jid), STREAM_ERR_POLICY_VIOLATION, "kicked by an administrator");
    }
    if (n == 0) {
        http_reply_error(req, SOUP_STATUS_NOT_FOUND, "no session %s", jid_full(jid));
        return;
    }
    g_message("http: %s kicked by token %s", jid_full(jid), req->token);
    reply_jid(req, SOUP_STATUS_OK, jid_full(jid), "kicked", n);
}

/* ---- links, components, stats ---- */

/* The s2s links from <data_dir>/s2s.status, the file ternctl s2s reads (docs/federation.md);
 * [] when federation is off. */
void http_api_s2s(HttpRequest *req)
{
    static const char *const strings[] = {"direction", "local", "remote", "state", "auth",
                                          "tls",       "via",   "stream", NULL};
    g_autofree char *path = g_build_filename(
        config_get_path(req->srv->config, "server", "data_dir"), "s2s.status", NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    if (g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, NULL)) {
        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
        for (guint i = 0; groups[i]; i++) {
            if (!g_str_has_prefix(groups[i], "link "))
                continue;
            json_builder_begin_object(b);
            for (guint k = 0; strings[k]; k++) {
                g_autofree char *v = g_key_file_get_string(kf, groups[i], strings[k], NULL);
                member_string(b, strings[k], v);
            }
            member_int(b, "queued", g_key_file_get_integer(kf, groups[i], "queued", NULL));
            gint64 since = g_key_file_get_int64(kf, groups[i], "since", NULL);
            g_autofree char *iso = iso_time(since * G_USEC_PER_SEC);
            member_string(b, "since", iso);
            json_builder_end_object(b);
        }
    }
    json_builder_end_array(b);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}

void http_api_components(HttpRequest *req)
{
    g_autoptr(GPtrArray) list = component_list();
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_array(b);
    for (guint i = 0; list && i < list->len; i++) {
        ComponentInfo *c = g_ptr_array_index(list, i);
        g_autofree char *since = c->since ? iso_time(c->since) : NULL;
        json_builder_begin_object(b);
        member_string(b, "domain", c->domain);
        member_int(b, "connections", c->connections);
        member_string(b, "since", since);
        member_int(b, "queued", c->queued);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}

void http_api_stats(HttpRequest *req)
{
    const RouterStats *rs = router_stats();
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    member_int(b, "sessions", sm_session_count());
    member_int(b, "users_online", sm_user_count());
    member_int(b, "c2s_connections", c2s_count());
    member_int(b, "s2s_connections", s2s_count());
    member_int(b, "component_connections", component_count());
    member_int(b, "routed", (gint64)rs->routed);
    member_int(b, "bounced", (gint64)rs->bounced);
    member_int(b, "auth_failures", (gint64)c2s_auth_failure_count());
    member_int(b, "uptime", http_uptime());
    json_builder_end_object(b);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}
