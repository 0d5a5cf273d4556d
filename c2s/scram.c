/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/scram.c — SCRAM-SHA-1/-256(-PLUS) server (RFC 5802, RFC 7677, RFC 5056), PLAIN (RFC 4616) */
#include "c2s/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#include "router/jid.h"

#define SCRAM_MSG_MAX (16 * 1024) /* bound on one client message */
#define SCRAM_NONCE_BYTES 24      /* random bytes in the server nonce */
#define SCRAM_HASH_MAX 32
#define PLAIN_FIELD_MAX 1023 /* RFC 4616 §2 requires at least 255 */

typedef enum {
    SCRAM_STATE_CLIENT_FIRST, /* waiting for client-first-message */
    SCRAM_STATE_CLIENT_FINAL, /* server-first-message sent, waiting for client-final */
    SCRAM_STATE_DONE,         /* server-final-message sent: authenticated */
    SCRAM_STATE_FAILED,
} ScramState;

typedef enum { GS2_CBIND_N, GS2_CBIND_Y, GS2_CBIND_P } Gs2Flag;

struct ScramServer {
    ScramHash hash;
    gboolean plus;
    char *cb_type;   /* -PLUS only */
    GBytes *cb_data; /* -PLUS only */
    gboolean server_supports_plus;
    ScramCredsFunc creds;
    gpointer ud;

    ScramState state;
    char *test_nonce;
    Gs2Flag flag;
    char *gs2_header; /* "n,,", "y,a=..,", "p=tls-exporter,," as received */
    char *client_first_bare;
    char *server_first;
    char *nonce;    /* client nonce + server nonce */
    char *username; /* prepared localpart, NULL if it does not prepare */
    char *authzid;
    gboolean user_known;
    guint8 stored_key[SCRAM_HASH_MAX];
    guint8 server_key[SCRAM_HASH_MAX];
};

/* ---- primitives (RFC 5802 §2.2, §3) ---------------------------------------------------- */

static const EVP_MD *scram_md(ScramHash h)
{
    return h == SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

gsize scram_hash_len(ScramHash h)
{
    return h == SCRAM_SHA256 ? 32 : 20;
}

/* The void API cannot report an OpenSSL failure; leave unguessable bytes so that nothing
 * can authenticate against the result. */
static void primitive_failed(const char *what, guint8 *out, gsize len)
{
    g_critical("scram: %s failed", what);
    if (RAND_bytes(out, (int)len) != 1)
        memset(out, 0xA5, len);
}

/* Hi(str, salt, i) is PBKDF2 with HMAC as the PRF, RFC 5802 §2.2 */
void scram_salted_password(ScramHash h, const char *password, const guint8 *salt, gsize salt_len,
                           guint32 iterations, guint8 *out)
{
    gsize n = scram_hash_len(h);
    if (iterations == 0 || iterations > G_MAXINT ||
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
                          scram_md(h), (int)n, out) != 1)
        primitive_failed("PBKDF2", out, n);
}

void scram_hmac(ScramHash h, const guint8 *key, gsize key_len, const char *msg, gsize msg_len,
                guint8 *out)
{
    unsigned int len = 0;
    if (!HMAC(scram_md(h), key, (int)key_len, (const unsigned char *)msg, msg_len, out, &len) ||
        len != scram_hash_len(h))
        primitive_failed("HMAC", out, scram_hash_len(h));
}

void scram_client_key(ScramHash h, const guint8 *salted, guint8 *out)
{
    scram_hmac(h, salted, scram_hash_len(h), "Client Key", 10, out);
}

void scram_server_key(ScramHash h, const guint8 *salted, guint8 *out)
{
    scram_hmac(h, salted, scram_hash_len(h), "Server Key", 10, out);
}

void scram_stored_key(ScramHash h, const guint8 *client_key, guint8 *out)
{
    unsigned int len = 0;
    if (EVP_Digest(client_key, scram_hash_len(h), out, &len, scram_md(h), NULL) != 1 ||
        len != scram_hash_len(h))
        primitive_failed("digest", out, scram_hash_len(h));
}

