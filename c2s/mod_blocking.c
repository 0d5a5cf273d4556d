/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_blocking.c — XEP-0191 blocking command (v1.3): blocklist, pushes, filters */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/presence.h"
#include "c2s/sm.h"
#include "router/router.h"
#include "storage/roster.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define MAP "blocklist" /* owner = user's bare JID, key = blocked JID as prepared, value "" */

static Server *server;
/* Resources that requested the blocklist (§3.3: they get pushes): bare JID -> set of the
 * sessions' Jid objects, each held by a reference: while we hold it no later session can
 * get a Jid at that address, so a mark never passes on; a resumed session (XEP-0198) keeps
 * its Jid and its mark. */
static GHashTable *interested;
/* TRUE while we announce unavailability to a JID that is now blocked (§3.3). */
static gboolean announcing;

/* §6 (the XEP-0016 §2.1 order): does the blocklist entry e cover the address j? */
static gboolean entry_covers(const Jid *e, const Jid *j)
{
    if (strcmp(jid_domain(e), jid_domain(j)))
        return FALSE;
    if (!jid_local(e) && !jid_resource(e))
        return TRUE; /* <domain>: the domain and every address at it */
    if (g_strcmp0(jid_local(e), jid_local(j)))
        return FALSE;
    return !jid_resource(e) || !g_strcmp0(jid_resource(e), jid_resource(j));
}

static GPtrArray *blocklist_keys(const char *user);

/* Blocklists are checked for every stanza to and from a user, so each user's list is read
 * from storage once and kept as a set; a block or unblock drops the user's entry. */
#define LISTS_CACHE_MAX 10000
static GHashTable *lists; /* owner -> GHashTable (set of blocked JID strings) */

static GHashTable *blocklist_set(const char *owner)
{
    GHashTable *set = g_hash_table_lookup(lists, owner);
    if (set)
        return set;
    g_autoptr(GPtrArray) keys = blocklist_keys(owner);
    if (!keys) /* fail open: a read error must not swallow the user's traffic */
        return NULL;
    if (g_hash_table_size(lists) >= LISTS_CACHE_MAX)
        g_hash_table_remove_all(lists);
    set = g_hash_table_new_full(jid_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < keys->len; i++)
        g_hash_table_add(set, g_strdup(g_ptr_array_index(keys, i)));
    g_hash_table_insert(lists, g_strdup(owner), set);
    return set;
}

/* Does owner's blocklist cover j? One lookup per §6 form. */
static gboolean is_blocked(const char *owner, const Jid *j)
{
    GHashTable *set = blocklist_set(owner);
    if (!set || g_hash_table_size(set) == 0)
        return FALSE;
    return g_hash_table_contains(set, jid_full(j)) ||
           (jid_resource(j) && g_hash_table_contains(set, jid_bare(j))) || /* bare or domain */
           (jid_local(j) && g_hash_table_contains(set, jid_domain(j)));
}

/* The user's own server (its bare domain) is never blocked: it serves the account (any
 * address of the user's). */
static gboolean is_own_server(const Jid *j, const Jid *user)
{
    return !jid_local(j) && !jid_resource(j) && !strcmp(jid_domain(j), jid_domain(user));
}

static void reply_ok(StanzaEvent *ev)
{
    Stanza *ok = module_result(ev);
    module_reply(ev, ok);
}

/* Forget marks of sessions that are gone. */
static void prune_interested(const char *user)
{
    GHashTable *set = g_hash_table_lookup(interested, user);
    if (!set)
        return;
    GPtrArray *list = sm_sessions_of(user);
    GHashTableIter it;
    gpointer id;
    g_hash_table_iter_init(&it, set);
    while (g_hash_table_iter_next(&it, &id, NULL)) {
        gboolean live = FALSE;
        for (guint i = 0; list && i < list->len && !live; i++) {
            C2sSession *cs = g_ptr_array_index(list, i);
            live = cs->jid == id;
        }
        if (!live)
            g_hash_table_iter_remove(&it);
    }
    if (g_hash_table_size(set) == 0)
        g_hash_table_remove(interested, user);
}

