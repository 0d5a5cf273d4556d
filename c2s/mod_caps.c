/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_caps.c — XEP-0115 entity capabilities: verify once per 'ver', cache, look up */
#include "c2s/modules.h"

#include <openssl/evp.h>
#include <string.h>

#include "router/router.h"

#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_INFO "http://jabber.org/protocol/disco#info"
#define NS_DATA "jabber:x:data"
#define CAPS_MAP "caps"
#define CAPS_OWNER "caps" /* one shared owner: the cache is server-wide */

static Server *server;
static GHashTable *known;   /* ver -> char** features (verified) */
static GHashTable *asked;   /* query id -> ver */
static GHashTable *pending; /* ver -> TRUE while a query is out */
static GHashTable *by_jid;  /* full JID -> ver of its current presence */

const char *const *caps_features(const char *full_jid)
{
    const char *ver = g_hash_table_lookup(by_jid, full_jid);
    return ver ? g_hash_table_lookup(known, ver) : NULL;
}

static char **load_cached(const char *ver)
{
    char **f = g_hash_table_lookup(known, ver);
    if (f)
        return f;
    g_autoptr(GBytes) b = store_map_get(server->store, CAPS_MAP, CAPS_OWNER, ver, NULL);
    if (!b)
        return NULL;
    gsize len;
    const char *data = g_bytes_get_data(b, &len);
    g_autofree char *text = g_strndup(data, len);
    f = g_strsplit(text, "\n", -1);
    g_hash_table_insert(known, g_strdup(ver), f);
    return f;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* XEP-0115 §5.1: the verification string of a disco#info answer, then SHA-1, base64. */
static char *caps_hash(XmlNode *query, GPtrArray *features_out)
{
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    for (XmlNode *n = xml_node_child(query, NS_INFO, "identity"); n;
         n = xml_node_next_element(n, NS_INFO, "identity")) {
        const char *lang = xml_node_attr_ns(n, XML_NS_XML, "lang");
        g_ptr_array_add(ids, g_strdup_printf("%s/%s/%s/%s", xml_node_attr(n, "category") ?: "",
                                             xml_node_attr(n, "type") ?: "", lang ?: "",
                                             xml_node_attr(n, "name") ?: ""));
    }
    for (XmlNode *n = xml_node_child(query, NS_INFO, "feature"); n;
         n = xml_node_next_element(n, NS_INFO, "feature"))
        if (xml_node_attr(n, "var"))
            g_ptr_array_add(features_out, g_strdup(xml_node_attr(n, "var")));
    g_ptr_array_sort(ids, cmp_str);
    g_ptr_array_sort(features_out, cmp_str);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < ids->len; i++)
        g_string_append_printf(s, "%s<", (char *)g_ptr_array_index(ids, i));
    for (guint i = 0; i < features_out->len; i++) {
        if (i &&
            !strcmp(g_ptr_array_index(features_out, i), g_ptr_array_index(features_out, i - 1))) {
            g_string_free(s, TRUE); /* §5.4: duplicate features make it invalid */
            return NULL;
        }
        g_string_append_printf(s, "%s<", (char *)g_ptr_array_index(features_out, i));
    }
    /* extended forms (§5.1 step 6), sorted by FORM_TYPE */
    g_autoptr(GPtrArray) forms = g_ptr_array_new_with_free_func(g_free);
    for (XmlNode *x = xml_node_child(query, NS_DATA, "x"); x;
         x = xml_node_next_element(x, NS_DATA, "x")) {
        g_autoptr(GPtrArray) fields = g_ptr_array_new_with_free_func(g_free);
        char *form_type = NULL;
        for (XmlNode *f = xml_node_child(x, NS_DATA, "field"); f;
             f = xml_node_next_element(f, NS_DATA, "field")) {
            g_autoptr(GPtrArray) vals = g_ptr_array_new_with_free_func(g_free);
            for (XmlNode *v = xml_node_child(f, NS_DATA, "value"); v;
                 v = xml_node_next_element(v, NS_DATA, "value"))
                g_ptr_array_add(vals, xml_node_text(v));
            g_ptr_array_sort(vals, cmp_str);
            if (!g_strcmp0(xml_node_attr(f, "var"), "FORM_TYPE")) {
                if (vals->len)
                    form_type = g_strdup(g_ptr_array_index(vals, 0));
                continue;
            }
            GString *fs = g_string_new(NULL);
            g_string_append_printf(fs, "%s<", xml_node_attr(f, "var") ?: "");
            for (guint i = 0; i < vals->len; i++)
                g_string_append_printf(fs, "%s<", (char *)g_ptr_array_index(vals, i));
            g_ptr_array_add(fields, g_string_free(fs, FALSE));
        }
        if (!form_type)
            continue; /* §5.4: forms without FORM_TYPE are ignored */
        g_ptr_array_sort(fields, cmp_str);
        GString *all = g_string_new(NULL);
        g_string_append_printf(all, "%s<", form_type);
        g_free(form_type);
        for (guint i = 0; i < fields->len; i++)
            g_string_append(all, g_ptr_array_index(fields, i));
        g_ptr_array_add(forms, g_string_free(all, FALSE));
    }
    g_ptr_array_sort(forms, cmp_str);
    for (guint i = 0; i < forms->len; i++)
        g_string_append(s, g_ptr_array_index(forms, i));
    guint8 md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(s->str, s->len, md, &mdlen, EVP_sha1(), NULL);
    g_string_free(s, TRUE);
    return g_base64_encode(md, mdlen);
}

