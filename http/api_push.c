/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/api_push.c — POST /api/v1/push: a notification message, delivered or stored offline */
#include "http/http.h"

#include <string.h>

#include "c2s/sm.h"
#include "router/hooks.h"
#include "router/router.h"
#include "storage/accounts.h"
#include "tools/admin.h"

#define NS_TERN_PUSH "urn:xmpp:tern:push:0" /* docs/http-api.md */
#define PUSH_TITLE_MAX 1024
#define PUSH_URI_MAX 2048
#define PUSH_DATA_MAX 4096 /* bytes of "data" serialized */

static const char *const push_fields[] = {"to", "title", "body", "uri", "data", NULL};

typedef struct {
    const char *title, *body, *uri;
    char *data; /* serialized JSON object, or NULL */
} PushMsg;

/* What became of the message being routed: router_deliver() runs synchronously down to
 * the sessions' queues and the offline module, and a bounce comes back to the domain. */
static struct {
    const char *id;
    gboolean delivered;
    char *condition; /* of a bounce */
} watch;

static HookResult on_delivered(const char *event, gpointer data, gpointer ud)
{
    DeliveredEvent *ev = data;
    if (watch.id && !g_strcmp0(ev->st->id, watch.id))
        watch.delivered = TRUE;
    return HOOK_PASS;
}

/* The bounce of our message (to the domain, which sent it): keep its condition. */
static HookResult on_host_message(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    if (!watch.id || g_strcmp0(ev->st->id, watch.id) || !stanza_is_error(ev->st))
        return HOOK_PASS;
    XmlNode *err = xml_node_child(ev->st->el, NULL, "error");
    XmlNode *cond = err ? xml_node_first_element(err) : NULL;
    g_free(watch.condition);
    watch.condition = g_strdup(cond ? cond->name : "undefined-condition");
    return HOOK_HANDLED;
}

/* <message type='normal'> (offline storage keeps normal and chat, never headline) with a
 * readable <subject/> and <body/> and the structured <push xmlns='urn:xmpp:tern:push:0'/>. */
static Stanza *push_stanza(const char *domain, const char *to, const PushMsg *pm, const char *id)
{
    XmlNode *m = xml_node_new(XML_NS_CLIENT, "message");
    xml_node_set_attr(m, "type", "normal");
    xml_node_set_attr(m, "from", domain);
    xml_node_set_attr(m, "to", to);
    xml_node_set_attr(m, "id", id);
    if (*pm->title)
        xml_node_add_text(xml_node_add_child(m, NULL, "subject"), pm->title, -1);
    g_autofree char *text =
        pm->uri ? g_strconcat(pm->body, "\n", pm->uri, NULL) : g_strdup(pm->body);
    xml_node_add_text(xml_node_add_child(m, NULL, "body"), text, -1);
    XmlNode *p = xml_node_add_child(m, NS_TERN_PUSH, "push");
    xml_node_add_text(xml_node_add_child(p, NULL, "title"), pm->title, -1);
    xml_node_add_text(xml_node_add_child(p, NULL, "body"), pm->body, -1);
    if (pm->uri)
        xml_node_add_text(xml_node_add_child(p, NULL, "uri"), pm->uri, -1);
    if (pm->data)
        xml_node_add_text(xml_node_add_child(p, NULL, "data"), pm->data, -1);
    g_autoptr(GError) err = NULL;
    Stanza *st = stanza_new(m, &err);
    if (!st)
        g_warning("http push: cannot build the message for %s: %s", to, err->message);
    return st;
}

static gboolean has_available_session(const char *bare)
{
    GPtrArray *list = sm_sessions_of(bare);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (cs->available && cs->priority >= 0)
            return TRUE;
    }
    return FALSE;
}

static void result_member(JsonBuilder *b, const char *name, const char *value)
{
    json_builder_set_member_name(b, name);
    json_builder_add_string_value(b, value);
}

/* One recipient: {"to", "jid", "status", "id" | "reason" | "condition"}. */
static void push_one(Server *srv, JsonBuilder *b, const char *to, const PushMsg *pm)
{
    json_builder_begin_object(b);
    result_member(b, "to", to);
    g_autoptr(GError) err = NULL;
    g_autofree char *bare = admin_account_jid(srv->domains, to, &err);
    if (!bare) {
        result_member(b, "status", "error");
        result_member(b, "reason", err->message);
        json_builder_end_object(b);
        return;
    }
    result_member(b, "jid", bare);
    if (!account_exists(srv->store, bare)) {
        result_member(b, "status", "no-such-user");
        json_builder_end_object(b);
        return;
    }
    gboolean online = has_available_session(bare);
    g_autofree char *rnd = stream_random_id();
    g_autofree char *id = g_strconcat("push-", rnd, NULL);
    g_autofree char *domain = g_strdup(strchr(bare, '@') + 1);
    Stanza *st = push_stanza(domain, bare, pm, id);
    if (!st) {
        result_member(b, "status", "error");
        result_member(b, "reason", "the message could not be built");
        json_builder_end_object(b);
        return;
    }
    watch.id = id;
    watch.delivered = FALSE;
    router_deliver(st);
    watch.id = NULL;
    result_member(b, "id", id);
    if (watch.condition) {
        result_member(b, "status", "error");
        result_member(b, "condition", watch.condition);
        g_clear_pointer(&watch.condition, g_free);
    } else if (watch.delivered) {
        result_member(b, "status", "delivered");
    } else if (!online) {
        result_member(b, "status", "stored");
    } else { /* e.g. the user blocks the domain (XEP-0191) */
        result_member(b, "status", "error");
        result_member(b, "reason", "not accepted for the recipient");
    }
    json_builder_end_object(b);
}

