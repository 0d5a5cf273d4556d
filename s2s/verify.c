/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/verify.c — RFC 6125 checks of a peer's certificate against the domain it claims */
#include "s2s/s2s.h"

#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "router/conn.h"

/* id-on-xmppAddr, RFC 6120 §13.7.1.4 */
#define OID_XMPP_ADDR "1.3.6.1.5.5.7.8.5"

const char *cert_status_name(CertStatus st)
{
    switch (st) {
    case CERT_NONE:
        return "none";
    case CERT_UNTRUSTED:
        return "untrusted";
    case CERT_MISMATCH:
        return "name-mismatch";
    case CERT_VALID:
        return "valid";
    }
    return "?";
}

/* Compare a presented DNS name (ASN.1 bytes, may carry a leftmost "*.") with domain.
 * RFC 6125 §6.4.3: the wildcard is the whole leftmost label and matches one label only. */
static gboolean dns_name_matches(const unsigned char *name, int len, const char *domain)
{
    if (len <= 0 || memchr(name, '\0', (gsize)len))
        return FALSE; /* embedded NUL: never a match */
    g_autofree char *n = g_ascii_strdown((const char *)name, len);
    gsize nl = strlen(n);
    if (nl > 1 && n[nl - 1] == '.')
        n[--nl] = '\0';
    g_autofree char *d = g_ascii_strdown(domain, -1);
    gsize dl = strlen(d);
    if (dl > 1 && d[dl - 1] == '.')
        d[--dl] = '\0';
    if (n[0] == '*') {
        if (n[1] != '.' || strchr(n + 2, '*') || !strchr(n + 2, '.'))
            return FALSE; /* "*" alone, "*foo.", two wildcards, or "*.tld" */
        const char *dot = strchr(d, '.');
        return dot && dot != d && g_str_equal(dot + 1, n + 2);
    }
    if (strchr(n, '*'))
        return FALSE; /* partial-label wildcards are not accepted */
    return g_str_equal(n, d);
}

/* XmppAddr otherName (UTF8String): a domain-only JID equal to domain. */
static gboolean xmpp_addr_matches(const GENERAL_NAME *gn, const char *domain)
{
    const OTHERNAME *on = gn->d.otherName;
    ASN1_OBJECT *want = OBJ_txt2obj(OID_XMPP_ADDR, 1);
    gboolean is_xmpp = want && OBJ_cmp(on->type_id, want) == 0;
    ASN1_OBJECT_free(want);
    if (!is_xmpp || !on->value || on->value->type != V_ASN1_UTF8STRING)
        return FALSE;
    const ASN1_UTF8STRING *u = on->value->value.utf8string;
    const unsigned char *p = ASN1_STRING_get0_data(u);
    int len = ASN1_STRING_length(u);
    if (len <= 0 || memchr(p, '\0', (gsize)len) || memchr(p, '*', (gsize)len))
        return FALSE;
    return dns_name_matches(p, len, domain);
}

gboolean verify_cert_names(X509 *cert, const char *domain)
{
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    gboolean has_id = FALSE, match = FALSE;
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans) && !match; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS) {
            has_id = TRUE;
            match = dns_name_matches(ASN1_STRING_get0_data(gn->d.dNSName),
                                     ASN1_STRING_length(gn->d.dNSName), domain);
        } else if (gn->type == GEN_OTHERNAME) {
            has_id = TRUE; /* SRV-ID / XmppAddr: a SAN identifier is present */
            match = xmpp_addr_matches(gn, domain);
        } else if (gn->type == GEN_URI) {
            has_id = TRUE;
        }
    }
    GENERAL_NAMES_free(sans);
    if (match || has_id)
        return match; /* RFC 6125 §6.4.4: never the CN when a SAN identifier exists */
    X509_NAME *subject = X509_get_subject_name(cert);
    int idx = -1;
    while ((idx = X509_NAME_get_index_by_NID(subject, NID_commonName, idx)) >= 0) {
        ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
        unsigned char *utf8 = NULL;
        int len = ASN1_STRING_to_UTF8(&utf8, cn);
        gboolean ok = len > 0 && dns_name_matches(utf8, len, domain);
        OPENSSL_free(utf8);
        if (ok)
            return TRUE;
    }
    return FALSE;
}

CertStatus verify_peer_cert(Conn *conn, const char *domain)
{
    SSL *ssl = conn ? conn_ssl(conn) : NULL;
    if (!ssl || !conn_is_tls(conn) || !domain)
        return CERT_NONE;
    X509 *cert = SSL_get0_peer_certificate(ssl);
    if (!cert)
        return CERT_NONE;
    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return CERT_UNTRUSTED;
    return verify_cert_names(cert, domain) ? CERT_VALID : CERT_MISMATCH;
}
