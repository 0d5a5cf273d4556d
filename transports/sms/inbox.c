/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/inbox.c — SMS -> XMPP: deliver_sm to the user who registered the number,
 * concatenated parts kept in the store until whole, delivery receipts as XEP-0184 */
#include "transports/sms/bridge-private.h"

#include <stdlib.h>
#include <string.h>

#define SEP "\x1f"

/* A chat message from `from` to the user's bare JID: ternd stores it offline when no
 * resource is available (the router's offline storage). */
static void deliver_text(Bridge *b, const char *from, const char *user, const char *text)
{
    xmpp_stanza_t *m = tt_message_new(b->t, "chat", from, user, text);
    g_autofree char *id = g_uuid_string_random();
    xmpp_stanza_set_id(m, id);
    tt_send(b->t, m);
}

/* --- parts of concatenated SMS, durable until the message is whole ------------------- */

static char *part_key(const char *mkey, guint8 seq)
{
    return g_strdup_printf("%s" SEP "%03u", mkey, seq);
}

static void forget_parts(Bridge *b, const char *from, const char *to, guint16 ref, guint8 total)
{
    g_autofree char *mkey = sms_reasm_key(from, to, ref, total);
    for (guint seq = 1; seq <= total; seq++) {
        g_autofree char *k = part_key(mkey, (guint8)seq);
        g_autoptr(GError) error = NULL;
        if (!tt_store_delete(tt_transport_store(b->t), STORE_INBOX, k, &error))
            g_warning("tern-sms: inbox: %s", error->message);
    }
}

/* from: the sender's JID; to: the user. Stored parts are keyed by both. */
static void whole(Bridge *b, const char *from, const char *to, const char *text)
{
    deliver_text(b, from, to, text);
}

static void on_expired(const char *from, const char *to, guint16 ref, guint8 total,
                       const char *text, gpointer data)
{
    Bridge *b = data;
    g_message("tern-sms: a concatenated SMS from %s misses parts; delivered with a gap", from);
    whole(b, from, to, text);
    forget_parts(b, from, to, ref, total);
}

gboolean inbox_expire(gpointer data)
{
    Bridge *b = data;
    if (tt_transport_is_connected(b->t))
        sms_reasm_expire(b->reasm, g_get_monotonic_time(), on_expired, b);
    return G_SOURCE_CONTINUE;
}

static gboolean load_part(const char *user, const char *key, const char *value, gpointer data)
{
    Bridge *b = data;
    g_auto(GStrv) f = g_strsplit(key, SEP, -1);
    if (g_strv_length(f) != 5)
        return TRUE;
    gboolean dup;
    g_autofree char *text =
        sms_reasm_add(b->reasm, f[0], f[1], (guint16)atoi(f[2]), (guint8)atoi(f[3]),
                      (guint8)atoi(f[4]), value, g_get_monotonic_time(), &dup);
    if (text) { /* a crash came between storing the last part and handing the text on */
        Ready *r = g_new0(Ready, 1);
        r->from = g_strdup(f[0]);
        r->to = g_strdup(f[1]);
        r->text = g_steal_pointer(&text);
        r->ref = (guint16)atoi(f[2]);
        r->total = (guint8)atoi(f[3]);
        g_ptr_array_add(b->ready, r);
    }
    return TRUE;
}

void inbox_ready_free(gpointer p)
{
    Ready *r = p;
    g_free(r->from);
    g_free(r->to);
    g_free(r->text);
    g_free(r);
}

void inbox_flush_ready(Bridge *b)
{
    for (guint i = 0; i < b->ready->len; i++) {
        Ready *r = b->ready->pdata[i];
        whole(b, r->from, r->to, r->text);
        forget_parts(b, r->from, r->to, r->ref, r->total);
    }
    g_ptr_array_set_size(b->ready, 0);
}

void inbox_load(Bridge *b)
{
    g_autoptr(GError) error = NULL;
    if (!tt_store_foreach(tt_transport_store(b->t), STORE_INBOX, load_part, b, &error))
        g_warning("tern-sms: reading the inbox: %s", error->message);
}

/* --- receipts (SMPP 3.4 Appendix B; §5.2.12 esm_class 0x04) ----------------------------- */

static tlv_t *find_tlv(tlv_t *list, guint16 tag)
{
    for (tlv_t *t = list; t; t = t->next)
        if (t->tag == tag)
            return t;
    return NULL;
}

