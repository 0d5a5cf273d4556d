/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_scram.c — SCRAM server (RFC 5802 §5, RFC 7677 §3 vectors) and PLAIN parsing */
#include "c2s/scram.h"

#include <string.h>

#include "router/jid.h"

/* RFC 5802 §5 */
#define R5802_CNONCE "fyko+d2lbbFgONRv9qkxdawL"
#define R5802_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define R5802_SALT "QSXCR+Q6sek8bf92"
/* RFC 7677 §3 */
#define R7677_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define R7677_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R7677_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="

#define CB_DATA "0123456789abcdef0123456789abcdef"

/* A one-user account store */
typedef struct {
    const char *user; /* prepared localpart */
    AccountCreds creds;
    char *last_username; /* what the callback was given */
    int calls;
} TestDb;

static gboolean test_creds(const char *username, AccountCreds *out, gpointer ud)
{
    TestDb *db = ud;
    db->calls++;
    g_free(db->last_username);
    db->last_username = g_strdup(username);
    g_autofree char *prep = jid_prep_local(username, NULL);
    if (!prep || strcmp(prep, db->user) != 0)
        return FALSE;
    *out = db->creds;
    return TRUE;
}

static void derive(ScramHash h, const char *password, const guint8 *salt, gsize salt_len,
                   guint32 iter, guint8 *stored, guint8 *server)
{
    guint8 salted[32], ck[32];
    scram_salted_password(h, password, salt, salt_len, iter, salted);
    scram_client_key(h, salted, ck);
    scram_stored_key(h, ck, stored);
    scram_server_key(h, salted, server);
}

static void db_init(TestDb *db, const char *user, const char *password, const char *salt_b64)
{
    memset(db, 0, sizeof *db);
    db->user = user;
    gsize n = 0;
    g_autofree guint8 *salt = g_base64_decode(salt_b64, &n);
    g_assert_cmpuint(n, ==, ACCOUNT_SALT_LEN);
    memcpy(db->creds.salt, salt, n);
    db->creds.iterations = 4096;
    derive(SCRAM_SHA1, password, salt, n, 4096, db->creds.sha1_stored_key,
           db->creds.sha1_server_key);
    derive(SCRAM_SHA256, password, salt, n, 4096, db->creds.sha256_stored_key,
           db->creds.sha256_server_key);
}

static void db_clear(TestDb *db)
{
    g_free(db->last_username);
}

/* Feed a C string; out becomes a C string (or NULL). */
static SaslStep step(ScramServer *s, const char *msg, char **out, SaslFail *fail)
{
    GBytes *b = NULL;
    SaslStep r = scram_server_step(s, (const guint8 *)msg, strlen(msg), &b, fail);
    *out = NULL;
    if (b) {
        gsize n;
        const char *d = g_bytes_get_data(b, &n);
        *out = g_strndup(d, n);
        g_bytes_unref(b);
    }
    if (r == SASL_STEP_FAILURE)
        g_assert_null(*out);
    return r;
}

/* Value of attribute name in a server-first-message (transfer full) */
static char *attr(const char *msg, char name)
{
    g_auto(GStrv) parts = g_strsplit(msg, ",", -1);
    for (char **p = parts; *p; p++) {
        if ((*p)[0] == name && (*p)[1] == '=')
            return g_strdup(*p + 2);
    }
    return NULL;
}

/* The client side: client-final-message for password (transfer full) and, in expected_v,
 * the server-final-message it expects. cbind: gs2 header plus channel binding data. */
