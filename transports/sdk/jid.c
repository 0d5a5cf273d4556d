/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/jid.c — XEP-0106 JID escaping and small JID splitting helpers */
#include "transports/sdk/sdk-private.h"

#include <string.h>

/* XEP-0106 §3.2: the characters escaped as \hexhex (lowercase hex, §3.1) */
static const char escapable[] = " \"&'/:<>@\\";

/* The character that \xy stands for (xy lowercase hex of one of the ten), or 0. */
static char escape_target(const char *p)
{
    if (p[0] != '\\' || !g_ascii_isxdigit(p[1]) || !g_ascii_isxdigit(p[2]))
        return 0;
    if (g_ascii_isupper(p[1]) || g_ascii_isupper(p[2]))
        return 0; /* §3.1: case is significant */
    char c = (char)(g_ascii_xdigit_value(p[1]) * 16 + g_ascii_xdigit_value(p[2]));
    return c && strchr(escapable, c) ? c : 0;
}

char *tt_jid_escape(const char *name)
{
    gsize n = strlen(name);
    /* §4.1 rule 6: \20 must not begin or end an escaped localpart */
    if (n == 0 || name[0] == ' ' || name[n - 1] == ' ')
        return NULL;
    GString *out = g_string_sized_new(n + 8);
    for (const char *p = name; *p; p++) {
        /* §4.1 rule 7 and §4.2 step 3: a backslash is escaped where it would otherwise
         * start one of the ten sequences; elsewhere it stays (§4.3 exceptions) */
        if (*p == '\\' && !escape_target(p))
            g_string_append_c(out, '\\');
        else if (strchr(escapable, *p))
            g_string_append_printf(out, "\\%02x", (unsigned char)*p);
        else
            g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

char *tt_jid_unescape(const char *localpart)
{
    GString *out = g_string_sized_new(strlen(localpart));
    for (const char *p = localpart; *p; p++) {
        char c = escape_target(p);
        if (c) {
            g_string_append_c(out, c);
            p += 2;
        } else {
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

/* RFC 7622 §3.1: the first '/' ends the bare part; the first '@' before it ends the local */
static void jid_split(const char *jid, const char **at, const char **slash)
{
    *slash = strchr(jid, '/');
    const char *end = *slash ? *slash : jid + strlen(jid);
    *at = memchr(jid, '@', end - jid);
}

char *tt_jid_bare(const char *jid)
{
    const char *at, *slash;
    if (!jid)
        return NULL;
    jid_split(jid, &at, &slash);
    return slash ? g_strndup(jid, slash - jid) : g_strdup(jid);
}

char *tt_jid_local(const char *jid)
{
    const char *at, *slash;
    jid_split(jid, &at, &slash);
    return at ? g_strndup(jid, at - jid) : NULL;
}

char *tt_jid_domain(const char *jid)
{
    const char *at, *slash;
    jid_split(jid, &at, &slash);
    const char *start = at ? at + 1 : jid;
    return slash ? g_strndup(start, slash - start) : g_strdup(start);
}

char *tt_jid_resource(const char *jid)
{
    const char *at, *slash;
    jid_split(jid, &at, &slash);
    return slash ? g_strdup(slash + 1) : NULL;
}
