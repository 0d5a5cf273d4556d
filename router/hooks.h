/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/hooks.h — events named from the stanza, handlers by priority; module descriptors */
#pragma once

#include <glib.h>
#include "router/stanza.h"

typedef enum { HOOK_PASS = 0, HOOK_HANDLED = 1 } HookResult;

/* Data of every stanza event: the stanza (borrowed; ref to keep) and the local session
 * it came from (an opaque C2sSession, NULL when it came from elsewhere). */
typedef struct {
    Stanza *st;
    gpointer origin;
} StanzaEvent;

typedef HookResult (*HookFunc)(const char *event, gpointer data, gpointer ud);

/* Higher priority runs first; the first handler returning HOOK_HANDLED stops the chain.
 * Every event name is listed in docs/hooks.md. */
void hook_add(const char *event, int priority, HookFunc fn, gpointer ud);
void hook_remove(const char *event, HookFunc fn, gpointer ud);
HookResult hook_fire(const char *event, gpointer data);
/* hook_fire() for an event named by a string literal, on the hot paths: the call site keeps
 * the chain it found, so the name is hashed once, not per stanza. */
typedef struct {
    gpointer chain;
    guint generation;
} HookSite;
HookResult hook_fire_site(HookSite *site, const char *event, gpointer data);
#define HOOK_FIRE(event, data)                                                                     \
    ({                                                                                             \
        static HookSite hook_site_;                                                                \
        hook_fire_site(&hook_site_, "" event "", (data));                                          \
    })
/* A static table of handlers, ended by {NULL}: added / removed together. */
typedef struct {
    const char *event;
    int priority;
    HookFunc fn;
    gpointer ud;
} HookSpec;
void hook_add_all(const HookSpec *specs);
void hook_remove_all(const HookSpec *specs);
gboolean hook_has(const char *event);
void hooks_fini(void);

/* A module (c2s/mod_*.c): init prepares its state; its hooks table is added once init
 * succeeded and removed right after fini (both may be NULL). */
typedef struct Server Server;
typedef struct {
    const char *name;
    const char *const *depends; /* NULL-terminated names or NULL */
    gboolean (*init)(Server *srv, GError **error);
    void (*fini)(void);
    const HookSpec *hooks;
} ModuleDesc;