static char *client_final(ScramHash h, const char *password, const char *client_first_bare,
                          const char *server_first, const char *cbind, gsize cbind_len,
                          char **expected_v)
{
    gsize hl = scram_hash_len(h), salt_len = 0;
    g_autofree char *nonce = attr(server_first, 'r');
    g_autofree char *salt_b64 = attr(server_first, 's');
    g_autofree char *iter = attr(server_first, 'i');
    g_autofree guint8 *salt = g_base64_decode(salt_b64, &salt_len);
    guint8 salted[32], ck[32], stored[32], sk[32], sig[32], proof[32];
    scram_salted_password(h, password, salt, salt_len, (guint32)g_ascii_strtoull(iter, NULL, 10),
                          salted);
    scram_client_key(h, salted, ck);
    scram_stored_key(h, ck, stored);
    scram_server_key(h, salted, sk);
    g_autofree char *c = g_base64_encode((const guint8 *)cbind, cbind_len);
    g_autofree char *without_proof = g_strdup_printf("c=%s,r=%s", c, nonce);
    g_autofree char *auth =
        g_strdup_printf("%s,%s,%s", client_first_bare, server_first, without_proof);
    scram_hmac(h, stored, hl, auth, strlen(auth), sig);
    for (gsize i = 0; i < hl; i++)
        proof[i] = ck[i] ^ sig[i];
    scram_hmac(h, sk, hl, auth, strlen(auth), sig);
    g_autofree char *v = g_base64_encode(sig, hl);
    *expected_v = g_strdup_printf("v=%s", v);
    g_autofree char *p = g_base64_encode(proof, hl);
    return g_strdup_printf("%s,p=%s", without_proof, p);
}

/* ---- primitives against the RFC vectors ------------------------------------------------ */

static void check_vector(ScramHash h, const char *salt_b64, const char *auth, const char *proof,
                         const char *server_sig)
{
    gsize hl = scram_hash_len(h), n = 0;
    g_autofree guint8 *salt = g_base64_decode(salt_b64, &n);
    guint8 salted[32], ck[32], stored[32], sk[32], sig[32], p[32];
    scram_salted_password(h, "pencil", salt, n, 4096, salted);
    scram_client_key(h, salted, ck);
    scram_stored_key(h, ck, stored);
    scram_server_key(h, salted, sk);
    scram_hmac(h, stored, hl, auth, strlen(auth), sig);
    for (gsize i = 0; i < hl; i++)
        p[i] = ck[i] ^ sig[i];
    g_autofree char *pb = g_base64_encode(p, hl);
    g_assert_cmpstr(pb, ==, proof);
    scram_hmac(h, sk, hl, auth, strlen(auth), sig);
    g_autofree char *vb = g_base64_encode(sig, hl);
    g_assert_cmpstr(vb, ==, server_sig);
}

