/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_xml.c — restricted-XML stream parser, element tree and serializer */
#include "router/xml.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------------------- */

static int cmp_attr(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* A canonical dump showing node boundaries: <{ns}name {ans}a='v'...>children</> 'text' */
static void dump(const XmlNode *n, GString *out)
{
    if (n->kind == XML_NODE_TEXT) {
        char *esc = g_strescape(n->text, NULL);
        g_assert_cmpuint(strlen(n->text), ==, n->text_len);
        g_string_append_printf(out, "'%s'", esc);
        g_free(esc);
        return;
    }
    g_string_append_printf(out, "<{%s}%s", n->ns, n->name);
    GPtrArray *attrs = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < n->nattrs; i++) {
        char *esc = g_strescape(n->attrs[i].value, NULL);
        g_ptr_array_add(attrs, g_strdup_printf(" {%s}%s='%s'", n->attrs[i].ns ? n->attrs[i].ns : "",
                                               n->attrs[i].name, esc));
        g_free(esc);
    }
    g_ptr_array_sort(attrs, cmp_attr);
    for (guint i = 0; i < attrs->len; i++)
        g_string_append(out, attrs->pdata[i]);
    g_ptr_array_unref(attrs);
    g_string_append_c(out, '>');
    for (const XmlNode *c = n->first_child; c; c = c->next) {
        g_assert_true(c->parent == n);
        if (!c->next)
            g_assert_true(n->last_child == c);
        dump(c, out);
    }
    g_string_append(out, "</>");
}

static char *dump_str(const XmlNode *n)
{
    GString *s = g_string_new(NULL);
    dump(n, s);
    return g_string_free(s, FALSE);
}

typedef struct {
    GString *log;
    XmlParser *p;
    XmlError err;
    int nerr;
    int nclose;
    int nel;
    const char *stop_on; /* xml_parser_stop() when an element of this name completes */
    gboolean stop_on_open;
} Rec;

static void rec_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                     guint nattrs, const char *default_ns)
{
    Rec *r = ud;
    g_string_append_printf(r->log, "open {%s}%s default=%s", ns, name, default_ns);
    for (guint i = 0; i < nattrs; i++)
        g_string_append_printf(r->log, " {%s}%s=%s", attrs[i].ns ? attrs[i].ns : "", attrs[i].name,
                               attrs[i].value);
    g_assert_null(attrs[nattrs].name);
    g_string_append_c(r->log, '\n');
    if (r->stop_on_open)
        xml_parser_stop(r->p);
}

static void rec_element(gpointer ud, XmlNode *el)
{
    Rec *r = ud;
    g_assert_null(el->parent);
    g_assert_null(el->next);
    dump(el, r->log);
    g_string_append_c(r->log, '\n');
    r->nel++;
    if (r->stop_on && strcmp(el->name, r->stop_on) == 0)
        xml_parser_stop(r->p);
    xml_node_free(el);
}

static void rec_close(gpointer ud)
{
    Rec *r = ud;
    r->nclose++;
    g_string_append(r->log, "close\n");
}

static void rec_error(gpointer ud, XmlError err, const char *text)
{
    Rec *r = ud;
    g_assert_nonnull(text);
    r->err = err;
    r->nerr++;
    g_string_append_printf(r->log, "error %d\n", err);
}

static const XmlParserCallbacks rec_cb = {rec_open, rec_element, rec_close, rec_error, NULL};

static void rec_init(Rec *r, const XmlLimits *lim)
{
    memset(r, 0, sizeof(*r));
    r->log = g_string_new(NULL);
    r->p = xml_parser_new(&rec_cb, r, lim);
}

static char *rec_done(Rec *r)
{
    xml_parser_free(r->p);
    return g_string_free(r->log, FALSE);
}

/* Feed s in pieces: at = split offset (-1: whole, -2: byte by byte). Returns the log. */
static char *run(const char *s, gsize len, gssize at, const XmlLimits *lim)
{
    Rec r;
    rec_init(&r, lim);
    if (at == -2) {
        for (gsize i = 0; i < len; i++)
            if (xml_parser_feed(r.p, s + i, 1, NULL) != XML_FEED_OK)
                break;
    } else if (at >= 0) {
        if (xml_parser_feed(r.p, s, at, NULL) == XML_FEED_OK)
            xml_parser_feed(r.p, s + at, len - at, NULL);
    } else {
        gsize consumed = 12345;
        XmlFeedResult res = xml_parser_feed(r.p, s, len, &consumed);
        g_assert_cmpint(res == XML_FEED_ERROR, ==, r.nerr > 0);
        if (res == XML_FEED_OK)
            g_assert_cmpuint(consumed, ==, len);
    }
    g_assert_cmpint(r.nerr, <=, 1);
    return rec_done(&r);
}

/* The error a document gives (XML_ERR_NONE when none); also checks byte-by-byte feeding. */
static XmlError doc_error_lim(const char *doc, gssize len, const XmlLimits *lim)
{
    gsize n = len < 0 ? strlen(doc) : (gsize)len;
    Rec r;
    rec_init(&r, lim);
    XmlFeedResult res = xml_parser_feed(r.p, doc, n, NULL);
    XmlError err = r.nerr ? r.err : XML_ERR_NONE;
    g_assert_cmpint(res == XML_FEED_ERROR, ==, r.nerr == 1);
    /* sticky: no more callbacks after an error */
    if (res == XML_FEED_ERROR) {
        int nel = r.nel;
        g_assert_cmpint(xml_parser_feed(r.p, "<a/>", 4, NULL), ==, XML_FEED_ERROR);
        g_assert_cmpint(r.nerr, ==, 1);
        g_assert_cmpint(r.nel, ==, nel);
    }
    g_free(rec_done(&r));

    Rec b;
    rec_init(&b, lim);
    for (gsize i = 0; i < n; i++)
        if (xml_parser_feed(b.p, doc + i, 1, NULL) != XML_FEED_OK)
            break;
    g_assert_cmpint(b.nerr ? b.err : XML_ERR_NONE, ==, err);
    g_free(rec_done(&b));
    return err;
}

static XmlError doc_error(const char *doc)
{
    return doc_error_lim(doc, -1, NULL);
}

#define HDR                                                                                        \
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "        \
    "to='example.com' version='1.0'>"

/* ---------------------------------------------------------------------------------------
 * trees
 * ------------------------------------------------------------------------------------- */

