/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_session.c — RFC 3921 §3 session establishment, kept for older clients: the
 * feature is advertised <optional/> (c2s.c), so the request only needs its result */
#include "c2s/modules.h"

#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

static HookResult on_session(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    if (!ev->origin)
        return HOOK_PASS;
    module_reply(ev, module_result(ev));
    return HOOK_HANDLED;
}

static const HookSpec session_hooks[] = {
    {"iq-set/self/" NS_SESSION, 0, on_session, NULL},
    {NULL},
};

static gboolean session_init(Server *srv, GError **error)
{
    return TRUE;
}

const ModuleDesc mod_session = {
    .name = "session",
    .init = session_init,
    .hooks = session_hooks,
};