static void receipt(Bridge *b, deliver_sm_t *d)
{
    SmsReceipt r = {0};
    tlv_t *rid = find_tlv(d->tlv, TLVID_receipted_message_id);
    tlv_t *st = find_tlv(d->tlv, TLVID_message_state);
    gboolean parsed = sms_receipt_parse((const char *)d->short_message, d->sm_length, &r);
    if (rid && st) { /* the TLVs win over the text (§5.3.2.12, §5.3.2.35) */
        const char *word = sms_receipt_state_word(st->value.val08);
        g_free(r.id);
        g_free(r.stat);
        r.id = sms_xml_safe((const char *)rid->value.octet,
                            (gssize)strnlen((const char *)rid->value.octet, rid->length));
        r.stat = g_strdup(word ? word : "UNKNOWN");
        r.state = sms_receipt_state(r.stat);
    } else if (!parsed) {
        g_message("tern-sms: a delivery receipt without id/stat; ignored");
        return;
    }
    TtStore *s = tt_transport_store(b->t);
    g_autofree char *alt = sms_receipt_alt_id(r.id);
    const char *id = r.id;
    g_autofree char *rec = tt_store_get(s, STORE_DLR, id);
    if (!rec && alt)
        rec = tt_store_get(s, STORE_DLR, (id = alt));
    g_auto(GStrv) f = rec ? g_strsplit(rec, SEP, 5) : NULL;
    if (!f || g_strv_length(f) < 4) {
        g_info("tern-sms: receipt for %s (%s): no receipt was asked", r.id, r.stat);
        sms_receipt_clear(&r);
        return;
    }
    const char *qid = f[0], *from = f[1], *dst = f[2], *xid = f[3];
    g_autofree char *phone = sms_number_to_jid(dst, tt_transport_domain(b->t));
    g_autoptr(GError) error = NULL;
    if (r.state == SMS_RECEIPT_DELIVERED || r.state == SMS_RECEIPT_FAILED)
        tt_store_delete(s, STORE_DLR, id, &error);
    g_autofree char *left_s = tt_store_get(s, STORE_DLR_LEFT, qid);
    if (r.state == SMS_RECEIPT_DELIVERED && left_s) {
        guint left = (guint)atoi(left_s);
        if (left > 1) {
            g_autofree char *v = g_strdup_printf("%u", left - 1);
            tt_store_set(s, STORE_DLR_LEFT, qid, v, &error);
        } else { /* XEP-0184 §4: every part arrived */
            tt_store_delete(s, STORE_DLR_LEFT, qid, &error);
            xmpp_stanza_t *m = tt_stanza_new(b->t, "message", NULL, phone, from, NULL);
            g_autofree char *mid = g_uuid_string_random();
            xmpp_stanza_set_id(m, mid);
            xmpp_stanza_t *rc = tt_stanza_add_child(m, "received", NS_RECEIPTS, NULL);
            xmpp_stanza_set_attribute(rc, "id", xid);
            tt_send(b->t, m);
        }
    } else if (r.state == SMS_RECEIPT_FAILED && left_s) {
        tt_store_delete(s, STORE_DLR_LEFT, qid, &error); /* report once per message */
        g_autofree char *text =
            g_strdup_printf("The SMS to %s was not delivered: %s%s%s", dst, r.stat,
                            r.err ? ", error " : "", r.err ? r.err : "");
        bridge_send_error(b, phone, from, xid, "cancel", "recipient-unavailable", text);
    }
    sms_receipt_clear(&r);
}

/* Receipts the SMSC never sent: forget them after receipt_wait_h (the store stays small). */
static gboolean collect_old(const char *user, const char *key, const char *value, gpointer data)
{
    GPtrArray *old = data;
    g_auto(GStrv) f = g_strsplit(value, SEP, 5);
    gint64 limit = *(gint64 *)old->pdata[0];
    if (g_strv_length(f) == 5 && g_ascii_strtoll(f[4], NULL, 10) < limit) {
        g_ptr_array_add(old, g_strdup(key));
        g_ptr_array_add(old, g_strdup(f[0]));
    }
    return TRUE;
}

