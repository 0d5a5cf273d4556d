/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/xml.c — restricted-XML parser (RFC 6120 §11) on expat, element tree, serializer */

#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <string.h>
#include <expat.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "router/xml.h"

/* expat namespace mode joins "uri" SEP "local"; \x01 is not allowed in XML names or URIs */
#define NS_SEP '\x01'
/* Bytes handed to expat per XML_Parse call: bounds what expat buffers between limit checks */
#define FEED_CHUNK 65536
/* Expat's reparse deferral (CVE-2023-52425) waits with an incomplete token until its input
 * has doubled, which keeps a huge tag fed a byte at a time linear instead of quadratic; but
 * a complete tag could then wait for more input. So after each feed: an incomplete tail up
 * to REPARSE_NOW_BYTES is re-parsed at once (cheap, and no stanza waits), a longer one at
 * most every REPARSE_MS from a timer. */
#define REPARSE_NOW_BYTES 4096
#define REPARSE_MS 20

#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
#define HAVE_REPARSE_DEFERRAL 1
#else
/* COMPAT: distributions backport XML_SetReparseDeferralEnabled (CVE-2023-52425) into 2.5.0
 * without bumping the version (Debian 12 does); bind it weakly and call it when present. */
XMLPARSEAPI(XML_Bool)
XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled) __attribute__((weak));
#endif

/* ------------------------------------------------------------------------------------------
 * Trees. Memory layout, to keep parsing at a few allocations per element:
 *  - an element is one block: XmlNode, then (when built by the parser or copied) its initial
 *    XmlAttr array, then name and ns strings. n->attrs moves to its own heap array the first
 *    time an attribute is added.
 *  - each attribute's strings are one block starting at a->name: name, value, ns. Replacing
 *    or removing one attribute leaves the strings of the others where they are.
 *  - a text node is one block: XmlNode, then the text.
 * So treat the fields of XmlNode and XmlAttr as read-only and change trees through the
 * functions below.
 * ---------------------------------------------------------------------------------------- */

static inline XmlAttr *inline_attrs(const XmlNode *n)
{
    return (XmlAttr *)(n + 1);
}

static XmlNode *element_alloc(const char *ns, gsize ns_len, const char *name, gsize name_len,
                              guint nattrs)
{
    gsize attrs_size = nattrs * sizeof(XmlAttr);
    XmlNode *n = g_malloc(sizeof(*n) + attrs_size + ns_len + name_len + 2);
    char *s = (char *)(n + 1) + attrs_size;

    memset(n, 0, sizeof(*n));
    n->kind = XML_NODE_ELEMENT;
    n->attrs = nattrs ? inline_attrs(n) : NULL;
    n->nattrs = nattrs;
    n->name = s;
    memcpy(s, name, name_len);
    s[name_len] = '\0';
    s += name_len + 1;
    n->ns = s;
    memcpy(s, ns, ns_len);
    s[ns_len] = '\0';
    return n;
}

/* A text node holding a then b (b may be NULL). */
static XmlNode *text_alloc2(const char *a, gsize alen, const char *b, gsize blen)
{
    XmlNode *n = g_malloc(sizeof(*n) + alen + blen + 1);

    memset(n, 0, sizeof(*n));
    n->kind = XML_NODE_TEXT;
    n->text = (char *)(n + 1);
    memcpy(n->text, a, alen);
    if (blen > 0)
        memcpy(n->text + alen, b, blen);
    n->text[alen + blen] = '\0';
    n->text_len = alen + blen;
    return n;
}

static inline XmlNode *text_alloc(const char *text, gsize len)
{
    return text_alloc2(text, len, NULL, 0);
}

/* Fill a with copies of ns (NULL or "" = none), name and value in one block. */
static void attr_fill(XmlAttr *a, const char *ns, gsize ns_len, const char *name, gsize name_len,
                      const char *value, gsize value_len)
{
    gboolean has_ns = ns != NULL && ns_len > 0;
    char *s = g_malloc(name_len + value_len + 2 + (has_ns ? ns_len + 1 : 0));

    a->name = s;
    memcpy(s, name, name_len);
    s[name_len] = '\0';
    s += name_len + 1;
    a->value = s;
    memcpy(s, value, value_len);
    s[value_len] = '\0';
    s += value_len + 1;
    a->ns = NULL;
    if (has_ns) {
        a->ns = s;
        memcpy(s, ns, ns_len);
        s[ns_len] = '\0';
    }
}

static void node_free_one(XmlNode *n)
{
    for (guint i = 0; i < n->nattrs; i++)
        g_free(n->attrs[i].name);
    if (n->attrs != NULL && n->attrs != inline_attrs(n))
        g_free(n->attrs);
    g_free(n);
}

static void link_child(XmlNode *parent, XmlNode *child)
{
    child->parent = parent;
    child->next = NULL;
    if (parent->last_child != NULL)
        parent->last_child->next = child;
    else
        parent->first_child = child;
    parent->last_child = child;
}

XmlNode *xml_node_new(const char *ns, const char *name)
{
    g_return_val_if_fail(name != NULL, NULL);
    if (ns == NULL)
        ns = "";
    return element_alloc(ns, strlen(ns), name, strlen(name), 0);
}

/* Iterative, so that deep trees cannot exhaust the stack. */
void xml_node_free(XmlNode *n)
{
    XmlNode *cur;

    if (n == NULL)
        return;
    if (n->parent != NULL)
        xml_node_unlink(n);
    cur = n;
    for (;;) {
        XmlNode *parent, *next;
        gboolean last;

        while (cur->first_child != NULL)
            cur = cur->first_child;
        parent = cur->parent;
        next = cur->next;
        last = cur == n;
        node_free_one(cur);
        if (last)
            return;
        parent->first_child = next;
        cur = next != NULL ? next : parent;
    }
}

static XmlNode *copy_one(const XmlNode *src)
{
    XmlNode *n;

    if (src->kind == XML_NODE_TEXT)
        return text_alloc(src->text, src->text_len);
    n = element_alloc(src->ns, strlen(src->ns), src->name, strlen(src->name), src->nattrs);
    for (guint i = 0; i < src->nattrs; i++) {
        const XmlAttr *a = &src->attrs[i];
        attr_fill(&n->attrs[i], a->ns, a->ns ? strlen(a->ns) : 0, a->name, strlen(a->name),
                  a->value, strlen(a->value));
    }
    return n;
}

XmlNode *xml_node_copy(const XmlNode *n)
{
    const XmlNode *src = n;
    XmlNode *root, *dst;

    g_return_val_if_fail(n != NULL, NULL);
    root = dst = copy_one(n);
    for (;;) {
        if (src->first_child != NULL) {
            src = src->first_child;
            link_child(dst, copy_one(src));
            dst = dst->last_child;
            continue;
        }
        while (src != n && src->next == NULL) {
            src = src->parent;
            dst = dst->parent;
        }
        if (src == n)
            return root;
        src = src->next;
        link_child(dst->parent, copy_one(src));
        dst = dst->parent->last_child;
    }
}

XmlNode *xml_node_append(XmlNode *parent, XmlNode *child)
{
    g_return_val_if_fail(parent != NULL && parent->kind == XML_NODE_ELEMENT, child);
    g_return_val_if_fail(child != NULL && child->parent == NULL, child);
    link_child(parent, child);
    return child;
}

void xml_node_unlink(XmlNode *child)
{
    XmlNode *parent = child->parent, *prev = NULL;

    if (parent == NULL)
        return;
    for (XmlNode *c = parent->first_child; c != child; c = c->next)
        prev = c;
    if (prev != NULL)
        prev->next = child->next;
    else
        parent->first_child = child->next;
    if (parent->last_child == child)
        parent->last_child = prev;
    child->parent = NULL;
    child->next = NULL;
}

