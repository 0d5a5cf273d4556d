/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/stanza.h — refcounted stanzas with addressing parsed once at the edge */
#pragma once

#include <glib.h>
#include "router/jid.h"
#include "router/xml.h"

typedef enum {
    STANZA_KIND_MESSAGE,
    STANZA_KIND_PRESENCE,
    STANZA_KIND_IQ,
    STANZA_KIND_OTHER, /* not a stanza: nonza (sm, sasl...) */
} StanzaKind;

/* RFC 6120 §8.3.3 stanza error conditions */
typedef enum {
    STANZA_ERR_BAD_REQUEST,
    STANZA_ERR_CONFLICT,
    STANZA_ERR_FEATURE_NOT_IMPLEMENTED,
    STANZA_ERR_FORBIDDEN,
    STANZA_ERR_GONE,
    STANZA_ERR_INTERNAL_SERVER_ERROR,
    STANZA_ERR_ITEM_NOT_FOUND,
    STANZA_ERR_JID_MALFORMED,
    STANZA_ERR_NOT_ACCEPTABLE,
    STANZA_ERR_NOT_ALLOWED,
    STANZA_ERR_NOT_AUTHORIZED,
    STANZA_ERR_POLICY_VIOLATION,
    STANZA_ERR_RECIPIENT_UNAVAILABLE,
    STANZA_ERR_REDIRECT,
    STANZA_ERR_REGISTRATION_REQUIRED,
    STANZA_ERR_REMOTE_SERVER_NOT_FOUND,
    STANZA_ERR_REMOTE_SERVER_TIMEOUT,
    STANZA_ERR_RESOURCE_CONSTRAINT,
    STANZA_ERR_SERVICE_UNAVAILABLE,
    STANZA_ERR_SUBSCRIPTION_REQUIRED,
    STANZA_ERR_UNDEFINED_CONDITION,
    STANZA_ERR_UNEXPECTED_REQUEST,
    STANZA_ERR__COUNT
} StanzaErr;

typedef struct Stanza Stanza;
struct Stanza {
    gint refcount;
    XmlNode *el; /* owned */
    StanzaKind kind;
    Jid *to;          /* owned, NULL when absent */
    Jid *from;        /* owned, NULL when absent */
    const char *type; /* borrowed from el, NULL when absent */
    const char *id;   /* borrowed from el */
};

/* Wrap el (transfer full). Parses to/from; on a malformed to/from returns NULL and sets
 * error (JID_ERROR); el is freed then. */
Stanza *stanza_new(XmlNode *el, GError **error);
/* Wrap el (transfer full) with addresses already parsed (transfer full, NULL for none): el's
 * 'to' and 'from' attributes must say the same. Saves parsing them again. */
Stanza *stanza_new_addressed(XmlNode *el, Jid *to, Jid *from);
Stanza *stanza_ref(Stanza *st);
void stanza_unref(Stanza *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Stanza, stanza_unref)

/* Replace addressing (jid borrowed, ref'd; NULL removes), keeping the XML in sync. */
void stanza_set_to(Stanza *st, Jid *to);
void stanza_set_from(Stanza *st, Jid *from);
/* A deep copy (fresh refcount), e.g. before changing addressing of a shared stanza. */
Stanza *stanza_copy(const Stanza *st);

/* Kind helpers */
gboolean stanza_is_error(const Stanza *st); /* type='error' */
/* An iq's payload child element (first element child) or NULL. borrowed */
XmlNode *stanza_iq_payload(const Stanza *st);

/* RFC 6120 §8.3: an error reply to st (swapped to/from, type='error', the original
 * payload kept for messages/presence, only the condition for iq). transfer full.
 * Returns NULL when st is itself an error (errors are never answered with errors). */
Stanza *stanza_error_reply(const Stanza *st, StanzaErr err, const char *text);
/* A type='result' iq reply with no payload (to/from swapped). transfer full */
Stanza *stanza_iq_result(const Stanza *st);
const char *stanza_err_condition(StanzaErr err); /* "service-unavailable" */
const char *stanza_err_type(StanzaErr err);      /* "cancel", "modify", ... */

/* RFC 6120 §4.9.3 stream error conditions */
typedef enum {
    STREAM_ERR_BAD_FORMAT,
    STREAM_ERR_BAD_NAMESPACE_PREFIX,
    STREAM_ERR_CONFLICT,
    STREAM_ERR_CONNECTION_TIMEOUT,
    STREAM_ERR_HOST_GONE,
    STREAM_ERR_HOST_UNKNOWN,
    STREAM_ERR_IMPROPER_ADDRESSING,
    STREAM_ERR_INTERNAL_SERVER_ERROR,
    STREAM_ERR_INVALID_FROM,
    STREAM_ERR_INVALID_NAMESPACE,
    STREAM_ERR_INVALID_XML,
    STREAM_ERR_NOT_AUTHORIZED,
    STREAM_ERR_NOT_WELL_FORMED,
    STREAM_ERR_POLICY_VIOLATION,
    STREAM_ERR_REMOTE_CONNECTION_FAILED,
    STREAM_ERR_RESET,
    STREAM_ERR_RESOURCE_CONSTRAINT,
    STREAM_ERR_RESTRICTED_XML,
    STREAM_ERR_SEE_OTHER_HOST,
    STREAM_ERR_SYSTEM_SHUTDOWN,
    STREAM_ERR_UNDEFINED_CONDITION,
    STREAM_ERR_UNSUPPORTED_ENCODING,
    STREAM_ERR_UNSUPPORTED_FEATURE,
    STREAM_ERR_UNSUPPORTED_STANZA_TYPE,
    STREAM_ERR_UNSUPPORTED_VERSION,
    STREAM_ERR__COUNT
} StreamErr;

const char *stream_err_condition(StreamErr err);
/* <stream:error><cond xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text/></stream:error>
 * serialized, appended to out. */
void stream_error_serialize(StreamErr err, const char *text, GString *out);
