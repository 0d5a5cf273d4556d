/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_fuzz_regressions.c — replay fuzz crashes and seeds through the targets */
#include "tests/fuzz/fuzz.h"

#include <string.h>

/*
 * Every file in tests/fuzz/regressions/<target>/ (inputs that once broke a target) and in
 * tests/fuzz/corpus/<target>/ (seeds, and inputs the fuzzers found) goes through the same
 * target function that libFuzzer runs, here built by the normal compiler without libFuzzer.
 * A target aborts with its message when an invariant breaks, which fails this binary.
 */

static const struct {
    const char *name;
    FuzzEntry entry;
} targets[] = {
    {"fuzz_xml_stream", fuzz_xml_stream},
    {"fuzz_xml_differential", fuzz_xml_differential},
    {"fuzz_jid", fuzz_jid},
    {"fuzz_sasl", fuzz_sasl},
    {"fuzz_srv", fuzz_srv},
    {"fuzz_dialback", fuzz_dialback},
    {"fuzz_framed", fuzz_framed},
    {"fuzz_bosh_body", fuzz_bosh_body},
};

/* One file through a target; a private copy of exactly its length, so that ASan (in a
 * sanitizer build) sees reads past the end. */
static void replay_file(FuzzEntry entry, const char *path)
{
    char *buf = NULL;
    gsize len = 0;
    GError *error = NULL;

    g_assert_true(g_file_get_contents(path, &buf, &len, &error));
    g_assert_no_error(error);
    guint8 *copy = g_memdup2(buf, len);
    g_assert_cmpint(entry(copy, len), ==, 0);
    g_free(copy);
    g_free(buf);
}

typedef struct {
    FuzzEntry entry;
    GPtrArray *paths; /* every file of the test, in name order */
} Replay;

static void replay(gconstpointer data)
{
    const Replay *r = data;

    for (guint i = 0; i < r->paths->len; i++) {
        /* printed before the target runs, so that a crash names its input */
        if (r->paths->len > 1 && g_test_verbose())
            g_test_message("%s", (const char *)g_ptr_array_index(r->paths, i));
        replay_file(r->entry, g_ptr_array_index(r->paths, i));
    }
}

static void replay_free(gpointer data)
{
    Replay *r = data;
    g_ptr_array_unref(r->paths);
    g_free(r);
}

static int cmp_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_test(const char *path, FuzzEntry entry, GPtrArray *paths)
{
    Replay *r = g_new0(Replay, 1);
    r->entry = entry;
    r->paths = paths;
    g_test_add_data_func_full(path, r, replay, replay_free);
}

/* Regressions: one test per file, named after it (and so after the bug). The corpus: one
 * test per target (run with --verbose to see each file). Returns the number of files. */
static guint add_dir(const char *kind, const char *dir, const char *target, FuzzEntry entry)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    guint n;

    if (d == NULL) {
        g_ptr_array_unref(names);
        return 0;
    }
    while ((name = g_dir_read_name(d)) != NULL)
        if (name[0] != '.')
            g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_dir_close(d);
    g_ptr_array_sort(names, cmp_names);
    n = names->len;
    if (strcmp(kind, "corpus") == 0) {
        char *test = g_strdup_printf("/fuzz/corpus/%s", target);
        add_test(test, entry, names);
        g_free(test);
        return n;
    }
    for (guint i = 0; i < n; i++) {
        const char *path = g_ptr_array_index(names, i);
        char *base = g_path_get_basename(path);
        char *test = g_strdup_printf("/fuzz/%s/%s/%s", kind, target, base);
        GPtrArray *one = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(one, g_strdup(path));
        add_test(test, entry, one);
        g_free(test);
        g_free(base);
    }
    g_ptr_array_unref(names);
    return n;
}

/* ---- bugs whose fuzz invariant had to be relaxed, checked exactly here ---- */

static void on_error(gpointer ud, XmlError err, const char *text)
{
    *(XmlError *)ud = err;
}

static XmlError feed_whole(const char *stanza, gsize len)
{
    static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    const XmlParserCallbacks cb = {.error = on_error};
    XmlError err = XML_ERR_NONE;
    XmlParser *p = xml_parser_new(&cb, &err, NULL);
    GString *in = g_string_new(hdr);

    g_string_append_len(in, stanza, (gssize)len);
    xml_parser_feed(p, in->str, in->len, NULL);
    xml_parser_free(p);
    g_string_free(in, TRUE);
    return err;
}

/* fuzz_xml_stream found that the "invalid UTF-8" / "not an XML Char" decision looked past
 * the character expat refused: a control character followed, anywhere in the next 64
 * bytes, by a bad byte was reported as invalid UTF-8 when read in one piece, as
 * not-well-formed when read byte by byte. (Both are <not-well-formed/>; the text differs.) */
static void test_utf8_error_kind(void)
{
#define FEED(s) feed_whole(s, sizeof(s) - 1)
    g_assert_cmpint(FEED("<message><body>\x0e\xa5</body></message>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(FEED("<message to='\x01\xc3\x28'/>"), ==, XML_ERR_NOT_WELL_FORMED);
    g_assert_cmpint(FEED("<message><body>ok\xc3\x28</body></message>"), ==, XML_ERR_INVALID_UTF8);
    g_assert_cmpint(FEED("<message><body>\xa5\x0e</body></message>"), ==, XML_ERR_INVALID_UTF8);
    /* refused by its first byte, the rest not there yet: not known to be bad UTF-8 */
    g_assert_cmpint(FEED("<message to='x'\xd9"), ==, XML_ERR_NOT_WELL_FORMED);
#undef FEED
}

int main(int argc, char **argv)
{
    const char *srcdir = g_getenv("TERN_SRCDIR");
    guint seeds = 0;

    g_test_init(&argc, &argv, NULL);
    fuzz_init();
    g_test_add_func("/fuzz/named/utf8-error-kind", test_utf8_error_kind);
    if (srcdir == NULL)
        srcdir = TERN_TOP_SRCDIR;
    for (guint i = 0; i < G_N_ELEMENTS(targets); i++) {
        char *reg = g_build_filename(srcdir, "tests", "fuzz", "regressions", targets[i].name, NULL);
        char *corpus = g_build_filename(srcdir, "tests", "fuzz", "corpus", targets[i].name, NULL);
        add_dir("regressions", reg, targets[i].name, targets[i].entry);
        seeds += add_dir("corpus", corpus, targets[i].name, targets[i].entry);
        g_free(reg);
        g_free(corpus);
    }
    if (seeds == 0) {
        g_printerr("no seed corpus under %s/tests/fuzz/corpus\n", srcdir);
        return 1;
    }
    return g_test_run();
}