XmlNode *xml_node_add_child(XmlNode *parent, const char *ns, const char *name)
{
    g_return_val_if_fail(parent != NULL && parent->kind == XML_NODE_ELEMENT, NULL);
    return xml_node_append(parent, xml_node_new(ns != NULL ? ns : parent->ns, name));
}

/* Adjacent text is merged into one node, as the parser does. */
XmlNode *xml_node_add_text(XmlNode *parent, const char *text, gssize len)
{
    XmlNode *last;

    g_return_val_if_fail(parent != NULL && parent->kind == XML_NODE_ELEMENT, parent);
    if (text == NULL)
        return parent;
    if (len < 0)
        len = strlen(text);
    if (len == 0)
        return parent;
    last = parent->last_child;
    if (last != NULL && last->kind == XML_NODE_TEXT) {
        XmlNode *merged = text_alloc2(last->text, last->text_len, text, len);

        xml_node_free(last);
        link_child(parent, merged);
    } else {
        link_child(parent, text_alloc(text, len));
    }
    return parent;
}

static gint attr_index(const XmlNode *n, const char *ns, const char *name)
{
    if (ns != NULL && *ns == '\0')
        ns = NULL;
    for (guint i = 0; i < n->nattrs; i++) {
        const XmlAttr *a = &n->attrs[i];
        if (strcmp(a->name, name) != 0)
            continue;
        if (ns == NULL ? a->ns == NULL : (a->ns != NULL && strcmp(a->ns, ns) == 0))
            return i;
    }
    return -1;
}

void xml_node_set_attr_ns(XmlNode *n, const char *ns, const char *name, const char *value)
{
    gint i;

    g_return_if_fail(n != NULL && n->kind == XML_NODE_ELEMENT && name != NULL);
    if (ns != NULL && *ns == '\0')
        ns = NULL;
    i = attr_index(n, ns, name);
    if (value == NULL) {
        if (i < 0)
            return;
        g_free(n->attrs[i].name);
        memmove(&n->attrs[i], &n->attrs[i + 1], (n->nattrs - i - 1) * sizeof(XmlAttr));
        n->nattrs--;
        return;
    }
    if (i >= 0) {
        /* name or value may point into the old block: fill first, free after */
        XmlAttr old = n->attrs[i];
        attr_fill(&n->attrs[i], ns, ns ? strlen(ns) : 0, name, strlen(name), value, strlen(value));
        g_free(old.name);
        return;
    }
    if (n->attrs == NULL || n->attrs == inline_attrs(n)) {
        XmlAttr *heap = g_new(XmlAttr, n->nattrs + 1);
        if (n->nattrs > 0)
            memcpy(heap, n->attrs, n->nattrs * sizeof(XmlAttr));
        n->attrs = heap;
    } else {
        n->attrs = g_renew(XmlAttr, n->attrs, n->nattrs + 1);
    }
    attr_fill(&n->attrs[n->nattrs], ns, ns ? strlen(ns) : 0, name, strlen(name), value,
              strlen(value));
    n->nattrs++;
}

void xml_node_set_attr(XmlNode *n, const char *name, const char *value)
{
    xml_node_set_attr_ns(n, NULL, name, value);
}

const char *xml_node_attr_ns(const XmlNode *n, const char *ns, const char *name)
{
    gint i;

    g_return_val_if_fail(n != NULL && name != NULL, NULL);
    i = attr_index(n, ns, name);
    return i >= 0 ? n->attrs[i].value : NULL;
}

const char *xml_node_attr(const XmlNode *n, const char *name)
{
    return xml_node_attr_ns(n, NULL, name);
}

gboolean xml_node_is(const XmlNode *n, const char *ns, const char *name)
{
    return n != NULL && n->kind == XML_NODE_ELEMENT &&
           (name == NULL || strcmp(n->name, name) == 0) && (ns == NULL || strcmp(n->ns, ns) == 0);
}

static XmlNode *find_element(XmlNode *c, const char *ns, const char *name)
{
    for (; c != NULL; c = c->next)
        if (xml_node_is(c, ns, name))
            return c;
    return NULL;
}

XmlNode *xml_node_child(const XmlNode *n, const char *ns, const char *name)
{
    g_return_val_if_fail(n != NULL, NULL);
    return find_element(n->first_child, ns, name);
}

XmlNode *xml_node_next_element(const XmlNode *after, const char *ns, const char *name)
{
    g_return_val_if_fail(after != NULL, NULL);
    return find_element(after->next, ns, name);
}

XmlNode *xml_node_first_element(const XmlNode *n)
{
    return xml_node_child(n, NULL, NULL);
}

char *xml_node_text(const XmlNode *n)
{
    GString *s;

    g_return_val_if_fail(n != NULL, g_strdup(""));
    if (n->kind == XML_NODE_TEXT)
        return g_strndup(n->text, n->text_len);
    s = g_string_new(NULL);
    for (const XmlNode *c = n->first_child; c != NULL; c = c->next)
        if (c->kind == XML_NODE_TEXT)
            g_string_append_len(s, c->text, c->text_len);
    return g_string_free(s, FALSE);
}

/* ------------------------------------------------------------------------------------------
 * Serializer
 * ---------------------------------------------------------------------------------------- */

/* Appends go through put(): GString's own append is a call into GLib that checks whether
 * the source overlaps the string; this is a bounds test and a memcpy while there is room. */
static inline void put(GString *out, const char *s, gsize len)
{
    if (G_LIKELY(out->len + len < out->allocated_len)) {
        memcpy(out->str + out->len, s, len);
        out->len += len;
        out->str[out->len] = '\0';
    } else {
        g_string_append_len(out, s, (gssize)len);
    }
}

#define PUT_LIT(out, lit) put((out), (lit), sizeof(lit) - 1)

static inline void put_str(GString *out, const char *s)
{
    put(out, s, strlen(s));
}

/* Which bytes escape() must look at: 1 in text, 2 in attribute values. */
#define ESC_TEXT 1
#define ESC_ATTR 2
static const guint8 esc_class[256] = {
    [0x00 ... 0x08] = ESC_TEXT | ESC_ATTR,
    ['\t'] = ESC_ATTR,
    ['\n'] = ESC_ATTR,
    [0x0B ... 0x1F] = ESC_TEXT | ESC_ATTR, /* with CR */
    ['"'] = ESC_ATTR,
    ['&'] = ESC_TEXT | ESC_ATTR,
    ['\''] = ESC_ATTR,
    ['<'] = ESC_TEXT | ESC_ATTR,
    ['>'] = ESC_TEXT | ESC_ATTR,
};

/* The first byte in [q, end) that escape() must look at, or end. With SSE2, 16 bytes per
 * step: a control character (TAB and LF too, which escape() passes in text), & < > and in
 * attributes the quotes. */
static inline const char *next_special(const char *q, const char *end, gboolean attr)
{
#ifdef __SSE2__
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
                  quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\''), ctl = _mm_set1_epi8(0x1F);
    while (end - q >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
            _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v)));
        if (attr)
            hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(v, quot), _mm_cmpeq_epi8(v, apos)));
        int mask = _mm_movemask_epi8(hit);
        if (mask != 0)
            return q + __builtin_ctz((unsigned)mask);
        q += 16;
    }
#endif
    guint8 want = attr ? ESC_ATTR : ESC_TEXT;
    while (q < end && !(esc_class[(unsigned char)*q] & want))
        q++;
    return q;
}