static void test_tree_build(void)
{
    g_autoptr(XmlNode) m = xml_node_new(XML_NS_CLIENT, "message");
    g_assert_cmpstr(m->ns, ==, XML_NS_CLIENT);
    g_assert_cmpstr(m->name, ==, "message");

    xml_node_set_attr(m, "to", "juliet@example.com");
    xml_node_set_attr(m, "id", "m1");
    xml_node_set_attr_ns(m, XML_NS_XML, "lang", "en");
    const char *id = xml_node_attr(m, "id");
    /* replacing one attribute leaves the strings of the others valid */
    xml_node_set_attr(m, "to", "romeo@example.net");
    xml_node_set_attr(m, "type", "chat");
    g_assert_cmpstr(id, ==, "m1");
    g_assert_cmpstr(xml_node_attr(m, "to"), ==, "romeo@example.net");
    g_assert_cmpstr(xml_node_attr_ns(m, XML_NS_XML, "lang"), ==, "en");
    g_assert_null(xml_node_attr(m, "lang"));
    g_assert_cmpstr(xml_node_attr_ns(m, NULL, "type"), ==, "chat");
    g_assert_cmpuint(m->nattrs, ==, 4);
    /* setting from the attribute's own value */
    xml_node_set_attr(m, "to", xml_node_attr(m, "to"));
    g_assert_cmpstr(xml_node_attr(m, "to"), ==, "romeo@example.net");
    xml_node_set_attr(m, "to", NULL);
    xml_node_set_attr(m, "nothere", NULL);
    g_assert_null(xml_node_attr(m, "to"));
    g_assert_cmpuint(m->nattrs, ==, 3);
    g_assert_cmpstr(id, ==, "m1");

    XmlNode *body = xml_node_add_child(m, NULL, "body");
    g_assert_cmpstr(body->ns, ==, XML_NS_CLIENT);
    g_assert_true(body->parent == m);
    xml_node_add_text(body, "Hello", -1);
    xml_node_add_text(body, ", world!xx", 8);
    xml_node_add_text(body, "", 0);
    g_assert_true(body->first_child == body->last_child); /* merged */
    g_assert_cmpuint(body->first_child->text_len, ==, 13);
    g_autofree char *t = xml_node_text(body);
    g_assert_cmpstr(t, ==, "Hello, world!");
    g_autofree char *t0 = xml_node_text(m);
    g_assert_cmpstr(t0, ==, "");

    XmlNode *x1 = xml_node_add_child(m, "urn:x", "x");
    XmlNode *y = xml_node_add_child(m, "urn:y", "y");
    XmlNode *x2 = xml_node_append(m, xml_node_new("urn:x", "x"));
    xml_node_add_text(m, "tail", -1);
    g_assert_true(xml_node_first_element(m) == body);
    g_assert_true(xml_node_child(m, "urn:x", NULL) == x1);
    g_assert_true(xml_node_child(m, NULL, "y") == y);
    g_assert_true(xml_node_child(m, "urn:x", "y") == NULL);
    g_assert_true(xml_node_next_element(x1, "urn:x", "x") == x2);
    g_assert_true(xml_node_next_element(x1, NULL, NULL) == y);
    g_assert_null(xml_node_next_element(x2, NULL, NULL));
    g_assert_true(xml_node_is(x1, "urn:x", "x"));
    g_assert_true(xml_node_is(x1, NULL, "x"));
    g_assert_false(xml_node_is(x1, "urn:y", "x"));
    g_assert_false(xml_node_is(m->last_child, NULL, NULL)); /* text */
    g_autofree char *tail = xml_node_text(m);
    g_assert_cmpstr(tail, ==, "tail");

    /* unlink middle, first and last */
    xml_node_unlink(y);
    g_assert_null(y->parent);
    g_assert_true(x1->next == x2);
    xml_node_free(y);
    XmlNode *first = m->first_child;
    xml_node_unlink(first);
    g_assert_true(m->first_child == x1);
    xml_node_free(first);
    XmlNode *last = m->last_child;
    xml_node_unlink(last);
    g_assert_true(m->last_child == x2);
    g_assert_null(x2->next);
    xml_node_free(last);
    /* freeing a linked child unlinks it */
    xml_node_free(x1);
    g_assert_true(m->first_child == x2);

    g_autoptr(XmlNode) c = xml_node_copy(m);
    g_autofree char *d1 = dump_str(m);
    g_autofree char *d2 = dump_str(c);
    g_assert_cmpstr(d1, ==, d2);
    xml_node_set_attr(c, "id", "other");
    g_assert_cmpstr(xml_node_attr(m, "id"), ==, "m1");

    g_autoptr(XmlNode) nons = xml_node_new(NULL, "x");
    g_assert_cmpstr(nons->ns, ==, "");
}

/* Deep trees are freed, copied and serialized without recursion. */
static void test_tree_deep(void)
{
    const guint depth = 50000;
    XmlNode *root = xml_node_new("urn:d", "d"), *cur = root;
    for (guint i = 0; i < depth; i++) {
        cur = xml_node_add_child(cur, NULL, "d");
        if (i % 7 == 0)
            xml_node_add_text(cur, "t", 1);
    }
    XmlNode *copy = xml_node_copy(root);
    char *s1 = xml_node_to_string(root);
    char *s2 = xml_node_to_string(copy);
    g_assert_cmpstr(s1, ==, s2);
    GError *error = NULL;
    XmlNode *parsed = xml_parse_fragment(s1, -1, &error);
    g_assert_no_error(error);
    char *s3 = xml_node_to_string(parsed);
    g_assert_cmpstr(s1, ==, s3);
    g_free(s1);
    g_free(s2);
    g_free(s3);
    xml_node_free(root);
    xml_node_free(copy);
    xml_node_free(parsed);
}

/* ---------------------------------------------------------------------------------------
 * serializer
 * ------------------------------------------------------------------------------------- */

/* What escape() must write for one byte: the reference the fast scanner is checked with. */
static void ref_escape(GString *out, const char *s, gsize len, gboolean attr)
{
    for (gsize i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&')
            g_string_append(out, "&amp;");
        else if (c == '<')
            g_string_append(out, "&lt;");
        else if (c == '>')
            g_string_append(out, "&gt;");
        else if (c == '\r')
            g_string_append(out, "&#13;");
        else if (attr && c == '"')
            g_string_append(out, "&quot;");
        else if (attr && c == '\'')
            g_string_append(out, "&apos;");
        else if (attr && c == '\n')
            g_string_append(out, "&#10;");
        else if (attr && c == '\t')
            g_string_append(out, "&#9;");
        else if (c < 0x20 && c != '\n' && c != '\t')
            g_string_append(out, "\xEF\xBF\xBD");
        else
            g_string_append_c(out, (char)c);
    }
}

/* The escaper scans 16 bytes at a time where it can: every byte value at every offset of
 * strings longer and shorter than a step, in attribute values and in text, byte for byte
 * against the reference. */
static void test_escape_every_position(void)
{
    static const gsize lens[] = {1, 15, 16, 17, 31, 33, 64, 100};
    for (guint li = 0; li < G_N_ELEMENTS(lens); li++) {
        gsize len = lens[li];
        for (guint pos = 0; pos < len; pos++) {
            for (guint v = 1; v < 256; v++) {
                char buf[128];
                memset(buf, 'a' + (int)(pos % 26), len);
                buf[pos] = (char)v;
                buf[len] = '\0';
                for (int attr = 0; attr < 2; attr++) {
                    g_autoptr(GString) want = g_string_new(NULL);
                    g_autoptr(GString) got = g_string_new(NULL);
                    ref_escape(want, buf, len, attr);
                    if (attr) {
                        xml_escape_append(got, buf, (gssize)len);
                    } else {
                        g_autoptr(XmlNode) t = xml_node_new("", "t");
                        xml_node_add_text(t, buf, (gssize)len);
                        g_autofree char *all = xml_node_to_string(t);
                        /* <t>...</t> */
                        g_string_append_len(got, all + 3, (gssize)strlen(all) - 7);
                    }
                    if (strcmp(want->str, got->str) != 0)
                        g_error("len %zu pos %u byte 0x%02x %s: got '%s' want '%s'", len, pos, v,
                                attr ? "attr" : "text", got->str, want->str);
                }
            }
        }
    }
    /* and a long run with a special byte every few places, both modes */
    g_autoptr(GString) mixed = g_string_new(NULL);
    static const char pattern[] = "ab<c&d\"e'f\r\n\tg>h\x01ij klmnopqrstu";
    for (guint i = 0; i < 2000; i++)
        g_string_append_c(mixed, pattern[i % (sizeof pattern - 1)]);
    g_autoptr(GString) want = g_string_new(NULL);
    g_autoptr(GString) got = g_string_new(NULL);
    ref_escape(want, mixed->str, mixed->len, TRUE);
    xml_escape_append(got, mixed->str, (gssize)mixed->len);
    g_assert_cmpstr(got->str, ==, want->str);
}

