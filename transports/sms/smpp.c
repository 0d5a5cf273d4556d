/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/smpp.c — one SMPP 3.4 ESME link in the GLib main loop (smpp.h). Framing
 * and the socket are ours; PDU bodies go through libsmpp34's pack/unpack. */
#include "transports/sms/smpp.h"

#include <gio/gio.h>
#include <string.h>

#include "transports/sdk/tern-transport.h"

#define HEADER_LEN 16
#define PDU_MAX 65536 /* a longer command_length is a broken stream */
#define PACK_BUF 4096 /* libsmpp34 wants room to spare; our PDUs are < 1 KiB */
#define TICK_MS 1000

typedef enum {
    LINK_IDLE,
    LINK_CONNECTING,
    LINK_BINDING, /* bind_transceiver sent */
    LINK_BOUND,
    LINK_WAIT_RETRY,
    LINK_STOPPED,
} LinkState;

typedef struct {
    guint32 command_id;
    gint64 sent_us;
} Request;

struct SmppLink {
    SmppConfig cfg; /* strings owned */
    SmppHandlers h;
    gpointer ud;
    LinkState state;
    GSocketClient *client;
    GCancellable *cancel;
    GSocketConnection *conn;
    GSocket *sock;
    GSource *in_src, *out_src, *retry, *tick;
    GByteArray *rbuf, *wbuf;
    GHashTable *requests; /* seq -> Request* (our requests awaiting a response) */
    guint32 next_seq;
    guint submits; /* submit_sm among requests */
    gint64 last_rx_us;
    guint attempt;
    GRand *rand;
};

GQuark smpp_error_quark(void)
{
    return g_quark_from_static_string("tern-smpp-error-quark");
}

char *smpp_status_text(guint32 status)
{
    static const struct {
        guint32 status;
        const char *text;
    } known[] = {
        {ESME_RINVMSGLEN, "message length is invalid"},
        {ESME_RINVCMDID, "invalid command"},
        {ESME_RINVBNDSTS, "not bound"},
        {ESME_RSYSERR, "SMSC system error"},
        {ESME_RINVSRCADR, "invalid source address"},
        {ESME_RINVDSTADR, "invalid destination address"},
        {ESME_RBINDFAIL, "bind failed"},
        {ESME_RINVPASWD, "invalid password"},
        {ESME_RINVSYSID, "invalid system_id"},
        {ESME_RMSGQFUL, "message queue full"},
        {ESME_RSUBMITFAIL, "submit failed"},
        {ESME_RINVSRCTON, "invalid source address TON"},
        {ESME_RINVSRCNPI, "invalid source address NPI"},
        {ESME_RINVDSTTON, "invalid destination address TON"},
        {ESME_RINVDSTNPI, "invalid destination address NPI"},
        {ESME_RINVSYSTYP, "invalid system_type"},
        {ESME_RTHROTTLED, "throttling error"},
        {ESME_RINVESMCLASS, "invalid esm_class"},
        {ESME_RX_T_APPN, "temporary error"},
        {ESME_RX_P_APPN, "permanent error"},
        {ESME_RX_R_APPN, "message rejected"},
    };
    char name[SMALL_BUFF];
    str_command_status(status, name);
    for (gsize i = 0; i < G_N_ELEMENTS(known); i++)
        if (known[i].status == status)
            return g_strdup_printf("%s (%s)", name, known[i].text);
    return *name ? g_strdup(name) : g_strdup_printf("command_status 0x%08x", status);
}

/* --- lifetime ------------------------------------------------------------------------- */

SmppLink *smpp_link_new(const SmppConfig *config, const SmppHandlers *handlers, gpointer user_data)
{
    SmppLink *l = g_new0(SmppLink, 1);
    l->cfg = *config;
    l->cfg.host = g_strdup(config->host);
    l->cfg.system_id = g_strdup(config->system_id);
    l->cfg.password = g_strdup(config->password);
    l->cfg.system_type = g_strdup(config->system_type ? config->system_type : "");
    if (!l->cfg.reconnect_min_ms)
        l->cfg.reconnect_min_ms = 1000;
    l->cfg.reconnect_max_ms = MAX(l->cfg.reconnect_max_ms, l->cfg.reconnect_min_ms);
    if (!l->cfg.enquire_link_s)
        l->cfg.enquire_link_s = 30;
    if (!l->cfg.response_timeout_s)
        l->cfg.response_timeout_s = 20;
    l->h = *handlers;
    l->ud = user_data;
    l->rbuf = g_byte_array_new();
    l->wbuf = g_byte_array_new();
    l->requests = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    l->next_seq = 1;
    l->rand = g_rand_new();
    return l;
}