/* §3.3, §3.4, §3.5: an iq-set with a copy of payload to every interested resource. */
static void push(const char *user, const XmlNode *payload)
{
    prune_interested(user);
    GHashTable *set = g_hash_table_lookup(interested, user);
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; set && list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (!g_hash_table_contains(set, cs->jid))
            continue;
        g_autoptr(XmlNode) iq = xml_node_new(XML_NS_CLIENT, "iq");
        g_autofree char *id = stream_random_id();
        xml_node_set_attr(iq, "type", "set");
        xml_node_set_attr(iq, "id", id);
        xml_node_set_attr(iq, "to", jid_full(cs->jid));
        xml_node_append(iq, xml_node_copy(payload));
        c2s_send_el(cs, iq);
    }
}

static gboolean collect_key(const char *key, const void *val, gsize len, gpointer ud)
{
    g_ptr_array_add(ud, g_strdup(key));
    return TRUE;
}

/* Every blocked JID of user (GPtrArray of char*), NULL on a storage error. transfer full */
static GPtrArray *blocklist_keys(const char *user)
{
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    if (!store_map_foreach(server->store, MAP, user, collect_key, keys, &err)) {
        g_warning("blocking: cannot list the blocklist of %s: %s", user, err->message);
        g_ptr_array_unref(keys);
        return NULL;
    }
    return keys;
}

/* §3.2 */
static HookResult on_blocklist(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    if (!xml_node_is(stanza_iq_payload(ev->st), NS_BLOCKING, "blocklist")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <blocklist/>");
        return HOOK_HANDLED;
    }
    const char *user = jid_bare(cs->jid);
    g_autoptr(GPtrArray) keys = blocklist_keys(user);
    if (!keys) {
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return HOOK_HANDLED;
    }
    Stanza *reply = module_result(ev);
    XmlNode *list = xml_node_add_child(reply->el, NS_BLOCKING, "blocklist");
    for (guint i = 0; i < keys->len; i++)
        xml_node_set_attr(xml_node_add_child(list, NULL, "item"), "jid",
                          g_ptr_array_index(keys, i));
    module_reply(ev, reply);
    GHashTable *set = g_hash_table_lookup(interested, user);
    if (!set) {
        set = g_hash_table_new_full(NULL, NULL, (GDestroyNotify)jid_unref, NULL);
        g_hash_table_insert(interested, g_strdup(user), set);
    }
    if (!g_hash_table_contains(set, cs->jid))
        g_hash_table_add(set, jid_ref(cs->jid));
    prune_interested(user);
    return HOOK_HANDLED;
}

/* The <item jid/> children of el, prepared (GPtrArray of Jid*); NULL + *bad on a malformed
 * item. transfer full */
static GPtrArray *parse_items(const XmlNode *el, gboolean *bad)
{
    GPtrArray *jids = g_ptr_array_new_with_free_func((GDestroyNotify)jid_unref);
    *bad = FALSE;
    for (XmlNode *it = xml_node_child(el, NS_BLOCKING, "item"); it;
         it = xml_node_next_element(it, NS_BLOCKING, "item")) {
        const char *s = xml_node_attr(it, "jid");
        Jid *j = s ? jid_new(s, NULL) : NULL;
        if (!j) {
            *bad = TRUE;
            g_ptr_array_unref(jids);
            return NULL;
        }
        g_ptr_array_add(jids, j);
    }
    return jids;
}

/* <block/> or <unblock/> with one <item/> per JID, for the pushes. transfer full */
static XmlNode *items_element(const char *name, GPtrArray *jids)
{
    XmlNode *el = xml_node_new(NS_BLOCKING, name);
    for (guint i = 0; jids && i < jids->len; i++)
        xml_node_set_attr(xml_node_add_child(el, NULL, "item"), "jid",
                          jid_full(g_ptr_array_index(jids, i)));
    return el;
}

/* Where the user's presence about contact (a roster JID) goes for entry e: the contact's
 * bare JID when e covers it, e itself when e is one full JID of the contact; else NULL. */
static const char *presence_target(const Jid *e, const RosterItem *it, Jid **contact)
{
    g_autoptr(Jid) c = jid_new(it->jid, NULL);
    if (!c)
        return NULL;
    if (entry_covers(e, c)) {
        *contact = g_steal_pointer(&c);
        return jid_bare(*contact);
    }
    if (jid_resource(e) && !strcmp(jid_bare(e), jid_bare(c))) {
        *contact = g_steal_pointer(&c);
        return jid_full(e);
    }
    return NULL;
}

