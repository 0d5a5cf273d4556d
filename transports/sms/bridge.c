/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/bridge.c — the Bridge, XMPP side: messages to +number@gateway, the
 * registered numbers and the [allow] list, contacts with presence that follows the SMSC
 * link (XEP-0100 §4.1.4-style legacy contacts), the per-user rate limit */
#include "transports/sms/bridge-private.h"

#include <string.h>

#define REASM_TICK_S 5
#define PURGE_TICK_S 3600

typedef struct {
    double tokens;
    gint64 last_us;
} Bucket;

void bridge_send_error(Bridge *b, const char *from, const char *to, const char *id,
                       const char *type, const char *condition, const char *text)
{
    xmpp_stanza_t *m = tt_stanza_new(b->t, "message", "error", from, to, id);
    xmpp_stanza_t *err = tt_stanza_add_child(m, "error", NULL, NULL);
    xmpp_stanza_set_attribute(err, "type", type);
    tt_stanza_add_child(err, condition, "urn:ietf:params:xml:ns:xmpp-stanzas", NULL);
    tt_stanza_add_child(err, "text", "urn:ietf:params:xml:ns:xmpp-stanzas", text);
    tt_send(b->t, m);
}

/* --- contacts and presence ------------------------------------------------------------- */

static char *contacts_owner(const char *user)
{
    return g_strconcat(CONTACTS_PREFIX, user, NULL);
}

void bridge_contact_presence(Bridge *b, const char *user, const char *number)
{
    g_autofree char *from = sms_number_to_jid(number, tt_transport_domain(b->t));
    tt_send(b->t,
            tt_presence_new(b->t, from, user, b->link_up ? TT_SHOW_AVAILABLE : TT_SHOW_UNAVAILABLE,
                            b->link_up ? NULL : b->link_status));
}

static gboolean each_contact(const char *owner, const char *key, const char *value, gpointer data)
{
    if (g_str_has_prefix(owner, CONTACTS_PREFIX))
        bridge_contact_presence(data, owner + strlen(CONTACTS_PREFIX), key);
    return TRUE;
}

void bridge_all_presence(Bridge *b)
{
    g_autoptr(GError) error = NULL;
    if (tt_transport_is_connected(b->t) &&
        !tt_store_foreach(tt_transport_store(b->t), NULL, each_contact, b, &error))
        g_warning("tern-sms: contacts: %s", error->message);
}

static void send_type(Bridge *b, const char *from, const char *to, const char *type)
{
    tt_send(b->t, tt_stanza_new(b->t, "presence", type, from, to, NULL));
}

gboolean bridge_on_presence(TtTransport *t, xmpp_stanza_t *p, gpointer data)
{
    Bridge *b = data;
    const char *type = xmpp_stanza_get_type(p), *to = xmpp_stanza_get_to(p);
    g_autofree char *user = tt_jid_bare(xmpp_stanza_get_from(p));
    g_autofree char *number = sms_jid_to_number(to, tt_transport_domain(t));
    if (!number || !type)
        return TRUE; /* directed availability to a phone: nothing to do */
    g_autofree char *bare_to = sms_number_to_jid(number, tt_transport_domain(t));
    g_autofree char *owner = contacts_owner(user);
    TtStore *s = tt_transport_store(t);
    g_autoptr(GError) error = NULL;
    if (strcmp(type, "subscribe") == 0) { /* RFC 6121 §3.1.3: approve for registered users */
        if (!tt_is_registered(t, user)) {
            send_type(b, bare_to, user, "unsubscribed");
            return TRUE;
        }
        if (!tt_store_set(s, owner, number, "1", &error))
            g_warning("tern-sms: contacts: %s", error->message);
        send_type(b, bare_to, user, "subscribed");
        bridge_contact_presence(b, user, number);
    } else if (strcmp(type, "probe") == 0) { /* §4.3.2 */
        g_autofree char *known = tt_store_get(s, owner, number);
        if (known)
            bridge_contact_presence(b, user, number);
        else
            send_type(b, bare_to, user, "unsubscribed");
    } else if (strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0) {
        if (!tt_store_delete(s, owner, number, &error))
            g_warning("tern-sms: contacts: %s", error->message);
        if (strcmp(type, "unsubscribe") == 0) {
            send_type(b, bare_to, user, "unsubscribed");
            send_type(b, bare_to, user, "unavailable");
        }
    }
    return TRUE;
}

void bridge_on_connected(TtTransport *t, gpointer data)
{
    bridge_all_presence(data);
    inbox_flush_ready(data);
}

/* --- messages ------------------------------------------------------------------------- */

/* Token bucket per user: rate_per_minute, rate_burst at once. */
static gboolean rate_ok(Bridge *b, const char *user)
{
    if (!b->cfg->rate_per_minute)
        return TRUE;
    gint64 now = g_get_monotonic_time();
    Bucket *k = g_hash_table_lookup(b->buckets, user);
    if (!k) {
        k = g_new0(Bucket, 1);
        k->tokens = b->cfg->rate_burst;
        k->last_us = now;
        g_hash_table_insert(b->buckets, g_strdup(user), k);
    }
    k->tokens = MIN((double)b->cfg->rate_burst,
                    k->tokens + (double)(now - k->last_us) / 60e6 * b->cfg->rate_per_minute);
    k->last_us = now;
    if (k->tokens < 1.0)
        return FALSE;
    k->tokens -= 1.0;
    return TRUE;
}

