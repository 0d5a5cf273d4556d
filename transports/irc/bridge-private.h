/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/bridge-private.h — the Bridge's state, shared by bridge.c (XMPP side) and
 * bridge_irc.c (IRC side) */
#pragma once

#include "transports/irc/address.h"
#include "transports/irc/bridge.h"
#include "transports/irc/ircconn.h"
#include "transports/irc/muc.h"

typedef struct {
    char *nick; /* as on IRC */
    char mode;  /* highest prefix symbol ('@', '+') or 0 */
} Occupant;

typedef enum {
    CHAN_JOINING, /* JOIN sent (or to be sent when the connection is ready) */
    CHAN_JOINED,  /* the NAMES reply came: the user is in the room */
    CHAN_LEAVING, /* PART sent */
} ChanState;

/* An IRC channel one user is in (or joining): one XEP-0045 room for that user. */
typedef struct {
    char *name;       /* "#chan" as the user asked */
    char *room;       /* the room's bare JID */
    char *client;     /* the user's full JID in the room */
    char *asked_nick; /* the nick (resource) the user asked for */
    ChanState state;
    gboolean joined_once;  /* the self-presence was sent */
    GHashTable *occupants; /* casefolded nick -> Occupant* */
    GHashTable *names;     /* a NAMES reply being received, or NULL */
    char *topic;           /* NULL: not known yet */
    char *pending_nick;    /* a nick change asked from this room */
} Channel;

/* One XMPP user on one IRC server: one IRC connection. */
typedef struct {
    Bridge *b;
    char *user;   /* bare JID */
    char *server; /* server name as in JIDs */
    char *key;    /* "user\nserver" */
    IrcConn *irc;
    GHashTable *channels; /* casefolded channel -> Channel* */
    gboolean ever_ready;
    gboolean doomed;
} Session;

struct Bridge {
    TtTransport *t;       /* borrowed */
    IrcGwConfig *cfg;     /* borrowed */
    GHashTable *sessions; /* key -> Session* */
    GPtrArray *doomed;    /* Session* to free from a fresh main-loop turn */
    GSource *reaper;
};

/* bridge.c */
Channel *session_channel(Session *s, const char *name);
void session_remove_channel(Session *s, Channel *ch);
/* QUIT and forget the session (freed on the next main-loop turn). */
void session_doom(Session *s, const char *reason);
/* room/nick of ch. transfer full */
char *channel_occupant_jid(Session *s, Channel *ch, const char *nick);
/* The user's own presence in ch (status codes 0-terminated, may be NULL). */
void channel_send_self(Session *s, Channel *ch, gboolean available, const int *codes,
                       const char *status);
/* Send text to an IRC target (channel or nick): CTCP ACTION for "/me ", split for 512. */
void session_privmsg(Session *s, const char *target, const char *text);
/* A JOIN for ch (when the connection is ready; otherwise at "ready"). */
void session_join(Session *s, Channel *ch);

/* bridge_irc.c: IrcConnHandlers with the Session as user data */
void bridge_irc_ready(IrcConn *c, gpointer session);
void bridge_irc_message(IrcConn *c, const IrcMessage *m, gpointer session);
void bridge_irc_disconnected(IrcConn *c, const GError *error, gboolean will_retry,
                             gpointer session);
