/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/ircmsg.h — IRC messages (RFC 2812 §2.3), text conversions both ways:
 * formatting, CTCP ACTION, UTF-8, splitting for the 512-byte line limit */
#pragma once

#include <glib.h>

#define IRC_LINE_MAX 512 /* RFC 2812 §2.3: including the trailing CR LF */

typedef struct {
    char *prefix;      /* "nick!user@host" or a server name; NULL when none */
    char *command;     /* uppercased: "PRIVMSG", "001" */
    GPtrArray *params; /* char*, the trailing one included */
} IrcMessage;

/* Parse one line (without CR LF; IRCv3 tags are skipped). NULL when empty or malformed.
 * line: borrowed. transfer full */
IrcMessage *irc_message_parse(const char *line);
void irc_message_free(IrcMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IrcMessage, irc_message_free)
/* Parameter i (borrowed), NULL when absent. */
const char *irc_message_param(const IrcMessage *m, guint i);
/* The nick of a "nick!user@host" prefix; NULL for a server prefix. transfer full */
char *irc_prefix_nick(const char *prefix);

/* "COMMAND p1 p2 :last" from the NULL-terminated parameters (borrowed); the last one gets a
 * ':' when it needs it. CR, LF and NUL are never emitted (removed from every parameter).
 * transfer full */
char *irc_line(const char *command, ...) G_GNUC_NULL_TERMINATED;

/* RFC 2812 §2.2 case mapping ("rfc1459"): A-Z[]\~ -> a-z{}|^. transfer full */
char *irc_casefold(const char *name);
/* A channel name: begins with # & + or !, no space, comma, BEL, CR, LF. */
gboolean irc_is_channel(const char *name);
/* A nick we can send: non-empty, no space, comma, '!', '@', '*', '?', control characters,
 * and not beginning with a channel prefix, ':' or a digit/'-'. */
gboolean irc_is_valid_nick(const char *nick);

/* Bytes from IRC -> valid UTF-8 (ISO-8859-1 when they are not UTF-8). transfer full */
char *irc_to_utf8(const char *bytes, gssize len);
/* Remove mIRC formatting (bold, italic, underline, strikethrough, monospace, reverse, reset,
 * \x03 colours with their digits, \x04 hex colours) and characters XML 1.0 forbids
 * (C0 controls but tab and newline). text: valid UTF-8, borrowed. transfer full */
char *irc_strip_formatting(const char *text);
/* The text of a CTCP ACTION ("\x01ACTION waves\x01" -> "waves"), NULL when text is not one.
 * transfer full */
char *irc_ctcp_action(const char *text);
/* The CTCP command of a message ("\x01VERSION\x01" -> "VERSION"), NULL when none.
 * transfer full */
char *irc_ctcp_command(const char *text);

/* Split text (valid UTF-8) into pieces of at most max_bytes bytes: at line breaks first
 * (empty lines dropped, CR removed), then at the last space that fits (the space is
 * dropped), else at a character boundary. Never splits a UTF-8 sequence. transfer full */
GPtrArray *irc_split_text(const char *text, gsize max_bytes);

/* Room for text in "PRIVMSG <target> :<text>" as the server relays it to others, with our
 * prefix ":nick!user@host " (user/host NULL: the longest usual ones assumed). */
gsize irc_privmsg_budget(const char *target, const char *nick, const char *user, const char *host);

/* A NAMES entry "@+nick" -> the highest prefix mode character ('@') or 0, and the nick
 * (transfer full). prefixes: the server's ISUPPORT PREFIX symbols, highest first. */
char irc_names_entry(const char *entry, const char *prefixes, char **nick);