/* attr: also escape quotes, and TAB/LF as character references so that attribute-value
 * normalization (XML 1.0 §3.3.3) gives them back unchanged. CR is always escaped (§2.11
 * would turn it into LF). C0 controls are not XML 1.0 Chars (§2.2): written as U+FFFD so a
 * module's bad text cannot make our output not well-formed. */
static void escape(GString *out, const char *s, gsize len, gboolean attr)
{
    const char *run = s, *end = s + len;

    for (const char *q = next_special(s, end, attr); q < end; q = next_special(q, end, attr)) {
        unsigned char c = (unsigned char)*q;
        const char *rep;

        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '\r':
            rep = "&#13;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&apos;";
            break;
        case '\n':
        case '\t':
            if (!attr) {
                q++;
                continue;
            }
            rep = c == '\n' ? "&#10;" : "&#9;";
            break;
        default:
            rep = "\xEF\xBF\xBD";
            break;
        }
        put(out, run, (gsize)(q - run));
        put_str(out, rep);
        run = ++q;
    }
    put(out, run, (gsize)(end - run));
}

void xml_escape_append(GString *out, const char *s, gssize len)
{
    if (s == NULL)
        return;
    escape(out, s, len < 0 ? strlen(s) : (gsize)len, TRUE);
}

static gboolean is_content_ns(const char *ns)
{
    return strcmp(ns, XML_NS_CLIENT) == 0 || strcmp(ns, XML_NS_SERVER) == 0 ||
           strcmp(ns, XML_NS_COMPONENT) == 0;
}

/* An element in the XML namespace (<xml:x/> parses) is written with the xml prefix: that
 * namespace may not be declared as the default one (Namespaces in XML 1.0 §3), and a
 * receiver would close the stream (tests/fuzz/regressions/fuzz_xml_differential/
 * xml-prefixed-element). Its children then declare their namespace even where the default
 * in scope already is it: redundant, never wrong. */
static gboolean in_xml_ns(const char *ns)
{
    return ns[0] == 'h' && strcmp(ns, XML_NS_XML) == 0;
}

static void write_start_tag(GString *out, const XmlNode *n, const char *ns, gboolean declare)
{
    g_string_append_c(out, '<');
    if (in_xml_ns(ns)) {
        PUT_LIT(out, "xml:");
        declare = FALSE;
    }
    put_str(out, n->name);
    if (declare) {
        PUT_LIT(out, " xmlns='");
        escape(out, ns, strlen(ns), TRUE);
        g_string_append_c(out, '\'');
    }
    for (guint i = 0; i < n->nattrs; i++) {
        const XmlAttr *a = &n->attrs[i];

        if (a->ns == NULL || *a->ns == '\0') {
            /* namespace declarations are ours to write, never an attribute's */
            if (a->name[0] == 'x' && g_str_has_prefix(a->name, "xmlns") &&
                (a->name[5] == '\0' || a->name[5] == ':'))
                continue;
            g_string_append_c(out, ' ');
        } else if (strcmp(a->ns, XML_NS_XML) == 0) {
            PUT_LIT(out, " xml:");
        } else {
            guint first = i;
            for (guint j = 0; j < i; j++) {
                if (n->attrs[j].ns != NULL && strcmp(n->attrs[j].ns, a->ns) == 0) {
                    first = j;
                    break;
                }
            }
            if (first == i) {
                g_string_append_printf(out, " xmlns:a%u='", i);
                escape(out, a->ns, strlen(a->ns), TRUE);
                g_string_append_c(out, '\'');
            }
            g_string_append_printf(out, " a%u:", first);
        }
        put_str(out, a->name);
        PUT_LIT(out, "='");
        escape(out, a->value, strlen(a->value), TRUE);
        g_string_append_c(out, '\'');
    }
}

static void write_end_tag(GString *out, const XmlNode *n)
{
    PUT_LIT(out, "</");
    if (in_xml_ns(n->ns))
        PUT_LIT(out, "xml:");
    put_str(out, n->name);
    g_string_append_c(out, '>');
}

/* Iterative pre-order walk. When parent_ns is a content namespace and the top element is in
 * one too, the top element and the unbroken chain of descendants in that same namespace are
 * written in parent_ns; a content-namespace element below a foreign one (e.g. a XEP-0297
 * forwarded jabber:client message) keeps its own namespace. remap_len is the length of that
 * chain along the current path. */
void xml_node_serialize(const XmlNode *n, const char *parent_ns, GString *out)
{
    const char *remap_from = NULL;
    const XmlNode *cur = n;
    guint depth = 0, remap_len = 0;

    g_return_if_fail(n != NULL && out != NULL);
    if (parent_ns == NULL)
        parent_ns = "";
    if (n->kind == XML_NODE_ELEMENT && is_content_ns(parent_ns) && is_content_ns(n->ns))
        remap_from = n->ns;

    for (;;) {
        if (cur->kind == XML_NODE_TEXT) {
            escape(out, cur->text, cur->text_len, FALSE);
        } else {
            const char *scope, *ns = cur->ns;

            if (depth == 0)
                scope = parent_ns;
            else
                scope = remap_len >= depth ? parent_ns : cur->parent->ns;
            if (remap_from != NULL && remap_len == depth && strcmp(ns, remap_from) == 0) {
                remap_len = depth + 1;
                ns = parent_ns;
            }
            write_start_tag(out, cur, ns, strcmp(ns, scope) != 0);
            if (cur->first_child != NULL) {
                g_string_append_c(out, '>');
                cur = cur->first_child;
                depth++;
                continue;
            }
            PUT_LIT(out, "/>");
        }
        while (cur != n && cur->next == NULL) {
            cur = cur->parent;
            depth--;
            if (remap_len > depth)
                remap_len = depth;
            write_end_tag(out, cur);
        }
        if (cur == n)
            return;
        cur = cur->next;
        if (remap_len > depth)
            remap_len = depth;
    }
}

