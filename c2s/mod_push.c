/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_push.c — XEP-0357 push notifications: enable/disable, summaries to app servers */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/sm.h"
#include "router/router.h"
#include "storage/offline.h"

#define NS_PUSH "urn:xmpp:push:0"
#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_DATA "jabber:x:data"
#define NS_PUBLISH_OPTIONS "http://jabber.org/protocol/pubsub#publish-options"
#define NS_SUMMARY "urn:xmpp:push:summary"
/* Map "push": owner = the user's bare JID, key = app server JID "\n" node, value = the
 * <enable/> element as the client sent it (serialized; read back with the restricted
 * parser). */
#define MAP "push"
#define PUSH_MAX_PER_USER 20
#define PUSH_BODY_MAX 256 /* characters of last-message-body */

static Server *server;
static guint serial;

static char *reg_key(const char *jid, const char *node)
{
    return g_strconcat(jid, "\n", node, NULL);
}

static gboolean count_one(const char *key, const void *val, gsize len, gpointer ud)
{
    (*(guint *)ud)++;
    return TRUE;
}

/* XEP-0357 §5: the optional form must be a publish-options submission. */
static gboolean form_ok(const XmlNode *x)
{
    if (!x)
        return TRUE;
    if (g_strcmp0(xml_node_attr(x, "type"), "submit"))
        return FALSE;
    for (XmlNode *f = xml_node_child(x, NS_DATA, "field"); f;
         f = xml_node_next_element(f, NS_DATA, "field"))
        if (!g_strcmp0(xml_node_attr(f, "var"), "FORM_TYPE")) {
            XmlNode *v = xml_node_child(f, NS_DATA, "value");
            g_autofree char *t = v ? xml_node_text(v) : g_strdup("");
            return !strcmp(t, NS_PUBLISH_OPTIONS);
        }
    return FALSE;
}

static void enable(StanzaEvent *ev, C2sSession *cs, XmlNode *el)
{
    const char *jid = xml_node_attr(el, "jid"), *node = xml_node_attr(el, "node");
    g_autoptr(Jid) app = jid ? jid_new(jid, NULL) : NULL;
    if (!app || !node || !*node || strchr(node, '\n')) { /* §5: both required */
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "enable needs a valid jid and a node");
        return;
    }
    XmlNode *x = xml_node_child(el, NS_DATA, "x");
    if (!form_ok(x)) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "the form must submit publish-options");
        return;
    }
    const char *user = jid_bare(cs->jid);
    g_autofree char *key = reg_key(jid_full(app), node);
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) old = store_map_get(server->store, MAP, user, key, &err);
    guint n = 0;
    if (!old && !err)
        store_map_foreach(server->store, MAP, user, count_one, &n, &err);
    if (err) {
        g_warning("push: cannot read the registrations of %s: %s", user, err->message);
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    if (n >= PUSH_MAX_PER_USER) {
        module_reply_error(ev, STANZA_ERR_RESOURCE_CONSTRAINT, "too many push registrations");
        return;
    }
    g_autoptr(XmlNode) copy = xml_node_copy(el);
    xml_node_set_attr(copy, "jid", jid_full(app));
    g_autofree char *xml = xml_node_to_string(copy);
    if (!store_map_set(server->store, MAP, user, key, xml, strlen(xml), &err)) {
        g_warning("push: cannot store a registration of %s: %s", user, err->message);
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    g_message("push: %s enabled notifications to %s", user, jid_full(app));
    module_reply(ev, stanza_iq_result(ev->st));
}

typedef struct {
    const char *prefix; /* "jid\n" */
    GPtrArray *keys;
} DisableCtx;

static gboolean collect_jid(const char *key, const void *val, gsize len, gpointer ud)
{
    DisableCtx *d = ud;
    if (g_str_has_prefix(key, d->prefix))
        g_ptr_array_add(d->keys, g_strdup(key));
    return TRUE;
}

/* §6: without node, every registration of that app server goes. */
static void disable(StanzaEvent *ev, C2sSession *cs, XmlNode *el)
{
    const char *jid = xml_node_attr(el, "jid"), *node = xml_node_attr(el, "node");
    g_autoptr(Jid) app = jid ? jid_new(jid, NULL) : NULL;
    if (!app) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "disable needs a valid jid");
        return;
    }
    const char *user = jid_bare(cs->jid);
    g_autofree char *prefix = g_strconcat(jid_full(app), "\n", NULL);
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    if (node)
        g_ptr_array_add(keys, reg_key(jid_full(app), node));
    else {
        DisableCtx d = {prefix, keys};
        store_map_foreach(server->store, MAP, user, collect_jid, &d, &err);
    }
    for (guint i = 0; !err && i < keys->len; i++)
        store_map_delete(server->store, MAP, user, g_ptr_array_index(keys, i), &err);
    if (err) {
        g_warning("push: cannot remove a registration of %s: %s", user, err->message);
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    module_reply(ev, stanza_iq_result(ev->st));
}

static HookResult on_iq_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *el = stanza_iq_payload(ev->st);
    if (xml_node_is(el, NS_PUSH, "enable"))
        enable(ev, cs, el);
    else if (xml_node_is(el, NS_PUSH, "disable"))
        disable(ev, cs, el);
    else
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <enable/> or <disable/>");
    return HOOK_HANDLED;
}

/* ---- notifications (§5) ---- */

static void add_field(XmlNode *x, const char *var, const char *value)
{
    XmlNode *f = xml_node_add_child(x, NS_DATA, "field");
    xml_node_set_attr(f, "var", var);
    xml_node_add_text(xml_node_add_child(f, NS_DATA, "value"), value, -1);
}

