/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl_import.c — ternctl import: XEP-0227 XML, checked in full before any write */
#include <stdarg.h>
#include <string.h>
#include <glib.h>
#include <openssl/crypto.h>

#include "router/jid.h"
#include "router/xml.h"
#include "storage/accounts.h"
#include "storage/offline.h"
#include "storage/roster.h"
#include "tools/ternctl.h"

/* One account of the file, checked completely before anything is written. */
typedef struct {
    char *bare;
    AccountCreds creds;
    StoreBatch *data; /* roster, offline, vcard, private, blocklist */
    guint n_roster, n_offline, n_private, n_blocked;
    gboolean vcard;
} ImportUser;

static void import_user_free(gpointer p)
{
    ImportUser *u = p;

    OPENSSL_cleanse(&u->creds, sizeof u->creds);
    g_free(u->bare);
    store_batch_free(u->data);
    g_free(u);
}

typedef struct {
    Ctl *ctl;
    const char *file;
    GPtrArray *users; /* ImportUser* */
    GHashTable *seen; /* bare JIDs in the file */
} Import;

static gboolean bad(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean bad(GError **error, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT, msg);
    g_free(msg);
    return FALSE;
}

/* An element we do not import: say so (data the operator may miss), except XInclude, which
 * would silently leave out whole files. */
static gboolean skip_element(Import *imp, const char *where, const XmlNode *el, GError **error)
{
    if (strcmp(el->ns, NS_XINCLUDE) == 0)
        return bad(error, "XInclude (XEP-0227 §5) is not supported: merge the files first");
    g_printerr("ternctl: %s: %s: skipped <%s xmlns='%s'/> (not imported)\n", imp->file, where,
               el->name, el->ns);
    return TRUE;
}

/* The text of <name/> below el, base64 of exactly len bytes, into out. */
static gboolean scram_b64(const XmlNode *el, const char *name, guint8 *out, gsize len,
                          GError **error)
{
    XmlNode *child = xml_node_child(el, NS_PIE_SCRAM, name);
    g_autofree char *text = child ? g_strstrip(xml_node_text(child)) : NULL;
    gsize n = text ? strlen(text) : 0, pad = 0, dlen = 0;
    guchar *data;
    gboolean ok;

    if (!text)
        return bad(error, "<%s/> is missing", name);
    while (pad < n && pad < 2 && text[n - 1 - pad] == '=')
        pad++;
    if (n == 0 || n % 4 != 0 ||
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != n - pad)
        return bad(error, "<%s/> is not base64", name);
    data = g_base64_decode(text, &dlen);
    ok = dlen == len;
    if (ok)
        memcpy(out, data, len);
    OPENSSL_cleanse(data, dlen);
    g_free(data);
    OPENSSL_cleanse(text, n);
    if (!ok)
        return bad(error, "<%s/> has %" G_GSIZE_FORMAT " bytes, Tern needs %" G_GSIZE_FORMAT, name,
                   dlen, len);
    return TRUE;
}

typedef struct {
    gboolean seen;
    guint32 iterations;
    guint8 salt[ACCOUNT_SALT_LEN];
    guint8 stored[32], server[32];
} ScramIn;

static gboolean parse_scram(const XmlNode *el, gsize keylen, ScramIn *out, GError **error)
{
    XmlNode *iter = xml_node_child(el, NS_PIE_SCRAM, "iter-count");
    g_autofree char *text = iter ? g_strstrip(xml_node_text(iter)) : NULL;
    guint64 n;

    if (out->seen)
        return bad(error, "two <scram-credentials/> of one mechanism");
    if (!text || !g_ascii_string_to_unsigned(text, 10, 1, G_MAXINT, &n, NULL))
        return bad(error, "<iter-count/> is missing or not a number from 1 to %d", G_MAXINT);
    out->iterations = (guint32)n;
    out->seen = TRUE;
    return scram_b64(el, "salt", out->salt, ACCOUNT_SALT_LEN, error) &&
           scram_b64(el, "server-key", out->server, keylen, error) &&
           scram_b64(el, "stored-key", out->stored, keylen, error);
}

/* SCRAM-SHA-1 and SCRAM-SHA-256 with one salt and iteration count, as Tern keeps them; else
 * the XEP-0227 'password' attribute (derived here, never stored). */
