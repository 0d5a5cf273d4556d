/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/subscription.h — the RFC 6121 Appendix A subscription state machine (pure) */
#pragma once

#include <glib.h>

typedef enum { SUB_OUTBOUND, SUB_INBOUND } SubDirection;
typedef enum { SUB_SUBSCRIBE, SUB_SUBSCRIBED, SUB_UNSUBSCRIBE, SUB_UNSUBSCRIBED } SubType;

typedef struct {
    gboolean to, from, pending_out, pending_in, approved;
} SubState;

typedef enum {
    SUB_ACT_NONE = 0,
    SUB_ACT_ROUTE = 1 << 0,            /* outbound: route the stanza to the contact */
    SUB_ACT_DELIVER = 1 << 1,          /* inbound: deliver it to the user's resources */
    SUB_ACT_AUTO_SUBSCRIBED = 1 << 2,  /* inbound subscribe: answer 'subscribed' for the user */
    SUB_ACT_SEND_PRESENCE = 1 << 3,    /* send the user's current presence to the contact */
    SUB_ACT_SEND_UNAVAILABLE = 1 << 4, /* send unavailable from the user's resources */
    SUB_ACT_PUSH = 1 << 5,             /* the roster item changed: roster push */
} SubAction;

/* Apply one subscription stanza, seen from the user's server (the user's roster item for
 * the contact is *s). Returns the actions to take. `preapproval` is the server's support
 * for RFC 6121 §3.4. */
SubAction sub_apply(SubState *s, SubDirection dir, SubType type, gboolean preapproval);
gboolean sub_type_parse(const char *type, SubType *out);
/* "None", "None + Pending Out", ... as RFC 6121 Appendix A names the states */
const char *sub_state_name(const SubState *s);
