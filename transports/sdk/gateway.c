/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/gateway.c — what every gateway answers on its own domain: XEP-0030
 * disco#info, XEP-0199 ping, XEP-0092 version, XEP-0077 registration through XEP-0100,
 * jabber:iq:gateway, and the presence subscription of XEP-0100 §4.1 */
#include "transports/sdk/sdk-private.h"

#include <string.h>

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_REGISTER "jabber:iq:register"
#define NS_GATEWAY "jabber:iq:gateway"
#define NS_DATA "jabber:x:data"
#define FEATURE_JID_ESCAPING "jid\\20escaping" /* XEP-0106 §6 */

/* XEP-0077 §14.1: the elements a legacy (form-less) client can fill in */
static const char *const legacy_names[] = {
    "username", "nick", "password", "name", "first", "last", "email", "address", "city",
    "state",    "zip",  "phone",    "url",  "date",  "misc", "text",  "key",     NULL,
};

static gboolean is_legacy_name(const char *var)
{
    return g_strv_contains(legacy_names, var);
}

static xmpp_stanza_t *result_query(TtTransport *t, xmpp_stanza_t *iq, const char *ns,
                                   xmpp_stanza_t **query)
{
    xmpp_stanza_t *r = tt_iq_result_new(t, iq);
    *query = tt_stanza_add_child(r, "query", ns, NULL);
    return r;
}

static void add_feature(xmpp_stanza_t *q, const char *var)
{
    xmpp_stanza_t *f = tt_stanza_add_child(q, "feature", NULL, NULL);
    xmpp_stanza_set_attribute(f, "var", var);
}

static void disco_info(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq)
{
    xmpp_stanza_t *q;
    xmpp_stanza_t *r = result_query(t, iq, NS_DISCO_INFO, &q);
    xmpp_stanza_t *id = tt_stanza_add_child(q, "identity", NULL, NULL);
    xmpp_stanza_set_attribute(id, "category", "gateway"); /* XEP-0100 §5 */
    xmpp_stanza_set_attribute(id, "type", gw->gateway_type);
    xmpp_stanza_set_attribute(id, "name", gw->name);
    add_feature(q, NS_DISCO_INFO);
    add_feature(q, NS_PING);
    add_feature(q, NS_VERSION);
    add_feature(q, FEATURE_JID_ESCAPING);
    if (gw->instructions)
        add_feature(q, NS_REGISTER);
    if (gw->prompt_desc)
        add_feature(q, NS_GATEWAY);
    for (char **f = gw->features; f && *f; f++)
        add_feature(q, *f);
    tt_send(t, r);
}

static void version(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq)
{
    xmpp_stanza_t *q;
    xmpp_stanza_t *r = result_query(t, iq, NS_VERSION, &q);
    tt_stanza_add_child(q, "name", NULL, gw->name);
    tt_stanza_add_child(q, "version", NULL, PACKAGE_VERSION);
    tt_send(t, r);
}

/* --- XEP-0077 registration ----------------------------------------------------------- */

static void add_form_field(xmpp_stanza_t *x, const TtField *f, const char *value)
{
    static const char *const types[] = {"text-single", "text-private", "boolean"};
    xmpp_stanza_t *field = tt_stanza_add_child(x, "field", NULL, NULL);
    xmpp_stanza_set_attribute(field, "type", types[f->type]);
    xmpp_stanza_set_attribute(field, "var", f->var);
    xmpp_stanza_set_attribute(field, "label", f->label);
    if (f->required)
        tt_stanza_add_child(field, "required", NULL, NULL);
    /* a stored password is never sent back */
    if (value && f->type != TT_FIELD_PRIVATE)
        tt_stanza_add_child(field, "value", NULL, value);
}

