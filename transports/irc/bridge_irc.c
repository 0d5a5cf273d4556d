/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/bridge_irc.c — the Bridge, IRC side: what the IRC server says, as XEP-0045
 * presences and messages (RFC 2812 §3.2 channel operations, §5 numerics) */
#include "transports/irc/bridge-private.h"

#include <string.h>

static const int self_codes[] = {MUC_STATUS_SELF, 0};

static gboolean is_me(Session *s, const char *nick)
{
    g_autofree char *a = irc_casefold(nick), *b = irc_casefold(irc_conn_nick(s->irc));
    return strcmp(a, b) == 0;
}

static void send_occupant(Session *s, Channel *ch, const char *nick, char mode, gboolean available,
                          const char *new_nick, const int *codes, const char *status)
{
    TtTransport *t = s->b->t;
    g_autofree char *from = channel_occupant_jid(s, ch, nick);
    if (from)
        tt_send(t, muc_occupant_presence(t, from, ch->client, mode, available, new_nick, codes,
                                         status));
}

static void occupant_destroy(gpointer p)
{
    Occupant *o = p;
    g_free(o->nick);
    g_free(o);
}

static Occupant *occupant_new(const char *nick, char mode)
{
    Occupant *o = g_new0(Occupant, 1);
    o->nick = g_strdup(nick);
    o->mode = mode;
    return o;
}

/* Announcement from the room itself (XEP-0045 §7.2.16: a message from the bare room). */
static void announce(Session *s, Channel *ch, const char *text)
{
    if (ch->joined_once)
        tt_send(s->b->t, muc_groupchat(s->b->t, ch->room, ch->client, text, NULL, NULL));
}

/* --- connection events ----------------------------------------------------------------- */

void bridge_irc_ready(IrcConn *c, gpointer data)
{
    Session *s = data;
    gboolean again = s->ever_ready;
    s->ever_ready = TRUE;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->channels);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Channel *ch = v;
        if (again) {
            g_autofree char *text = g_strdup_printf("Reconnected to %s; rejoining", s->server);
            announce(s, ch, text);
        }
        session_join(s, ch); /* first join, or rejoin after a reconnect */
    }
}

void bridge_irc_disconnected(IrcConn *c, const GError *error, gboolean will_retry, gpointer data)
{
    Session *s = data;
    TtTransport *t = s->b->t;
    const char *why = error ? error->message : "disconnected";
    GHashTableIter it;
    gpointer v;
    if (!will_retry || !s->ever_ready) {
        /* never got in (unreachable, refused SASL): the joins fail */
        g_hash_table_iter_init(&it, s->channels);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            Channel *ch = v;
            g_autofree char *from = channel_occupant_jid(s, ch, ch->asked_nick);
            if (ch->joined_once)
                channel_send_self(s, ch, FALSE, (const int[]){MUC_STATUS_SELF, 333, 0}, why);
            else
                tt_send(t, muc_presence_error(
                               t, from, ch->client, "cancel",
                               will_retry ? "remote-server-timeout" : "not-authorized", why));
        }
        session_doom(s, NULL);
        return;
    }
    g_hash_table_iter_init(&it, s->channels);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Channel *ch = v;
        if (ch->state == CHAN_JOINED)
            ch->state = CHAN_JOINING; /* rejoined on ready; occupants reconciled by NAMES */
        if (ch->names) {
            g_hash_table_destroy(ch->names);
            ch->names = NULL;
        }
        g_autofree char *text =
            g_strdup_printf("Connection to %s lost (%s); reconnecting", s->server, why);
        announce(s, ch, text);
    }
}

/* --- NAMES: the occupant list (RFC 2812 §3.2.5, 353/366) ---------------------------------- */

static void names_entry(Session *s, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 2) ? irc_message_param(m, 2) : "");
    const char *list = irc_message_param(m, 3);
    if (!ch || !list)
        return;
    if (!ch->names)
        ch->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, occupant_destroy);
    g_auto(GStrv) entries = g_strsplit(list, " ", -1);
    for (char **e = entries; *e; e++) {
        if (!**e)
            continue;
        char *nick;
        char mode = irc_names_entry(*e, irc_conn_prefix_symbols(s->irc), &nick);
        g_hash_table_replace(ch->names, irc_casefold(nick), occupant_new(nick, mode));
        g_free(nick);
    }
}

