/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/bridge.c — the Bridge, XMPP side: sessions (one IRC connection per user
 * and server), XEP-0045 joins, leaves, nick changes, groupchat and private messages */
#include "transports/irc/bridge-private.h"

#include <string.h>

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_PING "urn:xmpp:ping"
#define ACTION_OVERHEAD 9 /* "\001ACTION " + "\001" */

static void occupant_free(gpointer p)
{
    Occupant *o = p;
    g_free(o->nick);
    g_free(o);
}

static void channel_free(gpointer p)
{
    Channel *ch = p;
    g_free(ch->name);
    g_free(ch->room);
    g_free(ch->client);
    g_free(ch->asked_nick);
    g_hash_table_destroy(ch->occupants);
    if (ch->names)
        g_hash_table_destroy(ch->names);
    g_free(ch->topic);
    g_free(ch->pending_nick);
    g_free(ch);
}

static void session_free(Session *s)
{
    irc_conn_free(s->irc); /* after a QUIT it lingers until the QUIT is written */
    g_hash_table_destroy(s->channels);
    g_free(s->user);
    g_free(s->server);
    g_free(s->key);
    g_free(s);
}

static gboolean reap(gpointer data)
{
    Bridge *b = data;
    g_source_unref(b->reaper);
    b->reaper = NULL;
    for (guint i = 0; i < b->doomed->len; i++)
        session_free(b->doomed->pdata[i]);
    g_ptr_array_set_size(b->doomed, 0);
    return G_SOURCE_REMOVE;
}

void session_doom(Session *s, const char *reason)
{
    if (s->doomed)
        return;
    s->doomed = TRUE;
    Bridge *b = s->b;
    g_hash_table_steal(b->sessions, s->key);
    irc_conn_quit(s->irc, reason);
    g_ptr_array_add(b->doomed, s);
    if (!b->reaper) {
        b->reaper = g_idle_source_new();
        g_source_set_callback(b->reaper, reap, b, NULL);
        g_source_attach(b->reaper, g_main_context_get_thread_default());
    }
}

Channel *session_channel(Session *s, const char *name)
{
    g_autofree char *key = irc_casefold(name);
    return g_hash_table_lookup(s->channels, key);
}

void session_remove_channel(Session *s, Channel *ch)
{
    g_autofree char *key = irc_casefold(ch->name);
    g_hash_table_remove(s->channels, key);
    if (g_hash_table_size(s->channels) == 0)
        session_doom(s, "Left all channels");
}

char *channel_occupant_jid(Session *s, Channel *ch, const char *nick)
{
    return irc_address_occupant(ch->name, s->server, nick, tt_transport_domain(s->b->t));
}

void channel_send_self(Session *s, Channel *ch, gboolean available, const int *codes,
                       const char *status)
{
    const char *nick = irc_conn_nick(s->irc);
    g_autofree char *fold = irc_casefold(nick);
    Occupant *me = g_hash_table_lookup(ch->occupants, fold);
    g_autofree char *from = channel_occupant_jid(s, ch, nick);
    tt_send(s->b->t, muc_occupant_presence(s->b->t, from, ch->client, me ? me->mode : 0, available,
                                           NULL, codes, status));
}

void session_join(Session *s, Channel *ch)
{
    if (!irc_conn_is_ready(s->irc))
        return; /* bridge_irc_ready() joins every channel */
    g_autofree char *line = irc_line("JOIN", ch->name, NULL);
    irc_conn_send(s->irc, line);
}

void session_privmsg(Session *s, const char *target, const char *text)
{
    gboolean action = g_str_has_prefix(text, "/me ");
    gsize budget = irc_privmsg_budget(target, irc_conn_nick(s->irc), irc_conn_user(s->irc),
                                      irc_conn_host(s->irc));
    if (action)
        budget -= ACTION_OVERHEAD;
    g_autoptr(GPtrArray) pieces = irc_split_text(action ? text + 4 : text, budget);
    for (guint i = 0; i < pieces->len; i++) {
        g_autofree char *payload =
            action ? g_strconcat("\001ACTION ", (char *)pieces->pdata[i], "\001", NULL)
                   : g_strdup(pieces->pdata[i]);
        g_autofree char *line = irc_line("PRIVMSG", target, payload, NULL);
        irc_conn_send(s->irc, line);
    }
}