const char *sasl_fail_condition(SaslFail f)
{
    switch (f) { /* RFC 6120 §6.5 */
    case SASL_FAIL_ABORTED:
        return "aborted";
    case SASL_FAIL_ACCOUNT_DISABLED:
        return "account-disabled";
    case SASL_FAIL_CREDENTIALS_EXPIRED:
        return "credentials-expired";
    case SASL_FAIL_ENCRYPTION_REQUIRED:
        return "encryption-required";
    case SASL_FAIL_INCORRECT_ENCODING:
        return "incorrect-encoding";
    case SASL_FAIL_INVALID_AUTHZID:
        return "invalid-authzid";
    case SASL_FAIL_INVALID_MECHANISM:
        return "invalid-mechanism";
    case SASL_FAIL_MALFORMED_REQUEST:
        return "malformed-request";
    case SASL_FAIL_MECHANISM_TOO_WEAK:
        return "mechanism-too-weak";
    case SASL_FAIL_NOT_AUTHORIZED:
        return "not-authorized";
    case SASL_FAIL_TEMPORARY_AUTH_FAILURE:
        return "temporary-auth-failure";
    }
    return "not-authorized";
}

/* ---- message syntax helpers ------------------------------------------------------------ */

/* Strict base64: only the canonical encoding (what re-encoding gives) is accepted. */
static guint8 *b64_decode_strict(const char *s, gsize len, gsize *out_len)
{
    if (len == 0 || len % 4 != 0)
        return NULL;
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(s[i]) && s[i] != '+' && s[i] != '/' && s[i] != '=')
            return NULL;
    }
    char *copy = g_strndup(s, len);
    guint8 *out = g_base64_decode(copy, out_len);
    char *again = *out_len ? g_base64_encode(out, *out_len) : g_strdup("");
    gboolean ok = strcmp(again, copy) == 0;
    g_free(copy);
    g_free(again);
    if (!ok) {
        g_free(out);
        return NULL;
    }
    return out;
}

/* saslname (RFC 5802 §7): "=2C" is ',', "=3D" is '=' (ABNF strings are case-insensitive,
 * RFC 5234 §2.3); any other '=' is an error. NULL when empty or invalid. */
static char *saslname_decode(const char *s, gsize len)
{
    if (len == 0)
        return NULL;
    GString *out = g_string_sized_new(len);
    for (gsize i = 0; i < len; i++) {
        if (s[i] != '=') {
            g_string_append_c(out, s[i]);
            continue;
        }
        if (i + 2 < len && s[i + 1] == '2' && g_ascii_toupper(s[i + 2]) == 'C')
            g_string_append_c(out, ',');
        else if (i + 2 < len && s[i + 1] == '3' && g_ascii_toupper(s[i + 2]) == 'D')
            g_string_append_c(out, '=');
        else {
            g_string_free(out, TRUE);
            return NULL;
        }
        i += 2;
    }
    return g_string_free(out, FALSE);
}

/* c-nonce = printable (RFC 5802 §7): %x21-2B / %x2D-7E */
static gboolean nonce_valid(const char *s, gsize len)
{
    if (len == 0)
        return FALSE;
    for (gsize i = 0; i < len; i++) {
        if (s[i] < 0x21 || s[i] > 0x7E || s[i] == ',')
            return FALSE;
    }
    return TRUE;
}

/* attr-val = ALPHA "=" value; value = 1*value-char (RFC 5802 §7) */
static gboolean attr_valid(const char *s)
{
    return g_ascii_isalpha(s[0]) && s[1] == '=' && s[2] != '\0';
}

/* One field "x=value" at *p (up to ',' or the end); returns the value and advances *p past
 * the field (and the comma). */
static gboolean take_attr(const char **p, char name, const char **val, gsize *len)
{
    const char *s = *p;
    if (s[0] != name || s[1] != '=')
        return FALSE;
    const char *end = strchr(s + 2, ',');
    *val = s + 2;
    *len = end ? (gsize)(end - *val) : strlen(*val);
    *p = end ? end + 1 : *val + *len;
    return TRUE;
}

