/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/privilege.c — XEP-0356 privileged entity (urn:xmpp:privilege:2): roster access and
 * messages on behalf of hosted accounts for the components of router/component.c */
#include "router/privilege.h"

#include <string.h>

#include "c2s/presence.h"
#include "router/router.h"
#include "router/stream.h"
#include "storage/accounts.h"
#include "storage/roster.h"

#define NS_ROSTER "jabber:iq:roster"
#define NS_FORWARD "urn:xmpp:forward:0"

void privilege_perms_parse(PrivPerms *p, const char *roster, const char *message,
                           const char *presence)
{
    p->roster = !strcmp(roster, "both")  ? PRIV_ROSTER_BOTH
                : !strcmp(roster, "set") ? PRIV_ROSTER_SET
                : !strcmp(roster, "get") ? PRIV_ROSTER_GET
                                         : PRIV_ROSTER_NONE;
    p->message = !strcmp(message, "outgoing");
    p->presence = !strcmp(presence, "roster")           ? PRIV_PRESENCE_ROSTER
                  : !strcmp(presence, "managed_entity") ? PRIV_PRESENCE_MANAGED_ENTITY
                                                        : PRIV_PRESENCE_NONE;
}

gboolean privilege_any(const PrivPerms *p)
{
    return p->roster != PRIV_ROSTER_NONE || p->message || p->presence != PRIV_PRESENCE_NONE;
}

static XmlNode *add_perm(XmlNode *priv, const char *access, const char *type)
{
    XmlNode *perm = xml_node_add_child(priv, NULL, "perm");
    xml_node_set_attr(perm, "access", access);
    xml_node_set_attr(perm, "type", type);
    return perm;
}

Stanza *privilege_advertisement(const PrivPerms *p, const char *server_domain,
                                const char *component)
{
    if (!privilege_any(p))
        return NULL;
    XmlNode *el = xml_node_new(XML_NS_COMPONENT, "message");
    g_autofree char *id = stream_random_id();
    xml_node_set_attr(el, "from", server_domain);
    xml_node_set_attr(el, "to", component);
    xml_node_set_attr(el, "id", id);
    XmlNode *priv = xml_node_add_child(el, NS_PRIVILEGE, "privilege");
    if (p->roster != PRIV_ROSTER_NONE) { /* §4.2 */
        static const char *const names[] = {"none", "get", "set", "both"};
        XmlNode *perm = add_perm(priv, "roster", names[p->roster]);
        /* §4.2: roster pushes are not sent to components (yet): say so */
        xml_node_set_attr(perm, "push", "false");
    }
    if (p->message) /* §5.2 */
        add_perm(priv, "message", "outgoing");
    if (p->presence != PRIV_PRESENCE_NONE) /* §6.2, §6.5 */
        add_perm(priv, "presence",
                 p->presence == PRIV_PRESENCE_ROSTER ? "roster" : "managed_entity");
    return stanza_new(el, NULL);
}

static gboolean visible(const RosterItem *it)
{
    return it->in_roster && !it->removed;
}

/* §4.3: answered as the account itself would be (RFC 6121 §2.1.3). transfer full */
static Stanza *roster_get_reply(Server *srv, Stanza *st, const char *user)
{
    guint64 ver = 0;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) items = roster_list(srv->store, user, &ver, &err);
    if (!items) {
        g_warning("privileged roster get of %s: %s", user, err->message);
        return stanza_error_reply(st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    }
    Stanza *reply = stanza_iq_result(st);
    XmlNode *q = xml_node_add_child(reply->el, NS_ROSTER, "query");
    g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, ver);
    xml_node_set_attr(q, "ver", v);
    for (guint i = 0; i < items->len; i++) {
        RosterItem *it = g_ptr_array_index(items, i);
        if (visible(it))
            roster_item_to_xml(it, q);
    }
    return reply;
}

/* §4.3: a roster set as the account would send it (RFC 6121 §2.3); the account's
 * interested resources get the push. transfer full */
static Stanza *roster_set_reply(Server *srv, Stanza *st, const char *user)
{
    g_autoptr(RosterItem) push = NULL;
    Stanza *reply = roster_apply_set(srv, st, user, &push);
    if (push)
        roster_push(user, push);
    return reply;
}

