/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_roster.c — RFC 6121 §2 roster get/set/remove with versioning (§2.6, XEP-0237) */
#include "c2s/modules.h"

#include <stdlib.h>
#include <string.h>

#include "c2s/presence.h"
#include "router/router.h"
#include "storage/roster.h"

#define NS_ROSTER "jabber:iq:roster"

static Server *server;

static gboolean visible(const RosterItem *it)
{
    return it->in_roster && !it->removed;
}

/* §2.6.3: the client's version is one we gave out (a number not in the future). */
static gboolean parse_ver(const char *ver, guint64 current, guint64 *out)
{
    if (!ver || !*ver)
        return FALSE;
    char *end = NULL;
    guint64 v = g_ascii_strtoull(ver, &end, 10);
    if (*end || v > current)
        return FALSE;
    *out = v;
    return TRUE;
}

static HookResult on_roster_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *query = stanza_iq_payload(ev->st);
    const char *client_ver = xml_node_attr(query, "ver");
    guint64 current = 0, since = 0;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) items = roster_list(server->store, jid_bare(cs->jid), &current, &err);
    if (!items) {
        g_warning("roster of %s: %s", jid_bare(cs->jid), err->message);
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return HOOK_HANDLED;
    }
    cs->roster_requested = TRUE;
    Stanza *reply = module_result(ev);
    if (client_ver && parse_ver(client_ver, current, &since)) {
        /* §2.6.3: empty result, then a push for each item changed since that version */
        module_reply(ev, reply);
        for (guint i = 0; i < items->len; i++) {
            RosterItem *it = g_ptr_array_index(items, i);
            if (it->ver > since && (visible(it) || it->removed))
                roster_push(jid_bare(cs->jid), it);
        }
        return HOOK_HANDLED;
    }
    XmlNode *q = xml_node_add_child(reply->el, NS_ROSTER, "query");
    if (client_ver) { /* the client supports versioning */
        g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, current);
        xml_node_set_attr(q, "ver", v);
    }
    for (guint i = 0; i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        if (visible(it))
            roster_item_to_xml(it, q);
    }
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* §2.5: remove, cancelling subscriptions both ways */
static void roster_item_remove(StanzaEvent *ev, C2sSession *cs, const char *contact)
{
    const char *user = jid_bare(cs->jid);
    g_autoptr(GError) err = NULL;
    g_autoptr(RosterItem) it = roster_get(server->store, user, contact, &err);
    if (!it || !it->in_roster) {
        module_reply_error(ev, STANZA_ERR_ITEM_NOT_FOUND, NULL);
        return;
    }
    guint64 ver = 0;
    if (!roster_remove(server->store, user, contact, &ver, &err)) {
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    Stanza *ok = module_result(ev);
    module_reply(ev, ok);
    /* §2.5.2: unsubscribe and unsubscribed on behalf of the user */
    g_autoptr(Jid) from = jid_to_bare(cs->jid);
    g_autoptr(Jid) to = jid_new(contact, NULL);
    const char *types[2] = {NULL, NULL};
    if (it->to || it->pending_out)
        types[0] = "unsubscribe";
    if (it->from || it->pending_in || it->approved)
        types[1] = "unsubscribed";
    for (guint i = 0; i < 2 && to; i++) {
        if (!types[i])
            continue;
        XmlNode *el = xml_node_new(XML_NS_CLIENT, "presence");
        xml_node_set_attr(el, "type", types[i]);
        Stanza *p = stanza_new(el, NULL);
        stanza_set_from(p, from);
        stanza_set_to(p, to);
        router_deliver(p);
    }
    if (it->from) /* the contact no longer sees us */
        presence_unavailable_to(user, contact);
    g_autoptr(RosterItem) gone = roster_item_new(contact);
    gone->removed = TRUE;
    gone->ver = ver;
    roster_push(user, gone);
}

static HookResult on_roster_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *query = stanza_iq_payload(ev->st);
    XmlNode *item = xml_node_child(query, NS_ROSTER, "item");
    /* §2.3.3: exactly one item */
    if (!item || xml_node_next_element(item, NS_ROSTER, "item")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "a roster set carries exactly one item");
        return HOOK_HANDLED;
    }
    const char *jid_attr = xml_node_attr(item, "jid");
    g_autoptr(Jid) contact = jid_attr ? jid_new(jid_attr, NULL) : NULL;
    if (!contact || jid_resource(contact)) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "the item needs a valid bare 'jid'");
        return HOOK_HANDLED;
    }
    const char *sub = xml_node_attr(item, "subscription");
    if (sub && !strcmp(sub, "remove")) {
        roster_item_remove(ev, cs, jid_bare(contact));
        return HOOK_HANDLED;
    }
    if (sub && strcmp(sub, "none") && strcmp(sub, "both") && strcmp(sub, "to") &&
        strcmp(sub, "from")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "unknown subscription value");
        return HOOK_HANDLED;
    }
    gint64 maxlen = config_get_int(server->config, "limits", "roster_text_length");
    const char *name = xml_node_attr(item, "name");
    if (name && (gint64)strlen(name) > maxlen) {
        module_reply_error(ev, STANZA_ERR_NOT_ACCEPTABLE, "the name is too long");
        return HOOK_HANDLED;
    }
    g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
    for (XmlNode *g = xml_node_child(item, NS_ROSTER, "group"); g;
         g = xml_node_next_element(g, NS_ROSTER, "group")) {
        char *text = xml_node_text(g);
        if (!*text || (gint64)strlen(text) > maxlen) {
            g_free(text);
            module_reply_error(ev, STANZA_ERR_NOT_ACCEPTABLE, "a group is empty or too long");
            return HOOK_HANDLED;
        }
        for (guint i = 0; i < groups->len; i++)
            if (!strcmp(g_ptr_array_index(groups, i), text)) {
                g_free(text);
                module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "a group is listed twice");
                return HOOK_HANDLED;
            }
        g_ptr_array_add(groups, text);
    }
    const char *user = jid_bare(cs->jid);
    g_autoptr(GError) err = NULL;
    g_autoptr(RosterItem) it = roster_get(server->store, user, jid_bare(contact), &err);
    if (!it || !it->in_roster) {
        guint max = config_get_int(server->config, "limits", "roster_size");
        if (roster_count(server->store, user, NULL) >= max) {
            module_reply_error(ev, STANZA_ERR_NOT_ALLOWED, "the roster is full");
            return HOOK_HANDLED;
        }
    }
    if (!it)
        it = roster_item_new(jid_bare(contact));
    it->in_roster = TRUE;
    g_free(it->name);
    it->name = name && *name ? g_strdup(name) : NULL;
    g_strfreev(it->groups);
    g_ptr_array_add(groups, NULL);
    it->groups = (char **)g_ptr_array_steal(groups, NULL);
    if (!roster_put(server->store, user, it, &err)) {
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return HOOK_HANDLED;
    }
    Stanza *ok = module_result(ev);
    module_reply(ev, ok);
    roster_push(user, it); /* §2.3.2: to every interested resource, the sender too */
    return HOOK_HANDLED;
}

static gboolean roster_init(Server *srv, GError **error)
{
    server = srv;
    presence_init(srv);
    hook_add("iq-get/self/" NS_ROSTER, 0, on_roster_get, NULL);
    hook_add("iq-set/self/" NS_ROSTER, 0, on_roster_set, NULL);
    return TRUE;
}

static void roster_fini(void)
{
    hook_remove("iq-get/self/" NS_ROSTER, on_roster_get, NULL);
    hook_remove("iq-set/self/" NS_ROSTER, on_roster_set, NULL);
}

const ModuleDesc mod_roster = {
    .name = "roster",
    .init = roster_init,
    .fini = roster_fini,
};
