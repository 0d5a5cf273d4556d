/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_xml_differential.c — ternd's serializer re-read by libxml2: the same tree */
#include "tests/fuzz/fuzz.h"

#include <string.h>

/*
 * The stanza-smuggling class of bugs: a receiver must read exactly the tree ternd meant.
 * Each case is written by xml_node_serialize() standalone and in each stream content
 * namespace, then read by libxml2 and by ternd's own parser (fuzz_check_written()), which
 * must both give the tree that fuzz_dump(el, ns) describes.
 */

static const char *const contexts[] = {"", XML_NS_CLIENT, XML_NS_SERVER, XML_NS_COMPONENT};

static void check_all_contexts(const XmlNode *el)
{
    for (guint i = 0; i < G_N_ELEMENTS(contexts); i++)
        fuzz_check_written(el, contexts[i]);
}

/* 250 random stanzas (fixed seeds: a failure names its seed and replays) */
static void test_generated(void)
{
    for (guint32 seed = 1; seed <= 250; seed++) {
        GRand *rand = g_rand_new_with_seed(seed);
        FuzzRng r = {NULL, 0, rand};
        XmlNode *el = fuzz_gen_tree(&r, 2 + seed % 60);

        if (g_test_verbose()) {
            char *s = xml_node_to_string(el);
            g_test_message("seed %u: %s", seed, s);
            g_free(s);
        }
        check_all_contexts(el);
        xml_node_free(el);
        g_rand_free(rand);
    }
}

/* Every nasty character in text and in an attribute value, each alone and all together. */
static void test_nasty_characters(void)
{
    static const char *const nasty[] = {
        "&",
        "<",
        ">",
        "\"",
        "'",
        "\r",
        "\n",
        "\t",
        "\r\n",
        "]]>",
        "&amp;",
        "&#13;",
        "\xF0\x9F\x98\x80",
        "\xEF\xBF\xBD",
        "\xC2\x85",
        "\xE2\x80\xA8",
        "\x7F",
        "a  b",
        " leading",
        "trailing ",
        "\x01\x08\x0B\x1F",
    };
    GString *all = g_string_new(NULL);

    for (guint i = 0; i <= G_N_ELEMENTS(nasty); i++) {
        const char *s = i < G_N_ELEMENTS(nasty) ? nasty[i] : all->str;
        XmlNode *el = xml_node_new(XML_NS_CLIENT, "message");
        XmlNode *body = xml_node_add_child(el, NULL, "body");

        xml_node_set_attr(el, "id", s);
        xml_node_set_attr_ns(el, XML_NS_XML, "lang", s);
        xml_node_set_attr_ns(el, "urn:x", "a", s);
        xml_node_add_text(body, s, -1);
        check_all_contexts(el);
        xml_node_free(el);
        if (i < G_N_ELEMENTS(nasty))
            g_string_append(all, nasty[i]);
    }
    g_string_free(all, TRUE);
}

/* Namespace shapes: the content-namespace chain is remapped, foreign subtrees (XEP-0297
 * forwarded) keep jabber:client, xmlns='' below a default, namespaced attributes sharing and
 * not sharing a namespace, a namespace URI that needs escaping. */
static void test_namespace_shapes(void)
{
    static const char *const docs[] = {
        "<message xmlns='jabber:server' to='a@b'><body>x</body>"
        "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>y</body>"
        "</message></forwarded></message>",
        "<iq xmlns='jabber:client' type='get'><query xmlns='urn:q'><item xmlns=''/></query></iq>",
        "<presence xmlns='jabber:component:accept' xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' "
        "q:b='2' xmlns:r='urn:r' r:a='3' xml:lang='en'/>",
        "<x xmlns='urn:a&apos;b&quot;c&lt;&amp;&#9;&#10;&#13;'><y/></x>",
        "<message xmlns='jabber:client'><x xmlns='jabber:server'><message xmlns='jabber:client'/>"
        "</x></message>",
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><m xmlns='urn:m'/>"
        "</stream:features>",
    };

    for (guint i = 0; i < G_N_ELEMENTS(docs); i++) {
        GError *error = NULL;
        XmlNode *el = xml_parse_fragment(docs[i], -1, &error);

        g_assert_no_error(error);
        check_all_contexts(el);
        xml_node_free(el);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    fuzz_init();
    g_test_add_func("/xml-differential/generated", test_generated);
    g_test_add_func("/xml-differential/nasty-characters", test_nasty_characters);
    g_test_add_func("/xml-differential/namespace-shapes", test_namespace_shapes);
    return g_test_run();
}
