/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/presence.c — RFC 6121 §3 subscriptions and §4 presence, on LMDB rosters */
#include "c2s/presence.h"

#include <string.h>

#include "c2s/sm.h"
#include "c2s/subscription.h"
#include "router/hooks.h"
#include "router/router.h"

#define NS_ROSTER "jabber:iq:roster"

static Server *server;

void presence_init(Server *srv)
{
    server = srv;
}

static SubState item_state(const RosterItem *it)
{
    return (SubState){it->to, it->from, it->pending_out, it->pending_in, it->approved};
}

static void item_set_state(RosterItem *it, const SubState *s)
{
    it->to = s->to;
    it->from = s->from;
    it->pending_out = s->pending_out;
    it->pending_in = s->pending_in;
    it->approved = s->approved;
}

void roster_item_to_xml(const RosterItem *it, XmlNode *parent)
{
    XmlNode *item = xml_node_add_child(parent, NS_ROSTER, "item");
    xml_node_set_attr(item, "jid", it->jid);
    if (it->removed) {
        xml_node_set_attr(item, "subscription", "remove");
        return;
    }
    if (it->name)
        xml_node_set_attr(item, "name", it->name);
    xml_node_set_attr(item, "subscription", roster_item_subscription(it));
    if (it->pending_out)
        xml_node_set_attr(item, "ask", "subscribe");
    if (it->approved)
        xml_node_set_attr(item, "approved", "true");
    for (guint i = 0; it->groups[i]; i++)
        xml_node_add_text(xml_node_add_child(item, NS_ROSTER, "group"), it->groups[i], -1);
}

void roster_push(const char *user, const RosterItem *it)
{
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (!cs->roster_requested)
            continue;
        g_autoptr(XmlNode) iq = xml_node_new(XML_NS_CLIENT, "iq");
        g_autofree char *id = stream_random_id();
        g_autofree char *ver = g_strdup_printf("%" G_GUINT64_FORMAT, it->ver);
        xml_node_set_attr(iq, "type", "set");
        xml_node_set_attr(iq, "id", id);
        xml_node_set_attr(iq, "to", jid_full(cs->jid));
        XmlNode *q = xml_node_add_child(iq, NS_ROSTER, "query");
        xml_node_set_attr(q, "ver", ver);
        roster_item_to_xml(it, q);
        c2s_send_el(cs, iq);
    }
}

/* A presence stanza from..to of type (NULL = available). transfer full */
static Stanza *make_presence(const char *from, const char *to, const char *type)
{
    XmlNode *el = xml_node_new(XML_NS_CLIENT, "presence");
    if (type)
        xml_node_set_attr(el, "type", type);
    xml_node_set_attr(el, "from", from);
    xml_node_set_attr(el, "to", to);
    return stanza_new(el, NULL);
}

/* Presence the server sends for a user; filters (blocking) may drop it, also on its way
 * to other servers. */
static void route(Stanza *st /* transfer full */)
{
    if (!st)
        return;
    StanzaEvent ev = {st, NULL};
    if (HOOK_FIRE("presence/out", &ev) == HOOK_HANDLED) {
        stanza_unref(st);
        return;
    }
    router_deliver(st);
}

/* Copy of a session's presence addressed to `to` (from = its full JID). */
static void send_presence_copy(C2sSession *cs, const char *to, const char *type)
{
    if (type || !cs->presence) {
        route(make_presence(jid_full(cs->jid), to, type ? type : "unavailable"));
        return;
    }
    Stanza *copy = stanza_copy(cs->presence);
    g_autoptr(Jid) tj = jid_new(to, NULL);
    if (!tj) {
        stanza_unref(copy);
        return;
    }
    stanza_set_to(copy, tj);
    route(copy);
}

/* Every available resource of user sends its presence (or `type`) to contact. */
static void send_all_resources(const char *user, const char *contact, const char *type)
{
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (cs->available)
            send_presence_copy(cs, contact, type);
    }
}

void presence_unavailable_to(const char *user, const char *contact)
{
    send_all_resources(user, contact, "unavailable");
}

static gboolean store_item(const char *user, RosterItem *it)
{
    g_autoptr(GError) err = NULL;
    if (!roster_put(server->store, user, it, &err)) {
        g_warning("roster of %s: cannot store %s: %s", user, it->jid, err->message);
        return FALSE;
    }
    return TRUE;
}

static RosterItem *load_item(const char *user, const char *contact)
{
    g_autoptr(GError) err = NULL;
    RosterItem *it = roster_get(server->store, user, contact, &err);
    if (err)
        g_warning("roster of %s: %s", user, err->message);
    return it ? it : roster_item_new(contact);
}