static void names_end(Session *s, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 1) ? irc_message_param(m, 1) : "");
    if (!ch || !ch->names || ch->state == CHAN_LEAVING)
        return;
    GHashTable *now = ch->names, *before = ch->occupants;
    ch->names = NULL;
    g_autofree char *me = irc_casefold(irc_conn_nick(s->irc));
    Occupant *old_me = g_hash_table_lookup(before, me), *new_me = g_hash_table_lookup(now, me);
    char old_mode = old_me ? old_me->mode : 0;
    GHashTableIter it;
    gpointer k, v;
    /* XEP-0045 §7.2.3: the other occupants first, the user's own presence last */
    g_hash_table_iter_init(&it, before);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (strcmp(k, me) != 0 && !g_hash_table_contains(now, k))
            send_occupant(s, ch, ((Occupant *)v)->nick, 0, FALSE, NULL, NULL, NULL);
    g_hash_table_iter_init(&it, now);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Occupant *o = v, *was = g_hash_table_lookup(before, k);
        if (strcmp(k, me) != 0 && (!was || was->mode != o->mode))
            send_occupant(s, ch, o->nick, o->mode, TRUE, NULL, NULL, NULL);
    }
    ch->occupants = now;
    g_hash_table_destroy(before);
    gboolean first = !ch->joined_once;
    ch->state = CHAN_JOINED;
    ch->joined_once = TRUE;
    if (first || !new_me || new_me->mode != old_mode) {
        g_autofree char *asked = irc_casefold(ch->asked_nick);
        int codes[] = {MUC_STATUS_SELF, 0, 0};
        if (first && strcmp(asked, me) != 0)
            codes[1] = MUC_STATUS_NICK_MODIFIED; /* §7.2.9: the IRC nick differs */
        channel_send_self(s, ch, TRUE, codes, NULL);
    }
    if (first) /* §7.2.15: the subject last, empty when there is none */
        tt_send(s->b->t, muc_groupchat(s->b->t, ch->room, ch->client, NULL,
                                       ch->topic ? ch->topic : "", NULL));
}

/* --- channel membership ------------------------------------------------------------------- */

static void on_join(Session *s, const char *nick, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 0) ? irc_message_param(m, 0) : "");
    if (!ch || is_me(s, nick))
        return; /* our own JOIN: the NAMES reply follows */
    g_hash_table_replace(ch->occupants, irc_casefold(nick), occupant_new(nick, 0));
    if (ch->joined_once)
        send_occupant(s, ch, nick, 0, TRUE, NULL, NULL, NULL);
}

/* The user is out of ch (PART echo, KICK): tell them, forget the channel. */
static void self_left(Session *s, Channel *ch, const int *codes, const char *status)
{
    if (ch->joined_once)
        channel_send_self(s, ch, FALSE, codes, status);
    session_remove_channel(s, ch);
}

static void on_part(Session *s, const char *nick, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 0) ? irc_message_param(m, 0) : "");
    if (!ch)
        return;
    if (is_me(s, nick)) {
        self_left(s, ch, self_codes, NULL);
        return;
    }
    g_autofree char *key = irc_casefold(nick);
    if (g_hash_table_remove(ch->occupants, key) && ch->joined_once)
        send_occupant(s, ch, nick, 0, FALSE, NULL, NULL, irc_message_param(m, 1));
}

static void on_kick(Session *s, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 0) ? irc_message_param(m, 0) : "");
    const char *victim = irc_message_param(m, 1), *reason = irc_message_param(m, 2);
    if (!ch || !victim)
        return;
    if (is_me(s, victim)) { /* §9.2: kicked, status 307 (and 110 for the user) */
        self_left(s, ch, (const int[]){MUC_STATUS_SELF, MUC_STATUS_KICKED, 0}, reason);
        return;
    }
    g_autofree char *key = irc_casefold(victim);
    if (g_hash_table_remove(ch->occupants, key) && ch->joined_once)
        send_occupant(s, ch, victim, 0, FALSE, NULL, (const int[]){MUC_STATUS_KICKED, 0}, reason);
}

static void on_quit(Session *s, const char *nick, const IrcMessage *m)
{
    g_autofree char *key = irc_casefold(nick);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->channels);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Channel *ch = v;
        if (g_hash_table_remove(ch->occupants, key) && ch->joined_once)
            send_occupant(s, ch, nick, 0, FALSE, NULL, NULL, irc_message_param(m, 0));
    }
}

