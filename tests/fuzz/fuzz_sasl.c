/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_sasl.c — SCRAM server steps and PLAIN parsing on arbitrary client messages */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "c2s/scram.h"
#include "router/jid.h"

/*
 * Input: [flags] client-first [0xFF client-final [0xFF third message]]
 * (0xFF never occurs in UTF-8, so it cannot be part of a valid message.)
 *   flags bit 0  SCRAM-SHA-256 (else SHA-1)
 *         bit 1  the -PLUS variant (channel binding "tls-exporter", data CB_DATA)
 *         bit 2  the server advertised -PLUS (the 'y' downgrade check)
 *         bit 3  the harness appends the right ",p=<proof>" to client-final, computed from
 *                the password: the success path is reachable; without it, success would
 *                be an authentication bypass
 * The only account is "user" with password "pencil" (RFC 5802 §5); the server nonce is fixed.
 * Also the whole input after the flags goes to sasl_plain_parse, which must return exactly
 * the three fields it was given or nothing.
 */

#define CB_DATA "0123456789abcdef0123456789abcdef"
#define SERVER_NONCE "3rfcNHYJY1ZVvWVs7j"

typedef struct {
    AccountCreds creds;
    guint8 client_key[2][32]; /* [SCRAM_SHA1], [SCRAM_SHA256] */
} Keys;

static const Keys *keys(void)
{
    static Keys k;
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        static const guint8 salt[ACCOUNT_SALT_LEN] = "fuzz-salt-16byte";
        guint8 salted[32];

        k.creds.iterations = 4096;
        memcpy(k.creds.salt, salt, sizeof salt);
        for (ScramHash h = SCRAM_SHA1; h <= SCRAM_SHA256; h++) {
            guint8 *stored = h == SCRAM_SHA1 ? k.creds.sha1_stored_key : k.creds.sha256_stored_key;
            guint8 *server = h == SCRAM_SHA1 ? k.creds.sha1_server_key : k.creds.sha256_server_key;
            scram_salted_password(h, "pencil", salt, sizeof salt, 4096, salted);
            scram_client_key(h, salted, k.client_key[h]);
            scram_stored_key(h, k.client_key[h], stored);
            scram_server_key(h, salted, server);
        }
        g_once_init_leave(&once, 1);
    }
    return &k;
}

static gboolean creds_cb(const char *username, AccountCreds *out, gpointer ud)
{
    char *prepped = jid_prep_local(username, NULL);
    gboolean known = prepped != NULL && strcmp(prepped, "user") == 0;

    g_free(prepped);
    if (known)
        *out = keys()->creds;
    return known;
}

/* client-first-message-bare: after the gs2-header's two commas */
static const char *first_bare(const char *first)
{
    const char *c = strchr(first, ',');
    return c != NULL && (c = strchr(c + 1, ',')) != NULL ? c + 1 : NULL;
}

/* RFC 5802 §3: AuthMessage, ClientProof, ServerSignature */
static char *auth_message(const char *first, gsize first_len, GBytes *server_first,
                          const char *final_wo_proof, gsize final_len)
{
    char *f = g_strndup(first, first_len);
    gsize sl;
    const char *s = g_bytes_get_data(server_first, &sl);
    char *m =
        g_strdup_printf("%s,%.*s,%.*s", first_bare(f), (int)sl, s, (int)final_len, final_wo_proof);
    g_free(f);
    return m;
}

static void check_plain(const uint8_t *data, size_t size)
{
    char *z, *c, *p;

    if (!sasl_plain_parse(data, size, &z, &c, &p)) {
        FUZZ_CHECK(z == NULL && c == NULL && p == NULL, "PLAIN failure with outputs");
        return;
    }
    FUZZ_CHECK(c != NULL && *c && p != NULL && *p, "PLAIN: empty authcid or password");
    FUZZ_CHECK(z == NULL || *z, "PLAIN: empty authzid instead of NULL");
    {
        GString *again = g_string_new(z ? z : "");
        g_string_append_c(again, '\0');
        g_string_append(again, c);
        g_string_append_c(again, '\0');
        g_string_append(again, p);
        FUZZ_CHECK(again->len == size && memcmp(again->str, data, size) == 0,
                   "PLAIN fields do not rebuild the message");
        FUZZ_CHECK((z == NULL || g_utf8_validate(z, -1, NULL)) && g_utf8_validate(c, -1, NULL) &&
                       g_utf8_validate(p, -1, NULL),
                   "PLAIN field not UTF-8");
        g_string_free(again, TRUE);
    }
    g_free(z);
    g_free(c);
    g_free(p);
}