static gboolean parse_creds(const XmlNode *user, AccountCreds *c, GError **error)
{
    ScramIn sha1 = {0}, sha256 = {0};
    const char *password = xml_node_attr(user, "password"), *problem;
    gboolean ok = TRUE;

    for (XmlNode *el = xml_node_child(user, NS_PIE_SCRAM, "scram-credentials"); el && ok;
         el = xml_node_next_element(el, NS_PIE_SCRAM, "scram-credentials")) {
        const char *mech = xml_node_attr(el, "mechanism");
        if (g_strcmp0(mech, "SCRAM-SHA-1") == 0)
            ok = parse_scram(el, 20, &sha1, error);
        else if (g_strcmp0(mech, "SCRAM-SHA-256") == 0)
            ok = parse_scram(el, 32, &sha256, error);
        /* other mechanisms (SCRAM-SHA-512, ...) are of no use here */
        if (!ok)
            g_prefix_error(error, "<scram-credentials mechanism='%s'/>: ", mech);
    }
    if (ok && sha1.seen && sha256.seen) {
        if (sha1.iterations != sha256.iterations ||
            CRYPTO_memcmp(sha1.salt, sha256.salt, ACCOUNT_SALT_LEN) != 0) {
            ok = bad(error, "SCRAM-SHA-1 and SCRAM-SHA-256 differ in salt or iteration count; "
                            "Tern keeps one of each (give a password instead)");
        } else {
            c->iterations = sha1.iterations;
            memcpy(c->salt, sha1.salt, ACCOUNT_SALT_LEN);
            memcpy(c->sha1_stored_key, sha1.stored, 20);
            memcpy(c->sha1_server_key, sha1.server, 20);
            memcpy(c->sha256_stored_key, sha256.stored, 32);
            memcpy(c->sha256_server_key, sha256.server, 32);
        }
    } else if (ok && password) {
        if ((problem = ctl_password_problem(password)))
            ok = bad(error, "%s", problem);
        else
            account_creds_derive(password, ACCOUNT_DEFAULT_ITERATIONS, c);
    } else if (ok) {
        ok = bad(error, sha1.seen || sha256.seen
                            ? "Tern needs both SCRAM-SHA-1 and SCRAM-SHA-256 credentials (or a "
                              "password)"
                            : "no credentials: <scram-credentials xmlns='" NS_PIE_SCRAM
                              "'/> for SCRAM-SHA-1 and SCRAM-SHA-256, or a password");
    }
    OPENSSL_cleanse(&sha1, sizeof sha1);
    OPENSSL_cleanse(&sha256, sizeof sha256);
    return ok;
}

/* A prepared bare JID from attribute name of el (transfer full). */
static char *bare_attr(const XmlNode *el, const char *name, GError **error)
{
    const char *v = xml_node_attr(el, name);
    g_autoptr(GError) local = NULL;
    g_autoptr(Jid) j = v ? jid_new(v, &local) : NULL;

    if (!v)
        bad(error, "<%s/> without '%s'", el->name, name);
    else if (!j)
        bad(error, "<%s %s='%s'/>: %s", el->name, name, v, local->message);
    else if (jid_resource(j))
        bad(error, "<%s %s='%s'/>: a bare JID is needed", el->name, name, v);
    else
        return g_strdup(jid_bare(j));
    return NULL;
}

static gboolean text_fits(Import *imp, const char *text)
{
    return (gint64)strlen(text) <= config_get_int(imp->ctl->conf, "limits", "roster_text_length");
}

