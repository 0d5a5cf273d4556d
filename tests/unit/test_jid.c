/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_jid.c — JID preparation per RFC 7622 (examples of §3.5) and Jid objects */
#include "router/jid.h"

#include <string.h>

typedef struct {
    const char *in;
    const char *full; /* prepared form */
} ValidCase;

static const ValidCase valid_cases[] = {
    /* RFC 7622 §3.5.1 Table 1 */
    {"juliet@example.com", "juliet@example.com"},
    {"juliet@example.com/foo", "juliet@example.com/foo"},
    {"juliet@example.com/foo bar", "juliet@example.com/foo bar"},
    {"juliet@example.com/foo@bar", "juliet@example.com/foo@bar"},
    {"foo\\20bar@example.com", "foo\\20bar@example.com"},
    {"fussball@example.com", "fussball@example.com"},
    {"fu\303\237ball@example.com",
     "fu\303\237ball@example.com"}, /* fußball: ß is kept (toLowerCase, not case folding) */
    {"\xCF\x80@example.com", "\xCF\x80@example.com"},                   /* π */
    {"\xCE\xA3@example.com/foo", "\xCF\x83@example.com/foo"},           /* Σ -> σ */
    {"\xCF\x83@example.com/foo", "\xCF\x83@example.com/foo"},           /* σ */
    {"\xCF\x82@example.com/foo", "\xCF\x82@example.com/foo"},           /* ς */
    {"king@example.com/\xE2\x99\x9A", "king@example.com/\xE2\x99\x9A"}, /* ♚ in resource */
    {"example.com", "example.com"},
    {"example.com/foobar", "example.com/foobar"},
    {"a.example.com/b@example.net", "a.example.com/b@example.net"},
    /* Not in RFC 7622's invalid table; OpaqueString (RFC 8265 §4.2) keeps a leading space */
    {"juliet@example.com/ foo", "juliet@example.com/ foo"},
    {"juliet@example.com/foo/bar", "juliet@example.com/foo/bar"},
    /* case mapping: localpart and domainpart lowercased, resourcepart kept */
    {"\xCE\xA3@example.com", "\xCF\x83@example.com"},
    {"JULIET@EXAMPLE.COM/Balcony", "juliet@example.com/Balcony"},
    /* ΟΔΟΣ: Final_Sigma context gives ς at the end of a word */
    {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3@example.com",
     "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82@example.com"},
    /* İ lowercases to i + COMBINING DOT ABOVE (SpecialCasing) */
    {"\xC4\xB0@example.com", "i\xCC\x87@example.com"},
    /* width mapping: fullwidth ＪＵＬＩＥＴ */
    {"\xEF\xBC\xAA\xEF\xBC\xB5\xEF\xBC\xAC\xEF\xBC\xA9\xEF\xBC\xA5\xEF\xBC\xB4@example.com",
     "juliet@example.com"},
    /* NFC: e + U+0301 -> é in localpart and resourcepart */
    {"e\xCC\x81@example.com/Re\xCC\x81s", "\xC3\xA9@example.com/R\xC3\xA9s"},
    /* non-ASCII space (NBSP, IDEOGRAPHIC SPACE) to SPACE in resourcepart */
    {"a@example.com/foo\302\240bar\xE3\x80\x80", "a@example.com/foo bar "},
    {"l\xC2\xB7l@example.com", "l\xC2\xB7l@example.com"}, /* MIDDLE DOT between l and l */
    /* trailing dot removed from the domainpart */
    {"example.com.", "example.com"},
    {"juliet@example.com./balcony", "juliet@example.com/balcony"},
    /* IDN: stored as lowercase U-labels */
    {"user@B\303\274cher.example", "user@b\303\274cher.example"},
    {"user@xn--bcher-kva.example/r", "user@b\303\274cher.example/r"},
    {"user@XN--BCHER-KVA.Example", "user@b\303\274cher.example"},
    {"user@b\303\274cher\xE3\x80\x82"
     "example",
     "user@b\303\274cher.example"}, /* IDEOGRAPHIC FULL STOP */
    /* IP literals */
    {"user@192.0.2.1/r", "user@192.0.2.1/r"},
    {"user@[2001:DB8::1]/r", "user@[2001:db8::1]/r"},
    {"[2001:db8:0:0:0:0:0:1]", "[2001:db8::1]"},
    {"[::1]", "[::1]"},
    {"localhost", "localhost"},
    {"a-b.c-d.example", "a-b.c-d.example"},
};

