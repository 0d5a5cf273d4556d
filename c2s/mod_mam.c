/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_mam.c — XEP-0313 message archive with XEP-0059 paging, XEP-0359 stanza ids */
#include "c2s/modules.h"

#include <stdlib.h>
#include <string.h>

#include "c2s/sm.h"
#include "router/router.h"
#include "storage/roster.h"

#define NS_MAM "urn:xmpp:mam:2"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_SID "urn:xmpp:sid:0"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_DELAY "urn:xmpp:delay"
#define NS_DATA "jabber:x:data"
#define ARCHIVE_MAP "archive"
#define PREFS_MAP "mamprefs"
#define MAM_DEFAULT_MAX 50
#define MAM_MAX_MAX 250

static Server *server;
static StoreBatch *batch; /* archive writes of this iteration: one commit (group commit) */

/* record: "<microseconds> <in|out> <with>\n<message xml>" */
typedef struct {
    char *key;
    gint64 ts;
    gboolean out;
    char *with;
    char *xml;
} ArchItem;

static void arch_item_free(gpointer p)
{
    ArchItem *a = p;
    g_free(a->key);
    g_free(a->with);
    g_free(a->xml);
    g_free(a);
}

static void commit_batch(void)
{
    g_autoptr(StoreBatch) b = g_steal_pointer(&batch);
    g_autoptr(GError) err = NULL;
    if (b && !store_batch_commit(server->store, b, &err))
        g_warning("mam: %u archive writes failed: %s", store_batch_len(b), err->message);
}

/* archived before the turn's output leaves */
static ConnGroupCommit group_commit = {.commit = commit_batch};

/* Preferences (§6): default always|never|roster, with always/never lists of JIDs. They
 * are read on every archived message, so each user's are parsed once and kept here;
 * a prefs set replaces the entry. */
#define PREFS_CACHE_MAX 10000
static GHashTable *prefs_cache; /* user -> XmlNode* */

static XmlNode *read_prefs(const char *user)
{
    g_autoptr(GBytes) b = store_map_get(server->store, PREFS_MAP, user, "prefs", NULL);
    if (b) {
        gsize len;
        const char *data = g_bytes_get_data(b, &len);
        XmlNode *p = xml_parse_fragment(data, len, NULL);
        if (p)
            return p;
    }
    XmlNode *p = xml_node_new(NS_MAM, "prefs");
    xml_node_set_attr(p, "default", "always");
    return p;
}

/* borrowed, valid until the next prefs set */
static XmlNode *load_prefs(const char *user)
{
    XmlNode *p = g_hash_table_lookup(prefs_cache, user);
    if (!p) {
        if (g_hash_table_size(prefs_cache) >= PREFS_CACHE_MAX)
            g_hash_table_remove_all(prefs_cache);
        p = read_prefs(user);
        g_hash_table_insert(prefs_cache, g_strdup(user), p);
    }
    return p;
}

static gboolean listed(XmlNode *prefs, const char *list, const char *with)
{
    XmlNode *l = xml_node_child(prefs, NS_MAM, list);
    for (XmlNode *j = l ? xml_node_child(l, NS_MAM, "jid") : NULL; j;
         j = xml_node_next_element(j, NS_MAM, "jid")) {
        g_autofree char *t = xml_node_text(j);
        if (!strcmp(t, with))
            return TRUE;
    }
    return FALSE;
}

static gboolean wanted(const char *user, const char *with)
{
    XmlNode *prefs = load_prefs(user);
    if (listed(prefs, "never", with))
        return FALSE;
    if (listed(prefs, "always", with))
        return TRUE;
    const char *def = xml_node_attr(prefs, "default");
    if (!g_strcmp0(def, "never"))
        return FALSE;
    if (!g_strcmp0(def, "roster")) {
        g_autoptr(RosterItem) it = roster_get(server->store, user, with, NULL);
        return it && it->in_roster;
    }
    return TRUE;
}

static gboolean archivable(const Stanza *st)
{
    const char *type = st->type ? st->type : "normal";
    if (strcmp(type, "chat") && strcmp(type, "normal"))
        return FALSE; /* groupchat goes to the room's archive; errors and headlines nowhere */
    return xml_node_child(st->el, NULL, "body") != NULL;
}

