/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl_export.c — ternctl export: an account as XEP-0227 XML, SCRAM keys, no password */
#include <stdio.h>
#include <string.h>
#include <glib.h>
#include <openssl/crypto.h>

#include "router/jid.h"
#include "router/xml.h"
#include "storage/accounts.h"
#include "storage/offline.h"
#include "storage/roster.h"
#include "tools/ternctl.h"

/* Append child on a new line indented for level: the structure is pretty-printed, stored
 * elements are written as they are. Returns child (borrowed). */
static XmlNode *add_line(XmlNode *parent, XmlNode *child, guint level)
{
    g_autofree char *ws = g_strnfill(level * 2, ' ');
    g_autofree char *text = g_strconcat("\n", ws, NULL);

    xml_node_add_text(parent, text, -1);
    return xml_node_append(parent, child);
}

/* The end tag of parent (at level) on its own line. */
static void end_lines(XmlNode *parent, guint level)
{
    g_autofree char *ws = g_strnfill(level * 2, ' ');
    g_autofree char *text = g_strconcat("\n", ws, NULL);

    if (parent->first_child)
        xml_node_add_text(parent, text, -1);
}

static void add_text_child(XmlNode *parent, const char *name, const char *text)
{
    xml_node_add_text(xml_node_add_child(parent, NULL, name), text, -1);
}

static void add_b64_child(XmlNode *parent, const char *name, const guint8 *data, gsize len)
{
    g_autofree char *b64 = g_base64_encode(data, len);

    add_text_child(parent, name, b64);
    OPENSSL_cleanse(b64, strlen(b64));
}

/* XEP-0227 1.1 <scram-credentials/>: one per hash; Tern's two share salt and iterations. */
static XmlNode *scram_element(const char *mechanism, const AccountCreds *c, const guint8 *stored,
                              const guint8 *server, gsize len)
{
    XmlNode *el = xml_node_new(NS_PIE_SCRAM, "scram-credentials");
    g_autofree char *iter = g_strdup_printf("%u", c->iterations);

    xml_node_set_attr(el, "mechanism", mechanism);
    add_text_child(el, "iter-count", iter);
    add_b64_child(el, "salt", c->salt, ACCOUNT_SALT_LEN);
    add_b64_child(el, "server-key", server, len);
    add_b64_child(el, "stored-key", stored, len);
    return el;
}

/* An <item/> as RFC 6121 §2.1 writes it (XEP-0227 keeps the roster in that form); pending-in
 * is not an item attribute: it goes out as <presence type='subscribe'/> (see export_user). */
static void roster_item_xml(const RosterItem *it, XmlNode *query, guint level)
{
    XmlNode *item = add_line(query, xml_node_new(NS_ROSTER, "item"), level);

    xml_node_set_attr(item, "jid", it->jid);
    if (it->name)
        xml_node_set_attr(item, "name", it->name);
    xml_node_set_attr(item, "subscription", roster_item_subscription(it));
    if (it->pending_out)
        xml_node_set_attr(item, "ask", "subscribe");
    if (it->approved)
        xml_node_set_attr(item, "approved", "true");
    for (guint i = 0; it->groups[i]; i++)
        add_text_child(item, "group", it->groups[i]);
}

typedef struct {
    const char *bare;
    XmlNode *parent; /* where parsed elements go */
    guint level;
    const char *what; /* for warnings: "offline message", "private XML" */
    const char *ns;   /* expected namespace of each element, NULL: any */
    const char *name; /* expected name, NULL: any */
    guint *skipped;
} ExportList;

/* A stored element read back with the restricted parser, checked like network input. */
static gboolean export_stored(ExportList *l, const char *key, const void *val, gsize len)
{
    g_autoptr(GError) error = NULL;
    XmlNode *el = xml_parse_fragment(val, (gssize)len, &error);

    if (el && ((l->ns && strcmp(el->ns, l->ns) != 0) || (l->name && strcmp(el->name, l->name)))) {
        g_set_error(&error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, "unexpected <%s/>",
                    el->name);
        g_clear_pointer(&el, xml_node_free);
    }
    if (!el) {
        g_printerr("ternctl: %s: skipped the corrupt stored %s %s: %s\n", l->bare, l->what, key,
                   error->message);
        (*l->skipped)++;
        return TRUE;
    }
    add_line(l->parent, el, l->level);
    return TRUE;
}

static gboolean export_offline_cb(const char *key, const char *xml, gsize len, gpointer ud)
{
    return export_stored(ud, key, xml, len);
}

static gboolean export_map_cb(const char *key, const void *val, gsize len, gpointer ud)
{
    return export_stored(ud, key, val, len);
}

static gboolean export_blocked_cb(const char *key, const void *val, gsize len, gpointer ud)
{
    ExportList *l = ud;

    xml_node_set_attr(add_line(l->parent, xml_node_new(NS_BLOCKING, "item"), l->level), "jid", key);
    return TRUE;
}

/* list (transfer full) filled from bare's entries of map through fn with l, then added
 * to user when it is not empty. FALSE + error when storage fails. */
static gboolean export_map(Store *s, const char *map, XmlNode *user, XmlNode *list,
                           StoreMapFunc fn, ExportList *l, GError **error)
{
    l->parent = list;
    gboolean ok = store_map_foreach(s, map, l->bare, fn, l, error);
    if (list->first_child) {
        end_lines(list, l->level - 1);
        add_line(user, list, l->level - 1);
    } else {
        xml_node_free(list);
    }
    return ok;
}

/* <user/> with everything Tern keeps of bare (transfer full); NULL + error when there is no
 * such account or storage fails. *skipped counts corrupt stored items left out. */
