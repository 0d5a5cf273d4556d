/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/fuzz/fuzz_jid.c — RFC 7622 preparation on arbitrary bytes: idempotent and consistent */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "router/jid.h"

/*
 * Input: the bytes up to the first NUL are a JID for jid_new(); when there are NULs, the
 * first three NUL-separated pieces are also given to jid_new_parts() and each piece to the
 * jid_prep_*() functions. Checks, for every JID that prepares:
 *  - idempotence: the prepared form prepares to itself, as a whole and part by part;
 *  - bare/full consistency: bare = [local@]domain, full = bare[/resource], jid_to_bare and
 *    jid_with_resource agree, hashes and equality agree;
 *  - the parts obey RFC 7622 (lengths, no '@' or '/' where they would change the parse);
 * and for every one that does not, that a JID_ERROR is set.
 */

static void check_part(const char *what, const char *s, char *(*prep)(const char *, GError **))
{
    GError *error = NULL;
    char *again;

    FUZZ_CHECK(g_utf8_validate(s, -1, NULL), "%s not UTF-8", what);
    FUZZ_CHECK(*s != '\0' && strlen(s) <= JID_PART_MAX, "%s length %zu", what, strlen(s));
    again = prep(s, &error);
    FUZZ_CHECK(again != NULL, "%s '%s' does not re-prepare: %s", what, s, error->message);
    FUZZ_CHECK(strcmp(again, s) == 0, "%s not idempotent: '%s' -> '%s'", what, s, again);
    g_free(again);
}

static void check_jid(Jid *j)
{
    const char *local = jid_local(j), *domain = jid_domain(j), *res = jid_resource(j);
    char *bare = local ? g_strconcat(local, "@", domain, NULL) : g_strdup(domain);
    char *full = res ? g_strconcat(bare, "/", res, NULL) : g_strdup(bare);
    GError *error = NULL;
    Jid *again, *b, *parts, *with;

    FUZZ_CHECK(strcmp(jid_bare(j), bare) == 0, "bare '%s' != '%s'", jid_bare(j), bare);
    FUZZ_CHECK(strcmp(jid_full(j), full) == 0, "full '%s' != '%s'", jid_full(j), full);
    FUZZ_CHECK(jid_is_bare(j) == (res == NULL), "jid_is_bare");
    if (local) {
        check_part("localpart", local, jid_prep_local);
        FUZZ_CHECK(strpbrk(local, "\"&'/:<>@ ") == NULL, "localpart '%s' (RFC 7622 §3.3.1)", local);
    }
    check_part("domainpart", domain, jid_prep_domain);
    FUZZ_CHECK(strpbrk(domain, "@/") == NULL, "domainpart '%s' has @ or /", domain);
    FUZZ_CHECK(domain[strlen(domain) - 1] != '.', "domainpart '%s' ends in a dot", domain);
    if (res)
        check_part("resourcepart", res, jid_prep_resource);

    again = jid_new(jid_full(j), &error);
    FUZZ_CHECK(again != NULL, "'%s' does not re-prepare: %s", jid_full(j), error->message);
    FUZZ_CHECK(jid_equal(j, again) && jid_hash(j) == jid_hash(again), "'%s' -> '%s'", jid_full(j),
               jid_full(again));
    FUZZ_CHECK(g_strcmp0(jid_local(again), local) == 0 && strcmp(jid_domain(again), domain) == 0 &&
                   g_strcmp0(jid_resource(again), res) == 0,
               "'%s' splits differently when re-parsed", jid_full(j));

    b = jid_to_bare(j);
    FUZZ_CHECK(jid_is_bare(b) && strcmp(jid_full(b), bare) == 0, "jid_to_bare '%s'", jid_full(b));
    FUZZ_CHECK(jid_bare_equal(j, b) && (res != NULL || jid_equal(j, b)), "bare equality");
    with = jid_with_resource(b, res, &error);
    FUZZ_CHECK(with != NULL && jid_equal(with, j), "jid_with_resource(bare, resource)");
    parts = jid_new_parts(local, domain, res, &error);
    FUZZ_CHECK(parts != NULL && jid_equal(parts, j), "jid_new_parts of the parts of '%s'",
               jid_full(j));

    jid_unref(parts);
    jid_unref(with);
    jid_unref(b);
    jid_unref(again);
    g_free(bare);
    g_free(full);
}

static void check_error(Jid *j, GError *error, const char *input)
{
    if (j != NULL) {
        FUZZ_CHECK(error == NULL, "JID and an error for '%s'", input);
        check_jid(j);
        jid_unref(j);
    } else {
        FUZZ_CHECK(error != NULL && error->domain == JID_ERROR, "no JID_ERROR for '%s'", input);
        g_error_free(error);
    }
}

static void check_prep(const char *s, char *(*prep)(const char *, GError **), const char *what)
{
    GError *error = NULL;
    char *p = prep(s, &error);

    if (p == NULL) {
        FUZZ_CHECK(error != NULL, "%s: no error", what);
        g_error_free(error);
        return;
    }
    check_part(what, p, prep);
    g_free(p);
}

int fuzz_jid(const uint8_t *data, size_t size)
{
    char *s = g_strndup((const char *)data, size);
    GError *error = NULL;

    fuzz_init();
    Jid *j = jid_new(s, &error); /* (not inside the call: argument order is unspecified) */
    check_error(j, error, s);
    if (memchr(data, '\0', size) != NULL) {
        /* local \0 domain \0 resource; an empty piece is an absent part */
        char **pieces = g_new0(char *, 4);
        const char *p = (const char *)data, *end = p + size;
        for (int i = 0; i < 3 && p <= end; i++) {
            const char *nul = memchr(p, '\0', (size_t)(end - p));
            gsize len = nul ? (gsize)(nul - p) : (gsize)(end - p);
            pieces[i] = g_strndup(p, len);
            p += len + 1;
        }
        error = NULL;
        j = jid_new_parts(pieces[0] && *pieces[0] ? pieces[0] : NULL, pieces[1] ? pieces[1] : "",
                          pieces[2] && *pieces[2] ? pieces[2] : NULL, &error);
        check_error(j, error, "(parts)");
        for (int i = 0; i < 3 && pieces[i]; i++) {
            check_prep(pieces[i], jid_prep_local, "localpart");
            check_prep(pieces[i], jid_prep_domain, "domainpart");
            check_prep(pieces[i], jid_prep_resource, "resourcepart");
        }
        g_strfreev(pieces);
    } else {
        check_prep(s, jid_prep_local, "localpart");
        check_prep(s, jid_prep_domain, "domainpart");
        check_prep(s, jid_prep_resource, "resourcepart");
    }
    g_free(s);
    return 0;
}

FUZZ_LIBFUZZER_ENTRY(fuzz_jid)
