/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_ping.c — XEP-0199: answer pings to the server and to accounts */
#include "c2s/modules.h"

#define NS_PING "urn:xmpp:ping"

static HookResult on_ping(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    module_reply(ev, stanza_iq_result(ev->st));
    return HOOK_HANDLED;
}

static const HookSpec ping_hooks[] = {
    {"iq-get/host/" NS_PING, 0, on_ping, NULL},
    {"iq-get/self/" NS_PING, 0, on_ping, NULL},
    {NULL},
};

static gboolean ping_init(Server *srv, GError **error)
{
    disco_add_feature(NS_PING);
    return TRUE;
}

const ModuleDesc mod_ping = {
    .name = "ping",
    .init = ping_init,
    .hooks = ping_hooks,
};