static void source_clear(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

/* Close the socket and forget every request; no callback. */
static void teardown(SmppLink *l)
{
    source_clear(&l->in_src);
    source_clear(&l->out_src);
    source_clear(&l->tick);
    if (l->cancel) {
        g_cancellable_cancel(l->cancel);
        g_clear_object(&l->cancel);
    }
    if (l->conn)
        g_io_stream_close(G_IO_STREAM(l->conn), NULL, NULL);
    g_clear_object(&l->conn);
    l->sock = NULL; /* owned by conn */
    g_clear_object(&l->client);
    g_byte_array_set_size(l->rbuf, 0);
    g_byte_array_set_size(l->wbuf, 0);
    g_hash_table_remove_all(l->requests);
    l->submits = 0;
}

void smpp_link_free(SmppLink *l)
{
    if (!l)
        return;
    teardown(l);
    source_clear(&l->retry);
    g_byte_array_unref(l->rbuf);
    g_byte_array_unref(l->wbuf);
    g_hash_table_destroy(l->requests);
    g_free((char *)l->cfg.host);
    g_free((char *)l->cfg.system_id);
    if (l->cfg.password)
        memset((char *)l->cfg.password, 0, strlen(l->cfg.password));
    g_free((char *)l->cfg.password);
    g_free((char *)l->cfg.system_type);
    g_rand_free(l->rand);
    g_free(l);
}

gboolean smpp_link_is_bound(SmppLink *l)
{
    return l->state == LINK_BOUND;
}

guint smpp_link_outstanding(SmppLink *l)
{
    return l->submits;
}

static void link_connect(SmppLink *l);

static gboolean on_retry(gpointer data)
{
    SmppLink *l = data;
    g_source_unref(l->retry);
    l->retry = NULL;
    link_connect(l);
    return G_SOURCE_REMOVE;
}

/* The link failed (error: transfer full): close, tell, retry after the backoff. */
static void link_fail(SmppLink *l, GError *error)
{
    teardown(l);
    if (l->state == LINK_STOPPED) {
        g_error_free(error);
        return;
    }
    guint delay =
        tt_backoff_delay(l->attempt++, l->cfg.reconnect_min_ms, l->cfg.reconnect_max_ms, l->rand);
    l->state = LINK_WAIT_RETRY;
    g_message("smpp %s:%u: %s; reconnecting in %u ms", l->cfg.host, l->cfg.port, error->message,
              delay);
    l->retry = g_timeout_source_new(delay);
    g_source_set_callback(l->retry, on_retry, l, NULL);
    g_source_attach(l->retry, g_main_context_get_thread_default());
    if (l->h.down)
        l->h.down(l, error, delay, l->ud);
    g_error_free(error);
}

/* --- writing ------------------------------------------------------------------------- */

static gboolean flush(SmppLink *l);

static gboolean on_writable(GSocket *s, GIOCondition cond, gpointer data)
{
    SmppLink *l = data;
    source_clear(&l->out_src);
    flush(l);
    return G_SOURCE_REMOVE;
}

/* Write what the socket takes now; wait for writability for the rest. FALSE: failed
 * (the link is down now). */
static gboolean flush(SmppLink *l)
{
    while (l->sock && l->wbuf->len) {
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_send(l->sock, (const char *)l->wbuf->data, l->wbuf->len, NULL, &error);
        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
            if (!l->out_src) {
                l->out_src = g_socket_create_source(l->sock, G_IO_OUT, NULL);
                g_source_set_callback(l->out_src, (GSourceFunc)(void (*)(void))on_writable, l,
                                      NULL);
                g_source_attach(l->out_src, g_main_context_get_thread_default());
            }
            return TRUE;
        }
        if (n < 0) {
            link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_CLOSED, "write: %s", error->message));
            return FALSE;
        }
        g_byte_array_remove_range(l->wbuf, 0, (guint)n);
    }
    return TRUE;
}

