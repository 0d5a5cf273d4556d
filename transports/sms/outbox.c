/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/outbox.c — XMPP -> SMS: the durable outbox (tt_queue in LMDB), submit_sm
 * per part within the window, responses, throttling and retries, what is resent after a
 * reconnect (docs/sms-gateway.md "Duplicates and loss") */
#include "transports/sms/bridge-private.h"

#include <stdlib.h>
#include <string.h>

static void outmsg_free(OutMsg *m)
{
    if (!m)
        return;
    g_free(m->from);
    g_free(m->src);
    g_free(m->dst);
    g_free(m->xid);
    g_free(m->body);
    g_free(m->state);
    g_strfreev(m->msgids);
    sms_split_free(m->split);
    g_free(m);
}

/* --- the stored form: "key=value" lines, values escaped with g_strescape -------------- */

static char *serialize(const OutMsg *m)
{
    GString *s = g_string_new(NULL);
    const char *keys[] = {"from", "src", "dst", "xid", "body", "state"};
    const char *vals[] = {m->from, m->src, m->dst, m->xid ? m->xid : "", m->body, m->state};
    for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
        g_autofree char *e = g_strescape(vals[i], NULL);
        g_string_append_printf(s, "%s=%s\n", keys[i], e);
    }
    g_autofree char *ids = g_strjoinv(",", m->msgids);
    g_autofree char *e = g_strescape(ids, NULL);
    g_string_append_printf(s, "msgids=%s\nreceipt=%d\nref=%u\nretries=%u\nhasxid=%d\n", e,
                           m->receipt, m->ref, m->retries, m->xid != NULL);
    return g_string_free(s, FALSE);
}

static gboolean resplit(Bridge *b, OutMsg *m, GError **error)
{
    m->split =
        sms_split(m->body, m->ref, b->cfg->ref16, b->cfg->gsm7_packed, b->cfg->max_parts, error);
    return m->split != NULL;
}

