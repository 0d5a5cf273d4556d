/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/presence.c — legacy status words <-> XMPP <show/> (RFC 6121 §4.7.2.1) */
#include "transports/sdk/sdk-private.h"

#include <string.h>

static const struct {
    const char *word;
    TtShow show;
} legacy_words[] = {
    {"online", TT_SHOW_AVAILABLE},
    {"available", TT_SHOW_AVAILABLE},
    {"here", TT_SHOW_AVAILABLE},
    {"chat", TT_SHOW_CHAT},
    {"free for chat", TT_SHOW_CHAT},
    {"freeforchat", TT_SHOW_CHAT},
    {"away", TT_SHOW_AWAY},
    {"idle", TT_SHOW_AWAY},
    {"brb", TT_SHOW_AWAY},
    {"be right back", TT_SHOW_AWAY},
    {"lunch", TT_SHOW_AWAY},
    {"phone", TT_SHOW_AWAY},
    {"xa", TT_SHOW_XA},
    {"extended away", TT_SHOW_XA},
    {"na", TT_SHOW_XA},
    {"not available", TT_SHOW_XA},
    {"dnd", TT_SHOW_DND},
    {"busy", TT_SHOW_DND},
    {"do not disturb", TT_SHOW_DND},
    {"occupied", TT_SHOW_DND},
    {"offline", TT_SHOW_UNAVAILABLE},
    {"unavailable", TT_SHOW_UNAVAILABLE},
    {"invisible", TT_SHOW_UNAVAILABLE}, /* invisible contacts look offline */
};

TtShow tt_show_from_legacy(const char *legacy)
{
    if (!legacy)
        return TT_SHOW_AVAILABLE;
    g_autofree char *w = g_strstrip(g_ascii_strdown(legacy, -1));
    for (gsize i = 0; i < G_N_ELEMENTS(legacy_words); i++)
        if (strcmp(w, legacy_words[i].word) == 0)
            return legacy_words[i].show;
    return TT_SHOW_AVAILABLE;
}

const char *tt_show_to_string(TtShow show)
{
    switch (show) {
    case TT_SHOW_CHAT:
        return "chat";
    case TT_SHOW_AWAY:
        return "away";
    case TT_SHOW_XA:
        return "xa";
    case TT_SHOW_DND:
        return "dnd";
    case TT_SHOW_AVAILABLE:
    case TT_SHOW_UNAVAILABLE:
        break;
    }
    return NULL;
}

TtShow tt_show_from_presence(xmpp_stanza_t *presence)
{
    const char *type = xmpp_stanza_get_type(presence);
    if (type && strcmp(type, "unavailable") == 0)
        return TT_SHOW_UNAVAILABLE;
    g_autofree char *show = tt_stanza_child_text(presence, "show");
    if (!show)
        return TT_SHOW_AVAILABLE;
    if (strcmp(show, "chat") == 0)
        return TT_SHOW_CHAT;
    if (strcmp(show, "away") == 0)
        return TT_SHOW_AWAY;
    if (strcmp(show, "xa") == 0)
        return TT_SHOW_XA;
    if (strcmp(show, "dnd") == 0)
        return TT_SHOW_DND;
    return TT_SHOW_AVAILABLE; /* RFC 6121 §4.7.2.1: unknown values are ignored */
}
