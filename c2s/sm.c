/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/sm.c — session manager: resources and local delivery rules (RFC 6121 §8) */
#include "c2s/sm.h"

#include "c2s/presence.h"

#include <string.h>

#include "router/hooks.h"
#include "router/router.h"
#include "storage/accounts.h"

static Server *server;
static GHashTable *by_full; /* full JID string -> C2sSession (borrowed) */
static GHashTable *by_bare; /* bare JID string -> GPtrArray of C2sSession */

void sm_init(Server *srv)
{
    server = srv;
    by_full = g_hash_table_new(jid_str_hash, g_str_equal);
    by_bare =
        g_hash_table_new_full(jid_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
}

void sm_fini(void)
{
    g_clear_pointer(&by_full, g_hash_table_destroy);
    g_clear_pointer(&by_bare, g_hash_table_destroy);
}

GPtrArray *sm_sessions_of(const char *bare)
{
    return g_hash_table_lookup(by_bare, bare);
}

C2sSession *sm_session(const Jid *full)
{
    return g_hash_table_lookup(by_full, jid_full(full));
}

guint sm_session_count(void)
{
    return g_hash_table_size(by_full);
}

void sm_foreach_session(void (*fn)(C2sSession *cs, gpointer ud), gpointer ud)
{
    GHashTableIter it;
    gpointer cs;
    g_hash_table_iter_init(&it, by_full);
    while (g_hash_table_iter_next(&it, NULL, &cs))
        fn(cs, ud);
}

guint sm_user_count(void)
{
    return g_hash_table_size(by_bare);
}

gboolean sm_bind(C2sSession *cs, const char *requested, StanzaErr *err, const char **why)
{
    g_autofree char *bare = g_strconcat(cs->username, "@", cs->domain, NULL);
    GPtrArray *list = g_hash_table_lookup(by_bare, bare);
    guint max = config_get_int(server->config, "c2s", "max_resources");
    if (list && list->len >= max) { /* RFC 6120 §7.6.2.1 */
        *err = STANZA_ERR_RESOURCE_CONSTRAINT;
        *why = "too many resources are connected for this account";
        return FALSE;
    }
    g_autoptr(Jid) jid = NULL;
    if (requested) {
        g_autoptr(GError) e = NULL;
        jid = jid_new_parts(cs->username, cs->domain, requested, &e);
        if (!jid) { /* RFC 6120 §7.7.2.1 */
            *err = STANZA_ERR_BAD_REQUEST;
            *why = "the resource is not a valid resourcepart";
            return FALSE;
        }
        if (g_hash_table_contains(by_full, jid_full(jid)))
            g_clear_pointer(&jid, jid_unref); /* RFC 6120 §7.7.2.2: override it */
    }
    while (!jid) {
        g_autofree char *res = stream_random_id();
        jid = jid_new_parts(cs->username, cs->domain, res, NULL);
        if (jid && g_hash_table_contains(by_full, jid_full(jid)))
            g_clear_pointer(&jid, jid_unref);
    }
    cs->jid = g_steal_pointer(&jid);
    g_hash_table_insert(by_full, (gpointer)jid_full(cs->jid), cs);
    if (!list) {
        list = g_ptr_array_new();
        g_hash_table_insert(by_bare, g_strdup(jid_bare(cs->jid)), list);
    }
    g_ptr_array_add(list, cs);
    return TRUE;
}

void sm_unbind(C2sSession *cs)
{
    if (!cs->jid || g_hash_table_lookup(by_full, jid_full(cs->jid)) != cs)
        return;
    presence_session_gone(cs); /* RFC 6121 §4.6.3: also on an abrupt close */
    g_hash_table_remove(by_full, jid_full(cs->jid));
    GPtrArray *list = g_hash_table_lookup(by_bare, jid_bare(cs->jid));
    if (list) {
        g_ptr_array_remove(list, cs);
        if (list->len == 0)
            g_hash_table_remove(by_bare, jid_bare(cs->jid));
    }
    g_message("c2s: %s gone", jid_full(cs->jid));
}

/* "iq-get/host/urn:xmpp:ping" and friends */
static char *iq_event_name(const Stanza *st, const char *where)
{
    XmlNode *payload = stanza_iq_payload(st);
    return g_strconcat("iq-", st->type, "/", where, "/", payload ? payload->ns : "", NULL);
}

static gboolean iq_type_valid(const Stanza *st)
{
    return st->type && (!strcmp(st->type, "get") || !strcmp(st->type, "set") ||
                        !strcmp(st->type, "result") || !strcmp(st->type, "error"));
}

static gboolean iq_is_request(const Stanza *st)
{
    return !strcmp(st->type, "get") || !strcmp(st->type, "set");
}

/* iq handled by the server itself (to the domain, or to an account's bare JID). */
static void deliver_iq_local(Stanza *st, C2sSession *origin, const char *where)
{
    if (!iq_is_request(st)) { /* answers to the server's own queries (e.g. caps) */
        XmlNode *payload = stanza_iq_payload(st);
        g_autofree char *ev_name =
            g_strconcat("iq-", st->type, "/", where, "/", payload ? payload->ns : "", NULL);
        StanzaEvent ev = {st, origin};
        hook_fire(ev_name, &ev);
        return; /* nobody else waits for them */
    }
    XmlNode *payload = stanza_iq_payload(st);
    if (!payload || xml_node_next_element(payload, NULL, NULL)) { /* RFC 6120 §8.2.3 */
        router_bounce(st, STANZA_ERR_BAD_REQUEST, "an iq request has exactly one child");
        return;
    }
    g_autofree char *ev_name = iq_event_name(st, where);
    StanzaEvent ev = {st, origin};
    if (hook_fire(ev_name, &ev) == HOOK_HANDLED)
        return;
    router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
}

/* RFC 6121 §8.5.2: to a bare JID. */
static void deliver_bare(Stanza *st, C2sSession *origin)
{
    GPtrArray *list = g_hash_table_lookup(by_bare, jid_bare(st->to));
    switch (st->kind) {
    case STANZA_KIND_IQ:
        deliver_iq_local(st, origin, "bare");
        return;
    case STANZA_KIND_MESSAGE: {
        StanzaEvent ev = {st, origin};
        if (HOOK_FIRE("message/bare", &ev) == HOOK_HANDLED)
            return;
        int best = -1;
        for (guint i = 0; list && i < list->len; i++) {
            C2sSession *o = g_ptr_array_index(list, i);
            if (o->available && o->priority >= 0 && o->priority > best)
                best = o->priority;
        }
        g_autoptr(GPtrArray) got = g_ptr_array_new();
        const char *type = st->type ? st->type : "normal";
        if (best >= 0 && strcmp(type, "groupchat") && strcmp(type, "error")) {
            /* §8.5.2.1.1: every highest-priority non-negative resource */
            for (guint i = 0; i < list->len; i++) {
                C2sSession *o = g_ptr_array_index(list, i);
                if (o->available && o->priority == best) {
                    c2s_session_send(o, st);
                    g_ptr_array_add(got, o);
                }
            }
        }
        if (got->len) {
            DeliveredEvent dev = {st, (C2sSession *const *)got->pdata, got->len};
            HOOK_FIRE("message/delivered", &dev);
            return;
        }
        if (HOOK_FIRE("message/offline", &ev) == HOOK_HANDLED)
            return;
        /* §8.5.2.2.1: no offline storage for this message: tell the sender */
        if (!strcmp(type, "headline") || !strcmp(type, "error"))
            return;
        router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, "the recipient is not online");
        return;
    }
    case STANZA_KIND_PRESENCE: {
        StanzaEvent ev = {st, origin};
        if (HOOK_FIRE("presence/bare", &ev) == HOOK_HANDLED)
            return;
        if (st->type && !strcmp(st->type, "probe"))
            return; /* answered by the roster module once it knows subscriptions */
        for (guint i = 0; list && i < list->len; i++) { /* §8.5.2.1.2 */
            C2sSession *o = g_ptr_array_index(list, i);
            if (o->available && o->priority >= 0)
                c2s_session_send(o, st);
        }
        return;
    }
    case STANZA_KIND_OTHER:
        return;
    }
}

