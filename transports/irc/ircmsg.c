/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/ircmsg.c — IRC message parsing and building (RFC 2812 §2.3), mIRC
 * formatting, CTCP, UTF-8 and line splitting */
#include "transports/irc/ircmsg.h"

#include <stdarg.h>
#include <string.h>

IrcMessage *irc_message_parse(const char *line)
{
    const char *p = line;
    if (*p == '@') { /* IRCv3 message tags: not used here */
        p = strchr(p, ' ');
        if (!p)
            return NULL;
        while (*p == ' ')
            p++;
    }
    IrcMessage *m = g_new0(IrcMessage, 1);
    m->params = g_ptr_array_new_with_free_func(g_free);
    if (*p == ':') {
        const char *sp = strchr(p, ' ');
        if (!sp) {
            irc_message_free(m);
            return NULL;
        }
        m->prefix = g_strndup(p + 1, sp - p - 1);
        p = sp;
    }
    while (*p == ' ')
        p++;
    const char *end = p;
    while (*end && *end != ' ')
        end++;
    if (end == p) {
        irc_message_free(m);
        return NULL;
    }
    m->command = g_ascii_strup(p, end - p);
    p = end;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*p == ':') { /* trailing: the rest of the line */
            g_ptr_array_add(m->params, g_strdup(p + 1));
            break;
        }
        end = p;
        while (*end && *end != ' ')
            end++;
        g_ptr_array_add(m->params, g_strndup(p, end - p));
        p = end;
    }
    return m;
}

void irc_message_free(IrcMessage *m)
{
    if (!m)
        return;
    g_free(m->prefix);
    g_free(m->command);
    g_ptr_array_free(m->params, TRUE);
    g_free(m);
}

const char *irc_message_param(const IrcMessage *m, guint i)
{
    return i < m->params->len ? m->params->pdata[i] : NULL;
}

char *irc_prefix_nick(const char *prefix)
{
    if (!prefix)
        return NULL;
    const char *bang = strchr(prefix, '!');
    if (bang)
        return g_strndup(prefix, bang - prefix);
    if (strchr(prefix, '.'))
        return NULL; /* a server */
    return g_strdup(prefix);
}

static void append_clean(GString *out, const char *s)
{
    for (; *s; s++)
        if (*s != '\r' && *s != '\n')
            g_string_append_c(out, *s);
}

char *irc_line(const char *command, ...)
{
    GString *out = g_string_new(command);
    va_list ap;
    va_start(ap, command);
    const char *p = va_arg(ap, const char *);
    while (p) {
        const char *next = va_arg(ap, const char *);
        g_string_append_c(out, ' ');
        if (!next && (!*p || *p == ':' || strchr(p, ' ')))
            g_string_append_c(out, ':');
        append_clean(out, p);
        p = next;
    }
    va_end(ap);
    return g_string_free(out, FALSE);
}

char *irc_casefold(const char *name)
{
    char *s = g_strdup(name);
    for (char *p = s; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
        else if (*p == '[')
            *p = '{';
        else if (*p == ']')
            *p = '}';
        else if (*p == '\\')
            *p = '|';
        else if (*p == '~')
            *p = '^';
    }
    return s;
}

gboolean irc_is_channel(const char *name)
{
    if (!name || !strchr("#&+!", name[0]) || !name[0] || !name[1] || strlen(name) > 200)
        return FALSE;
    return !strpbrk(name, " ,\007\r\n");
}

gboolean irc_is_valid_nick(const char *nick)
{
    if (!nick || !*nick || strlen(nick) > 64 || strchr("#&+!:-0123456789", nick[0]))
        return FALSE;
    for (const unsigned char *p = (const unsigned char *)nick; *p; p++)
        if (*p <= ' ' || strchr(",!@*?", *p) || *p == 0x7f)
            return FALSE;
    return TRUE;
}

