/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tools/ternctl.c — admin CLI: accounts and config/certificate checks, safe while ternd runs */
#ifdef HAVE_CONFIG_H
#include "config.h" /* autoconf's, from the build folder: PACKAGE_VERSION */
#endif

#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <glib.h>
#include <openssl/crypto.h>

#include "router/config.h"
#include "router/jid.h"
#include "router/tls.h"
#include "storage/accounts.h"
#include "storage/storage.h"
#include "tools/admin.h"
#include "tools/ternctl.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define PASSWORD_MAX 1024 /* bytes, with the NUL */

static char *opt_config;
static gboolean opt_version;

static const GOptionEntry options[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config,
     "Config file (default: $TERN_CONFIG, ./ternd.conf, " SYSCONFDIR "/ternd.conf)", "FILE"},
    {"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

static const char commands_help[] =
    "Commands:\n"
    "  adduser JID [PASSWORD]   create an account\n"
    "  passwd JID [PASSWORD]    change an account's password\n"
    "  deluser JID              delete an account\n"
    "  listusers [DOMAIN]       list accounts (of one domain)\n"
    "  check                    check the config and the certificates\n"
    "  s2s                      list server-to-server links of the running ternd: direction,\n"
    "                           local and peer domain, state, auth method, TLS version,\n"
    "                           queued stanzas, age, transport, stream (links sharing one\n"
    "                           stream have the same) and the peer certificate's verdict\n"
    "  roster JID               list the roster: JID, subscription, ask, pending-in, name,\n"
    "                           groups (tab-separated, one item a line)\n"
    "  roster-add JID CONTACT [NAME] [GROUP...]\n"
    "                           add or update a roster item (subscription state is kept)\n"
    "  offline [-v] JID         count (-v: list) the stored offline messages\n"
    "  export JID [FILE]        write the account's data as XEP-0227 XML (default stdout)\n"
    "  import [--force] FILE    create accounts from XEP-0227 XML (--force: overwrite)\n"
    "  token-add NAME --scope push|admin\n"
    "                           create a bearer token for the HTTP API; it is printed once\n"
    "  token-revoke NAME        revoke an HTTP API token\n"
    "  token-list               list HTTP API tokens: name, scope, creation time\n"
    "\n"
    "Without PASSWORD, it is read from standard input (one line), or asked twice on a\n"
    "terminal. A PASSWORD argument is visible to other local users (ps).\n"
    "Exit status: 0 ok, 1 operation failed, 2 usage or config error.";

static int fail(int code, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_printerr("ternctl: %s\n", msg);
    g_free(msg);
    return code;
}

int ctl_fail(int code, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    code = fail(code, "%s", msg);
    g_free(msg);
    return code;
}

/* -c, else $TERN_CONFIG, else ./ternd.conf, else SYSCONFDIR/ternd.conf; NULL: defaults. */
static const char *config_path(void)
{
    const char *env = g_getenv("TERN_CONFIG");

    if (opt_config)
        return opt_config;
    if (env && *env)
        return env;
    if (g_file_test("ternd.conf", G_FILE_TEST_EXISTS))
        return "ternd.conf";
    if (g_file_test(SYSCONFDIR "/ternd.conf", G_FILE_TEST_EXISTS))
        return SYSCONFDIR "/ternd.conf";
    return NULL;
}

static int ctl_load(Ctl *ctl)
{
    GError *error = NULL;
    char *const *list;

    ctl->conf = config_load(config_path(), &error);
    if (!ctl->conf) {
        int rc = fail(EXIT_USAGE, "%s", error->message);
        g_error_free(error);
        return rc;
    }
    ctl->domains = g_ptr_array_new_null_terminated(4, g_free, TRUE);
    list = config_get_list(ctl->conf, "server", "domains");
    for (gsize i = 0; list && list[i]; i++) {
        char *d = jid_prep_domain(list[i], &error);
        if (!d) {
            int rc = fail(EXIT_USAGE, "%s: [server] domains: %s: %s", config_origin(ctl->conf),
                          list[i], error->message);
            g_error_free(error);
            return rc;
        }
        g_ptr_array_add(ctl->domains, d);
    }
    return EXIT_OK;
}

static void ctl_clear(Ctl *ctl)
{
    g_clear_pointer(&ctl->domains, g_ptr_array_unref);
    g_clear_pointer(&ctl->conf, config_free);
}

Store *ctl_store(Ctl *ctl)
{
    GError *error = NULL;
    gint64 size = config_get_int(ctl->conf, "storage", "map_size");
    Store *s = store_open(config_get_path(ctl->conf, "server", "data_dir"),
                          size > 0 && (guint64)size <= G_MAXSIZE ? (gsize)size : 0, &error);

    if (!s) {
        fail(EXIT_FAIL, "%s", error->message);
        g_error_free(error);
    }
    return s;
}

gboolean ctl_serves(const Ctl *ctl, const char *domain)
{
    for (guint i = 0; i < ctl->domains->len; i++)
        if (strcmp(ctl->domains->pdata[i], domain) == 0)
            return TRUE;
    return FALSE;
}

/* tools/admin.c decides, for ternctl and the HTTP admin API alike. */
char *ctl_account_jid(const Ctl *ctl, const char *arg)
{
    GError *error = NULL;
    char *bare = admin_account_jid((char *const *)ctl->domains->pdata, arg, &error);

    if (!bare) {
        if (g_error_matches(error, ADMIN_ERROR, ADMIN_ERROR_NOT_SERVED))
            fail(EXIT_USAGE, "%s in %s", error->message, config_origin(ctl->conf));
        else
            fail(EXIT_USAGE, "%s", error->message);
        g_error_free(error);
    }
    return bare;
}

/* One line from f into buf without its line end; FALSE at EOF before any byte or when too
 * long. */
static gboolean read_line(FILE *f, char *buf, gsize size, const char **why)
{
    gsize n = 0;
    int ch;

    while ((ch = getc(f)) != EOF && ch != '\n') {
        if (n + 1 >= size) {
            *why = "password too long";
            return FALSE;
        }
        buf[n++] = (char)ch;
    }
    if (ch == EOF && (n == 0 || ferror(f))) {
        *why = ferror(f) ? "cannot read the password" : "no password given";
        return FALSE;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return TRUE;
}

/* Prompted twice without echo on a terminal; one line from a pipe. */
static int read_password(char *buf, gsize size)
{
    struct termios old, quiet;
    char again[PASSWORD_MAX];
    const char *why = NULL;
    gboolean ok;

    if (!isatty(STDIN_FILENO))
        return read_line(stdin, buf, size, &why) ? EXIT_OK : fail(EXIT_USAGE, "%s", why);
    if (tcgetattr(STDIN_FILENO, &old) != 0)
        return fail(EXIT_FAIL, "cannot read the terminal: %s", g_strerror(errno));
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
        return fail(EXIT_FAIL, "cannot turn off echo: %s", g_strerror(errno));
    g_printerr("Password: ");
    ok = read_line(stdin, buf, size, &why);
    g_printerr("\n");
    if (ok) {
        g_printerr("Again: ");
        ok = read_line(stdin, again, sizeof again, &why);
        g_printerr("\n");
        if (ok && strcmp(buf, again) != 0) {
            why = "the passwords differ";
            ok = FALSE;
        }
        OPENSSL_cleanse(again, sizeof again);
    }
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &old) != 0)
        g_printerr("ternctl: cannot restore the terminal: %s\n", g_strerror(errno));
    return ok ? EXIT_OK : fail(EXIT_USAGE, "%s", why);
}

