/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/sasl.c — SASL negotiation on client streams (RFC 6120 §6, XEP-0440) */
#include <string.h>

#include "c2s/c2s.h"
#include "router/conn.h"
#include "storage/accounts.h"

#include <openssl/crypto.h>

#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0"
#define SASL_MAX_MESSAGE 8192

/* Channel bindings we can offer on this connection, best first (RFC 9266, RFC 5929). */
static const char *const cb_types[] = {"tls-exporter", "tls-server-end-point"};

static gboolean cb_available(C2sSession *cs, const char *type)
{
    if (!stream_is_tls(cs->stream))
        return FALSE;
    g_autoptr(GBytes) b = conn_channel_binding(stream_conn(cs->stream), type);
    return b != NULL;
}

static gboolean plus_available(C2sSession *cs)
{
    for (guint i = 0; i < G_N_ELEMENTS(cb_types); i++)
        if (cb_available(cs, cb_types[i]))
            return TRUE;
    return FALSE;
}

static gboolean mech_offered(C2sSession *cs, const char *mech)
{
    gboolean tls = stream_is_secure(cs->stream); /* TLS, or HTTPS/loopback for web streams */
    if (!strcmp(mech, "SCRAM-SHA-256") || !strcmp(mech, "SCRAM-SHA-1"))
        return TRUE;
    if (!strcmp(mech, "SCRAM-SHA-256-PLUS") || !strcmp(mech, "SCRAM-SHA-1-PLUS"))
        return plus_available(cs);
    if (!strcmp(mech, "PLAIN")) /* only over TLS */
        return tls;
    return FALSE;
}

void sasl_features(C2sSession *cs, XmlNode *features)
{
    static const char *const mechs[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                        "SCRAM-SHA-1", "PLAIN"};
    XmlNode *m = xml_node_add_child(features, NS_SASL, "mechanisms");
    for (guint i = 0; i < G_N_ELEMENTS(mechs); i++)
        if (mech_offered(cs, mechs[i]))
            xml_node_add_text(xml_node_add_child(m, NULL, "mechanism"), mechs[i], -1);
    if (plus_available(cs)) { /* XEP-0440 */
        XmlNode *cb = xml_node_add_child(features, NS_SASL_CB, "sasl-channel-binding");
        for (guint i = 0; i < G_N_ELEMENTS(cb_types); i++)
            if (cb_available(cs, cb_types[i]))
                xml_node_set_attr(xml_node_add_child(cb, NULL, "channel-binding"), "type",
                                  cb_types[i]);
    }
}

void sasl_session_clear(C2sSession *cs)
{
    g_clear_pointer(&cs->scram, scram_server_free);
    g_clear_pointer(&cs->mech, g_free);
}

static void send_sasl(C2sSession *cs, const char *name, GBytes *data)
{
    g_autoptr(XmlNode) el = xml_node_new(NS_SASL, name);
    if (data) {
        gsize len;
        const guint8 *p = g_bytes_get_data(data, &len);
        if (len == 0) {
            xml_node_add_text(el, "=", 1); /* RFC 6120 §6.4.2: empty response */
        } else {
            g_autofree char *b64 = g_base64_encode(p, len);
            xml_node_add_text(el, b64, -1);
        }
    }
    stream_send(cs->stream, el);
}

typedef struct {
    C2sSession *cs;
    SaslFail fail;
} DelayedFailure;

static void send_failure_now(C2sSession *cs, SaslFail fail)
{
    g_autoptr(XmlNode) el = xml_node_new(NS_SASL, "failure");
    xml_node_add_child(el, NULL, sasl_fail_condition(fail));
    stream_send(cs->stream, el);
    if (fail == SASL_FAIL_NOT_AUTHORIZED &&
        cs->auth_failures >= (guint)config_get_int(cs->srv->config, "c2s", "max_auth_failures"))
        stream_error(cs->stream, STREAM_ERR_POLICY_VIOLATION,
                     "too many failed authentication attempts");
}

static gboolean delayed_failure_cb(gpointer data)
{
    DelayedFailure *d = data;
    d->cs->delay_src = 0;
    send_failure_now(d->cs, d->fail);
    return G_SOURCE_REMOVE;
}

static guint64 auth_failures_total; /* metrics */

guint64 c2s_auth_failure_count(void)
{
    return auth_failures_total;
}