static void test_primitives(void)
{
    g_assert_cmpuint(scram_hash_len(SCRAM_SHA1), ==, 20);
    g_assert_cmpuint(scram_hash_len(SCRAM_SHA256), ==, 32);
    /* RFC 5802 §5 (salt of 12 bytes: only checkable at this level, see test_sha1_exchange) */
    check_vector(SCRAM_SHA1, R5802_SALT,
                 "n=user,r=" R5802_CNONCE ",r=" R5802_CNONCE R5802_SNONCE ",s=" R5802_SALT
                 ",i=4096,c=biws,r=" R5802_CNONCE R5802_SNONCE,
                 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    /* RFC 7677 §3 */
    check_vector(SCRAM_SHA256, R7677_SALT,
                 "n=user,r=" R7677_CNONCE ",r=" R7677_CNONCE R7677_SNONCE ",s=" R7677_SALT
                 ",i=4096,c=biws,r=" R7677_CNONCE R7677_SNONCE,
                 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* ---- full exchanges -------------------------------------------------------------------- */

/* RFC 7677 §3 replayed byte for byte */
static void test_rfc7677_exchange(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    scram_server_set_nonce_for_testing(s, R7677_SNONCE);
    g_autofree char *first = NULL, *final = NULL;
    SaslFail f;
    g_assert_cmpint(step(s, "n,,n=user,r=" R7677_CNONCE, &first, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpstr(first, ==, "r=" R7677_CNONCE R7677_SNONCE ",s=" R7677_SALT ",i=4096");
    g_assert_cmpint(step(s,
                         "c=biws,r=" R7677_CNONCE R7677_SNONCE
                         ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                         &final, &f),
                    ==, SASL_STEP_SUCCESS);
    g_assert_cmpstr(final, ==, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    g_assert_cmpstr(scram_server_username(s), ==, "user");
    g_assert_null(scram_server_authzid(s));
    g_assert_cmpstr(db.last_username, ==, "user");
    scram_server_free(s);
    db_clear(&db);
}

/* RFC 5802 §5 messages with a 16-byte salt (AccountCreds holds ACCOUNT_SALT_LEN bytes, the
 * RFC's salt has 12), so the proof comes from our client side. */
static void test_sha1_exchange(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    ScramServer *s = scram_server_new(SCRAM_SHA1, FALSE, NULL, NULL, FALSE, test_creds, &db);
    scram_server_set_nonce_for_testing(s, R5802_SNONCE);
    g_autofree char *first = NULL, *final = NULL, *expected_v = NULL;
    SaslFail f;
    g_assert_cmpint(step(s, "n,,n=user,r=" R5802_CNONCE, &first, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpstr(first, ==, "r=" R5802_CNONCE R5802_SNONCE ",s=" R7677_SALT ",i=4096");
    g_autofree char *cf =
        client_final(SCRAM_SHA1, "pencil", "n=user,r=" R5802_CNONCE, first, "n,,", 3, &expected_v);
    g_assert_true(g_str_has_prefix(cf, "c=biws,r=" R5802_CNONCE R5802_SNONCE ",p="));
    g_assert_cmpint(step(s, cf, &final, &f), ==, SASL_STEP_SUCCESS);
    g_assert_cmpstr(final, ==, expected_v);
    g_assert_cmpstr(scram_server_username(s), ==, "user");

    /* nothing after completion; still authenticated */
    g_autofree char *extra = NULL;
    g_assert_cmpint(step(s, cf, &extra, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
    g_assert_cmpstr(scram_server_username(s), ==, "user");
    scram_server_free(s);
    db_clear(&db);
}

/* Run a SCRAM-SHA-256 exchange: client-first cf1 then the computed client-final for
 * password; returns the step result of the final message. */
static SaslStep run(ScramServer *s, const char *cf1, const char *password, const char *cbind,
                    gsize cbind_len, SaslFail *f)
{
    g_autofree char *first = NULL, *final = NULL, *expected_v = NULL;
    g_assert_cmpint(step(s, cf1, &first, f), ==, SASL_STEP_CONTINUE);
    const char *bare = strstr(cf1, ",n=") ? strstr(cf1, ",n=") + 1 : NULL;
    g_assert_nonnull(bare);
    g_autofree char *cf =
        client_final(SCRAM_SHA256, password, bare, first, cbind, cbind_len, &expected_v);
    SaslStep r = step(s, cf, &final, f);
    if (r == SASL_STEP_SUCCESS)
        g_assert_cmpstr(final, ==, expected_v);
    return r;
}

static void test_wrong_password(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    SaslFail f;
    g_assert_cmpint(run(s, "n,,n=user,r=abc", "pencik", "n,,", 3, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    g_assert_null(scram_server_username(s));
    /* after a failure, everything fails */
    g_autofree char *out = NULL;
    g_assert_cmpint(step(s, "n,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    scram_server_free(s);
    db_clear(&db);
}

static void test_random_nonce(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    g_autofree char *a = NULL, *b = NULL;
    SaslFail f;
    ScramServer *s1 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    ScramServer *s2 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(step(s1, "n,,n=user,r=abc", &a, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpint(step(s2, "n,,n=user,r=abc", &b, &f), ==, SASL_STEP_CONTINUE);
    g_autofree char *na = attr(a, 'r'), *nb = attr(b, 'r');
    g_assert_true(g_str_has_prefix(na, "abc"));
    g_assert_cmpuint(strlen(na), ==, 3 + 32); /* 24 random bytes in base64 */
    g_assert_cmpstr(na, !=, nb);
    scram_server_free(s1);
    scram_server_free(s2);
    /* and a random-nonce exchange succeeds */
    ScramServer *s3 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(run(s3, "n,,n=user,r=abc", "pencil", "n,,", 3, &f), ==, SASL_STEP_SUCCESS);
    scram_server_free(s3);
    db_clear(&db);
}

/* An unknown user gets a normal-looking, stable server-first and fails only at the proof. */
static void test_unknown_user(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    SaslFail f;
    g_autofree char *a = NULL, *b = NULL, *c = NULL;
    ScramServer *s1 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    ScramServer *s2 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    ScramServer *s3 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(step(s1, "n,,n=romeo,r=abc", &a, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpint(step(s2, "n,,n=romeo,r=abc", &b, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpint(step(s3, "n,,n=mercutio,r=abc", &c, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpstr(db.last_username, ==, "mercutio");
    g_autofree char *sa = attr(a, 's'), *sb = attr(b, 's'), *sc = attr(c, 's');
    g_autofree char *ia = attr(a, 'i');
    g_assert_cmpuint(strlen(sa), ==, 24); /* 16 bytes, like a real account */
    g_assert_cmpstr(sa, ==, sb);
    g_assert_cmpstr(sa, !=, sc);
    g_assert_cmpstr(ia, ==, "4096");
    g_autofree char *v = NULL, *out = NULL;
    g_autofree char *cf = client_final(SCRAM_SHA256, "pencil", "n=romeo,r=abc", a, "n,,", 3, &v);
    g_assert_cmpint(step(s1, cf, &out, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    g_assert_null(scram_server_username(s1));
    scram_server_free(s1);
    scram_server_free(s2);
    scram_server_free(s3);

    /* a username that is not a valid localpart behaves the same */
    ScramServer *s4 = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    db.calls = 0;
    g_assert_cmpint(run(s4, "n,,n=foo bar,r=abc", "pencil", "n,,", 3, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    g_assert_cmpint(db.calls, ==, 0);
    scram_server_free(s4);
    db_clear(&db);
}

static void test_username_and_authzid(void)
{
    TestDb db;
    db_init(&db, "us,er=x", "pencil", R7677_SALT);
    SaslFail f;
    /* escapes: =2C and =3D (ABNF is case-insensitive, so =3d too) */
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    const char *gs2 = "n,a=juliet@example.com/a=2Cb,";
    g_assert_cmpint(
        run(s, "n,a=juliet@example.com/a=2Cb,n=US=2CER=3dX,r=abc", "pencil", gs2, strlen(gs2), &f),
        ==, SASL_STEP_SUCCESS);
    g_assert_cmpstr(db.last_username, ==, "US,ER=X"); /* the callee prepares */
    g_assert_cmpstr(scram_server_username(s), ==, "us,er=x");
    g_assert_cmpstr(scram_server_authzid(s), ==, "juliet@example.com/a,b");
    scram_server_free(s);
    db_clear(&db);
}

/* ---- channel binding ------------------------------------------------------------------- */

static ScramServer *plus_server(TestDb *db, const char *cb_type, const char *data)
{
    g_autoptr(GBytes) cb = data ? g_bytes_new(data, strlen(data)) : NULL;
    return scram_server_new(SCRAM_SHA256, TRUE, cb_type, cb, TRUE, test_creds, db);
}

static void test_plus(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    SaslFail f;
    g_autofree char *out = NULL;
    const char *gs2 = "p=tls-exporter,,";
    GString *cbind = g_string_new(gs2);
    g_string_append(cbind, CB_DATA);

    ScramServer *s = plus_server(&db, "tls-exporter", CB_DATA);
    g_assert_cmpint(run(s, "p=tls-exporter,,n=user,r=abc", "pencil", cbind->str, cbind->len, &f),
                    ==, SASL_STEP_SUCCESS);
    scram_server_free(s);

    /* different channel: the c= data does not match */
    s = plus_server(&db, "tls-exporter", "another TLS session, another key");
    g_assert_cmpint(run(s, "p=tls-exporter,,n=user,r=abc", "pencil", cbind->str, cbind->len, &f),
                    ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);

    /* c= without the binding data */
    s = plus_server(&db, "tls-exporter", CB_DATA);
    g_assert_cmpint(run(s, "p=tls-exporter,,n=user,r=abc", "pencil", gs2, strlen(gs2), &f), ==,
                    SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);

    /* another channel binding type than the one offered */
    s = plus_server(&db, "tls-exporter", CB_DATA);
    g_assert_cmpint(step(s, "p=tls-server-end-point,,n=user,r=abc", &out, &f), ==,
                    SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);

    /* -PLUS without a binding */
    s = plus_server(&db, "tls-exporter", CB_DATA);
    g_assert_cmpint(step(s, "n,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
    scram_server_free(s);
    s = plus_server(&db, "tls-exporter", CB_DATA);
    g_assert_cmpint(step(s, "y,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    scram_server_free(s);

    /* -PLUS without channel binding data to compare against */
    s = plus_server(&db, "tls-exporter", NULL);
    g_assert_cmpint(step(s, "p=tls-exporter,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_TEMPORARY_AUTH_FAILURE);
    scram_server_free(s);

    /* binding requested over the non-PLUS mechanism */
    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, TRUE, test_creds, &db);
    g_assert_cmpint(step(s, "p=tls-exporter,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
    scram_server_free(s);

    /* a client that sent n,, but claims y,, in c= */
    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(run(s, "n,,n=user,r=abc", "pencil", "y,,", 3, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);

    g_string_free(cbind, TRUE);
    db_clear(&db);
}

/* RFC 5802 §6: 'y' means "I could bind but you did not offer it" */
static void test_y_flag(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    SaslFail f;
    g_autofree char *out = NULL;
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, TRUE, test_creds, &db);
    g_assert_cmpint(step(s, "y,,n=user,r=abc", &out, &f), ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED); /* downgrade attack */
    scram_server_free(s);

    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(run(s, "y,,n=user,r=abc", "pencil", "y,,", 3, &f), ==, SASL_STEP_SUCCESS);
    scram_server_free(s);
    db_clear(&db);
}

/* ---- malformed input ------------------------------------------------------------------- */

static void test_malformed_first(void)
{
    static const char *const cases[] = {
        "",
        "garbage",
        "n,,",
        "n,",
        "n",
        "x,,n=user,r=abc",
        "N,,n=user,r=abc",
        " n,,n=user,r=abc",
        "n,n=user,r=abc",
        "n,,r=abc",
        "n,,r=abc,n=user",
        "n,,n=user",
        "n,,n=user,",
        "n,,n=,r=abc",
        "n,,n=us=2Xer,r=abc",
        "n,,n=user=,r=abc",
        "n,,n=us=2,r=abc",
        "n,,n=us=,r=abc",
        "n,,m=foo,n=user,r=abc",
        "n,,n=user,r=",
        "n,,n=user,r=ab\001c",
        "n,,n=user,r=ab c",
        "n,,n=user,r=abc,",
        "n,,n=user,r=abc,1=x",
        "n,,n=user,r=abc,x",
        "n,,n=user,r=abc,x=",
        "n,,n=user,r=abc,x=1,",
        "n,a=,n=user,r=abc",
        "n,a=x=zz,n=user,r=abc",
        "n,a=x",
        "n,a=x,",
        "p=,,n=user,r=abc",
        "p=tls_exporter,,n=user,r=abc",
        "n,,n=\xff,r=abc",
        "n,,n=user,r=\xc3\xa9",
    };
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
        g_autofree char *out = NULL;
        SaslFail f;
        if (step(s, cases[i], &out, &f) != SASL_STEP_FAILURE)
            g_error("case %zu accepted: %s", i, cases[i]);
        g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
        scram_server_free(s);
    }
    g_assert_cmpint(db.calls, ==, 0);

    /* embedded NUL, oversize, NULL */
    static const char nul[] = "n,,n=us\0er,r=abc";
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    GBytes *out = NULL;
    SaslFail f;
    g_assert_cmpint(scram_server_step(s, (const guint8 *)nul, sizeof nul - 1, &out, &f), ==,
                    SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
    g_assert_null(out);
    scram_server_free(s);

    GString *big = g_string_new("n,,n=user,r=");
    while (big->len <= 16 * 1024)
        g_string_append_c(big, 'a');
    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(scram_server_step(s, (const guint8 *)big->str, big->len, &out, &f), ==,
                    SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
    scram_server_free(s);
    g_string_free(big, TRUE);

    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    g_assert_cmpint(scram_server_step(s, NULL, 0, &out, &f), ==, SASL_STEP_FAILURE);
    scram_server_free(s);
    db_clear(&db);
}

/* {N}: the combined nonce, {P}: a proof that would be correct for "c=biws,r={N}" */
static char *fill(const char *tmpl, const char *nonce, const char *proof)
{
    GString *out = g_string_new(tmpl);
    g_string_replace(out, "{N}", nonce, 0);
    g_string_replace(out, "{P}", proof, 0);
    return g_string_free(out, FALSE);
}

static void test_malformed_final(void)
{
    static const char *const cases[] = {
        "",
        "c=biws",
        "c=biws,r={N}",
        "c=biws,r={N},",
        "r={N},c=biws,p={P}",
        "c=biws,p={P},r={N}",
        "c=biws,r={N},p=",
        "c=biws,r={N},p=!!!!{P}",
        "c=biws,r={N},p={P},",
        "c=biws,r={N},p={P},x=y",
        "c=biws,r={N},1=2,p={P}",
        "c=biws,r={N},x,p={P}",
        "c=bi ws,r={N},p={P}",
        "c=biw,r={N},p={P}",
        "c=bh==,r={N},p={P}", /* non-canonical base64 */
        "c=,r={N},p={P}",
        "c=biws,r={N},p=AAAA",    /* proof of the wrong length */
        "c=biws,r={N},p={P}=",    /* bad padding */
        "c=biws,r={N},p={P}\x01", /* control character */
        "c=biws,,r={N},p={P}",
    };
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
        scram_server_set_nonce_for_testing(s, R7677_SNONCE);
        g_autofree char *first = NULL, *out = NULL, *v = NULL;
        SaslFail f;
        g_assert_cmpint(step(s, "n,,n=user,r=" R7677_CNONCE, &first, &f), ==, SASL_STEP_CONTINUE);
        g_autofree char *good =
            client_final(SCRAM_SHA256, "pencil", "n=user,r=" R7677_CNONCE, first, "n,,", 3, &v);
        g_autofree char *proof = attr(good, 'p');
        g_autofree char *nonce = attr(first, 'r');
        g_autofree char *msg = fill(cases[i], nonce, proof);
        if (step(s, msg, &out, &f) != SASL_STEP_FAILURE)
            g_error("case %zu accepted: %s", i, msg);
        g_assert_cmpint(f, ==, SASL_FAIL_MALFORMED_REQUEST);
        scram_server_free(s);
    }
    db_clear(&db);
}

static void test_not_authorized_final(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    scram_server_set_nonce_for_testing(s, R7677_SNONCE);
    g_autofree char *first = NULL, *out = NULL;
    SaslFail f;
    g_assert_cmpint(step(s, "n,,n=user,r=" R7677_CNONCE, &first, &f), ==, SASL_STEP_CONTINUE);
    /* the RFC's proof with another nonce */
    g_assert_cmpint(
        step(s, "c=biws,r=" R7677_CNONCE "x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", &out,
             &f),
        ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);

    /* proof of the right length, wrong value */
    s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    scram_server_set_nonce_for_testing(s, R7677_SNONCE);
    g_clear_pointer(&first, g_free);
    g_assert_cmpint(step(s, "n,,n=user,r=" R7677_CNONCE, &first, &f), ==, SASL_STEP_CONTINUE);
    g_assert_cmpint(step(s,
                         "c=biws,r=" R7677_CNONCE R7677_SNONCE
                         ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                         &out, &f),
                    ==, SASL_STEP_FAILURE);
    g_assert_cmpint(f, ==, SASL_FAIL_NOT_AUTHORIZED);
    scram_server_free(s);
    db_clear(&db);
}

/* Extensions after the nonce are allowed and ignored (RFC 5802 §7) */
static void test_extensions(void)
{
    TestDb db;
    db_init(&db, "user", "pencil", R7677_SALT);
    ScramServer *s = scram_server_new(SCRAM_SHA256, FALSE, NULL, NULL, FALSE, test_creds, &db);
    SaslFail f;
    g_assert_cmpint(run(s, "n,,n=user,r=abc,x=1,y=a=b", "pencil", "n,,", 3, &f), ==,
                    SASL_STEP_SUCCESS);
    scram_server_free(s);
    db_clear(&db);
}

/* ---- PLAIN ------------------------------------------------------------------------------ */

static gboolean plain(const char *m, gsize len, char **z, char **c, char **p)
{
    return sasl_plain_parse((const guint8 *)m, len, z, c, p);
}

static void test_plain(void)
{
    char *z, *c, *p;
    g_assert_true(plain("\0user\0pencil", 12, &z, &c, &p));
    g_assert_null(z);
    g_assert_cmpstr(c, ==, "user");
    g_assert_cmpstr(p, ==, "pencil");
    g_free(c);
    g_free(p);

    g_assert_true(plain("juliet@example.com\0user\0pen cil\xc3\xa9", 33, &z, &c, &p));
    g_assert_cmpstr(z, ==, "juliet@example.com");
    g_assert_cmpstr(c, ==, "user");
    g_assert_cmpstr(p, ==, "pen cil\xc3\xa9");
    g_free(z);
    g_free(c);
    g_free(p);

    static const struct {
        const char *m;
        gsize len;
    } bad[] = {
        {"", 0},
        {"user\0pencil", 11},     /* one NUL */
        {"\0\0pencil", 8},        /* empty authcid */
        {"\0user\0", 6},          /* empty password */
        {"\0user\0pen\0cil", 13}, /* three NULs */
        {"\0\0", 2},
        {"\0us\377er\0pencil", 13}, /* invalid UTF-8 */
        {"\0user\0pen\xc3", 10},
        {"\xc3\0user\0pencil", 13},
        {"user", 4},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        z = c = p = (char *)"x";
        g_assert_false(plain(bad[i].m, bad[i].len, &z, &c, &p));
        g_assert_null(z);
        g_assert_null(c);
        g_assert_null(p);
    }
    g_assert_false(sasl_plain_parse(NULL, 0, &z, &c, &p));

    /* 1023-byte fields are fine, 1024 are not */
    GString *m = g_string_new(NULL);
    g_string_append_c(m, '\0');
    for (int i = 0; i < 1023; i++)
        g_string_append_c(m, 'u');
    g_string_append_c(m, '\0');
    g_string_append(m, "pencil");
    g_assert_true(plain(m->str, m->len, &z, &c, &p));
    g_assert_cmpuint(strlen(c), ==, 1023);
    g_free(c);
    g_free(p);
    g_string_insert_c(m, 1, 'u');
    g_assert_false(plain(m->str, m->len, &z, &c, &p));
    g_string_free(m, TRUE);
}

static void test_fail_conditions(void)
{
    static const char *const names[] = {
        "aborted",
        "account-disabled",
        "credentials-expired",
        "encryption-required",
        "incorrect-encoding",
        "invalid-authzid",
        "invalid-mechanism",
        "malformed-request",
        "mechanism-too-weak",
        "not-authorized",
        "temporary-auth-failure",
    };
    for (int f = SASL_FAIL_ABORTED; f <= SASL_FAIL_TEMPORARY_AUTH_FAILURE; f++)
        g_assert_cmpstr(sasl_fail_condition((SaslFail)f), ==, names[f]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/scram/primitives", test_primitives);
    g_test_add_func("/scram/rfc7677-exchange", test_rfc7677_exchange);
    g_test_add_func("/scram/sha1-exchange", test_sha1_exchange);
    g_test_add_func("/scram/wrong-password", test_wrong_password);
    g_test_add_func("/scram/random-nonce", test_random_nonce);
    g_test_add_func("/scram/unknown-user", test_unknown_user);
    g_test_add_func("/scram/username-and-authzid", test_username_and_authzid);
    g_test_add_func("/scram/plus", test_plus);
    g_test_add_func("/scram/y-flag", test_y_flag);
    g_test_add_func("/scram/malformed-first", test_malformed_first);
    g_test_add_func("/scram/malformed-final", test_malformed_final);
    g_test_add_func("/scram/not-authorized-final", test_not_authorized_final);
    g_test_add_func("/scram/extensions", test_extensions);
    g_test_add_func("/scram/plain", test_plain);
    g_test_add_func("/scram/fail-conditions", test_fail_conditions);
    return g_test_run();
}
