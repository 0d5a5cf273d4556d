/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_carbons.c — XEP-0280 message carbons: every resource sees the conversation */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/sm.h"

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"

/* XEP-0280 §6: chat, normal with a body, or IM payloads (receipts, chat states, markers);
 * never with <private/> or <no-copy/>, never a carbon of a carbon. */
static gboolean eligible(const Stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    if (st->kind != STANZA_KIND_MESSAGE || !strcmp(type, "groupchat") ||
        !strcmp(type, "headline") || !strcmp(type, "error"))
        return FALSE;
    if (xml_node_child(st->el, NS_CARBONS, NULL) || xml_node_child(st->el, NS_HINTS, "no-copy"))
        return FALSE;
    if (!strcmp(type, "chat"))
        return TRUE;
    if (xml_node_child(st->el, XML_NS_CLIENT, "body") || xml_node_child(st->el, NULL, "body"))
        return TRUE;
    return xml_node_child(st->el, "urn:xmpp:receipts", NULL) ||
           xml_node_child(st->el, "http://jabber.org/protocol/chatstates", NULL) ||
           xml_node_child(st->el, "urn:xmpp:chat-markers:0", NULL);
}

static void send_copy(C2sSession *to, const Stanza *st, const char *how)
{
    g_autoptr(XmlNode) m = xml_node_new(XML_NS_CLIENT, "message");
    xml_node_set_attr(m, "from", jid_bare(to->jid));
    xml_node_set_attr(m, "to", jid_full(to->jid));
    xml_node_set_attr(m, "type", st->type ? st->type : "normal");
    XmlNode *wrap = xml_node_add_child(m, NS_CARBONS, how);
    XmlNode *fwd = xml_node_add_child(wrap, NS_FORWARD, "forwarded");
    xml_node_append(fwd, xml_node_copy(st->el));
    c2s_send_el(to, m);
}

/* §7: copies of a received message for the other enabled resources */
static HookResult on_delivered(const char *event, gpointer data, gpointer ud)
{
    DeliveredEvent *ev = data;
    if (!ev->n_recipients || !eligible(ev->st))
        return HOOK_PASS;
    C2sSession *first = ev->recipients[0];
    GPtrArray *list = sm_sessions_of(jid_bare(first->jid));
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *o = g_ptr_array_index(list, i);
        gboolean got = FALSE;
        for (guint j = 0; j < ev->n_recipients; j++)
            got = got || ev->recipients[j] == o;
        if (o->carbons && !got)
            send_copy(o, ev->st, "received");
    }
    return HOOK_PASS;
}

/* §8: copies of a sent message for the sender's other enabled resources */
static HookResult on_sent(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs || !ev->st->to || !eligible(ev->st))
        return HOOK_PASS;
    GPtrArray *list = sm_sessions_of(jid_bare(cs->jid));
    for (guint i = 0; list && i < list->len; i++) {
        C2sSession *o = g_ptr_array_index(list, i);
        /* the recipient resource itself gets the message, not a copy */
        if (o != cs && o->carbons && !jid_equal(o->jid, ev->st->to))
            send_copy(o, ev->st, "sent");
    }
    return HOOK_PASS;
}

static HookResult on_toggle(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *p = stanza_iq_payload(ev->st);
    if (!p || strcmp(p->ns, NS_CARBONS) ||
        (strcmp(p->name, "enable") && strcmp(p->name, "disable"))) {
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_BAD_REQUEST, NULL));
        return HOOK_HANDLED;
    }
    cs->carbons = !strcmp(p->name, "enable");
    Stanza *ok = module_result(ev);
    module_reply(ev, ok);
    return HOOK_HANDLED;
}

static const HookSpec carbons_hooks[] = {
    {"iq-set/self/" NS_CARBONS, 0, on_toggle, NULL},
    {"iq-set/host/" NS_CARBONS, 0, on_toggle, NULL}, /* some clients address it */
    {"message/delivered", 0, on_delivered, NULL},
    {"stanzas/in", -10, on_sent, NULL},
    {NULL},
};

static gboolean carbons_init(Server *srv, GError **error)
{
    disco_add_feature(NS_CARBONS);
    return TRUE;
}

const ModuleDesc mod_carbons = {
    .name = "carbons",
    .init = carbons_init,
    .hooks = carbons_hooks,
};
