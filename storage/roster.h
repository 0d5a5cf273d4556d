/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/roster.h — roster items and subscription state (RFC 6121 §2, §3) in LMDB */
#pragma once

#include <glib.h>
#include "storage/storage.h"

/* One contact of a user. Subscription state per RFC 6121 Appendix A: to/from plus
 * pending out (ask='subscribe'), pending in, and pre-approval (§3.4). */
typedef struct {
    char *jid;     /* contact's bare JID (prepared) */
    char *name;    /* NULL when none */
    char **groups; /* NULL-terminated, never NULL */
    gboolean to, from, pending_out, pending_in, approved;
    gboolean in_roster; /* shown to the client (FALSE: only a pending-in request) */
    gboolean removed;   /* tombstone kept for roster versioning */
    guint64 ver;        /* roster version at the last change of this item */
} RosterItem;

RosterItem *roster_item_new(const char *jid);
void roster_item_free(RosterItem *it);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(RosterItem, roster_item_free)
/* "none", "to", "from", "both" */
const char *roster_item_subscription(const RosterItem *it);

/* transfer full; NULL (no error) when absent or a tombstone */
RosterItem *roster_get(Store *s, const char *user, const char *contact, GError **error);
/* Store it (a new version is assigned into it->ver). */
gboolean roster_put(Store *s, const char *user, RosterItem *it, GError **error);
/* Like roster_put, as one write of a batch (written by store_batch_commit). */
void roster_batch_put(StoreBatch *b, const char *user, RosterItem *it);
/* Remove: keeps a tombstone with a new version; returns the version in *ver. */
gboolean roster_remove(Store *s, const char *user, const char *contact, guint64 *ver,
                       GError **error);
/* Every item including tombstones and hidden ones, in JID order (GPtrArray of RosterItem*,
 * with free func). *ver = the roster's version (highest item version, 0 when empty). */
GPtrArray *roster_list(Store *s, const char *user, guint64 *ver, GError **error);
/* Count of visible items (for the limit). */
guint roster_count(Store *s, const char *user, GError **error);
gboolean roster_delete_user(Store *s, const char *user, GError **error);
