/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_offline.c — XEP-0160 offline messages with XEP-0203 delay stamps, durable */
#include "c2s/modules.h"

#include <string.h>

#include "c2s/streammgmt.h"
#include "router/router.h"
#include "storage/offline.h"

#define NS_DELAY "urn:xmpp:delay"
#define NS_OFFLINE "msgoffline"
#define OFFLINE_SM_CHUNK 100 /* stanzas in flight with XEP-0198, well under sm_max_unacked */

static Server *server;

/* Messages waiting for the group commit of this main-loop iteration. */
typedef struct {
    Stanza *st; /* ref */
    char *user;
    char *key;
    char *xml;
} Pending;

static GPtrArray *pending; /* Pending* */
static GHashTable *counts; /* user -> guint count of stored messages (cache) */

static void pending_free(gpointer p)
{
    Pending *m = p;
    stanza_unref(m->st);
    g_free(m->user);
    g_free(m->key);
    g_free(m->xml);
    g_free(m);
}

/* Stored + waiting messages of user; the stored count is read once, then kept. */
static guint *user_count(const char *user)
{
    guint *n = g_hash_table_lookup(counts, user);
    if (!n) {
        n = g_new(guint, 1);
        *n = offline_count(server->store, user, NULL);
        g_hash_table_insert(counts, g_strdup(user), n);
    }
    return n;
}

/* One transaction and one sync for every message of the iteration (group commit); only
 * then do they count as accepted. A failed commit bounces each of them, never a drop. */
static void commit_pending(void)
{
    g_autoptr(GPtrArray) batch = g_steal_pointer(&pending);
    pending = g_ptr_array_new_with_free_func(pending_free);
    g_autoptr(StoreBatch) b = store_batch_new();
    for (guint i = 0; i < batch->len; i++) {
        Pending *m = g_ptr_array_index(batch, i);
        offline_batch_add(b, m->user, m->key, m->xml, strlen(m->xml));
    }
    g_autoptr(GError) err = NULL;
    if (!store_batch_commit(server->store, b, &err)) {
        g_warning("offline: cannot store %u messages: %s", batch->len, err->message);
        for (guint i = 0; i < batch->len; i++) {
            Pending *m = g_ptr_array_index(batch, i);
            router_bounce(m->st, STANZA_ERR_INTERNAL_SERVER_ERROR, "could not store it");
        }
        g_hash_table_remove_all(counts);
        return;
    }
    for (guint i = 0; i < batch->len; i++) {
        Pending *m = g_ptr_array_index(batch, i);
        StanzaEvent stored = {m->st, NULL};
        HOOK_FIRE("message/offline-stored", &stored);
    }
}

/* Committed before the turn's output is written (router/conn.c): stored, then
 * acknowledged, in one turn; by an idle when the turn has no output. */
static ConnGroupCommit group_commit = {.commit = commit_pending};

/* RFC 6121 §8.5.2.2.1 / XEP-0160 §3: normal and chat only; committed (synced) before the
 * message counts as accepted, so a crash after that point loses nothing. */
static HookResult on_offline(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *st = ev->st;
    const char *type = st->type ? st->type : "normal";
    if (strcmp(type, "normal") && strcmp(type, "chat"))
        return HOOK_PASS;
    g_autoptr(Jid) user = jid_to_bare(st->to);
    guint *count = user_count(jid_bare(user));
    guint quota = config_get_int(server->config, "limits", "offline_quota");
    if (*count >= quota) {
        router_bounce(st, STANZA_ERR_RESOURCE_CONSTRAINT,
                      "the recipient's offline storage is full");
        return HOOK_HANDLED;
    }
    g_autoptr(XmlNode) copy = xml_node_copy(st->el);
    if (!xml_node_child(copy, NS_DELAY, "delay")) { /* XEP-0203 */
        XmlNode *delay = xml_node_add_child(copy, NS_DELAY, "delay");
        xml_node_set_attr(delay, "from", jid_domain(st->to));
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
        xml_node_set_attr(delay, "stamp", stamp);
        xml_node_add_text(delay, "Offline Storage", -1);
    }
    Pending *m = g_new0(Pending, 1);
    m->st = stanza_ref(st);
    m->user = g_strdup(jid_bare(user));
    m->key = offline_new_key();
    m->xml = xml_node_to_string(copy);
    g_ptr_array_add(pending, m);
    (*count)++;
    conn_group_commit_schedule(&group_commit);
    return HOOK_HANDLED;
}

/* Offline messages go out in chunks that fit the outbound buffer; a chunk leaves storage
 * once all its bytes reached the kernel, then the next chunk is read (oldest first). */
typedef struct {
    C2sSession *cs; /* valid while its connection lives (conn_when_sent guarantees it) */
    char *user;
    GPtrArray *keys; /* the chunk in flight */
    GPtrArray *els;  /* XEP-0198: the chunk's stanzas, sent once the chunk is read */
    gsize budget;
    gsize bytes;
} Flush;

static void flush_free(gpointer p)
{
    Flush *f = p;
    g_free(f->user);
    g_ptr_array_unref(f->keys);
    g_ptr_array_unref(f->els);
    g_free(f);
}

static void flush_chunk(Flush *f);

/* With XEP-0198 a stored message leaves storage only when the client acks it; the next
 * chunk follows when the whole chunk is acknowledged. */
typedef struct {
    gint refs;
    guint waiting;
    Flush *f; /* the chunk's state, owned here */
} AckChunk;

typedef struct {
    AckChunk *chunk;
    char *key;
} AckKey;

static void ack_chunk_unref(AckChunk *c)
{
    if (--c->refs == 0) {
        flush_free(c->f);
        g_free(c);
    }
}

