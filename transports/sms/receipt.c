/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/receipt.c — delivery receipt text (receipt.h) */
#include "transports/sms/receipt.h"

#include "transports/sms/codec.h"

#include <stdlib.h>
#include <string.h>

void sms_receipt_clear(SmsReceipt *r)
{
    g_clear_pointer(&r->id, g_free);
    g_clear_pointer(&r->stat, g_free);
    g_clear_pointer(&r->err, g_free);
    r->state = SMS_RECEIPT_UNKNOWN;
}

/* The value after "key:" (case-insensitive, at the start or after a space), up to the
 * next space. transfer full, NULL when absent */
static char *field(const char *text, const char *key)
{
    gsize klen = strlen(key);
    for (const char *p = text; *p; p++) {
        if ((p == text || p[-1] == ' ') && g_ascii_strncasecmp(p, key, klen) == 0 &&
            p[klen] == ':') {
            const char *v = p + klen + 1, *e = v;
            while (*e && *e != ' ')
                e++;
            return e > v ? g_strndup(v, e - v) : NULL;
        }
    }
    return NULL;
}

SmsReceiptState sms_receipt_state(const char *stat)
{
    static const struct {
        const char *word;
        SmsReceiptState state;
    } words[] = {
        {"DELIVRD", SMS_RECEIPT_DELIVERED}, {"DELIVERED", SMS_RECEIPT_DELIVERED},
        {"ENROUTE", SMS_RECEIPT_ENROUTE},   {"ACCEPTD", SMS_RECEIPT_ENROUTE},
        {"UNDELIV", SMS_RECEIPT_FAILED},    {"REJECTD", SMS_RECEIPT_FAILED},
        {"EXPIRED", SMS_RECEIPT_FAILED},    {"DELETED", SMS_RECEIPT_FAILED},
    };
    for (gsize i = 0; stat && i < G_N_ELEMENTS(words); i++)
        if (g_ascii_strcasecmp(stat, words[i].word) == 0)
            return words[i].state;
    return SMS_RECEIPT_UNKNOWN;
}

const char *sms_receipt_state_word(guint8 message_state)
{
    static const char *const w[] = {NULL,      "ENROUTE", "DELIVRD", "EXPIRED", "DELETED",
                                    "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"};
    return message_state < G_N_ELEMENTS(w) ? w[message_state] : NULL;
}

gboolean sms_receipt_parse(const char *text, gsize len, SmsReceipt *out)
{
    memset(out, 0, sizeof *out);
    g_autofree char *t = sms_xml_safe(text, (gssize)strnlen(text, len)); /* it reaches XMPP */
    out->id = field(t, "id");
    out->stat = field(t, "stat");
    out->err = field(t, "err");
    if (!out->id || !out->stat) {
        sms_receipt_clear(out);
        return FALSE;
    }
    out->state = sms_receipt_state(out->stat);
    return TRUE;
}

char *sms_receipt_alt_id(const char *id)
{
    if (!id || !*id || strlen(id) > 16)
        return NULL;
    char *end;
    guint64 v = g_ascii_strtoull(id, &end, 16);
    if (*end)
        return NULL;
    char *dec = g_strdup_printf("%" G_GUINT64_FORMAT, v);
    if (strcmp(dec, id) == 0)
        g_clear_pointer(&dec, g_free);
    return dec;
}
