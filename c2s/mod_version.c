/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_version.c — XEP-0092 software version of the server */

#include "c2s/modules.h"

#define NS_VERSION "jabber:iq:version"

static HookResult on_version(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *reply = stanza_iq_result(ev->st);
    XmlNode *q = xml_node_add_child(reply->el, NS_VERSION, "query");
    xml_node_add_text(xml_node_add_child(q, NULL, "name"), TERN_NAME, -1);
    xml_node_add_text(xml_node_add_child(q, NULL, "version"), PACKAGE_VERSION, -1);
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static const HookSpec version_hooks[] = {
    {"iq-get/host/" NS_VERSION, 0, on_version, NULL},
    {NULL},
};

static gboolean version_init(Server *srv, GError **error)
{
    disco_add_feature(NS_VERSION);
    return TRUE;
}

const ModuleDesc mod_version = {
    .name = "version",
    .init = version_init,
    .hooks = version_hooks,
};