/* Pack pdu (libsmpp34) and queue it. FALSE + error when it cannot be packed. */
static gboolean send_pdu(SmppLink *l, void *pdu, GError **error)
{
    guint8 buf[PACK_BUF];
    int len = 0;
    if (smpp34_pack2(buf, sizeof buf, &len, pdu) != 0) {
        g_set_error(error, SMPP_ERROR, SMPP_ERROR_PROTOCOL, "libsmpp34 cannot pack: %s",
                    smpp34_strerror);
        return FALSE;
    }
    g_byte_array_append(l->wbuf, buf, (guint)len);
    flush(l); /* a failed write is reported through down() */
    return TRUE;
}

static guint32 take_seq(SmppLink *l)
{
    guint32 seq = l->next_seq;
    l->next_seq = l->next_seq >= 0x7FFFFFFF ? 1 : l->next_seq + 1; /* §5.1.4: 1..0x7FFFFFFF */
    return seq;
}

static void track(SmppLink *l, guint32 seq, guint32 command_id)
{
    Request *r = g_new0(Request, 1);
    r->command_id = command_id;
    r->sent_us = g_get_monotonic_time();
    g_hash_table_replace(l->requests, GUINT_TO_POINTER(seq), r);
    if (command_id == SUBMIT_SM)
        l->submits++;
}

/* A header-only PDU (enquire_link, unbind, their responses, generic_nack). */
static void send_simple(SmppLink *l, guint32 command_id, guint32 status, guint32 seq)
{
    enquire_link_t p; /* the same layout as every header-only PDU */
    memset(&p, 0, sizeof p);
    p.command_id = command_id;
    p.command_status = status;
    p.sequence_number = seq;
    g_autoptr(GError) error = NULL;
    if (!send_pdu(l, &p, &error))
        g_message("smpp: %s", error->message);
}

guint32 smpp_link_submit(SmppLink *l, submit_sm_t *pdu, GError **error)
{
    if (l->state != LINK_BOUND) {
        g_set_error(error, SMPP_ERROR, SMPP_ERROR_CLOSED, "the SMSC link is down");
        return 0;
    }
    pdu->command_id = SUBMIT_SM;
    pdu->command_status = ESME_ROK;
    pdu->sequence_number = take_seq(l);
    guint32 seq = pdu->sequence_number;
    if (!send_pdu(l, pdu, error))
        return 0;
    if (l->state != LINK_BOUND) { /* the write failed: down() has run */
        g_set_error(error, SMPP_ERROR, SMPP_ERROR_CLOSED, "the SMSC link broke");
        return 0;
    }
    track(l, seq, SUBMIT_SM);
    return seq;
}

/* --- reading ------------------------------------------------------------------------- */

/* Check a deliver_sm body before libsmpp34 unpacks it: its C-strings are read with
 * strlen() and a TLV whose length disagrees with its type desynchronizes (and leaks) the
 * parser. Field sizes: SMPP 3.4 §4.6.1; TLV sizes: §5.3.2. */
