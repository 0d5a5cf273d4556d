/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/smpp.h — the ESME side of one SMPP 3.4 link: TCP in the GLib main loop
 * (nonblocking, partial reads and writes), PDUs packed and unpacked by libsmpp34,
 * bind_transceiver (§4.1.5), enquire_link keepalive (§4.11), response timeouts, unbind,
 * reconnect with backoff */
#pragma once

#include <glib.h>
#include <stdint.h>

#include <smpp34.h>
#include <smpp34_structs.h> /* before smpp34_params.h, which uses its types */
#include <smpp34_params.h>

typedef struct SmppLink SmppLink;

#define SMPP_ERROR (smpp_error_quark())
GQuark smpp_error_quark(void);
typedef enum {
    SMPP_ERROR_CONNECT,  /* TCP connect failed */
    SMPP_ERROR_BIND,     /* bind_transceiver_resp with an error status */
    SMPP_ERROR_PROTOCOL, /* a PDU we cannot frame or unpack */
    SMPP_ERROR_TIMEOUT,  /* a request got no response in time */
    SMPP_ERROR_CLOSED,   /* the SMSC closed the connection or unbound */
} SmppError;

typedef struct {
    const char *host;
    guint16 port;
    const char *system_id, *password, *system_type;
    guint reconnect_min_ms, reconnect_max_ms;
    guint enquire_link_s;     /* keepalive when nothing was received for this long */
    guint response_timeout_s; /* a request without response this long ends the link */
} SmppConfig;

typedef struct {
    /* bind_transceiver accepted: submit_sm may be sent. */
    void (*bound)(SmppLink *l, gpointer user_data);
    /* The link is down (error says why: a refused bind names the status); it reconnects
     * by itself after retry_ms. Every request without response is lost with it. */
    void (*down)(SmppLink *l, const GError *error, guint retry_ms, gpointer user_data);
    /* submit_sm_resp (or generic_nack) for the submit_sm with sequence number seq;
     * message_id is NULL unless status is ESME_ROK. */
    void (*submit_resp)(SmppLink *l, guint32 seq, guint32 status, const char *message_id,
                        gpointer user_data);
    /* A deliver_sm (borrowed, unpacked): the command_status of our deliver_sm_resp. */
    guint32 (*deliver)(SmppLink *l, deliver_sm_t *pdu, gpointer user_data);
} SmppHandlers;

/* config and handlers: borrowed (copied). Nothing connects before smpp_link_start().
 * transfer full */
SmppLink *smpp_link_new(const SmppConfig *config, const SmppHandlers *handlers, gpointer user_data);
void smpp_link_start(SmppLink *l);
/* unbind (when bound), close, no reconnect, no callbacks. */
void smpp_link_stop(SmppLink *l);
void smpp_link_free(SmppLink *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmppLink, smpp_link_free)

gboolean smpp_link_is_bound(SmppLink *l);
/* submit_sm requests without their response yet. */
guint smpp_link_outstanding(SmppLink *l);
/* Send pdu (borrowed; command_id, sequence_number and the length are filled in). Its
 * sequence number, or 0 + error when not bound or libsmpp34 cannot pack it. */
guint32 smpp_link_submit(SmppLink *l, submit_sm_t *pdu, GError **error);
/* The human text of a command_status ("ESME_RTHROTTLED (throttling error)"). transfer full */
char *smpp_status_text(guint32 status);