static void deliver_local(Stanza *st, C2sSession *origin)
{
    if (st->kind == STANZA_KIND_IQ && !iq_type_valid(st)) {
        router_bounce(st, STANZA_ERR_BAD_REQUEST, "iq type must be get, set, result or error");
        return;
    }
    if (!jid_local(st->to)) { /* the server itself */
        if (jid_resource(st->to) && st->kind == STANZA_KIND_IQ && iq_is_request(st)) {
            router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
            return;
        }
        if (st->kind == STANZA_KIND_IQ) {
            deliver_iq_local(st, origin, "host");
        } else {
            StanzaEvent ev = {st, origin};
            const char *name = st->kind == STANZA_KIND_MESSAGE ? "message/host" : "presence/host";
            if (hook_fire(name, &ev) != HOOK_HANDLED && st->kind == STANZA_KIND_MESSAGE &&
                g_strcmp0(st->type, "error") && g_strcmp0(st->type, "headline"))
                router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        }
        return;
    }
    GPtrArray *list = g_hash_table_lookup(by_bare, jid_bare(st->to));
    if (!list && !account_exists(server->store, jid_bare(st->to))) { /* §8.5.1 */
        if (st->kind != STANZA_KIND_PRESENCE)
            router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    StanzaEvent ev = {st, origin};
    if (HOOK_FIRE("stanza/to-user", &ev) == HOOK_HANDLED)
        return; /* a filter (e.g. blocking, XEP-0191) took it */
    if (st->kind == STANZA_KIND_PRESENCE && presence_inbound(st))
        return; /* subscriptions and probes (RFC 6121 §3, §4.3) */
    if (st->kind == STANZA_KIND_MESSAGE && HOOK_FIRE("message/to-user", &ev) == HOOK_HANDLED)
        return; /* e.g. the archive (XEP-0313) stamps it first and passes */
    if (!jid_resource(st->to)) {
        deliver_bare(st, origin);
        return;
    }
    C2sSession *target = g_hash_table_lookup(by_full, jid_full(st->to));
    if (target) { /* §8.5.3.1 */
        c2s_session_send(target, st);
        if (st->kind == STANZA_KIND_MESSAGE) {
            C2sSession *const one[] = {target};
            DeliveredEvent dev = {st, one, 1};
            HOOK_FIRE("message/delivered", &dev);
        }
        return;
    }
    /* §8.5.3.2: no such resource */
    switch (st->kind) {
    case STANZA_KIND_MESSAGE:
        if (!g_strcmp0(st->type, "groupchat"))
            router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        else if (g_strcmp0(st->type, "error"))
            deliver_bare(st, origin);
        return;
    case STANZA_KIND_IQ:
        if (iq_is_request(st))
            router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        return;
    case STANZA_KIND_PRESENCE:
        if (st->type && (!strcmp(st->type, "subscribe") || !strcmp(st->type, "subscribed") ||
                         !strcmp(st->type, "unsubscribe") || !strcmp(st->type, "unsubscribed")))
            deliver_bare(st, origin);
        return;
    case STANZA_KIND_OTHER:
        return;
    }
}

void sm_deliver(Stanza *st, gpointer ud)
{
    deliver_local(st, NULL);
    stanza_unref(st);
}

void sm_from_client(C2sSession *cs, Stanza *st)
{
    g_autoptr(Stanza) owned = st;
    StanzaEvent ev = {st, cs};
    if (HOOK_FIRE("stanzas/in", &ev) == HOOK_HANDLED)
        return;
    if (st->kind == STANZA_KIND_PRESENCE) {
        presence_from_client(cs, st);
        return;
    }
    if (!st->to) {
        /* RFC 6120 §10.3: no 'to' = the account's bare JID, handled by the server */
        g_autoptr(Jid) bare = jid_to_bare(cs->jid);
        stanza_set_to(st, bare);
        if (st->kind == STANZA_KIND_IQ) {
            if (!iq_type_valid(st))
                router_bounce(st, STANZA_ERR_BAD_REQUEST, NULL);
            else
                deliver_iq_local(st, cs, "self");
            return;
        }
    }
    if (st->kind == STANZA_KIND_IQ && jid_bare_equal(st->to, cs->jid) && !jid_resource(st->to)) {
        if (!iq_type_valid(st))
            router_bounce(st, STANZA_ERR_BAD_REQUEST, NULL);
        else
            deliver_iq_local(st, cs, "self");
        return;
    }
    if (server_is_hosted(server, jid_domain(st->to))) {
        deliver_local(st, cs);
        return;
    }
    router_deliver(stanza_ref(st));
}
