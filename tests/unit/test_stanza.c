/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_stanza.c — stanza addressing, RFC 6120 §8.3 error replies, stream errors */
#include "router/stanza.h"

#include <string.h>

static XmlNode *parse(const char *s)
{
    GError *error = NULL;
    XmlNode *n = xml_parse_fragment(s, -1, &error);
    g_assert_no_error(error);
    return n;
}

static Stanza *stanza(const char *s)
{
    GError *error = NULL;
    Stanza *st = stanza_new(parse(s), &error);
    g_assert_no_error(error);
    g_assert_nonnull(st);
    return st;
}

/* Serialized as on a jabber:client stream. */
static char *wire(const Stanza *st)
{
    GString *out = g_string_new(NULL);
    xml_node_serialize(st->el, XML_NS_CLIENT, out);
    return g_string_free(out, FALSE);
}

static void test_new(void)
{
    g_autoptr(Stanza) m = stanza("<message xmlns='jabber:client' to='juliet@example.com/balcony' "
                                 "from='romeo@example.net/orchard' type='chat' id='m1'>"
                                 "<body>hi</body></message>");
    g_assert_cmpint(m->refcount, ==, 1);
    g_assert_cmpint(m->kind, ==, STANZA_KIND_MESSAGE);
    g_assert_cmpstr(jid_full(m->to), ==, "juliet@example.com/balcony");
    g_assert_cmpstr(jid_full(m->from), ==, "romeo@example.net/orchard");
    g_assert_cmpstr(m->type, ==, "chat");
    g_assert_cmpstr(m->id, ==, "m1");
    g_assert_false(stanza_is_error(m));
    g_assert_null(stanza_iq_payload(m));

    g_autoptr(Stanza) p = stanza("<presence xmlns='jabber:server'/>");
    g_assert_cmpint(p->kind, ==, STANZA_KIND_PRESENCE);
    g_assert_null(p->to);
    g_assert_null(p->from);
    g_assert_null(p->type);
    g_assert_null(p->id);

    g_autoptr(Stanza) iq = stanza("<iq xmlns='jabber:component:accept' type='get' id='i1' "
                                  "to='example.com'>text<ping xmlns='urn:xmpp:ping'/></iq>");
    g_assert_cmpint(iq->kind, ==, STANZA_KIND_IQ);
    g_assert_true(xml_node_is(stanza_iq_payload(iq), "urn:xmpp:ping", "ping"));
    g_assert_true(jid_is_bare(iq->to));

    static const char *const others[] = {
        "<message xmlns='urn:other'/>",
        "<message/>",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "<r xmlns='jabber:client'/>",
        "<features xmlns='http://etherx.jabber.org/streams'/>",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(others); i++) {
        Stanza *o = stanza(others[i]);
        g_assert_cmpint(o->kind, ==, STANZA_KIND_OTHER);
        g_assert_null(stanza_error_reply(o, STANZA_ERR_BAD_REQUEST, NULL));
        stanza_unref(o);
    }
}

/* A malformed address fails at the edge: NULL + JID_ERROR, the element is freed. */
static void test_new_malformed(void)
{
    static const char *const bad[] = {
        "<message xmlns='jabber:client' to=''/>",
        "<message xmlns='jabber:client' to='@example.com'/>",
        "<message xmlns='jabber:client' to='juliet@'/>",
        "<iq xmlns='jabber:client' to='example.com' from='romeo@/x' type='get' id='1'/>",
        "<presence xmlns='jabber:client' from='example.com/'/>",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        GError *error = NULL;
        Stanza *st = stanza_new(parse(bad[i]), &error);
        g_assert_null(st);
        g_assert_error(error, JID_ERROR, JID_ERROR_MALFORMED);
        g_clear_error(&error);
    }
}