/* A client message as a C string: bounded, valid UTF-8, no NUL (value-safe-char). */
static char *message_string(const guint8 *in, gsize len)
{
    if (!in || len == 0 || len > SCRAM_MSG_MAX || memchr(in, '\0', len) ||
        !g_utf8_validate_len((const char *)in, len, NULL))
        return NULL;
    return g_strndup((const char *)in, len);
}

/* ---- credentials ----------------------------------------------------------------------- */

/* Per-process secret for the salts of unknown users */
static gboolean fake_secret(const guint8 **secret)
{
    static guint8 key[32];
    static gsize state = 0;
    if (g_once_init_enter(&state))
        g_once_init_leave(&state, RAND_bytes(key, sizeof key) == 1 ? 2 : 1);
    *secret = key;
    return state == 2;
}

/* Unknown user: answer with a salt derived from the username so that repeated attempts
 * look like a real account, and keys that match no proof. Fails at the proof. */
static gboolean fake_creds(const char *username, AccountCreds *c)
{
    const guint8 *secret;
    guint8 mac[32];
    if (!fake_secret(&secret))
        return FALSE;
    memset(c, 0, sizeof *c);
    scram_hmac(SCRAM_SHA256, secret, 32, username, strlen(username), mac);
    memcpy(c->salt, mac, ACCOUNT_SALT_LEN);
    OPENSSL_cleanse(mac, sizeof mac);
    c->iterations = ACCOUNT_DEFAULT_ITERATIONS;
    return RAND_bytes(c->sha1_stored_key, sizeof c->sha1_stored_key) == 1 &&
           RAND_bytes(c->sha256_stored_key, sizeof c->sha256_stored_key) == 1;
}

/* ---- the exchange ---------------------------------------------------------------------- */

ScramServer *scram_server_new(ScramHash h, gboolean plus, const char *cb_type, GBytes *cb_data,
                              gboolean server_supports_plus, ScramCredsFunc creds, gpointer ud)
{
    ScramServer *s = g_new0(ScramServer, 1);
    s->hash = h;
    s->plus = plus;
    if (plus) {
        s->cb_type = g_strdup(cb_type);
        s->cb_data = cb_data
                         ? g_bytes_new(g_bytes_get_data(cb_data, NULL), g_bytes_get_size(cb_data))
                         : NULL;
    }
    s->server_supports_plus = server_supports_plus;
    s->creds = creds;
    s->ud = ud;
    s->state = SCRAM_STATE_CLIENT_FIRST;
    return s;
}

static void wipe_keys(ScramServer *s)
{
    OPENSSL_cleanse(s->stored_key, sizeof s->stored_key);
    OPENSSL_cleanse(s->server_key, sizeof s->server_key);
}

void scram_server_free(ScramServer *s)
{
    if (!s)
        return;
    wipe_keys(s);
    g_free(s->cb_type);
    if (s->cb_data)
        g_bytes_unref(s->cb_data);
    g_free(s->test_nonce);
    g_free(s->gs2_header);
    g_free(s->client_first_bare);
    g_free(s->server_first);
    g_free(s->nonce);
    g_free(s->username);
    g_free(s->authzid);
    g_free(s);
}

void scram_server_set_nonce_for_testing(ScramServer *s, const char *nonce)
{
    g_return_if_fail(s && nonce && nonce_valid(nonce, strlen(nonce)));
    g_free(s->test_nonce);
    s->test_nonce = g_strdup(nonce);
}

const char *scram_server_username(const ScramServer *s)
{
    return s->state == SCRAM_STATE_DONE ? s->username : NULL;
}

const char *scram_server_authzid(const ScramServer *s)
{
    return s->state == SCRAM_STATE_DONE ? s->authzid : NULL;
}

