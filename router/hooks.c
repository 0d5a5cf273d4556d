/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/hooks.c — priority-ordered handler chains keyed by event name */
#include "router/hooks.h"

typedef struct {
    int priority;
    HookFunc fn;
    gpointer ud;
} Handler;

/* name -> GArray of Handler, sorted by priority desc. A chain, once made, lives until
 * hooks_fini(), so a HookSite may keep a pointer to it while generation is unchanged. */
static GHashTable *chains;
static guint generation = 1;

static void chain_free(gpointer p)
{
    g_array_free(p, TRUE);
}

static GArray *chain_get(const char *event)
{
    if (!chains)
        chains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, chain_free);
    GArray *a = g_hash_table_lookup(chains, event);
    if (!a) {
        a = g_array_new(FALSE, FALSE, sizeof(Handler));
        g_hash_table_insert(chains, g_strdup(event), a);
    }
    return a;
}

void hook_add(const char *event, int priority, HookFunc fn, gpointer ud)
{
    GArray *a = chain_get(event);
    Handler h = {priority, fn, ud};
    guint i = 0;
    while (i < a->len && g_array_index(a, Handler, i).priority >= priority)
        i++;
    g_array_insert_val(a, i, h);
}

void hook_remove(const char *event, HookFunc fn, gpointer ud)
{
    GArray *a = chains ? g_hash_table_lookup(chains, event) : NULL;
    if (!a)
        return;
    for (guint i = 0; i < a->len; i++) {
        Handler *h = &g_array_index(a, Handler, i);
        if (h->fn == fn && h->ud == ud) {
            g_array_remove_index(a, i);
            return;
        }
    }
}

void hook_add_all(const HookSpec *specs)
{
    for (const HookSpec *h = specs; h && h->event; h++)
        hook_add(h->event, h->priority, h->fn, h->ud);
}

void hook_remove_all(const HookSpec *specs)
{
    for (const HookSpec *h = specs; h && h->event; h++)
        hook_remove(h->event, h->fn, h->ud);
}

static HookResult chain_fire(GArray *a, const char *event, gpointer data)
{
    for (guint i = 0; i < a->len; i++) {
        Handler h = g_array_index(a, Handler, i); /* copy: a handler may change the chain */
        if (h.fn(event, data, h.ud) == HOOK_HANDLED)
            return HOOK_HANDLED;
        if (i >= a->len)
            break;
    }
    return HOOK_PASS;
}

HookResult hook_fire(const char *event, gpointer data)
{
    GArray *a = chains ? g_hash_table_lookup(chains, event) : NULL;
    return a ? chain_fire(a, event, data) : HOOK_PASS;
}

HookResult hook_fire_site(HookSite *site, const char *event, gpointer data)
{
    if (site->generation != generation) {
        site->chain = chain_get(event);
        site->generation = generation;
    }
    return chain_fire(site->chain, event, data);
}

gboolean hook_has(const char *event)
{
    GArray *a = chains ? g_hash_table_lookup(chains, event) : NULL;
    return a && a->len > 0;
}

void hooks_fini(void)
{
    g_clear_pointer(&chains, g_hash_table_destroy);
    generation++; /* every HookSite looks its chain up again */
}