/* Wrong credentials are answered after a delay (throttling, RFC 6120 §13.9.4). */
static void sasl_failure(C2sSession *cs, SaslFail fail)
{
    sasl_session_clear(cs);
    if (fail != SASL_FAIL_NOT_AUTHORIZED) {
        send_failure_now(cs, fail);
        return;
    }
    cs->auth_failures++;
    auth_failures_total++;
    g_message("c2s %s: authentication failure from %s", stream_id(cs->stream),
              stream_peer_addr(cs->stream));
    guint delay = config_get_int(cs->srv->config, "c2s", "auth_fail_delay_ms");
    if (delay == 0) {
        send_failure_now(cs, fail);
        return;
    }
    DelayedFailure *d = g_new(DelayedFailure, 1);
    d->cs = cs;
    d->fail = fail;
    cs->delay_src = g_timeout_add_full(G_PRIORITY_DEFAULT, delay, delayed_failure_cb, d, g_free);
}

static void sasl_success(C2sSession *cs, const char *username, GBytes *extra)
{
    cs->username = g_strdup(username);
    sasl_session_clear(cs);
    cs->state = C2S_STATE_AUTHED;
    send_sasl(cs, "success", extra);
    g_message("c2s %s: %s@%s authenticated from %s", stream_id(cs->stream), username, cs->domain,
              stream_peer_addr(cs->stream));
    XmlLimits lim = {.max_stanza_bytes = cs->srv->c2s_stanza_size,
                     .max_depth = cs->srv->max_depth,
                     .max_attrs = cs->srv->max_attrs,
                     .max_header_bytes = 4096};
    stream_set_limits(cs->stream, &lim);
    stream_set_deadline(cs->stream, 0, STREAM_ERR_CONNECTION_TIMEOUT);
    stream_restart(cs->stream);
}

static gboolean creds_lookup(const char *username, AccountCreds *out, gpointer ud)
{
    C2sSession *cs = ud;
    g_autofree char *local = jid_prep_local(username, NULL);
    if (!local)
        return FALSE;
    g_autofree char *bare = g_strconcat(local, "@", cs->domain, NULL);
    return account_get_creds(cs->srv->store, bare, out, NULL);
}

/* PLAIN (RFC 4616), only ever offered over TLS. */
static void sasl_plain(C2sSession *cs, const guint8 *data, gsize len)
{
    g_autofree char *authzid = NULL, *authcid = NULL, *password = NULL;
    if (!sasl_plain_parse(data, len, &authzid, &authcid, &password)) {
        sasl_failure(cs, SASL_FAIL_MALFORMED_REQUEST);
        return;
    }
    g_autofree char *local = jid_prep_local(authcid, NULL);
    AccountCreds creds;
    gboolean ok = FALSE;
    if (local) {
        g_autofree char *bare = g_strconcat(local, "@", cs->domain, NULL);
        if (authzid && strcmp(authzid, bare)) {
            g_autoptr(Jid) az = jid_new(authzid, NULL);
            if (!az || strcmp(jid_full(az), bare)) {
                OPENSSL_cleanse(password, strlen(password));
                sasl_failure(cs, SASL_FAIL_INVALID_AUTHZID);
                return;
            }
        }
        if (account_get_creds(cs->srv->store, bare, &creds, NULL))
            ok = account_creds_verify_password(&creds, password);
        OPENSSL_cleanse(&creds, sizeof creds);
    }
    OPENSSL_cleanse(password, strlen(password));
    if (!ok) {
        sasl_failure(cs, SASL_FAIL_NOT_AUTHORIZED);
        return;
    }
    sasl_success(cs, local, NULL);
}

static void scram_step(C2sSession *cs, const guint8 *data, gsize len)
{
    GBytes *out = NULL;
    SaslFail fail = SASL_FAIL_NOT_AUTHORIZED;
    SaslStep r = scram_server_step(cs->scram, data, len, &out, &fail);
    g_autoptr(GBytes) reply = out;
    switch (r) {
    case SASL_STEP_CONTINUE:
        send_sasl(cs, "challenge", reply);
        break;
    case SASL_STEP_SUCCESS: {
        const char *authzid = scram_server_authzid(cs->scram);
        g_autofree char *user = g_strdup(scram_server_username(cs->scram));
        g_autofree char *local = jid_prep_local(user, NULL);
        g_autofree char *bare = g_strconcat(local ? local : "", "@", cs->domain, NULL);
        if (!local || (authzid && strcmp(authzid, bare))) {
            sasl_failure(cs, SASL_FAIL_INVALID_AUTHZID);
            break;
        }
        sasl_success(cs, local, reply);
        break;
    }
    case SASL_STEP_FAILURE:
        sasl_failure(cs, fail);
        break;
    }
}