/* NICK: XEP-0045 §7.6.3: unavailable from the old nick with 303 and the new nick, then
 * available from the new one (both with 110 when it is the user). */
static void on_nick(Session *s, const char *old, const IrcMessage *m)
{
    const char *nick = irc_message_param(m, 0);
    if (!nick)
        return;
    gboolean me = is_me(s, nick); /* IrcConn already took our new nick */
    g_autofree char *old_key = irc_casefold(old), *new_key = irc_casefold(nick);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->channels);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Channel *ch = v;
        Occupant *o = g_hash_table_lookup(ch->occupants, old_key);
        if (!o)
            continue;
        char mode = o->mode;
        g_hash_table_remove(ch->occupants, old_key);
        g_hash_table_replace(ch->occupants, g_strdup(new_key), occupant_new(nick, mode));
        if (me) {
            g_clear_pointer(&ch->pending_nick, g_free);
            g_free(ch->asked_nick);
            ch->asked_nick = g_strdup(nick);
        }
        if (!ch->joined_once)
            continue;
        int codes[] = {MUC_STATUS_NICK_CHANGE, me ? MUC_STATUS_SELF : 0, 0};
        send_occupant(s, ch, old, mode, FALSE, nick, codes, NULL);
        send_occupant(s, ch, nick, mode, TRUE, NULL, me ? self_codes : NULL, NULL);
    }
}

static void on_mode(Session *s, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 0) ? irc_message_param(m, 0) : "");
    const char *modes = irc_message_param(m, 1);
    if (!ch || !modes)
        return;
    for (const char *p = modes; *p; p++) {
        if (irc_conn_mode_prefix(s->irc, *p)) { /* +o/-v...: re-read the list, send changes */
            g_autofree char *line = irc_line("NAMES", ch->name, NULL);
            irc_conn_send(s->irc, line);
            return;
        }
    }
}

/* --- messages ------------------------------------------------------------------------------ */

static void on_privmsg(Session *s, const char *nick, const IrcMessage *m, gboolean notice)
{
    TtTransport *t = s->b->t;
    const char *target = irc_message_param(m, 0), *text = irc_message_param(m, 1);
    if (!nick || !target || !text)
        return; /* server notices */
    g_autofree char *ctcp = irc_ctcp_command(text);
    g_autofree char *action = irc_ctcp_action(text);
    if (ctcp && !action) {
        if (!notice && (strcmp(ctcp, "VERSION") == 0 || strcmp(ctcp, "PING") == 0)) {
            g_autofree char *reply =
                strcmp(ctcp, "VERSION") == 0
                    ? g_strdup("\001VERSION Tern IRC gateway " PACKAGE_VERSION "\001")
                    : g_strdup(text);
            g_autofree char *line = irc_line("NOTICE", nick, reply, NULL);
            irc_conn_send(s->irc, line);
        }
        return;
    }
    g_autofree char *clean = irc_strip_formatting(action ? action : text);
    g_autofree char *body = action ? g_strconcat("/me ", clean, NULL) : g_steal_pointer(&clean);
    if (irc_is_channel(target)) {
        Channel *ch = session_channel(s, target);
        if (!ch || !ch->joined_once || is_me(s, nick))
            return; /* our own, if the server echoes: already reflected */
        g_autofree char *from = channel_occupant_jid(s, ch, nick);
        tt_send(t, muc_groupchat(t, from, ch->client, body, NULL, NULL));
        return;
    }
    /* to us: a private message from nick%server */
    g_autofree char *from = irc_address_jid(nick, s->server, tt_transport_domain(t));
    if (from)
        tt_send(t, tt_message_new(t, "chat", from, s->user, body));
}

static void on_topic(Session *s, const char *nick, const IrcMessage *m)
{
    Channel *ch = session_channel(s, irc_message_param(m, 0) ? irc_message_param(m, 0) : "");
    const char *topic = irc_message_param(m, 1);
    if (!ch)
        return;
    g_free(ch->topic);
    ch->topic = irc_strip_formatting(topic ? topic : "");
    if (!ch->joined_once)
        return;
    g_autofree char *from = nick ? channel_occupant_jid(s, ch, nick) : g_strdup(ch->room);
    tt_send(s->b->t, muc_groupchat(s->b->t, from, ch->client, NULL, ch->topic, NULL));
}

