/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* c2s/mod_offline.c — XEP-0160 offline messages with XEP-0203 delay stamps, durable */
#include "c2s/modules.h"

#include <string.h>

#include "router/router.h"
#include "storage/offline.h"

#define NS_DELAY "urn:xmpp:delay"
#define NS_OFFLINE "msgoffline"

static Server *server;

/* RFC 6121 §8.5.2.2.1 / XEP-0160 §3: normal and chat only; the commit is synced before we
 * count the message as accepted, so a crash after this point loses nothing. */
static HookResult on_offline(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    Stanza *st = ev->st;
    const char *type = st->type ? st->type : "normal";
    if (strcmp(type, "normal") && strcmp(type, "chat"))
        return HOOK_PASS;
    g_autoptr(Jid) user = jid_to_bare(st->to);
    g_autoptr(XmlNode) copy = xml_node_copy(st->el);
    if (!xml_node_child(copy, NS_DELAY, "delay")) { /* XEP-0203 */
        XmlNode *delay = xml_node_add_child(copy, NS_DELAY, "delay");
        xml_node_set_attr(delay, "from", jid_domain(st->to));
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();
        g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
        /* %f gives microseconds; XEP-0082 allows any fraction */
        xml_node_set_attr(delay, "stamp", stamp);
        xml_node_add_text(delay, "Offline Storage", -1);
    }
    g_autofree char *xml = xml_node_to_string(copy);
    g_autoptr(GError) err = NULL;
    guint quota = config_get_int(server->config, "limits", "offline_quota");
    if (!offline_store(server->store, jid_bare(user), xml, strlen(xml), quota, &err)) {
        if (g_error_matches(err, STORE_ERROR, STORE_ERROR_FULL)) {
            router_bounce(st, STANZA_ERR_RESOURCE_CONSTRAINT,
                          "the recipient's offline storage is full");
        } else {
            g_warning("offline: cannot store a message for %s: %s", jid_bare(user),
                      err->message);
            router_bounce(st, STANZA_ERR_INTERNAL_SERVER_ERROR, "could not store the message");
        }
        return HOOK_HANDLED;
    }
    StanzaEvent stored = {st, NULL};
    hook_fire("message/offline-stored", &stored);
    return HOOK_HANDLED;
}

typedef struct {
    char *user;
    GPtrArray *keys;
} Delivered;

static void delivered_free(gpointer p)
{
    Delivered *d = p;
    g_free(d->user);
    g_ptr_array_unref(d->keys);
    g_free(d);
}

/* Every byte of the messages reached the kernel: now they may leave storage. */
static void delivered_sent(gpointer p)
{
    Delivered *d = p;
    for (guint i = 0; i < d->keys->len; i++) {
        g_autoptr(GError) err = NULL;
        if (!offline_delete(server->store, d->user, g_ptr_array_index(d->keys, i), &err))
            g_warning("offline: cannot remove a delivered message of %s: %s", d->user,
                      err->message);
    }
}

typedef struct {
    C2sSession *cs;
    GPtrArray *keys;
} FlushCtx;

static gboolean flush_one(const char *key, const char *xml, gsize len, gpointer ud)
{
    FlushCtx *f = ud;
    g_autoptr(GError) err = NULL;
    g_autoptr(XmlNode) el = xml_parse_fragment(xml, len, &err); /* the restricted parser */
    if (!el) {
        g_warning("offline: dropping a corrupt stored message %s of %s: %s", key,
                  jid_bare(f->cs->jid), err->message);
        g_ptr_array_add(f->keys, g_strdup(key));
        return TRUE;
    }
    stream_send(f->cs->stream, el);
    g_ptr_array_add(f->keys, g_strdup(key));
    return TRUE;
}

/* XEP-0160 §3: at available presence with non-negative priority, oldest first. */
static HookResult on_available(const char *event, gpointer data, gpointer ud)
{
    StanzaEvent *ev = data;
    C2sSession *cs = ev->origin;
    if (!cs || cs->offline_sent || cs->priority < 0)
        return HOOK_PASS;
    cs->offline_sent = TRUE;
    FlushCtx f = {cs, g_ptr_array_new_with_free_func(g_free)};
    g_autoptr(GError) err = NULL;
    if (!offline_foreach(server->store, jid_bare(cs->jid), flush_one, &f, &err))
        g_warning("offline: cannot read messages of %s: %s", jid_bare(cs->jid), err->message);
    if (f.keys->len == 0) {
        g_ptr_array_unref(f.keys);
        return HOOK_PASS;
    }
    Delivered *d = g_new0(Delivered, 1);
    d->user = g_strdup(jid_bare(cs->jid));
    d->keys = f.keys;
    Conn *c = stream_conn(cs->stream);
    conn_when_sent(c, conn_queued_mark(c), delivered_sent, d, delivered_free);
    return HOOK_PASS;
}

static gboolean offline_init(Server *srv, GError **error)
{
    server = srv;
    hook_add("message/offline", 0, on_offline, NULL);
    hook_add("presence/initial", 0, on_available, NULL);
    hook_add("presence/update", 0, on_available, NULL);
    disco_add_feature(NS_OFFLINE);
    return TRUE;
}

static void offline_fini(void)
{
    hook_remove("message/offline", on_offline, NULL);
    hook_remove("presence/initial", on_available, NULL);
    hook_remove("presence/update", on_available, NULL);
}

const ModuleDesc mod_offline = {
    .name = "offline",
    .init = offline_init,
    .fini = offline_fini,
};