/* The first of entries (Jid*) that concerns roster item it: its presence target (above),
 * the entry in *entry (when not NULL). */
static const char *find_target(GPtrArray *entries, const RosterItem *it, Jid **contact,
                               const Jid **entry)
{
    for (guint i = 0; !it->removed && i < entries->len; i++) {
        const char *target = presence_target(g_ptr_array_index(entries, i), it, contact);
        if (target) {
            if (entry)
                *entry = g_ptr_array_index(entries, i);
            return target;
        }
    }
    return NULL;
}

static gboolean any_covers(GPtrArray *entries, const Jid *j)
{
    for (guint i = 0; i < entries->len; i++)
        if (entry_covers(g_ptr_array_index(entries, i), j))
            return TRUE;
    return FALSE;
}

/* Unavailable presence from `from` to every available resource of user (delivered directly:
 * the filter would drop it, `from` being blocked now). */
static void unavailable_to_user(const char *user, const char *from)
{
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (!cs->available)
            continue;
        XmlNode *el = xml_node_new(XML_NS_CLIENT, "presence");
        xml_node_set_attr(el, "type", "unavailable");
        xml_node_set_attr(el, "from", from);
        xml_node_set_attr(el, "to", jid_full(cs->jid));
        g_autoptr(Stanza) p = stanza_new(el, NULL);
        if (p)
            c2s_session_send(cs, p);
    }
}

/* §3.3: entries (Jid*) are now blocked. The JIDs allowed to see the user's presence
 * (RFC 6121 'from' subscription, directed presence) get unavailable; the user's resources
 * get unavailable from what they saw of them ('to' subscription). */
static void blocked_effects(const char *user, GPtrArray *entries)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) items = roster_list(server->store, user, NULL, &err);
    announcing = TRUE;
    for (guint i = 0; items && i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        g_autoptr(Jid) contact = NULL;
        const Jid *e = NULL;
        const char *target = find_target(entries, it, &contact, &e);
        if (!target)
            continue;
        if (it->from)
            presence_unavailable_to(user, target);
        if (!it->to)
            continue;
        if (!server_is_hosted(server, jid_domain(contact))) {
            unavailable_to_user(user, target); /* remote: the address is all we know */
            continue;
        }
        GPtrArray *theirs = sm_sessions_of(jid_bare(contact));
        for (guint k = 0; theirs && k < theirs->len; k++) {
            C2sSession *o = g_ptr_array_index(theirs, k);
            if (o->available && entry_covers(e, o->jid))
                unavailable_to_user(user, jid_full(o->jid));
        }
    }
    GPtrArray *mine = sm_sessions_of(user);
    for (guint i = 0; mine && i < mine->len; i++) { /* RFC 6121 §4.6 directed presence */
        C2sSession *cs = g_ptr_array_index(mine, i);
        if (!cs->directed)
            continue;
        GHashTableIter iter;
        gpointer key;
        g_hash_table_iter_init(&iter, cs->directed);
        while (g_hash_table_iter_next(&iter, &key, NULL)) {
            g_autoptr(Jid) to = jid_new(key, NULL);
            if (!to || !any_covers(entries, to))
                continue;
            XmlNode *el = xml_node_new(XML_NS_CLIENT, "presence");
            xml_node_set_attr(el, "type", "unavailable");
            xml_node_set_attr(el, "from", jid_full(cs->jid));
            xml_node_set_attr(el, "to", key);
            Stanza *p = stanza_new(el, NULL);
            g_hash_table_iter_remove(&iter);
            if (p)
                router_deliver(p);
        }
    }
    announcing = FALSE;
}

/* §3.4: entries (Jid*) are unblocked. Who may see the user's presence gets the current
 * one; contacts the user is subscribed to are probed so the user's resources learn theirs
 * again. Not for a contact that another entry still blocks. */