typedef struct {
    const char *user;
    const Stanza *msg;
    guint count;
} Notify;

/* One registration: <iq type='set' from=user to=app><pubsub><publish node>... */
static gboolean notify_one(const char *key, const void *val, gsize len, gpointer ud)
{
    Notify *n = ud;
    g_autoptr(GError) err = NULL;
    g_autoptr(XmlNode) reg = xml_parse_fragment(val, (gssize)len, &err);
    if (!reg || !xml_node_attr(reg, "jid") || !xml_node_attr(reg, "node")) {
        g_warning("push: a stored registration of %s is corrupt: %s", n->user,
                  err ? err->message : "no jid or node");
        return TRUE;
    }
    XmlNode *iq = xml_node_new(XML_NS_CLIENT, "iq");
    g_autofree char *id = g_strdup_printf("push-%u", ++serial);
    xml_node_set_attr(iq, "type", "set");
    xml_node_set_attr(iq, "from", n->user);
    xml_node_set_attr(iq, "to", xml_node_attr(reg, "jid"));
    xml_node_set_attr(iq, "id", id);
    XmlNode *pubsub = xml_node_add_child(iq, NS_PUBSUB, "pubsub");
    XmlNode *publish = xml_node_add_child(pubsub, NS_PUBSUB, "publish");
    xml_node_set_attr(publish, "node", xml_node_attr(reg, "node"));
    XmlNode *item = xml_node_add_child(publish, NS_PUBSUB, "item");
    XmlNode *notif = xml_node_add_child(item, NS_PUSH, "notification");
    XmlNode *x = xml_node_add_child(notif, NS_DATA, "x");
    xml_node_set_attr(x, "type", "submit");
    add_field(x, "FORM_TYPE", NS_SUMMARY);
    g_autofree char *count = g_strdup_printf("%u", n->count);
    add_field(x, "message-count", count);
    if (n->msg->from)
        add_field(x, "last-message-sender", jid_full(n->msg->from));
    XmlNode *body = xml_node_child(n->msg->el, NULL, "body");
    if (body) {
        g_autofree char *text = xml_node_text(body);
        if (g_utf8_strlen(text, -1) > PUSH_BODY_MAX)
            *g_utf8_offset_to_pointer(text, PUSH_BODY_MAX) = '\0';
        add_field(x, "last-message-body", text);
    }
    XmlNode *form = xml_node_child(reg, NS_DATA, "x");
    if (form) /* §5: the publish-options the client gave at enable */
        xml_node_append(xml_node_add_child(pubsub, NS_PUBSUB, "publish-options"),
                        xml_node_copy(form));
    Stanza *st = stanza_new(iq, &err);
    if (!st) {
        g_warning("push: bad app server JID in a registration of %s: %s", n->user, err->message);
        return TRUE;
    }
    g_debug("push: notification %s for %s to %s", id, n->user, xml_node_attr(reg, "jid"));
    router_deliver(st);
    return TRUE;
}

static gboolean collect_reg(const char *key, const void *val, gsize len, gpointer ud)
{
    g_ptr_array_add(ud, g_bytes_new(val, len));
    return TRUE;
}

/* Messages worth waking a phone for: with a body. count < 0: the user's stored offline
 * messages, counted (a scan of the queue) only when an app server is to be told. */
static void notify(const char *user, const Stanza *msg, gint64 count)
{
    if (!xml_node_child(msg->el, NULL, "body"))
        return;
    g_autoptr(GPtrArray) regs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_autoptr(GError) err = NULL;
    if (!store_map_foreach(server->store, MAP, user, collect_reg, regs, &err)) {
        g_warning("push: cannot read the registrations of %s: %s", user, err->message);
        return;
    }
    if (regs->len == 0)
        return;
    Notify n = {user, msg, count >= 0 ? (guint)count : offline_count(server->store, user, NULL)};
    for (guint i = 0; i < regs->len; i++) {
        gsize len;
        const void *val = g_bytes_get_data(g_ptr_array_index(regs, i), &len);
        notify_one(NULL, val, len, &n);
    }
}

/* A message went to offline storage: the user has no session to take it. */
static HookResult on_offline_stored(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    g_autoptr(Jid) user = jid_to_bare(ev->st->to);
    notify(jid_bare(user), ev->st, -1);
    return HOOK_PASS;
}

/* A message was queued for sessions that all hibernate (XEP-0198): the phone is asleep. */
static HookResult on_delivered(const char *event, gpointer data, gpointer ud)
{
    DeliveredEvent *ev = data;
    guint pending = 0;
    for (guint i = 0; i < ev->n_recipients; i++) {
        C2sSession *cs = ev->recipients[i];
        if (!cs->sm_hibernating)
            return HOOK_PASS; /* someone is awake and got it */
        pending = MAX(pending, g_queue_get_length(&cs->sm_unacked));
    }
    if (ev->n_recipients == 0)
        return HOOK_PASS;
    C2sSession *first = ev->recipients[0];
    notify(jid_bare(first->jid), ev->st, MAX(pending, 1));
    return HOOK_PASS;
}

static const HookSpec push_hooks[] = {
    {"iq-set/self/" NS_PUSH, 0, on_iq_set, NULL},
    {"message/offline-stored", 0, on_offline_stored, NULL},
    {"message/delivered", 10, on_delivered, NULL},
    {NULL},
};

static gboolean push_init(Server *srv, GError **error)
{
    server = srv;
    disco_add_account_feature(NS_PUSH);
    return TRUE;
}

const ModuleDesc mod_push = {
    .name = "push",
    .init = push_init,
    .hooks = push_hooks,
};
