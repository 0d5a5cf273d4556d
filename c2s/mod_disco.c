/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_disco.c — XEP-0030 service discovery of the server and the own account */
#include "c2s/modules.h"

#include <string.h>

#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_ITEMS "http://jabber.org/protocol/disco#items"

static GPtrArray *features;         /* char*, sorted when answered */
static GPtrArray *account_features; /* on the account's bare JID */

void disco_add_account_feature(const char *var)
{
    if (!account_features)
        account_features = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(account_features, g_strdup(var));
}

void disco_add_feature(const char *var)
{
    if (!features)
        features = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < features->len; i++)
        if (!strcmp(g_ptr_array_index(features, i), var))
            return;
    g_ptr_array_add(features, g_strdup(var));
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_identity(XmlNode *q, const char *category, const char *type, const char *name)
{
    XmlNode *id = xml_node_add_child(q, NULL, "identity");
    xml_node_set_attr(id, "category", category);
    xml_node_set_attr(id, "type", type);
    if (name)
        xml_node_set_attr(id, "name", name);
}

static HookResult on_info(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    XmlNode *in = stanza_iq_payload(ev->st);
    const char *node = xml_node_attr(in, "node");
    if (node) { /* no nodes yet: XEP-0030 §3.1 */
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_ITEM_NOT_FOUND, NULL));
        return HOOK_HANDLED;
    }
    gboolean self = GPOINTER_TO_INT(ud);
    Stanza *reply = stanza_iq_result(ev->st);
    XmlNode *q = xml_node_add_child(reply->el, NS_INFO, "query");
    if (self) {
        add_identity(q, "account", "registered", NULL);
        xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var", NS_INFO);
        for (guint i = 0; account_features && i < account_features->len; i++)
            xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var",
                              g_ptr_array_index(account_features, i));
    } else {
        add_identity(q, "server", "im", TERN_NAME);
        g_ptr_array_sort(features, cmp_str);
        for (guint i = 0; i < features->len; i++)
            xml_node_set_attr(xml_node_add_child(q, NULL, "feature"), "var",
                              g_ptr_array_index(features, i));
    }
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static HookResult on_items(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    XmlNode *in = stanza_iq_payload(ev->st);
    if (xml_node_attr(in, "node")) {
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_ITEM_NOT_FOUND, NULL));
        return HOOK_HANDLED;
    }
    Stanza *reply = stanza_iq_result(ev->st);
    XmlNode *q = xml_node_add_child(reply->el, NS_ITEMS, "query");
    StanzaEvent items = {reply, q}; /* modules add <item/>s to q */
    hook_fire("disco-items/host", &items);
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static const HookSpec disco_hooks[] = {
    {"iq-get/host/" NS_INFO, 0, on_info, GINT_TO_POINTER(FALSE)},
    {"iq-get/host/" NS_ITEMS, 0, on_items, NULL},
    {"iq-get/self/" NS_INFO, 0, on_info, GINT_TO_POINTER(TRUE)},
    {NULL},
};

static gboolean disco_init(Server *srv, GError **error)
{
    disco_add_feature(NS_INFO);
    disco_add_feature(NS_ITEMS);
    return TRUE;
}

static void disco_fini(void)
{
    g_clear_pointer(&features, g_ptr_array_unref);
    g_clear_pointer(&account_features, g_ptr_array_unref);
}

const ModuleDesc mod_disco = {
    .name = "disco",
    .init = disco_init,
    .fini = disco_fini,
    .hooks = disco_hooks,
};