static void test_escape(void)
{
    GString *s = g_string_new(NULL);
    xml_escape_append(s, "a&b<c>d\"e'f\r\n\tg\xC3\xA9", -1);
    g_assert_cmpstr(s->str, ==, "a&amp;b&lt;c&gt;d&quot;e&apos;f&#13;&#10;&#9;g\xC3\xA9");
    g_string_truncate(s, 0);
    xml_escape_append(s, "x<yz", 2);
    g_assert_cmpstr(s->str, ==, "x&lt;");
    g_string_free(s, TRUE);

    g_autoptr(XmlNode) a = xml_node_new("", "a");
    xml_node_set_attr(a, "v", "1 & 2 < 3 > 0 \"q\" 'a'\r\n\t");
    xml_node_add_text(a, "x & y < z > w \"q\" 'a' ]]> \r\n\t", -1);
    g_autofree char *out = xml_node_to_string(a);
    g_assert_cmpstr(out, ==,
                    "<a v='1 &amp; 2 &lt; 3 &gt; 0 &quot;q&quot; &apos;a&apos;&#13;&#10;&#9;'>"
                    "x &amp; y &lt; z &gt; w \"q\" 'a' ]]&gt; &#13;\n\t</a>");

    /* C0 controls are not XML characters: replaced, output stays well-formed */
    g_autoptr(XmlNode) b = xml_node_new("", "b");
    xml_node_add_text(b, "bell\x07!", -1);
    xml_node_set_attr(b, "c", "\x03red");
    g_autofree char *bs = xml_node_to_string(b);
    g_assert_cmpstr(bs, ==, "<b c='\xEF\xBF\xBDred'>bell\xEF\xBF\xBD!</b>");

    g_autoptr(XmlNode) e = xml_node_new("", "empty");
    g_autofree char *es = xml_node_to_string(e);
    g_assert_cmpstr(es, ==, "<empty/>");
}

static char *ser(const XmlNode *n, const char *parent_ns)
{
    GString *s = g_string_new(NULL);
    xml_node_serialize(n, parent_ns, s);
    return g_string_free(s, FALSE);
}

static void test_serialize_ns(void)
{
    /* a stanza parsed from s2s, written to a c2s stream and to storage */
    g_autoptr(XmlNode) m = xml_node_new(XML_NS_SERVER, "message");
    xml_node_set_attr(m, "to", "juliet@example.com");
    xml_node_set_attr_ns(m, XML_NS_XML, "lang", "en");
    xml_node_add_text(xml_node_add_child(m, NULL, "body"), "hi", -1);
    XmlNode *x = xml_node_add_child(m, "urn:x", "x");
    xml_node_add_child(x, NULL, "inner");
    xml_node_add_child(x, XML_NS_SERVER, "server-again");
    xml_node_add_child(x, "", "nons");
    xml_node_add_child(m, NULL, "thread");

    g_autofree char *c2s = ser(m, XML_NS_CLIENT);
    g_assert_cmpstr(c2s, ==,
                    "<message to='juliet@example.com' xml:lang='en'><body>hi</body>"
                    "<x xmlns='urn:x'><inner/><server-again xmlns='jabber:server'/>"
                    "<nons xmlns=''/></x><thread/></message>");
    g_autofree char *s2s = ser(m, XML_NS_SERVER);
    g_assert_cmpstr(s2s, ==, c2s);
    g_autofree char *store = xml_node_to_string(m);
    g_assert_cmpstr(store, ==,
                    "<message xmlns='jabber:server' to='juliet@example.com' xml:lang='en'>"
                    "<body>hi</body><x xmlns='urn:x'><inner/>"
                    "<server-again xmlns='jabber:server'/><nons xmlns=''/></x><thread/>"
                    "</message>");
    /* a non-content element keeps its namespace in a stream */
    g_autoptr(XmlNode) f = xml_node_new(XML_NS_STREAMS, "features");
    xml_node_add_child(f, "urn:ietf:params:xml:ns:xmpp-tls", "starttls");
    g_autofree char *fs = ser(f, XML_NS_CLIENT);
    g_assert_cmpstr(fs, ==,
                    "<features xmlns='http://etherx.jabber.org/streams'>"
                    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></features>");

    /* XEP-0297: a forwarded jabber:client stanza stays jabber:client on s2s */
    g_autoptr(XmlNode) c = xml_node_new(XML_NS_CLIENT, "message");
    XmlNode *fw = xml_node_add_child(xml_node_add_child(c, "urn:xmpp:carbons:2", "received"),
                                     "urn:xmpp:forward:0", "forwarded");
    xml_node_add_child(xml_node_add_child(fw, XML_NS_CLIENT, "message"), NULL, "body");
    g_autofree char *cs = ser(c, XML_NS_SERVER);
    g_assert_cmpstr(cs, ==,
                    "<message><received xmlns='urn:xmpp:carbons:2'>"
                    "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'>"
                    "<body/></message></forwarded></received></message>");

    /* namespaced attributes get a prefix declared on their element */
    g_autoptr(XmlNode) a = xml_node_new("urn:a", "a");
    xml_node_set_attr_ns(a, "urn:p", "one", "1");
    xml_node_set_attr(a, "plain", "p");
    xml_node_set_attr_ns(a, "urn:q", "two", "2");
    xml_node_set_attr_ns(a, "urn:p", "three", "3");
    xml_node_set_attr_ns(a, "", "empty-ns", "e");
    g_assert_cmpstr(xml_node_attr(a, "empty-ns"), ==, "e");
    XmlNode *b = xml_node_add_child(a, NULL, "b");
    xml_node_set_attr_ns(b, "urn:q", "two", "2b");
    g_autofree char *as = xml_node_to_string(a);
    g_assert_cmpstr(as, ==,
                    "<a xmlns='urn:a' xmlns:a0='urn:p' a0:one='1' plain='p' xmlns:a2='urn:q' "
                    "a2:two='2' a0:three='3' empty-ns='e'><b xmlns:a0='urn:q' a0:two='2b'/></a>");
    GError *error = NULL;
    g_autoptr(XmlNode) back = xml_parse_fragment(as, -1, &error);
    g_assert_no_error(error);
    g_autofree char *d1 = dump_str(a);
    g_autofree char *d2 = dump_str(back);
    g_assert_cmpstr(d1, ==, d2);

    /* an attribute named like a namespace declaration is never written */
    g_autoptr(XmlNode) bad = xml_node_new("urn:a", "a");
    xml_node_set_attr(bad, "xmlns", "urn:evil");
    xml_node_set_attr(bad, "xmlns:foo", "urn:evil");
    xml_node_set_attr(bad, "xmlnsfoo", "ok");
    g_autofree char *bads = xml_node_to_string(bad);
    g_assert_cmpstr(bads, ==, "<a xmlns='urn:a' xmlnsfoo='ok'/>");
}

static const char *const nasty[] = {
    "&",
    "<",
    ">",
    "\"",
    "'",
    "\r",
    "\n",
    "\t",
    " ",
    "\r\n",
    "]]>",
    "&amp;",
    "\xC3\xA9",
    "\xF0\x9F\x98\x80",
    "\xE2\x80\xA8",
    "a",
    "bc",
    "xmlns",
    "  ",
    "\xEF\xBF\xBD",
    "<!--",
    "?>",
};
static const char *const names[] = {"a", "b", "message", "body", "x-y", "z.z", "_u", "n1"};
static const char *const nss[] = {"", "", XML_NS_CLIENT, XML_NS_SERVER, "urn:a", "urn:b&c'd"};
static const char *const attr_nss[] = {NULL, NULL, NULL, XML_NS_XML, "urn:a", "urn:p\"q"};

static char *random_text(GRand *r)
{
    GString *s = g_string_new(NULL);
    gint n = g_rand_int_range(r, 1, 6);
    for (gint i = 0; i < n; i++)
        g_string_append(s, nasty[g_rand_int_range(r, 0, G_N_ELEMENTS(nasty))]);
    return g_string_free(s, FALSE);
}

static XmlNode *random_tree(GRand *r, const char *ns, int depth)
{
    XmlNode *n = xml_node_new(ns ? ns : nss[g_rand_int_range(r, 0, G_N_ELEMENTS(nss))],
                              names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))]);
    gint nattrs = g_rand_int_range(r, 0, 5);
    for (gint i = 0; i < nattrs; i++) {
        char *v = random_text(r);
        xml_node_set_attr_ns(n, attr_nss[g_rand_int_range(r, 0, G_N_ELEMENTS(attr_nss))],
                             names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))], v);
        g_free(v);
    }
    gint nchildren = depth < 5 ? g_rand_int_range(r, 0, 5) : 0;
    for (gint i = 0; i < nchildren; i++) {
        if (g_rand_boolean(r)) {
            char *t = random_text(r);
            xml_node_add_text(n, t, -1);
            g_free(t);
        } else {
            xml_node_append(n, random_tree(r, g_rand_boolean(r) ? n->ns : NULL, depth + 1));
        }
    }
    return n;
}