static Session *session_get(Bridge *b, const char *user, const IrcServerConfig *srv,
                            const char *nick)
{
    g_autofree char *key = g_strconcat(user, "\n", srv->name, NULL);
    Session *s = g_hash_table_lookup(b->sessions, key);
    if (s || !nick)
        return s;
    s = g_new0(Session, 1);
    s->b = b;
    s->user = g_strdup(user);
    s->server = g_strdup(srv->name);
    s->key = g_steal_pointer(&key);
    s->channels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, channel_free);
    g_autofree char *sasl_user = srv->sasl ? tt_registration_get(b->t, user, "username") : NULL;
    g_autofree char *sasl_pw = srv->sasl ? tt_registration_get(b->t, user, "password") : NULL;
    IrcConnConfig cc = {
        .host = srv->host,
        .port = srv->port,
        .tls = srv->tls,
        .tls_verify = srv->tls_verify,
        .password = srv->password,
        .nick = nick,
        .username = b->cfg->username,
        .realname = b->cfg->realname,
        .sasl_user = sasl_user,
        .sasl_password = sasl_pw,
        .reconnect_min_ms = b->cfg->irc_reconnect_min_ms,
        .reconnect_max_ms = b->cfg->irc_reconnect_max_ms,
        .throttle_burst = b->cfg->throttle_burst,
        .throttle_interval_ms = b->cfg->throttle_interval_ms,
    };
    IrcConnHandlers h = {
        .ready = bridge_irc_ready,
        .message = bridge_irc_message,
        .disconnected = bridge_irc_disconnected,
    };
    s->irc = irc_conn_new(&cc, &h, s);
    g_hash_table_insert(b->sessions, s->key, s);
    irc_conn_connect(s->irc);
    return s;
}

static Session *session_find(Bridge *b, const char *user, const char *server)
{
    g_autofree char *key = g_strconcat(user, "\n", server, NULL);
    return g_hash_table_lookup(b->sessions, key);
}

/* --- presence: join, nick change, leave (XEP-0045 §7.2, §7.6, §7.14) -------------------- */

static void join(Bridge *b, xmpp_stanza_t *p, IrcAddress *a, const char *from)
{
    TtTransport *t = b->t;
    const char *to = xmpp_stanza_get_to(p);
    g_autofree char *user = tt_jid_bare(from);
    g_autofree char *room = irc_address_jid(a->name, a->server, tt_transport_domain(t));
    if (!a->resource || !*a->resource) { /* §7.2.1: a nick is needed */
        tt_send(t, muc_presence_error(t, to, from, "modify", "jid-malformed", "a nick is needed"));
        return;
    }
    if (!irc_is_valid_nick(a->resource)) {
        tt_send(
            t, muc_presence_error(t, to, from, "modify", "not-acceptable", "not a valid IRC nick"));
        return;
    }
    if (!tt_is_registered(t, user)) {
        tt_send(t, muc_presence_error(t, to, from, "auth", "registration-required",
                                      "register with the gateway first"));
        return;
    }
    const IrcServerConfig *srv = irc_config_server(b->cfg, a->server);
    if (!srv) {
        g_autofree char *text = g_strdup_printf("no IRC server %s here", a->server);
        tt_send(t, muc_presence_error(t, to, from, "cancel", "remote-server-not-found", text));
        return;
    }
    Session *s = session_get(b, user, srv, a->resource);
    Channel *ch = session_channel(s, a->name);
    if (ch) {
        g_free(ch->client);
        ch->client = g_strdup(from);
        g_autofree char *want = irc_casefold(a->resource);
        g_autofree char *have = irc_casefold(irc_conn_nick(s->irc));
        if (ch->state == CHAN_JOINED && strcmp(want, have) != 0) {
            g_free(ch->pending_nick); /* §7.6: a nick change */
            ch->pending_nick = g_strdup(a->resource);
            g_autofree char *line = irc_line("NICK", a->resource, NULL);
            irc_conn_send(s->irc, line);
        } else if (ch->state == CHAN_JOINED) {
            static const int self[] = {MUC_STATUS_SELF, 0}; /* joined again: say so */
            channel_send_self(s, ch, TRUE, self, NULL);
        }
        return;
    }
    ch = g_new0(Channel, 1);
    ch->name = g_strdup(a->name);
    ch->room = g_steal_pointer(&room);
    ch->client = g_strdup(from);
    ch->asked_nick = g_strdup(a->resource);
    ch->state = CHAN_JOINING;
    ch->occupants = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, occupant_free);
    g_hash_table_insert(s->channels, irc_casefold(a->name), ch);
    session_join(s, ch);
}

