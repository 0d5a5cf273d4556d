/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/muc.c — XEP-0045 presences and messages of the rooms that are IRC channels */
#include "transports/irc/muc.h"

#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

void muc_mode_to_role(char mode, const char **affiliation, const char **role)
{
    switch (mode) {
    case '~': /* channel owner (q) */
        *affiliation = "owner";
        *role = "moderator";
        break;
    case '&': /* channel admin (a) */
    case '@': /* operator (o) */
        *affiliation = "admin";
        *role = "moderator";
        break;
    case '%': /* half-operator (h) */
        *affiliation = "member";
        *role = "moderator";
        break;
    case '+': /* voice (v) */
        *affiliation = "member";
        *role = "participant";
        break;
    default:
        *affiliation = "none";
        *role = "participant";
    }
}

xmpp_stanza_t *muc_occupant_presence(TtTransport *t, const char *occupant, const char *to,
                                     char mode, gboolean available, const char *new_nick,
                                     const int *codes, const char *status)
{
    xmpp_stanza_t *p = tt_presence_new(t, occupant, to,
                                       available ? TT_SHOW_AVAILABLE : TT_SHOW_UNAVAILABLE, status);
    xmpp_stanza_t *x = tt_stanza_add_child(p, "x", NS_MUC_USER, NULL);
    xmpp_stanza_t *item = tt_stanza_add_child(x, "item", NULL, NULL);
    const char *affiliation, *role;
    muc_mode_to_role(mode, &affiliation, &role);
    xmpp_stanza_set_attribute(item, "affiliation", affiliation);
    xmpp_stanza_set_attribute(item, "role", available ? role : "none");
    if (new_nick)
        xmpp_stanza_set_attribute(item, "nick", new_nick);
    for (const int *c = codes; c && *c; c++) {
        xmpp_stanza_t *s = tt_stanza_add_child(x, "status", NULL, NULL);
        char code[8];
        g_snprintf(code, sizeof code, "%d", *c);
        xmpp_stanza_set_attribute(s, "code", code);
    }
    return p;
}

xmpp_stanza_t *muc_presence_error(TtTransport *t, const char *from, const char *to,
                                  const char *type, const char *condition, const char *text)
{
    xmpp_stanza_t *p = tt_stanza_new(t, "presence", "error", from, to, NULL);
    tt_stanza_add_child(p, "x", "http://jabber.org/protocol/muc", NULL);
    xmpp_stanza_t *err = tt_stanza_add_child(p, "error", NULL, NULL);
    xmpp_stanza_set_attribute(err, "type", type);
    tt_stanza_add_child(err, condition, NS_STANZAS, NULL);
    if (text)
        tt_stanza_add_child(err, "text", NS_STANZAS, text);
    return p;
}

xmpp_stanza_t *muc_groupchat(TtTransport *t, const char *from, const char *to, const char *body,
                             const char *subject, const char *id)
{
    xmpp_stanza_t *m = tt_stanza_new(t, "message", "groupchat", from, to, id);
    if (subject)
        tt_stanza_add_child(m, "subject", NULL, subject); /* "" -> <subject/>: no topic */
    if (body)
        tt_stanza_add_child(m, "body", NULL, body);
    return m;
}
