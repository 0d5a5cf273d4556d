/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl_data.c — ternctl commands on a user's data: roster, roster-add, offline */
#include <string.h>
#include <glib.h>

#include "router/jid.h"
#include "router/xml.h"
#include "storage/accounts.h"
#include "storage/offline.h"
#include "storage/roster.h"
#include "tools/ternctl.h"

#define OFFLINE_BODY_CHARS 60 /* characters of a body shown by offline -v */

static const CtlCommand data_commands[] = {
    {"roster", ctl_cmd_roster}, {"roster-add", ctl_cmd_roster_add}, {"offline", ctl_cmd_offline},
    {"export", ctl_cmd_export}, {"import", ctl_cmd_import},
};

const CtlCommand *ctl_data_command(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(data_commands); i++)
        if (strcmp(data_commands[i].name, name) == 0)
            return &data_commands[i];
    return NULL;
}

gboolean ctl_take_flag(int *argc, char **argv, const char *short_name, const char *long_name)
{
    for (int i = 2; i < *argc && strcmp(argv[i], "--") != 0; i++) {
        if ((short_name && strcmp(argv[i], short_name) == 0) ||
            (long_name && strcmp(argv[i], long_name) == 0)) {
            memmove(&argv[i], &argv[i + 1], sizeof(char *) * (gsize)(*argc - i));
            (*argc)--;
            return TRUE;
        }
    }
    return FALSE;
}

void ctl_end_flags(int *argc, char **argv)
{
    for (int i = 2; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            memmove(&argv[i], &argv[i + 1], sizeof(char *) * (gsize)(*argc - i));
            (*argc)--;
            return;
        }
    }
}

/* One field of a tab-separated line: a backslash, tab, line end or other control character
 * inside (a client chose that name) is written as an escape, so one item stays one line. */
static void append_field(GString *line, const char *s)
{
    if (line->len > 0)
        g_string_append_c(line, '\t');
    for (const guchar *p = (const guchar *)s; *p; p++) {
        if (*p == '\\')
            g_string_append(line, "\\\\");
        else if (*p == '\t')
            g_string_append(line, "\\t");
        else if (*p == '\n')
            g_string_append(line, "\\n");
        else if (*p < 0x20 || *p == 0x7f)
            g_string_append_printf(line, "\\x%02x", *p);
        else
            g_string_append_c(line, (char)*p);
    }
}

/* The store and the prepared JID of an existing account; exit code != EXIT_OK after saying
 * why. */
static int open_account(Ctl *ctl, const char *arg, Store **s, char **bare)
{
    *bare = ctl_account_jid(ctl, arg);
    if (!*bare)
        return EXIT_USAGE;
    *s = ctl_store(ctl);
    if (!*s)
        return EXIT_FAIL;
    if (!account_exists(*s, *bare))
        return ctl_fail(EXIT_FAIL, "no account %s", *bare);
    return EXIT_OK;
}

int ctl_cmd_roster(Ctl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *bare = NULL;
    g_autoptr(GPtrArray) items = NULL;
    Store *s = NULL;
    int rc;

    if (argc != 3)
        return ctl_fail(EXIT_USAGE, "usage: ternctl roster JID");
    if ((rc = open_account(ctl, argv[2], &s, &bare)) != EXIT_OK)
        goto out;
    items = roster_list(s, bare, NULL, &error);
    if (!items) {
        rc = ctl_fail(EXIT_FAIL, "roster of %s: %s", bare, error->message);
        goto out;
    }
    for (guint i = 0; i < items->len; i++) {
        const RosterItem *it = g_ptr_array_index(items, i);
        if (!it->in_roster || it->removed)
            continue;
        g_autoptr(GString) line = g_string_new(NULL);
        append_field(line, it->jid);
        append_field(line, roster_item_subscription(it));
        append_field(line, it->pending_out ? "subscribe" : "-");
        append_field(line, it->pending_in ? "pending-in" : "-");
        append_field(line, it->name ? it->name : "");
        for (guint g = 0; it->groups[g]; g++)
            append_field(line, it->groups[g]);
        g_print("%s\n", line->str);
    }
out:
    store_close(s);
    return rc;
}

/* A name or group from the command line: UTF-8 without control characters, within
 * [limits] roster_text_length (as c2s/mod_roster.c checks a roster set). */
static const char *roster_text_problem(Ctl *ctl, const char *text)
{
    if (!g_utf8_validate(text, -1, NULL))
        return "is not valid UTF-8";
    for (const char *p = text; *p; p = g_utf8_next_char(p))
        if (g_unichar_iscntrl(g_utf8_get_char(p)))
            return "contains a control character";
    if ((gint64)strlen(text) > config_get_int(ctl->conf, "limits", "roster_text_length"))
        return "is longer than [limits] roster_text_length";
    return NULL;
}

/* roster-add USER CONTACT [NAME] [GROUP...]: like a roster set (RFC 6121 §2.3) — NAME and
 * the GROUPs replace the item's; the subscription state stays as it is. Connected clients
 * see the change at their next roster get (ternctl cannot push). */