char *irc_to_utf8(const char *bytes, gssize len)
{
    if (len < 0)
        len = (gssize)strlen(bytes);
    if (g_utf8_validate(bytes, len, NULL))
        return g_strndup(bytes, len);
    char *conv = g_convert(bytes, len, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
    return conv ? conv : g_utf8_make_valid(bytes, len);
}

char *irc_strip_formatting(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == 0x03) { /* \x03[fg[,bg]]: one or two digits each */
            int n = 0;
            while (n < 2 && g_ascii_isdigit(p[1])) {
                p++;
                n++;
            }
            if (n && p[1] == ',' && g_ascii_isdigit(p[2])) {
                p += 2;
                if (g_ascii_isdigit(p[1]))
                    p++;
            }
            continue;
        }
        if (c == 0x04) { /* \x04[RRGGBB[,RRGGBB]] */
            int n = 0;
            while (n < 6 && g_ascii_isxdigit(p[1])) {
                p++;
                n++;
            }
            if (n == 6 && p[1] == ',' && g_ascii_isxdigit(p[2])) {
                p++;
                for (n = 0; n < 6 && g_ascii_isxdigit(p[1]); n++)
                    p++;
            }
            continue;
        }
        /* bold 02, monospace 11, reverse 16, italic 1d, strikethrough 1e, underline 1f,
         * reset 0f; and every other C0 control but tab and newline (invalid in XML 1.0) */
        if (c < 0x20 && c != '\t' && c != '\n')
            continue;
        g_string_append_c(out, (char)c);
    }
    return g_string_free(out, FALSE);
}

char *irc_ctcp_command(const char *text)
{
    if (!text || text[0] != '\001')
        return NULL;
    const char *end = text + 1;
    while (*end && *end != ' ' && *end != '\001')
        end++;
    return end > text + 1 ? g_ascii_strup(text + 1, end - text - 1) : NULL;
}

char *irc_ctcp_action(const char *text)
{
    if (!g_str_has_prefix(text, "\001ACTION"))
        return NULL;
    const char *p = text + 7;
    if (*p == ' ')
        p++;
    else if (*p != '\001' && *p)
        return NULL; /* "\001ACTIONS..." */
    gsize n = strlen(p);
    if (n && p[n - 1] == '\001')
        n--;
    return g_strndup(p, n);
}

/* The longest prefix of s (n bytes) of at most max bytes that ends on a character
 * boundary; prefers the last space in its second half (returned in *skip = 1). */
static gsize cut_point(const char *s, gsize n, gsize max, gsize *skip)
{
    *skip = 0;
    if (n <= max)
        return n;
    gsize cut = max;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* s[cut] starts a character: s[0..cut) is whole */
    for (gsize i = cut; i > max / 2; i--) {
        if (s[i] == ' ') {
            *skip = 1;
            return i;
        }
    }
    return cut ? cut : max; /* max < one character: cannot happen for max >= 4 */
}

GPtrArray *irc_split_text(const char *text, gsize max_bytes)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    max_bytes = MAX(max_bytes, 4);
    for (char **l = lines; *l; l++) {
        GString *line = g_string_new(NULL);
        append_clean(line, *l); /* drop CR */
        const char *p = line->str;
        gsize left = line->len;
        while (left > 0) {
            gsize skip;
            gsize cut = cut_point(p, left, max_bytes, &skip);
            if (cut > 0)
                g_ptr_array_add(out, g_strndup(p, cut));
            p += cut + skip;
            left -= cut + skip;
        }
        g_string_free(line, TRUE);
    }
    return out;
}

gsize irc_privmsg_budget(const char *target, const char *nick, const char *user, const char *host)
{
    /* ":" nick "!" user "@" host " PRIVMSG " target " :" text "\r\n" */
    gsize prefix =
        1 + strlen(nick) + 1 + (user ? strlen(user) : 12) + 1 + (host ? strlen(host) : 63) + 1;
    gsize fixed = prefix + strlen("PRIVMSG ") + strlen(target) + 2 + 2;
    return fixed + 16 < IRC_LINE_MAX ? IRC_LINE_MAX - fixed : 16;
}

char irc_names_entry(const char *entry, const char *prefixes, char **nick)
{
    char best = 0;
    const char *best_pos = NULL;
    const char *p = entry;
    while (*p && strchr(prefixes, *p)) { /* multi-prefix: several symbols */
        const char *pos = strchr(prefixes, *p);
        if (!best_pos || pos < best_pos) {
            best_pos = pos;
            best = *p;
        }
        p++;
    }
    const char *bang = strchr(p, '!'); /* userhost-in-names */
    *nick = bang ? g_strndup(p, bang - p) : g_strdup(p);
    return best;
}