/* Join refused (RFC 2812 §5.2): the matching XEP-0045 §7.2 error. */
static void on_join_error(Session *s, const IrcMessage *m, const char *type, const char *condition)
{
    TtTransport *t = s->b->t;
    Channel *ch = session_channel(s, irc_message_param(m, 1) ? irc_message_param(m, 1) : "");
    if (!ch || ch->joined_once)
        return;
    g_autofree char *from = channel_occupant_jid(s, ch, ch->asked_nick);
    tt_send(t, muc_presence_error(t, from, ch->client, type, condition, irc_message_param(m, 2)));
    session_remove_channel(s, ch);
}

static void on_nick_refused(Session *s, const IrcMessage *m)
{
    TtTransport *t = s->b->t;
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->channels);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        Channel *ch = v;
        if (!ch->pending_nick)
            continue;
        g_autofree char *from = channel_occupant_jid(s, ch, ch->pending_nick);
        tt_send(t, muc_presence_error(t, from, ch->client, "cancel", "conflict",
                                      irc_message_param(m, 2)));
        g_clear_pointer(&ch->pending_nick, g_free);
    }
}

static void on_no_such_nick(Session *s, const IrcMessage *m)
{
    TtTransport *t = s->b->t;
    const char *nick = irc_message_param(m, 1);
    if (!nick || irc_is_channel(nick))
        return;
    g_autofree char *from = irc_address_jid(nick, s->server, tt_transport_domain(t));
    if (!from)
        return;
    xmpp_stanza_t *e = tt_stanza_new(t, "message", "error", from, s->user, NULL);
    xmpp_stanza_t *err = tt_stanza_add_child(e, "error", NULL, NULL);
    xmpp_stanza_set_attribute(err, "type", "cancel");
    tt_stanza_add_child(err, "item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas", NULL);
    tt_send(t, e);
}

void bridge_irc_message(IrcConn *c, const IrcMessage *m, gpointer data)
{
    Session *s = data;
    if (s->doomed)
        return;
    const char *cmd = m->command;
    g_autofree char *nick = irc_prefix_nick(m->prefix);
    if (strcmp(cmd, "PRIVMSG") == 0 || strcmp(cmd, "NOTICE") == 0)
        on_privmsg(s, nick, m, cmd[0] == 'N');
    else if (strcmp(cmd, "JOIN") == 0 && nick)
        on_join(s, nick, m);
    else if (strcmp(cmd, "PART") == 0 && nick)
        on_part(s, nick, m);
    else if (strcmp(cmd, "KICK") == 0)
        on_kick(s, m);
    else if (strcmp(cmd, "QUIT") == 0 && nick)
        on_quit(s, nick, m);
    else if (strcmp(cmd, "NICK") == 0 && nick)
        on_nick(s, nick, m);
    else if (strcmp(cmd, "MODE") == 0)
        on_mode(s, m);
    else if (strcmp(cmd, "TOPIC") == 0)
        on_topic(s, nick, m);
    else if (strcmp(cmd, "332") == 0 || strcmp(cmd, "331") == 0) { /* RPL_(NO)TOPIC */
        Channel *ch = session_channel(s, irc_message_param(m, 1) ? irc_message_param(m, 1) : "");
        if (ch) {
            g_free(ch->topic);
            ch->topic = irc_strip_formatting(
                cmd[2] == '2' && irc_message_param(m, 2) ? irc_message_param(m, 2) : "");
        }
    } else if (strcmp(cmd, "353") == 0)
        names_entry(s, m);
    else if (strcmp(cmd, "366") == 0)
        names_end(s, m);
    else if (strcmp(cmd, "433") == 0 || strcmp(cmd, "432") == 0 || strcmp(cmd, "436") == 0)
        on_nick_refused(s, m);
    else if (strcmp(cmd, "401") == 0)
        on_no_such_nick(s, m);
    else if (strcmp(cmd, "403") == 0 || strcmp(cmd, "476") == 0)
        on_join_error(s, m, "cancel", "item-not-found");
    else if (strcmp(cmd, "405") == 0)
        on_join_error(s, m, "wait", "resource-constraint");
    else if (strcmp(cmd, "471") == 0)
        on_join_error(s, m, "wait", "service-unavailable");
    else if (strcmp(cmd, "473") == 0 || strcmp(cmd, "477") == 0)
        on_join_error(s, m, "auth", "registration-required");
    else if (strcmp(cmd, "474") == 0)
        on_join_error(s, m, "auth", "forbidden");
    else if (strcmp(cmd, "475") == 0)
        on_join_error(s, m, "auth", "not-authorized");
}