static gboolean deliver_sm_sane(const guint8 *b, gsize len)
{
    static const guint8 cstr_max[] = {6, 0, 0, 21, 0, 0, 21, 0, 0, 0, 1, 1, 0, 0, 0, 0};
    gsize i = 0;
    for (gsize f = 0; f < G_N_ELEMENTS(cstr_max); f++) {
        if (i >= len)
            return FALSE;
        if (!cstr_max[f]) { /* one octet */
            i++;
            continue;
        }
        const guint8 *z = memchr(b + i, 0, MIN(len - i, (gsize)cstr_max[f]));
        if (!z)
            return FALSE;
        i = (gsize)(z - b) + 1;
    }
    if (i >= len || i + 1 + b[i] > len || b[i] > 254) /* sm_length, short_message */
        return FALSE;
    i += 1 + b[i];
    while (i < len) { /* TLVs */
        if (i + 4 > len)
            return FALSE;
        guint16 tag = (guint16)(b[i] << 8 | b[i + 1]), tl = (guint16)(b[i + 2] << 8 | b[i + 3]);
        gint want = -1, max = 1024;
        switch (tag) {
        case TLVID_user_message_reference:
        case TLVID_source_port:
        case TLVID_destination_port:
        case TLVID_sar_msg_ref_num:
        case TLVID_its_session_info:
            want = 2;
            break;
        case TLVID_sar_total_segments:
        case TLVID_sar_segment_seqnum:
        case TLVID_user_response_code:
        case TLVID_privacy_indicator:
        case TLVID_payload_type:
        case TLVID_language_indicator:
        case TLVID_message_state:
        case TLVID_set_dpf:
        case TLVID_source_network_type:
            want = 1;
            break;
        case TLVID_callback_num:
            max = 19;
            break;
        case TLVID_source_subaddress:
        case TLVID_dest_subaddress:
            max = 23;
            break;
        case TLVID_network_error_code:
            max = 3;
            break;
        case TLVID_receipted_message_id:
            max = 65;
            break;
        default:
            break;
        }
        if ((want >= 0 && tl != want) || tl > max || i + 4 + tl > len)
            return FALSE;
        i += 4 + (gsize)tl;
    }
    return TRUE;
}

static void on_bind_resp(SmppLink *l, guint32 status, const guint8 *pdu, gsize len)
{
    if (status != ESME_ROK) {
        g_autofree char *text = smpp_status_text(status);
        link_fail(l,
                  g_error_new(SMPP_ERROR, SMPP_ERROR_BIND, "the SMSC refused the bind: %s", text));
        return;
    }
    l->state = LINK_BOUND;
    l->attempt = 0;
    g_message("smpp %s:%u: bound as transceiver (system_id %s)", l->cfg.host, l->cfg.port,
              l->cfg.system_id);
    if (l->h.bound)
        l->h.bound(l, l->ud);
}

static void on_submit_resp(SmppLink *l, guint32 seq, guint32 status, const guint8 *pdu, gsize len)
{
    char message_id[66] = "";
    if (status == ESME_ROK) {
        submit_sm_resp_t r;
        memset(&r, 0, sizeof r);
        if (len > HEADER_LEN && smpp34_unpack2(&r, pdu, (int)len) == 0)
            g_strlcpy(message_id, (const char *)r.message_id, sizeof message_id);
        else
            g_message("smpp: submit_sm_resp %u without a readable message_id: %s", seq,
                      smpp34_strerror);
    }
    if (l->h.submit_resp)
        l->h.submit_resp(l, seq, status, status == ESME_ROK ? message_id : NULL, l->ud);
}

static void on_deliver(SmppLink *l, guint32 seq, const guint8 *pdu, gsize len)
{
    guint32 status = ESME_RSYSERR;
    deliver_sm_t d;
    memset(&d, 0, sizeof d);
    if (!deliver_sm_sane(pdu + HEADER_LEN, len - HEADER_LEN)) {
        g_message("smpp: deliver_sm %u is malformed; refused", seq);
        status = ESME_RINVMSGLEN;
    } else if (smpp34_unpack2(&d, pdu, (int)len) != 0) {
        g_message("smpp: deliver_sm %u: libsmpp34 cannot unpack it: %s", seq, smpp34_strerror);
        destroy_tlv(d.tlv);
        d.tlv = NULL;
    } else if (l->h.deliver) {
        status = l->h.deliver(l, &d, l->ud);
    }
    destroy_tlv(d.tlv);
    if (l->state != LINK_BOUND)
        return; /* the handler may not end the link, but be safe */
    deliver_sm_resp_t r;
    memset(&r, 0, sizeof r);
    r.command_id = DELIVER_SM_RESP;
    r.command_status = status;
    r.sequence_number = seq;
    g_autoptr(GError) error = NULL;
    if (!send_pdu(l, &r, &error))
        g_message("smpp: %s", error->message);
}