/* The same rule as c2s/mod_register.c: non-empty, at most PASSWORD_MAX - 1 bytes, valid
 * UTF-8, no control characters.
 * TODO: full PRECIS OpaqueString (RFC 8265 §4.2: space mapping, NFC, disallowed code
 * points) in one function shared with c2s/, so that both prepare a password alike. */
const char *ctl_password_problem(const char *pw)
{
    return admin_password_problem(pw);
}

/* adduser / passwd */
static int cmd_set_password(Ctl *ctl, int argc, char **argv, gboolean create)
{
    char buf[PASSWORD_MAX] = "";
    const char *password = buf, *problem;
    GError *error = NULL;
    char *bare;
    Store *s;
    int rc;

    if (argc < 3 || argc > 4)
        return fail(EXIT_USAGE, "usage: ternctl %s JID [PASSWORD]", argv[1]);
    bare = ctl_account_jid(ctl, argv[2]);
    if (!bare)
        return EXIT_USAGE;
    if (argc == 4)
        password = argv[3];
    else if ((rc = read_password(buf, sizeof buf)) != EXIT_OK)
        goto out;
    if ((problem = ctl_password_problem(password))) {
        rc = fail(EXIT_USAGE, "%s", problem);
        goto out;
    }
    rc = EXIT_FAIL;
    s = ctl_store(ctl);
    if (s && (create ? admin_user_create(s, (char *const *)ctl->domains->pdata, bare, password,
                                         NULL, &error)
                     : admin_user_passwd(s, (char *const *)ctl->domains->pdata, bare, password,
                                         NULL, &error))) {
        g_print("%s: %s\n", bare, create ? "account created" : "password changed");
        rc = EXIT_OK;
    } else if (error) {
        fail(EXIT_FAIL, "%s", error->message);
        g_error_free(error);
    }
    store_close(s);
out:
    OPENSSL_cleanse(buf, sizeof buf);
    g_free(bare);
    return rc;
}