static void leave(Bridge *b, IrcAddress *a, const char *from, const char *status)
{
    g_autofree char *user = tt_jid_bare(from);
    Session *s = session_find(b, user, a->server);
    Channel *ch = s ? session_channel(s, a->name) : NULL;
    if (!ch)
        return;
    if (irc_conn_is_ready(s->irc) && ch->state != CHAN_LEAVING) {
        ch->state = CHAN_LEAVING; /* the PART echo finishes it (bridge_irc.c) */
        g_autofree char *line =
            irc_line("PART", ch->name, status && *status ? status : "Leaving", NULL);
        irc_conn_send(s->irc, line);
        return;
    }
    static const int self[] = {MUC_STATUS_SELF, 0};
    if (ch->joined_once)
        channel_send_self(s, ch, FALSE, self, NULL);
    session_remove_channel(s, ch);
}

gboolean bridge_on_presence(TtTransport *t, xmpp_stanza_t *p, gpointer data)
{
    Bridge *b = data;
    const char *type = xmpp_stanza_get_type(p), *from = xmpp_stanza_get_from(p);
    g_autoptr(IrcAddress) a = irc_address_parse(xmpp_stanza_get_to(p), b->cfg->default_server);
    if (!a || a->kind != IRC_ADDR_CHANNEL)
        return TRUE; /* presence to an IRC user or server: nothing to do */
    if (!type) {
        join(b, p, a, from);
    } else if (strcmp(type, "unavailable") == 0 || strcmp(type, "error") == 0) {
        g_autofree char *status = tt_stanza_child_text(p, "status");
        leave(b, a, from, status);
    }
    return TRUE;
}

/* --- messages ----------------------------------------------------------------------------- */

static void groupchat(Bridge *b, xmpp_stanza_t *m, IrcAddress *a, const char *from)
{
    TtTransport *t = b->t;
    g_autofree char *user = tt_jid_bare(from);
    Session *s = session_find(b, user, a->server);
    Channel *ch = s ? session_channel(s, a->name) : NULL;
    if (ch && ch->joined_once && ch->state == CHAN_JOINING) { /* IRC reconnecting */
        tt_send_error(t, m, "wait", "recipient-unavailable", "reconnecting to IRC; try again");
        return;
    }
    if (!ch || ch->state != CHAN_JOINED) { /* §7.4: only occupants may speak */
        tt_send_error(t, m, "modify", "not-acceptable", "you are not in this room");
        return;
    }
    g_autofree char *body = tt_stanza_child_text(m, "body");
    g_autofree char *subject = tt_stanza_child_text(m, "subject");
    if (subject && !body) { /* §8.1: change the subject -> TOPIC */
        g_autofree char *line = irc_line("TOPIC", ch->name, subject, NULL);
        irc_conn_send(s->irc, line);
        return;
    }
    if (!body || !*body)
        return;
    session_privmsg(s, ch->name, body);
    /* §7.4: the room reflects the message to its sender (IRC does not echo) */
    g_autofree char *me = channel_occupant_jid(s, ch, irc_conn_nick(s->irc));
    tt_send(t, muc_groupchat(t, me, ch->client, body, NULL, xmpp_stanza_get_id(m)));
}

