/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/muc.h — the XEP-0045 stanzas the gateway sends for IRC channels */
#pragma once

#include "transports/sdk/tern-transport.h"

/* XEP-0045 §15.6 status codes we use */
#define MUC_STATUS_SELF 110
#define MUC_STATUS_NICK_MODIFIED 210
#define MUC_STATUS_NICK_CHANGE 303
#define MUC_STATUS_KICKED 307
#define MUC_STATUS_SHUTDOWN 332

/* An occupant presence from room/nick to `to` (all borrowed). mode: the IRC prefix symbol
 * ('~', '&', '@', '%', '+') or 0, mapped to affiliation and role. available FALSE: an
 * unavailable presence (role none). new_nick: for status 303. codes: 0-terminated, may be
 * NULL. transfer full */
xmpp_stanza_t *muc_occupant_presence(TtTransport *t, const char *occupant, const char *to,
                                     char mode, gboolean available, const char *new_nick,
                                     const int *codes, const char *status);
/* The affiliation and role of an IRC prefix symbol (XEP-0045 §5). borrowed (static) */
void muc_mode_to_role(char mode, const char **affiliation, const char **role);
/* A presence error from `from` (room or room/nick) to `to`. transfer full */
xmpp_stanza_t *muc_presence_error(TtTransport *t, const char *from, const char *to,
                                  const char *type, const char *condition, const char *text);
/* A groupchat message from room or room/nick; body or subject may be NULL. transfer full */
xmpp_stanza_t *muc_groupchat(TtTransport *t, const char *from, const char *to, const char *body,
                             const char *subject, const char *id);