static OutMsg *deserialize(Bridge *b, guint64 id, const char *text)
{
    OutMsg *m = g_new0(OutMsg, 1);
    m->id = id;
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    g_autofree char *ids = NULL;
    gboolean hasxid = FALSE;
    for (char **l = lines; *l; l++) {
        char *eq = strchr(*l, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *v = g_strcompress(eq + 1);
        const char *k = *l;
        if (strcmp(k, "from") == 0)
            m->from = v;
        else if (strcmp(k, "src") == 0)
            m->src = v;
        else if (strcmp(k, "dst") == 0)
            m->dst = v;
        else if (strcmp(k, "xid") == 0)
            m->xid = v;
        else if (strcmp(k, "body") == 0)
            m->body = v;
        else if (strcmp(k, "state") == 0)
            m->state = v;
        else if (strcmp(k, "msgids") == 0)
            ids = v;
        else {
            if (strcmp(k, "receipt") == 0)
                m->receipt = atoi(v) != 0;
            else if (strcmp(k, "ref") == 0)
                m->ref = (guint16)atoi(v);
            else if (strcmp(k, "retries") == 0)
                m->retries = (guint)atoi(v);
            else if (strcmp(k, "hasxid") == 0)
                hasxid = atoi(v) != 0;
            g_free(v);
        }
    }
    if (!hasxid)
        g_clear_pointer(&m->xid, g_free);
    g_autoptr(GError) error = NULL;
    if (!m->from || !m->src || !m->dst || !m->body || !m->state || !resplit(b, m, &error) ||
        strlen(m->state) != m->split->parts->len) {
        g_warning("tern-sms: outbox entry %" G_GUINT64_FORMAT " is unreadable (%s); kept in "
                  "the store, not sent",
                  id, error ? error->message : "fields missing");
        outmsg_free(m);
        return NULL;
    }
    m->msgids = g_strsplit(ids ? ids : "", ",", -1);
    if (g_strv_length(m->msgids) != m->split->parts->len) {
        g_strfreev(m->msgids);
        m->msgids = g_new0(char *, m->split->parts->len + 1);
        for (guint i = 0; i < m->split->parts->len; i++)
            m->msgids[i] = g_strdup("");
    }
    return m;
}

static gboolean persist(Bridge *b, OutMsg *m)
{
    g_autofree char *text = serialize(m);
    g_autoptr(GError) error = NULL;
    if (tt_queue_update(tt_transport_store(b->t), OUTBOX_QUEUE, m->id, text, &error))
        return TRUE;
    g_warning("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s", m->id, error->message);
    return FALSE;
}

static gboolean load_one(guint64 id, const char *value, gpointer data)
{
    Bridge *b = data;
    OutMsg *m = deserialize(b, id, value);
    if (!m)
        return TRUE;
    /* a part written before a restart may or may not have reached the SMSC: it is sent
     * again (the documented duplicate window) */
    for (char *p = m->state; *p; p++)
        if (*p == PART_SENT)
            *p = PART_PENDING;
    b->next_ref = (guint16)MAX(b->next_ref, m->ref + 1);
    g_queue_push_tail(&b->outbox, m);
    return TRUE;
}

void outbox_load(Bridge *b)
{
    g_autoptr(GError) error = NULL;
    if (!tt_queue_foreach(tt_transport_store(b->t), OUTBOX_QUEUE, load_one, b, &error))
        g_warning("tern-sms: reading the outbox: %s", error->message);
    if (b->outbox.length)
        g_message("tern-sms: %u SMS waiting in the outbox", b->outbox.length);
}

void outbox_free(Bridge *b)
{
    g_hash_table_remove_all(b->inflight);
    g_queue_clear_full(&b->outbox, (GDestroyNotify)outmsg_free);
}

gboolean outbox_add(Bridge *b, const char *from, const char *src, const char *dst, const char *xid,
                    gboolean receipt, const char *body, GError **error)
{
    OutMsg *m = g_new0(OutMsg, 1);
    m->from = g_strdup(from);
    m->src = g_strdup(src);
    m->dst = g_strdup(dst);
    m->xid = g_strdup(xid);
    m->receipt = receipt;
    m->body = g_strdup(body);
    m->ref = b->next_ref++;
    if (!resplit(b, m, error)) {
        outmsg_free(m);
        return FALSE;
    }
    guint n = m->split->parts->len;
    m->state = g_strnfill(n, PART_PENDING);
    m->msgids = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++)
        m->msgids[i] = g_strdup("");
    g_autofree char *text = serialize(m);
    /* durable before anything is sent: from here on the message is ours */
    m->id = tt_queue_push(tt_transport_store(b->t), OUTBOX_QUEUE, text, error);
    if (!m->id) {
        outmsg_free(m);
        return FALSE;
    }
    g_queue_push_tail(&b->outbox, m);
    g_info("tern-sms: queued %" G_GUINT64_FORMAT " (%u part%s) %s -> %s", m->id, n,
           n == 1 ? "" : "s", src, dst);
    outbox_pump(b);
    return TRUE;
}

/* --- sending ---------------------------------------------------------------------------- */

