/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_libxml2.c — a second, independent XML parser to re-read what ternd writes */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

/* libxml2's xmlerror.h has an XML_ERR_NONE too: rename ours here, where both are seen */
#define XML_ERR_NONE TERN_XML_ERR_NONE
#include "tests/fuzz/fuzz.h"
#undef XML_ERR_NONE

/* libxml2's complaints while parsing one document (its error callbacks are global) */
typedef struct {
    GString *fatal; /* what matters; empty when nothing */
} Complaints;

static void on_structured_error(void *ud, xmlErrorPtr e)
{
    Complaints *c = ud;

    /* Not about the tree: libxml2 wants namespace names to be RFC 3986 URIs (XML Namespaces
     * 1.0 asks for a URI reference and peers use IRIs), checks xml:id values (unique
     * NCNames: the xml:id Recommendation, validity, not well-formedness), and warns. */
    if (e == NULL || e->level == XML_ERR_WARNING || e->code == XML_WAR_NS_URI ||
        e->code == XML_WAR_NS_URI_RELATIVE || e->code == XML_DTD_XMLID_VALUE ||
        e->code == XML_DTD_ID_REDEFINED)
        return;
    if (c->fatal->len > 0)
        g_string_append(c->fatal, "; ");
    g_string_append_printf(c->fatal, "%d: %s", e->code, e->message ? e->message : "?");
    while (c->fatal->len > 0 && c->fatal->str[c->fatal->len - 1] == '\n')
        g_string_truncate(c->fatal, c->fatal->len - 1);
}

static void silent(void *ctx, const char *msg, ...)
{
}

static const char *ns_of(const xmlNs *ns)
{
    return ns != NULL && ns->href != NULL ? (const char *)ns->href : "";
}

static XmlNode *element_from(const xmlNode *x)
{
    XmlNode *n = xml_node_new(ns_of(x->ns), (const char *)x->name);

    for (const xmlAttr *a = x->properties; a != NULL; a = a->next) {
        xmlChar *v = xmlNodeGetContent((const xmlNode *)a);
        xml_node_set_attr_ns(n, a->ns != NULL ? ns_of(a->ns) : NULL, (const char *)a->name,
                             v != NULL ? (const char *)v : "");
        xmlFree(v);
    }
    return n;
}

/* Iterative, as deep as the document is. pm mirrors x->parent; xm the last element made. */
static XmlNode *convert(const xmlNode *top, char **why)
{
    XmlNode *root = element_from(top), *pm = NULL, *xm = root;
    const xmlNode *x = top;

    for (;;) {
        if (x->type == XML_ELEMENT_NODE && x->children != NULL) {
            pm = xm;
            x = x->children;
        } else {
            while (x != top && x->next == NULL) {
                x = x->parent;
                pm = pm->parent;
            }
            if (x == top)
                return root;
            x = x->next;
        }
        switch (x->type) {
        case XML_ELEMENT_NODE:
            xm = xml_node_append(pm, element_from(x));
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (x->content != NULL)
                xml_node_add_text(pm, (const char *)x->content, -1);
            break;
        default:
            *why = g_strdup_printf("libxml2: unexpected node type %d", (int)x->type);
            xml_node_free(root);
            return NULL;
        }
    }
}

XmlNode *fuzz_libxml2_parse(const char *doc, gsize len, gboolean wrapped, char **why)
{
    static gsize once = 0;
    xmlParserCtxtPtr ctxt;
    xmlDocPtr d;
    xmlNodePtr top;
    XmlNode *out = NULL;
    Complaints complaints;

    if (g_once_init_enter(&once)) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, silent);
        g_once_init_leave(&once, 1);
    }
    *why = NULL;
    complaints.fatal = g_string_new(NULL);
    xmlSetStructuredErrorFunc(&complaints, on_structured_error);
    ctxt = xmlNewParserCtxt();
    g_assert(ctxt != NULL);
    /* NOENT: without it libxml2 2.9 keeps '&' of an xmlns value as "&#38;" in the namespace
     * name (a libxml2 quirk, not a different tree); there are no other entities to expand */
    d = xmlCtxtReadMemory(ctxt, doc, (int)len, NULL, "UTF-8",
                          XML_PARSE_NONET | XML_PARSE_HUGE | XML_PARSE_NOENT);
    xmlSetStructuredErrorFunc(NULL, NULL);
    if (d == NULL || !ctxt->wellFormed || complaints.fatal->len > 0) {
        *why = g_strdup_printf("libxml2: %s", complaints.fatal->len > 0 ? complaints.fatal->str
                                                                        : "not well-formed");
        goto out;
    }
    top = xmlDocGetRootElement(d);
    if (wrapped && top != NULL) {
        top = top->children;
        if (top == NULL || top->next != NULL || top->type != XML_ELEMENT_NODE) {
            *why = g_strdup("libxml2: not one element in the wrap");
            goto out;
        }
    }
    if (top == NULL) {
        *why = g_strdup("libxml2: no element");
        goto out;
    }
    out = convert(top, why);
out:
    if (d != NULL)
        xmlFreeDoc(d);
    xmlFreeParserCtxt(ctxt);
    g_string_free(complaints.fatal, TRUE);
    return out;
}

void fuzz_check_written(const XmlNode *el, const char *parent_ns)
{
    char *doc = fuzz_serialize_doc(el, parent_ns), *why = NULL;
    char *want = fuzz_dump(el, parent_ns), *got;
    XmlNode *other = fuzz_libxml2_parse(doc, strlen(doc), *parent_ns != '\0', &why);
    XmlNode *ours;
    GError *error = NULL;

    FUZZ_CHECK(other != NULL, "%s\nin: %s", why, doc);
    got = fuzz_dump(other, NULL);
    FUZZ_CHECK(strcmp(want, got) == 0, "libxml2 reads another tree:\n%s\nwant %s\ngot  %s", doc,
               want, got);
    g_free(got);
    xml_node_free(other);

    ours = fuzz_reparse_doc(doc, parent_ns, &error);
    FUZZ_CHECK(ours != NULL, "ternd does not re-read its output (%s):\n%s", error->message, doc);
    got = fuzz_dump(ours, NULL);
    FUZZ_CHECK(strcmp(want, got) == 0, "ternd re-reads another tree:\n%s\nwant %s\ngot  %s", doc,
               want, got);
    g_free(got);
    xml_node_free(ours);
    g_free(want);
    g_free(doc);
}
