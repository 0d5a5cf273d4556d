/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/receipt.h — SMSC delivery receipts (SMPP 3.4 Appendix B text:
 * "id:... sub:... dlvrd:... submit date:... done date:... stat:DELIVRD err:... text:...") */
#pragma once

#include <glib.h>

typedef enum {
    SMS_RECEIPT_UNKNOWN,   /* a state we do not know: no conclusion */
    SMS_RECEIPT_ENROUTE,   /* ENROUTE, ACCEPTD: still on its way */
    SMS_RECEIPT_DELIVERED, /* DELIVRD */
    SMS_RECEIPT_FAILED,    /* UNDELIV, REJECTD, EXPIRED, DELETED */
} SmsReceiptState;

typedef struct {
    char *id;   /* the message_id the SMSC gave in submit_sm_resp */
    char *stat; /* the 7-letter state as written */
    char *err;  /* network error code, or NULL */
    SmsReceiptState state;
} SmsReceipt;

/* Parse the receipt text (not NUL-terminated, len bytes). Keys are matched
 * case-insensitively, in any order; id and stat are required. FALSE when missing. */
gboolean sms_receipt_parse(const char *text, gsize len, SmsReceipt *out);
/* A state word (DELIVRD, ...; also the SMPP 3.4 §5.2.28 message_state value as text). */
SmsReceiptState sms_receipt_state(const char *stat);
/* message_state TLV (§5.3.2.35) -> the word ("DELIVRD" ...); NULL for unknown. borrowed */
const char *sms_receipt_state_word(guint8 message_state);
void sms_receipt_clear(SmsReceipt *r);
/* A message id as the receipt may write it: ids are compared as given, and a hexadecimal
 * id also as its decimal value (SMSCs differ; COMPAT). transfer full, NULL when same */
char *sms_receipt_alt_id(const char *id);
