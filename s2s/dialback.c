/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/dialback.c — XEP-0220 dialback elements; keys per XEP-0185 */
#include "s2s/s2s.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

#define DIALBACK_SECRET_BYTES 32

/* XEP-0185 §3: HMAC key = hex(SHA256(secret)); the secret is made once per process with
 * RAND_bytes and never leaves memory (keys die with the process, as the XEP allows). */
static char hmac_key[2 * 32 + 1];

void dialback_init(void)
{
    unsigned char secret[DIALBACK_SECRET_BYTES], digest[32];
    if (RAND_bytes(secret, sizeof secret) != 1)
        g_error("RAND_bytes failed"); /* no entropy: nothing safe to do */
    unsigned int len = 0;
    if (EVP_Digest(secret, sizeof secret, digest, &len, EVP_sha256(), NULL) != 1 || len != 32)
        g_error("SHA-256 failed");
    for (guint i = 0; i < 32; i++)
        g_snprintf(hmac_key + 2 * i, 3, "%02x", digest[i]);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(digest, sizeof digest);
}

void dialback_fini(void)
{
    OPENSSL_cleanse(hmac_key, sizeof hmac_key);
}

char *dialback_key(const char *receiving, const char *originating, const char *id)
{
    /* XEP-0185 §3: fields separated by a space, which none of them may contain */
    g_autofree char *text = g_strconcat(receiving, " ", originating, " ", id, NULL);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), hmac_key, (int)strlen(hmac_key), (const unsigned char *)text,
              strlen(text), mac, &len))
        g_error("HMAC-SHA256 failed");
    GString *hex = g_string_sized_new(2 * len + 1);
    for (unsigned int i = 0; i < len; i++)
        g_string_append_printf(hex, "%02x", mac[i]);
    OPENSSL_cleanse(mac, sizeof mac);
    return g_string_free(hex, FALSE);
}

gboolean dialback_key_check(const char *receiving, const char *originating, const char *id,
                            const char *key)
{
    if (!receiving || !originating || !id || !key || strchr(id, ' '))
        return FALSE;
    g_autofree char *want = dialback_key(receiving, originating, id);
    gsize n = strlen(want);
    gboolean ok = strlen(key) == n && CRYPTO_memcmp(want, key, n) == 0;
    OPENSSL_cleanse(want, n);
    return ok;
}

XmlNode *dialback_element(const char *name, const char *from, const char *to, const char *type,
                          const char *id, const char *key)
{
    XmlNode *db = xml_node_new(NS_DIALBACK, name);
    xml_node_set_attr(db, "from", from);
    xml_node_set_attr(db, "to", to);
    if (id)
        xml_node_set_attr(db, "id", id);
    if (type)
        xml_node_set_attr(db, "type", type);
    if (key)
        xml_node_add_text(db, key, -1);
    return db;
}

void dialback_add_error(XmlNode *db, StanzaErr err)
{
    xml_node_set_attr(db, "type", "error");
    XmlNode *e = xml_node_add_child(db, NS_DIALBACK, "error");
    xml_node_set_attr(e, "type", stanza_err_type(err));
    xml_node_add_child(e, NS_STANZAS, stanza_err_condition(err));
}
