/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/modules.h — the local service modules and their descriptors */
#pragma once

#include "router/hooks.h"
#include "c2s/c2s.h"

extern const ModuleDesc mod_disco;
extern const ModuleDesc mod_ping;
extern const ModuleDesc mod_session;
extern const ModuleDesc mod_version;
extern const ModuleDesc mod_register;
extern const ModuleDesc mod_roster;
extern const ModuleDesc mod_offline;
extern const ModuleDesc mod_carbons;
extern const ModuleDesc mod_csi;
extern const ModuleDesc mod_mam;
extern const ModuleDesc mod_caps;
extern const ModuleDesc mod_blocking;
extern const ModuleDesc mod_vcard;
extern const ModuleDesc mod_private;
extern const ModuleDesc mod_last;
extern const ModuleDesc mod_push;

/* NULL-terminated list in load order */
extern const ModuleDesc *const c2s_modules[];

/* XEP-0115 (c2s/mod_caps.c): verified features of a client's current presence, or NULL. */
const char *const *caps_features(const char *full_jid);
/* XEP-0352 (c2s/mod_csi.c) */
void csi_features(C2sSession *cs, XmlNode *features);
/* TRUE when el is held while the client is inactive (a copy is kept). */
gboolean csi_hold(C2sSession *cs, const XmlNode *el);
void csi_handle(C2sSession *cs, XmlNode *el); /* transfer full */
void csi_session_clear(C2sSession *cs);
/* XEP-0030 on the account's bare JID: features modules add (e.g. urn:xmpp:mam:2). */
void disco_add_account_feature(const char *var);
/* XEP-0030: features and identities other modules add to the server's disco#info. */
void disco_add_feature(const char *var);
/* XEP-0077 before authentication (jabber:iq:register on an unauthenticated stream).
 * st borrowed. */
void mod_register_preauth(C2sSession *cs, Stanza *st);
gboolean mod_register_enabled(void);
/* Reply helper: route reply (transfer full) to the client or elsewhere. */
void module_reply(StanzaEvent *ev, Stanza *reply);
/* The RFC 6120 §8.3 error reply to the event's iq, routed. */
void module_reply_error(StanzaEvent *ev, StanzaErr err, const char *text);
/* A result for the event's iq on behalf of the account: no 'from' (RFC 6120 §8.1.2.1).
 * transfer full; add a payload, then module_reply(). */
Stanza *module_result(StanzaEvent *ev);
/* The answer to the event's iq after a storage write: an empty result when stored, else
 * (err set) the failure logged for what ("vcard") and <internal-server-error/>. */
HookResult module_reply_stored(StanzaEvent *ev, gboolean stored, const GError *err,
                               const char *what);
/* The element {ns}name stored for owner under key in map (storage/storage.h), parsed with
 * the restricted parser. NULL when nothing is stored, or when what is stored is corrupt
 * (logged); NULL with *failed set when storage could not be read (logged). transfer full */
XmlNode *module_load_element(Server *srv, const char *map, const char *owner, const char *key,
                             const char *ns, const char *name, gboolean *failed);