gboolean inbox_purge_receipts(gpointer data)
{
    Bridge *b = data;
    TtStore *s = tt_transport_store(b->t);
    gint64 limit = g_get_real_time() / G_USEC_PER_SEC - (gint64)b->cfg->receipt_wait_h * 3600;
    g_autoptr(GPtrArray) old = g_ptr_array_new();
    g_ptr_array_add(old, &limit);
    g_autoptr(GError) error = NULL;
    if (!tt_store_foreach(s, STORE_DLR, collect_old, old, &error))
        g_warning("tern-sms: receipts: %s", error->message);
    for (guint i = 1; i + 1 < old->len; i += 2) {
        tt_store_delete(s, STORE_DLR, old->pdata[i], NULL);
        tt_store_delete(s, STORE_DLR_LEFT, old->pdata[i + 1], NULL);
        g_free(old->pdata[i]);
        g_free(old->pdata[i + 1]);
    }
    if (old->len > 1)
        g_message("tern-sms: forgot %u receipt(s) awaited for more than %u h", (old->len - 1) / 2,
                  b->cfg->receipt_wait_h);
    return G_SOURCE_CONTINUE;
}

/* --- deliver_sm ----------------------------------------------------------------------- */

guint32 inbox_deliver(SmppLink *l, deliver_sm_t *d, gpointer bridge)
{
    Bridge *b = bridge;
    if ((d->esm_class & 0x3C) == SMPP34_DELIVERY_RECEIPT) { /* §5.2.12 bits 5-2: 0001 */
        receipt(b, d);
        return ESME_ROK;
    }
    if (!tt_transport_is_connected(b->t)) /* we could not hand it on: the SMSC retries */
        return ESME_RX_T_APPN;
    g_autofree char *to_num = sms_smpp_to_number((const char *)d->destination_addr,
                                                 d->dest_addr_ton, &b->cfg->source_rule);
    const char *user = to_num ? g_hash_table_lookup(b->numbers, to_num) : NULL;
    if (!user) {
        g_message("tern-sms: an SMS to %s: no user registered that number; refused",
                  (const char *)d->destination_addr);
        return ESME_RINVDSTADR;
    }
    const char *domain = tt_transport_domain(b->t);
    g_autofree char *from_num =
        sms_smpp_to_number((const char *)d->source_addr, d->source_addr_ton, &b->cfg->dest_rule);
    g_autofree char *from = from_num ? sms_number_to_jid(from_num, domain) : g_strdup(domain);
    const guint8 *sm = d->short_message;
    gsize len = d->sm_length;
    tlv_t *payload = find_tlv(d->tlv, TLVID_message_payload);
    if (!len && payload) { /* §5.3.2.32: the text in a TLV instead */
        sm = payload->value.octet;
        len = payload->length;
    }
    SmsPart p;
    g_autoptr(GError) error = NULL;
    if (!sms_decode(d->data_coding, (d->esm_class & SMS_ESM_UDHI) != 0, b->cfg->gsm7_packed, sm,
                    len, &p, &error)) {
        g_message("tern-sms: an SMS from %s: %s; refused", from, error->message);
        return ESME_RX_P_APPN;
    }
    tlv_t *sref = find_tlv(d->tlv, TLVID_sar_msg_ref_num);
    tlv_t *stot = find_tlv(d->tlv, TLVID_sar_total_segments);
    tlv_t *sseq = find_tlv(d->tlv, TLVID_sar_segment_seqnum);
    if (!p.concat && sref && stot && sseq && stot->value.val08 > 1 && sseq->value.val08 >= 1 &&
        sseq->value.val08 <= stot->value.val08) { /* §5.3.2.22-24: SAR TLVs */
        p.concat = TRUE;
        p.ref = sref->value.val16;
        p.total = stot->value.val08;
        p.seq = sseq->value.val08;
    }
    if (!from_num) { /* an alphanumeric sender: say who, from the gateway itself */
        g_autofree char *who = sms_xml_safe((const char *)d->source_addr, -1);
        char *t = g_strdup_printf("[SMS from %s] %s", who, p.text);
        g_free(p.text);
        p.text = t;
    }
    if (!p.concat) {
        deliver_text(b, from, user, p.text);
        sms_part_clear(&p);
        return ESME_ROK;
    }
    /* durable before we answer: an acknowledged part survives a restart */
    g_autofree char *mkey = sms_reasm_key(from, user, p.ref, p.total);
    g_autofree char *pkey = part_key(mkey, p.seq);
    if (!tt_store_set(tt_transport_store(b->t), STORE_INBOX, pkey, p.text, &error)) {
        g_warning("tern-sms: inbox: %s", error->message);
        sms_part_clear(&p);
        return ESME_RX_T_APPN;
    }
    gboolean dup;
    g_autofree char *text = sms_reasm_add(b->reasm, from, user, p.ref, p.total, p.seq, p.text,
                                          g_get_monotonic_time(), &dup);
    if (text) {
        whole(b, from, user, text);
        forget_parts(b, from, user, p.ref, p.total);
    }
    sms_part_clear(&p);
    return ESME_ROK;
}
