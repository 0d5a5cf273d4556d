/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/irc/tests/test_irc.c — tern-irc's pure parts: IRC messages, formatting, CTCP,
 * splitting for 512 bytes, the address format, the configuration and its example */
#include <string.h>

#include "transports/irc/address.h"
#include "transports/irc/config.h"
#include "transports/irc/ircmsg.h"

static void test_parse(void)
{
    g_autoptr(IrcMessage) m = irc_message_parse(":nick!user@host PRIVMSG #chan :hello there :)");
    g_assert_nonnull(m);
    g_assert_cmpstr(m->prefix, ==, "nick!user@host");
    g_assert_cmpstr(m->command, ==, "PRIVMSG");
    g_assert_cmpuint(m->params->len, ==, 2);
    g_assert_cmpstr(irc_message_param(m, 0), ==, "#chan");
    g_assert_cmpstr(irc_message_param(m, 1), ==, "hello there :)");
    g_assert_null(irc_message_param(m, 2));
    g_autoptr(IrcMessage) n = irc_message_parse("@time=x :srv 353 me = #c :@op +v plain");
    g_assert_cmpstr(n->command, ==, "353");
    g_assert_cmpstr(irc_message_param(n, 3), ==, "@op +v plain");
    g_autoptr(IrcMessage) p = irc_message_parse("ping :abc");
    g_assert_cmpstr(p->command, ==, "PING");
    g_assert_null(p->prefix);
    g_autoptr(IrcMessage) q = irc_message_parse("JOIN #a");
    g_assert_cmpstr(irc_message_param(q, 0), ==, "#a");
    g_assert_null(irc_message_parse(""));
    g_assert_null(irc_message_parse(":onlyprefix"));
    g_assert_null(irc_message_parse("   "));
    g_autofree char *nick = irc_prefix_nick("bob!~b@h");
    g_autofree char *server = irc_prefix_nick("irc.example.net");
    g_assert_cmpstr(nick, ==, "bob");
    g_assert_null(server);
}

static void test_line(void)
{
    g_autofree char *a = irc_line("PRIVMSG", "#c", "hi there", NULL);
    g_autofree char *b = irc_line("NICK", "bob", NULL);
    g_autofree char *c = irc_line("PRIVMSG", "#c", ":)", NULL);
    g_autofree char *d = irc_line("PRIVMSG", "#c", "x\r\nQUIT :injected", NULL);
    g_autofree char *e = irc_line("TOPIC", "#c", "", NULL);
    g_assert_cmpstr(a, ==, "PRIVMSG #c :hi there");
    g_assert_cmpstr(b, ==, "NICK bob");
    g_assert_cmpstr(c, ==, "PRIVMSG #c ::)");
    g_assert_cmpstr(d, ==, "PRIVMSG #c :xQUIT :injected"); /* never a second line */
    g_assert_cmpstr(e, ==, "TOPIC #c :");
}

static void test_names_and_case(void)
{
    char *nick;
    g_assert_cmpint(irc_names_entry("@+bob", "~&@%+", &nick), ==, '@');
    g_assert_cmpstr(nick, ==, "bob");
    g_free(nick);
    g_assert_cmpint(irc_names_entry("+@bob", "~&@%+", &nick), ==, '@'); /* highest wins */
    g_free(nick);
    g_assert_cmpint(irc_names_entry("carol!c@h", "@+", &nick), ==, 0);
    g_assert_cmpstr(nick, ==, "carol");
    g_free(nick);
    g_autofree char *f = irc_casefold("Nick[A]\\~");
    g_assert_cmpstr(f, ==, "nick{a}|^");
    g_assert_true(irc_is_channel("#chan"));
    g_assert_true(irc_is_channel("&local"));
    g_assert_false(irc_is_channel("#a b"));
    g_assert_false(irc_is_channel("nick"));
    g_assert_false(irc_is_channel("#"));
    g_assert_true(irc_is_valid_nick("ali[ce]_"));
    g_assert_false(irc_is_valid_nick("9lives"));
    g_assert_false(irc_is_valid_nick("a b"));
    g_assert_false(irc_is_valid_nick("a@b"));
    g_assert_false(irc_is_valid_nick(""));
}

static void test_formatting(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"\002bold\002 and \037under\037", "bold and under"},
        {"\00304red\003 \0034,12both\003 \003,5x", "red both ,5x"},
        {"\035it\035\036st\036\021mono\021\026rev\026\017", "itstmonorev"},
        {"\004ff0000hex\004 \004aabbcc,112233two", "hex two"},
        {"tab\tnew\nline\001\177", "tab\tnew\nline\177"},
        {"plain é 日本", "plain é 日本"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *s = irc_strip_formatting(cases[i].in);
        g_assert_cmpstr(s, ==, cases[i].out);
    }
    g_autofree char *latin = irc_to_utf8("caf\xe9", -1);
    g_assert_cmpstr(latin, ==, "caf\xc3\xa9");
    g_autofree char *utf = irc_to_utf8("caf\xc3\xa9", -1);
    g_assert_cmpstr(utf, ==, "caf\xc3\xa9");
}

