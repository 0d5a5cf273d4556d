/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/tls.c — TLS contexts: one SSL_CTX per hosted domain, SNI switch, ALPN, self-signed */
#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "tern"

#include "router/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TLS_SELF_SIGNED_DAYS 3653 /* 10 years */

/* TLS 1.2 suites: forward-secret key exchange (ECDHE) and AEAD only, i.e. no static RSA,
 * no CBC (Lucky13, padding oracles), no SHA-1 MACs, no RC4/3DES/NULL/EXPORT/anonymous
 * (RFC 9325 §4.2). TLS 1.3 suites are all AEAD and forward secret: OpenSSL's default list. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

GQuark tls_error_quark(void)
{
    return g_quark_from_static_string("tern-tls-error-quark");
}

struct TlsStore {
    char *certs_dir;
    char **domains;
    gboolean self_signed;
    GMutex lock;             /* ctxs is read by the SNI callback, on any loop thread */
    GHashTable *ctxs;        /* lower-case domain -> SSL_CTX (a reference) */
    SSL_CTX *def;            /* the first domain's, borrowed from ctxs */
    GHashTable *paths;       /* lower-case domain -> certificate path */
    GHashTable *client_ctxs; /* lower-case domain -> SSL_CTX for s2s out (a reference) */
    X509_STORE *trust;       /* peer verification (system + ca_file), NULL until set */
};

/* Everything OpenSSL queued, as one line (clears the queue). */
static char *openssl_errors(void)
{
    GString *s = g_string_new(NULL);
    const char *data = NULL;
    int flags = 0;
    unsigned long e;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (s->len)
            g_string_append(s, "; ");
        g_string_append(s, buf);
        if ((flags & ERR_TXT_STRING) && data && *data)
            g_string_append_printf(s, " (%s)", data);
    }
    if (!s->len)
        g_string_append(s, "unknown OpenSSL error");
    return g_string_free(s, FALSE);
}

static void set_openssl_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void set_openssl_error(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *ssl = openssl_errors();
    g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "%s: %s", what, ssl);
}

/* A domain becomes a file name: refuse anything that could leave certs_dir. */
static gboolean domain_is_safe(const char *d)
{
    return d[0] != '\0' && d[0] != '.' && !strchr(d, '/') && !strchr(d, '\\');
}

static char *domain_file(const char *dir, const char *domain, const char *ext)
{
    g_autofree char *name = g_strconcat(domain, ext, NULL);
    return g_build_filename(dir, name, NULL);
}

/* ---- callbacks ---- */

/* Switch to the named domain's certificate: exact name, then the parent (wildcard) domain.
 * Unknown names keep the default; the stream's 'to' check rejects them later. */
static int tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
    TlsStore *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char lower[256];
    if (!name || !*name || strlen(name) >= sizeof lower)
        return SSL_TLSEXT_ERR_NOACK;
    for (gsize i = 0; (lower[i] = g_ascii_tolower(name[i])) != '\0'; i++)
        ;
    gsize len = strlen(lower);
    if (len > 1 && lower[len - 1] == '.')
        lower[len - 1] = '\0';

    g_mutex_lock(&s->lock);
    SSL_CTX *ctx = g_hash_table_lookup(s->ctxs, lower);
    const char *dot = strchr(lower, '.');
    if (!ctx && dot && dot[1])
        ctx = g_hash_table_lookup(s->ctxs, dot + 1);
    if (ctx && ctx != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, ctx);
    g_mutex_unlock(&s->lock);
    return ctx ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

/* XEP-0368: "xmpp-client" / "xmpp-server", in the client's order. No match: go on without
 * ALPN (lenient; the stream header tells the kinds apart anyway). */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int len = in[i];
        if (len == 0 || i + 1 + len > inlen)
            break;
        const unsigned char *p = in + i + 1;
        if (len == 11 && (memcmp(p, "xmpp-client", 11) == 0 || memcmp(p, "xmpp-server", 11) == 0)) {
            *out = p;
            *outlen = (unsigned char)len;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* ---- contexts ---- */

static SSL_CTX *tls_ctx_new(TlsStore *s, GError **error)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_openssl_error(error, "SSL_CTX_new");
        return NULL;
    }
    static const unsigned char sid_ctx[] = "tern";
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1) != 1) {
        set_openssl_error(error, "TLS context setup");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (s) {
        SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, s);
    }
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
    return ctx;
}

static gboolean tls_load_pair(SSL_CTX *ctx, const char *pem, const char *key, GError **error)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, pem) != 1) {
        set_openssl_error(error, "cannot load certificate %s", pem);
        return FALSE;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        set_openssl_error(error, "cannot load key %s", key);
        return FALSE;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        set_openssl_error(error, "key %s does not match certificate %s", key, pem);
        return FALSE;
    }
    return TRUE;
}

