/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* storage/storage.h — the one narrow storage API (LMDB inside; no LMDB type leaks out) */
#pragma once

#include <glib.h>

#define STORE_ERROR (store_error_quark())
GQuark store_error_quark(void);
typedef enum {
    STORE_ERROR_IO,     /* open/commit failed */
    STORE_ERROR_FULL,   /* map full and could not grow */
    STORE_ERROR_SCHEMA, /* schema version unknown / newer than this build */
    STORE_ERROR_EXISTS, /* create of something that exists */
    STORE_ERROR_NOT_FOUND,
} StoreError;

#define STORE_SCHEMA_VERSION 1

/* One environment in dir (created 0700 when missing). map_size in bytes (0 = default
 * 256 MiB); the map grows when full. Opens the schema version, writes it on a new store,
 * refuses a newer one. Safe to open from several processes (ternd + ternctl). */
typedef struct Store Store;
Store *store_open(const char *dir, gsize map_size, GError **error);
void store_close(Store *s);
/* Force durable state to disk (shutdown). */
gboolean store_sync(Store *s, GError **error);

/* Named maps ("accounts", "roster", "offline", ...): owner (a bare JID or a domain) + key
 * -> value bytes. Names and keys are any UTF-8 up to 3071 bytes; long keys are hashed
 * inside so they fit LMDB's key limit. Each call is one synced transaction. */
gboolean store_map_set(Store *s, const char *map, const char *owner, const char *key,
                       const void *val, gsize len, GError **error);
/* Like store_map_set, checked in the same transaction: add fails with STORE_ERROR_EXISTS
 * when the key is present, replace with STORE_ERROR_NOT_FOUND when it is absent. */
gboolean store_map_add(Store *s, const char *map, const char *owner, const char *key,
                       const void *val, gsize len, GError **error);
gboolean store_map_replace(Store *s, const char *map, const char *owner, const char *key,
                           const void *val, gsize len, GError **error);
/* transfer full; NULL and no error when absent */
GBytes *store_map_get(Store *s, const char *map, const char *owner, const char *key,
                      GError **error);
/* TRUE when removed or absent; FALSE + error on I/O failure */
gboolean store_map_delete(Store *s, const char *map, const char *owner, const char *key,
                          GError **error);
/* Remove every key of owner in map. */
gboolean store_map_delete_owner(Store *s, const char *map, const char *owner, GError **error);
/* Visit every (key, value) of owner, in key byte order. Return FALSE from fn to stop. */
typedef gboolean (*StoreMapFunc)(const char *key, const void *val, gsize len, gpointer ud);
gboolean store_map_foreach(Store *s, const char *map, const char *owner, StoreMapFunc fn,
                           gpointer ud, GError **error);
/* A key that sorts in creation order within this process and across restarts: 16 hex
 * digits of microseconds since the epoch, 8 of a counter (offline messages, archive). */
char *store_seq_key(void);

/* Group commit: several writes in one transaction with one sync. Values are copied. */
typedef struct StoreBatch StoreBatch;
StoreBatch *store_batch_new(void);
void store_batch_free(StoreBatch *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(StoreBatch, store_batch_free)
void store_batch_set(StoreBatch *b, const char *map, const char *owner, const char *key,
                     const void *val, gsize len);
guint store_batch_len(const StoreBatch *b);
/* All or nothing; durable (synced) when it returns TRUE. */
gboolean store_batch_commit(Store *s, StoreBatch *b, GError **error);

/* Visit every owner that has at least one key in map (e.g. list accounts). */
typedef gboolean (*StoreOwnerFunc)(const char *owner, gpointer ud);
gboolean store_map_foreach_owner(Store *s, const char *map, StoreOwnerFunc fn, gpointer ud,
                                 GError **error);