static char *archive(const char *user, const Stanza *st, gboolean out, const char *with)
{
    char *key = store_seq_key();
    g_autofree char *xml = xml_node_to_string(st->el);
    g_autofree char *rec = g_strdup_printf("%" G_GINT64_FORMAT " %s %s\n%s", g_get_real_time(),
                                           out ? "out" : "in", with, xml);
    if (!batch)
        batch = store_batch_new();
    store_batch_set(batch, ARCHIVE_MAP, user, key, rec, strlen(rec));
    conn_group_commit_schedule(&group_commit);
    return key;
}

/* Incoming: stamp a stanza-id (XEP-0359 §3) and keep a copy. */
static HookResult on_to_user(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *st = ev->st;
    if (!archivable(st) || !st->from)
        return HOOK_PASS;
    g_autoptr(Jid) user = jid_to_bare(st->to);
    /* §3.1: a stanza-id claiming to be ours that we did not write is removed */
    for (XmlNode *n = xml_node_child(st->el, NS_SID, "stanza-id"), *next; n; n = next) {
        next = xml_node_next_element(n, NS_SID, "stanza-id");
        if (!g_strcmp0(xml_node_attr(n, "by"), jid_bare(user))) {
            xml_node_unlink(n);
            xml_node_free(n);
        }
    }
    if (!wanted(jid_bare(user), jid_bare(st->from)))
        return HOOK_PASS;
    g_autofree char *key = NULL;
    XmlNode *sid = xml_node_add_child(st->el, NS_SID, "stanza-id");
    xml_node_set_attr(sid, "by", jid_bare(user));
    key = archive(jid_bare(user), st, FALSE, jid_bare(st->from));
    xml_node_set_attr(sid, "id", key);
    return HOOK_PASS;
}

/* Outgoing: what the user sends is in the user's archive too. */
static HookResult on_sent(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    Stanza *st = ev->st;
    if (!cs || st->kind != STANZA_KIND_MESSAGE || !st->to || !archivable(st))
        return HOOK_PASS;
    g_autoptr(Jid) with = jid_to_bare(st->to);
    if (!wanted(jid_bare(cs->jid), jid_bare(with)))
        return HOOK_PASS;
    g_free(archive(jid_bare(cs->jid), st, TRUE, jid_bare(with)));
    return HOOK_PASS;
}

static gboolean collect(const char *key, const void *val, gsize len, gpointer ud)
{
    const char *p = val, *nl = memchr(val, '\n', len);
    if (!nl)
        return TRUE;
    g_autofree char *head = g_strndup(p, nl - p);
    g_auto(GStrv) f = g_strsplit(head, " ", 3);
    if (g_strv_length(f) != 3)
        return TRUE;
    ArchItem *a = g_new0(ArchItem, 1);
    a->key = g_strdup(key);
    a->ts = g_ascii_strtoll(f[0], NULL, 10);
    a->out = !strcmp(f[1], "out");
    a->with = g_strdup(f[2]);
    a->xml = g_strndup(nl + 1, len - (nl + 1 - p));
    g_ptr_array_add(ud, a);
    return TRUE;
}

/* Retention (config): entries older than archive_days go. */
static void expire(const char *user, GPtrArray *items)
{
    gint64 days = config_get_int(server->config, "limits", "archive_days");
    if (days <= 0)
        return;
    gint64 cutoff = g_get_real_time() - days * 86400 * G_USEC_PER_SEC;
    while (items->len) {
        ArchItem *a = g_ptr_array_index(items, 0);
        if (a->ts >= cutoff)
            break;
        store_map_delete(server->store, ARCHIVE_MAP, user, a->key, NULL);
        g_ptr_array_remove_index(items, 0);
    }
}

static char *field_value(XmlNode *form, const char *var)
{
    for (XmlNode *f = form ? xml_node_child(form, NS_DATA, "field") : NULL; f;
         f = xml_node_next_element(f, NS_DATA, "field"))
        if (!g_strcmp0(xml_node_attr(f, "var"), var)) {
            XmlNode *v = xml_node_child(f, NS_DATA, "value");
            return v ? xml_node_text(v) : g_strdup("");
        }
    return NULL;
}

static gboolean parse_time(const char *s, gint64 *out)
{
    g_autoptr(GDateTime) dt = s ? g_date_time_new_from_iso8601(s, NULL) : NULL;
    if (!dt)
        return FALSE;
    *out = g_date_time_to_unix(dt) * G_USEC_PER_SEC + g_date_time_get_microsecond(dt);
    return TRUE;
}

