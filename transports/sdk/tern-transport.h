/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sdk/tern-transport.h — the transport SDK: a XEP-0114 component on libstrophe,
 * driven by a GLib main loop, with the XEP-0100 gateway parts every transport needs */
#pragma once

/*
 * A transport is one program that connects to ternd as an external component
 * (XEP-0114) and bridges a foreign network. The SDK gives it:
 *
 *  - TtTransport: the component connection. It runs on the thread-default GMainContext
 *    of the thread that created it (libstrophe is driven from a GSource, never from its
 *    own select() loop), reconnects with exponential backoff and jitter, answers
 *    disco#info, XEP-0199 ping, jabber:iq:register and jabber:iq:gateway (XEP-0100), and
 *    hands every other stanza to the TtHandlers of the program.
 *  - TtStore: per-user key/value data (the registrations) in an LMDB environment of its own.
 *  - XEP-0106 JID escaping and presence mapping helpers.
 *
 * Stanzas are libstrophe's xmpp_stanza_t (see strophe.h); build them with tt_ctx(t).
 * Everything here is single-threaded: call it from the thread that created the transport.
 *
 * Ownership: "transfer full" means the receiver owns the result (g_free() for strings,
 * xmpp_stanza_release() for stanzas, the matching _free/_close for objects); "borrowed"
 * means it stays owned by the giver and is valid for the duration of the call.
 */

#include <glib.h>
#include <strophe.h>

#include "router/conftable.h"

G_BEGIN_DECLS

#define TT_ERROR (tt_error_quark())
GQuark tt_error_quark(void);
typedef enum {
    TT_ERROR_CONFIG,         /* a TtConfig value is missing or invalid */
    TT_ERROR_CONNECT,        /* no TCP connection to ternd's component port */
    TT_ERROR_FD_SETSIZE,     /* the socket's fd is >= FD_SETSIZE: refused (see tt_loop.c) */
    TT_ERROR_STREAM,         /* the stream ended with a stream error (e.g. bad secret) */
    TT_ERROR_CLOSED,         /* the connection closed */
    TT_ERROR_STORE,          /* LMDB */
    TT_ERROR_NOT_ACCEPTABLE, /* registration refused: <not-acceptable/> */
    TT_ERROR_NOT_AUTHORIZED, /* registration refused: <not-authorized/> */
} TtError;

/* ------------------------------------------------------------------------------------ */
/* Per-user storage (LMDB) */

typedef struct TtStore TtStore;

/* Open (create) the LMDB environment in folder dir (created 0700 when missing). NULL +
 * error on failure. transfer full (tt_store_close) */
TtStore *tt_store_open(const char *dir, GError **error);
void tt_store_close(TtStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TtStore, tt_store_close)

/* The value of key for user (a bare JID, borrowed), NULL when none. transfer full */
char *tt_store_get(TtStore *s, const char *user, const char *key);
/* Set key to value (all borrowed), durably (synced on commit). */
gboolean tt_store_set(TtStore *s, const char *user, const char *key, const char *value,
                      GError **error);
/* Delete key of user; key NULL deletes every key of user. Absent keys are not an error. */
gboolean tt_store_delete(TtStore *s, const char *user, const char *key, GError **error);
/* Called with borrowed strings, in key order; return FALSE to stop. */
typedef gboolean (*TtStoreFunc)(const char *user, const char *key, const char *value,
                                gpointer user_data);
/* Every key of user, or of every user when user is NULL. The callback runs after the
 * read transaction ended, so it may call the store. */
gboolean tt_store_foreach(TtStore *s, const char *user, TtStoreFunc func, gpointer user_data,
                          GError **error);

/* A durable FIFO queue on a TtStore (e.g. messages accepted while the legacy network is
 * down). Entries are text values with ids that grow (1, 2, ...; never reused within a
 * queue), kept under the pseudo-user "queue:<name>" so that they never mix with users. */

/* Append value (borrowed); its id, or 0 + error. */
guint64 tt_queue_push(TtStore *s, const char *queue, const char *value, GError **error);
/* Replace the value of entry id (e.g. its delivery state); FALSE + error if absent. */
gboolean tt_queue_update(TtStore *s, const char *queue, guint64 id, const char *value,
                         GError **error);
