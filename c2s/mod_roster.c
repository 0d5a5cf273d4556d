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

/* §2.5: remove, cancelling subscriptions both ways. transfer full (reply, push) */
static Stanza *roster_apply_remove(Server *srv, Stanza *st, const char *user, const char *contact,
                                   RosterItem **push)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(RosterItem) it = roster_get(srv->store, user, contact, &err);
    if (!it || !it->in_roster)
        return stanza_error_reply(st, STANZA_ERR_ITEM_NOT_FOUND, NULL);
    guint64 ver = 0;
    if (!roster_remove(srv->store, user, contact, &ver, &err)) {
        g_warning("roster remove for %s: %s", user, err->message);
        return stanza_error_reply(st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    }
    /* §2.5.2: unsubscribe and unsubscribed on behalf of the user */
    g_autoptr(Jid) from = jid_new(user, NULL);
    g_autoptr(Jid) to = jid_new(contact, NULL);
    const char *types[2] = {NULL, NULL};
    if (it->to || it->pending_out)
        types[0] = "unsubscribe";
    if (it->from || it->pending_in || it->approved)
        types[1] = "unsubscribed";
    for (guint i = 0; i < 2 && from && to; i++) {
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
    *push = roster_item_new(contact);
    (*push)->removed = TRUE;
    (*push)->ver = ver;
    return stanza_iq_result(st);
}

/* The groups of a roster set's item, checked (§2.3.3), NULL-terminated; NULL after
 * setting *error_reply. transfer full */
static char **item_groups(Stanza *st, XmlNode *item, gint64 maxlen, Stanza **error_reply)
{
    g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
    for (XmlNode *g = xml_node_child(item, NS_ROSTER, "group"); g;
         g = xml_node_next_element(g, NS_ROSTER, "group")) {
        g_autofree char *text = xml_node_text(g);
        if (!*text || (gint64)strlen(text) > maxlen) {
            *error_reply =
                stanza_error_reply(st, STANZA_ERR_NOT_ACCEPTABLE, "a group is empty or too long");
            return NULL;
        }
        for (guint i = 0; i < groups->len; i++)
            if (!strcmp(g_ptr_array_index(groups, i), text)) {
                *error_reply =
                    stanza_error_reply(st, STANZA_ERR_BAD_REQUEST, "a group is listed twice");
                return NULL;
            }
        g_ptr_array_add(groups, g_steal_pointer(&text));
    }
    g_ptr_array_add(groups, NULL);
    return (char **)g_ptr_array_steal(groups, NULL);
}

Stanza *roster_apply_set(Server *srv, Stanza *st, const char *user, RosterItem **push)
{
    *push = NULL;
    XmlNode *item = xml_node_child(stanza_iq_payload(st), NS_ROSTER, "item");
    if (!item || xml_node_next_element(item, NS_ROSTER, "item")) /* §2.3.3: exactly one */
        return stanza_error_reply(st, STANZA_ERR_BAD_REQUEST,
                                  "a roster set carries exactly one item");
    const char *jid_attr = xml_node_attr(item, "jid");
    g_autoptr(Jid) contact = jid_attr ? jid_new(jid_attr, NULL) : NULL;
    if (!contact || jid_resource(contact))
        return stanza_error_reply(st, STANZA_ERR_BAD_REQUEST, "the item needs a valid bare 'jid'");
    /* §2.1.2.5: in a roster set every 'subscription' value but "remove" is ignored */
    const char *sub = xml_node_attr(item, "subscription");
    if (sub && !strcmp(sub, "remove"))
        return roster_apply_remove(srv, st, user, jid_bare(contact), push);
    gint64 maxlen = config_get_int(srv->config, "limits", "roster_text_length");
    const char *name = xml_node_attr(item, "name");
    if (name && (gint64)strlen(name) > maxlen)
        return stanza_error_reply(st, STANZA_ERR_NOT_ACCEPTABLE, "the name is too long");
    Stanza *error_reply = NULL;
    char **groups = item_groups(st, item, maxlen, &error_reply);
    if (!groups)
        return error_reply;
    g_autoptr(GError) err = NULL;
    g_autoptr(RosterItem) it = roster_get(srv->store, user, jid_bare(contact), &err);
    if (!it || !it->in_roster) {
        guint max = config_get_int(srv->config, "limits", "roster_size");
        if (roster_count(srv->store, user, NULL) >= max) {
            g_strfreev(groups);
            return stanza_error_reply(st, STANZA_ERR_NOT_ALLOWED, "the roster is full");
        }
    }
    if (!it)
        it = roster_item_new(jid_bare(contact));
    it->in_roster = TRUE;
    g_free(it->name);
    it->name = name && *name ? g_strdup(name) : NULL;
    g_strfreev(it->groups);
    it->groups = groups;
    if (!roster_put(srv->store, user, it, &err)) {
        g_warning("roster set for %s: %s", user, err->message);
        return stanza_error_reply(st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    }
    *push = g_steal_pointer(&it);
    return stanza_iq_result(st);
}

static HookResult on_roster_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    const char *user = jid_bare(cs->jid);
    g_autoptr(RosterItem) push = NULL;
    Stanza *reply = roster_apply_set(server, ev->st, user, &push);
    if (push) /* on behalf of the account (RFC 6120 §8.1.2.1) */
        stanza_set_from(reply, NULL);
    module_reply(ev, reply);
    if (push)
        roster_push(user, push); /* §2.3.2: to every interested resource, the sender too */
    return HOOK_HANDLED;
}

static const HookSpec roster_hooks[] = {
    {"iq-get/self/" NS_ROSTER, 0, on_roster_get, NULL},
    {"iq-set/self/" NS_ROSTER, 0, on_roster_set, NULL},
    {NULL},
};

static gboolean roster_init(Server *srv, GError **error)
{
    server = srv;
    presence_init(srv);
    return TRUE;
}

const ModuleDesc mod_roster = {
    .name = "roster",
    .init = roster_init,
    .hooks = roster_hooks,
};