char *xml_node_to_string(const XmlNode *n)
{
    GString *out = g_string_sized_new(256);

    xml_node_serialize(n, "", out);
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------------------------------
 * Parser. depth counts open elements including the stream root; the root's children
 * (stanzas) are built as trees in cur and handed over when they close.
 * ---------------------------------------------------------------------------------------- */

typedef enum { PARSER_LIVE, PARSER_STOPPED, PARSER_FAILED } ParserState;

typedef struct RootTag RootTag;

struct XmlParser {
    XML_Parser xp;
    XmlParserCallbacks cb;
    gpointer ud;
    XmlLimits lim;
    ParserState state;
    /* flags, packed */
    guint in_expat : 1;       /* inside XML_Parse(): callbacks may run */
    guint fragment : 1;       /* xml_parse_fragment(): no stream root */
    guint root_seen : 1;      /* the stream header was parsed */
    guint deferring : 1;      /* expat's reparse deferral is on */
    guint replaying : 1;      /* feeding root_tag to a new expat parser: no callbacks */
    guint replayed : 1;       /* ... and expat reported its start tag */
    guint queued : 1;         /* in this thread's idle queue (idle_link) */
    struct ExpatArena *arena; /* the current expat parser's memory (see ExpatArena) */
    guint depth;              /* open elements, the root included */
    XmlNode *cur;             /* innermost open element below the root; NULL at stream level */
    GString *text;            /* character data not yet added to cur */
    const char *default_ns;   /* default namespace declared on the root (see ns_keep) */
    gint64 fed;               /* bytes passed to expat so far */
    gint64 mark;              /* in a stanza: its first byte; else: end of the last event */
    gint64 stop_end;          /* end of the event during which xml_parser_stop() was called */
    gint64 seen;      /* end of the last event expat reported; after it: an incomplete token */
    GSource *reparse; /* forces a deferred re-parse of a long incomplete token */
    XmlNode *result;  /* fragment mode: the parsed element */
    char *err_text;
    /* Hibernation (see xml.h): while resting, xp and text are NULL. */
    gint64 xp_base;      /* bytes of the stream fed before the current expat parser's first */
    RootTag *root_tag;   /* the stream header's context, to wake up with (see save_root_tag) */
    GString *root_decls; /* before the root opened: its namespace declarations, as written */
    guint idle_gen;      /* the sweep generation when it was queued */
    GList idle_link;
};

static void parser_fail(XmlParser *p, XmlError err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void parser_fail(XmlParser *p, XmlError err, const char *fmt, ...)
{
    va_list ap;

    if (p->state == PARSER_FAILED)
        return;
    va_start(ap, fmt);
    g_free(p->err_text);
    p->err_text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p->state = PARSER_FAILED;
    if (p->in_expat)
        XML_StopParser(p->xp, XML_FALSE);
    if (p->cb.error != NULL)
        p->cb.error(p->ud, err, p->err_text);
}

/* Offsets in the stream (not in what the current expat parser was fed: after a wake-up it
 * was fed the saved root tag first) */
static inline gint64 event_start(XmlParser *p)
{
    return p->xp_base + (gint64)XML_GetCurrentByteIndex(p->xp);
}

static inline gint64 event_end(XmlParser *p)
{
    return p->xp_base + (gint64)XML_GetCurrentByteIndex(p->xp) + XML_GetCurrentByteCount(p->xp);
}

/* Inside a stanza: has it grown past max_stanza_bytes (counted up to the current event)? */
static gboolean stanza_too_big(XmlParser *p)
{
    if (p->lim.max_stanza_bytes == 0 || event_end(p) - p->mark <= (gint64)p->lim.max_stanza_bytes)
        return FALSE;
    parser_fail(p, XML_ERR_POLICY, "stanza exceeds %" G_GSIZE_FORMAT " bytes",
                p->lim.max_stanza_bytes);
    return TRUE;
}

static void restricted(XmlParser *p, const char *what)
{
    if (p->state == PARSER_LIVE)
        parser_fail(p, XML_ERR_RESTRICTED, "%s not allowed (RFC 6120 §11.1)", what);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    restricted(ud, "document type declaration");
}

static void XMLCALL on_comment(void *ud, const XML_Char *data)
{
    restricted(ud, "comment");
}

static void XMLCALL on_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    restricted(ud, "processing instruction");
}

static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    restricted(ud, "entity declaration");
}

static void XMLCALL on_unparsed_entity(void *ud, const XML_Char *name, const XML_Char *base,
                                       const XML_Char *sysid, const XML_Char *pubid,
                                       const XML_Char *notation)
{
    restricted(ud, "entity declaration");
}

static void XMLCALL on_notation(void *ud, const XML_Char *name, const XML_Char *base,
                                const XML_Char *sysid, const XML_Char *pubid)
{
    restricted(ud, "notation declaration");
}

static void XMLCALL on_skipped_entity(void *ud, const XML_Char *name, int is_param)
{
    restricted(ud, "entity reference");
}

/* RFC 6120 §11.6: UTF-8 only. The parser is created with encoding "UTF-8", which makes
 * expat ignore the declaration; a declaration naming another encoding is refused. */
static void XMLCALL on_xml_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                int standalone)
{
    XmlParser *p = ud;

    if (p->state == PARSER_LIVE && encoding != NULL && g_ascii_strcasecmp(encoding, "UTF-8") != 0)
        parser_fail(p, XML_ERR_INVALID_UTF8, "unsupported encoding '%s' (RFC 6120 §11.6)",
                    encoding);
}

/* A root's default namespace is nearly always one of these: kept as the constant, not as
 * a copy per stream. */
static const char *const common_ns[] = {XML_NS_CLIENT, XML_NS_SERVER, XML_NS_COMPONENT};

static const char *ns_keep(const char *uri)
{
    for (guint i = 0; i < G_N_ELEMENTS(common_ns); i++)
        if (strcmp(uri, common_ns[i]) == 0)
            return common_ns[i];
    return g_strdup(uri);
}

static void ns_drop(const char *ns)
{
    for (guint i = 0; i < G_N_ELEMENTS(common_ns); i++)
        if (ns == common_ns[i])
            return;
    g_free((char *)ns);
}

/* Only called before the root opened: records the namespaces declared on it, the default
 * one apart, and all as written for save_root_tag(). */
static void XMLCALL on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    XmlParser *p = ud;

    if (p->depth != 0 || p->root_seen)
        return;
    if (p->root_decls == NULL)
        p->root_decls = g_string_new(NULL);
    if (prefix == NULL) {
        ns_drop(p->default_ns);
        p->default_ns = ns_keep(uri != NULL ? uri : "");
        PUT_LIT(p->root_decls, " xmlns='");
    } else {
        PUT_LIT(p->root_decls, " xmlns:");
        put_str(p->root_decls, prefix);
        PUT_LIT(p->root_decls, "='");
    }
    if (uri != NULL)
        escape(p->root_decls, uri, strlen(uri), TRUE);
    g_string_append_c(p->root_decls, '\'');
}

static void split_qname(const char *qname, const char **ns, gsize *ns_len, const char **local)
{
    const char *sep = strchr(qname, NS_SEP);

    if (sep == NULL) {
        *ns = "";
        *ns_len = 0;
        *local = qname;
    } else {
        *ns = qname;
        *ns_len = sep - qname;
        *local = sep + 1;
    }
}

/* What a hibernated parser wakes up with: a start tag with the root's name as written and
 * its namespace declarations, the context every later element is parsed in. Feeding it to
 * a new expat parser (callbacks muted) is the one way to give that context back. The other
 * attributes (to, from, id, version, xml:lang) are not needed for it, so the tags of most
 * streams are byte for byte the same, and are kept once: shared and refcounted. */
struct RootTag {
    gint refs; /* under root_tags_lock */
    gsize len;
    const char *data; /* buf (NUL-terminated), or the caller's string in a lookup key */
    char buf[];
};

G_LOCK_DEFINE_STATIC(root_tags_lock);
static GHashTable *root_tags; /* RootTag*, by content */

static guint root_tag_hash(gconstpointer k)
{
    return g_str_hash(((const RootTag *)k)->data);
}

static gboolean root_tag_equal(gconstpointer a, gconstpointer b)
{
    const RootTag *x = a, *y = b;
    return x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
}

/* data: a NUL-terminated tag of len bytes */
static RootTag *root_tag_get(const char *data, gsize len)
{
    RootTag key = {.len = len, .data = data}, *t;

    G_LOCK(root_tags_lock);
    if (root_tags == NULL)
        root_tags = g_hash_table_new(root_tag_hash, root_tag_equal);
    t = g_hash_table_lookup(root_tags, &key);
    if (t != NULL) {
        t->refs++;
    } else {
        t = g_malloc(sizeof *t + len + 1);
        t->refs = 1;
        t->len = len;
        memcpy(t->buf, data, len + 1);
        t->data = t->buf;
        g_hash_table_add(root_tags, t);
    }
    G_UNLOCK(root_tags_lock);
    return t;
}

static void root_tag_release(RootTag *t)
{
    if (t == NULL)
        return;
    G_LOCK(root_tags_lock);
    if (--t->refs == 0) {
        g_hash_table_remove(root_tags, t);
        g_free(t);
    }
    G_UNLOCK(root_tags_lock);
}