static void content_stanza_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                                guint nattrs, const char *default_ns)
{
}

static void keep_element(gpointer ud, XmlNode *el)
{
    *(XmlNode **)ud = el;
}

/* Serializer output re-parses to the same tree: as a fragment, and inside a stream. */
static void test_roundtrip(void)
{
    GRand *r = g_rand_new_with_seed(20240601);
    for (int i = 0; i < 400; i++) {
        XmlNode *tree = random_tree(r, NULL, 0);
        char *before = dump_str(tree);
        char *s = xml_node_to_string(tree);
        GError *error = NULL;
        XmlNode *back = xml_parse_fragment(s, -1, &error);
        g_assert_no_error(error);
        char *after = dump_str(back);
        g_assert_cmpstr(before, ==, after);
        g_free(after);
        xml_node_free(back);
        g_free(s);
        g_free(before);

        /* in a jabber:client stream, with the stream's default namespace in scope */
        XmlNode *st = xml_node_new(XML_NS_CLIENT, "message");
        xml_node_append(st, tree);
        before = dump_str(st);
        GString *doc = g_string_new(HDR);
        xml_node_serialize(st, XML_NS_CLIENT, doc);
        XmlNode *got = NULL;
        XmlParserCallbacks cb = {content_stanza_open, keep_element, NULL, NULL, NULL};
        XmlParser *p = xml_parser_new(&cb, &got, NULL);
        g_assert_cmpint(xml_parser_feed(p, doc->str, doc->len, NULL), ==, XML_FEED_OK);
        g_assert_nonnull(got);
        after = dump_str(got);
        g_assert_cmpstr(before, ==, after);
        xml_parser_free(p);
        xml_node_free(got);
        xml_node_free(st);
        g_string_free(doc, TRUE);
        g_free(before);
        g_free(after);
    }
    g_rand_free(r);
}

/* ---------------------------------------------------------------------------------------
 * stream parser
 * ------------------------------------------------------------------------------------- */