/* Remove entry id; an absent one is not an error. */
gboolean tt_queue_remove(TtStore *s, const char *queue, guint64 id, GError **error);
typedef gboolean (*TtQueueFunc)(guint64 id, const char *value, gpointer user_data);
/* Every entry, oldest first (callback after the read ended, so it may change the queue). */
gboolean tt_queue_foreach(TtStore *s, const char *queue, TtQueueFunc func, gpointer user_data,
                          GError **error);

/* ------------------------------------------------------------------------------------ */
/* XEP-0106 JID escaping and JID helpers */

/* Escape a legacy name for use as a JID localpart (XEP-0106 §3.2: the ten characters, and a
 * backslash only where it starts a sequence that would unescape). NULL when the result
 * would begin or end with \20 (§4.1 rule 6: a name that begins or ends with a space) or
 * name is empty. transfer full */
char *tt_jid_escape(const char *name);
/* Undo tt_jid_escape: only the ten sequences are unescaped (§4.1 rule 3, §4.3). transfer full */
char *tt_jid_unescape(const char *localpart);
/* "local@domain/res" -> "local@domain". transfer full */
char *tt_jid_bare(const char *jid);
/* The localpart (NULL when none), the domain, the resource (NULL when none). transfer full */
char *tt_jid_local(const char *jid);
char *tt_jid_domain(const char *jid);
char *tt_jid_resource(const char *jid);

/* ------------------------------------------------------------------------------------ */
/* Presence mapping */

typedef enum {
    TT_SHOW_UNAVAILABLE, /* offline: <presence type='unavailable'/> */
    TT_SHOW_AVAILABLE,   /* online, no <show/> */
    TT_SHOW_CHAT,
    TT_SHOW_AWAY,
    TT_SHOW_XA,
    TT_SHOW_DND,
} TtShow;

/* A legacy status word ("online", "away", "busy", "idle", "invisible", "offline", ...;
 * case-insensitive) as an XMPP show; unknown words map to TT_SHOW_AVAILABLE. */
TtShow tt_show_from_legacy(const char *legacy);
/* The <show/> text ("away", ...), NULL for AVAILABLE and UNAVAILABLE. borrowed (static) */
const char *tt_show_to_string(TtShow show);
/* The show of a received presence stanza (borrowed). */
TtShow tt_show_from_presence(xmpp_stanza_t *presence);

/* ------------------------------------------------------------------------------------ */
/* Reconnect backoff (the SDK's own; also for a transport's legacy connections) */

/* The delay in ms before reconnect attempt `attempt` (0-based), "equal jitter": half of
 * min(max_ms, min_ms * 2^attempt) plus a random part up to the other half. rand: borrowed */
guint tt_backoff_delay(guint attempt, guint min_ms, guint max_ms, GRand *rand);

/* ------------------------------------------------------------------------------------ */
/* What every transport program shares: its command line, the [component] section */

/* Parse argv: -c/--config FILE (default SYSCONFDIR/<program>.conf), --check-config,
 * --print-example-config (prints example(), transfer full), -V/--version. Returns -1 to go
 * on with *config_path (transfer full) and *check_only set; otherwise the exit status
 * after printing what was asked (0) or the error (2). */
int tt_command_line(const char *program, const char *summary, char *(*example)(void), int *argc,
                    char ***argv, char **config_path, gboolean *check_only);

/* The keys of the [component] section, for a transport's ConfSchema key table
 * (router/conftable.h); name_default: the gateway's name in service discovery. */
#define TT_COMPONENT_CONF_KEYS(name_default)                                                      \
    {"component", "domain", CONF_STRING, NULL, 0, 0,                                               \
     "the gateway's component domain (a [component DOMAIN] section of ternd.conf)"},               \
        {"component", "secret", CONF_STRING, NULL, 0, 0, "the shared secret of that section"},     \
        {"component", "host", CONF_STRING, "127.0.0.1", 0, 0, "ternd's component listener"},       \
        {"component", "port", CONF_INT, "5347", 1, 65535, "its port ([components] listen)"},      \
        {"component", "name", CONF_STRING, name_default, 0, 0, "name in service discovery"},      \
        {"component", "reconnect_min_ms", CONF_INT, "500", 10, 600000,                             \
         "first delay before reconnecting to ternd (doubles, with jitter)"},                       \
        {"component", "reconnect_max_ms", CONF_INT, "60000", 10, 3600000,                          \
         "longest delay before reconnecting to ternd"}