static void private_message(Bridge *b, xmpp_stanza_t *m, IrcAddress *a, const char *from)
{
    TtTransport *t = b->t;
    g_autofree char *user = tt_jid_bare(from);
    g_autofree char *body = tt_stanza_child_text(m, "body");
    const char *nick = a->kind == IRC_ADDR_USER ? a->name : a->resource;
    if (!body || !*body)
        return; /* chat states and the like */
    Session *s = session_find(b, user, a->server);
    if (!s || !nick) {
        g_autofree char *text = g_strdup_printf("join a channel on %s first", a->server);
        tt_send_error(t, m, "cancel", "recipient-unavailable", text);
        return;
    }
    if (!irc_conn_is_ready(s->irc)) {
        tt_send_error(t, m, "wait", "recipient-unavailable", "reconnecting to IRC; try again");
        return;
    }
    session_privmsg(s, nick, body);
}

gboolean bridge_on_message(TtTransport *t, xmpp_stanza_t *m, gpointer data)
{
    Bridge *b = data;
    const char *type = xmpp_stanza_get_type(m), *from = xmpp_stanza_get_from(m);
    if (g_strcmp0(type, "error") == 0)
        return TRUE;
    g_autoptr(IrcAddress) a = irc_address_parse(xmpp_stanza_get_to(m), b->cfg->default_server);
    if (!a) {
        tt_send_error(t, m, "cancel", "item-not-found", "not an IRC address");
    } else if (a->kind == IRC_ADDR_CHANNEL && !a->resource && g_strcmp0(type, "groupchat") == 0) {
        groupchat(b, m, a, from);
    } else if (a->kind == IRC_ADDR_USER || (a->kind == IRC_ADDR_CHANNEL && a->resource)) {
        private_message(b, m, a, from); /* to nick%server, or a MUC PM to room/nick */
    } else {
        tt_send_error(t, m, "cancel", "feature-not-implemented", NULL);
    }
    return TRUE;
}

/* --- iq: room disco#info, XEP-0410 self-ping ---------------------------------------------- */

gboolean bridge_on_iq(TtTransport *t, xmpp_stanza_t *iq, gpointer data)
{
    Bridge *b = data;
    const char *type = xmpp_stanza_get_type(iq);
    if (g_strcmp0(type, "get") != 0)
        return FALSE;
    g_autoptr(IrcAddress) a = irc_address_parse(xmpp_stanza_get_to(iq), b->cfg->default_server);
    if (!a || a->kind != IRC_ADDR_CHANNEL)
        return FALSE;
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_ns(iq, NS_DISCO_INFO);
    if (q && !a->resource) {
        xmpp_stanza_t *r = tt_iq_result_new(t, iq);
        xmpp_stanza_t *rq = tt_stanza_add_child(r, "query", NS_DISCO_INFO, NULL);
        xmpp_stanza_t *id = tt_stanza_add_child(rq, "identity", NULL, NULL);
        g_autofree char *name = g_strdup_printf("%s on %s", a->name, a->server);
        xmpp_stanza_set_attribute(id, "category", "conference");
        xmpp_stanza_set_attribute(id, "type", "text");
        xmpp_stanza_set_attribute(id, "name", name);
        const char *features[] = {NS_MUC, NS_DISCO_INFO, "muc_open", "muc_nonanonymous", NULL};
        for (const char **f = features; *f; f++) {
            xmpp_stanza_t *fe = tt_stanza_add_child(rq, "feature", NULL, NULL);
            xmpp_stanza_set_attribute(fe, "var", *f);
        }
        tt_send(t, r);
        return TRUE;
    }
    if (xmpp_stanza_get_child_by_ns(iq, NS_PING) && a->resource) {
        g_autofree char *user = tt_jid_bare(xmpp_stanza_get_from(iq));
        Session *s = session_find(b, user, a->server);
        Channel *ch = s ? session_channel(s, a->name) : NULL;
        g_autofree char *want = irc_casefold(a->resource);
        g_autofree char *have = s ? irc_casefold(irc_conn_nick(s->irc)) : NULL;
        if (ch && ch->state == CHAN_JOINED && g_strcmp0(want, have) == 0)
            tt_send(t, tt_iq_result_new(t, iq));
        else /* XEP-0410 §3: not joined (any more) */
            tt_send_error(t, iq, "modify", "not-acceptable", NULL);
        return TRUE;
    }
    return FALSE;
}