static void test_ref_copy(void)
{
    Stanza *st = stanza("<message xmlns='jabber:client' to='a@example.com' id='x'/>");
    g_assert_true(stanza_ref(st) == st);
    g_assert_cmpint(st->refcount, ==, 2);
    stanza_unref(st);
    g_assert_cmpint(st->refcount, ==, 1);

    Stanza *c = stanza_copy(st);
    g_assert_cmpint(c->refcount, ==, 1);
    g_assert_true(c->el != st->el);
    g_assert_true(jid_equal(c->to, st->to));
    g_assert_cmpint(c->kind, ==, STANZA_KIND_MESSAGE);
    g_assert_cmpstr(c->id, ==, "x");
    g_autoptr(Jid) other = jid_new("b@example.com", NULL);
    stanza_set_to(c, other);
    g_assert_cmpstr(jid_full(st->to), ==, "a@example.com");
    g_assert_cmpstr(xml_node_attr(st->el, "to"), ==, "a@example.com");
    stanza_unref(c);
    stanza_unref(st);
    stanza_unref(NULL);
}

static void test_set_addr(void)
{
    g_autoptr(Stanza) st = stanza("<message xmlns='jabber:client' type='chat' id='m7' "
                                  "to='juliet@example.com'><body>x</body></message>");
    const char *type = st->type, *id = st->id;
    g_autoptr(Jid) from = jid_new("romeo@example.net/orchard", NULL);
    g_autoptr(Jid) to = jid_new("juliet@example.com/balcony", NULL);

    stanza_set_from(st, from);
    stanza_set_to(st, to);
    g_assert_true(st->from != NULL && jid_equal(st->from, from));
    g_assert_true(jid_equal(st->to, to));
    g_assert_cmpstr(xml_node_attr(st->el, "from"), ==, "romeo@example.net/orchard");
    g_assert_cmpstr(xml_node_attr(st->el, "to"), ==, "juliet@example.com/balcony");
    /* type and id stay valid and cached */
    g_assert_cmpstr(type, ==, "chat");
    g_assert_cmpstr(id, ==, "m7");
    g_assert_cmpstr(st->type, ==, "chat");
    g_assert_cmpstr(st->id, ==, "m7");

    /* setting the JID it already has */
    stanza_set_to(st, st->to);
    g_assert_true(jid_equal(st->to, to));

    stanza_set_to(st, NULL);
    g_assert_null(st->to);
    g_assert_null(xml_node_attr(st->el, "to"));
    stanza_set_from(st, NULL);
    g_assert_null(st->from);
    g_assert_null(xml_node_attr(st->el, "from"));
    g_assert_cmpstr(st->id, ==, "m7");
}

static void test_error_message(void)
{
    g_autoptr(Stanza) m = stanza("<message xmlns='jabber:client' to='juliet@example.com' "
                                 "from='romeo@example.net/orchard' type='chat' id='m1' "
                                 "xml:lang='en'><body>Hi &amp; bye</body>"
                                 "<thread>t1</thread></message>");
    g_autoptr(Stanza) e = stanza_error_reply(m, STANZA_ERR_SERVICE_UNAVAILABLE, NULL);
    g_assert_nonnull(e);
    g_assert_cmpint(e->kind, ==, STANZA_KIND_MESSAGE);
    g_assert_true(stanza_is_error(e));
    g_assert_cmpstr(jid_full(e->to), ==, "romeo@example.net/orchard");
    g_assert_cmpstr(jid_full(e->from), ==, "juliet@example.com");
    g_assert_cmpstr(e->id, ==, "m1");
    g_autofree char *s = wire(e);
    g_assert_cmpstr(s, ==,
                    "<message to='romeo@example.net/orchard' from='juliet@example.com' "
                    "type='error' id='m1' xml:lang='en'><body>Hi &amp; bye</body>"
                    "<thread>t1</thread><error type='cancel'>"
                    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                    "</error></message>");
    /* the original is untouched */
    g_assert_cmpstr(m->type, ==, "chat");
    g_assert_null(xml_node_child(m->el, NULL, "error"));

    /* errors are never answered with errors (RFC 6120 §8.3.1) */
    g_assert_null(stanza_error_reply(e, STANZA_ERR_SERVICE_UNAVAILABLE, NULL));
}

