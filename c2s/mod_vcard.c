/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_vcard.c — XEP-0054 vcard-temp: the own vCard and other accounts' vCards */
#include "c2s/modules.h"

#include <string.h>

#define NS_VCARD "vcard-temp"
#define MAP "vcard" /* owner = bare JID, key "vcard", value = the serialized <vCard/> */
#define KEY "vcard"

static Server *server;

/* The stored vCard of owner, or an empty <vCard/> when there is none. transfer full */
static XmlNode *load_vcard(const char *owner, gboolean *failed)
{
    XmlNode *el = module_load_element(server, MAP, owner, KEY, NS_VCARD, "vCard", failed);
    return el || *failed ? el : xml_node_new(NS_VCARD, "vCard");
}

/* XEP-0054 §3.1 (own, iq-get/self) and §3.3 (another account's, iq-get/bare; sm already
 * answered <service-unavailable/> when there is no such account). */
static HookResult on_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    gboolean self = GPOINTER_TO_INT(ud);
    if (!xml_node_is(stanza_iq_payload(ev->st), NS_VCARD, "vCard")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <vCard/>");
        return HOOK_HANDLED;
    }
    g_autoptr(Jid) owner = jid_to_bare(ev->st->to);
    gboolean failed;
    XmlNode *vcard = load_vcard(jid_bare(owner), &failed);
    if (failed) {
        module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return HOOK_HANDLED;
    }
    Stanza *reply = stanza_iq_result(ev->st);
    if (self)
        stanza_set_from(reply, NULL);
    xml_node_append(reply->el, vcard);
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* XEP-0054 §3.2: the user publishes (replaces) their own vCard. */
static HookResult on_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *vcard = stanza_iq_payload(ev->st);
    if (!xml_node_is(vcard, NS_VCARD, "vCard")) {
        module_reply_error(ev, STANZA_ERR_BAD_REQUEST, "expected <vCard/>");
        return HOOK_HANDLED;
    }
    g_autofree char *xml = xml_node_to_string(vcard);
    gsize len = strlen(xml);
    if ((gint64)len > config_get_int(server->config, "limits", "vcard_size")) {
        module_reply_error(ev, STANZA_ERR_NOT_ACCEPTABLE, "the vCard is too large");
        return HOOK_HANDLED;
    }
    g_autoptr(GError) err = NULL;
    gboolean stored = store_map_set(server->store, MAP, jid_bare(cs->jid), KEY, xml, len, &err);
    return module_reply_stored(ev, stored, err, "vcard");
}

/* Only the owner may change a vCard. */
static HookResult on_set_other(const char *event, gpointer data, gpointer ud)
{
    module_reply_error(data, STANZA_ERR_FORBIDDEN, "only the owner may change a vCard");
    return HOOK_HANDLED;
}

static const HookSpec vcard_hooks[] = {
    {"iq-get/self/" NS_VCARD, 0, on_get, GINT_TO_POINTER(TRUE)},
    {"iq-get/bare/" NS_VCARD, 0, on_get, GINT_TO_POINTER(FALSE)},
    {"iq-set/self/" NS_VCARD, 0, on_set, NULL},
    {"iq-set/bare/" NS_VCARD, 0, on_set_other, NULL},
    {NULL},
};

static gboolean vcard_init(Server *srv, GError **error)
{
    server = srv;
    disco_add_feature(NS_VCARD);
    return TRUE;
}

const ModuleDesc mod_vcard = {
    .name = "vcard",
    .init = vcard_init,
    .hooks = vcard_hooks,
};
