/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_dialback.c — XEP-0220 elements and XEP-0178 <auth/> from a hostile peer */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "router/jid.h"
#include "s2s/s2s.h"

/*
 * What s2s/in.c does with a <db:result/>, <db:verify/> or SASL <auth/> from the network,
 * short of a live stream: the element is read by the restricted parser, its attributes go
 * through jid_prep_domain() and dialback_key_check(), and the reply that db_reply() builds
 * echoes the peer's 'from', 'to' and 'id' unprepared.
 * Input: [flags] element bytes
 *   flags bits 0-1  CertStatus for sasl_external_check
 *         bits 2-6  StanzaErr of the error reply
 *         bit  7    the stream's 'from' is "example.org" (else none)
 * Checks:
 *  - a key we make for (from, to, id) passes dialback_key_check, a changed one does not,
 *    and an id with a space (XEP-0185 §3 separator) never passes;
 *  - the reply re-parses with the peer's strings as attributes, byte for byte, with the
 *    type or the XEP-0220 §2.4 error child, and nothing else;
 *  - sasl_external_check authenticates the stream's 'from' only, with a valid certificate.
 * TODO: the handlers themselves (handle_db_result/handle_db_verify, static in s2s/in.c)
 * need a Stream; a stream-level harness would drive them with these same inputs.
 */

static void init_once(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        dialback_init();
        g_once_init_leave(&once, 1);
    }
}

static void check_keys(const char *from, const char *to, const char *id, const char *key)
{
    char *want, *bad;

    /* any strings, NULLs included, must be safe to check */
    (void)dialback_key_check(from, to, id, key);
    if (from == NULL || to == NULL || id == NULL)
        return;
    want = dialback_key(from, to, id);
    FUZZ_CHECK(strlen(want) == 64 && strspn(want, "0123456789abcdef") == 64, "key '%s'", want);
    FUZZ_CHECK(dialback_key_check(from, to, id, want) == (strchr(id, ' ') == NULL),
               "own key for id '%s' %s", id, strchr(id, ' ') ? "accepted" : "refused");
    bad = g_strdup(want);
    bad[63] = bad[63] == '0' ? '1' : '0';
    FUZZ_CHECK(!dialback_key_check(from, to, id, bad), "a changed key passed");
    bad[63] = '\0';
    FUZZ_CHECK(!dialback_key_check(from, to, id, bad), "a truncated key passed");
    FUZZ_CHECK(!dialback_key_check(from, to, id, ""), "an empty key passed");
    g_free(bad);
    g_free(want);
}

/* s2s/in.c db_reply(): name, from=to, to=from, id, type or an error child */
static void check_reply(const char *name, const char *from, const char *to, const char *id,
                        const char *type, StanzaErr err)
{
    XmlNode *db = dialback_element(name, to, from, type, id, NULL), *back, *e;
    GError *error = NULL;
    char *doc;

    if (type == NULL)
        dialback_add_error(db, err);
    doc = fuzz_serialize_doc(db, XML_NS_SERVER);
    back = fuzz_reparse_doc(doc, XML_NS_SERVER, &error);
    FUZZ_CHECK(back != NULL, "reply does not parse (%s): %s", error->message, doc);
    FUZZ_CHECK(xml_node_is(back, NS_DIALBACK, name), "reply element: %s", doc);
    FUZZ_CHECK(g_strcmp0(xml_node_attr(back, "from"), to) == 0 &&
                   g_strcmp0(xml_node_attr(back, "to"), from) == 0 &&
                   g_strcmp0(xml_node_attr(back, "id"), id) == 0,
               "reply attributes changed: %s", doc);
    if (type != NULL) {
        FUZZ_CHECK(g_strcmp0(xml_node_attr(back, "type"), type) == 0 && !back->first_child,
                   "reply type: %s", doc);
    } else {
        e = xml_node_first_element(back);
        FUZZ_CHECK(g_strcmp0(xml_node_attr(back, "type"), "error") == 0 && e != NULL &&
                       xml_node_is(e, NS_DIALBACK, "error") && e->next == NULL &&
                       g_strcmp0(xml_node_attr(e, "type"), stanza_err_type(err)) == 0 &&
                       xml_node_child(e, NS_STANZAS, stanza_err_condition(err)) != NULL,
                   "error reply: %s", doc);
    }
    xml_node_free(back);
    xml_node_free(db);
    g_free(doc);
}

static void check_auth(const XmlNode *auth, guint8 flags)
{
    static const CertStatus certs[4] = {CERT_NONE, CERT_UNTRUSTED, CERT_MISMATCH, CERT_VALID};
    const char *stream_from = flags & 0x80 ? "example.org" : NULL;
    CertStatus cert = certs[flags & 3];
    const char *cond = NULL;
    char *who = sasl_external_check(auth, stream_from, cert, &cond);

    if (who != NULL) {
        FUZZ_CHECK(cert == CERT_VALID && stream_from && strcmp(who, stream_from) == 0,
                   "EXTERNAL authenticated '%s' (stream from %s, cert %d)", who,
                   stream_from ? stream_from : "none", cert);
        g_free(who);
    } else {
        FUZZ_CHECK(cond != NULL && *cond, "EXTERNAL failure without a condition");
    }
    (void)sasl_external_offered(auth);
}

int fuzz_dialback(const uint8_t *data, size_t size)
{
    XmlNode *el;
    guint8 flags;

    fuzz_init();
    init_once();
    if (size < 1)
        return 0;
    flags = data[0];
    el = xml_parse_fragment((const char *)data + 1, (gssize)size - 1, NULL);
    if (el == NULL)
        return 0;
    if (xml_node_is(el, NS_DIALBACK, "result") || xml_node_is(el, NS_DIALBACK, "verify")) {
        const char *from = xml_node_attr(el, "from"), *to = xml_node_attr(el, "to");
        const char *id = xml_node_attr(el, "id"), *type = xml_node_attr(el, "type");
        char *key = xml_node_text(el);
        char *pfrom = from ? jid_prep_domain(from, NULL) : NULL;
        char *pto = to ? jid_prep_domain(to, NULL) : NULL;

        check_keys(from, to, id, g_strstrip(key));
        check_keys(pfrom, pto, id, key);
        check_reply(el->name, from, to, id, type, (StanzaErr)((flags >> 2) % STANZA_ERR__COUNT));
        g_free(pfrom);
        g_free(pto);
        g_free(key);
    } else if (xml_node_is(el, NS_SASL, "auth") || xml_node_is(el, NULL, "features")) {
        check_auth(el, flags);
    }
    xml_node_free(el);
    return 0;
}

FUZZ_LIBFUZZER_ENTRY(fuzz_dialback)
