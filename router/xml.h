/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/xml.h — the one restricted-XML parser factory, element tree, serializer */
#pragma once

#include <glib.h>

#define XML_NS_STREAMS "http://etherx.jabber.org/streams"
#define XML_NS_XML "http://www.w3.org/XML/1998/namespace"
#define XML_NS_CLIENT "jabber:client"
#define XML_NS_SERVER "jabber:server"
#define XML_NS_COMPONENT "jabber:component:accept"

typedef enum { XML_NODE_ELEMENT, XML_NODE_TEXT } XmlNodeKind;

typedef struct {
    char *ns;   /* namespace URI or NULL (plain attribute); XML_NS_XML for xml:lang */
    char *name; /* local name */
    char *value;
} XmlAttr;

/* An element or a text node. A tree is owned by its root; free with xml_node_free(). */
typedef struct XmlNode XmlNode;
struct XmlNode {
    XmlNodeKind kind;
    XmlNode *parent;      /* borrowed; NULL at the root */
    XmlNode *next;        /* next sibling (owned by the parent's list) */
    XmlNode *first_child; /* owned */
    XmlNode *last_child;  /* borrowed */
    char *name;           /* element: local name; text: NULL */
    char *ns;             /* element: namespace URI ("" when none); text: NULL */
    char *text;           /* text: the character data (UTF-8, unescaped); element: NULL */
    gsize text_len;       /* text: length in bytes */
    XmlAttr *attrs;       /* element: nattrs attributes */
    guint nattrs;
};

/* --- building and reading trees --- */
XmlNode *xml_node_new(const char *ns, const char *name); /* transfer full */
void xml_node_free(XmlNode *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XmlNode, xml_node_free)
XmlNode *xml_node_copy(const XmlNode *n); /* deep copy, transfer full */
/* Append child (transfer full) to parent; returns child (borrowed). */
XmlNode *xml_node_append(XmlNode *parent, XmlNode *child);
/* Unlink child from its parent; caller owns it afterwards. */
void xml_node_unlink(XmlNode *child);
/* New child element appended to parent; ns NULL = parent's namespace. Returns borrowed. */
XmlNode *xml_node_add_child(XmlNode *parent, const char *ns, const char *name);
/* Append text (copied) as a text node; returns parent. */
XmlNode *xml_node_add_text(XmlNode *parent, const char *text, gssize len);
/* Attribute without namespace (ns NULL) or with one. Value copied; NULL value removes. */
void xml_node_set_attr(XmlNode *n, const char *name, const char *value);
void xml_node_set_attr_ns(XmlNode *n, const char *ns, const char *name, const char *value);
const char *xml_node_attr(const XmlNode *n, const char *name); /* borrowed or NULL */
const char *xml_node_attr_ns(const XmlNode *n, const char *ns, const char *name);
/* First child element with this name and namespace (either may be NULL = any). */
XmlNode *xml_node_child(const XmlNode *n, const char *ns, const char *name);
/* Next sibling element after `after` matching ns/name (NULL = any). */
XmlNode *xml_node_next_element(const XmlNode *after, const char *ns, const char *name);
XmlNode *xml_node_first_element(const XmlNode *n);
/* Concatenated text of the direct text children, newly allocated (never NULL). */
char *xml_node_text(const XmlNode *n);
gboolean xml_node_is(const XmlNode *n, const char *ns, const char *name);

/* --- serializer: always re-serialize, never forward raw input --- */
/* Append the element to out. `parent_ns` is the default namespace in scope where it is
 * written (e.g. the stream's content namespace); an element whose namespace equals it gets
 * no xmlns. Elements in jabber:client / jabber:server / jabber:component:accept at the top
 * of the call are written in parent_ns instead (the stream decides the content namespace). */
void xml_node_serialize(const XmlNode *n, const char *parent_ns, GString *out);
char *xml_node_to_string(const XmlNode *n); /* parent_ns "" ; transfer full */
/* Escape text for element content or attribute value (escapes & < > " ') */
void xml_escape_append(GString *out, const char *s, gssize len);

