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

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Exit codes */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* operational: exists, not found, storage error */
#define EXIT_USAGE 2 /* usage or config error */

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

typedef struct {
    Config *conf;
    GPtrArray *domains; /* [server] domains, prepared (char *), NULL-terminated */
} Ctl;

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

static Store *ctl_store(Ctl *ctl)
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

/* The prepared bare JID of an account on a served domain (transfer full), or NULL after
 * saying why. */
static char *account_jid(const Ctl *ctl, const char *arg)
{
    GError *error = NULL;
    Jid *j = jid_new(arg, &error);
    char *bare = NULL;

    if (!j) {
        fail(EXIT_USAGE, "invalid JID '%s': %s", arg, error->message);
        g_error_free(error);
        return NULL;
    }
    if (!jid_local(j) || jid_resource(j)) {
        fail(EXIT_USAGE, "'%s': an account is a bare JID user@domain", arg);
    } else {
        for (guint i = 0; i < ctl->domains->len && !bare; i++)
            if (strcmp(ctl->domains->pdata[i], jid_domain(j)) == 0)
                bare = g_strdup(jid_bare(j));
        if (!bare)
            fail(EXIT_USAGE, "%s is not served here ([server] domains in %s)", jid_domain(j),
                 config_origin(ctl->conf));
    }
    jid_unref(j);
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
static const char *password_problem(const char *pw)
{
    if (!*pw)
        return "the password is empty";
    if (strlen(pw) >= PASSWORD_MAX)
        return "the password is longer than 1023 bytes";
    if (!g_utf8_validate(pw, -1, NULL))
        return "the password is not valid UTF-8";
    for (const char *p = pw; *p; p = g_utf8_next_char(p))
        if (g_unichar_iscntrl(g_utf8_get_char(p)))
            return "the password contains a control character";
    return NULL;
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
    bare = account_jid(ctl, argv[2]);
    if (!bare)
        return EXIT_USAGE;
    if (argc == 4)
        password = argv[3];
    else if ((rc = read_password(buf, sizeof buf)) != EXIT_OK)
        goto out;
    if ((problem = password_problem(password))) {
        rc = fail(EXIT_USAGE, "%s", problem);
        goto out;
    }
    rc = EXIT_FAIL;
    s = ctl_store(ctl);
    if (s && (create ? account_create(s, bare, password, &error)
                     : account_set_password(s, bare, password, &error))) {
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
    bare = account_jid(ctl, argv[2]);
    if (!bare)
        return EXIT_USAGE;
    s = ctl_store(ctl);
    if (s && account_delete(s, bare, &error)) {
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

static gboolean print_owner(const char *owner, gpointer ud)
{
    g_print("%s\n", owner);
    return TRUE;
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
    if (s && account_foreach(s, domain, print_owner, NULL, &error)) {
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
               !g_str_equal(argv[1], "check")) {
        rc = fail(EXIT_USAGE, "unknown command '%s' (try --help)", argv[1]);
    } else if ((rc = ctl_load(&ctl)) != EXIT_OK) {
        /* said why */
    } else if (g_str_equal(argv[1], "adduser") || g_str_equal(argv[1], "passwd")) {
        rc = cmd_set_password(&ctl, argc, argv, g_str_equal(argv[1], "adduser"));
    } else if (g_str_equal(argv[1], "deluser")) {
        rc = cmd_deluser(&ctl, argc, argv);
    } else if (g_str_equal(argv[1], "listusers")) {
        rc = cmd_listusers(&ctl, argc, argv);
    } else {
        rc = cmd_check(&ctl, argc, argv);
    }
    ctl_clear(&ctl);
    g_option_context_free(octx);
    g_free(opt_config);
    return rc;
}
