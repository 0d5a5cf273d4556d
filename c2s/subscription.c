/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/subscription.c — RFC 6121 Appendix A, one table row per case */
#include "c2s/subscription.h"

#include <string.h>

gboolean sub_type_parse(const char *type, SubType *out)
{
    static const char *const names[] = {"subscribe", "subscribed", "unsubscribe", "unsubscribed"};
    for (guint i = 0; type && i < G_N_ELEMENTS(names); i++)
        if (!strcmp(type, names[i])) {
            *out = (SubType)i;
            return TRUE;
        }
    return FALSE;
}

const char *sub_state_name(const SubState *s)
{
    if (s->to && s->from)
        return "Both";
    if (s->to)
        return s->pending_in ? "To + Pending In" : "To";
    if (s->from)
        return s->pending_out ? "From + Pending Out" : "From";
    if (s->pending_out && s->pending_in)
        return "None + Pending Out+In";
    if (s->pending_out)
        return "None + Pending Out";
    if (s->pending_in)
        return "None + Pending In";
    return "None";
}

/* A.2: the user sends a subscription stanza to the contact. */
static SubAction outbound(SubState *s, SubType type, gboolean preapproval)
{
    SubState old = *s;
    switch (type) {
    case SUB_SUBSCRIBE: /* A.2.1: always routed (§3.1.2) */
        if (!s->to)
            s->pending_out = TRUE;
        return SUB_ACT_ROUTE | (memcmp(&old, s, sizeof old) ? SUB_ACT_PUSH : 0);
    case SUB_UNSUBSCRIBE: /* A.2.2: routed (§3.3.2) */
        s->to = FALSE;
        s->pending_out = FALSE;
        return SUB_ACT_ROUTE | (memcmp(&old, s, sizeof old) ? SUB_ACT_PUSH : 0);
    case SUB_SUBSCRIBED: /* A.2.3 */
        if (s->pending_in) {
            s->pending_in = FALSE;
            s->from = TRUE;
            s->approved = FALSE;
            return SUB_ACT_ROUTE | SUB_ACT_SEND_PRESENCE | SUB_ACT_PUSH;
        }
        if (!s->from && preapproval && !s->approved) { /* §3.4 pre-approval */
            s->approved = TRUE;
            return SUB_ACT_PUSH;
        }
        return SUB_ACT_NONE;                             /* no state change: not routed */
    case SUB_UNSUBSCRIBED:                               /* A.2.4 */
        if (!s->from && !s->pending_in && s->approved) { /* §3.4: cancel, not routed */
            s->approved = FALSE;
            return SUB_ACT_PUSH;
        }
        if (s->from || s->pending_in) {
            gboolean was_from = s->from;
            s->from = FALSE;
            s->pending_in = FALSE;
            s->approved = FALSE;
            return SUB_ACT_ROUTE | SUB_ACT_PUSH | (was_from ? SUB_ACT_SEND_UNAVAILABLE : 0);
        }
        return SUB_ACT_NONE;
    }
    return SUB_ACT_NONE;
}

/* A.3: the contact's stanza arrives for the user. */
static SubAction inbound(SubState *s, SubType type)
{
    switch (type) {
    case SUB_SUBSCRIBE: /* A.3.1 */
        if (s->from)    /* §3.1.3: already subscribed: answer for the user */
            return SUB_ACT_AUTO_SUBSCRIBED;
        if (s->approved) { /* §3.4: pre-approved */
            s->approved = FALSE;
            s->from = TRUE;
            s->pending_in = FALSE;
            return SUB_ACT_AUTO_SUBSCRIBED | SUB_ACT_SEND_PRESENCE | SUB_ACT_PUSH;
        }
        if (s->pending_in)
            return SUB_ACT_DELIVER; /* no state change; a reminder is harmless */
        s->pending_in = TRUE;
        return SUB_ACT_DELIVER;
    case SUB_UNSUBSCRIBE: /* A.3.2 */
        if (s->from || s->pending_in) {
            gboolean was_from = s->from;
            s->from = FALSE;
            s->pending_in = FALSE;
            return SUB_ACT_DELIVER | SUB_ACT_PUSH | (was_from ? SUB_ACT_SEND_UNAVAILABLE : 0);
        }
        return SUB_ACT_NONE;
    case SUB_SUBSCRIBED: /* A.3.3 */
        if (s->pending_out) {
            s->pending_out = FALSE;
            s->to = TRUE;
            return SUB_ACT_DELIVER | SUB_ACT_PUSH;
        }
        return SUB_ACT_NONE;
    case SUB_UNSUBSCRIBED: /* A.3.4 */
        if (s->to || s->pending_out) {
            s->to = FALSE;
            s->pending_out = FALSE;
            return SUB_ACT_DELIVER | SUB_ACT_PUSH;
        }
        return SUB_ACT_NONE;
    }
    return SUB_ACT_NONE;
}

SubAction sub_apply(SubState *s, SubDirection dir, SubType type, gboolean preapproval)
{
    return dir == SUB_OUTBOUND ? outbound(s, type, preapproval) : inbound(s, type);
}