int fuzz_sasl(const uint8_t *data, size_t size)
{
    ScramHash h;
    gboolean plus, auto_proof;
    GBytes *cb, *out = NULL;
    ScramServer *s;
    const char *msg[3] = {NULL, NULL, NULL};
    gsize len[3] = {0, 0, 0};
    SaslFail fail = SASL_FAIL_ABORTED;
    SaslStep st;

    fuzz_init();
    if (size < 1)
        return 0;
    check_plain(data + 1, size - 1);
    h = data[0] & 1 ? SCRAM_SHA256 : SCRAM_SHA1;
    plus = (data[0] & 2) != 0;
    auto_proof = (data[0] & 8) != 0;
    {
        const char *p = (const char *)data + 1, *end = (const char *)data + size;
        for (int i = 0; i < 3 && p <= end; i++) {
            const char *sep = memchr(p, 0xFF, (size_t)(end - p));
            msg[i] = p;
            len[i] = sep ? (gsize)(sep - p) : (gsize)(end - p);
            p += len[i] + 1;
        }
    }

    cb = g_bytes_new_static(CB_DATA, strlen(CB_DATA));
    s = scram_server_new(h, plus, plus ? "tls-exporter" : NULL, plus ? cb : NULL,
                         (data[0] & 4) != 0, creds_cb, NULL);
    scram_server_set_nonce_for_testing(s, SERVER_NONCE);

    st = scram_server_step(s, (const guint8 *)msg[0], len[0], &out, &fail);
    FUZZ_CHECK(st != SASL_STEP_SUCCESS, "success after client-first");
    if (st == SASL_STEP_FAILURE) {
        FUZZ_CHECK(out == NULL, "failure with a message");
        goto done;
    }
    FUZZ_CHECK(out != NULL, "challenge without a message");
    {
        gsize n;
        const char *sf = g_bytes_get_data(out, &n);
        FUZZ_CHECK(n > 2 && sf[0] == 'r' && sf[1] == '=' && memchr(sf, 0, n) == NULL,
                   "server-first-message '%.*s'", (int)n, sf);
        FUZZ_CHECK(g_strstr_len(sf, (gssize)n, SERVER_NONCE ",s=") != NULL, "server nonce");
    }
    if (msg[1] != NULL) {
        GBytes *first_out = out;
        char *auth = NULL, *final = NULL;
        const guint8 *in = (const guint8 *)msg[1];
        gsize in_len = len[1];

        out = NULL;
        if (auto_proof) { /* client-first was accepted: it has a gs2-header */
            guint8 sig[32], proof[32];
            gsize hl = scram_hash_len(h);
            const guint8 *stored =
                h == SCRAM_SHA1 ? keys()->creds.sha1_stored_key : keys()->creds.sha256_stored_key;
            char *b64;

            auth = auth_message(msg[0], len[0], first_out, msg[1], len[1]);
            scram_hmac(h, stored, hl, auth, strlen(auth), sig);
            for (gsize i = 0; i < hl; i++)
                proof[i] = keys()->client_key[h][i] ^ sig[i];
            b64 = g_base64_encode(proof, hl);
            final = g_strdup_printf("%.*s,p=%s", (int)len[1], msg[1], b64);
            g_free(b64);
            in = (const guint8 *) final;
            in_len = strlen(final);
        }
        st = scram_server_step(s, in, in_len, &out, &fail);
        if (st == SASL_STEP_SUCCESS) {
            guint8 sig[32];
            gsize hl = scram_hash_len(h), n;
            const guint8 *server =
                h == SCRAM_SHA1 ? keys()->creds.sha1_server_key : keys()->creds.sha256_server_key;
            const char *v;
            char *want;

            FUZZ_CHECK(auto_proof && auth != NULL,
                       "authenticated without the password (an authentication bypass)");
            FUZZ_CHECK(g_strcmp0(scram_server_username(s), "user") == 0, "username '%s'",
                       scram_server_username(s));
            scram_hmac(h, server, hl, auth, strlen(auth), sig);
            want = g_base64_encode(sig, hl);
            v = g_bytes_get_data(out, &n);
            FUZZ_CHECK(n == strlen(want) + 2 && memcmp(v, "v=", 2) == 0 &&
                           memcmp(v + 2, want, n - 2) == 0,
                       "server-final-message '%.*s', want v=%s", (int)n, v, want);
            g_free(want);
        } else {
            FUZZ_CHECK(st == SASL_STEP_FAILURE && out == NULL, "client-final: step %d", st);
            FUZZ_CHECK(scram_server_username(s) == NULL, "username after failure");
        }
        g_bytes_unref(first_out);
        g_free(auth);
        g_free(final);
        if (out != NULL)
            g_bytes_unref(out);
        out = NULL;
        if (msg[2] != NULL) {
            gboolean was_success = st == SASL_STEP_SUCCESS;
            st = scram_server_step(s, (const guint8 *)msg[2], len[2], &out, &fail);
            FUZZ_CHECK(st == SASL_STEP_FAILURE && out == NULL, "a third message was accepted");
            FUZZ_CHECK((scram_server_username(s) != NULL) == was_success,
                       "authentication state changed after the exchange");
        }
    }
done:
    if (out != NULL)
        g_bytes_unref(out);
    scram_server_free(s);
    g_bytes_unref(cb);
    return 0;
}

FUZZ_LIBFUZZER_ENTRY(fuzz_sasl)