static gboolean submit_part(Bridge *b, OutMsg *m, guint part)
{
    submit_sm_t s; /* SMPP 3.4 §4.4.1 */
    memset(&s, 0, sizeof s);
    g_autofree char *src = sms_number_to_smpp(m->src, &b->cfg->source_rule);
    g_autofree char *dst = sms_number_to_smpp(m->dst, &b->cfg->dest_rule);
    GBytes *sm = m->split->parts->pdata[part];
    gsize len;
    const guint8 *data = g_bytes_get_data(sm, &len);
    if (!src || !dst || len > 254) {
        g_warning("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s cannot be written for the "
                  "SMSC (check the TON rules)",
                  m->id, !src ? m->src : m->dst);
        return FALSE;
    }
    s.source_addr_ton = b->cfg->source_rule.ton;
    s.source_addr_npi = b->cfg->source_rule.npi;
    g_strlcpy((char *)s.source_addr, src, sizeof s.source_addr);
    s.dest_addr_ton = b->cfg->dest_rule.ton;
    s.dest_addr_npi = b->cfg->dest_rule.npi;
    g_strlcpy((char *)s.destination_addr, dst, sizeof s.destination_addr);
    s.esm_class = m->split->udhi ? SMS_ESM_UDHI : 0;
    s.registered_delivery = m->receipt ? SMPP34_DELIVERY_RECEIPT_ON : 0; /* §5.2.17 */
    s.data_coding = m->split->data_coding;
    s.sm_length = (guint8)len;
    memcpy(s.short_message, data, len);
    /* durable first: a crash after the write resends this part, never skips it */
    m->state[part] = PART_SENT;
    if (!persist(b, m)) {
        m->state[part] = PART_PENDING;
        return FALSE;
    }
    g_autoptr(GError) error = NULL;
    guint32 seq = smpp_link_submit(b->link, &s, &error);
    if (!seq) { /* not sent (or the link broke while writing: sent again after the bind) */
        g_message("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s", m->id, error->message);
        m->state[part] = PART_PENDING;
        persist(b, m);
        return FALSE;
    }
    InFlight *f = g_new0(InFlight, 1);
    f->msg = m;
    f->part = part;
    g_hash_table_replace(b->inflight, GUINT_TO_POINTER(seq), f);
    return TRUE;
}

void outbox_pump(Bridge *b)
{
    if (!smpp_link_is_bound(b->link) || b->throttle)
        return;
    for (GList *l = b->outbox.head; l; l = l->next) {
        OutMsg *m = l->data;
        for (guint i = 0; m->state[i]; i++) {
            if (m->state[i] != PART_PENDING)
                continue;
            if (smpp_link_outstanding(b->link) >= b->cfg->window)
                return;
            if (!submit_part(b, m, i))
                return;
            if (!smpp_link_is_bound(b->link))
                return; /* the write failed: the link is going down */
        }
    }
}

static gboolean on_throttle_end(gpointer data)
{
    Bridge *b = data;
    g_source_unref(b->throttle);
    b->throttle = NULL;
    outbox_pump(b);
    return G_SOURCE_REMOVE;
}

static void forget_inflight(Bridge *b, OutMsg *m)
{
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, b->inflight);
    while (g_hash_table_iter_next(&it, NULL, &v))
        if (((InFlight *)v)->msg == m)
            g_hash_table_iter_remove(&it);
}

static void remove_msg(Bridge *b, OutMsg *m)
{
    g_autoptr(GError) error = NULL;
    if (!tt_queue_remove(tt_transport_store(b->t), OUTBOX_QUEUE, m->id, &error))
        g_warning("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s", m->id, error->message);
    forget_inflight(b, m);
    g_queue_remove(&b->outbox, m);
    outmsg_free(m);
}

/* Every part acked: remember the receipts to expect, drop the entry. */
static void done(Bridge *b, OutMsg *m)
{
    TtStore *s = tt_transport_store(b->t);
    g_autoptr(GError) error = NULL;
    if (m->receipt && m->xid) {
        g_autofree char *qid = g_strdup_printf("%" G_GUINT64_FORMAT, m->id);
        guint n = g_strv_length(m->msgids);
        g_autofree char *left = g_strdup_printf("%u", n);
        gboolean ok = tt_store_set(s, STORE_DLR_LEFT, qid, left, &error);
        for (guint i = 0; ok && i < n; i++) {
            g_autofree char *rec =
                g_strdup_printf("%s\x1f%s\x1f%s\x1f%s\x1f%" G_GINT64_FORMAT, qid, m->from, m->dst,
                                m->xid, g_get_real_time() / G_USEC_PER_SEC);
            ok = tt_store_set(s, STORE_DLR, m->msgids[i], rec, &error);
        }
        if (!ok)
            g_warning("tern-sms: receipts of %" G_GUINT64_FORMAT ": %s", m->id, error->message);
    }
    g_info("tern-sms: %" G_GUINT64_FORMAT " accepted by the SMSC (%s)", m->id, m->msgids[0]);
    remove_msg(b, m);
}

