/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/bosh_body.c — reading a BOSH <body/> (XEP-0124) with the one restricted parser */
#include "http/bosh_body.h"

#include <string.h>

/* The <body/> is parsed as the root of a short stream: the stream parser's limits and
 * restrictions apply to each child exactly as on a TCP stream. */

typedef struct {
    BoshBody *b;
    gboolean bad;
    gboolean done;
} Parse;

static void set_why(Parse *p, const char *why)
{
    p->bad = TRUE;
    if (!p->b->why)
        p->b->why = g_strdup(why);
}

static void body_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                      guint nattrs, const char *default_ns)
{
    Parse *p = ud;
    if (strcmp(ns, NS_HTTPBIND) || strcmp(name, "body")) {
        set_why(p, "the root must be <body xmlns='" NS_HTTPBIND "'/>");
        return;
    }
    for (guint i = 0; i < nattrs; i++)
        g_hash_table_insert(p->b->attrs,
                            attrs[i].ns ? g_strconcat(attrs[i].ns, "|", attrs[i].name, NULL)
                                        : g_strdup(attrs[i].name),
                            g_strdup(attrs[i].value));
}

static void body_element(gpointer ud, XmlNode *el)
{
    Parse *p = ud;
    if (p->bad)
        xml_node_free(el);
    else
        g_ptr_array_add(p->b->nodes, el);
}

static void body_close(gpointer ud)
{
    Parse *p = ud;
    p->done = TRUE;
}

static void body_error(gpointer ud, XmlError err, const char *text)
{
    set_why(ud, text);
}

static const XmlParserCallbacks body_cb = {body_open, body_element, body_close, body_error, NULL};

gboolean bosh_body_parse(const char *data, gsize len, const XmlLimits *limits, BoshBody *out)
{
    Parse p = {.b = out};
    out->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    out->nodes = g_ptr_array_new_with_free_func((GDestroyNotify)xml_node_free);
    out->why = NULL;
    XmlParser *xp = xml_parser_new(&body_cb, &p, limits);
    XmlFeedResult r = xml_parser_feed(xp, data, len, NULL);
    xml_parser_free(xp);
    if (r == XML_FEED_OK && !p.bad && !p.done)
        set_why(&p, "the body is not complete");
    return !p.bad && r == XML_FEED_OK;
}

void bosh_body_clear(BoshBody *b)
{
    g_clear_pointer(&b->attrs, g_hash_table_unref);
    g_clear_pointer(&b->nodes, g_ptr_array_unref);
    g_clear_pointer(&b->why, g_free);
}

const char *bosh_body_attr(const BoshBody *b, const char *ns, const char *name)
{
    if (!b->attrs)
        return NULL;
    if (!ns)
        return g_hash_table_lookup(b->attrs, name);
    g_autofree char *key = g_strconcat(ns, "|", name, NULL);
    return g_hash_table_lookup(b->attrs, key);
}

void bosh_body_child_message(const XmlNode *n, GString *out)
{
    xml_node_serialize(n, !strcmp(n->ns, NS_HTTPBIND) ? NS_HTTPBIND : "", out);
}