static const char *const invalid_cases[] = {
    /* RFC 7622 §3.5.2 Table 2 */
    "\"juliet\"@example.com", "foo bar@example.com", "@example.com/",
    "henry\xE2\x85\xA3@example.com", /* ROMAN NUMERAL FOUR */
    "\xE2\x99\x9A@example.com",      /* BLACK CHESS KING */
    "juliet@", "/foobar",
    /* structure */
    "", "@", "/", "@example.com", "juliet@example.com/", "example.com/", "a@b@example.com",
    /* RFC 7622 §3.3.1 */
    "foo&bar@example.com", "foo'bar@example.com", "foo:bar@example.com", "foo<bar@example.com",
    "foo>bar@example.com",
    /* localpart class */
    "a\tb@example.com", "a\x7f@example.com",
    "a\xE2\x80\x8B@example.com",    /* ZERO WIDTH SPACE (default ignorable) */
    "\xEF\xAC\x81@example.com",     /* LATIN SMALL LIGATURE FI (HasCompat) */
    "\xE1\x84\x80@example.com",     /* HANGUL CHOSEONG KIYEOK (OldHangulJamo) */
    "\xEE\x80\x80@example.com",     /* private use */
    "a\302\267b@example.com",       /* MIDDLE DOT outside l·l */
    "\xE3\x80\x80@example.com",     /* IDEOGRAPHIC SPACE maps to SPACE */
    "\xD9\xA1\xDB\xB1@example.com", /* ARABIC-INDIC mixed with EXTENDED ARABIC-INDIC digits */
    /* resourcepart class */
    "a@example.com/\x01", "a@example.com/\x7f", "a@example.com/\xEE\x80\x80", /* private use */
    "a@example.com/\xCD\xB8",       /* unassigned U+0378 */
    "a@example.com/a\342\200\250b", /* LINE SEPARATOR */
    "a@example.com/\357\273\277x",  /* BOM */
    /* invalid UTF-8 */
    "\xff@example.com", "a@example.com/\xC3", "a@ex\303ample.com",
    "a@example.com/\xC0\xAF",     /* overlong '/' */
    "a@example.com/\xED\xA0\x80", /* surrogate */
    /* domainpart */
    "juliet@exa mple.com", "juliet@exa_mple.com", "juliet@-example.com", "juliet@example-.com",
    "juliet@example..com", "juliet@.example.com", "juliet@example.com..", "juliet@.",
    "juliet@1.2.3.999", "juliet@123", "juliet@[::1", "juliet@[zz::1]", "juliet@[]",
    "juliet@[::1%eth0]", "juliet@xn--a.example", "juliet@b\303\274cher_.example",
    "juliet@\xF0\x9F\x98\x80.example", /* emoji: not IDNA2008 */
};

static void test_valid(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(valid_cases); i++) {
        const ValidCase *c = &valid_cases[i];
        g_autoptr(GError) err = NULL;
        g_autoptr(Jid) j = jid_new(c->in, &err);
        if (!j)
            g_test_message("case %zu: %s", i, err->message);
        g_assert_no_error(err);
        g_assert_nonnull(j);
        g_assert_cmpstr(jid_full(j), ==, c->full);
        /* preparation is idempotent */
        g_autoptr(Jid) again = jid_new(jid_full(j), &err);
        g_assert_no_error(err);
        g_assert_cmpstr(jid_full(again), ==, c->full);
        g_assert_true(jid_equal(j, again));
        g_assert_cmpuint(jid_hash(j), ==, jid_hash(again));
    }
}

