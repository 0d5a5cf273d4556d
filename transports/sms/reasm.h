/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/reasm.h — reassembly of concatenated SMS (TS 23.040 §9.2.3.24.1): parts
 * in any order, duplicates ignored, incomplete messages given up after a timeout */
#pragma once

#include <glib.h>

typedef struct SmsReasm SmsReasm;

/* timeout_us: how long after its first part an incomplete message waits. transfer full */
SmsReasm *sms_reasm_new(gint64 timeout_us);
void sms_reasm_free(SmsReasm *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmsReasm, sms_reasm_free)

/* Add part seq (1-based) of total of the message (from, to, ref); text borrowed. The
 * whole text when this part completes it, else NULL (also for a duplicate part or
 * numbers out of range). *duplicate (may be NULL) tells a part seen before. transfer full */
char *sms_reasm_add(SmsReasm *r, const char *from, const char *to, guint16 ref, guint8 total,
                    guint8 seq, const char *text, gint64 now_us, gboolean *duplicate);

/* Called for a message given up: the parts received joined, a gap marked "[…]". */
typedef void (*SmsReasmFunc)(const char *from, const char *to, guint16 ref, guint8 total,
                             const char *text, gpointer user_data);
/* Give up every message whose first part came before now_us - timeout. Returns how many. */
guint sms_reasm_expire(SmsReasm *r, gint64 now_us, SmsReasmFunc func, gpointer user_data);
/* Incomplete messages held. */
guint sms_reasm_pending(SmsReasm *r);
/* The key naming one message (what sms_reasm_add groups by). transfer full */
char *sms_reasm_key(const char *from, const char *to, guint16 ref, guint8 total);
