/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_private.c — XEP-0049 private XML storage, one map key per stored element */
#include "c2s/modules.h"

#include <string.h>

#define NS_PRIVATE "jabber:iq:private"
#define MAP "private" /* owner = bare JID, key "{ns}localname", value = serialized element */

static Server *server;

/* XEP-0049 §2.3: a child needs a proper namespace of its own; the stream namespaces and
 * jabber:iq:private itself are refused with <not-acceptable/>. */
static gboolean ns_allowed(const XmlNode *el)
{
    return el->ns && *el->ns && strcmp(el->ns, XML_NS_CLIENT) && strcmp(el->ns, XML_NS_SERVER) &&
           strcmp(el->ns, NS_PRIVATE);
}

static char *element_key(const XmlNode *el)
{
    return g_strdup_printf("{%s}%s", el->ns, el->name);
}

/* Checks the <query/> of a request: at least one child, all in allowed namespaces. */
static gboolean query_valid(StanzaEvent *ev, XmlNode *query)
{
    XmlNode *first = xml_node_first_element(query);
    if (!first) { /* §2.3 */
        module_reply_error(ev, STANZA_ERR_NOT_ACCEPTABLE, "the query needs a child element");
        return FALSE;
    }
    for (XmlNode *el = first; el; el = xml_node_next_element(el, NULL, NULL))
        if (!ns_allowed(el)) {
            module_reply_error(ev, STANZA_ERR_NOT_ACCEPTABLE, "this namespace cannot be stored");
            return FALSE;
        }
    return TRUE;
}

/* §2.3: get: the stored element, or the requested one empty when nothing is stored. */
static HookResult on_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *query = stanza_iq_payload(ev->st);
    if (!xml_node_is(query, NS_PRIVATE, "query")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <query/>");
        return HOOK_HANDLED;
    }
    if (!query_valid(ev, query))
        return HOOK_HANDLED;
    XmlNode *want = xml_node_first_element(query);
    if (xml_node_next_element(want, NULL, NULL)) { /* §2.3: one namespace per get */
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "a get asks for one element");
        return HOOK_HANDLED;
    }
    g_autofree char *key = element_key(want);
    gboolean failed;
    XmlNode *found =
        module_load_element(server, MAP, jid_bare(cs->jid), key, want->ns, want->name, &failed);
    if (failed) {
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return HOOK_HANDLED;
    }
    Stanza *reply = module_result(ev);
    XmlNode *q = xml_node_add_child(reply->el, NS_PRIVATE, "query");
    xml_node_append(q, found ? found : xml_node_new(want->ns, want->name));
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* §2.3: set: each child element replaces what is stored under its name; all or nothing. */
static HookResult on_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *query = stanza_iq_payload(ev->st);
    if (!xml_node_is(query, NS_PRIVATE, "query")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <query/>");
        return HOOK_HANDLED;
    }
    if (!query_valid(ev, query))
        return HOOK_HANDLED;
    g_autoptr(StoreBatch) batch = store_batch_new();
    for (XmlNode *el = xml_node_first_element(query); el;
         el = xml_node_next_element(el, NULL, NULL)) {
        g_autofree char *key = element_key(el);
        g_autofree char *xml = xml_node_to_string(el);
        store_batch_set(batch, MAP, jid_bare(cs->jid), key, xml, strlen(xml));
    }
    g_autoptr(GError) err = NULL;
    gboolean stored = store_batch_commit(server->store, batch, &err);
    return module_reply_stored(ev, stored, err, "private");
}

/* §2.3, §4: nobody but the user reads or writes the user's private data. */
static HookResult on_other(const char *event, gpointer data, gpointer ud)
{
    module_reply_error(data, STANZA_ERR_FORBIDDEN, "private data belongs to its owner");
    return HOOK_HANDLED;
}

static const HookSpec private_hooks[] = {
    {"iq-get/self/" NS_PRIVATE, 0, on_get, NULL},
    {"iq-set/self/" NS_PRIVATE, 0, on_set, NULL},
    {"iq-get/bare/" NS_PRIVATE, 0, on_other, NULL},
    {"iq-set/bare/" NS_PRIVATE, 0, on_other, NULL},
    {NULL},
};

static gboolean private_init(Server *srv, GError **error)
{
    server = srv;
    disco_add_feature(NS_PRIVATE);
    return TRUE;
}

const ModuleDesc mod_private = {
    .name = "private",
    .init = private_init,
    .hooks = private_hooks,
};