typedef struct {
    char *domain; /* lowercase */
    char *secret, *host, *name;
    guint16 port;
    guint reconnect_min_ms, reconnect_max_ms;
} TtComponentConf;

/* Read the [component] section of cf into out (cleared first): the domain must be a
 * domain with a dot, reconnect_max_ms not below reconnect_min_ms. FALSE + error
 * (CONFIG_ERROR) otherwise. */
gboolean tt_component_conf_read(TtComponentConf *out, const Config *cf, GError **error);
/* Free the strings (the secret wiped first). */
void tt_component_conf_clear(TtComponentConf *c);

/* ------------------------------------------------------------------------------------ */
/* The component */

typedef struct TtTransport TtTransport;

typedef enum {
    TT_FIELD_TEXT,    /* text-single */
    TT_FIELD_PRIVATE, /* text-private (passwords) */
    TT_FIELD_BOOLEAN, /* boolean: "1"/"0" stored */
} TtFieldType;

/* One field of the registration form (XEP-0077 with a XEP-0004 form). Fields named like a
 * XEP-0077 element (username, nick, password, email, ...) are offered in both forms. */
typedef struct {
    const char *var;   /* field name, also the stored key (see tt_registration_get) */
    const char *label; /* shown to the user */
    TtFieldType type;
    gboolean required;
} TtField;

typedef struct {
    const char *domain;          /* component JID (e.g. "irc.example.org"); required */
    const char *secret;          /* XEP-0114 shared secret; required */
    const char *host;            /* ternd's component listener; NULL: 127.0.0.1 */
    guint16 port;                /* 0: 5347 */
    const char *data_dir;        /* LMDB folder for registrations; NULL: no store */
    const char *name;            /* disco identity name (e.g. "IRC gateway") */
    const char *gateway_type;    /* disco identity type under category "gateway": irc, sms... */
    const char *instructions;    /* registration instructions; NULL: no jabber:iq:register */
    const TtField *fields;       /* registration fields, ended by a field with var == NULL */
    const char *prompt_desc;     /* jabber:iq:gateway description; NULL: no jabber:iq:gateway */
    const char *prompt;          /* jabber:iq:gateway prompt label (e.g. "IRC nick") */
    const char *const *features; /* more disco#info features, NULL-terminated, or NULL */
    guint reconnect_min_ms;      /* first backoff step; 0: 500 */
    guint reconnect_max_ms;      /* backoff cap; 0: 60000 */
} TtConfig;

/* Set tc's connection fields (domain, secret, host, port, name, backoff) from c, borrowed. */
void tt_config_set_component(TtConfig *tc, const TtComponentConf *c);

/* What the program gets. Every callback may be NULL; stanzas are borrowed (ref them with
 * xmpp_stanza_clone() to keep them). A callback returning FALSE leaves the stanza to the
 * SDK's default: an iq request gets <service-unavailable/>, a message with a body to a
 * JID the transport does not serve gets <item-not-found/>, a presence is dropped. */
