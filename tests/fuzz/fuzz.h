/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz.h — shared by the libFuzzer targets, their regression replayer and tests */
#pragma once

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#include "router/xml.h"

/* Each target is a plain function, so that the GTest replayer (tests/unit/
 * test_fuzz_regressions.c, built by gcc without libFuzzer) links the same code. A target
 * returns 0 and aborts through FUZZ_CHECK when an invariant breaks. */
typedef int (*FuzzEntry)(const uint8_t *data, size_t size);
int fuzz_xml_stream(const uint8_t *data, size_t size);
int fuzz_xml_differential(const uint8_t *data, size_t size);
int fuzz_jid(const uint8_t *data, size_t size);
int fuzz_sasl(const uint8_t *data, size_t size);
int fuzz_srv(const uint8_t *data, size_t size);
int fuzz_dialback(const uint8_t *data, size_t size);
int fuzz_framed(const uint8_t *data, size_t size);    /* tests/fuzz/fuzz_web.c */
int fuzz_bosh_body(const uint8_t *data, size_t size); /* tests/fuzz/fuzz_web.c */

/* Built with -DTERN_LIBFUZZER (configure --enable-fuzz), a target file also defines
 * libFuzzer's entry point; otherwise nothing. */
#ifdef TERN_LIBFUZZER
#define FUZZ_LIBFUZZER_ENTRY(fn)                                                                   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                                   \
    {                                                                                              \
        return fn(data, size);                                                                     \
    }
#else
#define FUZZ_LIBFUZZER_ENTRY(fn)
#endif

/* Once per process: drop GLib log output below warnings (ternd's g_message/g_debug on bad
 * input is expected and would drown the fuzzer's own output). Criticals still abort when
 * G_DEBUG=fatal-criticals (tests/fuzz/run.sh sets it). */
void fuzz_init(void);

/* An invariant broke: print and abort (libFuzzer saves the input as a crash). */
G_NORETURN void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (G_UNLIKELY(!(cond)))                                                                   \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                     \
    } while (0)

/* Deterministic bytes: from the fuzzer input (then zeros once used up), or from a GRand. */
typedef struct {
    const uint8_t *p;
    size_t n;
    GRand *rand; /* borrowed; used instead of p/n when set */
} FuzzRng;
guint32 fuzz_rng_u32(FuzzRng *r);
guint fuzz_rng_below(FuzzRng *r, guint n); /* [0, n), n > 0 */

/* Canonical dump of a tree, for comparing trees from different parsers: attributes sorted,
 * adjacent text merged, empty text dropped, strings escaped. With parent_ns non-NULL the
 * dump is of what xml_node_serialize(n, parent_ns) promises to put on the wire: the
 * content-namespace chain at the top written in parent_ns, namespace declarations given as
 * attributes dropped, C0 controls other than TAB/LF/CR as U+FFFD. transfer full */
char *fuzz_dump(const XmlNode *n, const char *parent_ns);

/* Structural invariants of a tree built by the parser: links consistent, text_len right,
 * every string valid UTF-8, no empty or adjacent text nodes. */
void fuzz_check_tree(const XmlNode *n);

/* What ternd writes for n in a stream whose content namespace is parent_ns ("" = a
 * standalone document): the serialization wrapped in a stream root when parent_ns is not
 * "", so that any XML parser can read it. transfer full */
char *fuzz_serialize_doc(const XmlNode *n, const char *parent_ns);
/* The element that fuzz_serialize_doc wrapped, parsed back with ternd's own parser, or NULL
 * (error set). transfer full */
XmlNode *fuzz_reparse_doc(const char *doc, const char *parent_ns, GError **error);

/* A random stanza-like tree: names, namespaces and attributes from tables of legal but
 * awkward choices (prefix-free, default namespace switches, xml:lang, namespaced
 * attributes, ...), text and attribute values from a list of nasty pieces (& < > " ' CR LF
 * TAB "]]>", non-BMP, U+FFFD, C0 controls...). At most max_nodes nodes. transfer full */
XmlNode *fuzz_gen_tree(FuzzRng *r, guint max_nodes);

/* libxml2 (tests/fuzz/fuzz_libxml2.c, linked only where libxml2 is): parse doc as
 * fuzz_serialize_doc made it (wrapped: take the root's only child) and convert the element
 * to an XmlNode tree, to be compared with fuzz_dump(.., NULL). NULL with *why set (transfer
 * full) when libxml2 finds the document not well-formed or not namespace-well-formed, or
 * it holds something else than elements, attributes and text. transfer full */
XmlNode *fuzz_libxml2_parse(const char *doc, gsize len, gboolean wrapped, char **why);
/* The differential check (tests/fuzz/fuzz_libxml2.c): el written by ternd in parent_ns
 * (fuzz_serialize_doc) is read by libxml2, and by ternd's own parser, as the tree
 * fuzz_dump(el, parent_ns) describes; FUZZ_CHECK otherwise. */
void fuzz_check_written(const XmlNode *el, const char *parent_ns);
