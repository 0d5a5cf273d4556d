/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/modules.h — the local service modules and their descriptors */
#pragma once

#include "router/hooks.h"
#include "c2s/c2s.h"

extern const ModuleDesc mod_disco;
extern const ModuleDesc mod_ping;
extern const ModuleDesc mod_version;
extern const ModuleDesc mod_register;
extern const ModuleDesc mod_roster;
extern const ModuleDesc mod_offline;

/* NULL-terminated list in load order */
extern const ModuleDesc *const c2s_modules[];

/* XEP-0030: features and identities other modules add to the server's disco#info. */
void disco_add_feature(const char *var);
/* XEP-0077 before authentication (jabber:iq:register on an unauthenticated stream).
 * st borrowed. */
void mod_register_preauth(C2sSession *cs, Stanza *st);
gboolean mod_register_enabled(void);
/* Reply helper: route reply (transfer full) to the client or elsewhere. */
void module_reply(StanzaEvent *ev, Stanza *reply);
