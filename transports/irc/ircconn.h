/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/ircconn.h — one IRC client connection (RFC 2812 §3.1 registration, SASL
 * PLAIN, plain or TLS, PING/PONG, send throttling, reconnect with backoff) */
#pragma once

#include <glib.h>

#include "transports/irc/ircmsg.h"

typedef struct IrcConn IrcConn;

typedef struct {
    const char *host;
    guint16 port;
    gboolean tls;
    gboolean tls_verify;  /* FALSE: accept any certificate (tests, self-signed servers) */
    const char *password; /* PASS before registration, or NULL */
    const char *nick;
    const char *username; /* USER name */
    const char *realname;
    const char *sasl_user; /* SASL PLAIN (IRCv3 CAP sasl) when both are set */
    const char *sasl_password;
    guint reconnect_min_ms, reconnect_max_ms;
    guint throttle_burst;       /* lines sent at once */
    guint throttle_interval_ms; /* then one line per interval */
} IrcConnConfig;

typedef struct {
    /* Registered (001): the nick is known; send JOINs now. */
    void (*ready)(IrcConn *c, gpointer user_data);
    /* Every message from the server after registration (PINGs are answered here). */
    void (*message)(IrcConn *c, const IrcMessage *m, gpointer user_data);
    /* The connection ended (error says why). will_retry: it reconnects by itself with
     * backoff; FALSE after a refused SASL authentication (retrying would not help). Never
     * called after irc_conn_quit(). */
    void (*disconnected)(IrcConn *c, const GError *error, gboolean will_retry, gpointer user_data);
} IrcConnHandlers;

/* config and handlers: borrowed (copied). Not connected yet. transfer full */
IrcConn *irc_conn_new(const IrcConnConfig *config, const IrcConnHandlers *handlers,
                      gpointer user_data);
void irc_conn_connect(IrcConn *c);
/* Queue a line (no CR LF; see irc_line()); line: borrowed. Lines queued before the
 * registration completes wait for it; lines are dropped while disconnected. */
void irc_conn_send(IrcConn *c, const char *line);
/* QUIT with reason (sent before anything still queued) and stay disconnected; no callback
 * runs after this. */
void irc_conn_quit(IrcConn *c, const char *reason);
/* Frees c; after irc_conn_quit() the QUIT is still written (c lives on until the server
 * closes or 2 s passed, without callbacks). */
void irc_conn_free(IrcConn *c);

gboolean irc_conn_is_ready(IrcConn *c);
/* Our current nick (borrowed). */
const char *irc_conn_nick(IrcConn *c);
/* From the 001 welcome "nick!user@host", when the server said it (borrowed, may be NULL). */
const char *irc_conn_user(IrcConn *c);
const char *irc_conn_host(IrcConn *c);
/* The server's ISUPPORT PREFIX symbols, highest first ("~&@%+" by default). borrowed */
const char *irc_conn_prefix_symbols(IrcConn *c);
/* The mode letter of a prefix symbol ('@' -> 'o'), or 0. */
char irc_conn_prefix_mode(IrcConn *c, char symbol);
/* The prefix symbol of a mode letter ('o' -> '@'), or 0. */
char irc_conn_mode_prefix(IrcConn *c, char mode);
/* IrcConn objects alive, those still writing their QUIT after irc_conn_free() included
 * (a program runs its main loop until this is 0, or a while, before exiting). */
guint irc_conn_live(void);
/* Reconnections so far (0 for the first connection). */
guint irc_conn_generation(IrcConn *c);
