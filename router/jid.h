/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/jid.h — JIDs prepared per RFC 7622 (PRECIS profiles, IDNA via libidn2) */
#pragma once

#include <glib.h>

#define JID_PART_MAX 1023 /* bytes, RFC 7622 §3.2-3.4 */

#define JID_ERROR (jid_error_quark())
GQuark jid_error_quark(void);
typedef enum {
    JID_ERROR_MALFORMED, /* -> <jid-malformed/> */
} JidError;

/* An immutable, prepared JID. Refcounted. */
typedef struct Jid Jid;

/* Parse and prepare "local@domain/resource". NULL + error when invalid. transfer full */
Jid *jid_new(const char *s, GError **error);
/* From parts (each borrowed; local and resource may be NULL). transfer full */
Jid *jid_new_parts(const char *local, const char *domain, const char *resource, GError **error);
Jid *jid_ref(Jid *j);
void jid_unref(Jid *j);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Jid, jid_unref)

/* borrowed strings, valid while j lives; local/resource NULL when absent */
const char *jid_local(const Jid *j);
const char *jid_domain(const Jid *j);
const char *jid_resource(const Jid *j);
const char *jid_full(const Jid *j); /* local@domain/resource as prepared */
const char *jid_bare(const Jid *j); /* local@domain (or domain) */

Jid *jid_to_bare(const Jid *j); /* transfer full; ref of j when already bare */
Jid *jid_with_resource(const Jid *j, const char *resource, GError **error);
gboolean jid_is_bare(const Jid *j);
gboolean jid_equal(const Jid *a, const Jid *b);      /* full comparison */
gboolean jid_bare_equal(const Jid *a, const Jid *b); /* compare bare parts */
guint jid_hash(gconstpointer j);                     /* for GHashTable on full JID */
/* For GHashTable keyed by a JID string (with g_str_equal): the tables every stanza looks
 * up (sessions, the JID cache, blocklists). g_str_hash takes a byte a step, this eight. */
guint jid_str_hash(gconstpointer s);
gboolean jid_equal_func(gconstpointer a, gconstpointer b);

/* Prepare single parts (transfer full or NULL + error). */
char *jid_prep_local(const char *s, GError **error);
char *jid_prep_domain(const char *s, GError **error);
char *jid_prep_resource(const char *s, GError **error);