/* A client's presence carries <c/>: ask it once per unknown 'ver' (§6.2). */
static HookResult on_presence(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *c = xml_node_child(ev->st->el, NS_CAPS, "c");
    const char *ver = c ? xml_node_attr(c, "ver") : NULL;
    const char *node = c ? xml_node_attr(c, "node") : NULL;
    if (!ver || !node || g_strcmp0(xml_node_attr(c, "hash"), "sha-1")) {
        g_hash_table_remove(by_jid, jid_full(cs->jid));
        return HOOK_PASS; /* legacy caps without hash are not verifiable */
    }
    g_hash_table_replace(by_jid, g_strdup(jid_full(cs->jid)), g_strdup(ver));
    if (load_cached(ver) || g_hash_table_contains(pending, ver))
        return HOOK_PASS;
    g_autofree char *id = stream_random_id();
    g_autofree char *qnode = g_strdup_printf("%s#%s", node, ver);
    XmlNode *iq = xml_node_new(XML_NS_CLIENT, "iq");
    xml_node_set_attr(iq, "type", "get");
    xml_node_set_attr(iq, "id", id);
    xml_node_set_attr(iq, "from", cs->domain);
    xml_node_set_attr(iq, "to", jid_full(cs->jid));
    xml_node_set_attr(xml_node_add_child(iq, NS_INFO, "query"), "node", qnode);
    Stanza *st = stanza_new(iq, NULL);
    if (!st)
        return HOOK_PASS;
    g_hash_table_insert(asked, g_strdup(id), g_strdup(ver));
    g_hash_table_add(pending, g_strdup(ver));
    router_deliver(st);
    return HOOK_PASS;
}

static HookResult on_result(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    const char *id = ev->st->id;
    g_autofree char *ver = NULL;
    g_autofree char *key = NULL;
    if (!id || !g_hash_table_steal_extended(asked, id, (gpointer *)&key, (gpointer *)&ver))
        return HOOK_PASS;
    g_hash_table_remove(pending, ver);
    XmlNode *q = stanza_iq_payload(ev->st);
    if (!q || strcmp(ev->st->type, "result"))
        return HOOK_HANDLED;
    g_autoptr(GPtrArray) feats = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *h = caps_hash(q, feats);
    if (!h || strcmp(h, ver)) { /* §5.4: a wrong answer is not cached */
        g_message("caps: %s answered for ver %s with data hashing to %s",
                  ev->st->from ? jid_full(ev->st->from) : "?", ver, h ? h : "(invalid)");
        return HOOK_HANDLED;
    }
    g_ptr_array_add(feats, NULL);
    char **f = (char **)g_ptr_array_steal(feats, NULL);
    g_autofree char *joined = g_strjoinv("\n", f);
    store_map_set(server->store, CAPS_MAP, CAPS_OWNER, ver, joined, strlen(joined), NULL);
    g_hash_table_replace(known, g_strdup(ver), f);
    return HOOK_HANDLED;
}

static HookResult on_unavailable(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (cs && cs->jid)
        g_hash_table_remove(by_jid, jid_full(cs->jid));
    return HOOK_PASS;
}

static const HookSpec caps_hooks[] = {
    {"presence/initial", 0, on_presence, NULL},
    {"presence/update", 0, on_presence, NULL},
    {"presence/unavailable", 0, on_unavailable, NULL},
    {"iq-result/host/" NS_INFO, 0, on_result, NULL},
    {"iq-error/host/" NS_INFO, 0, on_result, NULL},
    {"iq-error/host/" XML_NS_CLIENT, 0, on_result, NULL},
    {NULL},
};

static gboolean caps_init(Server *srv, GError **error)
{
    server = srv;
    known = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
    asked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    pending = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    by_jid = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    disco_add_feature(NS_CAPS);
    return TRUE;
}

static void caps_fini(void)
{
    g_clear_pointer(&known, g_hash_table_destroy);
    g_clear_pointer(&asked, g_hash_table_destroy);
    g_clear_pointer(&pending, g_hash_table_destroy);
    g_clear_pointer(&by_jid, g_hash_table_destroy);
}

const ModuleDesc mod_caps = {
    .name = "caps",
    .init = caps_init,
    .fini = caps_fini,
    .hooks = caps_hooks,
};
