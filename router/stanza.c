/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/stanza.c — refcounted stanzas, RFC 6120 §8.3 stanza errors, §4.9 stream errors */

#include <string.h>

#include "router/stanza.h"

#define NS_XMPP_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_XMPP_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"

/* RFC 6120 §8.3.3: each condition with the error type the RFC gives for it */
static const struct {
    const char *condition;
    const char *type;
} stanza_errs[STANZA_ERR__COUNT] = {
    [STANZA_ERR_BAD_REQUEST] = {"bad-request", "modify"},                         /* .1 */
    [STANZA_ERR_CONFLICT] = {"conflict", "cancel"},                               /* .2 */
    [STANZA_ERR_FEATURE_NOT_IMPLEMENTED] = {"feature-not-implemented", "cancel"}, /* .3 */
    [STANZA_ERR_FORBIDDEN] = {"forbidden", "auth"},                               /* .4 */
    [STANZA_ERR_GONE] = {"gone", "cancel"},                                       /* .5 */
    [STANZA_ERR_INTERNAL_SERVER_ERROR] = {"internal-server-error", "cancel"},     /* .6 */
    [STANZA_ERR_ITEM_NOT_FOUND] = {"item-not-found", "cancel"},                   /* .7 */
    [STANZA_ERR_JID_MALFORMED] = {"jid-malformed", "modify"},                     /* .8 */
    [STANZA_ERR_NOT_ACCEPTABLE] = {"not-acceptable", "modify"},                   /* .9 */
    [STANZA_ERR_NOT_ALLOWED] = {"not-allowed", "cancel"},                         /* .10 */
    [STANZA_ERR_NOT_AUTHORIZED] = {"not-authorized", "auth"},                     /* .11 */
    [STANZA_ERR_POLICY_VIOLATION] = {"policy-violation", "modify"},               /* .12 */
    [STANZA_ERR_RECIPIENT_UNAVAILABLE] = {"recipient-unavailable", "wait"},       /* .13 */
    [STANZA_ERR_REDIRECT] = {"redirect", "modify"},                               /* .14 */
    [STANZA_ERR_REGISTRATION_REQUIRED] = {"registration-required", "auth"},       /* .15 */
    [STANZA_ERR_REMOTE_SERVER_NOT_FOUND] = {"remote-server-not-found", "cancel"}, /* .16 */
    [STANZA_ERR_REMOTE_SERVER_TIMEOUT] = {"remote-server-timeout", "wait"},       /* .17 */
    [STANZA_ERR_RESOURCE_CONSTRAINT] = {"resource-constraint", "wait"},           /* .18 */
    [STANZA_ERR_SERVICE_UNAVAILABLE] = {"service-unavailable", "cancel"},         /* .19 */
    [STANZA_ERR_SUBSCRIPTION_REQUIRED] = {"subscription-required", "auth"},       /* .20 */
    [STANZA_ERR_UNDEFINED_CONDITION] = {"undefined-condition", "cancel"},         /* .21 */
    [STANZA_ERR_UNEXPECTED_REQUEST] = {"unexpected-request", "wait"},             /* .22 */
};