/* <query xmlns='jabber:iq:roster'/> into items (jid -> RosterItem) */
static gboolean parse_roster(Import *imp, const XmlNode *query, GHashTable *items, GError **error)
{
    for (XmlNode *el = xml_node_first_element(query); el;
         el = xml_node_next_element(el, NULL, NULL)) {
        if (!xml_node_is(el, NS_ROSTER, "item"))
            return bad(error, "roster: unexpected <%s xmlns='%s'/>", el->name, el->ns);
        g_autofree char *jid = bare_attr(el, "jid", error);
        if (!jid)
            return FALSE;
        if (g_hash_table_contains(items, jid))
            return bad(error, "roster: %s is listed twice", jid);
        RosterItem *it = roster_item_new(jid);
        g_hash_table_insert(items, it->jid, it);
        it->in_roster = TRUE;
        const char *sub = xml_node_attr(el, "subscription");
        if (!sub)
            sub = "none";
        if (strcmp(sub, "none") && strcmp(sub, "to") && strcmp(sub, "from") && strcmp(sub, "both"))
            return bad(error, "roster item %s: subscription '%s'", jid, sub);
        it->to = !strcmp(sub, "to") || !strcmp(sub, "both");
        it->from = !strcmp(sub, "from") || !strcmp(sub, "both");
        const char *ask = xml_node_attr(el, "ask");
        if (ask && strcmp(ask, "subscribe") != 0)
            return bad(error, "roster item %s: ask '%s'", jid, ask);
        it->pending_out = ask != NULL;
        const char *approved = xml_node_attr(el, "approved"); /* RFC 6121 §3.4 */
        it->approved = approved && (!strcmp(approved, "true") || !strcmp(approved, "1"));
        const char *name = xml_node_attr(el, "name");
        if (name && !text_fits(imp, name))
            return bad(error,
                       "roster item %s: the name is longer than [limits] "
                       "roster_text_length",
                       jid);
        it->name = name && *name ? g_strdup(name) : NULL;
        g_autoptr(GPtrArray) groups = g_ptr_array_new_with_free_func(g_free);
        for (XmlNode *g = xml_node_child(el, NS_ROSTER, "group"); g;
             g = xml_node_next_element(g, NS_ROSTER, "group")) {
            char *text = xml_node_text(g);
            if (!text_fits(imp, text)) {
                g_free(text);
                return bad(error,
                           "roster item %s: a group is longer than [limits] "
                           "roster_text_length",
                           jid);
            }
            if (*text && !g_ptr_array_find_with_equal_func(groups, text, g_str_equal, NULL))
                g_ptr_array_add(groups, text); /* empty or repeated groups: dropped */
            else
                g_free(text);
        }
        g_ptr_array_add(groups, NULL);
        g_strfreev(it->groups);
        it->groups = (char **)g_ptr_array_steal(groups, NULL);
    }
    return TRUE;
}

static gboolean parse_offline(ImportUser *u, const XmlNode *list, GError **error)
{
    for (XmlNode *el = xml_node_first_element(list); el;
         el = xml_node_next_element(el, NULL, NULL)) {
        if (!xml_node_is(el, XML_NS_CLIENT, "message"))
            return bad(error,
                       "offline-messages: <%s xmlns='%s'/> is not a jabber:client "
                       "message",
                       el->name, el->ns);
        g_autofree char *xml = xml_node_to_string(el);
        g_autofree char *key = offline_new_key(); /* arrival order = file order */
        offline_batch_add(u->data, u->bare, key, xml, strlen(xml));
        u->n_offline++;
    }
    return TRUE;
}

static gboolean parse_private(ImportUser *u, const XmlNode *query, GError **error)
{
    g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

    for (XmlNode *el = xml_node_first_element(query); el;
         el = xml_node_next_element(el, NULL, NULL)) {
        if (!*el->ns)
            return bad(error, "private XML: <%s/> has no namespace", el->name);
        char *key = g_strdup_printf("{%s}%s", el->ns, el->name);
        if (!g_hash_table_add(keys, key))
            return bad(error, "private XML: %s is given twice", key);
        g_autofree char *xml = xml_node_to_string(el);
        store_batch_set(u->data, MAP_PRIVATE, u->bare, key, xml, strlen(xml));
        u->n_private++;
    }
    return TRUE;
}

static gboolean parse_blocklist(ImportUser *u, const XmlNode *list, GError **error)
{
    for (XmlNode *el = xml_node_first_element(list); el;
         el = xml_node_next_element(el, NULL, NULL)) {
        const char *v = xml_node_attr(el, "jid");
        g_autoptr(GError) local = NULL;
        g_autoptr(Jid) j = v ? jid_new(v, &local) : NULL;
        if (!xml_node_is(el, NS_BLOCKING, "item") || !j)
            return bad(error, "blocklist: <%s jid='%s'/>: %s", el->name, v ? v : "",
                       local ? local->message : "not an item with a JID");
        store_batch_set(u->data, MAP_BLOCKLIST, u->bare, jid_full(j), "", 0);
        u->n_blocked++;
    }
    return TRUE;
}