static const char transcript[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n" HDR
    "<message to='juliet@example.com' id='m1' type='chat' xml:lang='fr'>"
    "<body>Hello &amp; &lt;world&gt; &#233;t&#xE9; caf\xC3\xA9 \xF0\x9F\x98\x80 &quot;&apos;</body>"
    "<d:data xmlns:d='urn:x' d:attr='v' plain='a&#10;b\r\nc\td'>a<b/>c\r\nd</d:data></message>"
    " \n\t\r\n "
    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>\n"
    "<presence/>"
    "<message><body><![CDATA[<not a tag> & ]]]]><![CDATA[> stuff]]></body></message>"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
    "</starttls></stream:features>"
    "</stream:stream>";

static const char transcript_log[] =
    "open {http://etherx.jabber.org/streams}stream default=jabber:client {}to=example.com "
    "{}version=1.0\n"
    "<{jabber:client}message {http://www.w3.org/XML/1998/namespace}lang='fr' {}id='m1' "
    "{}to='juliet@example.com' {}type='chat'><{jabber:client}body>"
    "'Hello & <world> \\303\\251t\\303\\251 caf\\303\\251 \\360\\237\\230\\200 \\\"''</>"
    "<{urn:x}data {urn:x}attr='v' {}plain='a\\nb c d'>'a'<{jabber:client}b></>'c\\nd'</></>\n"
    "<{jabber:client}iq {}id='p1' {}type='get'><{urn:xmpp:ping}ping></></>\n"
    "<{jabber:client}presence></>\n"
    "<{jabber:client}message><{jabber:client}body>'<not a tag> & ]]> stuff'</></>\n"
    "<{http://etherx.jabber.org/streams}features>"
    "<{urn:ietf:params:xml:ns:xmpp-tls}starttls><{urn:ietf:params:xml:ns:xmpp-tls}required>"
    "</></></>\n"
    "close\n";

static void test_stream_basic(void)
{
    char *log = run(transcript, sizeof(transcript) - 1, -1, NULL);
    g_assert_cmpstr(log, ==, transcript_log);
    g_free(log);

    /* xml:lang on the header keeps its namespace; no default namespace -> "" */
    const char hdr[] = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                       "xml:lang='en' from='a.example'><stream:error/>";
    log = run(hdr, sizeof(hdr) - 1, -1, NULL);
    g_assert_cmpstr(log, ==,
                    "open {http://etherx.jabber.org/streams}stream default= "
                    "{http://www.w3.org/XML/1998/namespace}lang=en {}from=a.example\n"
                    "<{http://etherx.jabber.org/streams}error></>\n");
    g_free(log);
}

/* The same events whatever the chunking (RFC 6120 §4.2: a stanza may arrive in pieces). */
static void test_stream_split(void)
{
    gsize len = sizeof(transcript) - 1;
    for (gsize at = 0; at <= len; at++) {
        char *log = run(transcript, len, at, NULL);
        g_assert_cmpstr(log, ==, transcript_log);
        g_free(log);
    }
    char *log = run(transcript, len, -2, NULL);
    g_assert_cmpstr(log, ==, transcript_log);
    g_free(log);
}

/* Each stanza is delivered as soon as its last byte arrives, even after a large token
 * (no reparse deferral). */
static void test_stream_immediate(void)
{
    Rec r;
    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR, strlen(HDR), NULL), ==, XML_FEED_OK);
    g_assert_cmpstr(r.log->str, !=, "");

    GString *big = g_string_new("<message id='");
    for (int i = 0; i < 200000; i++)
        g_string_append_c(big, 'a' + i % 26);
    g_string_append(big, "'><body>");
    for (int i = 0; i < 100000; i++)
        g_string_append_c(big, 'A' + i % 26);
    g_string_append(big, "</body></message>");
    for (gsize off = 0; off + 1 < big->len; off += 4096)
        xml_parser_feed(r.p, big->str + off, MIN(4096, big->len - 1 - off), NULL);
    g_assert_cmpint(r.nel, ==, 0);
    g_assert_cmpint(xml_parser_feed(r.p, big->str + big->len - 1, 1, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(r.nel, ==, 1);
    /* and a small one right after, one byte at a time */
    const char *small = "<presence/>";
    for (gsize i = 0; i < strlen(small); i++) {
        g_assert_cmpint(r.nel, ==, 1);
        xml_parser_feed(r.p, small + i, 1, NULL);
    }
    g_assert_cmpint(r.nel, ==, 2);
    g_string_free(big, TRUE);
    g_free(rec_done(&r));
}

static void test_stream_whitespace(void)
{
    /* keepalives between stanzas are ignored */
    g_assert_cmpint(doc_error(HDR " \n <presence/>\r\n\t <presence/>  "), ==, XML_ERR_NONE);
    /* other text at stream level is not */
    g_assert_cmpint(doc_error(HDR "hello<presence/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<presence/> x"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "&amp;"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "\xC2\xA0"), ==, XML_ERR_NOT_WELL_FORMED); /* NBSP */
}

static void test_not_well_formed(void)
{
    g_assert_cmpint(doc_error(HDR "<message></iq>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<message a='1' a='2'/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<foo:bar/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<a>&#0;</a>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<a>&#xFFFE;</a>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<a>\x01</a>"), ==, XML_ERR_NOT_WELL_FORMED);
    static const char nul[] = HDR "<a>\0</a>";
    g_assert_cmpint(doc_error_lim(nul, sizeof(nul) - 1, NULL), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<a b=c/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "<a>]]></a>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error(HDR "</stream:stream><presence/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error("hello <a/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(doc_error("<a xmlns:xml='urn:not-xml'/>"), ==, XML_ERR_NOT_WELL_FORMED);
    /* embedded NUL in the header */
    g_assert_cmpint(doc_error_lim("<stream\0:stream>", 16, NULL), ==, XML_ERR_NOT_WELL_FORMED);
}

/* RFC 6120 §11.1 */
static void test_restricted(void)
{
    g_assert_cmpint(doc_error("<!DOCTYPE stream:stream>" HDR), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error("<?xml version='1.0'?><!DOCTYPE x SYSTEM 'http://e/x.dtd'><x/>"), ==,
                    XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error("<!DOCTYPE x [<!ENTITY a 'b'>]>" HDR "<a>&a;</a>"), ==,
                    XML_ERR_RESTRICTED);
    /* billion laughs never gets to expand */
    g_assert_cmpint(doc_error("<!DOCTYPE l [<!ENTITY l0 'ha'><!ENTITY l1 '&l0;&l0;&l0;'>]>"
                              "<l>&l1;</l>"),
                    ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error("<!-- hi -->" HDR), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error(HDR "<!-- between -->"), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error(HDR "<message><!-- inside --></message>"), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error("<?xml-stylesheet href='x'?>" HDR), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error(HDR "<message><?php evil() ?></message>"), ==, XML_ERR_RESTRICTED);
    /* only the five predefined entities may be referenced */
    g_assert_cmpint(doc_error(HDR "<message><body>&nbsp;</body></message>"), ==,
                    XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error(HDR "<message to='&foo;'/>"), ==, XML_ERR_RESTRICTED);
    g_assert_cmpint(doc_error(HDR "<a>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;</a>"), ==, XML_ERR_NONE);
    /* the XML declaration is not a processing instruction */
    g_assert_cmpint(doc_error("<?xml version='1.0'?>" HDR), ==, XML_ERR_NONE);
    g_assert_cmpint(doc_error("\xEF\xBB\xBF<?xml version='1.0' encoding='utf-8'?>" HDR), ==,
                    XML_ERR_NONE);
}

/* RFC 6120 §11.6 */
static void test_utf8(void)
{
    g_assert_cmpint(doc_error(HDR "<a>\xFF</a>"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error(HDR "<a>ok \xC3\x28</a>"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error(HDR "<a>\xC0\xAF</a>"), ==, XML_ERR_INVALID_UTF8);     /* overlong */
    g_assert_cmpint(doc_error(HDR "<a>\xED\xA0\x80</a>"), ==, XML_ERR_INVALID_UTF8); /* surrogate */
    g_assert_cmpint(doc_error(HDR "<a>\xF4\x90\x80\x80</a>"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error(HDR "<a b='x\xE2\x82("), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error(HDR "<a\xFF/>"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error("<stream:stream to='\x80'"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error("<?xml version='1.0' encoding='ISO-8859-1'?>" HDR), ==,
                    XML_ERR_INVALID_UTF8);
    g_assert_cmpint(doc_error("<?xml version='1.0' encoding='UTF-16'?>" HDR), ==,
                    XML_ERR_INVALID_UTF8);
    /* valid multibyte characters split over feeds are fine (checked byte by byte) */
    g_assert_cmpint(doc_error(HDR "<a b='\xE2\x82\xAC'>\xF0\x9F\x98\x80\xE2\x82\xAC</a>"), ==,
                    XML_ERR_NONE);
}

static void test_limits(void)
{
    const char stanza[] = "<message to='a@b'><body>0123456789</body></message>";
    gsize n = strlen(stanza);
    XmlLimits lim = {.max_stanza_bytes = n};
    g_autofree char *doc = g_strconcat(HDR, stanza, " ", stanza, NULL);
    g_assert_cmpint(doc_error_lim(doc, -1, &lim), ==, XML_ERR_NONE);
    lim.max_stanza_bytes = n - 1;
    g_assert_cmpint(doc_error_lim(doc, -1, &lim), ==, XML_ERR_POLICY);
    /* an empty-element stanza counts too */
    lim.max_stanza_bytes = 5;
    g_assert_cmpint(doc_error_lim(HDR "<a/>  <b/>", -1, &lim), ==, XML_ERR_NONE);
    g_assert_cmpint(doc_error_lim(HDR "<abcd/>", -1, &lim), ==, XML_ERR_POLICY);
    /* the header is not a stanza; whitespace keepalives are not counted */
    lim.max_stanza_bytes = 10;
    GString *ws = g_string_new(HDR);
    for (int i = 0; i < 5000; i++)
        g_string_append(ws, " <a/>  ");
    g_assert_cmpint(doc_error_lim(ws->str, ws->len, &lim), ==, XML_ERR_NONE);
    g_string_free(ws, TRUE);

    lim = (XmlLimits){.max_depth = 2};
    g_assert_cmpint(doc_error_lim(HDR "<message><body>x</body></message>", -1, &lim), ==,
                    XML_ERR_NONE);
    g_assert_cmpint(doc_error_lim(HDR "<message><x><y/></x></message>", -1, &lim), ==,
                    XML_ERR_POLICY);
    lim.max_depth = 1;
    g_assert_cmpint(doc_error_lim(HDR "<presence/>", -1, &lim), ==, XML_ERR_NONE);
    g_assert_cmpint(doc_error_lim(HDR "<message><body/></message>", -1, &lim), ==, XML_ERR_POLICY);

    lim = (XmlLimits){.max_attrs = 5};
    g_assert_cmpint(doc_error_lim(HDR "<m a='1' b='2' c='3' d='4' xml:lang='en'/>", -1, &lim), ==,
                    XML_ERR_NONE);
    g_assert_cmpint(doc_error_lim(HDR "<m><x a='1' b='2' c='3' d='4' e='5' f='6'/></m>", -1, &lim),
                    ==, XML_ERR_POLICY);
    lim.max_attrs = 1;
    g_assert_cmpint(doc_error_lim(HDR, -1, &lim), ==, XML_ERR_POLICY); /* root has 2 */

    lim = (XmlLimits){.max_header_bytes = strlen(HDR)};
    g_assert_cmpint(doc_error_lim(HDR "<presence/>", -1, &lim), ==, XML_ERR_NONE);
    lim.max_header_bytes = strlen(HDR) - 1;
    g_assert_cmpint(doc_error_lim(HDR, -1, &lim), ==, XML_ERR_POLICY);
    lim.max_header_bytes = 50;
    g_assert_cmpint(doc_error_lim("<stream:stream xmlns:stream='http://etherx.jabber.org/"
                                  "streams' to='example.com' version='1.0'",
                                  -1, &lim),
                    ==, XML_ERR_POLICY); /* not even complete yet */
}

/* An element that never closes (or a tag that never ends) is cut off at the limit, not
 * buffered forever. */
static void test_limits_unclosed(void)
{
    const gsize limit = 4096, chunk = 100;
    const char *starts[] = {"<message><body>", "<message><body a='", "<message id='x"};

    for (gsize s = 0; s < G_N_ELEMENTS(starts); s++) {
        XmlLimits lim = {.max_stanza_bytes = limit};
        Rec r;
        rec_init(&r, &lim);
        g_assert_cmpint(xml_parser_feed(r.p, HDR, strlen(HDR), NULL), ==, XML_FEED_OK);
        g_assert_cmpint(xml_parser_feed(r.p, starts[s], strlen(starts[s]), NULL), ==, XML_FEED_OK);
        char buf[100];
        memset(buf, 'x', sizeof(buf));
        gsize fed = strlen(starts[s]);
        XmlFeedResult res = XML_FEED_OK;
        while (res == XML_FEED_OK && fed < 100 * limit) {
            res = xml_parser_feed(r.p, buf, chunk, NULL);
            fed += chunk;
        }
        g_assert_cmpint(res, ==, XML_FEED_ERROR);
        g_assert_cmpint(r.err, ==, XML_ERR_POLICY);
        g_assert_cmpuint(fed, >, limit);
        g_assert_cmpuint(fed, <=, limit + chunk);
        g_free(rec_done(&r));
    }

    /* the same within one large feed */
    XmlLimits lim = {.max_stanza_bytes = limit};
    GString *big = g_string_new(HDR "<message><body>");
    for (gsize i = 0; i < 10 * limit; i++)
        g_string_append_c(big, 'y');
    g_assert_cmpint(doc_error_lim(big->str, big->len, &lim), ==, XML_ERR_POLICY);
    g_string_free(big, TRUE);

    /* limits can change on a live parser (e.g. after authentication) */
    Rec r;
    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR "<a>0123456789</a>", strlen(HDR) + 17, NULL), ==,
                    XML_FEED_OK);
    lim.max_stanza_bytes = 10;
    xml_parser_set_limits(r.p, &lim);
    g_assert_cmpint(xml_parser_feed(r.p, "<a>0123456789</a>", 17, NULL), ==, XML_FEED_ERROR);
    g_assert_cmpint(r.err, ==, XML_ERR_POLICY);
    g_assert_cmpint(r.nel, ==, 1);
    g_free(rec_done(&r));
}

/* STARTTLS (RFC 6120 §5.4.3.3): after <starttls/> the rest is not XML any more. */
static void test_stop_starttls(void)
{
    const char tls[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    g_autofree char *doc = g_strconcat(HDR " ", tls, "\x16\x03\x01\x02\x00\x01\xFF<<&", NULL);
    gsize len = strlen(doc), stop_at = strlen(HDR) + 1 + strlen(tls);

    for (gsize at = 0; at <= len; at++) {
        Rec r;
        gsize consumed = 99999;
        rec_init(&r, NULL);
        r.stop_on = "starttls";
        XmlFeedResult res = xml_parser_feed(r.p, doc, at, &consumed);
        if (at < stop_at) {
            g_assert_cmpint(res, ==, XML_FEED_OK);
            g_assert_cmpuint(consumed, ==, at);
            res = xml_parser_feed(r.p, doc + at, len - at, &consumed);
            g_assert_cmpint(res, ==, XML_FEED_STOPPED);
            g_assert_cmpuint(at + consumed, ==, stop_at);
        } else {
            g_assert_cmpint(res, ==, XML_FEED_STOPPED);
            g_assert_cmpuint(consumed, ==, stop_at);
        }
        g_assert_cmpint(r.nel, ==, 1);
        /* a stopped parser looks at nothing more */
        g_assert_cmpint(xml_parser_feed(r.p, "<a/>", 4, &consumed), ==, XML_FEED_STOPPED);
        g_assert_cmpuint(consumed, ==, 0);
        g_assert_cmpint(r.nerr, ==, 0);
        g_assert_cmpint(r.nel, ==, 1);
        g_free(rec_done(&r));
    }

    /* byte by byte: the byte that completes the element stops the parser */
    Rec r;
    rec_init(&r, NULL);
    r.stop_on = "starttls";
    for (gsize i = 0; i < len; i++) {
        gsize consumed = 99;
        XmlFeedResult res = xml_parser_feed(r.p, doc + i, 1, &consumed);
        if (i + 1 < stop_at) {
            g_assert_cmpint(res, ==, XML_FEED_OK);
            g_assert_cmpuint(consumed, ==, 1);
        } else if (i + 1 == stop_at) {
            g_assert_cmpint(res, ==, XML_FEED_STOPPED);
            g_assert_cmpuint(consumed, ==, 1);
        } else {
            g_assert_cmpint(res, ==, XML_FEED_STOPPED);
            g_assert_cmpuint(consumed, ==, 0);
        }
    }
    g_free(rec_done(&r));
}

/* SASL success (RFC 6120 §6.4.6): pipelined bytes after it go to a fresh parser. */
static void test_stop_sasl_restart(void)
{
    const char success[] = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dGVzdA==</success>";
    const char next[] =
        HDR "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
            "</iq>";
    g_autofree char *doc = g_strconcat(HDR, success, next, NULL);
    gsize len = strlen(doc);

    for (gsize at = 0; at <= len; at++) {
        Rec a, b;
        gsize consumed = 0, total = 0;
        rec_init(&a, NULL);
        a.stop_on = "success";
        XmlFeedResult res = xml_parser_feed(a.p, doc, at, &consumed);
        total = consumed;
        if (res == XML_FEED_OK) {
            res = xml_parser_feed(a.p, doc + at, len - at, &consumed);
            total += consumed;
        }
        g_assert_cmpint(res, ==, XML_FEED_STOPPED);
        g_assert_cmpuint(total, ==, strlen(HDR) + strlen(success));
        g_assert_cmpint(a.nel, ==, 1);

        rec_init(&b, NULL);
        g_assert_cmpint(xml_parser_feed(b.p, doc + total, len - total, &consumed), ==, XML_FEED_OK);
        g_assert_cmpuint(consumed, ==, len - total);
        g_assert_cmpstr(b.log->str, ==,
                        "open {http://etherx.jabber.org/streams}stream default=jabber:client "
                        "{}to=example.com {}version=1.0\n"
                        "<{jabber:client}iq {}id='b1' {}type='set'>"
                        "<{urn:ietf:params:xml:ns:xmpp-bind}bind></></>\n");
        g_free(rec_done(&a));
        g_free(rec_done(&b));
    }

    /* stopping in stream_open: consumed ends with the header */
    Rec r;
    gsize consumed = 0;
    rec_init(&r, NULL);
    r.stop_on_open = TRUE;
    g_assert_cmpint(xml_parser_feed(r.p, doc, len, &consumed), ==, XML_FEED_STOPPED);
    g_assert_cmpuint(consumed, ==, strlen(HDR));
    g_assert_cmpint(r.nel, ==, 0);
    g_free(rec_done(&r));
}

/* A parser freed with a stanza half built, or never fed, leaks nothing. */
static void test_free_midway(void)
{
    Rec r;
    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR "<message><body>abc<x><y>d", strlen(HDR) + 25, NULL),
                    ==, XML_FEED_OK);
    g_free(rec_done(&r));
    XmlParser *p = xml_parser_new(&rec_cb, NULL, NULL);
    xml_parser_free(p);
    xml_parser_free(NULL);
    /* no callbacks at all */
    p = xml_parser_new(&(XmlParserCallbacks){0}, NULL, NULL);
    g_assert_cmpint(xml_parser_feed(p, transcript, strlen(transcript), NULL), ==, XML_FEED_OK);
    g_assert_cmpint(xml_parser_feed(p, "<!-- x -->", 10, NULL), ==, XML_FEED_ERROR);
    xml_parser_free(p);
}

/* ---------------------------------------------------------------------------------------
 * hibernation: an idle parser gives its expat parser back and resumes with the next byte
 * ------------------------------------------------------------------------------------- */

/* Like run(), hibernating whenever it can between pieces; returns the log. */
static char *run_hibernating(const char *s, gsize len, gssize at, const XmlLimits *lim, int *rested)
{
    Rec r;
    rec_init(&r, lim);
    if (at == -2) {
        for (gsize i = 0; i < len; i++) {
            if (xml_parser_feed(r.p, s + i, 1, NULL) != XML_FEED_OK)
                break;
            if (xml_parser_hibernate(r.p)) {
                g_assert_true(xml_parser_hibernated(r.p));
                (*rested)++;
            }
        }
    } else {
        if (xml_parser_feed(r.p, s, at, NULL) == XML_FEED_OK) {
            if (xml_parser_hibernate(r.p))
                (*rested)++;
            xml_parser_feed(r.p, s + at, len - at, NULL);
        }
    }
    g_assert_cmpint(r.nerr, <=, 1);
    return rec_done(&r);
}

/* The same events, whatever the wake-ups: namespaces declared on the root (the default one,
 * stream:) stay in scope, split stanzas are never hibernated. */
static void test_hibernate_transcript(void)
{
    gsize len = sizeof(transcript) - 1;
    int rested = 0;

    for (gsize at = 0; at <= len; at++) {
        char *log = run_hibernating(transcript, len, at, NULL, &rested);
        g_assert_cmpstr(log, ==, transcript_log);
        g_free(log);
    }
    g_assert_cmpint(rested, >, 10);
    rested = 0;
    char *log = run_hibernating(transcript, len, -2, NULL, &rested);
    g_assert_cmpstr(log, ==, transcript_log);
    g_free(log);
    /* after each stanza and each keepalive byte at stream level */
    g_assert_cmpint(rested, >=, 10);

    /* never inside a stanza, nor before the header is complete */
    Rec r;
    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR, 20, NULL), ==, XML_FEED_OK);
    g_assert_false(xml_parser_hibernate(r.p));
    g_assert_cmpint(xml_parser_feed(r.p, HDR + 20, strlen(HDR) - 20, NULL), ==, XML_FEED_OK);
    g_assert_true(xml_parser_hibernate(r.p));
    g_assert_cmpint(xml_parser_feed(r.p, "<message><body>", 15, NULL), ==, XML_FEED_OK);
    g_assert_false(xml_parser_hibernated(r.p));
    g_assert_false(xml_parser_hibernate(r.p));
    g_assert_cmpint(xml_parser_feed(r.p, "hi</body></message>", 19, NULL), ==, XML_FEED_OK);
    g_assert_true(xml_parser_hibernate(r.p));
    g_assert_cmpint(r.nel, ==, 1);
    /* freeing a hibernated parser */
    g_free(rec_done(&r));
}

/* A parser wakes up with the root's name and namespace declarations only (xml.c RootTag):
 * a prefix bound on the root to a URI with escaped characters, a root in a default
 * namespace, other prefixes, attributes that are dropped: the same events as without rests,
 * at every split point. */
static void test_hibernate_root_context(void)
{
    static const char *const docs[] = {
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='example.org' "
        "xmlns:stream='http://etherx.jabber.org/streams' xmlns:e=\"urn:x:a&amp;b&apos;c&lt;\" "
        "e:attr='v' xml:lang='en' id='x1' version='1.0'>"
        "<e:thing e:k='1'/><message to='a@b'><body>hi</body><e:x/></message>"
        "<stream:features/>",
        "<stream\txmlns='http://etherx.jabber.org/streams'\nxmlns:c='jabber:client'>"
        "<c:message><c:body>one</c:body></c:message><features/><c:iq type='get' id='2'/>",
    };
    for (guint d = 0; d < G_N_ELEMENTS(docs); d++) {
        gsize len = strlen(docs[d]);
        char *want = run(docs[d], len, -1, NULL);
        int rested = 0;
        for (gsize at = 0; at <= len; at++) {
            char *log = run_hibernating(docs[d], len, (gssize)at, NULL, &rested);
            g_assert_cmpstr(log, ==, want);
            g_free(log);
        }
        g_assert_cmpint(rested, >=, 4); /* after the header and after each stanza */
        rested = 0;
        char *log = run_hibernating(docs[d], len, -2, NULL, &rested);
        g_assert_cmpstr(log, ==, want);
        g_assert_cmpint(rested, >=, 4);
        g_free(log);
        g_free(want);
    }
}

static int hibernated_calls;

static void count_hibernated(gpointer ud)
{
    (void)ud;
    hibernated_calls++;
}

/* Expat's memory comes from a 12 KiB arena per expat parser, the rest from the heap (xml.c
 * ExpatArena): stanzas that outgrow it (a 64 KiB attribute, 300 namespace prefixes, 200
 * levels) parse the same, whole or in pieces, with rests in between; the owner hears of
 * each rest (the connection gives back its buffer then). */
static void test_arena_overflow(void)
{
    GPtrArray *parts = g_ptr_array_new_with_free_func(g_free);
    GString *st = g_string_new(NULL), *in = g_string_new(NULL);
    XmlParserCallbacks cb = rec_cb;
    Rec r;

    g_ptr_array_add(parts, g_strdup(HDR));
    g_string_append(st, "<message><body a='");
    for (int i = 0; i < 65536; i++)
        g_string_append_c(st, (char)('a' + i % 26));
    g_string_append(st, "'>x</body></message>");
    g_ptr_array_add(parts, g_strdup(st->str));
    g_string_assign(st, "<iq type='get' id='n'>");
    for (int i = 0; i < 300; i++)
        g_string_append_printf(st, "<p%d:q xmlns:p%d='urn:x:%d' p%d:a='%d'/>", i, i, i, i, i);
    g_string_append(st, "</iq>");
    g_ptr_array_add(parts, g_strdup(st->str));
    g_string_assign(st, "<presence>");
    for (int i = 0; i < 200; i++)
        g_string_append(st, "<d>");
    for (int i = 0; i < 200; i++)
        g_string_append(st, "</d>");
    g_string_append(st, "</presence>");
    g_ptr_array_add(parts, g_strdup(st->str));
    g_ptr_array_add(parts, g_strdup("<message><body>after</body></message>"));
    for (guint i = 0; i < parts->len; i++)
        g_string_append(in, g_ptr_array_index(parts, i));

    char *want = run(in->str, in->len, -1, NULL);
    g_assert_nonnull(strstr(want, "after"));
    g_assert_null(strstr(want, "error"));
    /* each part in pieces (but the 64 KiB one: a long incomplete tag waits for the reparse
     * timer, which this test does not run), a rest after each */
    cb.hibernated = count_hibernated;
    memset(&r, 0, sizeof r);
    r.log = g_string_new(NULL);
    r.p = xml_parser_new(&cb, &r, NULL);
    hibernated_calls = 0;
    for (guint i = 0; i < parts->len; i++) {
        const char *part = g_ptr_array_index(parts, i);
        gsize len = strlen(part);

        for (gsize off = 0; off < len;) {
            gsize n = len > 20000 ? len : MIN(len - off, 1 + (off * 7919) % 500);
            g_assert_cmpint(xml_parser_feed(r.p, part + off, n, NULL), ==, XML_FEED_OK);
            off += n;
        }
        g_assert_true(xml_parser_hibernate(r.p));
        g_assert_true(xml_parser_hibernate(r.p)); /* already resting: no second call */
    }
    g_assert_cmpint(hibernated_calls, ==, (int)parts->len);
    char *got = rec_done(&r);
    g_assert_cmpstr(got, ==, want);
    g_free(got);
    g_free(want);
    g_string_free(st, TRUE);
    g_string_free(in, TRUE);
    g_ptr_array_unref(parts);
}

/* Limits and restrictions after a wake-up: byte counts are the stream's. */
static void test_hibernate_limits(void)
{
    const char stanza[] = "<message to='a@b'><body>0123456789</body></message>";
    gsize n = strlen(stanza);
    XmlLimits lim = {.max_stanza_bytes = n, .max_depth = 2};
    const char *bad[] = {"<!-- c -->", "<?pi x?>",           "<!DOCTYPE x>",
                         "text",       "<a><b><c/></b></a>", "\xFF"};

    for (int big = 0; big <= 1; big++) {
        Rec r;
        rec_init(&r, &lim);
        g_assert_cmpint(xml_parser_feed(r.p, HDR, strlen(HDR), NULL), ==, XML_FEED_OK);
        for (int i = 0; i < 3; i++) { /* the counts do not drift over wake-ups */
            g_assert_true(xml_parser_hibernate(r.p));
            g_assert_cmpint(xml_parser_feed(r.p, stanza, n, NULL), ==, XML_FEED_OK);
            g_assert_true(xml_parser_hibernate(r.p));
            g_assert_cmpint(xml_parser_feed(r.p, "  ", 2, NULL), ==, XML_FEED_OK);
        }
        g_assert_cmpint(r.nel, ==, 3);
        g_assert_true(xml_parser_hibernate(r.p));
        if (big) {
            g_autofree char *longer = g_strdup_printf("<message to='a@bc'><body>0123456789"
                                                      "</body></message>");
            g_assert_cmpint(xml_parser_feed(r.p, longer, n + 1, NULL), ==, XML_FEED_ERROR);
            g_assert_cmpint(r.err, ==, XML_ERR_POLICY);
        } else {
            g_assert_cmpint(xml_parser_feed(r.p, stanza, n, NULL), ==, XML_FEED_OK);
            g_assert_cmpint(r.nel, ==, 4);
        }
        g_free(rec_done(&r));
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        /* the error a parser that never slept gives */
        g_autofree char *doc = g_strconcat(HDR "<presence/>", bad[i], NULL);
        XmlError want = doc_error_lim(doc, -1, &lim);
        Rec r;

        g_assert_cmpint(want, !=, XML_ERR_NONE);
        rec_init(&r, &lim);
        g_assert_cmpint(xml_parser_feed(r.p, HDR "<presence/>", strlen(HDR) + 11, NULL), ==,
                        XML_FEED_OK);
        g_assert_true(xml_parser_hibernate(r.p));
        g_assert_cmpint(xml_parser_feed(r.p, bad[i], strlen(bad[i]), NULL), ==, XML_FEED_ERROR);
        g_assert_cmpint(r.err, ==, want);
        g_assert_cmpint(r.nerr, ==, 1);
        g_assert_false(xml_parser_hibernate(r.p)); /* a failed parser stays as it is */
        g_free(rec_done(&r));
    }
}

/* A stream restart right after a wake-up: consumed counts from the new input. */
static void test_hibernate_restart(void)
{
    const char success[] = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dGVzdA==</success>";
    g_autofree char *rest = g_strconcat(success, HDR "<presence/>", NULL);
    Rec r;
    gsize consumed = 0;

    rec_init(&r, NULL);
    r.stop_on = "success";
    g_assert_cmpint(xml_parser_feed(r.p, HDR, strlen(HDR), NULL), ==, XML_FEED_OK);
    g_assert_true(xml_parser_hibernate(r.p));
    g_assert_cmpint(xml_parser_feed(r.p, rest, strlen(rest), &consumed), ==, XML_FEED_STOPPED);
    g_assert_cmpuint(consumed, ==, strlen(success));
    g_assert_false(xml_parser_hibernate(r.p)); /* stopped */
    g_assert_cmpint(r.nel, ==, 1);
    g_free(rec_done(&r));

    /* the stream end after a wake-up */
    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR, strlen(HDR), NULL), ==, XML_FEED_OK);
    g_assert_true(xml_parser_hibernate(r.p));
    g_assert_cmpint(xml_parser_feed(r.p, "</stream:stream>", 16, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(r.nclose, ==, 1);
    g_assert_false(xml_parser_hibernate(r.p));
    g_free(rec_done(&r));
}

static gboolean set_flag(gpointer data)
{
    *(gboolean *)data = TRUE;
    return G_SOURCE_REMOVE;
}

/* The sweep on the main context hibernates parsers idle for a second or two, and only them */
static void test_hibernate_sweep(void)
{
    Rec idle, busy;
    gboolean timeout = FALSE;
    guint guard = g_timeout_add_seconds(10, set_flag, &timeout);

    rec_init(&idle, NULL);
    rec_init(&busy, NULL);
    g_assert_cmpint(xml_parser_feed(idle.p, HDR "<a/>", strlen(HDR) + 4, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(xml_parser_feed(busy.p, HDR "<a>", strlen(HDR) + 3, NULL), ==, XML_FEED_OK);
    g_assert_false(xml_parser_hibernated(idle.p));
    while (!xml_parser_hibernated(idle.p) && !timeout)
        g_main_context_iteration(NULL, TRUE);
    g_assert_false(timeout);
    g_assert_false(xml_parser_hibernated(busy.p));
    g_assert_cmpint(xml_parser_feed(idle.p, "<b/>", 4, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(xml_parser_feed(busy.p, "</a>", 4, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(idle.nel, ==, 2);
    g_assert_cmpint(busy.nel, ==, 1);
    g_free(rec_done(&idle));
    g_free(rec_done(&busy));
    g_source_remove(guard);
}

/* Expat defers re-parsing a long incomplete tag (linear cost when it arrives a byte at a
 * time); a short one completes at once, a long one soon after its last byte, without more
 * input. */
static void test_deferred_long_tag(void)
{
    Rec r;
    gboolean timeout = FALSE;
    guint guard = g_timeout_add_seconds(10, set_flag, &timeout);

    rec_init(&r, NULL);
    g_assert_cmpint(xml_parser_feed(r.p, HDR "<a x='", strlen(HDR) + 6, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(xml_parser_feed(r.p, "y'/>", 4, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(r.nel, ==, 1); /* short: at once */
    g_assert_cmpint(xml_parser_feed(r.p, "<b x='", 6, NULL), ==, XML_FEED_OK);
    for (int i = 0; i < 20000; i++)
        g_assert_cmpint(xml_parser_feed(r.p, "y", 1, NULL), ==, XML_FEED_OK);
    g_assert_cmpint(xml_parser_feed(r.p, "'/>", 3, NULL), ==, XML_FEED_OK);
    while (r.nel < 2 && !timeout)
        g_main_context_iteration(NULL, TRUE);
    g_assert_false(timeout);
    g_assert_cmpint(r.nel, ==, 2);
    g_assert_cmpint(r.nerr, ==, 0);
    g_free(rec_done(&r));
    g_source_remove(guard);
}

/* ---------------------------------------------------------------------------------------
 * fragments
 * ------------------------------------------------------------------------------------- */

static void test_fragment(void)
{
    GError *error = NULL;
    const char *s = "<?xml version='1.0'?>\n<message xmlns='jabber:client' to='a@b' "
                    "xml:lang='en'><body>hi &amp; bye</body><x xmlns='urn:x' "
                    "xmlns:p='urn:p' p:q='1'/></message>\n";
    XmlNode *m = xml_parse_fragment(s, -1, &error);
    g_assert_no_error(error);
    g_autofree char *d = dump_str(m);
    g_assert_cmpstr(d, ==,
                    "<{jabber:client}message {http://www.w3.org/XML/1998/namespace}lang='en' "
                    "{}to='a@b'><{jabber:client}body>'hi & bye'</><{urn:x}x {urn:p}q='1'></></>");
    g_assert_null(m->parent);
    xml_node_free(m);

    /* an explicit length: the rest of the buffer is not looked at */
    m = xml_parse_fragment("<a/><b/>", 4, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(m->name, ==, "a");
    xml_node_free(m);

    static const char *const bad[] = {
        "",
        "   ",
        "<a>",
        "<a/><b/>",
        "text",
        "<a></b>",
        "<!-- c --><a/>",
        "<a><!-- c --></a>",
        "<a><?pi x?></a>",
        "<!DOCTYPE a><a/>",
        "<a>&ent;</a>",
        "<a>\xFF</a>",
        "<p:a/>",
        "<?xml version='1.0' encoding='latin1'?><a/>",
        "<a>\xC3</a>",
        "<a/>\xC3",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        m = xml_parse_fragment(bad[i], -1, &error);
        g_assert_null(m);
        g_assert_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE);
        g_assert_nonnull(error->message);
        g_clear_error(&error);
    }
    /* NULL error is fine */
    g_assert_null(xml_parse_fragment("<a>", -1, NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xml/tree/build", test_tree_build);
    g_test_add_func("/xml/tree/deep", test_tree_deep);
    g_test_add_func("/xml/serialize/escape", test_escape);
    g_test_add_func("/xml/serialize/escape-every-position", test_escape_every_position);
    g_test_add_func("/xml/serialize/namespaces", test_serialize_ns);
    g_test_add_func("/xml/serialize/roundtrip", test_roundtrip);
    g_test_add_func("/xml/stream/basic", test_stream_basic);
    g_test_add_func("/xml/stream/split", test_stream_split);
    g_test_add_func("/xml/stream/immediate", test_stream_immediate);
    g_test_add_func("/xml/stream/whitespace", test_stream_whitespace);
    g_test_add_func("/xml/stream/not-well-formed", test_not_well_formed);
    g_test_add_func("/xml/stream/restricted", test_restricted);
    g_test_add_func("/xml/stream/utf8", test_utf8);
    g_test_add_func("/xml/stream/limits", test_limits);
    g_test_add_func("/xml/stream/limits-unclosed", test_limits_unclosed);
    g_test_add_func("/xml/stream/stop-starttls", test_stop_starttls);
    g_test_add_func("/xml/stream/stop-sasl-restart", test_stop_sasl_restart);
    g_test_add_func("/xml/stream/free-midway", test_free_midway);
    g_test_add_func("/xml/stream/hibernate/transcript", test_hibernate_transcript);
    g_test_add_func("/xml/stream/hibernate/root-context", test_hibernate_root_context);
    g_test_add_func("/xml/stream/hibernate/limits", test_hibernate_limits);
    g_test_add_func("/xml/stream/hibernate/restart", test_hibernate_restart);
    g_test_add_func("/xml/stream/hibernate/sweep", test_hibernate_sweep);
    g_test_add_func("/xml/stream/arena-overflow", test_arena_overflow);
    g_test_add_func("/xml/stream/deferred-long-tag", test_deferred_long_tag);
    g_test_add_func("/xml/fragment", test_fragment);
    return g_test_run();
}
