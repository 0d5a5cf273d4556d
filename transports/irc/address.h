/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/address.h — the IRC address format, in one place: which JID of the
 * gateway names which IRC channel, user or server (XEP-0106 escaped localparts) */
#pragma once

#include <glib.h>

/*
 *   #channel%irc.server@gateway[/nick]   a channel (an XEP-0045 room; the resource is a nick)
 *   nick%irc.server@gateway              a user of that server
 *   irc.server@gateway                   the server itself (contains a dot, no '%')
 *   #channel@gateway, nick@gateway       the same on the default server, when one is set
 *
 * The localpart is "<name>%<server>" escaped with XEP-0106 (so '@', '/', ':', '&', ...
 * in channel names survive); the server is what follows the last '%'.
 */

typedef enum {
    IRC_ADDR_SERVER,
    IRC_ADDR_CHANNEL,
    IRC_ADDR_USER,
} IrcAddrKind;

typedef struct {
    IrcAddrKind kind;
    char *name;     /* "#chan" or "nick" (unescaped, as on IRC); NULL for a server */
    char *server;   /* the IRC server name, lowercase */
    char *resource; /* the JID's resource (a MUC nick), NULL when none */
} IrcAddress;

/* The address named by jid (borrowed), a JID of the gateway. default_server (may be NULL)
 * is used when the localpart has no '%'. NULL when it names nothing valid. transfer full */
IrcAddress *irc_address_parse(const char *jid, const char *default_server);
void irc_address_free(IrcAddress *a);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IrcAddress, irc_address_free)

/* The bare JID of a channel or user (name) or of the server (name NULL) on server, under
 * the gateway domain. All borrowed; transfer full */
char *irc_address_jid(const char *name, const char *server, const char *domain);
/* room/nick: the occupant JID of nick in channel. transfer full */
char *irc_address_occupant(const char *channel, const char *server, const char *nick,
                           const char *domain);