/* One whole PDU (len bytes, header included). FALSE: the link ended. */
static gboolean dispatch(SmppLink *l, const guint8 *pdu, gsize len)
{
    guint32 id = GUINT32_FROM_BE(*(const guint32 *)(pdu + 4));
    guint32 status = GUINT32_FROM_BE(*(const guint32 *)(pdu + 8));
    guint32 seq = GUINT32_FROM_BE(*(const guint32 *)(pdu + 12));
    if (id & 0x80000000) { /* a response: to one of our requests */
        Request *r = g_hash_table_lookup(l->requests, GUINT_TO_POINTER(seq));
        guint32 asked = r ? r->command_id : 0;
        if (!r) {
            g_message("smpp: a response (0x%08x) to sequence %u we did not send; ignored", id, seq);
            return TRUE;
        }
        if (asked == SUBMIT_SM)
            l->submits--;
        g_hash_table_remove(l->requests, GUINT_TO_POINTER(seq));
        if (id == GENERIC_NACK && status == ESME_ROK)
            status = ESME_RSYSERR;
        if (asked == BIND_TRANSCEIVER)
            on_bind_resp(l, status, pdu, len);
        else if (asked == SUBMIT_SM)
            on_submit_resp(l, seq, status, pdu, len);
        else if (asked == UNBIND)
            link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_CLOSED, "unbound"));
        return l->state == LINK_BOUND || l->state == LINK_BINDING;
    }
    switch (id) {
    case ENQUIRE_LINK:
        send_simple(l, ENQUIRE_LINK_RESP, ESME_ROK, seq);
        break;
    case DELIVER_SM:
        if (l->state == LINK_BOUND)
            on_deliver(l, seq, pdu, len);
        else
            send_simple(l, GENERIC_NACK, ESME_RINVBNDSTS, seq);
        break;
    case UNBIND: /* §4.2: answer, then the SMSC closes */
        send_simple(l, UNBIND_RESP, ESME_ROK, seq);
        link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_CLOSED, "the SMSC unbound"));
        return FALSE;
    default:
        send_simple(l, GENERIC_NACK, ESME_RINVCMDID, seq);
        break;
    }
    return l->sock != NULL;
}

static gboolean on_readable(GSocket *s, GIOCondition cond, gpointer data)
{
    SmppLink *l = data;
    guint8 buf[8192];
    g_autoptr(GError) error = NULL;
    gssize n = g_socket_receive(l->sock, (char *)buf, sizeof buf, NULL, &error);
    if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) { /* link_fail() destroys this source */
        link_fail(
            l, n == 0 ? g_error_new(SMPP_ERROR, SMPP_ERROR_CLOSED, "the SMSC closed the connection")
                      : g_error_new(SMPP_ERROR, SMPP_ERROR_CLOSED, "read: %s", error->message));
        return G_SOURCE_REMOVE;
    }
    l->last_rx_us = g_get_monotonic_time();
    g_byte_array_append(l->rbuf, buf, (guint)n);
    while (l->rbuf->len >= HEADER_LEN) {
        guint32 plen = GUINT32_FROM_BE(*(const guint32 *)l->rbuf->data);
        if (plen < HEADER_LEN || plen > PDU_MAX) {
            link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_PROTOCOL,
                                     "command_length %u: not an SMPP stream", plen));
            return G_SOURCE_REMOVE;
        }
        if (l->rbuf->len < plen)
            break;
        /* one copy with a NUL after it: libsmpp34 reads C-strings with strlen() */
        g_autofree guint8 *pdu = g_malloc(plen + 1);
        memcpy(pdu, l->rbuf->data, plen);
        pdu[plen] = 0;
        g_byte_array_remove_range(l->rbuf, 0, plen);
        GSource *me = l->in_src;
        g_source_ref(me);
        gboolean alive = dispatch(l, pdu, plen);
        gboolean still_mine = l->in_src == me;
        g_source_unref(me);
        if (!alive || !still_mine)
            return still_mine ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