/* RFC 6120 §4.9.3 */
static const char *const stream_errs[STREAM_ERR__COUNT] = {
    [STREAM_ERR_BAD_FORMAT] = "bad-format",
    [STREAM_ERR_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
    [STREAM_ERR_CONFLICT] = "conflict",
    [STREAM_ERR_CONNECTION_TIMEOUT] = "connection-timeout",
    [STREAM_ERR_HOST_GONE] = "host-gone",
    [STREAM_ERR_HOST_UNKNOWN] = "host-unknown",
    [STREAM_ERR_IMPROPER_ADDRESSING] = "improper-addressing",
    [STREAM_ERR_INTERNAL_SERVER_ERROR] = "internal-server-error",
    [STREAM_ERR_INVALID_FROM] = "invalid-from",
    [STREAM_ERR_INVALID_NAMESPACE] = "invalid-namespace",
    [STREAM_ERR_INVALID_XML] = "invalid-xml",
    [STREAM_ERR_NOT_AUTHORIZED] = "not-authorized",
    [STREAM_ERR_NOT_WELL_FORMED] = "not-well-formed",
    [STREAM_ERR_POLICY_VIOLATION] = "policy-violation",
    [STREAM_ERR_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
    [STREAM_ERR_RESET] = "reset",
    [STREAM_ERR_RESOURCE_CONSTRAINT] = "resource-constraint",
    [STREAM_ERR_RESTRICTED_XML] = "restricted-xml",
    [STREAM_ERR_SEE_OTHER_HOST] = "see-other-host",
    [STREAM_ERR_SYSTEM_SHUTDOWN] = "system-shutdown",
    [STREAM_ERR_UNDEFINED_CONDITION] = "undefined-condition",
    [STREAM_ERR_UNSUPPORTED_ENCODING] = "unsupported-encoding",
    [STREAM_ERR_UNSUPPORTED_FEATURE] = "unsupported-feature",
    [STREAM_ERR_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
    [STREAM_ERR_UNSUPPORTED_VERSION] = "unsupported-version",
};

static StanzaKind kind_of(const XmlNode *el)
{
    if (strcmp(el->ns, XML_NS_CLIENT) != 0 && strcmp(el->ns, XML_NS_SERVER) != 0 &&
        strcmp(el->ns, XML_NS_COMPONENT) != 0)
        return STANZA_KIND_OTHER;
    if (strcmp(el->name, "message") == 0)
        return STANZA_KIND_MESSAGE;
    if (strcmp(el->name, "presence") == 0)
        return STANZA_KIND_PRESENCE;
    if (strcmp(el->name, "iq") == 0)
        return STANZA_KIND_IQ;
    return STANZA_KIND_OTHER;
}

/* type and id are borrowed from the element's attributes: re-read after any change */
static void refresh_cache(Stanza *st)
{
    st->type = xml_node_attr(st->el, "type");
    st->id = xml_node_attr(st->el, "id");
}

/* to and from: transfer full */
static Stanza *stanza_wrap(XmlNode *el, Jid *to, Jid *from)
{
    Stanza *st = g_new0(Stanza, 1);

    st->refcount = 1;
    st->el = el;
    st->kind = kind_of(el);
    st->to = to;
    st->from = from;
    refresh_cache(st);
    return st;
}

static gboolean parse_addr(XmlNode *el, const char *attr, Jid **out, GError **error)
{
    const char *s = xml_node_attr(el, attr);

    *out = NULL;
    if (s == NULL)
        return TRUE;
    *out = jid_new(s, error);
    if (*out == NULL) {
        g_prefix_error(error, "'%s' attribute: ", attr);
        return FALSE;
    }
    return TRUE;
}

Stanza *stanza_new(XmlNode *el, GError **error)
{
    Jid *to, *from;

    g_return_val_if_fail(el != NULL && el->kind == XML_NODE_ELEMENT, NULL);
    if (!parse_addr(el, "to", &to, error)) {
        xml_node_free(el);
        return NULL;
    }
    if (!parse_addr(el, "from", &from, error)) {
        if (to != NULL)
            jid_unref(to);
        xml_node_free(el);
        return NULL;
    }
    return stanza_wrap(el, to, from);
}

Stanza *stanza_new_addressed(XmlNode *el, Jid *to, Jid *from)
{
    g_return_val_if_fail(el != NULL && el->kind == XML_NODE_ELEMENT, NULL);
    return stanza_wrap(el, to, from);
}

Stanza *stanza_ref(Stanza *st)
{
    g_return_val_if_fail(st != NULL, NULL);
    g_atomic_int_inc(&st->refcount);
    return st;
}

void stanza_unref(Stanza *st)
{
    if (st == NULL || !g_atomic_int_dec_and_test(&st->refcount))
        return;
    xml_node_free(st->el);
    if (st->to != NULL)
        jid_unref(st->to);
    if (st->from != NULL)
        jid_unref(st->from);
    g_free(st);
}

static void set_addr(Stanza *st, Jid **slot, const char *attr, Jid *jid)
{
    Jid *old = *slot;

    *slot = jid != NULL ? jid_ref(jid) : NULL;
    xml_node_set_attr(st->el, attr, jid != NULL ? jid_full(jid) : NULL);
    if (old != NULL)
        jid_unref(old);
    refresh_cache(st);
}

void stanza_set_to(Stanza *st, Jid *to)
{
    g_return_if_fail(st != NULL);
    set_addr(st, &st->to, "to", to);
}

void stanza_set_from(Stanza *st, Jid *from)
{
    g_return_if_fail(st != NULL);
    set_addr(st, &st->from, "from", from);
}

Stanza *stanza_copy(const Stanza *st)
{
    g_return_val_if_fail(st != NULL, NULL);
    return stanza_wrap(xml_node_copy(st->el), st->to != NULL ? jid_ref(st->to) : NULL,
                       st->from != NULL ? jid_ref(st->from) : NULL);
}

gboolean stanza_is_error(const Stanza *st)
{
    return st->type != NULL && strcmp(st->type, "error") == 0;
}

XmlNode *stanza_iq_payload(const Stanza *st)
{
    if (st->kind != STANZA_KIND_IQ)
        return NULL;
    return xml_node_first_element(st->el);
}

/* A reply element to st with swapped addressing; the Stanza takes refs of the JIDs. */
static Stanza *reply_wrap(const Stanza *st, XmlNode *el, const char *type)
{
    xml_node_set_attr(el, "type", type);
    xml_node_set_attr(el, "to", st->from != NULL ? jid_full(st->from) : NULL);
    xml_node_set_attr(el, "from", st->to != NULL ? jid_full(st->to) : NULL);
    return stanza_wrap(el, st->from != NULL ? jid_ref(st->from) : NULL,
                       st->to != NULL ? jid_ref(st->to) : NULL);
}

/* A bare <iq/> in st's namespace carrying its id and xml:lang. */
static XmlNode *iq_reply_element(const Stanza *st)
{
    XmlNode *el = xml_node_new(st->el->ns, "iq");
    const char *lang = xml_node_attr_ns(st->el, XML_NS_XML, "lang");

    if (st->id != NULL)
        xml_node_set_attr(el, "id", st->id);
    if (lang != NULL)
        xml_node_set_attr_ns(el, XML_NS_XML, "lang", lang);
    return el;
}

Stanza *stanza_error_reply(const Stanza *st, StanzaErr err, const char *text)
{
    XmlNode *el, *error;

    g_return_val_if_fail(st != NULL, NULL);
    /* RFC 6120 §8.3.1: never answer an error with an error. Nonzas get no stanza errors. */
    if (st->kind == STANZA_KIND_OTHER || stanza_is_error(st))
        return NULL;
    /* RFC 6120 §8.2.3: an iq result is never answered */
    if (st->kind == STANZA_KIND_IQ && st->type != NULL && strcmp(st->type, "result") == 0)
        return NULL;
    if ((guint)err >= STANZA_ERR__COUNT)
        err = STANZA_ERR_UNDEFINED_CONDITION;

    el = st->kind == STANZA_KIND_IQ ? iq_reply_element(st) : xml_node_copy(st->el);
    /* RFC 6120 §8.3.2: <error type=...><condition/><text/></error> in the stanza's ns */
    error = xml_node_add_child(el, NULL, "error");
    xml_node_set_attr(error, "type", stanza_errs[err].type);
    xml_node_add_child(error, NS_XMPP_STANZAS, stanza_errs[err].condition);
    if (text != NULL && *text != '\0')
        xml_node_add_text(xml_node_add_child(error, NS_XMPP_STANZAS, "text"), text, -1);
    return reply_wrap(st, el, "error");
}

Stanza *stanza_iq_result(const Stanza *st)
{
    g_return_val_if_fail(st != NULL && st->kind == STANZA_KIND_IQ, NULL);
    /* RFC 6120 §8.2.3: only get and set are answered */
    if (st->type == NULL || (strcmp(st->type, "get") != 0 && strcmp(st->type, "set") != 0))
        return NULL;
    return reply_wrap(st, iq_reply_element(st), "result");
}

const char *stanza_err_condition(StanzaErr err)
{
    if ((guint)err >= STANZA_ERR__COUNT)
        err = STANZA_ERR_UNDEFINED_CONDITION;
    return stanza_errs[err].condition;
}

const char *stanza_err_type(StanzaErr err)
{
    if ((guint)err >= STANZA_ERR__COUNT)
        err = STANZA_ERR_UNDEFINED_CONDITION;
    return stanza_errs[err].type;
}

const char *stream_err_condition(StreamErr err)
{
    if ((guint)err >= STREAM_ERR__COUNT)
        err = STREAM_ERR_UNDEFINED_CONDITION;
    return stream_errs[err];
}

/* RFC 6120 §4.9.2; the stream: prefix is bound by our stream header */
void stream_error_serialize(StreamErr err, const char *text, GString *out)
{
    g_string_append(out, "<stream:error><");
    g_string_append(out, stream_err_condition(err));
    g_string_append(out, " xmlns='" NS_XMPP_STREAMS "'/>");
    if (text != NULL && *text != '\0') {
        g_string_append(out, "<text xmlns='" NS_XMPP_STREAMS "'>");
        xml_escape_append(out, text, -1);
        g_string_append(out, "</text>");
    }
    g_string_append(out, "</stream:error>");
}