static void test_error_presence(void)
{
    g_autoptr(Stanza) p = stanza("<presence xmlns='jabber:server' from='romeo@example.net' "
                                 "to='juliet@example.com' type='subscribe'>"
                                 "<status>hello</status></presence>");
    g_autoptr(Stanza) e = stanza_error_reply(p, STANZA_ERR_REMOTE_SERVER_TIMEOUT, "no reply <3");
    g_assert_nonnull(e);
    g_assert_cmpint(e->kind, ==, STANZA_KIND_PRESENCE);
    g_autofree char *s = wire(e);
    g_assert_cmpstr(s, ==,
                    "<presence from='juliet@example.com' to='romeo@example.net' type='error'>"
                    "<status>hello</status><error type='wait'>"
                    "<remote-server-timeout xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                    "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no reply &lt;3</text>"
                    "</error></presence>");
    g_assert_null(stanza_error_reply(e, STANZA_ERR_BAD_REQUEST, NULL));
}

static void test_error_iq(void)
{
    g_autoptr(Stanza) iq = stanza("<iq xmlns='jabber:client' type='set' id='i9' "
                                  "from='romeo@example.net/orchard' to='example.com'>"
                                  "<query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>");
    g_autoptr(Stanza) e = stanza_error_reply(iq, STANZA_ERR_NOT_AUTHORIZED, "");
    g_assert_nonnull(e);
    g_assert_cmpint(e->kind, ==, STANZA_KIND_IQ);
    g_assert_cmpstr(e->type, ==, "error");
    g_assert_cmpstr(e->id, ==, "i9");
    /* only the condition, no payload; empty text gives no <text/> */
    XmlNode *only = xml_node_first_element(e->el);
    g_assert_true(xml_node_is(only, XML_NS_CLIENT, "error"));
    g_assert_null(xml_node_next_element(only, NULL, NULL));
    g_autofree char *s = wire(e);
    g_assert_cmpstr(s, ==,
                    "<iq id='i9' type='error' to='romeo@example.net/orchard' from='example.com'>"
                    "<error type='auth'>"
                    "<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                    "</error></iq>");
    /* on s2s, the error element is written in the stream's namespace too */
    GString *out = g_string_new(NULL);
    xml_node_serialize(e->el, XML_NS_SERVER, out);
    g_assert_cmpstr(out->str, ==, s);
    g_string_free(out, TRUE);

    /* RFC 6120 §8.2.3: result and error iqs are not answered */
    g_autoptr(Stanza) res = stanza("<iq xmlns='jabber:client' type='result' id='r'/>");
    g_assert_null(stanza_error_reply(res, STANZA_ERR_SERVICE_UNAVAILABLE, NULL));
    g_assert_null(stanza_error_reply(e, STANZA_ERR_SERVICE_UNAVAILABLE, NULL));

    /* no from: the reply has no to (it goes back over the stream it came from) */
    g_autoptr(Stanza) anon = stanza("<iq xmlns='jabber:client' type='get' id='a'/>");
    g_autoptr(Stanza) ae = stanza_error_reply(anon, STANZA_ERR_FEATURE_NOT_IMPLEMENTED, NULL);
    g_assert_null(ae->to);
    g_assert_null(ae->from);
    g_autofree char *as = wire(ae);
    g_assert_cmpstr(as, ==,
                    "<iq id='a' type='error'><error type='cancel'>"
                    "<feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                    "</error></iq>");
}

static void test_iq_result(void)
{
    g_autoptr(Stanza) iq = stanza("<iq xmlns='jabber:server' type='get' id='p1' "
                                  "from='example.net' to='example.com' xml:lang='de'>"
                                  "<ping xmlns='urn:xmpp:ping'/></iq>");
    g_autoptr(Stanza) r = stanza_iq_result(iq);
    g_assert_nonnull(r);
    g_assert_cmpint(r->kind, ==, STANZA_KIND_IQ);
    g_assert_cmpstr(r->type, ==, "result");
    g_assert_cmpstr(r->id, ==, "p1");
    g_assert_cmpstr(jid_full(r->to), ==, "example.net");
    g_assert_cmpstr(jid_full(r->from), ==, "example.com");
    g_assert_cmpstr(r->el->ns, ==, XML_NS_SERVER);
    g_assert_null(stanza_iq_payload(r));
    g_autofree char *s = xml_node_to_string(r->el);
    g_assert_cmpstr(s, ==,
                    "<iq xmlns='jabber:server' id='p1' xml:lang='de' type='result' "
                    "to='example.net' from='example.com'/>");
    g_assert_null(stanza_iq_result(r)); /* a result is not answered */
}

static void test_error_tables(void)
{
    /* RFC 6120 §8.3.3 */
    static const struct {
        StanzaErr err;
        const char *cond, *type;
    } expect[] = {
        {STANZA_ERR_BAD_REQUEST, "bad-request", "modify"},
        {STANZA_ERR_CONFLICT, "conflict", "cancel"},
        {STANZA_ERR_FEATURE_NOT_IMPLEMENTED, "feature-not-implemented", "cancel"},
        {STANZA_ERR_FORBIDDEN, "forbidden", "auth"},
        {STANZA_ERR_GONE, "gone", "cancel"},
        {STANZA_ERR_INTERNAL_SERVER_ERROR, "internal-server-error", "cancel"},
        {STANZA_ERR_ITEM_NOT_FOUND, "item-not-found", "cancel"},
        {STANZA_ERR_JID_MALFORMED, "jid-malformed", "modify"},
        {STANZA_ERR_NOT_ACCEPTABLE, "not-acceptable", "modify"},
        {STANZA_ERR_NOT_ALLOWED, "not-allowed", "cancel"},
        {STANZA_ERR_NOT_AUTHORIZED, "not-authorized", "auth"},
        {STANZA_ERR_POLICY_VIOLATION, "policy-violation", "modify"},
        {STANZA_ERR_RECIPIENT_UNAVAILABLE, "recipient-unavailable", "wait"},
        {STANZA_ERR_REDIRECT, "redirect", "modify"},
        {STANZA_ERR_REGISTRATION_REQUIRED, "registration-required", "auth"},
        {STANZA_ERR_REMOTE_SERVER_NOT_FOUND, "remote-server-not-found", "cancel"},
        {STANZA_ERR_REMOTE_SERVER_TIMEOUT, "remote-server-timeout", "wait"},
        {STANZA_ERR_RESOURCE_CONSTRAINT, "resource-constraint", "wait"},
        {STANZA_ERR_SERVICE_UNAVAILABLE, "service-unavailable", "cancel"},
        {STANZA_ERR_SUBSCRIPTION_REQUIRED, "subscription-required", "auth"},
        {STANZA_ERR_UNDEFINED_CONDITION, "undefined-condition", "cancel"},
        {STANZA_ERR_UNEXPECTED_REQUEST, "unexpected-request", "wait"},
    };
    G_STATIC_ASSERT(G_N_ELEMENTS(expect) == STANZA_ERR__COUNT);
    g_autoptr(Stanza) m = stanza("<message xmlns='jabber:client' from='a@example.com' id='1'/>");
    for (gsize i = 0; i < G_N_ELEMENTS(expect); i++) {
        g_assert_cmpstr(stanza_err_condition(expect[i].err), ==, expect[i].cond);
        g_assert_cmpstr(stanza_err_type(expect[i].err), ==, expect[i].type);
        /* each condition in an actual reply */
        Stanza *e = stanza_error_reply(m, expect[i].err, "why");
        XmlNode *error = xml_node_child(e->el, XML_NS_CLIENT, "error");
        g_assert_nonnull(error);
        g_assert_cmpstr(xml_node_attr(error, "type"), ==, expect[i].type);
        XmlNode *cond = xml_node_first_element(error);
        g_assert_true(xml_node_is(cond, "urn:ietf:params:xml:ns:xmpp-stanzas", expect[i].cond));
        XmlNode *text = xml_node_next_element(cond, NULL, NULL);
        g_assert_true(xml_node_is(text, "urn:ietf:params:xml:ns:xmpp-stanzas", "text"));
        g_autofree char *t = xml_node_text(text);
        g_assert_cmpstr(t, ==, "why");
        g_assert_null(xml_node_next_element(text, NULL, NULL));
        stanza_unref(e);
    }
    g_assert_cmpstr(stanza_err_condition(STANZA_ERR__COUNT), ==, "undefined-condition");

    /* RFC 6120 §4.9.3 */
    static const char *const stream_conds[] = {
        "bad-format",
        "bad-namespace-prefix",
        "conflict",
        "connection-timeout",
        "host-gone",
        "host-unknown",
        "improper-addressing",
        "internal-server-error",
        "invalid-from",
        "invalid-namespace",
        "invalid-xml",
        "not-authorized",
        "not-well-formed",
        "policy-violation",
        "remote-connection-failed",
        "reset",
        "resource-constraint",
        "restricted-xml",
        "see-other-host",
        "system-shutdown",
        "undefined-condition",
        "unsupported-encoding",
        "unsupported-feature",
        "unsupported-stanza-type",
        "unsupported-version",
    };
    G_STATIC_ASSERT(G_N_ELEMENTS(stream_conds) == STREAM_ERR__COUNT);
    for (gsize i = 0; i < G_N_ELEMENTS(stream_conds); i++)
        g_assert_cmpstr(stream_err_condition((StreamErr)i), ==, stream_conds[i]);
    g_assert_cmpstr(stream_err_condition(STREAM_ERR__COUNT), ==, "undefined-condition");
}

static void test_stream_error(void)
{
    GString *out = g_string_new("x");
    stream_error_serialize(STREAM_ERR_NOT_WELL_FORMED, NULL, out);
    g_assert_cmpstr(out->str, ==,
                    "x<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                    "</stream:error>");
    g_string_truncate(out, 0);
    stream_error_serialize(STREAM_ERR_POLICY_VIOLATION, "stanza > 64 KiB & 'more'", out);
    g_assert_cmpstr(out->str, ==,
                    "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                    "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>stanza &gt; 64 KiB &amp; "
                    "&apos;more&apos;</text></stream:error>");

    /* it parses inside a stream whose header binds stream: */
    GString *doc = g_string_new("<stream:stream xmlns='jabber:client' "
                                "xmlns:stream='http://etherx.jabber.org/streams'>");
    g_string_append(doc, out->str);
    g_autoptr(XmlNode) got = NULL;
    GError *error = NULL;
    g_string_append(doc, "</stream:stream>");
    got = xml_parse_fragment(doc->str, doc->len, &error);
    g_assert_no_error(error);
    XmlNode *err = xml_node_first_element(got);
    g_assert_true(xml_node_is(err, XML_NS_STREAMS, "error"));
    g_assert_true(xml_node_is(xml_node_first_element(err), "urn:ietf:params:xml:ns:xmpp-streams",
                              "policy-violation"));
    g_string_free(doc, TRUE);
    g_string_free(out, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/stanza/new", test_new);
    g_test_add_func("/stanza/new-malformed", test_new_malformed);
    g_test_add_func("/stanza/ref-copy", test_ref_copy);
    g_test_add_func("/stanza/set-addr", test_set_addr);
    g_test_add_func("/stanza/error/message", test_error_message);
    g_test_add_func("/stanza/error/presence", test_error_presence);
    g_test_add_func("/stanza/error/iq", test_error_iq);
    g_test_add_func("/stanza/error/tables", test_error_tables);
    g_test_add_func("/stanza/iq-result", test_iq_result);
    g_test_add_func("/stanza/stream-error", test_stream_error);
    return g_test_run();
}