/* Called in the root's start-tag event: the declarations on_ns_start() wrote become the
 * tag, after the root's name as written (prefix included), read from the input. Without
 * expat's input context (XML_CONTEXT_BYTES) the parser never hibernates. */
static void save_root_tag(XmlParser *p)
{
    int offset = 0, size = 0;
    const char *ctx = XML_GetInputContext(p->xp, &offset, &size);
    int count = XML_GetCurrentByteCount(p->xp);
    g_autoptr(GString) tag = p->root_decls != NULL ? p->root_decls : g_string_new(NULL);

    p->root_decls = NULL;
    if (ctx == NULL || offset < 0 || count <= 1 || offset + count > size || ctx[offset] != '<')
        return;
    const char *name = ctx + offset, *end = ctx + offset + count, *q = name + 1;
    while (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n' && *q != '/' && *q != '>')
        q++;
    g_string_prepend_len(tag, name, q - name); /* "<" and the name */
    g_string_append_c(tag, '>');
    root_tag_release(p->root_tag);
    p->root_tag = root_tag_get(tag->str, tag->len);
}

static void root_open(XmlParser *p, const XML_Char *qname, const XML_Char **atts, guint nattrs)
{
    const char *ns, *local;
    gsize ns_len;
    gint64 end = event_end(p);
    XmlAttr *attrs;
    char *root_ns;

    if (p->lim.max_header_bytes != 0 && end > (gint64)p->lim.max_header_bytes) {
        parser_fail(p, XML_ERR_POLICY, "stream header exceeds %" G_GSIZE_FORMAT " bytes",
                    p->lim.max_header_bytes);
        return;
    }
    p->root_seen = TRUE;
    p->depth = 1;
    p->mark = end;
    XML_SetNamespaceDeclHandler(p->xp, NULL, NULL);
    save_root_tag(p);
    if (p->cb.stream_open == NULL)
        return;

    split_qname(qname, &ns, &ns_len, &local);
    root_ns = g_strndup(ns, ns_len);
    attrs = g_new0(XmlAttr, nattrs + 1);
    for (guint i = 0; i < nattrs; i++) {
        const char *ans, *alocal;
        gsize ans_len;

        split_qname(atts[2 * i], &ans, &ans_len, &alocal);
        attrs[i].ns = ans_len > 0 ? g_strndup(ans, ans_len) : NULL;
        attrs[i].name = (char *)alocal;
        attrs[i].value = (char *)atts[2 * i + 1];
    }
    p->cb.stream_open(p->ud, root_ns, local, attrs, nattrs,
                      p->default_ns != NULL ? p->default_ns : "");
    for (guint i = 0; i < nattrs; i++)
        g_free(attrs[i].ns);
    g_free(attrs);
    g_free(root_ns);
}

static void flush_text(XmlParser *p)
{
    link_child(p->cur, text_alloc(p->text->str, p->text->len));
    g_string_truncate(p->text, 0);
}

static XmlNode *element_from_expat(const XML_Char *qname, const XML_Char **atts, guint nattrs)
{
    const char *ns, *local;
    gsize ns_len;
    XmlNode *n;

    split_qname(qname, &ns, &ns_len, &local);
    n = element_alloc(ns, ns_len, local, strlen(local), nattrs);
    for (guint i = 0; i < nattrs; i++) {
        const char *ans, *alocal, *value = atts[2 * i + 1];
        gsize ans_len;

        split_qname(atts[2 * i], &ans, &ans_len, &alocal);
        attr_fill(&n->attrs[i], ans, ans_len, alocal, strlen(alocal), value, strlen(value));
    }
    return n;
}

static void XMLCALL on_start(void *ud, const XML_Char *qname, const XML_Char **atts)
{
    XmlParser *p = ud;
    XmlNode *n;
    guint nattrs = 0;

    if (p->state != PARSER_LIVE)
        return;
    if (p->replaying) {
        p->replayed = TRUE;
        return; /* waking up: the root was opened (and checked) long ago */
    }
    p->seen = event_end(p);
    while (atts[2 * nattrs] != NULL)
        nattrs++;
    if (p->lim.max_attrs != 0 && nattrs > p->lim.max_attrs) {
        parser_fail(p, XML_ERR_POLICY, "element has more than %u attributes", p->lim.max_attrs);
        return;
    }
    if (p->depth == 0) {
        root_open(p, qname, atts, nattrs);
        return;
    }
    if (p->lim.max_depth != 0 && p->depth > p->lim.max_depth) {
        parser_fail(p, XML_ERR_POLICY, "elements nested deeper than %u", p->lim.max_depth);
        return;
    }
    if (p->cur == NULL)
        p->mark = event_start(p);
    else if (p->text->len > 0)
        flush_text(p);
    if (stanza_too_big(p))
        return;

    n = element_from_expat(qname, atts, nattrs);
    if (p->cur != NULL)
        link_child(p->cur, n);
    p->cur = n;
    p->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *qname)
{
    XmlParser *p = ud;
    XmlNode *n;

    if (p->state != PARSER_LIVE)
        return;
    p->seen = event_end(p);
    if (p->cur == NULL) {
        /* the stream root (the fragment's element always has cur set) */
        p->depth = 0;
        p->mark = event_end(p);
        if (p->cb.stream_close != NULL)
            p->cb.stream_close(p->ud);
        return;
    }
    if (p->text->len > 0)
        flush_text(p);
    if (stanza_too_big(p))
        return;
    n = p->cur;
    p->cur = n->parent;
    p->depth--;
    if (p->cur != NULL)
        return;

    p->mark = event_end(p);
    if (p->fragment)
        p->result = n;
    else if (p->cb.element != NULL)
        p->cb.element(p->ud, n);
    else
        xml_node_free(n);
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    XmlParser *p = ud;

    if (p->state != PARSER_LIVE)
        return;
    p->seen = event_end(p);
    if (p->cur == NULL) {
        /* between stanzas: whitespace keepalives only (RFC 6120 §4.6.1) */
        for (int i = 0; i < len; i++) {
            if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
                parser_fail(p, XML_ERR_NOT_WELL_FORMED, "text at stream level");
                return;
            }
        }
        p->mark = event_end(p);
        return;
    }
    if (stanza_too_big(p))
        return;
    g_string_append_len(p->text, s, len);
}

/* Expat says XML_ERROR_INVALID_TOKEN both for bytes that are not UTF-8 and for UTF-8 that
 * is not an XML Char. Look at the bytes where it stopped to tell which. */
static gboolean invalid_utf8_at_error(XmlParser *p)
{
    int offset = 0, size = 0;
    const char *ctx = XML_GetInputContext(p->xp, &offset, &size);
    const char *s, *end;
    gsize window;

    if (ctx == NULL || offset < 0 || offset >= size)
        return FALSE;
    s = ctx + offset;
    window = MIN((gsize)(size - offset), 64);
    /* Only the character where expat stopped counts: looking further called a control
     * character "invalid UTF-8" when a bad byte followed (tests/unit/test_fuzz_regressions,
     * utf8-error-kind). A character cut by the end of the input is not known bad yet. */
    if (g_utf8_validate_len(s, window, &end) || end != s)
        return FALSE;
    if (*s == '\0')
        return FALSE; /* NUL is UTF-8, just not an XML Char */
    return g_utf8_get_char_validated(s, window) != (gunichar)-2;
}

