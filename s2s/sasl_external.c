/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/sasl_external.c — SASL EXTERNAL between servers (XEP-0178) */
#include "s2s/s2s.h"

#include <string.h>

#include "router/jid.h"

XmlNode *sasl_external_auth(const char *local)
{
    /* XEP-0178 §3 step 9: the authorization identity is our domain, base64 */
    XmlNode *auth = xml_node_new(NS_SASL, "auth");
    xml_node_set_attr(auth, "mechanism", "EXTERNAL");
    g_autofree char *b64 = g_base64_encode((const guchar *)local, strlen(local));
    xml_node_add_text(auth, b64, -1);
    return auth;
}

gboolean sasl_external_offered(const XmlNode *features)
{
    XmlNode *mechs = xml_node_child(features, NS_SASL, "mechanisms");
    for (XmlNode *m = mechs ? xml_node_child(mechs, NS_SASL, "mechanism") : NULL; m;
         m = xml_node_next_element(m, NS_SASL, "mechanism")) {
        g_autofree char *name = xml_node_text(m);
        if (g_str_equal(g_strstrip(name), "EXTERNAL"))
            return TRUE;
    }
    return FALSE;
}

char *sasl_external_check(const XmlNode *auth, const char *stream_from, CertStatus cert,
                          const char **cond)
{
    if (g_strcmp0(xml_node_attr(auth, "mechanism"), "EXTERNAL")) {
        *cond = "invalid-mechanism";
        return NULL;
    }
    if (!stream_from || cert != CERT_VALID) { /* XEP-0178 §3 step 8 */
        *cond = "not-authorized";
        return NULL;
    }
    g_autofree char *text = xml_node_text(auth);
    g_strstrip(text);
    if (!*text || g_str_equal(text, "="))
        return g_strdup(stream_from); /* no authzid: the stream's 'from' */
    gsize len = 0;
    g_autofree guchar *raw = g_base64_decode(text, &len);
    if (!raw || len == 0 || memchr(raw, '\0', len) || len > JID_PART_MAX) {
        *cond = "incorrect-encoding";
        return NULL;
    }
    g_autofree char *authzid = g_strndup((const char *)raw, len);
    g_autofree char *domain = jid_prep_domain(authzid, NULL);
    /* a certificate valid for the stream's domain authenticates that domain only */
    if (!domain || strcmp(domain, stream_from)) {
        *cond = "invalid-authzid";
        return NULL;
    }
    return g_steal_pointer(&domain);
}
