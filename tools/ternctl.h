/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl.h — what the ternctl command files share: config, store, errors, dispatch */
#pragma once

#include <glib.h>

#include "router/config.h"
#include "storage/storage.h"

/* Exit codes */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* operational: exists, not found, storage error */
#define EXIT_USAGE 2 /* usage, config error or a bad input file */

typedef struct {
    Config *conf;
    GPtrArray *domains; /* [server] domains, prepared (char *), NULL-terminated */
} Ctl;

/* Print "ternctl: MESSAGE" to stderr; returns code. */
int ctl_fail(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* The store of the config's data_dir (transfer full), or NULL after saying why. */
Store *ctl_store(Ctl *ctl);
/* The prepared bare JID of an account on a served domain (transfer full), or NULL after
 * saying why (a usage error). */
char *ctl_account_jid(const Ctl *ctl, const char *arg);
/* Is domain (prepared) one of [server] domains? */
gboolean ctl_serves(const Ctl *ctl, const char *domain);
/* Why a password cannot be used (the same rule as c2s/mod_register.c), or NULL. */
const char *ctl_password_problem(const char *pw);
/* Remove a flag (e.g. "-v") from argv[2..]; TRUE when it was there. Stops at "--". */
gboolean ctl_take_flag(int *argc, char **argv, const char *short_name, const char *long_name);
/* After ctl_take_flag: remove the "--" that ended the flags, if any. */
void ctl_end_flags(int *argc, char **argv);

/* A command: argv[1] is its name; returns an exit code. */
typedef int (*CtlCommandFunc)(Ctl *ctl, int argc, char **argv);
typedef struct {
    const char *name;
    CtlCommandFunc run;
} CtlCommand;

/* XEP-0227 (Portable Import/Export Format): tools/ternctl_export.c, tools/ternctl_import.c */
#define NS_PIE "urn:xmpp:pie:0"
#define NS_PIE_SCRAM "urn:xmpp:pie:0#scram" /* XEP-0227 1.1: SCRAM credentials */
#define NS_XINCLUDE "http://www.w3.org/2001/XInclude"
#define NS_ROSTER "jabber:iq:roster"
#define NS_VCARD "vcard-temp"
#define NS_PRIVATE "jabber:iq:private"
#define NS_BLOCKING "urn:xmpp:blocking"

/* Per-account maps of the c2s modules (storage/accounts.c lists them all) */
#define MAP_VCARD "vcard" /* key "vcard": a serialized <vCard xmlns='vcard-temp'/> (XEP-0054) */
#define VCARD_KEY "vcard"
#define MAP_PRIVATE "private"     /* key "{ns}name": the serialized element (XEP-0049) */
#define MAP_BLOCKLIST "blocklist" /* key: a blocked JID; empty value (XEP-0191) */

/* The commands on a user's data: tools/ternctl_data.c (roster, roster-add, offline),
 * tools/ternctl_export.c, tools/ternctl_import.c */
int ctl_cmd_roster(Ctl *ctl, int argc, char **argv);
int ctl_cmd_roster_add(Ctl *ctl, int argc, char **argv);
int ctl_cmd_offline(Ctl *ctl, int argc, char **argv);
int ctl_cmd_export(Ctl *ctl, int argc, char **argv);
int ctl_cmd_import(Ctl *ctl, int argc, char **argv);
/* The user-data command called name, or NULL. */
const CtlCommand *ctl_data_command(const char *name);
/* tools/ternctl_http.c: token-add, token-revoke, token-list (HTTP API bearer tokens) */
const CtlCommand *ctl_http_command(const char *name);