static void sasl_start(C2sSession *cs, const char *mech, const guint8 *data, gsize len,
                       gboolean has_data)
{
    if (!mech || !mech_offered(cs, mech)) {
        sasl_failure(cs, SASL_FAIL_INVALID_MECHANISM);
        return;
    }
    cs->mech = g_strdup(mech);
    if (!strcmp(mech, "PLAIN")) {
        if (!has_data) { /* no initial response: ask for it */
            g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
            send_sasl(cs, "challenge", empty);
            return;
        }
        sasl_plain(cs, data, len);
        return;
    }
    ScramHash h = g_str_has_prefix(mech, "SCRAM-SHA-256") ? SCRAM_SHA256 : SCRAM_SHA1;
    gboolean plus = g_str_has_suffix(mech, "-PLUS");
    if (!has_data) {
        g_autoptr(GBytes) empty = g_bytes_new_static("", 0);
        send_sasl(cs, "challenge", empty);
        return;
    }
    /* The binding type the client chose is in its gs2 header: "p=<type>," */
    g_autofree char *cb_type = NULL;
    g_autoptr(GBytes) cb_data = NULL;
    if (plus && len > 2 && data[0] == 'p' && data[1] == '=') {
        const guint8 *comma = memchr(data, ',', len);
        if (comma)
            cb_type = g_strndup((const char *)data + 2, comma - data - 2);
    }
    if (plus) {
        if (!cb_type) {
            sasl_failure(cs, SASL_FAIL_MALFORMED_REQUEST);
            return;
        }
        cb_data = conn_channel_binding(stream_conn(cs->stream), cb_type);
        if (!cb_data) {
            sasl_failure(cs, SASL_FAIL_NOT_AUTHORIZED);
            return;
        }
    }
    cs->scram = scram_server_new(h, plus, cb_type, cb_data, plus_available(cs), creds_lookup, cs);
    scram_step(cs, data, len);
}

/* Decode the base64 text of a SASL element; "=" is an empty message. */
static gboolean sasl_decode(XmlNode *el, guint8 **out, gsize *len, gboolean *has_data)
{
    g_autofree char *text = xml_node_text(el);
    g_strstrip(text);
    *out = NULL;
    *len = 0;
    *has_data = *text != '\0';
    if (!*has_data || !strcmp(text, "="))
        return TRUE;
    gsize tl = strlen(text);
    if (tl > SASL_MAX_MESSAGE * 4 / 3 + 4 || tl % 4)
        return FALSE;
    for (const char *p = text; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '+' && *p != '/' && *p != '=')
            return FALSE;
    *out = g_base64_decode(text, len);
    return TRUE;
}

void sasl_handle(C2sSession *cs, XmlNode *el)
{
    g_autoptr(XmlNode) owned = el;
    if (cs->delay_src)
        return; /* still answering the last failure */
    if (!stream_is_secure(cs->stream) && config_get_bool(cs->srv->config, "c2s", "require_tls")) {
        send_failure_now(cs, SASL_FAIL_ENCRYPTION_REQUIRED);
        return;
    }
    g_autofree guint8 *data = NULL;
    gsize len = 0;
    gboolean has_data = FALSE;
    if (!strcmp(el->name, "abort")) {
        sasl_session_clear(cs);
        send_failure_now(cs, SASL_FAIL_ABORTED);
        return;
    }
    if (!sasl_decode(el, &data, &len, &has_data)) {
        sasl_failure(cs, SASL_FAIL_INCORRECT_ENCODING);
        return;
    }
    if (!strcmp(el->name, "auth")) {
        sasl_session_clear(cs);
        sasl_start(cs, xml_node_attr(el, "mechanism"), data, len, has_data);
    } else if (!strcmp(el->name, "response")) {
        if (!cs->mech) {
            sasl_failure(cs, SASL_FAIL_MALFORMED_REQUEST);
        } else if (cs->scram) {
            scram_step(cs, data, len);
        } else if (!strcmp(cs->mech, "PLAIN")) {
            sasl_plain(cs, data, len);
        } else { /* SCRAM without initial response: this is the client-first message */
            g_autofree char *mech = g_strdup(cs->mech);
            sasl_session_clear(cs);
            sasl_start(cs, mech, data, len, TRUE);
        }
    } else {
        stream_error(cs->stream, STREAM_ERR_UNSUPPORTED_STANZA_TYPE, NULL);
    }
    if (data)
        OPENSSL_cleanse(data, len);
}