/* ---- self-signed certificates ---- */

static gboolean add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ext)
        return FALSE;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

/* subjectAltName DNS:domain, DNS:*.domain — built, not parsed, so no domain can inject. */
static gboolean add_san(X509 *x, const char *domain)
{
    g_autofree char *wildcard = g_strconcat("*.", domain, NULL);
    const char *names[] = {domain, wildcard};
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    gboolean ok = gens != NULL;
    for (gsize i = 0; ok && i < G_N_ELEMENTS(names); i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        if (!gn || !ia5 || ASN1_STRING_set(ia5, names[i], -1) != 1) {
            GENERAL_NAME_free(gn);
            ASN1_IA5STRING_free(ia5);
            ok = FALSE;
            break;
        }
        GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
        if (sk_GENERAL_NAME_push(gens, gn) <= 0) {
            GENERAL_NAME_free(gn);
            ok = FALSE;
        }
    }
    if (ok)
        ok = X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *domain)
{
    X509 *x = X509_new();
    unsigned char rnd[16];
    BIGNUM *serial = NULL;
    gboolean ok = x && RAND_bytes(rnd, sizeof rnd) == 1;
    if (ok) {
        rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40); /* positive, full length */
        serial = BN_bin2bn(rnd, sizeof rnd, NULL);
        ok = serial && BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL;
    }
    X509_NAME *name = ok ? X509_get_subject_name(x) : NULL;
    ok = ok && X509_set_version(x, X509_VERSION_3) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL && /* some clock skew */
         X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_SIGNED_DAYS, 0, NULL) != NULL &&
         X509_set_pubkey(x, pkey) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)domain, -1,
                                    -1, 0) == 1 &&
         X509_set_issuer_name(x, name) == 1 && add_san(x, domain) &&
         add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") && /* s2s uses it both ways */
         add_ext(x, NID_subject_key_identifier, "hash") && X509_sign(x, pkey, EVP_sha256()) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write via a temporary file and rename, so a crash never leaves half a key behind. */
static gboolean write_pem(const char *path, int mode, EVP_PKEY *pkey, X509 *cert, GError **error)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "cannot create %s: %s", tmp,
                    g_strerror(errno));
        return FALSE;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "cannot write %s: %s", tmp,
                    g_strerror(errno));
        close(fd);
        g_unlink(tmp);
        return FALSE;
    }
    int ok =
        pkey ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        g_autofree char *ssl = openssl_errors();
        g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "cannot write %s: %s (%s)", tmp, ssl,
                    g_strerror(saved));
        g_unlink(tmp);
        return FALSE;
    }
    if (g_rename(tmp, path) != 0) {
        g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "cannot rename %s to %s: %s", tmp, path,
                    g_strerror(errno));
        g_unlink(tmp);
        return FALSE;
    }
    return TRUE;
}

static gboolean tls_generate(const char *dir, const char *domain, const char *pem, const char *key,
                             GError **error)
{
    if (g_mkdir_with_parents(dir, 0700) != 0) {
        g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "cannot create %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    if (!pkey) {
        set_openssl_error(error, "cannot generate a key for %s", domain);
        return FALSE;
    }
    X509 *cert = make_cert(pkey, domain);
    gboolean ok = FALSE;
    if (!cert)
        set_openssl_error(error, "cannot make a certificate for %s", domain);
    else
        ok = write_pem(key, 0600, pkey, NULL, error) && write_pem(pem, 0644, NULL, cert, error);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    if (ok)
        g_message("generated a self-signed certificate for %s in %s", domain, pem);
    return ok;
}

/* ---- the store ---- */

