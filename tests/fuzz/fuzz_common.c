/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_common.c — tree dumps, invariants and generators shared by the targets */
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- process setup and failures ---------------------------------------------------------- */

static GLogWriterOutput quiet_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
                                     gpointer ud)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
        return g_log_writer_default(level, fields, n, ud);
    return G_LOG_WRITER_HANDLED;
}

void fuzz_init(void)
{
    static gsize once = 0;

    if (g_once_init_enter(&once)) {
        if (!g_getenv("FUZZ_VERBOSE"))
            g_log_set_writer_func(quiet_writer, NULL, NULL);
        g_once_init_leave(&once, 1);
    }
}

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\n==== fuzz invariant broken at %s:%d: %s\n", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- deterministic bytes ----------------------------------------------------------------- */

guint32 fuzz_rng_u32(FuzzRng *r)
{
    guint32 v = 0;

    if (r->rand != NULL)
        return g_rand_int(r->rand);
    for (int i = 0; i < 4; i++) {
        v <<= 8;
        if (r->n > 0) {
            v |= *r->p++;
            r->n--;
        }
    }
    return v;
}

guint fuzz_rng_below(FuzzRng *r, guint n)
{
    if (r->rand != NULL)
        return (guint)g_rand_int_range(r->rand, 0, (gint32)n);
    /* one byte per choice keeps the input-to-tree mapping short and mutation-friendly */
    if (n <= 256) {
        guint v = 0;
        if (r->n > 0) {
            v = *r->p++;
            r->n--;
        }
        return v % n;
    }
    return fuzz_rng_u32(r) % n;
}

/* ---- canonical dumps --------------------------------------------------------------------- */

static gboolean is_content_ns(const char *ns)
{
    return ns != NULL && (strcmp(ns, XML_NS_CLIENT) == 0 || strcmp(ns, XML_NS_SERVER) == 0 ||
                          strcmp(ns, XML_NS_COMPONENT) == 0);
}

