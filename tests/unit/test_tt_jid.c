/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_tt_jid.c — XEP-0106 JID escaping (the XEP's examples) and JID helpers */
#include "transports/sdk/tern-transport.h"

#include <string.h>

typedef struct {
    const char *unescaped;
    const char *escaped;
} Vector;

/* XEP-0106 §5.1 "JID Examples" #1-#8 and #12 (localparts), the §5.2 email, §5.5 IMPS and
 * §5.7 IRC examples: escape and unescape both ways */
static const Vector both_ways[] = {
    {"space cadet", "space\\20cadet"},
    {"call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"},
    {"at&t guy", "at\\26t\\20guy"},
    {"d'artagnan", "d\\27artagnan"},
    {"/.fanboy", "\\2f.fanboy"},
    {"::foo::", "\\3a\\3afoo\\3a\\3a"},
    {"<foo>", "\\3cfoo\\3e"},
    {"user@host", "user\\40host"},
    {"c:\\5commas", "c\\3a\\5c5commas"},
    {"here's_a_wild_&_/cr%zy/_address", "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address"},
    {"here's_a_wild_&_/cr%zy/_address_for:<wv>(\"IMPS\")",
     "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address_for\\3a\\3cwv\\3e(\\22IMPS\\22)"},
    {"\\3and\\2is\\5cool", "\\5c3and\\2is\\5c5cool"},
    {"somenick!user\"&'/:<>\\3address", "somenick!user\\22\\26\\27\\2f\\3a\\3c\\3e\\5c3address"},
};

/* §5.1 #9-#11 escape every backslash, which contradicts the normative §4.1 rule 7 and the
 * §4.3 exceptions ("foo\bar is not modified by escaping"); we follow the rules, so only
 * the unescaping direction of these rows is checked (both forms unescape the same). */
static const Vector unescape_only[] = {
    {"c:\\net", "c\\3a\\5cnet"},
    {"c:\\\\net", "c\\3a\\5c\\5cnet"},
    {"c:\\cool stuff", "c\\3a\\5ccool\\20stuff"},
};

/* §4.3: partial and unknown sequences are left alone by both transformations */
static const char *const unchanged[] = {"\\2plus\\2is\\4", "foo\\bar", "foob\\41r", NULL};

static void test_both_ways(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(both_ways); i++) {
        g_autofree char *e = tt_jid_escape(both_ways[i].unescaped);
        g_autofree char *u = tt_jid_unescape(both_ways[i].escaped);
        g_assert_cmpstr(e, ==, both_ways[i].escaped);
        g_assert_cmpstr(u, ==, both_ways[i].unescaped);
    }
}

static void test_unescape_only(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(unescape_only); i++) {
        g_autofree char *u = tt_jid_unescape(unescape_only[i].escaped);
        g_assert_cmpstr(u, ==, unescape_only[i].unescaped);
        g_autofree char *e = tt_jid_escape(unescape_only[i].unescaped);
        g_autofree char *back = tt_jid_unescape(e);
        g_assert_cmpstr(back, ==, unescape_only[i].unescaped);
        g_assert_null(strchr(e, ':')); /* still a valid localpart */
        g_assert_null(strchr(e, ' '));
    }
    g_autofree char *e = tt_jid_escape("c:\\net");
    g_assert_cmpstr(e, ==, "c\\3a\\net");
}

static void test_exceptions(void)
{
    for (const char *const *s = unchanged; *s; s++) {
        g_autofree char *e = tt_jid_escape(*s);
        g_autofree char *u = tt_jid_unescape(*s);
        g_assert_cmpstr(e, ==, *s);
        g_assert_cmpstr(u, ==, *s);
    }
    /* §3.1: case is significant, \2F is not an escape */
    g_autofree char *u = tt_jid_unescape("a\\2Fb");
    g_assert_cmpstr(u, ==, "a\\2Fb");
}

static void test_space_at_ends(void)
{
    /* §4.1 rule 6: \20 never begins or ends an escaped localpart */
    g_assert_null(tt_jid_escape(" lead"));
    g_assert_null(tt_jid_escape("trail "));
    g_assert_null(tt_jid_escape(" "));
    g_assert_null(tt_jid_escape(""));
    g_autofree char *e = tt_jid_escape("a b");
    g_assert_cmpstr(e, ==, "a\\20b");
}

static void test_round_trip_random(void)
{
    static const char alphabet[] = "ab \\\"&'/:<>@25cf03e4a";
    GRand *r = g_rand_new_with_seed(106);
    for (int n = 0; n < 20000; n++) {
        char s[12];
        int len = g_rand_int_range(r, 1, sizeof s);
        for (int i = 0; i < len; i++)
            s[i] = alphabet[g_rand_int_range(r, 0, sizeof alphabet - 1)];
        s[len] = 0;
        g_autofree char *e = tt_jid_escape(s);
        if (s[0] == ' ' || s[len - 1] == ' ') {
            g_assert_null(e);
            continue;
        }
        g_assert_nonnull(e);
        g_assert_null(strpbrk(e, " \"&'/:<>@")); /* none of the disallowed characters */
        g_autofree char *u = tt_jid_unescape(e);
        g_assert_cmpstr(u, ==, s);
    }
    g_rand_free(r);
}

static void test_jid_parts(void)
{
    g_autofree char *b1 = tt_jid_bare("alice@example.org/phone");
    g_autofree char *b2 = tt_jid_bare("example.org");
    g_autofree char *b3 = tt_jid_bare("example.org/a@b");
    g_autofree char *l1 = tt_jid_local("#chan%irc.example.net@irc.example.org/nick");
    g_autofree char *l2 = tt_jid_local("example.org/a@b");
    g_autofree char *d1 = tt_jid_domain("#chan%irc.example.net@irc.example.org/nick");
    g_autofree char *d2 = tt_jid_domain("example.org/a@b");
    g_autofree char *r1 = tt_jid_resource("a@b/c/d");
    g_autofree char *r2 = tt_jid_resource("a@b");
    g_assert_cmpstr(b1, ==, "alice@example.org");
    g_assert_cmpstr(b2, ==, "example.org");
    g_assert_cmpstr(b3, ==, "example.org");
    g_assert_cmpstr(l1, ==, "#chan%irc.example.net");
    g_assert_null(l2);
    g_assert_cmpstr(d1, ==, "irc.example.org");
    g_assert_cmpstr(d2, ==, "example.org");
    g_assert_cmpstr(r1, ==, "c/d");
    g_assert_null(r2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/tt/jid/xep0106-examples", test_both_ways);
    g_test_add_func("/tt/jid/xep0106-table-9-11", test_unescape_only);
    g_test_add_func("/tt/jid/xep0106-exceptions", test_exceptions);
    g_test_add_func("/tt/jid/space-at-ends", test_space_at_ends);
    g_test_add_func("/tt/jid/round-trip", test_round_trip_random);
    g_test_add_func("/tt/jid/parts", test_jid_parts);
    return g_test_run();
}