static void test_invalid(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(invalid_cases); i++) {
        g_autoptr(GError) err = NULL;
        Jid *j = jid_new(invalid_cases[i], &err);
        if (j)
            g_test_message("case %zu accepted as %s", i, jid_full(j));
        g_assert_null(j);
        g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
        g_assert_nonnull(err->message);
    }
    /* no GError requested: still NULL */
    g_assert_null(jid_new("@example.com", NULL));
    g_assert_null(jid_new(NULL, NULL));
}

static void test_error_names_part(void)
{
    static const struct {
        const char *in, *prefix;
    } cases[] = {
        {"@example.com", "localpart"},
        {"foo bar@example.com", "localpart"},
        {"juliet@", "domainpart"},
        {"/foobar", "domainpart"},
        {"juliet@example.com/", "resourcepart"},
        {"juliet@example.com/\x01", "resourcepart"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_assert_null(jid_new(cases[i].in, &err));
        g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
        g_assert_true(g_str_has_prefix(err->message, cases[i].prefix));
    }
}

static void test_parts(void)
{
    g_autoptr(Jid) j = jid_new("Juliet@Example.com/balcony/a@b", NULL);
    g_assert_nonnull(j);
    g_assert_cmpstr(jid_local(j), ==, "juliet");
    g_assert_cmpstr(jid_domain(j), ==, "example.com");
    g_assert_cmpstr(jid_resource(j), ==, "balcony/a@b");
    g_assert_cmpstr(jid_bare(j), ==, "juliet@example.com");
    g_assert_false(jid_is_bare(j));

    g_autoptr(Jid) d = jid_new("example.com/x@y", NULL);
    g_assert_nonnull(d);
    g_assert_null(jid_local(d));
    g_assert_cmpstr(jid_domain(d), ==, "example.com");
    g_assert_cmpstr(jid_resource(d), ==, "x@y");
    g_assert_cmpstr(jid_bare(d), ==, "example.com");

    g_autoptr(Jid) b = jid_new("example.com", NULL);
    g_assert_true(jid_is_bare(b));
    g_assert_null(jid_resource(b));
    g_assert_cmpstr(jid_bare(b), ==, jid_full(b));
}

static void test_boundaries(void)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GError) err = NULL;

    /* localpart 1023 bytes ok, 1024 fails */
    for (int i = 0; i < JID_PART_MAX; i++)
        g_string_append_c(s, 'a');
    g_string_append(s, "@example.com");
    Jid *j = jid_new(s->str, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(strlen(jid_local(j)), ==, JID_PART_MAX);
    jid_unref(j);
    g_string_prepend_c(s, 'a');
    g_assert_null(jid_new(s->str, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);

    /* a 1023-byte localpart of 2-byte letters after NFC (e + U+0301 -> é): never truncated */
    g_string_assign(s, "a");
    for (int i = 0; i < 511; i++)
        g_string_append(s, "e\xCC\x81");
    g_string_append(s, "@example.com");
    j = jid_new(s->str, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(strlen(jid_local(j)), ==, 1023);
    jid_unref(j);
    g_string_prepend(s, "\xC3\xA9");
    g_assert_null(jid_new(s->str, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);

    /* resourcepart 1023 ok, 1024 fails */
    g_string_assign(s, "a@example.com/");
    for (int i = 0; i < JID_PART_MAX; i++)
        g_string_append_c(s, 'r');
    j = jid_new(s->str, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(strlen(jid_resource(j)), ==, JID_PART_MAX);
    jid_unref(j);
    g_string_append_c(s, 'r');
    g_assert_null(jid_new(s->str, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);

    /* domain label 63 ok, 64 fails */
    g_autofree char *l63 = g_strnfill(63, 'd');
    g_autofree char *ok = g_strdup_printf("a@%s.example", l63);
    j = jid_new(ok, &err);
    g_assert_no_error(err);
    jid_unref(j);
    g_autofree char *bad = g_strdup_printf("a@%sd.example", l63);
    g_assert_null(jid_new(bad, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);

    /* total 253 octets ok, 255 fails (4 x 63 + 3 dots) */
    g_autofree char *l61 = g_strnfill(61, 'd');
    g_autofree char *d253 = g_strdup_printf("%s.%s.%s.%s", l63, l63, l63, l61);
    g_assert_cmpuint(strlen(d253), ==, 253);
    j = jid_new(d253, &err);
    g_assert_no_error(err);
    jid_unref(j);
    g_autofree char *d255 = g_strdup_printf("%s.%s.%s.%s", l63, l63, l63, l63);
    g_assert_null(jid_new(d255, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);

    /* a 60-character U-label whose A-label exceeds 63 octets */
    g_string_assign(s, "a@");
    for (int i = 0; i < 55; i++)
        g_string_append_c(s, 'a');
    for (int i = 0; i < 5; i++)
        g_string_append(s, "\xC3\xBC");
    g_string_append(s, ".example");
    g_assert_null(jid_new(s->str, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
}

static void test_new_parts(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Jid) a = jid_new_parts("Juliet", "EXAMPLE.com.", "Balcony", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(jid_full(a), ==, "juliet@example.com/Balcony");

    g_autoptr(Jid) b = jid_new_parts(NULL, "example.com", NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(jid_full(b), ==, "example.com");

    /* parts may contain what the string form would split on */
    g_autoptr(Jid) c = jid_new_parts("juliet", "example.com", "a/b@c", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(jid_resource(c), ==, "a/b@c");

    g_assert_null(jid_new_parts("a@b", "example.com", NULL, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
    g_assert_null(jid_new_parts("", "example.com", NULL, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
    g_assert_null(jid_new_parts("a", NULL, NULL, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
    g_assert_null(jid_new_parts("a", "example.com", "", &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
}

static void test_prep_functions(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *l = jid_prep_local("\xCE\xA3", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(l, ==, "\xCF\x83");
    g_autofree char *d = jid_prep_domain("B\303\234CHER.example.", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(d, ==, "b\303\274cher.example");
    g_autofree char *r = jid_prep_resource("Foo\342\200\203Bar", &err); /* EM SPACE */
    g_assert_no_error(err);
    g_assert_cmpstr(r, ==, "Foo Bar");
    g_assert_null(jid_prep_local("a b", &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
    g_assert_null(jid_prep_domain("", &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
    g_clear_error(&err);
    g_assert_null(jid_prep_resource(NULL, &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);
}

static void test_bare_and_resource(void)
{
    g_autoptr(Jid) full = jid_new("juliet@example.com/balcony", NULL);
    g_autoptr(Jid) bare = jid_to_bare(full);
    g_assert_cmpstr(jid_full(bare), ==, "juliet@example.com");
    g_assert_true(jid_is_bare(bare));
    g_assert_true(jid_bare_equal(full, bare));
    g_assert_false(jid_equal(full, bare));

    /* already bare: a new reference to the same object */
    g_autoptr(Jid) bare2 = jid_to_bare(bare);
    g_assert_true(bare2 == bare);

    g_autoptr(GError) err = NULL;
    g_autoptr(Jid) other = jid_with_resource(full, "Chamber\302\2401", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(jid_full(other), ==, "juliet@example.com/Chamber 1");
    g_assert_true(jid_bare_equal(full, other));
    g_assert_false(jid_equal(full, other));
    g_assert_null(jid_with_resource(full, "", &err));
    g_assert_error(err, JID_ERROR, JID_ERROR_MALFORMED);

    g_autoptr(Jid) none = jid_with_resource(full, NULL, NULL);
    g_assert_cmpstr(jid_full(none), ==, "juliet@example.com");

    g_autoptr(Jid) dom = jid_new("example.com/r", NULL);
    g_autoptr(Jid) dom_bare = jid_to_bare(dom);
    g_assert_cmpstr(jid_full(dom_bare), ==, "example.com");
    g_assert_null(jid_local(dom_bare));
}

static void test_equality_and_hash(void)
{
    g_autoptr(Jid) a = jid_new("JULIET@b\303\274cher.example/r", NULL);
    g_autoptr(Jid) b = jid_new("juliet@xn--bcher-kva.example./r", NULL);
    g_autoptr(Jid) c = jid_new("juliet@b\303\274cher.example/R", NULL);
    g_assert_true(jid_equal(a, b));
    g_assert_false(jid_equal(a, c));
    g_assert_true(jid_bare_equal(a, c));
    g_assert_true(jid_equal(NULL, NULL));
    g_assert_false(jid_equal(a, NULL));
    g_assert_false(jid_bare_equal(NULL, a));

    GHashTable *t =
        g_hash_table_new_full(jid_hash, jid_equal_func, (GDestroyNotify)jid_unref, NULL);
    g_hash_table_insert(t, jid_ref(a), GINT_TO_POINTER(1));
    g_assert_true(g_hash_table_contains(t, b));
    g_assert_false(g_hash_table_contains(t, c));
    g_hash_table_destroy(t);
}

static void test_refcount(void)
{
    Jid *j = jid_new("a@example.com", NULL);
    g_assert_true(jid_ref(j) == j);
    jid_unref(j);
    g_assert_cmpstr(jid_full(j), ==, "a@example.com");
    jid_unref(j);
    jid_unref(NULL);
}

/* jid_str_hash: every byte counts (the 8-byte steps and the 0-7 byte tail), and JIDs that
 * differ a little spread over the table (what the session and JID tables rely on). */
static void test_str_hash(void)
{
    g_assert_cmpuint(jid_str_hash("user12@localhost/lg12"), ==,
                     jid_str_hash("user12@localhost/lg12"));
    char buf[40];
    for (gsize len = 1; len < sizeof buf - 1; len++) {
        memset(buf, 'a', len);
        buf[len] = '\0';
        guint base = jid_str_hash(buf);
        for (gsize k = 0; k < len; k++) { /* one byte changed anywhere: another hash */
            buf[k] = 'b';
            g_assert_cmpuint(jid_str_hash(buf), !=, base);
            buf[k] = 'a';
        }
        buf[len] = 'a'; /* one byte longer: another hash */
        buf[len + 1] = '\0';
        g_assert_cmpuint(jid_str_hash(buf), !=, base);
    }
    /* 100,000 JIDs into 2^17 buckets by the low bits: about as many used as random keys
     * would (1 - 1/e^0.76 of them, ~53 %), not a few crowded ones */
    enum { N = 100000, BUCKETS = 1 << 17 };
    guint8 *used = g_malloc0(BUCKETS);
    guint filled = 0;
    for (int i = 0; i < N; i++) {
        g_snprintf(buf, sizeof buf, "user%d@localhost/lg%d", i, i % 7);
        guint b = jid_str_hash(buf) & (BUCKETS - 1);
        filled += !used[b];
        used[b] = 1;
    }
    g_free(used);
    g_assert_cmpuint(filled, >, BUCKETS / 2);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/jid/valid", test_valid);
    g_test_add_func("/jid/invalid", test_invalid);
    g_test_add_func("/jid/error-names-part", test_error_names_part);
    g_test_add_func("/jid/parts", test_parts);
    g_test_add_func("/jid/boundaries", test_boundaries);
    g_test_add_func("/jid/new-parts", test_new_parts);
    g_test_add_func("/jid/prep-functions", test_prep_functions);
    g_test_add_func("/jid/bare-and-resource", test_bare_and_resource);
    g_test_add_func("/jid/equality-and-hash", test_equality_and_hash);
    g_test_add_func("/jid/refcount", test_refcount);
    g_test_add_func("/jid/str-hash", test_str_hash);
    return g_test_run();
}