static int cmd_deluser(Ctl *ctl, int argc, char **argv)
{
    GError *error = NULL;
    char *bare;
    Store *s;
    int rc = EXIT_FAIL;

    if (argc != 3)
        return fail(EXIT_USAGE, "usage: ternctl deluser JID");
    bare = ctl_account_jid(ctl, argv[2]);
    if (!bare)
        return EXIT_USAGE;
    s = ctl_store(ctl);
    if (s && admin_user_delete(s, (char *const *)ctl->domains->pdata, bare, NULL, &error)) {
        g_print("%s: account deleted\n", bare);
        rc = EXIT_OK;
    } else if (error) {
        fail(EXIT_FAIL, "%s", error->message);
        g_error_free(error);
    }
    store_close(s);
    g_free(bare);
    return rc;
}

static int cmd_listusers(Ctl *ctl, int argc, char **argv)
{
    GError *error = NULL;
    char *domain = NULL;
    Store *s;
    int rc = EXIT_FAIL;

    if (argc > 3)
        return fail(EXIT_USAGE, "usage: ternctl listusers [DOMAIN]");
    if (argc == 3 && !(domain = jid_prep_domain(argv[2], &error))) {
        rc = fail(EXIT_USAGE, "invalid domain '%s': %s", argv[2], error->message);
        g_error_free(error);
        return rc;
    }
    s = ctl_store(ctl);
    GPtrArray *users = s ? admin_user_list(s, domain, &error) : NULL;
    if (users) {
        for (guint i = 0; i < users->len; i++)
            g_print("%s\n", (const char *)g_ptr_array_index(users, i));
        g_ptr_array_unref(users);
        rc = EXIT_OK;
    } else if (error) {
        fail(EXIT_FAIL, "%s", error->message);
        g_error_free(error);
    }
    store_close(s);
    g_free(domain);
    return rc;
}

static int cmd_check(Ctl *ctl, int argc, char **argv)
{
    GString *out;
    char **domains;
    gboolean ok;

    if (argc != 2)
        return fail(EXIT_USAGE, "usage: ternctl check");
    g_print("config %s: ok\n", config_origin(ctl->conf));
    domains = (char **)ctl->domains->pdata;
    out = g_string_new(NULL);
    ok = tls_check_dir(config_get_path(ctl->conf, "server", "certificates"), domains, out);
    fputs(out->str, stdout);
    g_string_free(out, TRUE);
    if (!ok)
        return fail(EXIT_FAIL, "certificate check failed");
    return EXIT_OK;
}

/* ternd rewrites <data_dir>/s2s.status (a key file, one group per link) on every link
 * change and removes it when it stops; see docs/federation.md. */
