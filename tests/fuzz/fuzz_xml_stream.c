/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_xml_stream.c — the stream parser fed in random chunks, with restarts */
#include "tests/fuzz/fuzz.h"

#include <string.h>

/*
 * Input: [flags] [seed] [stream bytes...]
 *   flags bits 0-1  largest chunk: 1, 7, 64 or 4096 bytes (sizes drawn from seed)
 *         bits 2-3  limits: none, roomy, tight, tiny
 *         bits 4-5  xml_parser_stop() after the 1st/2nd/3rd element of each parser (0: never),
 *                   then a new parser on the rest, as router/stream.c does on a restart
 *         bit  6    also stop in stream_open
 *         bit  7    raise the limits after the first element (as after authentication)
 * Checks:
 *  - every element is a sane tree (fuzz_check_tree);
 *  - it survives serialization: xml_node_to_string and, in the stream's content namespace,
 *    xml_node_serialize, re-parsed with xml_parse_fragment, give the same tree;
 *  - the events (headers, elements, restarts, close, error kind) do not depend on how the
 *    bytes were chunked: the same input fed in one piece gives the same list;
 *  - a stopped parser reports *consumed within the chunk and stays stopped; a failed one
 *    stays failed; no callback comes after stop or error.
 */

typedef struct {
    XmlParser *p;
    GPtrArray *events; /* strings */
    guint elements;    /* in this parser */
    guint stop_after;
    gboolean stop_on_open, raise_limits;
    gboolean stopped, failed;
    XmlError err;
    char *content_ns;
} Run;

static const XmlLimits limit_sets[4] = {
    {0, 0, 0, 0},
    {65536, 32, 64, 4096},
    {512, 6, 8, 300},
    {64, 2, 2, 120},
};
static const XmlLimits raised = {1 << 20, 64, 128, 0};

static const char *err_name(XmlError e)
{
    static const char *const names[] = {"none",   "not-well-formed", "restricted", "utf8",
                                        "policy", "invalid-ns",      "bad-format"};
    return (guint)e < G_N_ELEMENTS(names) ? names[e] : "?";
}

static void no_event_after_end(Run *r, const char *what)
{
    FUZZ_CHECK(!r->stopped, "%s callback after xml_parser_stop()", what);
    FUZZ_CHECK(!r->failed, "%s callback after the error callback", what);
}

static void on_open(gpointer ud, const char *ns, const char *name, const XmlAttr *attrs,
                    guint nattrs, const char *default_ns)
{
    Run *r = ud;
    GString *ev = g_string_new("open ");

    no_event_after_end(r, "stream_open");
    FUZZ_CHECK(ns != NULL && name != NULL && default_ns != NULL, "stream_open NULLs");
    FUZZ_CHECK(attrs[nattrs].name == NULL, "stream_open attrs not NULL-terminated");
    g_string_append_printf(ev, "{%s}%s default=%s", ns, name, default_ns);
    for (guint i = 0; i < nattrs; i++) {
        FUZZ_CHECK(attrs[i].name != NULL && attrs[i].value != NULL, "header attr NULL");
        FUZZ_CHECK(g_utf8_validate(attrs[i].value, -1, NULL), "header attr not UTF-8");
        g_string_append_printf(ev, " {%s}%s=%s", attrs[i].ns ? attrs[i].ns : "", attrs[i].name,
                               attrs[i].value);
    }
    g_ptr_array_add(r->events, g_string_free(ev, FALSE));
    g_free(r->content_ns);
    r->content_ns =
        g_strdup(strcmp(default_ns, XML_NS_SERVER) == 0 || strcmp(default_ns, XML_NS_COMPONENT) == 0
                     ? default_ns
                     : XML_NS_CLIENT);
    if (r->stop_on_open) {
        r->stopped = TRUE;
        xml_parser_stop(r->p);
    }
}

/* What ternd would write for el, re-read by ternd, is el. */
static void check_round_trip(const XmlNode *el, const char *parent_ns)
{
    GError *error = NULL;
    char *doc = fuzz_serialize_doc(el, parent_ns);
    XmlNode *back = fuzz_reparse_doc(doc, parent_ns, &error);
    char *want, *got;

    FUZZ_CHECK(back != NULL, "serialization does not re-parse (%s):\n%s", error->message, doc);
    want = fuzz_dump(el, parent_ns);
    got = fuzz_dump(back, NULL);
    FUZZ_CHECK(strcmp(want, got) == 0, "round trip in '%s' changed the tree:\n%s\nwant %s\ngot  %s",
               parent_ns, doc, want, got);
    g_free(want);
    g_free(got);
    xml_node_free(back);
    g_free(doc);
}

static void on_element(gpointer ud, XmlNode *el)
{
    Run *r = ud;

    no_event_after_end(r, "element");
    fuzz_check_tree(el);
    g_ptr_array_add(r->events, fuzz_dump(el, NULL));
    check_round_trip(el, "");
    check_round_trip(el, r->content_ns != NULL ? r->content_ns : XML_NS_CLIENT);
    xml_node_free(el);
    r->elements++;
    if (r->raise_limits && r->elements == 1)
        xml_parser_set_limits(r->p, &raised);
    if (r->stop_after != 0 && r->elements == r->stop_after) {
        r->stopped = TRUE;
        xml_parser_stop(r->p);
    }
}

static void on_close(gpointer ud)
{
    Run *r = ud;

    no_event_after_end(r, "stream_close");
    g_ptr_array_add(r->events, g_strdup("close"));
}