static void register_form(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq,
                          const char *user)
{
    xmpp_stanza_t *q;
    xmpp_stanza_t *r = result_query(t, iq, NS_REGISTER, &q);
    gboolean registered = tt_is_registered(t, user);
    tt_stanza_add_child(q, "instructions", NULL, gw->instructions);
    if (registered)
        tt_stanza_add_child(q, "registered", NULL, NULL);
    xmpp_stanza_t *x = tt_stanza_add_child(q, "x", NS_DATA, NULL);
    xmpp_stanza_set_attribute(x, "type", "form");
    tt_stanza_add_child(x, "title", NULL, gw->name);
    tt_stanza_add_child(x, "instructions", NULL, gw->instructions);
    xmpp_stanza_t *ft = tt_stanza_add_child(x, "field", NULL, NULL);
    xmpp_stanza_set_attribute(ft, "type", "hidden");
    xmpp_stanza_set_attribute(ft, "var", "FORM_TYPE");
    tt_stanza_add_child(ft, "value", NULL, NS_REGISTER);
    for (const TtField *f = gw->fields; f->var; f++) {
        g_autofree char *value = registered ? tt_registration_get(t, user, f->var) : NULL;
        add_form_field(x, f, value);
        if (is_legacy_name(f->var)) /* XEP-0077 §3.1 legacy fields next to the form */
            tt_stanza_add_child(q, f->var, NULL, f->type == TT_FIELD_PRIVATE ? NULL : value);
    }
    tt_send(t, r);
}

/* Submitted values: the data form (type submit) or the XEP-0077 elements. transfer full */
static GHashTable *submitted_values(const TtGatewayInfo *gw, xmpp_stanza_t *query)
{
    GHashTable *v = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    xmpp_stanza_t *x = xmpp_stanza_get_child_by_ns(query, NS_DATA);
    for (const TtField *f = gw->fields; f->var; f++) {
        char *text = NULL;
        if (x) {
            for (xmpp_stanza_t *c = xmpp_stanza_get_children(x); c; c = xmpp_stanza_get_next(c)) {
                if (g_strcmp0(xmpp_stanza_get_name(c), "field") == 0 &&
                    g_strcmp0(xmpp_stanza_get_attribute(c, "var"), f->var) == 0) {
                    text = tt_stanza_child_text(c, "value");
                    break;
                }
            }
        } else if (is_legacy_name(f->var)) {
            text = tt_stanza_child_text(query, f->var);
        }
        if (text && f->type == TT_FIELD_BOOLEAN) {
            gboolean on = strcmp(text, "1") == 0 || strcmp(text, "true") == 0;
            g_free(text);
            text = g_strdup(on ? "1" : "0");
        }
        if (text)
            g_hash_table_insert(v, g_strdup(f->var), text);
    }
    return v;
}

static void send_presence_type(TtTransport *t, const char *to, const char *type)
{
    tt_send(t, tt_stanza_new(t, "presence", type, tt_transport_domain(t), to, NULL));
}

static void unregister(TtTransport *t, xmpp_stanza_t *iq, const char *user)
{
    g_autoptr(GError) error = NULL;
    if (!tt_is_registered(t, user)) {
        tt_send_error(t, iq, "cancel", "item-not-found", "not registered");
        return;
    }
    if (!tt_store_delete(tt_transport_store(t), user, NULL, &error)) {
        tt_send_error(t, iq, "wait", "internal-server-error", NULL);
        g_message("transport %s: unregister %s: %s", tt_transport_domain(t), user, error->message);
        return;
    }
    tt_send(t, tt_iq_result_new(t, iq));
    /* XEP-0100 §4.3: cancel the subscriptions both ways, log out */
    send_presence_type(t, user, "unsubscribe");
    send_presence_type(t, user, "unsubscribed");
    send_presence_type(t, user, "unavailable");
    gpointer ud;
    const TtHandlers *h = tt_transport_handlers(t, &ud);
    if (h->unregistered)
        h->unregistered(t, user, ud);
}