/* gs2-header (RFC 5802 §7): gs2-cbind-flag "," [authzid] ","; advances *p past it */
static gboolean parse_gs2_header(ScramServer *s, const char **p, char **cb_name)
{
    const char *m = *p;
    if ((m[0] == 'n' || m[0] == 'y') && m[1] == ',') {
        s->flag = m[0] == 'n' ? GS2_CBIND_N : GS2_CBIND_Y;
        m += 2;
    } else if (m[0] == 'p' && m[1] == '=') {
        const char *end = strchr(m + 2, ',');
        if (!end || end == m + 2)
            return FALSE;
        for (const char *c = m + 2; c < end; c++) { /* cb-name, RFC 5056 §7 */
            if (!g_ascii_isalnum(*c) && *c != '.' && *c != '-')
                return FALSE;
        }
        *cb_name = g_strndup(m + 2, (gsize)(end - m - 2));
        s->flag = GS2_CBIND_P;
        m = end + 1;
    } else {
        return FALSE;
    }
    if (m[0] == 'a' && m[1] == '=') {
        const char *val;
        gsize len;
        take_attr(&m, 'a', &val, &len);
        if (m[-1] != ',' || !(s->authzid = saslname_decode(val, len)))
            return FALSE;
    } else if (m[0] == ',') {
        m++;
    } else {
        return FALSE;
    }
    s->gs2_header = g_strndup(*p, (gsize)(m - *p));
    *p = m;
    return TRUE;
}

/* RFC 5802 §6 and RFC 5056: the flag must match the mechanism and what was offered */
static gboolean check_channel_binding(ScramServer *s, const char *cb_name, SaslFail *fail)
{
    if (!s->plus) {
        if (s->flag == GS2_CBIND_P) { /* binding requested over a non-PLUS mechanism */
            *fail = SASL_FAIL_MALFORMED_REQUEST;
            return FALSE;
        }
        if (s->flag == GS2_CBIND_Y && s->server_supports_plus) { /* downgrade, §6 */
            *fail = SASL_FAIL_NOT_AUTHORIZED;
            return FALSE;
        }
        return TRUE;
    }
    if (s->flag != GS2_CBIND_P) {
        *fail = SASL_FAIL_MALFORMED_REQUEST;
        return FALSE;
    }
    if (strcmp(cb_name, s->cb_type) != 0) { /* unsupported-channel-binding-type */
        *fail = SASL_FAIL_NOT_AUTHORIZED;
        return FALSE;
    }
    return TRUE;
}

/* client-first-message = gs2-header client-first-message-bare;
 * client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
static gboolean client_first(ScramServer *s, const char *msg, GBytes **out, SaslFail *fail)
{
    *fail = SASL_FAIL_MALFORMED_REQUEST;
    if (s->plus && (!s->cb_type || !s->cb_data || g_bytes_get_size(s->cb_data) == 0)) {
        *fail = SASL_FAIL_TEMPORARY_AUTH_FAILURE; /* no channel binding data to check */
        return FALSE;
    }
    const char *p = msg, *val, *cnonce;
    gsize len, cnonce_len;
    g_autofree char *cb_name = NULL;
    g_autofree char *user = NULL;
    if (!parse_gs2_header(s, &p, &cb_name))
        return FALSE;
    const char *bare = p;
    if (p[0] == 'm' && p[1] == '=') /* reserved-mext: MUST fail if unsupported, §5.1 */
        return FALSE;
    if (!take_attr(&p, 'n', &val, &len) || p[-1] != ',' || !(user = saslname_decode(val, len)))
        return FALSE;
    if (!take_attr(&p, 'r', &cnonce, &cnonce_len) || !nonce_valid(cnonce, cnonce_len))
        return FALSE;
    if (p[0] == '\0' && p[-1] == ',')
        return FALSE;
    while (*p) { /* extensions: syntax only, none understood */
        const char *end = strchr(p, ',');
        g_autofree char *ext = g_strndup(p, end ? (gsize)(end - p) : strlen(p));
        if (!attr_valid(ext) || (end && end[1] == '\0'))
            return FALSE;
        p = end ? end + 1 : p + strlen(p);
    }
    if (!check_channel_binding(s, cb_name, fail))
        return FALSE;

    /* The callee prepares the username; we keep the RFC 7622 localpart for the session. */
    AccountCreds c;
    s->username = jid_prep_local(user, NULL);
    s->user_known = s->username && s->creds && s->creds(user, &c, s->ud);
    if (s->user_known && c.iterations == 0) {
        OPENSSL_cleanse(&c, sizeof c);
        *fail = SASL_FAIL_TEMPORARY_AUTH_FAILURE;
        return FALSE;
    }
    if (!s->user_known && !fake_creds(user, &c)) {
        OPENSSL_cleanse(&c, sizeof c);
        *fail = SASL_FAIL_TEMPORARY_AUTH_FAILURE;
        return FALSE;
    }
    gsize hl = scram_hash_len(s->hash);
    memcpy(s->stored_key, s->hash == SCRAM_SHA256 ? c.sha256_stored_key : c.sha1_stored_key, hl);
    memcpy(s->server_key, s->hash == SCRAM_SHA256 ? c.sha256_server_key : c.sha1_server_key, hl);

    g_autofree char *snonce = NULL;
    if (s->test_nonce) {
        snonce = g_strdup(s->test_nonce);
    } else {
        guint8 rnd[SCRAM_NONCE_BYTES];
        if (RAND_bytes(rnd, sizeof rnd) != 1) {
            OPENSSL_cleanse(&c, sizeof c);
            *fail = SASL_FAIL_TEMPORARY_AUTH_FAILURE;
            return FALSE;
        }
        snonce = g_base64_encode(rnd, sizeof rnd);
    }
    g_autofree char *salt = g_base64_encode(c.salt, sizeof c.salt);
    s->client_first_bare = g_strdup(bare);
    s->nonce = g_strdup_printf("%.*s%s", (int)cnonce_len, cnonce, snonce);
    s->server_first =
        g_strdup_printf("r=%s,s=%s,i=%" G_GUINT32_FORMAT, s->nonce, salt, c.iterations);
    OPENSSL_cleanse(&c, sizeof c);
    *out = g_bytes_new(s->server_first, strlen(s->server_first));
    return TRUE;
}