/* One <user/> of host domain into imp->users. */
static gboolean parse_user(Import *imp, const char *domain, const XmlNode *user, GError **error)
{
    const char *name = xml_node_attr(user, "name");
    g_autoptr(GError) local = NULL;
    g_autoptr(Jid) j = name ? jid_new_parts(name, domain, NULL, &local) : NULL;
    g_autoptr(GHashTable) items = NULL;
    ImportUser *u;
    gboolean ok = TRUE;

    if (!j)
        return bad(error, "<user name='%s'/>: %s", name ? name : "",
                   local ? local->message : "the name is missing");
    if (!g_hash_table_add(imp->seen, g_strdup(jid_bare(j))))
        return bad(error, "user %s is in the file twice", jid_bare(j));
    u = g_new0(ImportUser, 1);
    u->bare = g_strdup(jid_bare(j));
    u->data = store_batch_new();
    g_ptr_array_add(imp->users, u);
    if (!parse_creds(user, &u->creds, error))
        goto fail;

    /* jid -> RosterItem: the roster and the pending incoming requests meet here */
    items = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)roster_item_free);
    for (XmlNode *el = xml_node_first_element(user); el && ok;
         el = xml_node_next_element(el, NULL, NULL)) {
        if (xml_node_is(el, NS_PIE_SCRAM, "scram-credentials")) {
            continue; /* read above */
        } else if (xml_node_is(el, NS_ROSTER, "query")) {
            ok = parse_roster(imp, el, items, error);
        } else if (xml_node_is(el, XML_NS_CLIENT, "presence") &&
                   g_strcmp0(xml_node_attr(el, "type"), "subscribe") == 0) {
            /* XEP-0227 §4.8: a pending incoming subscription request */
            g_autofree char *from = bare_attr(el, "from", error);
            RosterItem *it = from ? g_hash_table_lookup(items, from) : NULL;
            if (from && !it) {
                it = roster_item_new(from); /* not shown in the roster: in_roster FALSE */
                g_hash_table_insert(items, it->jid, it);
            }
            if (it)
                it->pending_in = TRUE;
            ok = from != NULL;
        } else if (xml_node_is(el, NS_PIE, "offline-messages")) {
            ok = parse_offline(u, el, error);
        } else if (xml_node_is(el, NS_VCARD, "vCard")) {
            g_autofree char *xml = xml_node_to_string(el);
            if (u->vcard)
                ok = bad(error, "two vCards");
            else
                store_batch_set(u->data, MAP_VCARD, u->bare, VCARD_KEY, xml, strlen(xml));
            u->vcard = TRUE;
        } else if (xml_node_is(el, NS_PRIVATE, "query")) {
            ok = parse_private(u, el, error);
        } else if (xml_node_is(el, NS_BLOCKING, "blocklist")) {
            ok = parse_blocklist(u, el, error);
        } else {
            ok = skip_element(imp, u->bare, el, error);
        }
    }
    if (!ok)
        goto fail;
    GHashTableIter iter;
    gpointer value;
    g_hash_table_iter_init(&iter, items);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        RosterItem *it = value;
        roster_batch_put(u->data, u->bare, it);
        u->n_roster += it->in_roster;
    }
    return TRUE;
fail:
    g_prefix_error(error, "user %s: ", u->bare);
    return FALSE;
}

static gboolean parse_document(Import *imp, const XmlNode *root, GError **error)
{
    if (!xml_node_is(root, NS_PIE, "server-data"))
        return bad(error, "the root is <%s xmlns='%s'/>, not <server-data xmlns='" NS_PIE "'/>",
                   root->name, root->ns);
    for (XmlNode *host = xml_node_first_element(root); host;
         host = xml_node_next_element(host, NULL, NULL)) {
        if (!xml_node_is(host, NS_PIE, "host")) {
            if (!skip_element(imp, "server-data", host, error))
                return FALSE;
            continue;
        }
        const char *jid = xml_node_attr(host, "jid");
        g_autoptr(GError) local = NULL;
        g_autofree char *domain = jid ? jid_prep_domain(jid, &local) : NULL;
        if (!domain)
            return bad(error, "<host jid='%s'/>: %s", jid ? jid : "",
                       local ? local->message : "the jid is missing");
        if (!ctl_serves(imp->ctl, domain))
            return bad(error, "host %s is not served here ([server] domains in %s)", domain,
                       config_origin(imp->ctl->conf));
        for (XmlNode *user = xml_node_first_element(host); user;
             user = xml_node_next_element(user, NULL, NULL)) {
            if (!xml_node_is(user, NS_PIE, "user")) {
                if (!skip_element(imp, domain, user, error))
                    return FALSE;
            } else if (!parse_user(imp, domain, user, error)) {
                return FALSE;
            }
        }
    }
    return TRUE;
}