static gboolean store_values(TtTransport *t, const char *user, GHashTable *values, GError **error)
{
    TtStore *s = tt_transport_store(t);
    if (!tt_store_delete(s, user, NULL, error)) /* fields left out are cleared */
        return FALSE;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, values);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        g_autofree char *key = g_strconcat(TT_KEY_FIELD_PREFIX, (char *)k, NULL);
        if (!tt_store_set(s, user, key, v, error))
            return FALSE;
    }
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format_iso8601(now);
    return tt_store_set(s, user, TT_KEY_REGISTERED, stamp, error);
}

static void register_submit(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq,
                            xmpp_stanza_t *query, const char *user)
{
    if (xmpp_stanza_get_child_by_name(query, "remove")) {
        unregister(t, iq, user);
        return;
    }
    g_autoptr(GHashTable) values = submitted_values(gw, query);
    for (const TtField *f = gw->fields; f->var; f++) {
        const char *v = g_hash_table_lookup(values, f->var);
        if (f->required && (!v || !*v)) { /* XEP-0077 §3.1 */
            g_autofree char *text = g_strdup_printf("%s is required", f->label);
            tt_send_error(t, iq, "modify", "not-acceptable", text);
            return;
        }
    }
    gboolean was = tt_is_registered(t, user);
    gpointer ud;
    const TtHandlers *h = tt_transport_handlers(t, &ud);
    g_autoptr(GError) error = NULL;
    if (h->registering && !h->registering(t, user, values, &error, ud)) {
        gboolean auth = error && g_error_matches(error, TT_ERROR, TT_ERROR_NOT_AUTHORIZED);
        tt_send_error(t, iq, auth ? "auth" : "modify", auth ? "not-authorized" : "not-acceptable",
                      error ? error->message : NULL);
        return;
    }
    if (!store_values(t, user, values, &error)) {
        g_message("transport %s: register %s: %s", gw->domain, user, error->message);
        tt_send_error(t, iq, "wait", "internal-server-error", NULL);
        return;
    }
    tt_send(t, tt_iq_result_new(t, iq));
    if (!was) /* XEP-0100 §4.1.1: the gateway asks to be in the user's roster */
        send_presence_type(t, user, "subscribe");
}

/* --- jabber:iq:gateway (XEP-0100 §6.3) ----------------------------------------------- */

static void gateway_iq(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq, gboolean set,
                       xmpp_stanza_t *query)
{
    xmpp_stanza_t *q;
    if (!set) {
        xmpp_stanza_t *r = result_query(t, iq, NS_GATEWAY, &q);
        tt_stanza_add_child(q, "desc", NULL, gw->prompt_desc);
        tt_stanza_add_child(q, "prompt", NULL, gw->prompt);
        tt_send(t, r);
        return;
    }
    g_autofree char *legacy = tt_stanza_child_text(query, "prompt");
    if (!legacy || !*legacy) {
        tt_send_error(t, iq, "modify", "bad-request", "no <prompt/>");
        return;
    }
    gpointer ud;
    const TtHandlers *h = tt_transport_handlers(t, &ud);
    char *jid;
    if (h->legacy_to_jid) {
        jid = h->legacy_to_jid(t, legacy, ud);
    } else {
        g_autofree char *local = tt_jid_escape(legacy);
        jid = local ? g_strconcat(local, "@", gw->domain, NULL) : NULL;
    }
    if (!jid) {
        tt_send_error(t, iq, "modify", "not-acceptable", "not a valid address here");
        return;
    }
    xmpp_stanza_t *r = result_query(t, iq, NS_GATEWAY, &q);
    tt_stanza_add_child(q, "jid", NULL, jid);
    tt_send(t, r);
    g_free(jid);
}