/* c= carries base64(gs2-header [cbind-data]), RFC 5802 §7 */
static gboolean channel_binding_matches(ScramServer *s, const guint8 *got, gsize got_len)
{
    gsize hl = strlen(s->gs2_header);
    gsize cbl = s->flag == GS2_CBIND_P ? g_bytes_get_size(s->cb_data) : 0;
    if (got_len != hl + cbl || memcmp(got, s->gs2_header, hl) != 0)
        return FALSE;
    return cbl == 0 || CRYPTO_memcmp(got + hl, g_bytes_get_data(s->cb_data, NULL), cbl) == 0;
}

/* client-final-message = channel-binding "," nonce ["," extensions] "," proof */
static gboolean client_final(ScramServer *s, const char *msg, GBytes **out, SaslFail *fail)
{
    *fail = SASL_FAIL_MALFORMED_REQUEST;
    const char *p = msg, *cbind, *nonce;
    gsize cbind_len, nonce_len;
    if (!take_attr(&p, 'c', &cbind, &cbind_len) || p[-1] != ',')
        return FALSE;
    if (!take_attr(&p, 'r', &nonce, &nonce_len) || p[-1] != ',')
        return FALSE;
    const char *proof_attr = strrchr(msg, ',') + 1; /* the proof is the last attribute */
    while (p < proof_attr) {
        const char *end = strchr(p, ',');
        g_autofree char *ext = g_strndup(p, (gsize)(end - p));
        if (!attr_valid(ext))
            return FALSE;
        p = end + 1;
    }
    const char *proof_b64;
    gsize proof_b64_len, proof_len = 0;
    if (!take_attr(&p, 'p', &proof_b64, &proof_b64_len) || *p != '\0')
        return FALSE;
    gsize hl = scram_hash_len(s->hash), cb_len = 0;
    g_autofree guint8 *proof = b64_decode_strict(proof_b64, proof_b64_len, &proof_len);
    g_autofree guint8 *cb = b64_decode_strict(cbind, cbind_len, &cb_len);
    if (!proof || proof_len != hl || !cb)
        return FALSE;

    *fail = SASL_FAIL_NOT_AUTHORIZED;
    if (!channel_binding_matches(s, cb, cb_len))
        return FALSE;
    if (nonce_len != strlen(s->nonce) || memcmp(nonce, s->nonce, nonce_len) != 0)
        return FALSE;

    /* RFC 5802 §3: AuthMessage, ClientSignature, ClientKey = proof XOR signature */
    g_autofree char *auth = g_strdup_printf("%s,%s,%.*s", s->client_first_bare, s->server_first,
                                            (int)(proof_attr - 1 - msg), msg);
    gsize auth_len = strlen(auth);
    guint8 sig[SCRAM_HASH_MAX], key[SCRAM_HASH_MAX], stored[SCRAM_HASH_MAX];
    scram_hmac(s->hash, s->stored_key, hl, auth, auth_len, sig);
    for (gsize i = 0; i < hl; i++)
        key[i] = proof[i] ^ sig[i];
    scram_stored_key(s->hash, key, stored);
    gboolean ok = CRYPTO_memcmp(stored, s->stored_key, hl) == 0 && s->user_known;
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(stored, sizeof stored);
    if (!ok) {
        OPENSSL_cleanse(sig, sizeof sig);
        return FALSE;
    }
    scram_hmac(s->hash, s->server_key, hl, auth, auth_len, sig); /* ServerSignature */
    g_autofree char *v = g_base64_encode(sig, hl);
    OPENSSL_cleanse(sig, sizeof sig);
    char *final = g_strconcat("v=", v, NULL);
    *out = g_bytes_new_take(final, strlen(final));
    return TRUE;
}

