/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/modules.c — the list of local service modules and their shared helpers */
#include "c2s/modules.h"

#include "router/router.h"
#include "router/server.h"
#include "storage/storage.h"

const ModuleDesc *const c2s_modules[] = {
    &mod_disco,   &mod_ping,     &mod_session, &mod_version, &mod_register, &mod_roster,
    &mod_offline, &mod_blocking, &mod_vcard,   &mod_private, &mod_last,     &mod_carbons,
    &mod_csi,     &mod_mam,      &mod_caps,    &mod_push,    NULL,
};

void module_reply(StanzaEvent *ev, Stanza *reply)
{
    if (!reply)
        return;
    if (!reply->to) {
        stanza_unref(reply);
        return;
    }
    router_deliver(reply);
}

void module_reply_error(StanzaEvent *ev, StanzaErr err, const char *text)
{
    module_reply(ev, stanza_error_reply(ev->st, err, text));
}

Stanza *module_result(StanzaEvent *ev)
{
    Stanza *reply = stanza_iq_result(ev->st);
    stanza_set_from(reply, NULL);
    return reply;
}

HookResult module_reply_stored(StanzaEvent *ev, gboolean stored, const GError *err,
                               const char *what)
{
    if (stored) {
        module_reply(ev, module_result(ev));
        return HOOK_HANDLED;
    }
    g_warning("%s: cannot store data of %s: %s", what,
              ev->st->from ? jid_bare(ev->st->from) : "?", err ? err->message : "unknown error");
    module_reply_error(ev, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
    return HOOK_HANDLED;
}

XmlNode *module_load_element(Server *srv, const char *map, const char *owner, const char *key,
                             const char *ns, const char *name, gboolean *failed)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GBytes) v = store_map_get(srv->store, map, owner, key, &err);
    *failed = FALSE;
    if (!v) {
        if (err) {
            g_warning("%s: cannot read %s of %s: %s", map, key, owner, err->message);
            *failed = TRUE;
        }
        return NULL;
    }
    gsize len;
    const char *xml = g_bytes_get_data(v, &len);
    XmlNode *el = xml_parse_fragment(xml, len, &err);
    if (!el || !xml_node_is(el, ns, name)) {
        g_warning("%s: stored %s of %s is corrupt: %s", map, key, owner,
                  err ? err->message : "another element");
        g_clear_pointer(&el, xml_node_free);
    }
    return el;
}
