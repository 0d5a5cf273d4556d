/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/stanza.c — stanza builders and RFC 6120 §8.3 error replies on libstrophe */
#include "transports/sdk/sdk-private.h"

#include <string.h>

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

xmpp_stanza_t *tt_stanza_new(TtTransport *t, const char *name, const char *type, const char *from,
                             const char *to, const char *id)
{
    xmpp_stanza_t *st = xmpp_stanza_new(tt_ctx(t));
    xmpp_stanza_set_name(st, name);
    if (type)
        xmpp_stanza_set_type(st, type);
    if (from)
        xmpp_stanza_set_from(st, from);
    if (to)
        xmpp_stanza_set_to(st, to);
    if (id)
        xmpp_stanza_set_id(st, id);
    return st;
}

xmpp_stanza_t *tt_stanza_add_child(xmpp_stanza_t *parent, const char *name, const char *ns,
                                   const char *text)
{
    xmpp_ctx_t *ctx = xmpp_stanza_get_context(parent);
    xmpp_stanza_t *child = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(child, name);
    if (ns)
        xmpp_stanza_set_ns(child, ns);
    if (text && *text) {
        xmpp_stanza_t *tn = xmpp_stanza_new(ctx);
        xmpp_stanza_set_text(tn, text);
        xmpp_stanza_add_child(child, tn);
        xmpp_stanza_release(tn);
    }
    xmpp_stanza_add_child(parent, child);
    xmpp_stanza_release(child); /* the parent holds it */
    return child;
}

char *tt_stanza_child_text(xmpp_stanza_t *stanza, const char *name)
{
    xmpp_stanza_t *c = xmpp_stanza_get_child_by_name(stanza, name);
    if (!c)
        return NULL;
    char *s = xmpp_stanza_get_text(c);
    char *r = g_strdup(s ? s : "");
    if (s)
        xmpp_free(xmpp_stanza_get_context(stanza), s);
    return r;
}

xmpp_stanza_t *tt_message_new(TtTransport *t, const char *type, const char *from, const char *to,
                              const char *body)
{
    xmpp_stanza_t *m = tt_stanza_new(t, "message", type, from, to, NULL);
    if (body)
        tt_stanza_add_child(m, "body", NULL, body);
    return m;
}

xmpp_stanza_t *tt_presence_new(TtTransport *t, const char *from, const char *to, TtShow show,
                               const char *status)
{
    xmpp_stanza_t *p = tt_stanza_new(
        t, "presence", show == TT_SHOW_UNAVAILABLE ? "unavailable" : NULL, from, to, NULL);
    const char *s = tt_show_to_string(show);
    if (s)
        tt_stanza_add_child(p, "show", NULL, s);
    if (status && *status)
        tt_stanza_add_child(p, "status", NULL, status);
    return p;
}

xmpp_stanza_t *tt_iq_result_new(TtTransport *t, xmpp_stanza_t *request)
{
    return tt_stanza_new(t, "iq", "result", xmpp_stanza_get_to(request),
                         xmpp_stanza_get_from(request), xmpp_stanza_get_id(request));
}

void tt_send_error(TtTransport *t, xmpp_stanza_t *request, const char *type, const char *condition,
                   const char *text)
{
    if (g_strcmp0(xmpp_stanza_get_type(request), "error") == 0)
        return; /* RFC 6120 §8.3.1: never answer an error with an error */
    const char *from = xmpp_stanza_get_from(request);
    if (!from)
        return;
    xmpp_stanza_t *r =
        tt_stanza_new(t, xmpp_stanza_get_name(request), "error", xmpp_stanza_get_to(request), from,
                      xmpp_stanza_get_id(request));
    xmpp_stanza_t *err = tt_stanza_add_child(r, "error", NULL, NULL);
    xmpp_stanza_set_attribute(err, "type", type);
    tt_stanza_add_child(err, condition, NS_STANZAS, NULL);
    if (text)
        tt_stanza_add_child(err, "text", NS_STANZAS, text);
    tt_send(t, r);
}
