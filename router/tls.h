/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/tls.h — TLS contexts: certificates per hosted domain, SNI, ALPN, self-signed */
#pragma once

#include <glib.h>
#include <openssl/ssl.h>

#define TLS_ERROR (tls_error_quark())
GQuark tls_error_quark(void);
typedef enum { TLS_ERROR_FAILED } TlsError;

typedef struct TlsStore TlsStore;

/* certs_dir: folder with <domain>.pem (chain) and <domain>.key for each domain.
 * When a domain has none and self_signed is TRUE, a self-signed certificate (EC P-256,
 * SAN = domain and *.domain, 10 years) is generated there (key mode 0600).
 * alpn: protocol offered on direct TLS ("xmpp-client"), may be NULL. */
TlsStore *tls_store_new(const char *certs_dir, char **domains, gboolean self_signed,
                        GError **error);
void tls_store_free(TlsStore *s);
/* Reload certificates from disk (SIGHUP). On error the old ones stay. */
gboolean tls_store_reload(TlsStore *s, GError **error);
/* SSL_CTX for serving: TLS 1.2+, no renegotiation, SNI switches to the matching domain's
 * certificate (default: first domain), ALPN accepts "xmpp-client" / "xmpp-server".
 * borrowed, valid until the next reload (connections keep a ref through their SSL). */
SSL_CTX *tls_store_server_ctx(TlsStore *s);
/* Trust for peer certificates (s2s): the system store plus ca_file (PEM, may be NULL or
 * ""). Applied to every context, also after reloads. FALSE + error when ca_file is bad. */
gboolean tls_store_set_trust(TlsStore *s, const char *ca_file, GError **error);
/* SSL_CTX for outgoing s2s from domain (a hosted domain): TLS 1.2+, the domain's
 * certificate as client certificate (XEP-0178), ALPN "xmpp-server" (XEP-0368), the trust
 * store above; no verification failure in the handshake (RFC 6125 checks are the
 * caller's). borrowed, valid until the next reload; NULL for an unknown domain. */
SSL_CTX *tls_store_client_ctx(TlsStore *s, const char *domain);
/* Path of the certificate / key files used for domain (borrowed). */
const char *tls_store_cert_path(TlsStore *s, const char *domain);
/* Check that each domain has a loadable certificate and key that match; prints what it
 * found to out. FALSE when any is bad. (ternctl check, ternd --check-config) */
gboolean tls_check_dir(const char *certs_dir, char **domains, GString *out);