static void on_error(gpointer ud, XmlError err, const char *text)
{
    Run *r = ud;

    no_event_after_end(r, "error");
    FUZZ_CHECK(err != XML_ERR_NONE && text != NULL, "error callback without an error");
    r->failed = TRUE;
    r->err = err;
    /* Both are <not-well-formed/> (RFC 6120 §11.6); only the text differs, and it cannot
     * always be chunking-independent: in a tag expat refuses a character by its first
     * byte, before the rest (valid or not) has arrived; before the root it may point at
     * another byte when the first bytes come in one piece. */
    if (err == XML_ERR_INVALID_UTF8)
        err = XML_ERR_NOT_WELL_FORMED;
    g_ptr_array_add(r->events, g_strdup_printf("error %s", err_name(err)));
}

static const XmlParserCallbacks callbacks = {on_open, on_element, on_close, on_error, NULL};

static void new_parser(Run *r, const XmlLimits *lim)
{
    xml_parser_free(r->p);
    r->p = xml_parser_new(&callbacks, r, lim);
    r->elements = 0;
    r->stopped = FALSE;
}

/* chunk_max 0: the whole input in one xml_parser_feed call */
static GPtrArray *run(const uint8_t *data, size_t size, guint8 flags, guint32 seed, gsize chunk_max)
{
    Run r = {0};
    GRand *rand = g_rand_new_with_seed(seed);
    const XmlLimits *lim = &limit_sets[(flags >> 2) & 3];
    gsize off = 0;

    r.events = g_ptr_array_new_with_free_func(g_free);
    r.stop_after = (flags >> 4) & 3;
    r.stop_on_open = (flags & 0x40) != 0;
    r.raise_limits = (flags & 0x80) != 0;
    new_parser(&r, lim);
    while (off < size) {
        gsize n = size - off;
        if (chunk_max != 0) { /* (MIN() would draw twice) */
            gsize draw = 1 + (gsize)g_rand_int_range(rand, 0, (gint32)chunk_max);
            n = MIN(n, draw);
        }
        gsize consumed = 12345;
        XmlFeedResult res = xml_parser_feed(r.p, (const char *)data + off, n, &consumed);

        if (res == XML_FEED_OK) {
            FUZZ_CHECK(!r.failed && !r.stopped, "FEED_OK after stop or error");
            FUZZ_CHECK(consumed == n, "FEED_OK consumed %zu of %zu", consumed, n);
            off += n;
            continue;
        }
        if (res == XML_FEED_ERROR) {
            FUZZ_CHECK(r.failed, "FEED_ERROR without the error callback");
            FUZZ_CHECK(xml_parser_feed(r.p, "<a/>", 4, &consumed) == XML_FEED_ERROR,
                       "a failed parser came back");
            break;
        }
        FUZZ_CHECK(r.stopped && !r.failed, "FEED_STOPPED without xml_parser_stop()");
        FUZZ_CHECK(consumed <= n, "FEED_STOPPED consumed %zu of %zu", consumed, n);
        /* router/stream.c loops on the rest: no progress would be an endless loop */
        FUZZ_CHECK(consumed > 0, "FEED_STOPPED consumed nothing");
        {
            gsize again = 12345;
            FUZZ_CHECK(xml_parser_feed(r.p, "<a/>", 4, &again) == XML_FEED_STOPPED && again == 0,
                       "a stopped parser went on");
        }
        /* router/stream.c: a restart is a new parser on the bytes after the stop */
        g_ptr_array_add(r.events, g_strdup_printf("restart at %zu", off + consumed));
        off += consumed;
        new_parser(&r, lim);
    }
    xml_parser_free(r.p);
    g_free(r.content_ns);
    g_rand_free(rand);
    return r.events;
}

static char *join(GPtrArray *a)
{
    g_ptr_array_add(a, NULL);
    char *s = g_strjoinv("\n", (char **)a->pdata);
    g_ptr_array_remove_index(a, a->len - 1);
    return s;
}

static int one_input(const uint8_t *data, size_t size)
{
    static const gsize chunk_max[4] = {1, 7, 64, 4096};
    GPtrArray *chunked, *whole;
    guint8 flags, *input;
    guint32 seed;

    fuzz_init();
    if (size < 2)
        return 0;
    flags = data[0];
    seed = data[1];
    data += 2;
    size -= 2;
    /* NULs at the end (never XML) make both runs decide about everything before them:
     * expat may wait for more bytes in one run where it already failed in the other (it
     * wants 4 bytes at the start of a document before it says anything). */
    input = g_malloc0(size + 4);
    memcpy(input, data, size);
    chunked = run(input, size + 4, flags, seed, chunk_max[flags & 3]);
    whole = run(input, size + 4, flags, seed, 0);
    g_free(input);
    {
        char *a = join(chunked), *b = join(whole);
        gboolean same = strcmp(a, b) == 0;
        /* With limits, a stanza or header that grows past them is refused by the chunked
         * run when the buffered bytes pass the limit, by the whole run only at its next
         * event, which may be the final NUL's error. */
        if (!same && ((flags >> 2) & 3) != 0 && chunked->len == whole->len &&
            g_str_equal(g_ptr_array_index(chunked, chunked->len - 1), "error policy")) {
            char *cut_a = strrchr(a, '\n'), *cut_b = strrchr(b, '\n');
            same = (cut_a == NULL && cut_b == NULL) ||
                   (cut_a != NULL && cut_b != NULL && cut_a - a == cut_b - b &&
                    strncmp(a, b, (size_t)(cut_a - a)) == 0);
        }
        FUZZ_CHECK(same, "events depend on chunking:\n--- chunked\n%s\n--- whole\n%s", a, b);
        g_free(a);
        g_free(b);
    }
    g_ptr_array_unref(chunked);
    g_ptr_array_unref(whole);
    return 0;
}

int fuzz_xml_stream(const uint8_t *data, size_t size)
{
    return one_input(data, size);
}

FUZZ_LIBFUZZER_ENTRY(fuzz_xml_stream)
