/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/bridge-private.h — the Bridge's state, shared by bridge.c (XMPP side),
 * outbox.c (XMPP -> SMS) and inbox.c (SMS -> XMPP) */
#pragma once

#include "transports/sms/address.h"
#include "transports/sms/bridge.h"
#include "transports/sms/codec.h"
#include "transports/sms/reasm.h"
#include "transports/sms/receipt.h"
#include "transports/sms/smpp.h"

#define OUTBOX_QUEUE "sms-out"       /* tt_queue name of the outbox */
#define STORE_INBOX "sms:in"         /* pseudo-user: parts of incoming concatenated SMS */
#define STORE_DLR "sms:dlr"          /* pseudo-user: SMSC message id -> receipt to give */
#define STORE_DLR_LEFT "sms:dlrleft" /* pseudo-user: outbox id -> parts not yet delivered */
#define CONTACTS_PREFIX "contacts:"  /* pseudo-user contacts:<user>: key = number */
#define NS_RECEIPTS "urn:xmpp:receipts"

/* Part states of an outgoing SMS (one character per part, stored). */
#define PART_PENDING 'P' /* to be sent */
#define PART_SENT 'S'    /* submit_sm written, no response yet */
#define PART_ACKED 'A'   /* submit_sm_resp OK: the SMSC has it */

/* One accepted XMPP message on its way out: an outbox entry. */
typedef struct {
    guint64 id;       /* tt_queue id */
    char *from;       /* the sender's full JID: errors and receipts go there */
    char *src, *dst;  /* E.164: the user's number, the recipient's */
    char *xid;        /* the XMPP message id, or NULL */
    gboolean receipt; /* XEP-0184 receipt requested */
    guint16 ref;      /* concatenation reference */
    char *body;
    char *state;   /* PART_* per part */
    char **msgids; /* per part: the SMSC's message_id ("" until acked) */
    guint retries; /* temporary errors so far */
    SmsSplit *split;
} OutMsg;

struct Bridge {
    TtTransport *t;   /* borrowed */
    SmsGwConfig *cfg; /* borrowed */
    SmppLink *link;
    GQueue outbox;        /* OutMsg*, oldest first */
    GHashTable *inflight; /* seq -> InFlight* */
    GHashTable *numbers;  /* E.164 -> user bare JID, from the registrations */
    GHashTable *buckets;  /* user -> Bucket* (rate limit) */
    SmsReasm *reasm;
    GSource *reasm_tick, *throttle, *purge_tick;
    gboolean link_up;
    char *link_status; /* why the link is down, for presence status; NULL while up */
    guint16 next_ref;
    GPtrArray *ready; /* Ready*: whole incoming texts found in the store at start-up */
};

/* An incoming text to hand to ternd once connected. */
typedef struct {
    char *from, *to, *text;
    guint16 ref;
    guint8 total;
} Ready;

typedef struct {
    OutMsg *msg;
    guint part;
} InFlight;

/* bridge.c */
/* Presence of contact number to user according to the link state. */
void bridge_contact_presence(Bridge *b, const char *user, const char *number);
/* The same to every contact of every user. */
void bridge_all_presence(Bridge *b);
/* A message of type error to `to` from `from` with id, condition and text. */
void bridge_send_error(Bridge *b, const char *from, const char *to, const char *id,
                       const char *type, const char *condition, const char *text);

/* outbox.c */
void outbox_load(Bridge *b);
void outbox_free(Bridge *b);
/* Queue a message durably and send what can be sent; FALSE + error if it cannot be
 * stored (or is too long: SMS_CODEC_ERROR_TOO_LONG). */
gboolean outbox_add(Bridge *b, const char *from, const char *src, const char *dst, const char *xid,
                    gboolean receipt, const char *body, GError **error);
void outbox_pump(Bridge *b);
void outbox_link_down(Bridge *b);
void outbox_submit_resp(SmppLink *l, guint32 seq, guint32 status, const char *message_id,
                        gpointer bridge);

/* inbox.c */
void inbox_load(Bridge *b);
guint32 inbox_deliver(SmppLink *l, deliver_sm_t *pdu, gpointer bridge);
/* Hand on what inbox_load() found whole (ternd is connected now). */
void inbox_flush_ready(Bridge *b);
void inbox_ready_free(gpointer ready);
gboolean inbox_expire(gpointer bridge);
/* Forget receipts awaited for longer than receipt_wait_h; a GSourceFunc. */
gboolean inbox_purge_receipts(gpointer bridge);