static void test_ctcp(void)
{
    g_autofree char *a = irc_ctcp_action("\001ACTION waves\001");
    g_autofree char *b = irc_ctcp_action("\001ACTION\001");
    g_autofree char *c = irc_ctcp_command("\001VERSION\001");
    g_autofree char *d = irc_ctcp_command("\001ACTION dances\001");
    g_assert_cmpstr(a, ==, "waves");
    g_assert_cmpstr(b, ==, "");
    g_assert_null(irc_ctcp_action("hello"));
    g_assert_null(irc_ctcp_action("\001ACTIONS x\001"));
    g_assert_cmpstr(c, ==, "VERSION");
    g_assert_cmpstr(d, ==, "ACTION");
    g_assert_null(irc_ctcp_command("plain"));
}

static void test_split(void)
{
    /* words, multibyte characters, a 3-byte character across the limit */
    GString *text = g_string_new(NULL);
    for (int i = 0; i < 200; i++)
        g_string_append_printf(text, "%sword%d é日本", i ? " " : "", i);
    g_autoptr(GPtrArray) parts = irc_split_text(text->str, 100);
    g_assert_cmpuint(parts->len, >, 10);
    GString *joined = g_string_new(NULL);
    for (guint i = 0; i < parts->len; i++) {
        const char *p = parts->pdata[i];
        g_assert_cmpuint(strlen(p), <=, 100);
        g_assert_true(g_utf8_validate(p, -1, NULL));
        g_string_append_printf(joined, "%s%s", i ? " " : "", p);
    }
    g_assert_cmpstr(joined->str, ==, text->str); /* split at spaces: nothing lost */
    /* no spaces: hard cuts on character boundaries */
    GString *s = g_string_new(NULL);
    for (int i = 0; i < 100; i++)
        g_string_append(s, "日");
    g_autoptr(GPtrArray) hard = irc_split_text(s->str, 50);
    GString *j2 = g_string_new(NULL);
    for (guint i = 0; i < hard->len; i++) {
        g_assert_cmpuint(strlen(hard->pdata[i]), <=, 50);
        g_assert_true(g_utf8_validate(hard->pdata[i], -1, NULL));
        g_string_append(j2, hard->pdata[i]);
    }
    g_assert_cmpstr(j2->str, ==, s->str);
    /* line breaks: one piece per line, CR and empty lines dropped */
    g_autoptr(GPtrArray) lines = irc_split_text("one\r\ntwo\n\nthree", 100);
    g_assert_cmpuint(lines->len, ==, 3);
    g_assert_cmpstr(lines->pdata[0], ==, "one");
    g_assert_cmpstr(lines->pdata[2], ==, "three");
    /* the budget keeps the relayed line within 512 bytes */
    gsize budget = irc_privmsg_budget("#chan", "nick", "user", "host.example");
    gsize relayed = strlen(":nick!user@host.example PRIVMSG #chan :") + budget + 2;
    g_assert_cmpuint(relayed, ==, IRC_LINE_MAX);
    g_assert_cmpuint(irc_privmsg_budget("#chan", "nick", NULL, NULL), <, budget);
    g_string_free(text, TRUE);
    g_string_free(joined, TRUE);
    g_string_free(s, TRUE);
    g_string_free(j2, TRUE);
}