/* The maps an import writes; --force replaces these and keeps the rest (e.g. the archive). */
static const char *const import_maps[] = {"roster",    "offline",     MAP_VCARD,
                                          MAP_PRIVATE, MAP_BLOCKLIST, NULL};

/* Write one account: the old data of the maps above (or what a failed import left) goes, the
 * new data goes in one transaction, the credentials come last. A failure leaves no new
 * account with half its data (a rerun clears the rest), or with --force the old account
 * with part of its data: rerunning the import completes it. */
static gboolean import_user(Store *s, ImportUser *u, gboolean force, GError **error)
{
    for (guint i = 0; import_maps[i]; i++)
        if (!store_map_delete_owner(s, import_maps[i], u->bare, error))
            return FALSE;
    return store_batch_commit(s, u->data, error) &&
           account_put_creds(s, u->bare, &u->creds, force, error);
}

/* import [--force] FILE */
int ctl_cmd_import(Ctl *ctl, int argc, char **argv)
{
    gboolean force = ctl_take_flag(&argc, argv, NULL, "--force");
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlNode) root = NULL;
    g_autofree char *text = NULL;
    gsize len = 0;
    Import imp = {ctl, NULL, NULL, NULL};
    Store *s = NULL;
    int rc = EXIT_FAIL;
    guint i;

    ctl_end_flags(&argc, argv);
    if (argc != 3)
        return ctl_fail(EXIT_USAGE, "usage: ternctl import [--force] FILE");
    imp.file = argv[2];
    if (!g_file_get_contents(imp.file, &text, &len, &error))
        return ctl_fail(EXIT_USAGE, "%s", error->message);
    /* the whole document through the one restricted parser (the XML declaration is fine) */
    root = xml_parse_fragment(text, (gssize)len, &error);
    OPENSSL_cleanse(text, len);
    if (!root)
        return ctl_fail(EXIT_USAGE, "%s: %s", imp.file, error->message);
    imp.users = g_ptr_array_new_with_free_func(import_user_free);
    imp.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!parse_document(&imp, root, &error)) {
        rc = ctl_fail(EXIT_USAGE, "%s: %s", imp.file, error->message);
        goto out;
    }
    if (imp.users->len == 0) {
        rc = ctl_fail(EXIT_USAGE, "%s: no <user/> in the file", imp.file);
        goto out;
    }
    if (!(s = ctl_store(ctl)))
        goto out;
    guint existing = 0;
    for (i = 0; i < imp.users->len && !force; i++) {
        ImportUser *u = g_ptr_array_index(imp.users, i);
        if (account_exists(s, u->bare)) {
            ctl_fail(EXIT_FAIL, "account %s exists (--force overwrites it)", u->bare);
            existing++;
        }
    }
    if (existing) {
        ctl_fail(EXIT_FAIL, "%s: nothing imported", imp.file);
        goto out;
    }
    for (i = 0; i < imp.users->len; i++) {
        ImportUser *u = g_ptr_array_index(imp.users, i);
        if (!import_user(s, u, force, &error)) {
            ctl_fail(EXIT_FAIL, "%s: %s: %s (%u of %u accounts imported before it)", imp.file,
                     u->bare, error->message, i, imp.users->len);
            goto out;
        }
        g_print("%s: imported: %u roster items, %u offline messages, %s, %u private XML, "
                "%u blocked\n",
                u->bare, u->n_roster, u->n_offline, u->vcard ? "vCard" : "no vCard", u->n_private,
                u->n_blocked);
    }
    rc = EXIT_OK;
out:
    store_close(s);
    if (imp.users)
        g_ptr_array_unref(imp.users);
    if (imp.seen)
        g_hash_table_unref(imp.seen);
    return rc;
}