gboolean bridge_on_message(TtTransport *t, xmpp_stanza_t *m, gpointer data)
{
    Bridge *b = data;
    const char *type = xmpp_stanza_get_type(m), *from = xmpp_stanza_get_from(m);
    if (g_strcmp0(type, "error") == 0)
        return TRUE; /* RFC 6120 §8.3.1 */
    g_autofree char *dst = sms_jid_to_number(xmpp_stanza_get_to(m), tt_transport_domain(t));
    if (!dst) {
        tt_send_error(t, m, "cancel", "item-not-found",
                      "not a phone number here: write it in E.164, +<country code><number>");
        return TRUE;
    }
    if (g_strcmp0(type, "groupchat") == 0) {
        tt_send_error(t, m, "cancel", "feature-not-implemented", "SMS is one to one");
        return TRUE;
    }
    g_autofree char *body = tt_stanza_child_text(m, "body");
    if (!body || !*body)
        return TRUE; /* chat states, receipts, markers: nothing to text */
    g_autofree char *user = tt_jid_bare(from);
    g_autofree char *src = tt_registration_get(t, user, "phone");
    if (!src || !tt_is_registered(t, user)) {
        tt_send_error(t, m, "auth", "registration-required",
                      "register your phone number with the gateway first");
        return TRUE;
    }
    if (!sms_config_allowed(b->cfg, user, src)) { /* the allow list changed since */
        g_autofree char *text =
            g_strdup_printf("you may not send from %s (not in the gateway's allow list)", src);
        tt_send_error(t, m, "auth", "forbidden", text);
        return TRUE;
    }
    if (!rate_ok(b, user)) {
        g_autofree char *text = g_strdup_printf(
            "rate limit: at most %u SMS per minute; try again later", b->cfg->rate_per_minute);
        tt_send_error(t, m, "wait", "resource-constraint", text);
        return TRUE;
    }
    gboolean receipt =
        xmpp_stanza_get_child_by_ns(m, NS_RECEIPTS) && xmpp_stanza_get_child_by_name(m, "request");
    g_autoptr(GError) error = NULL;
    if (!outbox_add(b, from, src, dst, xmpp_stanza_get_id(m), receipt, body, &error)) {
        if (g_error_matches(error, SMS_CODEC_ERROR, SMS_CODEC_ERROR_TOO_LONG)) {
            tt_send_error(t, m, "modify", "not-acceptable", error->message);
        } else {
            g_warning("tern-sms: outbox: %s", error->message);
            tt_send_error(t, m, "wait", "internal-server-error", "the SMS could not be queued");
        }
    }
    return TRUE;
}

/* --- registration ---------------------------------------------------------------------- */

static gboolean index_number(const char *user, const char *key, const char *value, gpointer data)
{
    Bridge *b = data;
    if (strcmp(key, "reg:phone") == 0 && sms_e164_valid(value))
        g_hash_table_replace(b->numbers, g_strdup(value), g_strdup(user));
    return TRUE;
}

gboolean bridge_on_registering(TtTransport *t, const char *user, GHashTable *values, GError **error,
                               gpointer data)
{
    Bridge *b = data;
    const char *given = g_hash_table_lookup(values, "phone");
    g_autofree char *number = sms_e164_normalize(given);
    if (!number) {
        g_set_error(error, TT_ERROR, TT_ERROR_NOT_ACCEPTABLE,
                    "%s is not a phone number in E.164 form (+<country code><number>)",
                    given ? given : "(none)");
        return FALSE;
    }
    if (!sms_config_allowed(b->cfg, user, number)) {
        g_set_error(error, TT_ERROR, TT_ERROR_NOT_AUTHORIZED,
                    "%s may not send from %s: ask the gateway's administrator", user, number);
        return FALSE;
    }
    const char *holder = g_hash_table_lookup(b->numbers, number);
    if (holder && strcmp(holder, user) != 0) {
        g_set_error(error, TT_ERROR, TT_ERROR_NOT_ACCEPTABLE, "%s is registered by another user",
                    number);
        return FALSE;
    }
    g_autofree char *old = tt_registration_get(t, user, "phone");
    if (old)
        g_hash_table_remove(b->numbers, old);
    g_hash_table_replace(b->numbers, g_strdup(number), g_strdup(user));
    g_hash_table_replace(values, g_strdup("phone"), g_steal_pointer(&number)); /* stored so */
    return TRUE;
}

static gboolean collect_key(const char *user, const char *key, const char *value, gpointer data)
{
    g_ptr_array_add(data, g_strdup(key));
    return TRUE;
}

