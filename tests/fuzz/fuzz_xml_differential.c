/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_xml_differential.c — what ternd writes, re-read by libxml2, is the same tree */
#include "tests/fuzz/fuzz.h"

#include <string.h>

/*
 * The stanza-smuggling class: if a receiver's parser (here libxml2) reads ternd's output as
 * a different tree than ternd meant — another element, a lost or extra attribute, a
 * namespace changed, text that became markup — a peer can make ternd say what it did not
 * check. Input: [mode] [bytes...]
 *   mode bit 0    0: bytes are XML, parsed by xml_parse_fragment (what arrives from the
 *                    network or storage); 1: bytes drive fuzz_gen_tree (what modules build)
 *        bits 1-2 the stream content namespace it is written in: none (a standalone
 *                 document), jabber:client, jabber:server, jabber:component:accept
 * Checks: libxml2 accepts the output as namespace-well-formed XML and reads the tree
 * fuzz_dump(el, ns) promises; ternd's own parser reads the same.
 */

static const char *const content_ns[4] = {"", XML_NS_CLIENT, XML_NS_SERVER, XML_NS_COMPONENT};

int fuzz_xml_differential(const uint8_t *data, size_t size)
{
    XmlNode *el;
    guint8 mode;

    fuzz_init();
    if (size < 1)
        return 0;
    mode = data[0];
    data++;
    size--;
    if (mode & 1) {
        FuzzRng r = {data, size, NULL};
        el = fuzz_gen_tree(&r, 64);
    } else {
        el = xml_parse_fragment((const char *)data, (gssize)size, NULL);
        if (el == NULL)
            return 0;
        fuzz_check_tree(el);
    }
    fuzz_check_written(el, content_ns[(mode >> 1) & 3]);
    xml_node_free(el);
    return 0;
}

FUZZ_LIBFUZZER_ENTRY(fuzz_xml_differential)