/* The serializer's view of a string: C0 controls but TAB/LF/CR become U+FFFD. */
static void append_escaped(GString *out, const char *s, gsize len, gboolean wire)
{
    GString *tmp = g_string_sized_new(len);
    char *esc;

    for (gsize i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (wire && c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            g_string_append(tmp, "\xEF\xBF\xBD");
        else
            g_string_append_c(tmp, (char)c);
    }
    esc = g_strescape(tmp->str, NULL);
    g_string_append(out, esc);
    g_free(esc);
    g_string_free(tmp, TRUE);
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gboolean is_ns_decl_attr(const XmlAttr *a)
{
    return (a->ns == NULL || *a->ns == '\0') && g_str_has_prefix(a->name, "xmlns") &&
           (a->name[5] == '\0' || a->name[5] == ':');
}

static void dump_start(GString *out, const XmlNode *n, const char *ns, gboolean wire)
{
    GPtrArray *attrs = g_ptr_array_new_with_free_func(g_free);

    g_string_append(out, "<{");
    append_escaped(out, ns, strlen(ns), wire);
    g_string_append_c(out, '}');
    g_string_append(out, n->name);
    for (guint i = 0; i < n->nattrs; i++) {
        const XmlAttr *a = &n->attrs[i];
        GString *s;

        if (wire && is_ns_decl_attr(a))
            continue;
        s = g_string_new(" {");
        if (a->ns != NULL)
            append_escaped(s, a->ns, strlen(a->ns), wire);
        g_string_append_printf(s, "}%s=\"", a->name);
        append_escaped(s, a->value, strlen(a->value), wire);
        g_string_append_c(s, '"');
        g_ptr_array_add(attrs, g_string_free(s, FALSE));
    }
    g_ptr_array_sort(attrs, cmp_str);
    for (guint i = 0; i < attrs->len; i++)
        g_string_append(out, g_ptr_array_index(attrs, i));
    g_ptr_array_unref(attrs);
    g_string_append_c(out, '>');
}

static void flush_text(GString *out, GString *text, gboolean wire)
{
    if (text->len == 0)
        return;
    g_string_append_c(out, '"');
    append_escaped(out, text->str, text->len, wire);
    g_string_append_c(out, '"');
    g_string_truncate(text, 0);
}

/* Iterative: parser trees may be deep. remapped[d]: the element at depth d is written in
 * parent_ns (the serializer's content-namespace chain). */
char *fuzz_dump(const XmlNode *n, const char *parent_ns)
{
    GString *out = g_string_new(NULL), *text = g_string_new(NULL);
    GArray *remapped = g_array_new(FALSE, TRUE, sizeof(gboolean));
    gboolean wire = parent_ns != NULL;
    const char *remap_from = NULL;
    const XmlNode *cur = n;
    guint depth = 0;

    if (wire && n->kind == XML_NODE_ELEMENT && is_content_ns(parent_ns) && is_content_ns(n->ns))
        remap_from = n->ns;
    for (;;) {
        if (cur->kind == XML_NODE_TEXT) {
            g_string_append_len(text, cur->text, cur->text_len);
        } else {
            gboolean re = remap_from != NULL && strcmp(cur->ns, remap_from) == 0 &&
                          (depth == 0 || g_array_index(remapped, gboolean, depth - 1));
            flush_text(out, text, wire);
            g_array_set_size(remapped, depth + 1);
            g_array_index(remapped, gboolean, depth) = re;
            dump_start(out, cur, re ? parent_ns : cur->ns, wire);
            if (cur->first_child != NULL) {
                cur = cur->first_child;
                depth++;
                continue;
            }
            g_string_append(out, "</>");
        }
        while (cur != n && cur->next == NULL) {
            cur = cur->parent;
            depth--;
            flush_text(out, text, wire);
            g_string_append(out, "</>");
        }
        if (cur == n)
            break;
        cur = cur->next;
    }
    flush_text(out, text, wire);
    g_string_free(text, TRUE);
    g_array_unref(remapped);
    return g_string_free(out, FALSE);
}

/* ---- invariants -------------------------------------------------------------------------- */

static void check_str(const char *what, const char *s, gboolean nonempty)
{
    FUZZ_CHECK(s != NULL, "%s is NULL", what);
    FUZZ_CHECK(g_utf8_validate(s, -1, NULL), "%s is not UTF-8", what);
    FUZZ_CHECK(!nonempty || *s != '\0', "%s is empty", what);
}

void fuzz_check_tree(const XmlNode *n)
{
    const XmlNode *cur = n;

    FUZZ_CHECK(n->kind == XML_NODE_ELEMENT && n->parent == NULL, "not a root element");
    for (;;) {
        if (cur->kind == XML_NODE_TEXT) {
            FUZZ_CHECK(cur->text != NULL && cur->text_len > 0, "empty text node");
            FUZZ_CHECK(strlen(cur->text) == cur->text_len, "text_len %zu, strlen %zu",
                       (size_t)cur->text_len, strlen(cur->text));
            FUZZ_CHECK(g_utf8_validate(cur->text, cur->text_len, NULL), "text is not UTF-8");
            FUZZ_CHECK(cur->first_child == NULL && cur->name == NULL, "text node with children");
            FUZZ_CHECK(cur->next == NULL || cur->next->kind != XML_NODE_TEXT,
                       "adjacent text nodes");
        } else {
            check_str("element name", cur->name, TRUE);
            check_str("element ns", cur->ns, FALSE);
            FUZZ_CHECK(cur->text == NULL, "element with text");
            FUZZ_CHECK(cur->nattrs == 0 || cur->attrs != NULL, "attrs missing");
            for (guint i = 0; i < cur->nattrs; i++) {
                const XmlAttr *a = &cur->attrs[i];
                check_str("attribute name", a->name, TRUE);
                check_str("attribute value", a->value, FALSE);
                FUZZ_CHECK(a->ns == NULL || (*a->ns != '\0' && g_utf8_validate(a->ns, -1, NULL)),
                           "attribute ns");
                for (guint j = 0; j < i; j++)
                    FUZZ_CHECK(strcmp(cur->attrs[j].name, a->name) != 0 ||
                                   g_strcmp0(cur->attrs[j].ns, a->ns) != 0,
                               "duplicate attribute %s", a->name);
            }
            for (const XmlNode *c = cur->first_child; c != NULL; c = c->next) {
                FUZZ_CHECK(c->parent == cur, "child's parent link");
                FUZZ_CHECK(c->next != NULL || cur->last_child == c, "last_child link");
            }
            FUZZ_CHECK((cur->first_child == NULL) == (cur->last_child == NULL), "child links");
            if (cur->first_child != NULL) {
                cur = cur->first_child;
                continue;
            }
        }
        while (cur != n && cur->next == NULL)
            cur = cur->parent;
        if (cur == n)
            return;
        cur = cur->next;
    }
}

/* ---- serialization in a stream context --------------------------------------------------- */

#define WRAP_OPEN "<stream:stream xmlns:stream='" XML_NS_STREAMS "' xmlns='"

char *fuzz_serialize_doc(const XmlNode *n, const char *parent_ns)
{
    GString *out = g_string_new(NULL);

    if (*parent_ns != '\0') {
        g_string_append(out, WRAP_OPEN);
        xml_escape_append(out, parent_ns, -1);
        g_string_append(out, "'>");
    }
    xml_node_serialize(n, parent_ns, out);
    if (*parent_ns != '\0')
        g_string_append(out, "</stream:stream>");
    return g_string_free(out, FALSE);
}

XmlNode *fuzz_reparse_doc(const char *doc, const char *parent_ns, GError **error)
{
    XmlNode *root = xml_parse_fragment(doc, -1, error), *el;

    if (root == NULL || *parent_ns == '\0')
        return root;
    el = root->first_child;
    if (el == NULL || el->next != NULL || el->kind != XML_NODE_ELEMENT) {
        g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, "not one element in the wrap");
        xml_node_free(root);
        return NULL;
    }
    xml_node_unlink(el);
    xml_node_free(root);
    return el;
}

/* ---- random trees ------------------------------------------------------------------------ */

static const char *const gen_names[] = {
    "message", "presence", "iq",  "body", "query", "item", "x",    "error",  "text",
    "a",       "b-c",      "d.e", "_f",   "g9",    "Ωμ",   "名前", "stream", "xmlnsx",
};
static const char *const gen_ns[] = {
    "",
    XML_NS_CLIENT,
    XML_NS_SERVER,
    XML_NS_COMPONENT,
    XML_NS_STREAMS,
    "urn:xmpp:ping",
    "http://jabber.org/protocol/disco#info",
    "urn:x:a'b\"c&d<e>f",
    "urn:x: \t\n\r",
    "urn:x:\xF0\x9F\x98\x80",
    XML_NS_XML, /* <xml:x/> is namespace-well-formed */
};
static const char *const gen_attr_ns[] = {
    NULL, NULL, NULL, XML_NS_XML, "urn:a", "urn:b", XML_NS_CLIENT, "urn:x:a'b\"c\t",
};
static const char *const gen_attr_names[] = {
    "to", "from", "id", "type", "lang", "xmlns", "xmlns:p", "a", "b", "ü",
};
/* Pieces of text and attribute values: markup characters, line ends (normalized by a
 * parser unless escaped), the CDATA end, non-BMP, U+FFFD, C0 (written as U+FFFD), DEL,
 * C1, U+2028, an entity that must stay literal text. */
static const char *const gen_pieces[] = {
    "&",
    "<",
    ">",
    "\"",
    "'",
    "\r",
    "\n",
    "\t",
    "\r\n",
    "]]>",
    " ",
    "plain",
    "&amp;",
    "&#60;",
    "\x01",
    "\x1F",
    "\x7F",
    "\xC2\x85",
    "\xC2\x80",
    "\xC3\xA9",
    "\xE2\x80\xA8",
    "\xEF\xBF\xBD",
    "\xF0\x9F\x98\x80",
    "\xF4\x8F\xBF\xBD",
    "<![CDATA[",
    "<!--",
    "-->",
    "]]",
    "]>",
    "\xE4\xBD\xA0\xE5\xA5\xBD",
};

static char *gen_text(FuzzRng *r, guint max_pieces)
{
    GString *s = g_string_new(NULL);
    guint n = fuzz_rng_below(r, max_pieces + 1);

    for (guint i = 0; i < n; i++)
        g_string_append(s, gen_pieces[fuzz_rng_below(r, G_N_ELEMENTS(gen_pieces))]);
    return g_string_free(s, FALSE);
}

static void gen_attrs(FuzzRng *r, XmlNode *el)
{
    guint n = fuzz_rng_below(r, 5);

    for (guint i = 0; i < n; i++) {
        const char *ns = gen_attr_ns[fuzz_rng_below(r, G_N_ELEMENTS(gen_attr_ns))];
        const char *name = gen_attr_names[fuzz_rng_below(r, G_N_ELEMENTS(gen_attr_names))];
        char *value = gen_text(r, 4);

        if (ns != NULL && strchr(name, ':') != NULL)
            name = "c"; /* a namespaced attribute's local name has no colon */
        xml_node_set_attr_ns(el, ns, name, value);
        g_free(value);
    }
}

XmlNode *fuzz_gen_tree(FuzzRng *r, guint max_nodes)
{
    XmlNode *root = xml_node_new(gen_ns[fuzz_rng_below(r, G_N_ELEMENTS(gen_ns))],
                                 gen_names[fuzz_rng_below(r, 3)]);
    XmlNode *cur = root;
    guint depth = 0;

    gen_attrs(r, root);
    for (guint i = 1; i < max_nodes; i++) {
        switch (fuzz_rng_below(r, 4)) {
        case 0: /* text */
        {
            char *t = gen_text(r, 6);
            xml_node_add_text(cur, t, -1);
            g_free(t);
            break;
        }
        case 1: /* a child, and go into it */
        case 2: {
            guint k = fuzz_rng_below(r, G_N_ELEMENTS(gen_ns) + 2);
            const char *ns = k < G_N_ELEMENTS(gen_ns) ? gen_ns[k] : NULL; /* NULL: parent's */
            XmlNode *c =
                xml_node_add_child(cur, ns, gen_names[fuzz_rng_below(r, G_N_ELEMENTS(gen_names))]);
            gen_attrs(r, c);
            if (depth < 8) {
                cur = c;
                depth++;
            }
            break;
        }
        default: /* up */
            if (cur->parent != NULL) {
                cur = cur->parent;
                depth--;
            }
            break;
        }
    }
    return root;
}