static void unblocked_effects(const char *user, GPtrArray *entries)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) items = roster_list(server->store, user, NULL, &err);
    GPtrArray *mine = sm_sessions_of(user);
    for (guint i = 0; items && i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        g_autoptr(Jid) contact = NULL;
        const char *target = find_target(entries, it, &contact, NULL);
        g_autoptr(Jid) to = target ? jid_new(target, NULL) : NULL;
        if (!to || is_blocked(user, to))
            continue;
        for (guint k = 0; it->from && mine && k < mine->len; k++) {
            C2sSession *cs = g_ptr_array_index(mine, k);
            if (!cs->available || !cs->presence)
                continue;
            Stanza *copy = stanza_copy(cs->presence);
            stanza_set_to(copy, to);
            router_deliver(copy);
        }
        if (it->to && mine) { /* RFC 6121 §4.3.1: from the user's bare JID */
            XmlNode *el = xml_node_new(XML_NS_CLIENT, "presence");
            xml_node_set_attr(el, "type", "probe");
            xml_node_set_attr(el, "from", user);
            xml_node_set_attr(el, "to", jid_bare(contact));
            Stanza *p = stanza_new(el, NULL);
            if (p)
                router_deliver(p);
        }
    }
}

static void on_block(StanzaEvent *ev, C2sSession *cs, XmlNode *block)
{
    const char *user = jid_bare(cs->jid);
    g_hash_table_remove(lists, user); /* read again after this change */
    gboolean bad;
    g_autoptr(GPtrArray) jids = parse_items(block, &bad);
    if (bad) {
        module_reply_error(ev, STANZA_ERR_JID_MALFORMED, "an item has no valid 'jid'");
        return;
    }
    if (jids->len == 0) { /* §3.3 */
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "<block/> needs at least one <item/>");
        return;
    }
    g_autoptr(StoreBatch) batch = store_batch_new();
    g_autoptr(GPtrArray) fresh = g_ptr_array_new();
    for (guint i = 0; i < jids->len; i++) {
        Jid *j = g_ptr_array_index(jids, i);
        g_autoptr(GError) err = NULL;
        g_autoptr(GBytes) old = store_map_get(server->store, MAP, user, jid_full(j), &err);
        if (!old)
            g_ptr_array_add(fresh, j);
        store_batch_set(batch, MAP, user, jid_full(j), "", 0);
    }
    g_autoptr(GError) err = NULL;
    if (!store_batch_commit(server->store, batch, &err)) {
        g_warning("blocking: cannot store the blocklist of %s: %s", user, err->message);
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    reply_ok(ev);
    g_autoptr(XmlNode) pushed = items_element("block", jids);
    push(user, pushed);
    blocked_effects(user, fresh);
}

static void on_unblock(StanzaEvent *ev, C2sSession *cs, XmlNode *unblock)
{
    const char *user = jid_bare(cs->jid);
    g_hash_table_remove(lists, user); /* read again after this change */
    gboolean bad;
    g_autoptr(GPtrArray) jids = parse_items(unblock, &bad);
    if (bad) {
        module_reply_error(ev, STANZA_ERR_JID_MALFORMED, "an item has no valid 'jid'");
        return;
    }
    g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func((GDestroyNotify)jid_unref);
    g_autoptr(GError) err = NULL;
    if (jids->len == 0) { /* §3.5: unblock all */
        g_autoptr(GPtrArray) keys = blocklist_keys(user);
        if (!keys || !store_map_delete_owner(server->store, MAP, user, &err)) {
            module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
            return;
        }
        for (guint i = 0; i < keys->len; i++) {
            Jid *j = jid_new(g_ptr_array_index(keys, i), NULL);
            if (j)
                g_ptr_array_add(gone, j);
        }
    } else { /* §3.4 */
        for (guint i = 0; i < jids->len; i++) {
            Jid *j = g_ptr_array_index(jids, i);
            g_autoptr(GBytes) old = store_map_get(server->store, MAP, user, jid_full(j), NULL);
            if (!store_map_delete(server->store, MAP, user, jid_full(j), &err)) {
                g_warning("blocking: cannot unblock for %s: %s", user, err->message);
                module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
                return;
            }
            if (old)
                g_ptr_array_add(gone, jid_ref(j));
        }
    }
    reply_ok(ev);
    g_autoptr(XmlNode) pushed = items_element("unblock", jids);
    push(user, pushed);
    unblocked_effects(user, gone);
}

static HookResult on_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *payload = stanza_iq_payload(ev->st);
    if (xml_node_is(payload, NS_BLOCKING, "block"))
        on_block(ev, cs, payload);
    else if (xml_node_is(payload, NS_BLOCKING, "unblock"))
        on_unblock(ev, cs, payload);
    else
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <block/> or <unblock/>");
    return HOOK_HANDLED;
}