SaslStep scram_server_step(ScramServer *s, const guint8 *in, gsize in_len, GBytes **out,
                           SaslFail *fail)
{
    *out = NULL;
    SaslFail f = SASL_FAIL_MALFORMED_REQUEST;
    g_autofree char *msg = NULL;

    switch (s->state) {
    case SCRAM_STATE_CLIENT_FIRST:
        if ((msg = message_string(in, in_len)) && client_first(s, msg, out, &f)) {
            s->state = SCRAM_STATE_CLIENT_FINAL;
            return SASL_STEP_CONTINUE;
        }
        break;
    case SCRAM_STATE_CLIENT_FINAL:
        if ((msg = message_string(in, in_len)) && client_final(s, msg, out, &f)) {
            s->state = SCRAM_STATE_DONE;
            wipe_keys(s);
            return SASL_STEP_SUCCESS;
        }
        break;
    case SCRAM_STATE_DONE: /* nothing may follow server-final-message; stays authenticated */
        if (fail)
            *fail = SASL_FAIL_MALFORMED_REQUEST;
        return SASL_STEP_FAILURE;
    case SCRAM_STATE_FAILED:
        break;
    }
    s->state = SCRAM_STATE_FAILED;
    wipe_keys(s);
    if (fail)
        *fail = f;
    return SASL_STEP_FAILURE;
}

/* ---- PLAIN, RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd ---------- */

static char *plain_field(const char *s, gsize len)
{
    if (len > PLAIN_FIELD_MAX || !g_utf8_validate_len(s, len, NULL))
        return NULL;
    return g_strndup(s, len);
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        g_free(s);
    }
}

gboolean sasl_plain_parse(const guint8 *in, gsize len, char **authzid, char **authcid,
                          char **password)
{
    *authzid = *authcid = *password = NULL;
    const char *m = (const char *)in;
    const char *nul1 = in ? memchr(m, '\0', len) : NULL;
    const char *nul2 = nul1 ? memchr(nul1 + 1, '\0', len - (gsize)(nul1 + 1 - m)) : NULL;
    if (!nul2 || memchr(nul2 + 1, '\0', len - (gsize)(nul2 + 1 - m)))
        return FALSE; /* exactly two NULs */
    gsize zlen = (gsize)(nul1 - m), clen = (gsize)(nul2 - nul1 - 1);
    gsize plen = len - (gsize)(nul2 + 1 - m);
    if (clen == 0 || plen == 0)
        return FALSE;
    char *z = zlen ? plain_field(m, zlen) : NULL;
    char *c = plain_field(nul1 + 1, clen);
    char *p = plain_field(nul2 + 1, plen);
    if ((zlen && !z) || !c || !p) {
        g_free(z);
        g_free(c);
        free_secret(p);
        return FALSE;
    }
    *authzid = z;
    *authcid = c;
    *password = p; /* the caller wipes it (OPENSSL_cleanse) before freeing */
    return TRUE;
}
