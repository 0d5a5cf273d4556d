/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/sdk-private.h — shared between the SDK's files and its unit tests */
#pragma once

#include "transports/sdk/tern-transport.h"

/* tt_loop.c: libstrophe driven from a GSource on a GMainContext (no thread, no xmpp_run) */
typedef struct TtLoop TtLoop;

/* A source on context (borrowed) that calls xmpp_run_once(ctx, 0) whenever the watched
 * socket is ready, when kicked, and at least every tick_ms. It also holds a spare file
 * descriptor below FD_SETSIZE (tt_loop_release_spare). transfer full */
TtLoop *tt_loop_new(xmpp_ctx_t *ctx, GMainContext *context);
void tt_loop_free(TtLoop *l);
/* Watch fd (the socket of conn, < FD_SETSIZE) instead of any previous one. conn: borrowed,
 * until tt_loop_unwatch() */
void tt_loop_watch(TtLoop *l, int fd, xmpp_conn_t *conn);
void tt_loop_unwatch(TtLoop *l);
/* Run libstrophe on the next main-loop turn (data was queued). */
void tt_loop_kick(TtLoop *l);
/* Tell whether libstrophe is connecting (poll for writability) and how often to tick. */
void tt_loop_set_connecting(TtLoop *l, gboolean connecting);
/* Close the spare descriptor so that the next socket() gets a number below FD_SETSIZE
 * (POSIX: the lowest free number); tt_loop_reserve_spare() takes one again. */
void tt_loop_release_spare(TtLoop *l);
void tt_loop_reserve_spare(TtLoop *l);
/* TRUE when libstrophe's select() can watch fd (fd < FD_SETSIZE). */
gboolean tt_fd_selectable(int fd);

/* gateway.c: the XEP-0100/0030/0077/0199 parts of the transport */
typedef struct {
    char *domain, *name, *gateway_type, *instructions, *prompt_desc, *prompt;
    TtField *fields; /* copied, ended by var == NULL */
    char **features;
} TtGatewayInfo;

/* An iq to the component's domain in one of the SDK's namespaces: answered, TRUE. */
gboolean tt_gateway_handle_iq(TtTransport *t, const TtGatewayInfo *gw, xmpp_stanza_t *iq);
/* A subscription presence or probe to the component's domain: answered, TRUE. */
gboolean tt_gateway_handle_presence(TtTransport *t, const TtGatewayInfo *gw,
                                    xmpp_stanza_t *presence);
/* The handlers and user data of t (for gateway.c). borrowed */
const TtHandlers *tt_transport_handlers(TtTransport *t, gpointer *user_data);

/* Internal store keys: registration fields under "reg:<var>", the registration itself. */
#define TT_KEY_REGISTERED "tt:registered"
#define TT_KEY_FIELD_PREFIX "reg:"