static void ack_key_free(gpointer p)
{
    AckKey *k = p;
    ack_chunk_unref(k->chunk);
    g_free(k->key);
    g_free(k);
}

static void ack_key_acked(gpointer p)
{
    AckKey *k = p;
    Flush *f = k->chunk->f;
    g_autoptr(GError) err = NULL;
    if (!offline_delete(server->store, f->user, k->key, &err))
        g_warning("offline: cannot remove an acknowledged message of %s: %s", f->user,
                  err->message);
    g_hash_table_remove(counts, f->user);
    if (--k->chunk->waiting == 0) {
        Flush *next = g_new0(Flush, 1);
        next->cs = f->cs;
        next->user = g_strdup(f->user);
        next->keys = g_ptr_array_new_with_free_func(g_free);
        next->els = g_ptr_array_new_with_free_func((GDestroyNotify)xml_node_free);
        next->budget = f->budget;
        flush_chunk(next);
    }
}

static gboolean flush_one(const char *key, const char *xml, gsize len, gpointer ud)
{
    Flush *f = ud;
    if (f->keys->len > 0 &&
        (f->bytes + len > f->budget || (f->cs->sm_enabled && f->keys->len >= OFFLINE_SM_CHUNK)))
        return FALSE; /* the rest waits for the next chunk */
    g_autoptr(GError) err = NULL;
    g_autoptr(XmlNode) el = xml_parse_fragment(xml, len, &err); /* the restricted parser */
    if (!el) { /* never deliverable: remove it now, keep the chunk aligned */
        g_warning("offline: dropping a corrupt stored message %s of %s: %s", key, f->user,
                  err->message);
        offline_delete(server->store, f->user, key, NULL);
        return TRUE;
    }
    if (!f->cs->sm_enabled)
        stream_send(f->cs->stream, el);
    else
        g_ptr_array_add(f->els, g_steal_pointer(&el));
    g_ptr_array_add(f->keys, g_strdup(key));
    f->bytes += len;
    return TRUE;
}

static void chunk_sent(gpointer p)
{
    Flush *f = p;
    for (guint i = 0; i < f->keys->len; i++) {
        g_autoptr(GError) err = NULL;
        if (!offline_delete(server->store, f->user, g_ptr_array_index(f->keys, i), &err))
            g_warning("offline: cannot remove a delivered message of %s: %s", f->user,
                      err->message);
    }
    g_hash_table_remove(counts, f->user);
    Flush *next = g_new0(Flush, 1);
    next->cs = f->cs;
    next->user = g_strdup(f->user);
    next->keys = g_ptr_array_new_with_free_func(g_free);
    next->els = g_ptr_array_new_with_free_func((GDestroyNotify)xml_node_free);
    next->budget = f->budget;
    flush_chunk(next);
}

static void flush_chunk(Flush *f)
{
    g_autoptr(GError) err = NULL;
    if (!offline_foreach(server->store, f->user, flush_one, f, &err))
        g_warning("offline: cannot read messages of %s: %s", f->user, err->message);
    if (f->keys->len == 0) {
        flush_free(f);
        return;
    }
    if (f->cs->sm_enabled) {
        AckChunk *chunk = g_new0(AckChunk, 1);
        chunk->f = f;
        chunk->refs = 1;
        chunk->waiting = f->els->len;
        C2sSession *cs = f->cs;
        for (guint i = 0; i < f->els->len; i++) {
            AckKey *k = g_new0(AckKey, 1);
            k->chunk = chunk;
            k->key = g_strdup(g_ptr_array_index(f->keys, i));
            chunk->refs++;
            if (!smgmt_track(cs, g_ptr_array_index(f->els, i), ack_key_acked, k, ack_key_free,
                             TRUE))
                break; /* overflow: the session is ending; the rest stays stored */
            if (cs->stream)
                stream_send(cs->stream, g_ptr_array_index(f->els, i));
        }
        ack_chunk_unref(chunk);
        return;
    }
    Conn *c = stream_conn(f->cs->stream);
    conn_when_sent(c, conn_queued_mark(c), chunk_sent, f, flush_free);
}

/* XEP-0160 §3: at available presence with non-negative priority, oldest first. */
static HookResult on_available(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs || cs->offline_sent || cs->priority < 0)
        return HOOK_PASS;
    cs->offline_sent = TRUE;
    conn_group_commit_now(&group_commit); /* this very turn's messages are not left behind */
    Flush *f = g_new0(Flush, 1);
    f->cs = cs;
    f->user = g_strdup(jid_bare(cs->jid));
    f->keys = g_ptr_array_new_with_free_func(g_free);
    f->els = g_ptr_array_new_with_free_func((GDestroyNotify)xml_node_free);
    f->budget = MAX(server->outbuf_size / 4, 16384);
    flush_chunk(f);
    return HOOK_PASS;
}

static const HookSpec offline_hooks[] = {
    {"message/offline", 0, on_offline, NULL},
    {"presence/initial", 0, on_available, NULL},
    {"presence/update", 0, on_available, NULL},
    {NULL},
};

static gboolean offline_init(Server *srv, GError **error)
{
    server = srv;
    pending = g_ptr_array_new_with_free_func(pending_free);
    counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    disco_add_feature(NS_OFFLINE);
    conn_group_commit_add(&group_commit);
    return TRUE;
}

static void offline_fini(void)
{
    conn_group_commit_remove(&group_commit); /* shutdown: what was accepted gets written */
    g_clear_pointer(&pending, g_ptr_array_unref);
    g_clear_pointer(&counts, g_hash_table_destroy);
}

const ModuleDesc mod_offline = {
    .name = "offline",
    .init = offline_init,
    .fini = offline_fini,
    .hooks = offline_hooks,
};
