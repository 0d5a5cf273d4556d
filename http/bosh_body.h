/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* http/bosh_body.h — reading a BOSH <body/> (XEP-0124) with the one restricted parser */
#pragma once

#include <glib.h>

#include "router/xml.h"

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"

typedef struct {
    GHashTable *attrs; /* the <body/> attributes: "name", or "namespace|name" -> value */
    GPtrArray *nodes;  /* its child elements (XmlNode*, owned), in order */
    char *why;         /* after a failure: what is wrong */
} BoshBody;

/* Parse a request body: exactly one <body xmlns='http://jabber.org/protocol/httpbind'/>,
 * restricted XML (RFC 6120 §11), each child within limits (borrowed; max_stanza_bytes is per
 * child, max_header_bytes for the <body> tag). FALSE with out->why set when it is not. Call
 * bosh_body_clear() either way. */
gboolean bosh_body_parse(const char *data, gsize len, const XmlLimits *limits, BoshBody *out);
void bosh_body_clear(BoshBody *b);
/* An attribute of the <body/> (ns NULL: none), or NULL. borrowed */
const char *bosh_body_attr(const BoshBody *b, const char *ns, const char *name);
/* The message a child becomes on the framed stream (RFC 7395 framing, router/stream.c): the
 * element serialized on its own; one the client left in the httpbind namespace (no xmlns)
 * is written without a namespace, so that the stream reads it as jabber:client. Appended. */
void bosh_body_child_message(const XmlNode *n, GString *out);