typedef struct {
    /* The component stream is authenticated; stanzas can be sent. */
    void (*connected)(TtTransport *t, gpointer user_data);
    /* The stream ended or a connection attempt failed (error says why; NULL after
     * tt_transport_stop()). The SDK reconnects on its own unless stopped. */
    void (*disconnected)(TtTransport *t, const GError *error, gpointer user_data);
    gboolean (*message)(TtTransport *t, xmpp_stanza_t *message, gpointer user_data);
    gboolean (*presence)(TtTransport *t, xmpp_stanza_t *presence, gpointer user_data);
    /* iq requests the SDK does not answer itself (anything but disco#info, ping,
     * jabber:iq:register and jabber:iq:gateway to the component's own domain). */
    gboolean (*iq)(TtTransport *t, xmpp_stanza_t *iq, gpointer user_data);
    /* A user (bare JID, borrowed) submits the registration form; values maps field var
     * -> value (borrowed). Return FALSE with TT_ERROR_NOT_ACCEPTABLE/NOT_AUTHORIZED to
     * refuse. The SDK stores the values after it returns TRUE. */
    gboolean (*registering)(TtTransport *t, const char *user, GHashTable *values, GError **error,
                            gpointer user_data);
    /* A user removed the registration; the stored data is already gone. */
    void (*unregistered)(TtTransport *t, const char *user, gpointer user_data);
    /* jabber:iq:gateway: the JID for a legacy id (borrowed), or NULL when it is not a
     * valid id. transfer full. NULL callback: tt_jid_escape(legacy)@domain. */
    char *(*legacy_to_jid)(TtTransport *t, const char *legacy, gpointer user_data);
} TtHandlers;

/* A transport on the thread-default main context. Validates config (TT_ERROR_CONFIG),
 * copies it, opens the store. Nothing connects before tt_transport_start(). transfer full.
 * config and handlers are borrowed (copied). */
TtTransport *tt_transport_new(const TtConfig *config, const TtHandlers *handlers,
                              gpointer user_data, GError **error);
/* Start connecting (and keep reconnecting until stopped). */
void tt_transport_start(TtTransport *t);
/* Close the stream gracefully; no reconnect. `disconnected` follows with a NULL error. */
void tt_transport_stop(TtTransport *t);
/* Disconnects immediately if needed (no callbacks) and frees everything. Not from inside
 * one of t's callbacks. */
void tt_transport_free(TtTransport *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TtTransport, tt_transport_free)

gboolean tt_transport_is_connected(TtTransport *t);
const char *tt_transport_domain(TtTransport *t); /* borrowed */
/* The store (NULL without data_dir). borrowed */
TtStore *tt_transport_store(TtTransport *t);
/* libstrophe's context, for xmpp_stanza_new() and friends. borrowed */
xmpp_ctx_t *tt_ctx(TtTransport *t);

/* Send a stanza; it is written on this main-loop turn. While disconnected the stanza is
 * dropped (and counted, see tt_transport_dropped). stanza: transfer full */
void tt_send(TtTransport *t, xmpp_stanza_t *stanza);
guint64 tt_transport_dropped(TtTransport *t);

/* Builders; every argument borrowed, NULL leaves an attribute/child out. transfer full */
xmpp_stanza_t *tt_stanza_new(TtTransport *t, const char *name, const char *type, const char *from,
                             const char *to, const char *id);
xmpp_stanza_t *tt_message_new(TtTransport *t, const char *type, const char *from, const char *to,
                              const char *body);
xmpp_stanza_t *tt_presence_new(TtTransport *t, const char *from, const char *to, TtShow show,
                               const char *status);
/* Append <name>text</name> (text may be NULL: an empty element); returns the child. borrowed */
xmpp_stanza_t *tt_stanza_add_child(xmpp_stanza_t *parent, const char *name, const char *ns,
                                   const char *text);
/* The text of the first child named name (any namespace), NULL when none. transfer full */
char *tt_stanza_child_text(xmpp_stanza_t *stanza, const char *name);
/* Answer request (borrowed) with an error of type ("cancel", "modify", "auth", "wait") and
 * RFC 6120 §8.3.3 condition ("item-not-found", ...), optional text. Never answers an error. */
void tt_send_error(TtTransport *t, xmpp_stanza_t *request, const char *type, const char *condition,
                   const char *text);
/* An empty iq result to request (borrowed). transfer full */
xmpp_stanza_t *tt_iq_result_new(TtTransport *t, xmpp_stanza_t *request);

/* Registrations (XEP-0077 through XEP-0100) */
gboolean tt_is_registered(TtTransport *t, const char *user);
/* A stored registration field of user (bare JID), NULL when none. transfer full */
char *tt_registration_get(TtTransport *t, const char *user, const char *var);
/* Every registered user (bare JIDs), sorted. transfer full (g_strfreev) */
char **tt_registered_users(TtTransport *t);

G_END_DECLS