/* §3.3: a stanza for a local account. From an address it blocks: presence is dropped, a
 * message or an iq get/set gets <service-unavailable/>, anything else is dropped. The
 * other direction: what the server itself sends on behalf of a local user (presence
 * broadcasts, probes and probe answers) never reaches an address that user blocks. */
static HookResult on_to_user(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *st = ev->st;
    if (!st->from || jid_bare_equal(st->from, st->to)) /* §5: own resources never blocked */
        return HOOK_PASS;
    if (!is_own_server(st->from, st->to) && is_blocked(jid_bare(st->to), st->from)) {
        gboolean request = st->kind == STANZA_KIND_IQ &&
                           (!g_strcmp0(st->type, "get") || !g_strcmp0(st->type, "set"));
        if (st->kind == STANZA_KIND_MESSAGE || request)
            router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        return HOOK_HANDLED;
    }
    if (announcing || stanza_is_error(st) || !jid_local(st->from) ||
        !server_is_hosted(server, jid_domain(st->from)))
        return HOOK_PASS;
    if (st->kind == STANZA_KIND_PRESENCE && st->type && strcmp(st->type, "unavailable") &&
        strcmp(st->type, "probe"))
        return HOOK_PASS; /* subscription management (roster removal) still flows */
    return is_blocked(jid_bare(st->from), st->to) ? HOOK_HANDLED : HOOK_PASS;
}

/* §3.3: the user's own stanza to a blocked address is refused, not routed. */
static HookResult on_outbound(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    Stanza *st = ev->st;
    if (!cs || !st->to || jid_bare_equal(st->to, cs->jid) || is_own_server(st->to, cs->jid))
        return HOOK_PASS;
    if (!is_blocked(jid_bare(cs->jid), st->to))
        return HOOK_PASS;
    g_autoptr(Stanza) reply = stanza_error_reply(st, STANZA_ERR_NOT_ACCEPTABLE, NULL);
    if (reply) { /* straight to the client: the reply comes 'from' the blocked address */
        XmlNode *error = reply->el->last_child;
        if (error && xml_node_is(error, NULL, "error"))
            xml_node_add_child(error, NS_BLOCKING_ERRORS, "blocked");
        c2s_session_send(cs, reply);
    }
    return HOOK_HANDLED;
}

/* Presence the server sends on the user's behalf (broadcast, probe answers) never
 * reaches a blocked entity, local or remote; subscription management still flows. */
static HookResult on_presence_out(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *st = ev->st;
    if (announcing || !st->from || !st->to || !jid_local(st->from))
        return HOOK_PASS; /* the unavailable that announces the block itself goes out */
    if (st->type && strcmp(st->type, "unavailable") && strcmp(st->type, "probe"))
        return HOOK_PASS;
    return is_blocked(jid_bare(st->from), st->to) ? HOOK_HANDLED : HOOK_PASS;
}

/* A login reads the list from storage again: it may have been changed by another process
 * (ternctl import) or belong to an account deleted and created again. */
static HookResult on_login(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (cs && cs->jid)
        g_hash_table_remove(lists, jid_bare(cs->jid));
    return HOOK_PASS;
}

static const HookSpec blocking_hooks[] = {
    {"iq-get/self/" NS_BLOCKING, 0, on_blocklist, NULL},
    {"iq-set/self/" NS_BLOCKING, 0, on_set, NULL},
    {"stanza/to-user", 100, on_to_user, NULL},
    {"stanzas/in", 100, on_outbound, NULL},
    {"presence/out", 100, on_presence_out, NULL},
    {"presence/initial", 100, on_login, NULL},
    {NULL},
};

static gboolean blocking_init(Server *srv, GError **error)
{
    server = srv;
    lists = g_hash_table_new_full(jid_str_hash, g_str_equal, g_free,
                                  (GDestroyNotify)g_hash_table_unref);
    interested = g_hash_table_new_full(jid_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify)g_hash_table_unref);
    disco_add_feature(NS_BLOCKING);
    return TRUE;
}

static void blocking_fini(void)
{
    g_clear_pointer(&interested, g_hash_table_destroy);
    g_clear_pointer(&lists, g_hash_table_destroy);
}

const ModuleDesc mod_blocking = {
    .name = "blocking",
    .init = blocking_init,
    .fini = blocking_fini,
    .hooks = blocking_hooks,
};