static SSL_CTX *tls_client_ctx_new(TlsStore *s, const char *pem, const char *key, GError **error)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        set_openssl_error(error, "SSL_CTX_new (client)");
        return NULL;
    }
    static const unsigned char alpn[] = "\x0bxmpp-server"; /* XEP-0368 */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0) {
        set_openssl_error(error, "TLS client context setup");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (!tls_load_pair(ctx, pem, key, error)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static void tls_apply_trust(X509_STORE *trust, GHashTable *ctxs)
{
    if (!trust || !ctxs)
        return;
    GHashTableIter it;
    gpointer ctx;
    g_hash_table_iter_init(&it, ctxs);
    while (g_hash_table_iter_next(&it, NULL, &ctx))
        SSL_CTX_set1_cert_store(ctx, trust); /* shared, refcounted */
}

static gboolean tls_build(TlsStore *s, GHashTable **ctxs_out, SSL_CTX **def_out,
                          GHashTable **paths_out, GHashTable **client_out, GError **error)
{
    g_autoptr(GHashTable) ctxs =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)SSL_CTX_free);
    g_autoptr(GHashTable) clients =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)SSL_CTX_free);
    g_autoptr(GHashTable) paths = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    SSL_CTX *def = NULL;
    for (char **d = s->domains; d && *d; d++) {
        g_autofree char *domain = g_ascii_strdown(*d, -1);
        if (!domain_is_safe(domain)) {
            g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "bad domain name \"%s\"", *d);
            return FALSE;
        }
        if (g_hash_table_contains(ctxs, domain))
            continue;
        g_autofree char *pem = domain_file(s->certs_dir, domain, ".pem");
        g_autofree char *key = domain_file(s->certs_dir, domain, ".key");
        gboolean have_pem = g_file_test(pem, G_FILE_TEST_EXISTS);
        gboolean have_key = g_file_test(key, G_FILE_TEST_EXISTS);
        if (!have_pem && !have_key && s->self_signed) {
            if (!tls_generate(s->certs_dir, domain, pem, key, error))
                return FALSE;
        } else if (!have_pem || !have_key) {
            g_set_error(error, TLS_ERROR, TLS_ERROR_FAILED, "%s: missing %s", domain,
                        have_pem ? key : pem);
            return FALSE;
        }
        SSL_CTX *ctx = tls_ctx_new(s, error);
        if (!ctx)
            return FALSE;
        if (!tls_load_pair(ctx, pem, key, error)) {
            SSL_CTX_free(ctx);
            return FALSE;
        }
        X509 *cert = SSL_CTX_get0_certificate(ctx);
        if (cert && X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
            g_warning("certificate %s for %s has expired", pem, domain);
        if (!def)
            def = ctx;
        SSL_CTX *client = tls_client_ctx_new(s, pem, key, error);
        if (!client) {
            SSL_CTX_free(ctx);
            return FALSE;
        }
        g_hash_table_insert(clients, g_strdup(domain), client);
        g_hash_table_insert(paths, g_strdup(domain), g_steal_pointer(&pem));
        g_hash_table_insert(ctxs, g_steal_pointer(&domain), ctx);
    }
    if (!def) {
        g_set_error_literal(error, TLS_ERROR, TLS_ERROR_FAILED, "no domains to serve");
        return FALSE;
    }
    tls_apply_trust(s->trust, ctxs);
    tls_apply_trust(s->trust, clients);
    *ctxs_out = g_steal_pointer(&ctxs);
    *paths_out = g_steal_pointer(&paths);
    *client_out = g_steal_pointer(&clients);
    *def_out = def;
    return TRUE;
}

TlsStore *tls_store_new(const char *certs_dir, char **domains, gboolean self_signed, GError **error)
{
    g_return_val_if_fail(certs_dir, NULL);
    TlsStore *s = g_new0(TlsStore, 1);
    s->certs_dir = g_strdup(certs_dir);
    s->domains = g_strdupv(domains);
    s->self_signed = self_signed;
    g_mutex_init(&s->lock);
    if (!tls_build(s, &s->ctxs, &s->def, &s->paths, &s->client_ctxs, error)) {
        tls_store_free(s);
        return NULL;
    }
    return s;
}

void tls_store_free(TlsStore *s)
{
    if (!s)
        return;
    g_clear_pointer(&s->ctxs, g_hash_table_unref); /* live SSLs keep their own refs */
    g_clear_pointer(&s->paths, g_hash_table_unref);
    g_clear_pointer(&s->client_ctxs, g_hash_table_unref);
    if (s->trust)
        X509_STORE_free(s->trust);
    g_mutex_clear(&s->lock);
    g_strfreev(s->domains);
    g_free(s->certs_dir);
    g_free(s);
}

gboolean tls_store_reload(TlsStore *s, GError **error)
{
    GHashTable *ctxs = NULL, *paths = NULL, *clients = NULL;
    SSL_CTX *def = NULL;
    if (!tls_build(s, &ctxs, &def, &paths, &clients, error))
        return FALSE;
    g_mutex_lock(&s->lock);
    GHashTable *old_ctxs = s->ctxs, *old_paths = s->paths, *old_clients = s->client_ctxs;
    s->ctxs = ctxs;
    s->paths = paths;
    s->client_ctxs = clients;
    s->def = def;
    g_mutex_unlock(&s->lock);
    g_hash_table_unref(old_ctxs); /* SSL_CTX_free: refcounted, live connections keep theirs */
    g_hash_table_unref(old_paths);
    g_hash_table_unref(old_clients);
    return TRUE;
}

