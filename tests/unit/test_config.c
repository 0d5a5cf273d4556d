/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_config.c — config errors name file, key and problem; the example file */
#include <string.h>

#include "router/config.h"

static void expect_error(const char *data, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load_data(data, "t.conf", "/tmp", &err);
    g_assert_null(c);
    g_assert_error(err, CONFIG_ERROR, CONFIG_ERROR_INVALID);
    if (!strstr(err->message, needle))
        g_error("message '%s' lacks '%s'", err->message, needle);
    g_assert_true(g_str_has_prefix(err->message, "t.conf: "));
}

static void test_defaults(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load(NULL, &err);
    g_assert_no_error(err);
    char *const *d = config_get_list(c, "server", "domains");
    g_assert_cmpstr(d[0], ==, "localhost");
    g_assert_null(d[1]);
    g_assert_cmpint(config_get_int(c, "limits", "c2s_stanza_size"), ==, 262144);
    g_assert_cmpint(config_get_int(c, "limits", "preauth_stanza_size"), ==, 16384);
    g_assert_cmpint(config_get_int(c, "c2s", "max_resources"), ==, 10);
    g_assert_true(config_get_bool(c, "c2s", "require_tls"));
    g_assert_false(config_get_bool(c, "c2s", "allow_register"));
    g_assert_true(g_path_is_absolute(config_get_path(c, "server", "data_dir")));
}

static void test_values(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load_data("[server]\ndomains = a.example; b.example ;\n"
                                           "data_dir = d\n[c2s]\nrequire_tls = no\n"
                                           "listen = 127.0.0.1:5000\n",
                                           "t.conf", "/srv/tern", &err);
    g_assert_no_error(err);
    char *const *d = config_get_list(c, "server", "domains");
    g_assert_cmpstr(d[0], ==, "a.example");
    g_assert_cmpstr(d[1], ==, "b.example");
    g_assert_null(d[2]);
    g_assert_cmpstr(config_get_path(c, "server", "data_dir"), ==, "/srv/tern/d");
    g_assert_false(config_get_bool(c, "c2s", "require_tls"));
    g_assert_cmpstr(config_get_string(c, "c2s", "listen"), ==, "127.0.0.1:5000");
}

static void test_errors(void)
{
    expect_error("[server]\nbogus = 1\n", "[server] bogus: unknown key");
    expect_error("[nosuch]\na = 1\n", "[nosuch]: unknown section");
    expect_error("[limits]\nc2s_stanza_size = 12x\n", "[limits] c2s_stanza_size: '12x'");
    expect_error("[limits]\nc2s_stanza_size = 10\n", "out of range");
    expect_error("[c2s]\nrequire_tls = maybe\n", "[c2s] require_tls: 'maybe'");
    expect_error("[c2s]\nlisten = nowhere\n", "[c2s] listen: 'nowhere'");
    expect_error("[c2s]\nlisten = 1.2.3.4:70000\n", "[c2s] listen");
    expect_error("[server]\ndomains = ;\n", "[server] domains");
    expect_error("[server]\nlog_level = loud\n", "[server] log_level");
    expect_error("this is not a key file\n", "t.conf: ");
}

