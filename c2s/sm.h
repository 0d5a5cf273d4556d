/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/sm.h — session manager: resources of local accounts, RFC 6121 §8 delivery */
#pragma once

#include "c2s/c2s.h"

void sm_init(Server *srv);
void sm_fini(void);
/* Bind a resource (requested may be NULL: server-generated; on conflict a generated one
 * replaces it, RFC 6120 §7.7.2.2). On failure returns FALSE and sets *err. */
gboolean sm_bind(C2sSession *cs, const char *requested, StanzaErr *err, const char **why);
/* Remove a bound session (disconnect); broadcasts unavailable presence if it was
 * available. */
void sm_unbind(C2sSession *cs);
/* A stanza from a bound client, 'from' already stamped. transfer full */
void sm_from_client(C2sSession *cs, Stanza *st);
/* The route handler of every hosted domain. transfer full */
void sm_deliver(Stanza *st, gpointer ud);
/* Bound sessions of an account (borrowed array of C2sSession*, NULL when none). */
GPtrArray *sm_sessions_of(const char *bare);
C2sSession *sm_session(const Jid *full);
guint sm_session_count(void);
/* Visit every bound session (fn must not end sessions while visiting). */
void sm_foreach_session(void (*fn)(C2sSession *cs, gpointer ud), gpointer ud);
/* Count of accounts with a session (for stats). */
guint sm_user_count(void);

/* Data of "message/delivered": a message went to these local sessions (borrowed). */
typedef struct {
    Stanza *st;
    C2sSession *const *recipients; /* n_recipients of them */
    guint n_recipients;
} DeliveredEvent;