gboolean tls_store_set_trust(TlsStore *s, const char *ca_file, GError **error)
{
    X509_STORE *trust = X509_STORE_new();
    if (!trust || X509_STORE_set_default_paths(trust) != 1) {
        set_openssl_error(error, "cannot load the system certificate store");
        X509_STORE_free(trust);
        return FALSE;
    }
    if (ca_file && *ca_file && X509_STORE_load_file(trust, ca_file) != 1) {
        set_openssl_error(error, "cannot load CA file %s", ca_file);
        X509_STORE_free(trust);
        return FALSE;
    }
    ERR_clear_error(); /* missing system folders are not an error */
    g_mutex_lock(&s->lock);
    if (s->trust)
        X509_STORE_free(s->trust);
    s->trust = trust;
    tls_apply_trust(trust, s->ctxs);
    tls_apply_trust(trust, s->client_ctxs);
    g_mutex_unlock(&s->lock);
    return TRUE;
}

SSL_CTX *tls_store_client_ctx(TlsStore *s, const char *domain)
{
    g_autofree char *lower = g_ascii_strdown(domain, -1);
    return g_hash_table_lookup(s->client_ctxs, lower);
}

SSL_CTX *tls_store_server_ctx(TlsStore *s)
{
    return s->def;
}

const char *tls_store_cert_path(TlsStore *s, const char *domain)
{
    g_autofree char *lower = g_ascii_strdown(domain, -1);
    return g_hash_table_lookup(s->paths, lower);
}

/* ---- checks (ternctl check, ternd --check-config): never generate anything ---- */

static char *cert_subject(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (!bio)
        return g_strdup("?");
    long len = 0;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0)
        len = BIO_get_mem_data(bio, &data);
    char *s = len > 0 ? g_strndup(data, (gsize)len) : g_strdup("(empty subject)");
    BIO_free(bio);
    return s;
}

static void cert_date(const ASN1_TIME *t, char *buf, gsize size)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, size, "%Y-%m-%d", &tm) == 0)
        g_strlcpy(buf, "?", size);
}

static gboolean check_domain(const char *certs_dir, const char *domain, GString *out)
{
    if (!domain_is_safe(domain)) {
        g_string_append_printf(out, "%s: bad domain name\n", domain);
        return FALSE;
    }
    g_autofree char *pem = domain_file(certs_dir, domain, ".pem");
    g_autofree char *key = domain_file(certs_dir, domain, ".key");
    if (!g_file_test(pem, G_FILE_TEST_EXISTS) || !g_file_test(key, G_FILE_TEST_EXISTS)) {
        g_string_append_printf(out, "%s: missing %s\n", domain,
                               g_file_test(pem, G_FILE_TEST_EXISTS) ? key : pem);
        return FALSE;
    }
    GError *err = NULL;
    SSL_CTX *ctx = tls_ctx_new(NULL, &err);
    if (!ctx || !tls_load_pair(ctx, pem, key, &err)) {
        g_string_append_printf(out, "%s: %s\n", domain, err->message);
        g_clear_error(&err);
        SSL_CTX_free(ctx);
        return FALSE;
    }
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    g_autofree char *subject = cert_subject(cert);
    char expires[32], starts[32];
    cert_date(X509_get0_notAfter(cert), expires, sizeof expires);
    cert_date(X509_get0_notBefore(cert), starts, sizeof starts);
    gboolean ok = FALSE;
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
        g_string_append_printf(out, "%s: certificate %s (%s) expired %s\n", domain, pem, subject,
                               expires);
    else if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
        g_string_append_printf(out, "%s: certificate %s (%s) not valid before %s\n", domain, pem,
                               subject, starts);
    else if (X509_check_host(cert, domain, 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) != 1)
        g_string_append_printf(out, "%s: certificate %s (%s): subjectAltName does not cover %s\n",
                               domain, pem, subject, domain);
    else {
        g_string_append_printf(out, "%s: OK (%s, expires %s)\n", domain, subject, expires);
        ok = TRUE;
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return ok;
}

gboolean tls_check_dir(const char *certs_dir, char **domains, GString *out)
{
    gboolean ok = TRUE;
    if (!domains || !domains[0]) {
        g_string_append(out, "no domains configured\n");
        return FALSE;
    }
    for (char **d = domains; *d; d++) {
        g_autofree char *domain = g_ascii_strdown(*d, -1);
        if (!check_domain(certs_dir, domain, out))
            ok = FALSE;
    }
    return ok;
}