/* [component <domain>]: the second key table, for every section of that name */
static void test_components(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load_data("[components]\nlisten = 127.0.0.1:6000\n"
                                           "[component irc.example.org]\nsecret = s3cret\n"
                                           "subdomains = yes\nqueue = 5\nroster = both\n"
                                           "[component  sms.example.org ]\nsecret = x\n"
                                           "message = outgoing\npresence = roster\n",
                                           "t.conf", "/tmp", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(config_get_string(c, "components", "listen"), ==, "127.0.0.1:6000");
    char *const *d = config_component_domains(c);
    g_assert_cmpstr(d[0], ==, "irc.example.org");
    g_assert_cmpstr(d[1], ==, "sms.example.org");
    g_assert_null(d[2]);
    g_assert_cmpstr(config_get_string(c, "component irc.example.org", "secret"), ==, "s3cret");
    g_assert_true(config_get_bool(c, "component irc.example.org", "subdomains"));
    g_assert_false(config_get_bool(c, "component irc.example.org", "multiple"));
    g_assert_cmpint(config_get_int(c, "component irc.example.org", "queue"), ==, 5);
    g_assert_cmpstr(config_get_string(c, "component irc.example.org", "roster"), ==, "both");
    g_assert_cmpstr(config_get_string(c, "component irc.example.org", "message"), ==, "none");
    g_assert_cmpstr(config_get_string(c, "component sms.example.org", "message"), ==, "outgoing");
    g_assert_cmpstr(config_get_string(c, "component sms.example.org", "presence"), ==, "roster");
    g_assert_cmpint(config_get_int(c, "component sms.example.org", "queue"), ==, 0);
    g_assert_cmpstr(config_get_string(c, "component sms.example.org", "name"), ==, "");
}

static void test_component_defaults(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load(NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(config_get_string(c, "components", "listen"), ==, "127.0.0.1:5347");
    g_assert_null(config_component_domains(c)[0]);
}

static void test_component_errors(void)
{
    expect_error("[component x.example]\nname = X\n",
                 "[component x.example] secret: a value is required");
    expect_error("[component x.example]\nsecret = s\nbogus = 1\n",
                 "[component x.example] bogus: unknown key");
    expect_error("[component x.example]\nsecret = s\nroster = maybe\n",
                 "[component x.example] roster: 'maybe' is not none, get, set or both");
    expect_error("[component x.example]\nsecret = s\nmessage = incoming\n",
                 "[component x.example] message: 'incoming' is not none or outgoing");
    expect_error("[component x.example]\nsecret = s\npresence = all\n",
                 "[component x.example] presence: 'all' is not none, managed_entity or roster");
    expect_error("[component x.example]\nsecret = s\nqueue = 99999\n",
                 "[component x.example] queue: 99999 is out of range 0..10000");
    expect_error("[component x.example]\nsecret = s\nqueue = lots\n",
                 "[component x.example] queue: 'lots' is not a number");
    expect_error("[component x.example]\nsecret = s\nmultiple = perhaps\n",
                 "[component x.example] multiple: 'perhaps' is not true or false");
    expect_error("[component]\nsecret = s\n", "[component]: a name is needed: [component NAME]");
    expect_error("[component a.example]\nsecret = s\n[component  a.example]\nsecret = t\n",
                 "[component  a.example]: a second section of this name");
    expect_error("[components]\nlisten = nowhere\n", "[components] listen: 'nowhere'");
    expect_error("[components]\nsecret = s\n", "[components] secret: unknown key");
}

static void test_missing_file(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Config) c = config_load("/nonexistent/ternd.conf", &err);
    g_assert_null(c);
    g_assert_true(strstr(err->message, "/nonexistent/ternd.conf") != NULL);
}

/* The shipped example is generated from the key table: a drift fails here. */
static void test_example_matches_table(void)
{
    const char *srcdir = g_getenv("TERN_SRCDIR");
    g_autofree char *path =
        g_build_filename(srcdir ? srcdir : ".", "docs", "ternd.conf.example", NULL);
    g_autofree char *shipped = NULL;
    g_autoptr(GError) err = NULL;
    g_assert_true(g_file_get_contents(path, &shipped, NULL, &err));
    g_autofree char *generated = config_example();
    g_assert_cmpstr(shipped, ==, generated);
    /* and the example itself parses (uncommented) to the defaults */
    g_autoptr(GString) uncommented = g_string_new(NULL);
    g_auto(GStrv) lines = g_strsplit(generated, "\n", -1);
    for (guint i = 0; lines[i]; i++)
        if (lines[i][0] == '#' && lines[i][1] != ' ' && lines[i][1])
            g_string_append_printf(uncommented, "%s\n", lines[i] + 1);
        else if (lines[i][0] == '[')
            g_string_append_printf(uncommented, "%s\n", lines[i]);
    g_autoptr(Config) c = config_load_data(uncommented->str, "example", "/tmp", &err);
    g_assert_no_error(err);
    g_assert_nonnull(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/defaults", test_defaults);
    g_test_add_func("/config/values", test_values);
    g_test_add_func("/config/errors", test_errors);
    g_test_add_func("/config/components", test_components);
    g_test_add_func("/config/component-defaults", test_component_defaults);
    g_test_add_func("/config/component-errors", test_component_errors);
    g_test_add_func("/config/missing-file", test_missing_file);
    g_test_add_func("/config/example-matches-table", test_example_matches_table);
    return g_test_run();
}