static XmlNode *export_user(Store *s, const char *bare, const char *localpart, guint level,
                            guint *skipped, GError **error)
{
    g_autoptr(XmlNode) user = xml_node_new(NS_PIE, "user");
    AccountCreds c;
    XmlNode *list;
    GError *local = NULL;
    gboolean ok;

    if (!account_get_creds(s, bare, &c, &local)) {
        if (local)
            g_propagate_error(error, local);
        else
            g_set_error(error, STORE_ERROR, STORE_ERROR_NOT_FOUND, "no account %s", bare);
        return NULL;
    }
    xml_node_set_attr(user, "name", localpart);
    add_line(user, scram_element("SCRAM-SHA-1", &c, c.sha1_stored_key, c.sha1_server_key, 20),
             level + 1);
    add_line(user, scram_element("SCRAM-SHA-256", &c, c.sha256_stored_key, c.sha256_server_key, 32),
             level + 1);
    OPENSSL_cleanse(&c, sizeof c);

    g_autoptr(GPtrArray) items = roster_list(s, bare, NULL, error);
    if (!items)
        return NULL;
    list = xml_node_new(NS_ROSTER, "query");
    for (guint i = 0; i < items->len; i++) {
        const RosterItem *it = g_ptr_array_index(items, i);
        if (it->in_roster && !it->removed)
            roster_item_xml(it, list, level + 2);
    }
    end_lines(list, level + 1);
    add_line(user, list, level + 1);
    for (guint i = 0; i < items->len; i++) { /* XEP-0227 §4.8 incoming subscription requests */
        const RosterItem *it = g_ptr_array_index(items, i);
        if (!it->pending_in || it->removed)
            continue;
        XmlNode *p = add_line(user, xml_node_new(XML_NS_CLIENT, "presence"), level + 1);
        xml_node_set_attr(p, "from", it->jid);
        xml_node_set_attr(p, "to", bare);
        xml_node_set_attr(p, "type", "subscribe");
    }

    ExportList l = {bare, NULL, level + 2, "offline message", XML_NS_CLIENT, "message", skipped};
    l.parent = list = xml_node_new(NS_PIE, "offline-messages");
    ok = offline_foreach(s, bare, export_offline_cb, &l, error);
    end_lines(list, level + 1);
    add_line(user, list, level + 1);
    if (!ok)
        return NULL;

    g_autoptr(GBytes) vcard = store_map_get(s, MAP_VCARD, bare, VCARD_KEY, &local);
    if (local) {
        g_propagate_error(error, local);
        return NULL;
    }
    if (vcard) {
        ExportList v = {bare, user, level + 1, "vCard", NS_VCARD, "vCard", skipped};
        export_stored(&v, VCARD_KEY, g_bytes_get_data(vcard, NULL), g_bytes_get_size(vcard));
    }

    ExportList p = {bare, NULL, level + 2, "private XML", NULL, NULL, skipped};
    ExportList b = {bare, NULL, level + 2, "blocked JID", NULL, NULL, skipped};
    if (!export_map(s, MAP_PRIVATE, user, xml_node_new(NS_PRIVATE, "query"), export_map_cb, &p,
                    error) ||
        !export_map(s, MAP_BLOCKLIST, user, xml_node_new(NS_BLOCKING, "blocklist"),
                    export_blocked_cb, &b, error))
        return NULL;
    end_lines(user, level);
    return g_steal_pointer(&user);
}

static gboolean write_out(const char *file, const GString *doc, GError **error)
{
    if (file && strcmp(file, "-") != 0) /* 0600: SCRAM keys allow offline password guessing */
        return g_file_set_contents_full(file, doc->str, (gssize)doc->len,
                                        G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
    if (fwrite(doc->str, 1, doc->len, stdout) != doc->len || fflush(stdout) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "cannot write to standard output");
        return FALSE;
    }
    return TRUE;
}

/* export USER [FILE] */
int ctl_cmd_export(Ctl *ctl, int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *bare = NULL;
    g_autoptr(Jid) j = NULL;
    g_autoptr(XmlNode) root = NULL;
    XmlNode *host, *user;
    guint skipped = 0;
    Store *s;
    int rc = EXIT_FAIL;

    if (argc < 3 || argc > 4)
        return ctl_fail(EXIT_USAGE, "usage: ternctl export JID [FILE]");
    if (!(bare = ctl_account_jid(ctl, argv[2])))
        return EXIT_USAGE;
    if (!(s = ctl_store(ctl)))
        return EXIT_FAIL;
    j = jid_new(bare, NULL);
    root = xml_node_new(NS_PIE, "server-data");
    host = add_line(root, xml_node_new(NS_PIE, "host"), 1);
    xml_node_set_attr(host, "jid", jid_domain(j));
    user = export_user(s, bare, jid_local(j), 2, &skipped, &error);
    if (!user) {
        ctl_fail(EXIT_FAIL, "export of %s: %s", bare, error->message);
        goto out;
    }
    add_line(host, user, 2);
    end_lines(host, 1);
    end_lines(root, 0);

    GString *doc = g_string_new("<?xml version='1.0' encoding='UTF-8'?>\n");
    xml_node_serialize(root, "", doc);
    g_string_append_c(doc, '\n');
    if (!write_out(argc == 4 ? argv[3] : NULL, doc, &error))
        ctl_fail(EXIT_FAIL, "export of %s: %s", bare, error->message);
    else if (skipped)
        ctl_fail(EXIT_FAIL, "export of %s: %u corrupt stored item(s) left out (see above)", bare,
                 skipped);
    else
        rc = EXIT_OK;
    OPENSSL_cleanse(doc->str, doc->len);
    g_string_free(doc, TRUE);
out:
    store_close(s);
    return rc;
}