/* RFC 6121 §3: the user sends subscribe/subscribed/unsubscribe/unsubscribed. */
static void outbound_subscription(C2sSession *cs, Stanza *st, SubType type)
{
    const char *user = jid_bare(cs->jid);
    g_autoptr(Jid) contact = jid_to_bare(st->to);
    if (!strcmp(jid_bare(contact), user))
        return; /* a subscription to oneself means nothing */
    g_autoptr(RosterItem) it = load_item(user, jid_bare(contact));
    SubState s = item_state(it);
    SubAction a = sub_apply(&s, SUB_OUTBOUND, type, TRUE);
    gboolean added = FALSE;
    /* §3.1.2 subscribe, §3.1.5 approval: the contact joins the user's roster */
    if ((type == SUB_SUBSCRIBE || (s.from && !it->from)) && !it->in_roster) {
        it->in_roster = TRUE;
        added = TRUE;
    }
    SubState old = item_state(it);
    if (added || memcmp(&old, &s, sizeof s)) {
        item_set_state(it, &s);
        if (!store_item(user, it)) {
            router_bounce(st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
            return;
        }
        if ((a & SUB_ACT_PUSH) || added)
            if (it->in_roster)
                roster_push(user, it);
    }
    if (a & SUB_ACT_ROUTE) { /* §3.1.2: stamped with bare JIDs */
        Stanza *out = stanza_copy(st);
        g_autoptr(Jid) from = jid_to_bare(cs->jid);
        stanza_set_from(out, from);
        stanza_set_to(out, contact);
        route(out);
    }
    if (a & SUB_ACT_SEND_PRESENCE) /* §3.1.5 */
        send_all_resources(user, jid_bare(contact), NULL);
    if (a & SUB_ACT_SEND_UNAVAILABLE) /* §3.2.2 */
        send_all_resources(user, jid_bare(contact), "unavailable");
}

static void deliver_to_available(const char *user, Stanza *st)
{
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (cs->available)
            c2s_session_send(cs, st);
    }
}

/* RFC 6121 §3: a subscription stanza from a contact arrives for the user. */
static void inbound_subscription(Stanza *st, SubType type)
{
    g_autoptr(Jid) user_jid = jid_to_bare(st->to);
    g_autoptr(Jid) contact = jid_to_bare(st->from);
    const char *user = jid_bare(user_jid);
    g_autoptr(RosterItem) it = load_item(user, jid_bare(contact));
    SubState old = item_state(it);
    SubState s = old;
    SubAction a = sub_apply(&s, SUB_INBOUND, type, TRUE);
    if (memcmp(&old, &s, sizeof s)) {
        item_set_state(it, &s);
        if (!store_item(user, it))
            return; /* the sender retries; nothing was promised */
        if ((a & SUB_ACT_PUSH) && it->in_roster)
            roster_push(user, it);
    }
    if (a & SUB_ACT_AUTO_SUBSCRIBED) {
        route(make_presence(user, jid_bare(contact), "subscribed"));
        send_all_resources(user, jid_bare(contact), NULL);
    }
    if (a & SUB_ACT_DELIVER) { /* from the contact's bare JID, §3.1.3 */
        Stanza *copy = stanza_copy(st);
        stanza_set_from(copy, contact);
        stanza_set_to(copy, user_jid);
        deliver_to_available(user, copy); /* kept as pending-in for later logins too */
        stanza_unref(copy);
    }
    if (a & SUB_ACT_SEND_UNAVAILABLE)
        send_all_resources(user, jid_bare(contact), "unavailable");
}

/* RFC 6121 §4.3.2: answer a probe for a user whose contact may see presence. */
static void answer_probe(Stanza *st)
{
    g_autoptr(Jid) user_jid = jid_to_bare(st->to);
    g_autoptr(Jid) prober = jid_to_bare(st->from);
    const char *user = jid_bare(user_jid);
    gboolean allowed = jid_bare_equal(user_jid, prober);
    if (!allowed) {
        g_autoptr(GError) err = NULL;
        g_autoptr(RosterItem) it = roster_get(server->store, user, jid_bare(prober), &err);
        allowed = it && it->from;
    }
    if (!allowed)
        return; /* §4.3.2: no subscription, no answer */
    gboolean any = FALSE;
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (cs->available) {
            send_presence_copy(cs, jid_full(st->from), NULL);
            any = TRUE;
        }
    }
    if (!any)
        route(make_presence(user, jid_full(st->from), "unavailable"));
}

