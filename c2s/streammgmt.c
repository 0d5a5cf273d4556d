/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/streammgmt.c — XEP-0198: counters, acks, bounded unacked queue, resumption */
#include "c2s/streammgmt.h"

#include <string.h>

#include "c2s/sm.h"
#include "router/router.h"

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define SM_R_EVERY 5        /* ask for an ack after this many stanzas */
#define SM_EXPIRED_MAX 4096 /* remembered ids of ended sessions (for <failed h/>) */

typedef struct {
    XmlNode *el;
    void (*on_ack)(gpointer);
    gpointer ud;
    GDestroyNotify destroy;
    gboolean from_storage;
} SmItem;

static Server *server;
static GHashTable *by_id;   /* sm_id -> C2sSession (resumable, connected or hibernating) */
static GHashTable *expired; /* sm_id -> GUINT_TO_POINTER(h + 1) of sessions that ended */

static void item_free(SmItem *it)
{
    if (it->destroy)
        it->destroy(it->ud);
    xml_node_free(it->el);
    g_free(it);
}

void smgmt_init(Server *srv)
{
    server = srv;
    by_id = g_hash_table_new(g_str_hash, g_str_equal);
    expired = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void smgmt_fini(void)
{
    g_clear_pointer(&by_id, g_hash_table_destroy);
    g_clear_pointer(&expired, g_hash_table_destroy);
}

void smgmt_features(C2sSession *cs, XmlNode *features)
{
    xml_node_add_child(features, NS_SM, "sm");
}

static void send_nonza(C2sSession *cs, XmlNode *el /* transfer full */)
{
    if (cs->stream)
        stream_send(cs->stream, el);
    xml_node_free(el);
}

static void send_failed(C2sSession *cs, const char *condition, gboolean with_h, guint32 h)
{
    XmlNode *f = xml_node_new(NS_SM, "failed");
    if (with_h) {
        g_autofree char *hs = g_strdup_printf("%u", h);
        xml_node_set_attr(f, "h", hs);
    }
    xml_node_add_child(f, NS_STANZAS, condition);
    send_nonza(cs, f);
}

static void request_ack(C2sSession *cs)
{
    cs->sm_since_r = 0;
    send_nonza(cs, xml_node_new(NS_SM, "r"));
}

/* The client acknowledged everything up to h (XEP-0198 §4). */
static gboolean process_ack(C2sSession *cs, const char *h_text)
{
    char *end = NULL;
    guint64 h = h_text ? g_ascii_strtoull(h_text, &end, 10) : G_MAXUINT64;
    if (!h_text || !*h_text || *end || h > G_MAXUINT32) {
        if (cs->stream)
            stream_error(cs->stream, STREAM_ERR_UNDEFINED_CONDITION, "bad 'h' in <a/>");
        return FALSE;
    }
    guint32 n = (guint32)h - cs->sm_h_acked; /* counters wrap at 2^32 */
    if (n > cs->sm_unacked.length) {
        if (cs->stream)
            stream_error(cs->stream, STREAM_ERR_UNDEFINED_CONDITION,
                         "'h' acknowledges more stanzas than were sent");
        return FALSE;
    }
    for (guint32 i = 0; i < n; i++) {
        SmItem *it = g_queue_pop_head(&cs->sm_unacked);
        if (it->on_ack)
            it->on_ack(it->ud);
        item_free(it);
    }
    cs->sm_h_acked = (guint32)h;
    return TRUE;
}

static void handle_enable(C2sSession *cs, XmlNode *el)
{
    if (cs->state != C2S_STATE_BOUND || cs->sm_enabled) {
        send_failed(cs, "unexpected-request", FALSE, 0);
        return;
    }
    cs->sm_enabled = TRUE;
    const char *resume = xml_node_attr(el, "resume");
    XmlNode *ok = xml_node_new(NS_SM, "enabled");
    if (resume && (!strcmp(resume, "true") || !strcmp(resume, "1"))) {
        cs->sm_resumable = TRUE;
        cs->sm_id = stream_random_id();
        g_hash_table_insert(by_id, cs->sm_id, cs);
        g_autofree char *max = g_strdup_printf(
            "%" G_GINT64_FORMAT, config_get_int(server->config, "c2s", "resume_timeout"));
        xml_node_set_attr(ok, "id", cs->sm_id);
        xml_node_set_attr(ok, "resume", "true");
        xml_node_set_attr(ok, "max", max);
    }
    send_nonza(cs, ok);
}

/* XEP-0198 §5: take the hibernating (or still connected) session over. */
static C2sSession *handle_resume(C2sSession *cs, XmlNode *el)
{
    const char *previd = xml_node_attr(el, "previd");
    C2sSession *old = previd ? g_hash_table_lookup(by_id, previd) : NULL;
    g_autofree char *bare =
        g_strconcat(cs->username ? cs->username : "", "@", cs->domain ? cs->domain : "", NULL);
    if (cs->state != C2S_STATE_AUTHED) {
        send_failed(cs, "unexpected-request", FALSE, 0);
        return cs;
    }
    if (!old || strcmp(jid_bare(old->jid), bare)) {
        gpointer h = previd ? g_hash_table_lookup(expired, previd) : NULL;
        send_failed(cs, "item-not-found", h != NULL, GPOINTER_TO_UINT(h) - 1);
        return cs;
    }
    if (!process_ack(old, xml_node_attr(el, "h"))) {
        send_failed(cs, "unexpected-request", FALSE, 0);
        return cs;
    }
    if (old->stream) { /* the old connection is still up: it loses the session */
        Stream *os = old->stream;
        old->stream = NULL;
        stream_set_owner(os, NULL);
        stream_error(os, STREAM_ERR_CONFLICT, "the session was resumed on another stream");
    }
    if (old->sm_timer) {
        g_source_remove(old->sm_timer);
        old->sm_timer = 0;
    }
    old->sm_hibernating = FALSE;
    old->stream = cs->stream;
    cs->stream = NULL;
    stream_set_owner(old->stream, old);
    XmlNode *r = xml_node_new(NS_SM, "resumed");
    g_autofree char *hs = g_strdup_printf("%u", old->sm_h_in);
    xml_node_set_attr(r, "previd", old->sm_id);
    xml_node_set_attr(r, "h", hs);
    send_nonza(old, r);
    for (GList *l = old->sm_unacked.head; l; l = l->next) { /* again, in order */
        SmItem *it = l->data;
        stream_send(old->stream, it->el);
    }
    if (old->sm_unacked.length)
        request_ack(old);
    g_message("c2s %s: %s resumed (%u unacknowledged stanzas sent again)", stream_id(old->stream),
              jid_full(old->jid), old->sm_unacked.length);
    return old;
}

C2sSession *smgmt_handle(C2sSession *cs, XmlNode *el)
{
    g_autoptr(XmlNode) owned = el;
    if (!strcmp(el->name, "enable")) {
        handle_enable(cs, el);
    } else if (!strcmp(el->name, "resume")) {
        return handle_resume(cs, el);
    } else if (!strcmp(el->name, "r")) {
        if (!cs->sm_enabled) {
            stream_error(cs->stream, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, "enable first");
            return cs;
        }
        XmlNode *a = xml_node_new(NS_SM, "a");
        g_autofree char *hs = g_strdup_printf("%u", cs->sm_h_in);
        xml_node_set_attr(a, "h", hs);
        send_nonza(cs, a);
    } else if (!strcmp(el->name, "a")) {
        if (cs->sm_enabled)
            process_ack(cs, xml_node_attr(el, "h"));
    } else {
        stream_error(cs->stream, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
    }
    return cs;
}

void smgmt_inbound(C2sSession *cs)
{
    if (cs->sm_enabled)
        cs->sm_h_in++;
}

static gboolean end_idle(gpointer data)
{
    c2s_session_end(data);
    return G_SOURCE_REMOVE;
}

gboolean smgmt_track(C2sSession *cs, const XmlNode *el, void (*on_ack)(gpointer), gpointer ud,
                     GDestroyNotify destroy, gboolean from_storage)
{
    SmItem *it = g_new0(SmItem, 1);
    it->el = xml_node_copy(el);
    it->on_ack = on_ack;
    it->ud = ud;
    it->destroy = destroy;
    it->from_storage = from_storage;
    g_queue_push_tail(&cs->sm_unacked, it);
    guint max = config_get_int(server->config, "c2s", "sm_max_unacked");
    if (cs->sm_unacked.length > max) { /* the client does not ack: end it, lose nothing */
        if (cs->stream)
            stream_error(cs->stream, STREAM_ERR_POLICY_VIOLATION,
                         "too many unacknowledged stanzas");
        else if (cs->sm_timer) {
            g_source_remove(cs->sm_timer);
            cs->sm_timer = g_idle_add(end_idle, cs);
        }
        return FALSE;
    }
    if (cs->stream && ++cs->sm_since_r >= SM_R_EVERY)
        request_ack(cs);
    return TRUE;
}

static gboolean timeout_cb(gpointer data)
{
    C2sSession *cs = data;
    cs->sm_timer = 0;
    g_message("c2s: %s did not resume in time", jid_full(cs->jid));
    c2s_session_end(cs);
    return G_SOURCE_REMOVE;
}

gboolean smgmt_hibernate(C2sSession *cs)
{
    if (!cs->sm_enabled || !cs->sm_resumable || server->shutting_down)
        return FALSE;
    cs->sm_hibernating = TRUE;
    cs->sm_timer = g_timeout_add_seconds(config_get_int(server->config, "c2s", "resume_timeout"),
                                         timeout_cb, cs);
    g_message("c2s: %s lost its connection; kept for resumption", jid_full(cs->jid));
    return TRUE;
}

void smgmt_session_end(C2sSession *cs)
{
    if (cs->sm_timer) {
        g_source_remove(cs->sm_timer);
        cs->sm_timer = 0;
    }
    cs->sm_hibernating = FALSE;
    if (cs->sm_id) {
        g_hash_table_remove(by_id, cs->sm_id);
        if (g_hash_table_size(expired) > SM_EXPIRED_MAX)
            g_hash_table_remove_all(expired);
        g_hash_table_insert(expired, g_strdup(cs->sm_id), GUINT_TO_POINTER(cs->sm_h_in + 1));
    }
    if (cs->state == C2S_STATE_BOUND)
        sm_unbind(cs);
    /* §4: what the client never acknowledged is treated as undelivered */
    cs->sm_enabled = FALSE;
    SmItem *it;
    while ((it = g_queue_pop_head(&cs->sm_unacked))) {
        if (!it->from_storage && !strcmp(it->el->name, "message")) {
            g_autoptr(XmlNode) copy = xml_node_copy(it->el);
            Stanza *st = stanza_new(g_steal_pointer(&copy), NULL);
            if (st && st->to && g_strcmp0(st->type, "error") && g_strcmp0(st->type, "groupchat"))
                router_deliver(st); /* the resource is gone: other resources or offline */
            else if (st)
                stanza_unref(st);
        } else if (!it->from_storage && !strcmp(it->el->name, "iq")) {
            g_autoptr(XmlNode) copy = xml_node_copy(it->el);
            g_autoptr(Stanza) st = stanza_new(g_steal_pointer(&copy), NULL);
            if (st && (!g_strcmp0(st->type, "get") || !g_strcmp0(st->type, "set")))
                router_bounce(st, STANZA_ERR_SERVICE_UNAVAILABLE, "the recipient went away");
        }
        item_free(it); /* presence is dropped; stored messages stay stored */
    }
}
