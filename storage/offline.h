/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/offline.h — offline messages (XEP-0160), oldest first, with a per-user quota */
#pragma once

#include <glib.h>
#include "storage/storage.h"

/* Store one serialized message for user. FALSE with STORE_ERROR_FULL when the user already
 * has `quota` messages. The commit is synced before this returns (durable). */
gboolean offline_store(Store *s, const char *user, const char *xml, gsize len, guint quota,
                       GError **error);
/* Group commit: a key in arrival order, and a write into a batch (store_batch_commit). */
char *offline_new_key(void);
void offline_batch_add(StoreBatch *b, const char *user, const char *key, const char *xml,
                       gsize len);
guint offline_count(Store *s, const char *user, GError **error);
/* Visit messages oldest first: key (pass to offline_delete) and the serialized stanza. */
typedef gboolean (*OfflineFunc)(const char *key, const char *xml, gsize len, gpointer ud);
gboolean offline_foreach(Store *s, const char *user, OfflineFunc fn, gpointer ud, GError **error);
gboolean offline_delete(Store *s, const char *user, const char *key, GError **error);
gboolean offline_delete_user(Store *s, const char *user, GError **error);
