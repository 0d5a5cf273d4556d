/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_last.c — XEP-0012 last activity: server uptime, accounts' last logout */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/sm.h"
#include "storage/roster.h"

#define NS_LAST "jabber:iq:last"
#define MAP "lastactivity" /* owner = bare JID, key "last", value "<unix seconds>\n<status>" */
#define KEY "last"

static Server *server;
static gint64 started; /* monotonic µs at init: the server's uptime (§5) */

/* A result with <query seconds='…'>text</query> (text may be NULL). */
static void reply_seconds(StanzaEvent *ev, gint64 seconds, const char *text, gboolean self)
{
    Stanza *reply = stanza_iq_result(ev->st);
    if (self)
        stanza_set_from(reply, NULL);
    XmlNode *q = xml_node_add_child(reply->el, NS_LAST, "query");
    g_autofree char *s = g_strdup_printf("%" G_GINT64_FORMAT, MAX(seconds, 0));
    xml_node_set_attr(q, "seconds", s);
    if (text && *text)
        xml_node_add_text(q, text, -1);
    module_reply(ev, reply);
}

/* §5: the server answers with its uptime. */
static HookResult on_host(const char *event, gpointer data, gpointer ud)
{
    reply_seconds(data, (g_get_monotonic_time() - started) / G_USEC_PER_SEC, NULL, FALSE);
    return HOOK_HANDLED;
}

/* §3 and §8: only the user and entities allowed to see the user's presence (a 'from'
 * subscription in the user's roster) learn when the user was last online. */
static gboolean may_see(const char *user, const Jid *requester)
{
    g_autoptr(Jid) bare = jid_to_bare(requester);
    if (!strcmp(jid_bare(bare), user))
        return TRUE;
    g_autoptr(GError) err = NULL;
    g_autoptr(RosterItem) it = roster_get(server->store, user, jid_bare(bare), &err);
    if (err)
        g_warning("last: roster of %s: %s", user, err->message);
    return it && it->from;
}

/* §3: a query to an account's bare JID, answered by the server for the account. */
static HookResult on_account(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    gboolean self = GPOINTER_TO_INT(ud);
    g_autoptr(Jid) owner = jid_to_bare(ev->st->to);
    const char *user = jid_bare(owner);
    if (!ev->st->from || !may_see(user, ev->st->from)) {
        module_reply_error(ev, STANZA_ERR_FORBIDDEN, NULL);
        return HOOK_HANDLED;
    }
    GPtrArray *list = sm_sessions_of(user);
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *cs = g_ptr_array_index(list, i);
        if (cs->available) { /* §3: at least one available resource: 0 */
            reply_seconds(ev, 0, NULL, self);
            return HOOK_HANDLED;
        }
    }
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) v = store_map_get(server->store, MAP, user, KEY, &err);
    if (!v) {
        if (err) {
            g_warning("last: cannot read the last activity of %s: %s", user, err->message);
            module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        } else {
            module_reply_error(ev, STANZA_ERR_ITEM_NOT_FOUND, "no logout recorded yet");
        }
        return HOOK_HANDLED;
    }
    gsize len;
    const char *raw = g_bytes_get_data(v, &len);
    g_autofree char *rec = g_strndup(raw, len);
    char *nl = strchr(rec, '\n');
    if (nl)
        *nl++ = '\0';
    gint64 when = g_ascii_strtoll(rec, NULL, 10);
    reply_seconds(ev, g_get_real_time() / G_USEC_PER_SEC - when, nl, self);
    return HOOK_HANDLED;
}

/* Record the time and <status/> of the unavailable presence (also an abrupt disconnect). */
static HookResult on_unavailable(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs || !cs->jid)
        return HOOK_PASS;
    XmlNode *status = xml_node_child(ev->st->el, XML_NS_CLIENT, "status");
    g_autofree char *text = status ? xml_node_text(status) : g_strdup("");
    g_autofree char *rec =
        g_strdup_printf("%" G_GINT64_FORMAT "\n%s", g_get_real_time() / G_USEC_PER_SEC, text);
    g_autoptr(GError) err = NULL;
    if (!store_map_set(server->store, MAP, jid_bare(cs->jid), KEY, rec, strlen(rec), &err))
        g_warning("last: cannot record the logout of %s: %s", jid_bare(cs->jid), err->message);
    return HOOK_PASS;
}

static const HookSpec last_hooks[] = {
    {"iq-get/host/" NS_LAST, 0, on_host, NULL},
    {"iq-get/bare/" NS_LAST, 0, on_account, GINT_TO_POINTER(FALSE)},
    {"iq-get/self/" NS_LAST, 0, on_account, GINT_TO_POINTER(TRUE)},
    {"presence/unavailable", 0, on_unavailable, NULL},
    {NULL},
};

static gboolean last_init(Server *srv, GError **error)
{
    server = srv;
    started = g_get_monotonic_time();
    disco_add_feature(NS_LAST);
    return TRUE;
}

const ModuleDesc mod_last = {
    .name = "last",
    .init = last_init,
    .hooks = last_hooks,
};
