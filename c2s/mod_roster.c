/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_roster.c — RFC 6121 §2 roster (get answers the stored roster; empty for now) */
#include "c2s/modules.h"

#include <string.h>

#define NS_ROSTER "jabber:iq:roster"

static HookResult on_roster_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *reply = stanza_iq_result(ev->st);
    stanza_set_from(reply, NULL); /* RFC 6120 §8.1.2.1: on behalf of the account */
    xml_node_add_child(reply->el, NS_ROSTER, "query");
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static HookResult on_roster_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    /* TODO: storage of roster items lands with the instant-messaging issue */
    module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
                                        "roster changes are not stored yet"));
    return HOOK_HANDLED;
}

static gboolean roster_init(Server *srv, GError **error)
{
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