/* "to": "a@d" | ["a@d", ...] | {"domain": "d"} -> raw recipients (transfer full), or NULL
 * after a 400. */
static GPtrArray *recipients(HttpRequest *req, JsonNode *to)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    if (to && JSON_NODE_HOLDS_VALUE(to) && json_node_get_value_type(to) == G_TYPE_STRING) {
        g_ptr_array_add(out, g_strdup(json_node_get_string(to)));
        return out;
    }
    if (to && JSON_NODE_HOLDS_ARRAY(to)) {
        JsonArray *a = json_node_get_array(to);
        for (guint i = 0; i < json_array_get_length(a); i++) {
            JsonNode *n = json_array_get_element(a, i);
            if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
                http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"to\" lists JIDs as strings");
                goto bad;
            }
            g_ptr_array_add(out, g_strdup(json_node_get_string(n)));
        }
        if (out->len == 0) {
            http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"to\" is an empty list");
            goto bad;
        }
        return out;
    }
    if (to && JSON_NODE_HOLDS_OBJECT(to)) {
        JsonObject *o = json_node_get_object(to);
        JsonNode *d = json_object_get_member(o, "domain");
        if (json_object_get_size(o) != 1 || !d || !JSON_NODE_HOLDS_VALUE(d) ||
            json_node_get_value_type(d) != G_TYPE_STRING) {
            http_reply_error(req, SOUP_STATUS_BAD_REQUEST,
                             "\"to\" as an object is {\"domain\": \"...\"}");
            goto bad;
        }
        g_autoptr(GError) err = NULL;
        g_autofree char *domain = jid_prep_domain(json_node_get_string(d), &err);
        if (!domain || !server_is_hosted(req->srv, domain)) {
            http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "%s is not served here",
                             json_node_get_string(d));
            goto bad;
        }
        g_autoptr(GPtrArray) users = admin_user_list(req->srv->store, domain, &err);
        if (!users) {
            http_reply_error(req, SOUP_STATUS_INTERNAL_SERVER_ERROR, "storage: %s", err->message);
            goto bad;
        }
        for (guint i = 0; i < users->len; i++)
            g_ptr_array_add(out, g_strdup(g_ptr_array_index(users, i)));
        return out;
    }
    http_reply_error(req, SOUP_STATUS_BAD_REQUEST,
                     "\"to\" is a JID, a list of JIDs or {\"domain\": \"...\"}");
bad:
    g_ptr_array_unref(out);
    return NULL;
}

/* "data": an object, at most PUSH_DATA_MAX bytes serialized. FALSE after a 400. */
static gboolean push_data(HttpRequest *req, JsonObject *o, char **out)
{
    JsonNode *n = json_object_get_member(o, "data");
    *out = NULL;
    if (!n)
        return TRUE;
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"data\" must be an object");
        return FALSE;
    }
    char *s = json_to_string(n, FALSE);
    if (strlen(s) > PUSH_DATA_MAX) {
        g_free(s);
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"data\" is larger than %d bytes",
                         PUSH_DATA_MAX);
        return FALSE;
    }
    *out = s;
    return TRUE;
}

void http_api_push(HttpRequest *req)
{
    g_autoptr(JsonObject) o = http_body_object(req, push_fields);
    if (!o)
        return;
    PushMsg pm = {NULL, NULL, NULL, NULL};
    if (!http_member_string(req, o, "title", TRUE, &pm.title) ||
        !http_member_string(req, o, "body", TRUE, &pm.body) ||
        !http_member_string(req, o, "uri", FALSE, &pm.uri))
        return;
    if (strlen(pm.title) > PUSH_TITLE_MAX) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"title\" is longer than %d bytes",
                         PUSH_TITLE_MAX);
        return;
    }
    if (pm.uri &&
        (strlen(pm.uri) > PUSH_URI_MAX || !g_uri_is_valid(pm.uri, G_URI_FLAGS_NONE, NULL))) {
        http_reply_error(req, SOUP_STATUS_BAD_REQUEST, "\"uri\" is not an absolute URI");
        return;
    }
    g_autoptr(GPtrArray) to = recipients(req, json_object_get_member(o, "to"));
    if (!to)
        return;
    g_autofree char *data = NULL;
    if (!push_data(req, o, &data))
        return;
    pm.data = data;
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "results");
    json_builder_begin_array(b);
    hook_add("message/delivered", 1000, on_delivered, NULL);
    hook_add("message/host", 1000, on_host_message, NULL);
    for (guint i = 0; i < to->len; i++)
        push_one(req->srv, b, g_ptr_array_index(to, i), &pm);
    hook_remove("message/delivered", on_delivered, NULL);
    hook_remove("message/host", on_host_message, NULL);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_message("http: push from token %s to %u recipient(s)", req->token, to->len);
    http_reply_json(req, SOUP_STATUS_OK, json_builder_get_root(b));
}
