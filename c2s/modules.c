/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/modules.c — the list of local service modules and their shared helpers */
#include "c2s/modules.h"

#include "router/router.h"

const ModuleDesc *const c2s_modules[] = {
    &mod_disco,    &mod_ping,  &mod_version, &mod_register, &mod_roster,  &mod_offline,
    &mod_blocking, &mod_vcard, &mod_private, &mod_last,     &mod_carbons, &mod_csi,
    &mod_mam,      &mod_caps,  &mod_push,    NULL,
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