int ctl_cmd_roster_add(Ctl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *bare = NULL;
    g_autoptr(Jid) contact = NULL;
    g_autoptr(RosterItem) it = NULL;
    const char *problem;
    Store *s = NULL;
    int rc;

    if (argc < 4)
        return ctl_fail(EXIT_USAGE, "usage: ternctl roster-add JID CONTACT [NAME] [GROUP...]");
    contact = jid_new(argv[3], &error);
    if (!contact || jid_resource(contact))
        return ctl_fail(EXIT_USAGE, "invalid contact '%s': %s", argv[3],
                        error ? error->message : "a roster item is a bare JID");
    for (int i = 4; i < argc; i++) {
        if ((problem = roster_text_problem(ctl, argv[i])))
            return ctl_fail(EXIT_USAGE, "the %s '%s' %s", i == 4 ? "name" : "group", argv[i],
                            problem);
        if (i > 4 && !*argv[i])
            return ctl_fail(EXIT_USAGE, "a group name is empty");
        for (int j = 5; i > 4 && j < i; j++)
            if (strcmp(argv[i], argv[j]) == 0)
                return ctl_fail(EXIT_USAGE, "the group '%s' is given twice", argv[i]);
    }
    if ((rc = open_account(ctl, argv[2], &s, &bare)) != EXIT_OK)
        goto out;
    it = roster_get(s, bare, jid_bare(contact), &error);
    if (!it && error) {
        rc = ctl_fail(EXIT_FAIL, "%s", error->message);
        goto out;
    }
    if (!it || !it->in_roster) {
        gint64 max = config_get_int(ctl->conf, "limits", "roster_size");
        guint n = roster_count(s, bare, &error);
        if (error) {
            rc = ctl_fail(EXIT_FAIL, "roster of %s: %s", bare, error->message);
            goto out;
        }
        if ((gint64)n >= max) {
            rc = ctl_fail(EXIT_FAIL,
                          "the roster of %s is full ([limits] roster_size = %" G_GINT64_FORMAT ")",
                          bare, max);
            goto out;
        }
    }
    if (!it)
        it = roster_item_new(jid_bare(contact));
    it->in_roster = TRUE;
    g_free(it->name);
    it->name = argc > 4 && *argv[4] ? g_strdup(argv[4]) : NULL;
    g_strfreev(it->groups);
    it->groups = g_strdupv(argc > 5 ? &argv[5] : &argv[argc]); /* argv[argc] is NULL */
    if (!roster_put(s, bare, it, &error)) {
        rc = ctl_fail(EXIT_FAIL, "roster of %s: %s", bare, error->message);
        goto out;
    }
    g_print("%s: roster item %s saved (subscription %s)\n", bare, it->jid,
            roster_item_subscription(it));
out:
    store_close(s);
    return rc;
}

typedef struct {
    const char *user;
    guint bad;
} OfflineList;

/* KEY, from, the first characters of the body */
static gboolean print_offline(const char *key, const char *xml, gsize len, gpointer ud)
{
    OfflineList *l = ud;
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlNode) el = xml_parse_fragment(xml, (gssize)len, &error);
    g_autoptr(GString) line = g_string_new(NULL);

    if (!el) {
        g_printerr("ternctl: %s: offline message %s is corrupt: %s\n", l->user, key,
                   error->message);
        l->bad++;
        return TRUE;
    }
    XmlNode *body_el = xml_node_child(el, el->ns, "body");
    g_autofree char *body = body_el ? xml_node_text(body_el) : g_strdup("");
    g_autofree char *start = g_utf8_substring(body, 0, OFFLINE_BODY_CHARS);
    const char *from = xml_node_attr(el, "from");

    append_field(line, key);
    append_field(line, from ? from : "-");
    append_field(line, start);
    if (g_utf8_strlen(body, -1) > OFFLINE_BODY_CHARS)
        g_string_append(line, "...");
    g_print("%s\n", line->str);
    return TRUE;
}

/* offline [-v] USER: the count; with -v one line per message, oldest first. */
int ctl_cmd_offline(Ctl *ctl, int argc, char **argv)
{
    gboolean verbose = ctl_take_flag(&argc, argv, "-v", "--verbose");
    g_autoptr(GError) error = NULL;
    g_autofree char *bare = NULL;
    Store *s = NULL;
    guint n;
    int rc;

    ctl_end_flags(&argc, argv);
    if (argc != 3)
        return ctl_fail(EXIT_USAGE, "usage: ternctl offline [-v] JID");
    if ((rc = open_account(ctl, argv[2], &s, &bare)) != EXIT_OK)
        goto out;
    n = offline_count(s, bare, &error);
    if (error) {
        rc = ctl_fail(EXIT_FAIL, "offline messages of %s: %s", bare, error->message);
        goto out;
    }
    g_print("%u\n", n);
    if (verbose) {
        OfflineList l = {bare, 0};
        if (!offline_foreach(s, bare, print_offline, &l, &error))
            rc = ctl_fail(EXIT_FAIL, "offline messages of %s: %s", bare, error->message);
        else if (l.bad)
            rc = EXIT_FAIL;
    }
out:
    store_close(s);
    return rc;
}
