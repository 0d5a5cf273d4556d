/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/privilege.h — XEP-0356 privileged entity: what a component may do for accounts */
#pragma once

#include <glib.h>
#include "router/server.h"
#include "router/stanza.h"

#define NS_PRIVILEGE "urn:xmpp:privilege:2" /* XEP-0356 0.4 */

typedef enum {
    PRIV_ROSTER_NONE = 0,
    PRIV_ROSTER_GET = 1 << 0,
    PRIV_ROSTER_SET = 1 << 1,
    PRIV_ROSTER_BOTH = PRIV_ROSTER_GET | PRIV_ROSTER_SET,
} PrivRoster;

typedef enum {
    PRIV_PRESENCE_NONE,
    PRIV_PRESENCE_MANAGED_ENTITY, /* §6.1: the accounts' own presence */
    PRIV_PRESENCE_ROSTER,         /* §6.4: also the presence their contacts send them */
} PrivPresence;

/* One component's permissions, from its [component <domain>] section. */
typedef struct {
    PrivRoster roster;
    gboolean message; /* 'outgoing' (§5.1) */
    PrivPresence presence;
} PrivPerms;

/* From the config values (borrowed; the config already checked them). */
void privilege_perms_parse(PrivPerms *p, const char *roster, const char *message,
                           const char *presence);
gboolean privilege_any(const PrivPerms *p);

/* §4.2, §5.2, §6.2: the <message/> advertising p, from server_domain to component.
 * transfer full; NULL when p grants nothing. */
Stanza *privilege_advertisement(const PrivPerms *p, const char *server_domain,
                                const char *component);

/* A stanza from a component with permissions p (borrowed; its 'from' already checked to be
 * the component's). TRUE when it is a privileged request (a roster iq to an account's bare
 * JID, a <privilege/> message to a hosted domain): it was handled here and *reply is the
 * answer for the component (transfer full, may be NULL). FALSE: route it as usual. */
gboolean privilege_handle(Server *srv, const PrivPerms *p, Stanza *st, Stanza **reply);

/* §6.4: st (borrowed) is presence an account receives from one of its contacts (the
 * account is subscribed to the sender's presence), available or unavailable. */
gboolean privilege_is_contact_presence(Server *srv, const Stanza *st);
/* §6.1, §6.4: a copy of presence st (borrowed), from its sender, to the component. */
void privilege_forward_presence(const Stanza *st, const char *component);