void bridge_on_unregistered(TtTransport *t, const char *user, gpointer data)
{
    Bridge *b = data;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, b->numbers);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (strcmp(v, user) == 0)
            g_hash_table_iter_remove(&it);
    g_autofree char *owner = contacts_owner(user);
    g_autoptr(GPtrArray) numbers = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = NULL;
    tt_store_foreach(tt_transport_store(t), owner, collect_key, numbers, &error);
    for (guint i = 0; i < numbers->len; i++) { /* the contacts leave with the registration */
        g_autofree char *from = sms_number_to_jid(numbers->pdata[i], tt_transport_domain(t));
        send_type(b, from, user, "unavailable");
    }
    if (!tt_store_delete(tt_transport_store(t), owner, NULL, &error))
        g_warning("tern-sms: contacts: %s", error ? error->message : "");
}

char *bridge_legacy_to_jid(TtTransport *t, const char *legacy, gpointer data)
{
    g_autofree char *number = sms_e164_normalize(legacy);
    return number ? sms_number_to_jid(number, tt_transport_domain(t)) : NULL;
}

/* --- the SMSC link --------------------------------------------------------------------- */

static void on_bound(SmppLink *l, gpointer data)
{
    Bridge *b = data;
    b->link_up = TRUE;
    g_clear_pointer(&b->link_status, g_free);
    bridge_all_presence(b);
    outbox_pump(b);
}

static void on_down(SmppLink *l, const GError *error, guint retry_ms, gpointer data)
{
    Bridge *b = data;
    gboolean was = b->link_up;
    g_autofree char *old = g_steal_pointer(&b->link_status);
    b->link_up = FALSE;
    b->link_status = g_strdup_printf("SMSC link down: %s", error->message);
    if (g_error_matches(error, SMPP_ERROR, SMPP_ERROR_BIND))
        g_warning("tern-sms: %s: check [smsc] system_id/password/system_type; retrying in %u ms",
                  error->message, retry_ms);
    outbox_link_down(b);
    /* tell contacts once per change of reason (not on every retry of the same failure) */
    if (was || g_strcmp0(old, b->link_status) != 0)
        bridge_all_presence(b);
}

Bridge *bridge_new(TtTransport *t, SmsGwConfig *cfg)
{
    Bridge *b = g_new0(Bridge, 1);
    b->t = t;
    b->cfg = cfg;
    g_queue_init(&b->outbox);
    b->inflight = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    b->numbers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    b->buckets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    b->reasm = sms_reasm_new((gint64)cfg->reassembly_timeout_s * G_USEC_PER_SEC);
    b->link_status = g_strdup("SMSC link not up yet");
    b->next_ref = (guint16)g_random_int_range(0, 65536);
    b->ready = g_ptr_array_new_with_free_func(inbox_ready_free);
    g_autoptr(GError) error = NULL;
    if (!tt_store_foreach(tt_transport_store(t), NULL, index_number, b, &error))
        g_warning("tern-sms: registrations: %s", error->message);
    outbox_load(b);
    inbox_load(b);
    SmppConfig sc = {
        .host = cfg->smsc_host,
        .port = cfg->smsc_port,
        .system_id = cfg->system_id,
        .password = cfg->password,
        .system_type = cfg->system_type,
        .reconnect_min_ms = cfg->smsc_reconnect_min_ms,
        .reconnect_max_ms = cfg->smsc_reconnect_max_ms,
        .enquire_link_s = cfg->enquire_link_s,
        .response_timeout_s = cfg->response_timeout_s,
    };
    SmppHandlers h = {
        .bound = on_bound,
        .down = on_down,
        .submit_resp = outbox_submit_resp,
        .deliver = inbox_deliver,
    };
    b->link = smpp_link_new(&sc, &h, b);
    return b;
}

void bridge_start(Bridge *b)
{
    b->reasm_tick = g_timeout_source_new_seconds(REASM_TICK_S);
    g_source_set_callback(b->reasm_tick, inbox_expire, b, NULL);
    g_source_attach(b->reasm_tick, g_main_context_get_thread_default());
    inbox_purge_receipts(b);
    b->purge_tick = g_timeout_source_new_seconds(PURGE_TICK_S);
    g_source_set_callback(b->purge_tick, inbox_purge_receipts, b, NULL);
    g_source_attach(b->purge_tick, g_main_context_get_thread_default());
    smpp_link_start(b->link);
}

static void source_clear(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

void bridge_stop(Bridge *b)
{
    source_clear(&b->reasm_tick);
    source_clear(&b->purge_tick);
    source_clear(&b->throttle);
    smpp_link_stop(b->link);
    b->link_up = FALSE;
}

void bridge_free(Bridge *b)
{
    if (!b)
        return;
    bridge_stop(b);
    smpp_link_free(b->link);
    outbox_free(b);
    g_hash_table_destroy(b->inflight);
    g_hash_table_destroy(b->numbers);
    g_hash_table_destroy(b->buckets);
    sms_reasm_free(b->reasm);
    g_ptr_array_unref(b->ready);
    g_free(b->link_status);
    g_free(b);
}

guint bridge_outbox_length(Bridge *b)
{
    return b->outbox.length;
}