/* --- registration ------------------------------------------------------------------------- */

gboolean bridge_on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer data)
{
    const char *nick = g_hash_table_lookup(values, "nick");
    if (nick && *nick && !irc_is_valid_nick(nick)) {
        g_set_error(error, TT_ERROR, TT_ERROR_NOT_ACCEPTABLE, "%s is not a valid IRC nick", nick);
        return FALSE;
    }
    return TRUE;
}

void bridge_on_unregistered(TtTransport *t, const char *user, gpointer data)
{
    Bridge *b = data;
    GHashTableIter it;
    gpointer v;
    g_autoptr(GPtrArray) gone = g_ptr_array_new();
    g_hash_table_iter_init(&it, b->sessions);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (strcmp(((Session *)v)->user, user) == 0)
            g_ptr_array_add(gone, v);
    static const int codes[] = {MUC_STATUS_SELF, 321, 0}; /* §9.4: affiliation change */
    for (guint i = 0; i < gone->len; i++) {
        Session *s = gone->pdata[i];
        GHashTableIter ci;
        gpointer cv;
        g_hash_table_iter_init(&ci, s->channels);
        while (g_hash_table_iter_next(&ci, NULL, &cv))
            if (((Channel *)cv)->joined_once)
                channel_send_self(s, cv, FALSE, codes, "registration removed");
        session_doom(s, "Unregistered from the gateway");
    }
}

char *bridge_legacy_to_jid(TtTransport *t, const char *legacy, gpointer data)
{
    Bridge *b = data;
    g_autofree char *name = g_strdup(legacy), *server = NULL;
    char *pct = strrchr(name, '%');
    if (pct) {
        *pct = '\0';
        server = g_strdup(pct + 1);
    } else if (*b->cfg->default_server) {
        server = g_strdup(b->cfg->default_server);
    }
    if (!server || !(irc_is_channel(name) || irc_is_valid_nick(name)))
        return NULL;
    return irc_address_jid(name, server, tt_transport_domain(t));
}

/* --- lifetime ------------------------------------------------------------------------------ */

Bridge *bridge_new(TtTransport *t, IrcGwConfig *cfg)
{
    Bridge *b = g_new0(Bridge, 1);
    b->t = t;
    b->cfg = cfg;
    b->sessions = g_hash_table_new(g_str_hash, g_str_equal);
    b->doomed = g_ptr_array_new();
    return b;
}

void bridge_shutdown(Bridge *b, const char *reason)
{
    g_autoptr(GList) all = g_hash_table_get_values(b->sessions);
    static const int codes[] = {MUC_STATUS_SELF, MUC_STATUS_SHUTDOWN, 0};
    for (GList *l = all; l; l = l->next) {
        Session *s = l->data;
        GHashTableIter ci;
        gpointer cv;
        g_hash_table_iter_init(&ci, s->channels);
        while (g_hash_table_iter_next(&ci, NULL, &cv))
            if (((Channel *)cv)->joined_once)
                channel_send_self(s, cv, FALSE, codes, reason);
        session_doom(s, reason);
    }
}

void bridge_free(Bridge *b)
{
    if (!b)
        return;
    bridge_shutdown(b, "Gateway shutting down");
    if (b->reaper) {
        g_source_destroy(b->reaper);
        g_source_unref(b->reaper);
        b->reaper = NULL;
    }
    for (guint i = 0; i < b->doomed->len; i++)
        session_free(b->doomed->pdata[i]);
    g_ptr_array_free(b->doomed, TRUE);
    g_hash_table_destroy(b->sessions);
    g_free(b);
}

guint bridge_session_count(Bridge *b)
{
    return g_hash_table_size(b->sessions);
}
