/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/address.c — JIDs of the gateway <-> IRC channels, users and servers */
#include "transports/irc/address.h"

#include <string.h>

#include "transports/irc/ircmsg.h"
#include "transports/sdk/tern-transport.h"

static gboolean valid_server(const char *s)
{
    if (!s || !*s || strlen(s) > 253 || !strchr(s, '.'))
        return FALSE;
    for (const char *p = s; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != ':' && *p != '_')
            return FALSE;
    return TRUE;
}

IrcAddress *irc_address_parse(const char *jid, const char *default_server)
{
    g_autofree char *local = jid ? tt_jid_local(jid) : NULL;
    if (!local)
        return NULL;
    g_autofree char *raw = tt_jid_unescape(local);
    g_autofree char *name = NULL, *server = NULL;
    char *pct = strrchr(raw, '%');
    if (pct) {
        *pct = '\0';
        server = g_ascii_strdown(pct + 1, -1);
        name = g_strdup(raw);
    } else if (!irc_is_channel(raw) && strchr(raw, '.')) {
        server = g_ascii_strdown(raw, -1); /* nicks have no dots: a server */
    } else if (default_server && *default_server) {
        server = g_ascii_strdown(default_server, -1);
        name = g_strdup(raw);
    } else {
        return NULL;
    }
    if (!valid_server(server))
        return NULL;
    IrcAddress *a = g_new0(IrcAddress, 1);
    if (!name) {
        a->kind = IRC_ADDR_SERVER;
    } else if (irc_is_channel(name)) {
        a->kind = IRC_ADDR_CHANNEL;
    } else if (irc_is_valid_nick(name)) {
        a->kind = IRC_ADDR_USER;
    } else {
        g_free(a);
        return NULL;
    }
    a->name = g_steal_pointer(&name);
    a->server = g_steal_pointer(&server);
    a->resource = tt_jid_resource(jid);
    return a;
}

void irc_address_free(IrcAddress *a)
{
    if (!a)
        return;
    g_free(a->name);
    g_free(a->server);
    g_free(a->resource);
    g_free(a);
}

char *irc_address_jid(const char *name, const char *server, const char *domain)
{
    g_autofree char *raw = name ? g_strconcat(name, "%", server, NULL) : g_strdup(server);
    g_autofree char *local = tt_jid_escape(raw);
    if (!local)
        return NULL;
    return g_strconcat(local, "@", domain, NULL);
}

char *irc_address_occupant(const char *channel, const char *server, const char *nick,
                           const char *domain)
{
    g_autofree char *room = irc_address_jid(channel, server, domain);
    return room ? g_strconcat(room, "/", nick, NULL) : NULL;
}