static void report_expat_error(XmlParser *p)
{
    enum XML_Error code = XML_GetErrorCode(p->xp);
    XmlError err = XML_ERR_NOT_WELL_FORMED;

    switch (code) {
    case XML_ERROR_INVALID_TOKEN:
        if (invalid_utf8_at_error(p))
            err = XML_ERR_INVALID_UTF8;
        break;
    case XML_ERROR_PARTIAL_CHAR:
    case XML_ERROR_INCORRECT_ENCODING:
    case XML_ERROR_UNKNOWN_ENCODING:
        err = XML_ERR_INVALID_UTF8;
        break;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
        err = XML_ERR_RESTRICTED; /* RFC 6120 §11.1: no entities but the predefined ones */
        break;
    default:
        break;
    }
    if (err == XML_ERR_INVALID_UTF8)
        parser_fail(p, err, "invalid UTF-8 (line %lu, column %lu)",
                    (unsigned long)XML_GetCurrentLineNumber(p->xp),
                    (unsigned long)XML_GetCurrentColumnNumber(p->xp));
    else
        parser_fail(p, err, "%s (line %lu, column %lu)", XML_ErrorString(code),
                    (unsigned long)XML_GetCurrentLineNumber(p->xp),
                    (unsigned long)XML_GetCurrentColumnNumber(p->xp));
}

static void reparse(XmlParser *p);

/* After a chunk: bound what expat holds of an element that has not closed (or a tag that
 * is not complete yet), not only what callbacks have seen. Input expat deferred may
 * complete the header or the stanza: parse it before calling the limit exceeded, or the
 * verdict would depend on how the bytes were chunked (tests/fuzz/regressions/
 * fuzz_xml_stream/header-limit-deferred-tag). It costs one re-parse of the tail, once: the
 * parser fails or the element it was waiting for has ended. */
static void check_pending(XmlParser *p)
{
    gboolean over;

    if (!p->root_seen && !p->fragment)
        over = p->lim.max_header_bytes != 0 && p->fed > (gint64)p->lim.max_header_bytes;
    else
        over = p->depth > 0 && p->lim.max_stanza_bytes != 0 &&
               p->fed - p->mark > (gint64)p->lim.max_stanza_bytes;
    if (!over)
        return;
    if (p->deferring && p->seen < p->fed) {
        reparse(p); /* runs check_pending again, with deferral off */
        return;
    }
    if (!p->root_seen && !p->fragment)
        parser_fail(p, XML_ERR_POLICY, "stream header exceeds %" G_GSIZE_FORMAT " bytes",
                    p->lim.max_header_bytes);
    else
        parser_fail(p, XML_ERR_POLICY, "stanza exceeds %" G_GSIZE_FORMAT " bytes",
                    p->lim.max_stanza_bytes);
}

static void set_deferral(XmlParser *p, gboolean on)
{
    p->deferring = !!on;
#ifdef HAVE_REPARSE_DEFERRAL
    XML_SetReparseDeferralEnabled(p->xp, on ? XML_TRUE : XML_FALSE);
#else
    if (XML_SetReparseDeferralEnabled != NULL)
        XML_SetReparseDeferralEnabled(p->xp, on ? XML_TRUE : XML_FALSE);
#endif
}

/* ------------------------------------------------------------------------------------------
 * Expat's memory. An expat parser makes ~40 blocks (10-11 KiB for a client stream: the
 * parser, its pools, tag and binding lists, the input buffer), at creation and while the
 * stream's first stanzas go through, then reuses them. Spread over the heap between the TLS
 * and session objects of the same moment, they left ~11 KiB of holes per parser when it was
 * freed (hibernation, xml.h): after a storm of logins, the parsers of the last second or two
 * hibernate when nobody logs in to fill the holes, and malloc_trim() cannot give back pages
 * that live objects share (bench/compare idle: ~1 KiB per session at 19,000 sessions).
 * So each expat parser allocates from one block of its own (bump allocation; a block freed
 * last is given back to it, others wait for the parser's end), and what does not fit goes to
 * the heap. Freed, the arena is one hole of 12 KiB whose pages malloc_trim() can return.
 * Expat allocates only inside the calls made between arena_enter() and arena_leave().
 * ---------------------------------------------------------------------------------------- */

#define EXPAT_ARENA_BYTES 12288

typedef struct ExpatArena {
    gsize used;
    gsize pad; /* keeps data[] 16-byte aligned */
    char data[];
} ExpatArena;

typedef struct {
    gsize size;        /* as requested (the room taken may be larger) */
    ExpatArena *arena; /* NULL: from the heap */
} ArenaBlock;          /* the 16 bytes before each block */

G_STATIC_ASSERT(sizeof(ArenaBlock) == 16 && sizeof(ExpatArena) == 16);

/* Under AddressSanitizer the arena's free room, block headers and freed blocks are
 * poisoned, so an overflow in expat is still caught as one from a malloc'ed block would be. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static __thread ExpatArena *cur_arena;

static inline gsize arena_span(gsize n)
{
    return sizeof(ArenaBlock) + ((n + 15) & ~(gsize)15);
}

static ArenaBlock block_get(void *ptr)
{
    ArenaBlock *b = (ArenaBlock *)ptr - 1, copy;

    ARENA_UNPOISON(b, sizeof *b);
    copy = *b;
    if (copy.arena != NULL)
        ARENA_POISON(b, sizeof *b);
    return copy;
}

static void block_set(void *ptr, gsize size, ExpatArena *a)
{
    ArenaBlock *b = (ArenaBlock *)ptr - 1;

    ARENA_UNPOISON(b, sizeof *b);
    b->size = size;
    b->arena = a;
    if (a != NULL)
        ARENA_POISON(b, sizeof *b);
}

/* Is this arena block the last one taken (its room can be given back or grown)? */
static inline gboolean block_is_last(void *ptr, const ArenaBlock *b)
{
    return (char *)ptr - sizeof(ArenaBlock) + arena_span(b->size) ==
           b->arena->data + b->arena->used;
}

static void *arena_malloc(size_t n)
{
    ExpatArena *a = cur_arena;
    char *room;

    if (a != NULL && n <= EXPAT_ARENA_BYTES && arena_span(n) <= EXPAT_ARENA_BYTES - a->used) {
        room = a->data + a->used;
        a->used += arena_span(n);
        ARENA_UNPOISON(room + sizeof(ArenaBlock), n);
    } else {
        if (n > G_MAXSIZE - sizeof(ArenaBlock) || (room = malloc(sizeof(ArenaBlock) + n)) == NULL)
            return NULL;
        a = NULL;
    }
    block_set(room + sizeof(ArenaBlock), n, a);
    return room + sizeof(ArenaBlock);
}

static void arena_free(void *ptr)
{
    ArenaBlock b;

    if (ptr == NULL)
        return;
    b = block_get(ptr);
    if (b.arena == NULL) {
        free((ArenaBlock *)ptr - 1);
        return;
    }
    ARENA_POISON(ptr, b.size);
    if (block_is_last(ptr, &b))
        b.arena->used -= arena_span(b.size); /* the last block: its room is taken again */
}