/* Every second: response timeouts, keepalive. */
static gboolean on_tick(gpointer data)
{
    SmppLink *l = data;
    gint64 now = g_get_monotonic_time();
    gint64 limit = (gint64)l->cfg.response_timeout_s * G_USEC_PER_SEC;
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, l->requests);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        Request *r = v;
        if (now - r->sent_us > limit) {
            char name[SMALL_BUFF];
            str_command_id(r->command_id, name);
            link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_TIMEOUT,
                                     "no response to %s %u within %u s", name, GPOINTER_TO_UINT(k),
                                     l->cfg.response_timeout_s));
            return G_SOURCE_REMOVE;
        }
    }
    if (l->state == LINK_BOUND &&
        now - l->last_rx_us > (gint64)l->cfg.enquire_link_s * G_USEC_PER_SEC) {
        gboolean asked = FALSE;
        g_hash_table_iter_init(&it, l->requests);
        while (g_hash_table_iter_next(&it, NULL, &v))
            asked = asked || ((Request *)v)->command_id == ENQUIRE_LINK;
        if (!asked) { /* §4.11 */
            guint32 seq = take_seq(l);
            track(l, seq, ENQUIRE_LINK);
            send_simple(l, ENQUIRE_LINK, ESME_ROK, seq);
        }
    }
    return G_SOURCE_CONTINUE;
}

/* --- connecting and binding --------------------------------------------------------------- */

static void send_bind(SmppLink *l)
{
    bind_transceiver_t b; /* §4.1.5 */
    memset(&b, 0, sizeof b);
    b.command_id = BIND_TRANSCEIVER;
    b.command_status = ESME_ROK;
    b.sequence_number = take_seq(l);
    g_strlcpy((char *)b.system_id, l->cfg.system_id, sizeof b.system_id);
    g_strlcpy((char *)b.password, l->cfg.password, sizeof b.password);
    g_strlcpy((char *)b.system_type, l->cfg.system_type, sizeof b.system_type);
    b.interface_version = SMPP_VERSION;
    b.addr_ton = TON_Unknown;
    b.addr_npi = NPI_Unknown;
    l->state = LINK_BINDING;
    guint32 seq = b.sequence_number;
    g_autoptr(GError) error = NULL;
    track(l, seq, BIND_TRANSCEIVER);
    if (!send_pdu(l, &b, &error))
        link_fail(l, g_steal_pointer(&error));
    memset(b.password, 0, sizeof b.password);
}

static void on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    GSocketConnection *conn =
        g_socket_client_connect_to_host_finish(G_SOCKET_CLIENT(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_clear_object(&conn);
        return; /* l may be gone */
    }
    SmppLink *l = data;
    if (!conn) {
        link_fail(l, g_error_new(SMPP_ERROR, SMPP_ERROR_CONNECT, "connect to %s:%u: %s",
                                 l->cfg.host, l->cfg.port, error->message));
        return;
    }
    l->conn = conn;
    l->sock = g_socket_connection_get_socket(conn);
    g_socket_set_blocking(l->sock, FALSE);
    g_socket_set_timeout(l->sock, 0); /* a GSocket timeout would fire our sources */
    l->last_rx_us = g_get_monotonic_time();
    l->in_src = g_socket_create_source(l->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(l->in_src, (GSourceFunc)(void (*)(void))on_readable, l, NULL);
    g_source_attach(l->in_src, g_main_context_get_thread_default());
    l->tick = g_timeout_source_new(TICK_MS);
    g_source_set_callback(l->tick, on_tick, l, NULL);
    g_source_attach(l->tick, g_main_context_get_thread_default());
    send_bind(l);
}

static void link_connect(SmppLink *l)
{
    l->state = LINK_CONNECTING;
    l->client = g_socket_client_new();
    g_socket_client_set_timeout(l->client, l->cfg.response_timeout_s);
    l->cancel = g_cancellable_new();
    g_socket_client_connect_to_host_async(l->client, l->cfg.host, l->cfg.port, l->cancel,
                                          on_connected, l);
}

void smpp_link_start(SmppLink *l)
{
    if (l->state == LINK_IDLE || l->state == LINK_STOPPED) {
        l->attempt = 0;
        link_connect(l);
    }
}

void smpp_link_stop(SmppLink *l)
{
    gboolean bound = l->state == LINK_BOUND;
    l->state = LINK_STOPPED;
    if (bound) { /* §4.2: unbind; best effort, we do not wait */
        send_simple(l, UNBIND, ESME_ROK, take_seq(l));
        if (l->sock) {
            g_socket_set_blocking(l->sock, TRUE);
            g_socket_set_timeout(l->sock, 1);
            flush(l);
        }
    }
    teardown(l);
    source_clear(&l->retry);
}