static gboolean matches_with(const ArchItem *a, const char *with)
{
    if (!with)
        return TRUE;
    return !strcmp(a->with, with); /* the archive keeps bare JIDs */
}

static void send_result(StanzaEvent *ev, C2sSession *cs, const char *queryid, ArchItem *a)
{
    g_autoptr(XmlNode) orig = xml_parse_fragment(a->xml, -1, NULL);
    if (!orig)
        return;
    g_autoptr(XmlNode) m = xml_node_new(XML_NS_CLIENT, "message");
    xml_node_set_attr(m, "to", jid_full(cs->jid));
    xml_node_set_attr(m, "from", jid_bare(cs->jid));
    XmlNode *r = xml_node_add_child(m, NS_MAM, "result");
    if (queryid)
        xml_node_set_attr(r, "queryid", queryid);
    xml_node_set_attr(r, "id", a->key);
    XmlNode *fwd = xml_node_add_child(r, NS_FORWARD, "forwarded");
    XmlNode *delay = xml_node_add_child(fwd, NS_DELAY, "delay");
    g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(a->ts / G_USEC_PER_SEC);
    g_autofree char *stamp = g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ");
    xml_node_set_attr(delay, "stamp", stamp);
    xml_node_append(fwd, g_steal_pointer(&orig));
    c2s_send_el(cs, m);
}

static gint find_key(GPtrArray *items, const char *key)
{
    for (guint i = 0; i < items->len; i++)
        if (!strcmp(((ArchItem *)g_ptr_array_index(items, i))->key, key))
            return (gint)i;
    return -1;
}