static int cmd_s2s(Ctl *ctl, int argc, char **argv)
{
    if (argc != 2)
        return fail(EXIT_USAGE, "usage: ternctl s2s");
    g_autofree char *path =
        g_build_filename(config_get_path(ctl->conf, "server", "data_dir"), "s2s.status", NULL);
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) err = NULL;
    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err))
        return fail(EXIT_FAIL, "no s2s status (is ternd running with [s2s] enabled?): %s",
                    err->message);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
    g_print("%-4s %-24s %-24s %-14s %-14s %-8s %7s %8s %-10s %-7s %s\n", "DIR", "LOCAL", "REMOTE",
            "STATE", "AUTH", "TLS", "QUEUED", "AGE", "VIA", "STREAM", "CERT");
    for (guint i = 0; groups[i]; i++) {
        if (!g_str_has_prefix(groups[i], "link "))
            continue;
        g_autofree char *dir = g_key_file_get_string(kf, groups[i], "direction", NULL);
        g_autofree char *local = g_key_file_get_string(kf, groups[i], "local", NULL);
        g_autofree char *remote = g_key_file_get_string(kf, groups[i], "remote", NULL);
        g_autofree char *state = g_key_file_get_string(kf, groups[i], "state", NULL);
        g_autofree char *auth = g_key_file_get_string(kf, groups[i], "auth", NULL);
        g_autofree char *tls = g_key_file_get_string(kf, groups[i], "tls", NULL);
        gint queued = g_key_file_get_integer(kf, groups[i], "queued", NULL);
        gint64 since = g_key_file_get_int64(kf, groups[i], "since", NULL);
        g_autofree char *via = g_key_file_get_string(kf, groups[i], "via", NULL);
        g_autofree char *stream = g_key_file_get_string(kf, groups[i], "stream", NULL);
        g_autofree char *cert = g_key_file_get_string(kf, groups[i], "cert", NULL);
        g_print("%-4s %-24s %-24s %-14s %-14s %-8s %7d %7" G_GINT64_FORMAT "s %-10s %-7s %s\n",
                dir ? dir : "?", local ? local : "?", remote ? remote : "?", state ? state : "?",
                auth ? auth : "?", tls ? tls : "?", queued,
                since > 0 && now >= since ? now - since : 0, via ? via : "?", stream ? stream : "?",
                cert ? cert : "?");
    }
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    GOptionContext *octx = g_option_context_new("COMMAND [ARGS...]");
    GError *error = NULL;
    Ctl ctl = {NULL, NULL};
    int rc;

    setlocale(LC_ALL, ""); /* messages in the terminal's charset */
    g_option_context_add_main_entries(octx, options, NULL);
    g_option_context_set_summary(octx, "Administer a Tern XMPP server (also while ternd runs).");
    g_option_context_set_description(octx, commands_help);
    g_option_context_set_strict_posix(octx, TRUE); /* options end at COMMAND: "-pw" is data */
    if (!g_option_context_parse(octx, &argc, &argv, &error)) {
        rc = fail(EXIT_USAGE, "%s (try --help)", error->message);
        g_error_free(error);
        g_option_context_free(octx);
        return rc;
    }
    if (opt_version) {
        g_print("ternctl (tern) %s\n", PACKAGE_VERSION);
        rc = EXIT_OK;
    } else if (argc < 2) {
        char *help = g_option_context_get_help(octx, TRUE, NULL);
        g_printerr("%s", help);
        g_free(help);
        rc = EXIT_USAGE;
    } else if (!g_str_equal(argv[1], "adduser") && !g_str_equal(argv[1], "passwd") &&
               !g_str_equal(argv[1], "deluser") && !g_str_equal(argv[1], "listusers") &&
               !g_str_equal(argv[1], "check") && !g_str_equal(argv[1], "s2s") &&
               !ctl_data_command(argv[1]) && !ctl_http_command(argv[1])) {
        rc = fail(EXIT_USAGE, "unknown command '%s' (try --help)", argv[1]);
    } else if ((rc = ctl_load(&ctl)) != EXIT_OK) {
        /* said why */
    } else if (g_str_equal(argv[1], "adduser") || g_str_equal(argv[1], "passwd")) {
        rc = cmd_set_password(&ctl, argc, argv, g_str_equal(argv[1], "adduser"));
    } else if (g_str_equal(argv[1], "deluser")) {
        rc = cmd_deluser(&ctl, argc, argv);
    } else if (g_str_equal(argv[1], "listusers")) {
        rc = cmd_listusers(&ctl, argc, argv);
    } else if (g_str_equal(argv[1], "s2s")) {
        rc = cmd_s2s(&ctl, argc, argv);
    } else if (ctl_data_command(argv[1])) {
        rc = ctl_data_command(argv[1])->run(&ctl, argc, argv);
    } else if (ctl_http_command(argv[1])) {
        rc = ctl_http_command(argv[1])->run(&ctl, argc, argv);
    } else {
        rc = cmd_check(&ctl, argc, argv);
    }
    ctl_clear(&ctl);
    g_option_context_free(octx);
    g_free(opt_config);
    return rc;
}