static void test_address(void)
{
    g_autoptr(IrcAddress) ch = irc_address_parse("#chan%irc.example.net@irc.gw/nick", NULL);
    g_assert_nonnull(ch);
    g_assert_cmpint(ch->kind, ==, IRC_ADDR_CHANNEL);
    g_assert_cmpstr(ch->name, ==, "#chan");
    g_assert_cmpstr(ch->server, ==, "irc.example.net");
    g_assert_cmpstr(ch->resource, ==, "nick");
    g_autoptr(IrcAddress) u = irc_address_parse("bob%irc.example.net@irc.gw", NULL);
    g_assert_cmpint(u->kind, ==, IRC_ADDR_USER);
    g_assert_null(u->resource);
    g_autoptr(IrcAddress) sv = irc_address_parse("irc.example.net@irc.gw", NULL);
    g_assert_cmpint(sv->kind, ==, IRC_ADDR_SERVER);
    g_autoptr(IrcAddress) def = irc_address_parse("#c@irc.gw", "Default.Net");
    g_assert_cmpstr(def->server, ==, "default.net");
    g_assert_null(irc_address_parse("#c@irc.gw", NULL));
    g_assert_null(irc_address_parse("irc.gw", "x.net"));
    g_assert_null(irc_address_parse("bad nick%irc.example.net@irc.gw", NULL));
    g_assert_null(irc_address_parse("#c%nodots@irc.gw", NULL));
    /* XEP-0106 inside: '&' channels, '@' in a name; the last '%' separates the server */
    g_autofree char *j = irc_address_jid("&weird@chan", "irc.example.net", "irc.gw");
    g_assert_cmpstr(j, ==, "\\26weird\\40chan%irc.example.net@irc.gw");
    g_autoptr(IrcAddress) back = irc_address_parse(j, NULL);
    g_assert_cmpstr(back->name, ==, "&weird@chan");
    g_autofree char *pct = irc_address_jid("#100%", "irc.example.net", "irc.gw");
    g_autoptr(IrcAddress) pb = irc_address_parse(pct, NULL);
    g_assert_cmpstr(pb->name, ==, "#100%");
    g_autofree char *occ = irc_address_occupant("#c", "irc.example.net", "Nick", "irc.gw");
    g_assert_cmpstr(occ, ==, "#c%irc.example.net@irc.gw/Nick");
    g_autofree char *srvjid = irc_address_jid(NULL, "irc.example.net", "irc.gw");
    g_assert_cmpstr(srvjid, ==, "irc.example.net@irc.gw");
}

static void test_config(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(IrcGwConfig) c = irc_config_load_data(
        "[component]\ndomain = IRC.Example.org\nsecret = s\n"
        "[irc]\ndata_dir = /tmp/x\n[server irc.test]\nhost = 127.0.0.1\nport = 6667\n"
        "tls = false\n",
        &error);
    g_assert_no_error(error);
    g_assert_cmpstr(c->component.domain, ==, "irc.example.org");
    g_assert_cmpuint(c->component.port, ==, 5347);
    g_assert_cmpuint(c->servers->len, ==, 1);
    const IrcServerConfig *s = irc_config_server(c, "IRC.test");
    g_assert_nonnull(s);
    g_assert_cmpstr(s->host, ==, "127.0.0.1");
    g_assert_cmpuint(s->port, ==, 6667);
    g_assert_false(s->tls);
    g_assert_true(s->tls_verify);
    g_assert_null(irc_config_server(c, "irc.other.net")); /* allow_unlisted = false */
    static const char *const bad[] = {
        "[component]\nsecret = s\n",                           /* no domain */
        "[component]\ndomain = a.b\nsecret = s\nport = 0\n",   /* range */
        "[component]\ndomain = a.b\nsecret = s\nbogus = 1\n",  /* unknown key */
        "[component]\ndomain = a.b\nsecret = s\n[ircx]\n",     /* unknown section */
        "[component]\ndomain = a.b\nsecret = s\n[server x]\n", /* server name */
        "[component]\ndomain = a.b\nsecret = s\n[irc]\nallow_unlisted = maybe\n",
        "[component]\ndomain = nodot\nsecret = s\n",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(IrcGwConfig) x = irc_config_load_data(bad[i], &e);
        g_assert_null(x);
        g_assert_error(e, CONFIG_ERROR, CONFIG_ERROR_INVALID);
    }
}

static void test_example_in_sync(void)
{
    /* transports/irc/tern-irc.conf.example is what --print-example-config prints */
    const char *srcdir = g_getenv("TERN_SRCDIR");
    g_autofree char *path =
        g_build_filename(srcdir ? srcdir : ".", "transports", "irc", "tern-irc.conf.example", NULL);
    g_autofree char *shipped = NULL;
    if (!g_file_get_contents(path, &shipped, NULL, NULL)) {
        g_test_skip("no TERN_SRCDIR");
        return;
    }
    g_autofree char *generated = irc_config_example();
    g_assert_cmpstr(shipped, ==, generated);
    g_autoptr(GError) error = NULL;
    g_autoptr(IrcGwConfig) c = irc_config_load_data(shipped, &error);
    g_assert_no_error(error);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/irc/message/parse", test_parse);
    g_test_add_func("/irc/message/line", test_line);
    g_test_add_func("/irc/message/names-case", test_names_and_case);
    g_test_add_func("/irc/text/formatting", test_formatting);
    g_test_add_func("/irc/text/ctcp", test_ctcp);
    g_test_add_func("/irc/text/split", test_split);
    g_test_add_func("/irc/address", test_address);
    g_test_add_func("/irc/config", test_config);
    g_test_add_func("/irc/config/example-in-sync", test_example_in_sync);
    return g_test_run();
}