static void *arena_realloc(void *ptr, size_t n)
{
    ArenaBlock b;
    void *fresh;

    if (ptr == NULL)
        return arena_malloc(n);
    b = block_get(ptr);
    if (b.arena == NULL) {
        ArenaBlock *h = (ArenaBlock *)ptr - 1;

        if (n > G_MAXSIZE - sizeof(ArenaBlock) || (h = realloc(h, sizeof(ArenaBlock) + n)) == NULL)
            return NULL;
        h->size = n;
        return h + 1;
    }
    if (n <= b.size) {
        ARENA_POISON((char *)ptr + n, b.size - n);
        ARENA_UNPOISON(ptr, n);
        return ptr; /* keeps its room (b.size) */
    }
    if (block_is_last(ptr, &b) && n <= EXPAT_ARENA_BYTES &&
        arena_span(n) - arena_span(b.size) <= EXPAT_ARENA_BYTES - b.arena->used) {
        b.arena->used += arena_span(n) - arena_span(b.size); /* the last block grows in place */
        block_set(ptr, n, b.arena);
        ARENA_UNPOISON(ptr, n);
        return ptr;
    }
    if ((fresh = arena_malloc(n)) == NULL)
        return NULL;
    ARENA_UNPOISON(ptr, b.size); /* shrunk in place earlier: all of the room was the caller's */
    memcpy(fresh, ptr, b.size);
    arena_free(ptr);
    return fresh;
}

static const XML_Memory_Handling_Suite arena_suite = {arena_malloc, arena_realloc, arena_free};

static ExpatArena *arena_new(void)
{
    ExpatArena *a = g_malloc(sizeof(ExpatArena) + EXPAT_ARENA_BYTES);

    a->used = 0;
    ARENA_POISON(a->data, EXPAT_ARENA_BYTES);
    return a;
}

static void arena_destroy(ExpatArena *a)
{
    if (a == NULL)
        return;
    ARENA_UNPOISON(a->data, EXPAT_ARENA_BYTES);
    g_free(a);
}

/* Around every call into expat that may allocate; nests (a callback may parse a fragment). */
static inline ExpatArena *arena_enter(XmlParser *p)
{
    ExpatArena *saved = cur_arena;

    cur_arena = p->arena;
    return saved;
}

static inline void arena_leave(ExpatArena *saved)
{
    cur_arena = saved;
}

/* The expat parser and its arena */
static void expat_free(XmlParser *p)
{
    XML_ParserFree(p->xp); /* through arena_free(): heap blocks are given back */
    p->xp = NULL;
    arena_destroy(p->arena);
    p->arena = NULL;
}

/* A new expat parser for p, with our handlers. The namespace declaration handler only
 * matters before the root opened. */
static void expat_create(XmlParser *p)
{
    static const XML_Char sep[] = {NS_SEP, '\0'};
    ExpatArena *saved;

    p->arena = arena_new();
    saved = arena_enter(p);
    p->xp = XML_ParserCreate_MM("UTF-8", &arena_suite, sep);
    arena_leave(saved);
    if (p->xp == NULL)
        g_error("XML_ParserCreate_MM: out of memory");
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    if (!p->fragment && !p->root_seen)
        XML_SetNamespaceDeclHandler(p->xp, on_ns_start, NULL);
    XML_SetXmlDeclHandler(p->xp, on_xml_decl);
    /* RFC 6120 §11.1 */
    XML_SetStartDoctypeDeclHandler(p->xp, on_doctype);
    XML_SetCommentHandler(p->xp, on_comment);
    XML_SetProcessingInstructionHandler(p->xp, on_pi);
    XML_SetEntityDeclHandler(p->xp, on_entity_decl);
    XML_SetUnparsedEntityDeclHandler(p->xp, on_unparsed_entity);
    XML_SetNotationDeclHandler(p->xp, on_notation);
    XML_SetSkippedEntityHandler(p->xp, on_skipped_entity);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    set_deferral(p, TRUE); /* see REPARSE_NOW_BYTES */
}

static XmlParser *parser_create(const XmlParserCallbacks *cb, gpointer ud, const XmlLimits *limits,
                                gboolean fragment)
{
    XmlParser *p = g_new0(XmlParser, 1);

    if (cb != NULL)
        p->cb = *cb;
    p->ud = ud;
    if (limits != NULL)
        p->lim = *limits;
    p->fragment = !!fragment;
    p->depth = fragment ? 1 : 0;
    p->text = g_string_sized_new(256);
    expat_create(p);
    return p;
}

/* ------------------------------------------------------------------------------------------
 * Hibernation. An idle stream's expat parser (its pools, name and binding tables, input
 * buffer: ~11 KiB) is most of what an idle session costs that we control. A parser resting
 * at stream level between stanzas, with nothing buffered, can be freed and later replaced
 * by a new one fed the saved root start tag first (callbacks muted): the new parser then
 * has the same namespace context, and xp_base keeps byte offsets (the stanza size limit)
 * counting in the stream. Each thread keeps the parsers that went idle in a queue, oldest
 * first; a sweep once a second hibernates those that were already queued at the previous
 * sweep (idle for 1-2 s), so that a busy stream never pays for a wake-up (~15,000
 * instructions).
 * ---------------------------------------------------------------------------------------- */

#define HIBERNATE_SWEEP_SECONDS 1
/* Once this many parsers were hibernated (a burst of logins went idle), the sweep gives the
 * freed pages back to the kernel: they are in the middle of the heap, where glibc's free()
 * does not return them by itself. At most once a sweep; after fewer (a sixteenth) when no
 * parser is left waiting. */
#define HIBERNATE_TRIM_MIN 256

typedef struct {
    GQueue queue; /* XmlParser.idle_link, oldest first */
    GSource *sweep;
    guint gen;        /* sweeps so far */
    guint since_trim; /* parsers hibernated since the last malloc_trim() */
} IdleParsers;

static __thread IdleParsers idle_parsers;

static gboolean can_rest(const XmlParser *p)
{
    return !p->fragment && p->state == PARSER_LIVE && !p->in_expat && p->xp != NULL &&
           p->root_seen && p->root_tag != NULL && p->depth == 1 && p->cur == NULL &&
           p->text->len == 0 && p->mark == p->fed;
}

static void idle_unqueue(XmlParser *p)
{
    if (!p->queued)
        return;
    g_queue_unlink(&idle_parsers.queue, &p->idle_link);
    p->queued = FALSE;
}

gboolean xml_parser_hibernate(XmlParser *p)
{
    if (p->xp == NULL)
        return TRUE;
    if (!can_rest(p))
        return FALSE;
    idle_unqueue(p);
    expat_free(p);
    g_string_free(p->text, TRUE);
    p->text = NULL;
    if (p->cb.hibernated != NULL)
        p->cb.hibernated(p->ud);
    return TRUE;
}

gboolean xml_parser_hibernated(const XmlParser *p)
{
    return p->xp == NULL;
}

static gboolean sweep_cb(gpointer data)
{
    IdleParsers *ip = &idle_parsers;
    GList *l;
    guint n = 0;

    ip->gen++;
    while ((l = ip->queue.head) != NULL) {
        XmlParser *p = l->data;

        if (p->idle_gen + 1 >= ip->gen)
            break; /* queued after the previous sweep: idle for less than a second */
        idle_unqueue(p);
        n += xml_parser_hibernate(p);
    }
#ifdef __GLIBC__
    ip->since_trim += n;
    /* also at the end of a smaller burst: nothing else will fill those holes soon */
    if (ip->since_trim >= HIBERNATE_TRIM_MIN ||
        (ip->since_trim >= HIBERNATE_TRIM_MIN / 16 && ip->queue.length == 0)) {
        ip->since_trim = 0;
        malloc_trim(0);
    }
#endif
    if (ip->queue.length > 0)
        return G_SOURCE_CONTINUE;
    ip->sweep = NULL;
    return G_SOURCE_REMOVE;
}