gboolean tt_gateway_handle_iq(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq)
{
    gboolean set = g_strcmp0(xmpp_stanza_get_type(iq), "set") == 0;
    xmpp_stanza_t *q = xmpp_stanza_get_children(iq);
    while (q && !xmpp_stanza_is_tag(q))
        q = xmpp_stanza_get_next(q);
    const char *ns = q ? xmpp_stanza_get_ns(q) : NULL;
    if (!ns)
        return FALSE;
    g_autofree char *user = tt_jid_bare(xmpp_stanza_get_from(iq));
    if (!set && strcmp(ns, NS_DISCO_INFO) == 0 && !xmpp_stanza_get_attribute(q, "node")) {
        disco_info(t, gw, iq);
    } else if (!set && strcmp(ns, NS_PING) == 0) {
        tt_send(t, tt_iq_result_new(t, iq));
    } else if (!set && strcmp(ns, NS_VERSION) == 0) {
        version(t, gw, iq);
    } else if (strcmp(ns, NS_REGISTER) == 0 && gw->instructions) {
        if (set)
            register_submit(t, gw, iq, q, user);
        else
            register_form(t, gw, iq, user);
    } else if (strcmp(ns, NS_GATEWAY) == 0 && gw->prompt_desc) {
        gateway_iq(t, gw, iq, set, q);
    } else {
        return FALSE;
    }
    return TRUE;
}

gboolean tt_gateway_handle_presence(TtTransport *t, const TtGatewayInfo *gw,
                                    xmpp_stanza_t *presence)
{
    const char *type = xmpp_stanza_get_type(presence);
    if (!type || strcmp(type, "unavailable") == 0 || strcmp(type, "error") == 0)
        return FALSE; /* the user's availability: the program's business */
    g_autofree char *user = tt_jid_bare(xmpp_stanza_get_from(presence));
    gboolean registered = !gw->instructions || tt_is_registered(t, user);
    if (strcmp(type, "subscribe") == 0) {
        /* XEP-0100 §4.1.1 steps 9-10: approve a registered user, then say we are here */
        send_presence_type(t, user, registered ? "subscribed" : "unsubscribed");
        if (registered)
            tt_send(t, tt_presence_new(t, gw->domain, user, TT_SHOW_AVAILABLE, NULL));
    } else if (strcmp(type, "probe") == 0) {
        tt_send(t, tt_presence_new(t, gw->domain, user,
                                   registered ? TT_SHOW_AVAILABLE : TT_SHOW_UNAVAILABLE, NULL));
    } else if (strcmp(type, "unsubscribe") == 0) {
        send_presence_type(t, user, "unsubscribed");
    }
    /* subscribed / unsubscribed: acknowledged by silence */
    return TRUE;
}

/* --- registrations in the store -------------------------------------------------------- */

gboolean tt_is_registered(TtTransport *t, const char *user)
{
    TtStore *s = tt_transport_store(t);
    g_autofree char *v = s && user ? tt_store_get(s, user, TT_KEY_REGISTERED) : NULL;
    return v != NULL;
}

char *tt_registration_get(TtTransport *t, const char *user, const char *var)
{
    TtStore *s = tt_transport_store(t);
    if (!s || !user)
        return NULL;
    g_autofree char *key = g_strconcat(TT_KEY_FIELD_PREFIX, var, NULL);
    return tt_store_get(s, user, key);
}

static gboolean collect_registered(const char *user, const char *key, const char *value,
                                   gpointer data)
{
    if (strcmp(key, TT_KEY_REGISTERED) == 0)
        g_ptr_array_add(data, g_strdup(user));
    return TRUE;
}

char **tt_registered_users(TtTransport *t)
{
    GPtrArray *users = g_ptr_array_new();
    TtStore *s = tt_transport_store(t);
    g_autoptr(GError) error = NULL;
    if (s && !tt_store_foreach(s, NULL, collect_registered, users, &error))
        g_message("transport %s: listing registrations: %s", tt_transport_domain(t),
                  error->message);
    g_ptr_array_add(users, NULL);
    return (char **)g_ptr_array_free(users, FALSE);
}
