/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_s2s.c — XEP-0185 dialback keys and RFC 6125 certificate name checks */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "s2s/s2s.h"

static void test_dialback_keys(void)
{
    dialback_init();
    g_autofree char *k1 = dialback_key("example.org", "example.net", "D60000229F");
    g_autofree char *k2 = dialback_key("example.org", "example.net", "D60000229F");
    g_assert_cmpstr(k1, ==, k2);          /* deterministic within a process */
    g_assert_cmpuint(strlen(k1), ==, 64); /* hex HMAC-SHA256 */
    /* each field counts: another receiver, originator or stream id gives another key */
    g_autofree char *k3 = dialback_key("example.net", "example.org", "D60000229F");
    g_autofree char *k4 = dialback_key("example.org", "example.net", "D60000229G");
    g_assert_cmpstr(k1, !=, k3);
    g_assert_cmpstr(k1, !=, k4);
    /* field separation: moving text between fields changes the key */
    g_autofree char *k5 = dialback_key("a.example", "bc.example", "id");
    g_autofree char *k6 = dialback_key("a.exampleb", "c.example", "id");
    g_assert_cmpstr(k5, !=, k6);
    g_assert_true(dialback_key_check("example.org", "example.net", "D60000229F", k1));
    g_assert_false(dialback_key_check("example.org", "example.net", "D60000229F", k3));
    g_assert_false(dialback_key_check("example.org", "example.net", "D60000229F", ""));
    g_assert_false(dialback_key_check("example.org", "example.net", "bad id", k1));
    g_assert_false(dialback_key_check("example.org", "example.net", NULL, k1));
    /* a fresh secret (a restart) invalidates old keys */
    dialback_fini();
    dialback_init();
    g_assert_false(dialback_key_check("example.org", "example.net", "D60000229F", k1));
    dialback_fini();
}

/* A self-signed certificate with the given CN and SAN ("DNS:a,DNS:b" or NULL). */
static X509 *make_cert(const char *cn, const char *san)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (san) {
        X509V3_CTX ctx;
        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        g_assert_nonnull(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    EVP_PKEY_free(key);
    return x;
}

static void test_cert_names(void)
{
    X509 *c = make_cert("ignored.example", "DNS:example.org,DNS:*.wild.test");
    g_assert_true(verify_cert_names(c, "example.org"));
    g_assert_true(verify_cert_names(c, "EXAMPLE.org."));
    g_assert_true(verify_cert_names(c, "a.wild.test"));
    g_assert_false(verify_cert_names(c, "a.b.wild.test")); /* one label only */
    g_assert_false(verify_cert_names(c, "wild.test"));
    g_assert_false(verify_cert_names(c, "ignored.example")); /* never the CN with SANs */
    g_assert_false(verify_cert_names(c, "example.net"));
    X509_free(c);
    c = make_cert("legacy.example", NULL); /* no SAN: the CN is used (RFC 6125 §6.4.4) */
    g_assert_true(verify_cert_names(c, "legacy.example"));
    g_assert_false(verify_cert_names(c, "other.example"));
    X509_free(c);
    c = make_cert("x", "DNS:*.test,DNS:f*o.example"); /* "*.tld" and partial wildcards */
    g_assert_false(verify_cert_names(c, "a.test"));
    g_assert_false(verify_cert_names(c, "foo.example"));
    X509_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/s2s/dialback-keys", test_dialback_keys);
    g_test_add_func("/s2s/certificate-names", test_cert_names);
    return g_test_run();
}