/* After a feed: queue the parser when it rests at stream level, at the tail. */
static void idle_update(XmlParser *p)
{
    IdleParsers *ip = &idle_parsers;

    idle_unqueue(p);
    if (!can_rest(p))
        return;
    p->idle_link.data = p;
    p->idle_gen = ip->gen;
    g_queue_push_tail_link(&ip->queue, &p->idle_link);
    p->queued = TRUE;
    if (ip->sweep == NULL) {
        g_autoptr(GMainContext) ctx = g_main_context_ref_thread_default();

        ip->sweep = g_timeout_source_new_seconds(HIBERNATE_SWEEP_SECONDS);
        g_source_set_callback(ip->sweep, sweep_cb, NULL, NULL);
        g_source_set_static_name(ip->sweep, "xml-parser-hibernate");
        g_source_attach(ip->sweep, ctx);
        g_source_unref(ip->sweep); /* the context holds it until sweep_cb removes it */
    }
}

/* New input for a hibernated parser: a new expat parser in the root's context. */
static gboolean parser_wake(XmlParser *p)
{
    enum XML_Status st;
    ExpatArena *saved;

    expat_create(p);
    p->text = g_string_sized_new(256);
    p->replaying = TRUE;
    p->replayed = FALSE;
    p->in_expat = TRUE;
    set_deferral(p, FALSE); /* the whole tag now, not with the next input */
    saved = arena_enter(p);
    st = XML_Parse(p->xp, p->root_tag->data, (int)p->root_tag->len, XML_FALSE);
    arena_leave(saved);
    set_deferral(p, TRUE);
    p->in_expat = FALSE;
    p->replaying = FALSE;
    p->xp_base = p->fed - (gint64)p->root_tag->len;
    if (st != XML_STATUS_OK || p->state != PARSER_LIVE || !p->replayed) {
        /* it parsed once already: cannot happen short of a bug here */
        parser_fail(p, XML_ERR_NOT_WELL_FORMED, "cannot resume the stream header");
        return FALSE;
    }
    return TRUE;
}

XmlParser *xml_parser_new(const XmlParserCallbacks *cb, gpointer ud, const XmlLimits *limits)
{
    return parser_create(cb, ud, limits, FALSE);
}

/* Not from inside a callback: the owner frees after xml_parser_feed() returned. */
void xml_parser_free(XmlParser *p)
{
    XmlNode *top;

    if (p == NULL)
        return;
    g_return_if_fail(!p->in_expat);
    top = p->cur;
    while (top != NULL && top->parent != NULL)
        top = top->parent;
    xml_node_free(top);
    xml_node_free(p->result);
    idle_unqueue(p);
    if (p->reparse != NULL) {
        g_source_destroy(p->reparse);
        g_source_unref(p->reparse);
    }
    if (p->xp != NULL)
        expat_free(p);
    if (p->text != NULL)
        g_string_free(p->text, TRUE);
    root_tag_release(p->root_tag);
    if (p->root_decls != NULL)
        g_string_free(p->root_decls, TRUE);
    ns_drop(p->default_ns);
    g_free(p->err_text);
    g_free(p);
}

void xml_parser_set_limits(XmlParser *p, const XmlLimits *limits)
{
    memset(&p->lim, 0, sizeof(p->lim));
    if (limits != NULL)
        p->lim = *limits;
}

void xml_parser_stop(XmlParser *p)
{
    if (p->state != PARSER_LIVE)
        return;
    p->state = PARSER_STOPPED;
    if (p->in_expat) {
        p->stop_end = event_end(p);
        XML_StopParser(p->xp, XML_FALSE);
    } else {
        p->stop_end = p->fed;
    }
}

/* One XML_Parse call; returns FALSE when the parser stopped or failed. */
static gboolean parse_chunk(XmlParser *p, const char *buf, int len, gboolean final)
{
    enum XML_Status st;
    ExpatArena *saved = arena_enter(p);

    p->in_expat = TRUE;
    st = XML_Parse(p->xp, buf, len, final ? XML_TRUE : XML_FALSE);
    p->in_expat = FALSE;
    arena_leave(saved);
    p->fed += len;
    if (p->state != PARSER_LIVE)
        return FALSE;
    if (st != XML_STATUS_OK) {
        report_expat_error(p);
        return FALSE;
    }
    check_pending(p);
    return p->state == PARSER_LIVE;
}

/* Parse what expat deferred (see REPARSE_NOW_BYTES). */
static void reparse(XmlParser *p)
{
    set_deferral(p, FALSE);
    parse_chunk(p, "", 0, FALSE);
    if (p->state == PARSER_LIVE)
        set_deferral(p, TRUE);
}

static gboolean reparse_cb(gpointer data)
{
    XmlParser *p = data;

    g_source_unref(p->reparse);
    p->reparse = NULL;
    if (p->state == PARSER_LIVE && p->xp != NULL && p->seen < p->fed) {
        reparse(p);
        if (p->state == PARSER_LIVE)
            idle_update(p);
    }
    return G_SOURCE_REMOVE;
}

/* After a feed: an incomplete tail is re-parsed now when short, else soon. */
static void settle(XmlParser *p)
{
    if (p->seen >= p->fed)
        return;
    if (p->fed - p->seen <= REPARSE_NOW_BYTES) {
        reparse(p);
        return;
    }
    if (p->reparse != NULL)
        return;
    g_autoptr(GMainContext) ctx = g_main_context_ref_thread_default();
    p->reparse = g_timeout_source_new(REPARSE_MS);
    g_source_set_callback(p->reparse, reparse_cb, p, NULL);
    g_source_set_static_name(p->reparse, "xml-reparse");
    g_source_attach(p->reparse, ctx);
}

XmlFeedResult xml_parser_feed(XmlParser *p, const char *buf, gsize len, gsize *consumed)
{
    gint64 base = p->fed;
    gsize off = 0, dummy;

    if (consumed == NULL)
        consumed = &dummy;
    *consumed = 0;
    if (p->state == PARSER_FAILED)
        return XML_FEED_ERROR;
    if (p->state == PARSER_STOPPED)
        return XML_FEED_STOPPED;
    g_return_val_if_fail(!p->in_expat, XML_FEED_ERROR);
    if (len == 0)
        return XML_FEED_OK;
    if (p->xp == NULL && !parser_wake(p))
        return XML_FEED_ERROR;

    while (off < len) {
        int n = (int)MIN(len - off, FEED_CHUNK);

        if (!parse_chunk(p, buf + off, n, FALSE))
            break;
        off += n;
    }
    if (p->state == PARSER_LIVE)
        settle(p);
    switch (p->state) {
    case PARSER_LIVE:
        idle_update(p);
        *consumed = len;
        return XML_FEED_OK;
    case PARSER_STOPPED:
        idle_unqueue(p);
        *consumed = (gsize)CLAMP(p->stop_end - base, 0, (gint64)len);
        return XML_FEED_STOPPED;
    case PARSER_FAILED:
    default:
        idle_unqueue(p);
        return XML_FEED_ERROR;
    }
}

XmlNode *xml_parse_fragment(const char *s, gssize len, GError **error)
{
    XmlParser *p;
    XmlNode *result = NULL;
    gsize off = 0, total;

    g_return_val_if_fail(s != NULL, NULL);
    total = len < 0 ? strlen(s) : (gsize)len;
    p = parser_create(NULL, NULL, NULL, TRUE);
    do {
        int n = (int)MIN(total - off, FEED_CHUNK);

        off += n;
        if (!parse_chunk(p, s + off - n, n, off == total))
            break;
    } while (off < total);

    if (p->state == PARSER_LIVE && p->result != NULL) {
        result = p->result;
        p->result = NULL;
    } else {
        g_set_error(error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, "%s",
                    p->err_text != NULL ? p->err_text : "no element found");
    }
    xml_parser_free(p);
    return result;
}