/* §4.3: a roster get/set addressed to an account's bare JID. */
static gboolean roster_request(Server *srv, const PrivPerms *p, Stanza *st, Stanza **reply)
{
    XmlNode *q = stanza_iq_payload(st);
    if (!q || !xml_node_is(q, NS_ROSTER, "query") || !st->type ||
        (strcmp(st->type, "get") && strcmp(st->type, "set")))
        return FALSE;
    if (!jid_local(st->to) || jid_resource(st->to) || !server_is_hosted(srv, jid_domain(st->to)))
        return FALSE;
    gboolean get = !strcmp(st->type, "get");
    if (!(p->roster & (get ? PRIV_ROSTER_GET : PRIV_ROSTER_SET))) {
        *reply = stanza_error_reply(st, STANZA_ERR_FORBIDDEN,
                                    get ? "no permission to read rosters"
                                        : "no permission to change rosters");
        return TRUE;
    }
    const char *user = jid_bare(st->to);
    if (!account_exists(srv->store, user)) { /* RFC 6121 §8.5.1 */
        *reply = stanza_error_reply(st, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
        return TRUE;
    }
    *reply = get ? roster_get_reply(srv, st, user) : roster_set_reply(srv, st, user);
    return TRUE;
}

static gboolean is_content_ns(const char *ns)
{
    return !strcmp(ns, XML_NS_CLIENT) || !strcmp(ns, XML_NS_SERVER) ||
           !strcmp(ns, XML_NS_COMPONENT);
}

/* §5.3: <message to='server'><privilege><forwarded><message from='user@server'/>... */
static gboolean message_request(Server *srv, const PrivPerms *p, Stanza *st, Stanza **reply)
{
    XmlNode *priv = xml_node_child(st->el, NS_PRIVILEGE, "privilege");
    if (!priv || jid_local(st->to) || jid_resource(st->to) ||
        !server_is_hosted(srv, jid_domain(st->to)))
        return FALSE;
    if (stanza_is_error(st))
        return TRUE;   /* nothing to do with an error about it */
    if (!p->message) { /* §5.1 */
        *reply = stanza_error_reply(st, STANZA_ERR_FORBIDDEN,
                                    "no permission to send messages for accounts");
        return TRUE;
    }
    XmlNode *fwd = xml_node_child(priv, NS_FORWARD, "forwarded");
    XmlNode *inner = fwd ? xml_node_child(fwd, NULL, "message") : NULL;
    if (!inner || !is_content_ns(inner->ns)) {
        *reply = stanza_error_reply(st, STANZA_ERR_BAD_REQUEST,
                                    "<privilege/> carries a <forwarded/> <message/>");
        return TRUE;
    }
    const char *from = xml_node_attr(inner, "from");
    g_autoptr(Jid) fj = from ? jid_new(from, NULL) : NULL;
    /* §5.1: on behalf of the server or of an account: a bare JID of a hosted domain */
    if (!fj || jid_resource(fj) || !server_is_hosted(srv, jid_domain(fj)) ||
        (jid_local(fj) && !account_exists(srv->store, jid_bare(fj)))) {
        *reply = stanza_error_reply(st, STANZA_ERR_FORBIDDEN,
                                    "the forwarded 'from' must be a bare JID of this server");
        return TRUE;
    }
    if (!xml_node_attr(inner, "to")) {
        *reply =
            stanza_error_reply(st, STANZA_ERR_BAD_REQUEST, "the forwarded message needs a 'to'");
        return TRUE;
    }
    XmlNode *copy = xml_node_copy(inner);
    xml_node_set_attr(copy, "from", jid_bare(fj));
    Stanza *out = stanza_new(copy, NULL);
    if (!out) {
        *reply = stanza_error_reply(st, STANZA_ERR_JID_MALFORMED,
                                    "the forwarded 'to' is not a valid JID");
        return TRUE;
    }
    router_deliver(out); /* as if the account sent it */
    return TRUE;
}

gboolean privilege_handle(Server *srv, const PrivPerms *p, Stanza *st, Stanza **reply)
{
    *reply = NULL;
    if (!st->to)
        return FALSE;
    if (st->kind == STANZA_KIND_IQ)
        return roster_request(srv, p, st, reply);
    if (st->kind == STANZA_KIND_MESSAGE)
        return message_request(srv, p, st, reply);
    return FALSE;
}

gboolean privilege_is_contact_presence(Server *srv, const Stanza *st)
{
    if (st->kind != STANZA_KIND_PRESENCE || !st->from || !st->to || !jid_local(st->to) ||
        (st->type && strcmp(st->type, "unavailable")))
        return FALSE;
    g_autoptr(RosterItem) it = roster_get(srv->store, jid_bare(st->to), jid_bare(st->from), NULL);
    return it && it->to;
}

void privilege_forward_presence(const Stanza *st, const char *component)
{
    g_autoptr(Jid) to = jid_new(component, NULL);
    if (!to || !st->from)
        return;
    Stanza *copy = stanza_copy(st);
    stanza_set_to(copy, to);
    router_deliver(copy);
}