/* §4: a query, paged with XEP-0059 */
static HookResult on_query(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *q = stanza_iq_payload(ev->st);
    const char *queryid = xml_node_attr(q, "queryid");
    XmlNode *form = xml_node_child(q, NS_DATA, "x");
    g_autofree char *with_raw = field_value(form, "with");
    g_autofree char *start_s = field_value(form, "start");
    g_autofree char *end_s = field_value(form, "end");
    g_autofree char *with = NULL;
    gint64 start = G_MININT64, end = G_MAXINT64;
    if (with_raw) {
        g_autoptr(Jid) j = jid_new(with_raw, NULL);
        if (!j) {
            module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_BAD_REQUEST, "bad 'with'"));
            return HOOK_HANDLED;
        }
        with = g_strdup(jid_bare(j));
    }
    if ((start_s && !parse_time(start_s, &start)) || (end_s && !parse_time(end_s, &end))) {
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_BAD_REQUEST, "bad start/end"));
        return HOOK_HANDLED;
    }
    XmlNode *set = xml_node_child(q, NS_RSM, "set");
    guint max = MAM_DEFAULT_MAX;
    XmlNode *n;
    if (set && (n = xml_node_child(set, NS_RSM, "max"))) {
        g_autofree char *t = xml_node_text(n);
        max = (guint)CLAMP(g_ascii_strtoll(t, NULL, 10), 0, MAM_MAX_MAX);
    }
    XmlNode *after_n = set ? xml_node_child(set, NS_RSM, "after") : NULL;
    XmlNode *before_n = set ? xml_node_child(set, NS_RSM, "before") : NULL;
    g_autofree char *after = after_n ? xml_node_text(after_n) : NULL;
    g_autofree char *before = before_n ? xml_node_text(before_n) : NULL;

    conn_group_commit_now(&group_commit); /* what was just said is in the archive */
    const char *user = jid_bare(cs->jid);
    g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(arch_item_free);
    store_map_foreach(server->store, ARCHIVE_MAP, user, collect, all, NULL);
    expire(user, all);
    if ((after && *after && find_key(all, after) < 0) ||
        (before && *before && find_key(all, before) < 0)) { /* §4.3.3 */
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_ITEM_NOT_FOUND, NULL));
        return HOOK_HANDLED;
    }
    g_autoptr(GPtrArray) match = g_ptr_array_new();
    for (guint i = 0; i < all->len; i++) {
        ArchItem *a = g_ptr_array_index(all, i);
        if (matches_with(a, with) && a->ts >= start && a->ts <= end &&
            (!after || !*after || strcmp(a->key, after) > 0) &&
            (!before || !*before || strcmp(a->key, before) < 0))
            g_ptr_array_add(match, a);
    }
    guint from = 0, to = match->len;
    gboolean complete;
    if (before) { /* the last page before it (an empty <before/>: the very last page) */
        from = match->len > max ? match->len - max : 0;
        complete = from == 0;
    } else {
        to = MIN(match->len, max);
        complete = to == match->len;
    }
    for (guint i = from; i < to; i++)
        send_result(ev, cs, queryid, g_ptr_array_index(match, i));
    Stanza *reply = module_result(ev);
    XmlNode *fin = xml_node_add_child(reply->el, NS_MAM, "fin");
    if (complete)
        xml_node_set_attr(fin, "complete", "true");
    XmlNode *rs = xml_node_add_child(fin, NS_RSM, "set");
    if (to > from) {
        xml_node_add_text(xml_node_add_child(rs, NULL, "first"),
                          ((ArchItem *)g_ptr_array_index(match, from))->key, -1);
        xml_node_add_text(xml_node_add_child(rs, NULL, "last"),
                          ((ArchItem *)g_ptr_array_index(match, to - 1))->key, -1);
    }
    g_autofree char *count = g_strdup_printf("%u", match->len);
    xml_node_add_text(xml_node_add_child(rs, NULL, "count"), count, -1);
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* §4.1.1: the query form */
static HookResult on_form(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *reply = module_result(ev);
    XmlNode *q = xml_node_add_child(reply->el, NS_MAM, "query");
    XmlNode *x = xml_node_add_child(q, NS_DATA, "x");
    xml_node_set_attr(x, "type", "form");
    XmlNode *ft = xml_node_add_child(x, NULL, "field");
    xml_node_set_attr(ft, "var", "FORM_TYPE");
    xml_node_set_attr(ft, "type", "hidden");
    xml_node_add_text(xml_node_add_child(ft, NULL, "value"), NS_MAM, -1);
    static const char *const vars[][2] = {
        {"with", "jid-single"}, {"start", "text-single"}, {"end", "text-single"}};
    for (guint i = 0; i < G_N_ELEMENTS(vars); i++) {
        XmlNode *f = xml_node_add_child(x, NULL, "field");
        xml_node_set_attr(f, "var", vars[i][0]);
        xml_node_set_attr(f, "type", vars[i][1]);
    }
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static HookResult on_prefs(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    const char *user = jid_bare(cs->jid);
    XmlNode *in = stanza_iq_payload(ev->st);
    if (!strcmp(ev->st->type, "set")) {
        const char *def = xml_node_attr(in, "default");
        if (!def || (strcmp(def, "always") && strcmp(def, "never") && strcmp(def, "roster"))) {
            module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_BAD_REQUEST, "bad default"));
            return HOOK_HANDLED;
        }
        g_autofree char *xml = xml_node_to_string(in);
        if (!store_map_set(server->store, PREFS_MAP, user, "prefs", xml, strlen(xml), NULL)) {
            module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL));
            return HOOK_HANDLED;
        }
        g_hash_table_remove(prefs_cache, user);
    }
    Stanza *reply = module_result(ev);
    xml_node_append(reply->el, xml_node_copy(load_prefs(user)));
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* One namespace, two payloads: <query/> and <prefs/> (§4, §6). */
static HookResult on_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    XmlNode *p = stanza_iq_payload(ev->st);
    return !strcmp(p->name, "prefs") ? on_prefs(event, data, ud) : on_form(event, data, ud);
}

static HookResult on_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    XmlNode *p = stanza_iq_payload(ev->st);
    return !strcmp(p->name, "prefs") ? on_prefs(event, data, ud) : on_query(event, data, ud);
}

static const HookSpec mam_hooks[] = {
    {"message/to-user", 0, on_to_user, NULL},
    {"stanzas/in", -20, on_sent, NULL},
    {"iq-set/self/" NS_MAM, 0, on_set, NULL},
    {"iq-get/self/" NS_MAM, 0, on_get, NULL},
    {NULL},
};

static gboolean mam_init(Server *srv, GError **error)
{
    server = srv;
    prefs_cache =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)xml_node_free);
    disco_add_account_feature(NS_MAM);
    disco_add_feature(NS_SID);
    conn_group_commit_add(&group_commit);
    return TRUE;
}

static void mam_fini(void)
{
    conn_group_commit_remove(&group_commit);
    g_clear_pointer(&prefs_cache, g_hash_table_destroy);
}

const ModuleDesc mod_mam = {
    .name = "mam",
    .init = mam_init,
    .fini = mam_fini,
    .hooks = mam_hooks,
};