/* --- the parser factory --- */
typedef enum {
    XML_ERR_NONE = 0,
    XML_ERR_NOT_WELL_FORMED, /* -> <not-well-formed/> */
    XML_ERR_RESTRICTED,      /* DTD, comment, PI, entity decl -> <restricted-xml/> */
    XML_ERR_INVALID_UTF8,    /* -> <not-well-formed/> (RFC 6120 §11.6) */
    XML_ERR_POLICY,          /* size/depth/attr limit -> <policy-violation/> */
    XML_ERR_INVALID_NS,      /* wrong stream namespace -> <invalid-namespace/> */
    XML_ERR_BAD_FORMAT,      /* e.g. text at stream level? -> <bad-format/> */
} XmlError;

typedef struct {
    gsize max_stanza_bytes; /* bytes of one depth-1 child, 0 = unlimited */
    guint max_depth;        /* depth of the tree below the stream element */
    guint max_attrs;        /* attributes per element */
    gsize max_header_bytes; /* bytes of the stream header, 0 = unlimited */
} XmlLimits;

typedef struct {
    /* The stream root opened. attrs: NULL-terminated array of XmlAttr (borrowed for the
     * call); default_ns: the default namespace declared on the root ("" when none). */
    void (*stream_open)(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                        guint nattrs, const char *default_ns);
    /* A complete depth-1 element. transfer full. */
    void (*element)(gpointer ud, XmlNode *el);
    /* The stream root closed (</stream:stream>). */
    void (*stream_close)(gpointer ud);
    /* An error; the parser is dead afterwards. text: human readable (borrowed). */
    void (*error)(gpointer ud, XmlError err, const char *text);
    /* Optional: the parser went to rest (xml_parser_hibernate): the owner may give back
     * what an idle stream does not need either. Never called from inside a feed. */
    void (*hibernated)(gpointer ud);
} XmlParserCallbacks;

typedef struct XmlParser XmlParser;

typedef enum {
    XML_FEED_OK,      /* all bytes consumed */
    XML_FEED_STOPPED, /* a callback called xml_parser_stop(); *consumed says how far */
    XML_FEED_ERROR,   /* error callback was called */
} XmlFeedResult;

/* New stream parser. cb and limits are copied. mode: expects a stream root whose children
 * are stanzas. */
XmlParser *xml_parser_new(const XmlParserCallbacks *cb, gpointer ud, const XmlLimits *limits);
void xml_parser_free(XmlParser *p);
/* Feed bytes. On XML_FEED_STOPPED *consumed is the number of bytes of buf that were parsed
 * up to and including the element that stopped the parser; the rest was not looked at. */
XmlFeedResult xml_parser_feed(XmlParser *p, const char *buf, gsize len, gsize *consumed);
/* From inside a callback: stop after the current event (used for stream restarts). */
void xml_parser_stop(XmlParser *p);
/* Change limits (e.g. after authentication). */
void xml_parser_set_limits(XmlParser *p, const XmlLimits *limits);
/* Hibernation: a stream parser resting between stanzas (nothing buffered) for a second or
 * two gives its expat parser back (~11 KiB) and gets a new one, fed the saved stream
 * header first, with its next input. Parsers are queued per thread and swept from a
 * timeout on the thread-default main context: create, feed and free a parser in one thread.
 * xml_parser_hibernate() does it now (TRUE when the parser rests, now or already; FALSE when
 * it is inside a stanza, stopped or failed); xml_parser_hibernated() tells. */
gboolean xml_parser_hibernate(XmlParser *p);
gboolean xml_parser_hibernated(const XmlParser *p);

/* Parse one complete element (e.g. read back from storage), with the same restrictions.
 * Returns NULL and sets error (G_MARKUP_ERROR domain) when bad. transfer full */
XmlNode *xml_parse_fragment(const char *s, gssize len, GError **error);