gboolean presence_inbound(Stanza *st)
{
    SubType type;
    if (!st->from)
        return TRUE;
    if (sub_type_parse(st->type, &type)) {
        inbound_subscription(st, type);
        return TRUE;
    }
    if (!g_strcmp0(st->type, "probe")) {
        answer_probe(st);
        return TRUE;
    }
    return FALSE;
}

/* Broadcast st (from = cs) to every contact with a 'from' subscription (§4.2.2, §4.4.2) */
static void broadcast_contacts(C2sSession *cs, Stanza *st, gboolean probe)
{
    const char *user = jid_bare(cs->jid);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) items = roster_list(server->store, user, NULL, &err);
    for (guint i = 0; items && i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        if (it->removed)
            continue;
        if (it->from) {
            Stanza *copy = stanza_copy(st);
            g_autoptr(Jid) to = jid_new(it->jid, NULL);
            if (to) {
                stanza_set_to(copy, to);
                route(copy);
            } else {
                stanza_unref(copy);
            }
            if (cs->directed)
                g_hash_table_remove(cs->directed, it->jid);
        }
        if (probe && it->to) /* §4.3.1: from the user's bare JID */
            route(make_presence(user, it->jid, "probe"));
        if (probe && it->pending_in) { /* §3.1.3: requests kept while offline */
            g_autoptr(Stanza) req = make_presence(it->jid, user, "subscribe");
            if (req)
                c2s_session_send(cs, req);
        }
    }
}

/* The user's own resources see each other (§4.2.2, §4.4.2). */
static void broadcast_own(C2sSession *cs, Stanza *st, gboolean initial)
{
    GPtrArray *list = sm_sessions_of(jid_bare(cs->jid));
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *o = g_ptr_array_index(list, i);
        if (o != cs && !o->available)
            continue;
        c2s_session_send(o, st);
        if (initial && o != cs && o->presence)
            c2s_session_send(cs, o->presence);
    }
}

static void send_directed_unavailable(C2sSession *cs)
{
    if (!cs->directed)
        return;
    GHashTableIter iter;
    gpointer key;
    g_hash_table_iter_init(&iter, cs->directed);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        route(make_presence(jid_full(cs->jid), key, "unavailable"));
    g_hash_table_remove_all(cs->directed);
}

/* Presence without 'to': the client's availability (§4.2, §4.4, §4.5). */
static void availability(C2sSession *cs, Stanza *st)
{
    gboolean avail = st->type == NULL;
    if (st->type && strcmp(st->type, "unavailable"))
        return; /* a client cannot probe or error into the void */
    gboolean was = cs->available;
    if (avail) {
        XmlNode *prio = xml_node_child(st->el, NULL, "priority");
        cs->priority = 0;
        if (prio) {
            g_autofree char *t = xml_node_text(prio);
            gint64 p = g_ascii_strtoll(t, NULL, 10);
            cs->priority = (int)CLAMP(p, -128, 127);
        }
    }
    if (!avail && !was)
        return;
    cs->available = !!avail;
    g_clear_pointer(&cs->presence, stanza_unref);
    if (avail)
        cs->presence = stanza_ref(st);
    broadcast_own(cs, st, avail && !was);
    broadcast_contacts(cs, st, avail && !was);
    if (!avail)
        send_directed_unavailable(cs);
    StanzaEvent ev = {st, cs};
    hook_fire(avail ? (was ? "presence/update" : "presence/initial") : "presence/unavailable", &ev);
}

void presence_from_client(C2sSession *cs, Stanza *st)
{
    SubType type;
    if (!st->to) {
        availability(cs, st);
        return;
    }
    if (sub_type_parse(st->type, &type)) {
        outbound_subscription(cs, st, type);
        return;
    }
    if (!g_strcmp0(st->type, "probe"))
        return; /* probes are the server's business (§4.3) */
    /* directed presence (§4.6): remember who must hear our unavailable at logout */
    if (!st->type && cs->available) {
        if (!cs->directed)
            cs->directed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_add(cs->directed, g_strdup(jid_full(st->to)));
    } else if (!g_strcmp0(st->type, "unavailable") && cs->directed) {
        g_hash_table_remove(cs->directed, jid_full(st->to));
    }
    router_deliver(stanza_ref(st));
}

void presence_session_gone(C2sSession *cs)
{
    if (cs->available) { /* §4.5.2, also for an abrupt disconnect */
        g_autoptr(Stanza) st = make_presence(jid_full(cs->jid), NULL, "unavailable");
        xml_node_set_attr(st->el, "to", NULL);
        availability(cs, st);
    } else {
        send_directed_unavailable(cs);
    }
    g_clear_pointer(&cs->directed, g_hash_table_destroy);
}
