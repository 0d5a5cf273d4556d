/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_register.c — XEP-0077 in-band registration, password change, cancellation */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/sm.h"
#include "storage/accounts.h"

#include <openssl/crypto.h>

#define NS_REGISTER "jabber:iq:register"

static Server *server;
static GHashTable *last_by_ip; /* peer address -> gint64 monotonic time of last account */

gboolean mod_register_enabled(void)
{
    return server && config_get_bool(server->config, "c2s", "allow_register");
}

static Stanza *reply_for_stream(Stanza *st)
{
    Stanza *reply = stanza_iq_result(st);
    stanza_set_to(reply, NULL);
    stanza_set_from(reply, NULL);
    return reply;
}

static void send_error(C2sSession *cs, Stanza *st, StanzaErr err, const char *text)
{
    g_autoptr(Stanza) reply = stanza_error_reply(st, err, text);
    if (!reply)
        return;
    stanza_set_to(reply, NULL);
    stanza_set_from(reply, NULL);
    c2s_session_send(cs, reply);
}

static char *child_text(XmlNode *q, const char *name)
{
    XmlNode *n = xml_node_child(q, NS_REGISTER, name);
    return n ? xml_node_text(n) : NULL;
}

static gboolean password_acceptable(const char *pw)
{
    if (!pw || !*pw || strlen(pw) > 1023 || !g_utf8_validate(pw, -1, NULL))
        return FALSE;
    for (const char *p = pw; *p; p = g_utf8_next_char(p))
        if (g_unichar_iscntrl(g_utf8_get_char(p)))
            return FALSE;
    return TRUE;
}

void mod_register_preauth(C2sSession *cs, Stanza *st)
{
    if (!mod_register_enabled()) {
        send_error(cs, st, STANZA_ERR_SERVICE_UNAVAILABLE, "registration is disabled");
        return;
    }
    XmlNode *q = stanza_iq_payload(st);
    if (!g_strcmp0(st->type, "get")) { /* XEP-0077 §3.1 */
        g_autoptr(Stanza) reply = reply_for_stream(st);
        XmlNode *r = xml_node_add_child(reply->el, NS_REGISTER, "query");
        xml_node_add_text(xml_node_add_child(r, NULL, "instructions"),
                          "Choose a username and password for use with this service.", -1);
        xml_node_add_child(r, NULL, "username");
        xml_node_add_child(r, NULL, "password");
        c2s_session_send(cs, reply);
        return;
    }
    if (g_strcmp0(st->type, "set")) {
        send_error(cs, st, STANZA_ERR_BAD_REQUEST, NULL);
        return;
    }
    g_autofree char *user = child_text(q, "username");
    g_autofree char *password = child_text(q, "password");
    if (!user || !password_acceptable(password)) {
        send_error(cs, st, STANZA_ERR_NOT_ACCEPTABLE, "username and password are required");
        return;
    }
    g_autofree char *local = jid_prep_local(user, NULL);
    if (!local) {
        send_error(cs, st, STANZA_ERR_JID_MALFORMED, "the username is not a valid localpart");
        return;
    }
    const char *ip = stream_peer_addr(cs->stream);
    gint64 now = g_get_monotonic_time();
    gint64 interval = config_get_int(server->config, "c2s", "register_interval");
    gint64 *last = g_hash_table_lookup(last_by_ip, ip);
    if (last && now - *last < interval * G_USEC_PER_SEC) {
        send_error(cs, st, STANZA_ERR_RESOURCE_CONSTRAINT,
                   "too many registrations from this address; try again later");
        return;
    }
    g_autofree char *bare = g_strconcat(local, "@", cs->domain, NULL);
    g_autoptr(GError) err = NULL;
    if (!account_create(server->store, bare, password, &err)) {
        OPENSSL_cleanse(password, strlen(password));
        if (g_error_matches(err, STORE_ERROR, STORE_ERROR_EXISTS))
            send_error(cs, st, STANZA_ERR_CONFLICT, "the username is taken");
        else
            send_error(cs, st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    OPENSSL_cleanse(password, strlen(password));
    gint64 *t = g_new(gint64, 1);
    *t = now;
    g_hash_table_replace(last_by_ip, g_strdup(ip), t);
    g_message("register: %s created from %s", bare, ip);
    g_autoptr(Stanza) reply = reply_for_stream(st);
    c2s_session_send(cs, reply);
}

static HookResult on_get(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    Stanza *reply = module_result(ev);
    XmlNode *q = xml_node_add_child(reply->el, NS_REGISTER, "query");
    xml_node_add_child(q, NULL, "registered");
    xml_node_add_text(xml_node_add_child(q, NULL, "username"), cs->username, -1);
    xml_node_add_child(q, NULL, "password");
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

/* XEP-0077 §3.2 cancel, §3.3 password change (always allowed for the own account) */
static HookResult on_set(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs)
        return HOOK_PASS;
    XmlNode *q = stanza_iq_payload(ev->st);
    const char *bare = jid_bare(cs->jid);
    g_autoptr(GError) err = NULL;
    if (xml_node_child(q, NS_REGISTER, "remove")) {
        if (!account_delete(server->store, bare, &err)) {
            module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL));
            return HOOK_HANDLED;
        }
        g_message("register: %s removed its account", bare);
        Stanza *reply = module_result(ev);
        module_reply(ev, reply);
        GPtrArray *list = sm_sessions_of(bare);
        g_autoptr(GPtrArray) all = list ? g_ptr_array_copy(list, NULL, NULL) : NULL;
        for (guint i = 0; all && i < all->len; i++) { /* ending one changes the list */
            C2sSession *o = g_ptr_array_index(all, i);
            if (!o->stream)
                c2s_session_end(o);
            else if (o == cs)
                stream_close(o->stream);
            else
                stream_error(o->stream, STREAM_ERR_NOT_AUTHORIZED, "the account was removed");
        }
        return HOOK_HANDLED;
    }
    g_autofree char *user = child_text(q, "username");
    g_autofree char *password = child_text(q, "password");
    g_autofree char *local = user ? jid_prep_local(user, NULL) : NULL;
    if (!password_acceptable(password) || (user && g_strcmp0(local, cs->username))) {
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_BAD_REQUEST,
                                            "password (and your own username) expected"));
        return HOOK_HANDLED;
    }
    gboolean ok = account_set_password(server->store, bare, password, &err);
    OPENSSL_cleanse(password, strlen(password));
    if (!ok) {
        module_reply(ev, stanza_error_reply(ev->st, STANZA_ERR_INTERNAL_SERVER_ERROR, NULL));
        return HOOK_HANDLED;
    }
    Stanza *reply = module_result(ev);
    module_reply(ev, reply);
    return HOOK_HANDLED;
}

static const HookSpec register_hooks[] = {
    {"iq-get/self/" NS_REGISTER, 0, on_get, NULL},
    {"iq-set/self/" NS_REGISTER, 0, on_set, NULL},
    {NULL},
};

static gboolean register_init(Server *srv, GError **error)
{
    server = srv;
    last_by_ip = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (mod_register_enabled())
        disco_add_feature(NS_REGISTER);
    return TRUE;
}

static void register_fini(void)
{
    g_clear_pointer(&last_by_ip, g_hash_table_destroy);
    server = NULL;
}

const ModuleDesc mod_register = {
    .name = "register",
    .init = register_init,
    .fini = register_fini,
    .hooks = register_hooks,
};