/* The message cannot be sent: tell the sender, drop it. */
static void fail(Bridge *b, OutMsg *m, guint32 status)
{
    g_autofree char *st = smpp_status_text(status);
    g_autofree char *text = NULL;
    const char *cond = "service-unavailable", *type = "cancel";
    switch (status) {
    case ESME_RINVDSTADR:
    case ESME_RINVDSTTON:
    case ESME_RINVDSTNPI:
        cond = "item-not-found";
        break;
    case ESME_RINVSRCADR:
    case ESME_RINVSRCTON:
    case ESME_RINVSRCNPI:
        cond = "forbidden";
        type = "auth";
        break;
    case ESME_RTHROTTLED:
    case ESME_RMSGQFUL:
    case ESME_RSYSERR:
    case ESME_RX_T_APPN:
        cond = "resource-constraint";
        type = "wait";
        break;
    default:
        break;
    }
    gboolean some_sent = strchr(m->state, PART_ACKED) != NULL;
    text = g_strdup_printf("The SMSC refused the SMS to %s: %s%s%s", m->dst, st,
                           m->retries > b->cfg->max_retries ? " (retries exhausted)" : "",
                           some_sent ? "; some parts of the text were sent" : "");
    g_message("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s", m->id, text);
    g_autofree char *from = sms_number_to_jid(m->dst, tt_transport_domain(b->t));
    bridge_send_error(b, from, m->from, m->xid, type, cond, text);
    remove_msg(b, m);
}

static gboolean temporary(guint32 status)
{
    return status == ESME_RTHROTTLED || status == ESME_RMSGQFUL || status == ESME_RSYSERR ||
           status == ESME_RX_T_APPN;
}

void outbox_submit_resp(SmppLink *l, guint32 seq, guint32 status, const char *message_id,
                        gpointer bridge)
{
    Bridge *b = bridge;
    InFlight *f = g_hash_table_lookup(b->inflight, GUINT_TO_POINTER(seq));
    if (!f)
        return; /* its message failed meanwhile */
    OutMsg *m = f->msg;
    guint part = f->part;
    g_hash_table_remove(b->inflight, GUINT_TO_POINTER(seq));
    if (status == ESME_ROK) {
        m->state[part] = PART_ACKED;
        g_free(m->msgids[part]);
        m->msgids[part] = g_strdup(message_id ? message_id : "");
        if (!strchr(m->state, PART_PENDING) && !strchr(m->state, PART_SENT))
            done(b, m);
        else
            persist(b, m);
        outbox_pump(b);
        return;
    }
    if (temporary(status) && ++m->retries <= b->cfg->max_retries) {
        m->state[part] = PART_PENDING;
        persist(b, m);
        g_autofree char *st = smpp_status_text(status);
        g_message("tern-sms: outbox entry %" G_GUINT64_FORMAT ": %s; retrying in %u ms", m->id, st,
                  b->cfg->throttle_delay_ms);
        if (!b->throttle) { /* the whole link pauses: the SMSC asked us to slow down */
            b->throttle = g_timeout_source_new(b->cfg->throttle_delay_ms);
            g_source_set_callback(b->throttle, on_throttle_end, b, NULL);
            g_source_attach(b->throttle, g_main_context_get_thread_default());
        }
        return;
    }
    fail(b, m, status);
    outbox_pump(b);
}

void outbox_link_down(Bridge *b)
{
    /* every part without a response goes back to pending: sent again after the bind */
    for (GList *l = b->outbox.head; l; l = l->next) {
        OutMsg *m = l->data;
        if (!strchr(m->state, PART_SENT))
            continue;
        for (char *p = m->state; *p; p++)
            if (*p == PART_SENT)
                *p = PART_PENDING;
        persist(b, m);
    }
    g_hash_table_remove_all(b->inflight);
}
