/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/jid.c — JIDs prepared per RFC 7622 (PRECIS RFC 8264/8265, IDNA2008 via libidn2) */
#include "router/jid.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <string.h>

/*
 * Preparation (RFC 7622 §3.2-3.4) as enforced here:
 *
 *  localpart  UsernameCaseMapped (RFC 8265 §3.3): width mapping, toLowerCase, NFC, then the
 *             IdentifierClass (RFC 8264 §4.2) and the RFC 7622 §3.3.1 extra exclusions.
 *  domainpart one trailing dot removed; IP literals kept (IPv6 in RFC 5952 text form); other
 *             names through IDNA2008 with UTS #46 non-transitional mapping (libidn2) and
 *             stored as lowercase U-labels, the form RFC 7622 §3.2 compares in.
 *  resourcepart OpaqueString (RFC 8265 §4.2): non-ASCII spaces mapped to U+0020, NFC, then
 *             the FreeformClass (RFC 8264 §4.3).
 *
 * Known deviations from PRECIS (the derived-property tables are approximated with GLib's
 * Unicode data, which tracks a newer Unicode version than the PRECIS IANA registry):
 *  - the Bidi Rule (RFC 5893) of UsernameCaseMapped is not applied (GLib has no bidi class);
 *  - CONTEXTJ is reduced to the virama rule (ZWNJ's joining-type alternative is rejected);
 *  - "Cased"/"Case_Ignorable" for the Final_Sigma lowercasing context are approximated by
 *    general category;
 *  - domainparts get UTS #46 mapping (a superset of RFC 5895), so e.g. U+3002 and fullwidth
 *    letters are mapped instead of rejected; ASCII outside LDH is always rejected.
 * Preparation never truncates: an over-long part is an error.
 */

GQuark jid_error_quark(void)
{
    return g_quark_from_static_string("tern-jid-error-quark");
}

struct Jid {
    gatomicrefcount rc;
    const char *local; /* NULL when absent */
    const char *domain;
    const char *resource; /* NULL when absent */
    const char *bare;     /* == full when there is no resource */
    char buf[];           /* full, [bare], [local], domain, [resource]; each NUL-terminated */
};

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

typedef enum { PRECIS_IDENTIFIER, PRECIS_FREEFORM } PrecisClass;

static gpointer fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gpointer fail(GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, JID_ERROR, JID_ERROR_MALFORMED, msg);
    g_free(msg);
    return NULL;
}

/* ---- Unicode helpers ------------------------------------------------------------------ */

static gboolean in_range(gunichar c, gunichar lo, gunichar hi)
{
    return c >= lo && c <= hi;
}

/* RFC 8264 §9.9 OldHangulJamo: Hangul_Syllable_Type L, V or T */
static gboolean is_old_hangul_jamo(gunichar c)
{
    return in_range(c, 0x1100, 0x11FF) || in_range(c, 0xA960, 0xA97C) ||
           in_range(c, 0xD7B0, 0xD7C6) || in_range(c, 0xD7CB, 0xD7FB);
}

/* RFC 8264 §9.13 PrecisIgnorableProperties: Default_Ignorable_Code_Point, noncharacters */
static gboolean is_precis_ignorable(gunichar c)
{
    return c == 0x00AD || c == 0x034F || c == 0x061C || in_range(c, 0x115F, 0x1160) ||
           in_range(c, 0x17B4, 0x17B5) || in_range(c, 0x180B, 0x180F) ||
           in_range(c, 0x200B, 0x200F) || in_range(c, 0x202A, 0x202E) ||
           in_range(c, 0x2060, 0x206F) || c == 0x3164 || in_range(c, 0xFE00, 0xFE0F) ||
           c == 0xFEFF || c == 0xFFA0 || in_range(c, 0xFFF0, 0xFFF8) ||
           in_range(c, 0x1BCA0, 0x1BCA3) || in_range(c, 0x1D173, 0x1D17A) ||
           in_range(c, 0xE0000, 0xE0FFF) || in_range(c, 0xFDD0, 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

/* RFC 5892 §2.6 Exceptions that are DISALLOWED */
static gboolean is_exception_disallowed(gunichar c)
{
    return c == 0x0640 || c == 0x07FA || c == 0x302E || c == 0x302F ||
           in_range(c, 0x3031, 0x3035) || c == 0x303B;
}

/* RFC 8264 §9.17 HasCompat: toNFKC(cp) != cp. Called after NFC, where this is the same
 * as the compatibility decomposition differing from the canonical one. */
static gboolean has_compat(gunichar c)
{
    gunichar a[G_UNICHAR_MAX_DECOMPOSITION_LENGTH], b[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
    gsize na = g_unichar_fully_decompose(c, TRUE, a, G_N_ELEMENTS(a));
    gsize nb = g_unichar_fully_decompose(c, FALSE, b, G_N_ELEMENTS(b));
    return na != nb || memcmp(a, b, na * sizeof(gunichar)) != 0;
}

static gboolean is_greek(gunichar c)
{
    return g_unichar_get_script(c) == G_UNICODE_SCRIPT_GREEK;
}

/* RFC 5892 Appendix A contextual rules (CONTEXTJ, CONTEXTO); TRUE when u[i] is allowed */
static gboolean context_ok(const gunichar *u, glong n, glong i)
{
    gunichar c = u[i];
    switch (c) {
    case 0x200C: /* ZERO WIDTH NON-JOINER, A.1 (virama branch only) */
    case 0x200D: /* ZERO WIDTH JOINER, A.2 */
        return i > 0 && g_unichar_combining_class(u[i - 1]) == 9;
    case 0x00B7: /* MIDDLE DOT, A.3 */
        return i > 0 && i + 1 < n && u[i - 1] == 'l' && u[i + 1] == 'l';
    case 0x0375: /* GREEK LOWER NUMERAL SIGN (KERAIA), A.4 */
        return i + 1 < n && is_greek(u[i + 1]);
    case 0x05F3: /* HEBREW PUNCTUATION GERESH, A.5 */
    case 0x05F4: /* HEBREW PUNCTUATION GERSHAYIM, A.6 */
        return i > 0 && g_unichar_get_script(u[i - 1]) == G_UNICODE_SCRIPT_HEBREW;
    case 0x30FB: /* KATAKANA MIDDLE DOT, A.7 */
        for (glong k = 0; k < n; k++) {
            GUnicodeScript sc = g_unichar_get_script(u[k]);
            if (u[k] != 0x30FB && (sc == G_UNICODE_SCRIPT_HIRAGANA ||
                                   sc == G_UNICODE_SCRIPT_KATAKANA || sc == G_UNICODE_SCRIPT_HAN))
                return TRUE;
        }
        return FALSE;
    default:
        break;
    }
    if (in_range(c, 0x0660, 0x0669) || in_range(c, 0x06F0, 0x06F9)) {
        /* A.8, A.9: ARABIC-INDIC and EXTENDED ARABIC-INDIC digits do not mix */
        gboolean ext = c >= 0x06F0;
        for (glong k = 0; k < n; k++) {
            if (ext ? in_range(u[k], 0x0660, 0x0669) : in_range(u[k], 0x06F0, 0x06F9))
                return FALSE;
        }
    }
    return TRUE;
}

static gboolean is_contextual(gunichar c)
{
    return c == 0x200C || c == 0x200D || c == 0x00B7 || c == 0x0375 || c == 0x05F3 || c == 0x05F4 ||
           c == 0x30FB;
}

/* Derived property of u[i] in a PRECIS string class (RFC 8264 §8 order); TRUE if valid */
static gboolean precis_allowed(PrecisClass cls, const gunichar *u, glong n, glong i)
{
    gunichar c = u[i];
    if (c < 0x80) /* ASCII7 is PVALID; SPACE only via the Spaces category of Freeform */
        return (c >= 0x21 && c <= 0x7E) || (c == 0x20 && cls == PRECIS_FREEFORM);
    if (is_contextual(c))
        return context_ok(u, n, i);
    if (!context_ok(u, n, i)) /* ARABIC-INDIC digits */
        return FALSE;
    if (c == 0x00DF || c == 0x03C2 || c == 0x06FD || c == 0x06FE || c == 0x0F0B ||
        c == 0x3007) /* RFC 5892 §2.6 PVALID exceptions */
        return TRUE;
    if (is_exception_disallowed(c) || is_old_hangul_jamo(c) || is_precis_ignorable(c))
        return FALSE;

    GUnicodeType t = g_unichar_type(c);
    switch (t) {
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
        return FALSE;
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_OTHER_LETTER:
    case G_UNICODE_DECIMAL_NUMBER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_SPACING_MARK: /* LetterDigits, RFC 8264 §9.1 */
        if (cls == PRECIS_IDENTIFIER)
            return !has_compat(c); /* HasCompat is ID_DIS */
        return TRUE;
    default: /* OtherLetterDigits, Spaces, Symbols, Punctuation: FREE_PVAL */
        return cls == PRECIS_FREEFORM;
    }
}

/* Check a NFC-prepared string against a string class; part names the JID part */
static gboolean precis_check(PrecisClass cls, const char *s, const char *part, GError **error)
{
    glong n = 0;
    gunichar *u = g_utf8_to_ucs4_fast(s, -1, &n);
    for (glong i = 0; i < n; i++) {
        if (!precis_allowed(cls, u, n, i)) {
            fail(error, "%s: character U+%04X is not allowed (RFC 8264 %s)", part, u[i],
                 cls == PRECIS_IDENTIFIER ? "§4.2 IdentifierClass" : "§4.3 FreeformClass");
            g_free(u);
            return FALSE;
        }
    }
    g_free(u);
    return TRUE;
}

static gboolean is_cased(gunichar c)
{
    return g_unichar_isupper(c) || g_unichar_islower(c) || g_unichar_istitle(c);
}

static gboolean is_case_ignorable(gunichar c)
{
    switch (g_unichar_type(c)) {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
        return TRUE;
    default:
        return c == '\'' || c == '.' || c == ':' || c == 0x00B7 || c == 0x2019;
    }
}

/* Unicode toLowerCase (RFC 8265 §3.3.2 step 3) with SpecialCasing: U+0130 and the
 * Final_Sigma context for U+03A3 (GLib's g_utf8_strdown maps a lone Σ to ς). */
static void lowercase_append(GString *out, const gunichar *u, glong n)
{
    for (glong i = 0; i < n; i++) {
        gunichar c = u[i];
        if (c == 0x0130) {
            g_string_append(out, "i\xCC\x87"); /* i + COMBINING DOT ABOVE */
            continue;
        }
        if (c == 0x03A3) {
            gboolean before = FALSE, after = FALSE;
            for (glong k = i - 1; k >= 0 && !before; k--) {
                if (!is_case_ignorable(u[k])) {
                    before = is_cased(u[k]);
                    break;
                }
            }
            for (glong k = i + 1; k < n; k++) {
                if (!is_case_ignorable(u[k])) {
                    after = is_cased(u[k]);
                    break;
                }
            }
            g_string_append_unichar(out, before && !after ? 0x03C2 : 0x03C3);
            continue;
        }
        g_string_append_unichar(out, g_unichar_tolower(c));
    }
}

/* RFC 8265 §3.3.2 step 1: fullwidth and halfwidth code points to their decomposition */
static gunichar width_map(gunichar c)
{
    if (c == 0x3000 || in_range(c, 0xFF01, 0xFFEE)) {
        gunichar d[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
        if (g_unichar_fully_decompose(c, TRUE, d, G_N_ELEMENTS(d)) == 1)
            return d[0];
    }
    return c;
}

static gboolean check_len(const char *part, gsize len, GError **error)
{
    if (len == 0) {
        fail(error, "%s is empty (RFC 7622 §3)", part);
        return FALSE;
    }
    if (len > JID_PART_MAX) {
        fail(error, "%s is %zu bytes, more than %d (RFC 7622 §3)", part, len, JID_PART_MAX);
        return FALSE;
    }
    return TRUE;
}

static gboolean check_utf8(const char *s, gsize len, const char *part, GError **error)
{
    if (!g_utf8_validate_len(s, len, NULL)) {
        fail(error, "%s is not valid UTF-8", part);
        return FALSE;
    }
    return TRUE;
}

static gboolean is_ascii(const char *s, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if ((guchar)s[i] >= 0x80)
            return FALSE;
    }
    return TRUE;
}

/* ---- localpart ------------------------------------------------------------------------ */

/* RFC 7622 §3.3.1: disallowed in addition to the IdentifierClass */
static gboolean local_forbidden(gunichar c)
{
    return c == '"' || c == '&' || c == '\'' || c == '/' || c == ':' || c == '<' || c == '>' ||
           c == '@';
}

static char *prep_local(const char *s, gsize len, GError **error)
{
    if (!check_utf8(s, len, "localpart", error))
        return NULL;
    if (len == 0)
        return fail(error, "localpart is empty (RFC 7622 §3.3)");

    char *out;
    if (is_ascii(s, len)) { /* fast path: ASCII7 is PVALID, mapping is ASCII lowercasing */
        out = g_malloc(len + 1);
        for (gsize i = 0; i < len; i++) {
            guchar c = (guchar)s[i];
            if (c < 0x21 || c > 0x7E) {
                g_free(out);
                return fail(error, "localpart: character U+%04X is not allowed (RFC 8264 §4.2)", c);
            }
            out[i] = g_ascii_tolower(c);
        }
        out[len] = '\0';
    } else {
        glong n = 0;
        gunichar *u = g_utf8_to_ucs4_fast(s, (glong)len, &n);
        for (glong i = 0; i < n; i++)
            u[i] = width_map(u[i]);
        GString *lower = g_string_sized_new(len);
        lowercase_append(lower, u, n);
        g_free(u);
        out = g_utf8_normalize(lower->str, (gssize)lower->len, G_NORMALIZE_NFC);
        g_string_free(lower, TRUE);
        if (!precis_check(PRECIS_IDENTIFIER, out, "localpart", error)) {
            g_free(out);
            return NULL;
        }
    }
    for (const char *p = out; *p; p++) {
        if (local_forbidden((guchar)*p)) {
            char c = *p;
            g_free(out);
            return fail(error, "localpart: character '%c' is not allowed (RFC 7622 §3.3.1)", c);
        }
    }
    if (!check_len("localpart", strlen(out), error)) {
        g_free(out);
        return NULL;
    }
    return out;
}

/* ---- resourcepart --------------------------------------------------------------------- */

static char *prep_resource(const char *s, gsize len, GError **error)
{
    if (!check_utf8(s, len, "resourcepart", error))
        return NULL;
    if (len == 0)
        return fail(error, "resourcepart is empty (RFC 7622 §3.4)");

    char *out;
    if (is_ascii(s, len)) { /* fast path: printable ASCII and SPACE, no mapping */
        for (gsize i = 0; i < len; i++) {
            guchar c = (guchar)s[i];
            if (c < 0x20 || c > 0x7E)
                return fail(error, "resourcepart: character U+%04X is not allowed (RFC 8264 §4.3)",
                            c);
        }
        out = g_strndup(s, len);
    } else {
        GString *m = g_string_sized_new(len);
        for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
            gunichar c = g_utf8_get_char(p);
            /* RFC 8265 §4.2.1: non-ASCII space to SPACE */
            if (c >= 0x80 && g_unichar_type(c) == G_UNICODE_SPACE_SEPARATOR)
                c = ' ';
            g_string_append_unichar(m, c);
        }
        out = g_utf8_normalize(m->str, (gssize)m->len, G_NORMALIZE_NFC);
        g_string_free(m, TRUE);
        if (!precis_check(PRECIS_FREEFORM, out, "resourcepart", error)) {
            g_free(out);
            return NULL;
        }
    }
    if (!check_len("resourcepart", strlen(out), error)) {
        g_free(out);
        return NULL;
    }
    return out;
}

/* ---- domainpart ----------------------------------------------------------------------- */

static gboolean is_ldh(guchar c)
{
    return g_ascii_isalnum(c) || c == '-';
}

/* Check an ASCII (A-label form) name: labels 1..63 LDH octets without a leading or
 * trailing hyphen (RFC 5891 §4.2.3.1, RFC 1123 §2.1), total <= 253; the last label not
 * all-numeric (RFC 3696 §2), so "1.2.3.999" is not taken for a host name. */
static gboolean check_a_form(const char *a, gboolean *has_xn, GError **error)
{
    gsize total = strlen(a);
    if (total > DNS_NAME_MAX) {
        fail(error, "domainpart is %zu octets in A-label form, more than %d (RFC 1035)", total,
             DNS_NAME_MAX);
        return FALSE;
    }
    gboolean numeric = FALSE;
    const char *label = a;
    while (TRUE) {
        const char *end = strchr(label, '.');
        gsize n = end ? (gsize)(end - label) : strlen(label);
        if (n == 0) {
            fail(error, "domainpart has an empty label (RFC 7622 §3.2)");
            return FALSE;
        }
        if (n > DNS_LABEL_MAX) {
            fail(error, "domainpart label is %zu octets, more than %d (RFC 5890 §2.3.2.1)", n,
                 DNS_LABEL_MAX);
            return FALSE;
        }
        numeric = TRUE;
        for (gsize i = 0; i < n; i++) {
            if (!is_ldh((guchar)label[i])) {
                fail(error,
                     "domainpart: character U+%04X is not allowed in a host name "
                     "(RFC 7622 §3.2)",
                     (guchar)label[i]);
                return FALSE;
            }
            if (!g_ascii_isdigit(label[i]))
                numeric = FALSE;
        }
        if (label[0] == '-' || label[n - 1] == '-') {
            fail(error, "domainpart label starts or ends with a hyphen (RFC 5891 §4.2.3.1)");
            return FALSE;
        }
        if (has_xn && n >= 4 && g_ascii_strncasecmp(label, "xn--", 4) == 0)
            *has_xn = TRUE;
        if (!end)
            break;
        label = end + 1;
    }
    if (numeric) {
        fail(error, "domainpart is neither an IPv4 address nor a host name (RFC 7622 §3.2)");
        return FALSE;
    }
    return TRUE;
}

/* "[IPv6]" (RFC 3986 IP-literal, as RFC 7622 §3.2 allows); canonical RFC 5952 text */
static char *prep_ipv6(const char *s, gsize len, GError **error)
{
    if (len < 3 || s[len - 1] != ']' || len - 2 >= INET6_ADDRSTRLEN)
        return fail(error, "domainpart is not a valid IPv6 literal (RFC 7622 §3.2)");
    char inner[INET6_ADDRSTRLEN];
    memcpy(inner, s + 1, len - 2);
    inner[len - 2] = '\0';
    struct in6_addr addr;
    char text[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET6, inner, &addr) != 1 || !inet_ntop(AF_INET6, &addr, text, sizeof text))
        return fail(error, "domainpart is not a valid IPv6 literal (RFC 7622 §3.2)");
    return g_strdup_printf("[%s]", text);
}

/* IDNA2008 (RFC 5891) with UTS #46 non-transitional mapping; returns U-label form */
static char *prep_idna(const char *s, gsize len, gboolean dot_stripped, GError **error)
{
    /* ASCII outside LDH and dots is never valid; refuse it before libidn2, which would
     * otherwise pass it through (or drop it with IDN2_USE_STD3_ASCII_RULES). */
    for (gsize i = 0; i < len; i++) {
        guchar c = (guchar)s[i];
        if (c < 0x80 && !is_ldh(c) && c != '.')
            return fail(error, "domainpart: character U+%04X is not allowed (RFC 7622 §3.2)", c);
    }
    char *in = g_strndup(s, len);
    char *a = NULL;
    int rc = idn2_to_ascii_8z(in, &a, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    g_free(in);
    if (rc != IDN2_OK)
        return fail(error, "domainpart is not a valid IDNA2008 name: %s (RFC 7622 §3.2)",
                    idn2_strerror(rc));
    gsize alen = strlen(a);
    if (!dot_stripped && alen > 0 && a[alen - 1] == '.') /* e.g. a final U+3002 */
        a[alen - 1] = '\0';
    char *u = NULL;
    if (!check_a_form(a, NULL, error)) {
        idn2_free(a);
        return NULL;
    }
    rc = idn2_to_unicode_8z8z(a, &u, 0);
    idn2_free(a);
    if (rc != IDN2_OK)
        return fail(error, "domainpart is not a valid IDNA2008 name: %s (RFC 7622 §3.2)",
                    idn2_strerror(rc));
    char *out = g_utf8_strdown(u, -1);
    idn2_free(u);
    /* The U-labels must themselves be valid IDNA2008 and map back to the same A-labels:
     * "xn--6a" decodes to U+00A0, which no domain may contain (found by fuzz_jid). */
    char *back = NULL;
    rc = idn2_to_ascii_8z(out, &back, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    gboolean same = rc == IDN2_OK && check_a_form(back, NULL, NULL);
    if (same) {
        char *u2 = NULL;
        same = idn2_to_unicode_8z8z(back, &u2, 0) == IDN2_OK && u2 &&
               g_utf8_collate(u2, out) == 0 && strcmp(u2, out) == 0;
        idn2_free(u2);
    }
    idn2_free(back);
    if (!same) {
        g_free(out);
        return fail(error, "domainpart: an A-label does not decode to a valid U-label "
                           "(RFC 5891 §5.4)");
    }
    return out;
}

static char *prep_domain(const char *s, gsize len, GError **error)
{
    if (!check_utf8(s, len, "domainpart", error))
        return NULL;
    gboolean dot_stripped = FALSE;
    if (len > 0 && s[len - 1] == '.') { /* RFC 7622 §3.2: strip one final dot */
        len--;
        dot_stripped = TRUE;
    }
    if (len == 0)
        return fail(error, "domainpart is empty (RFC 7622 §3.2)");

    char *out;
    if (s[0] == '[') {
        out = prep_ipv6(s, len, error);
    } else if (is_ascii(s, len)) { /* fast path: NR-LDH labels are kept, lowercased */
        out = g_ascii_strdown(s, (gssize)len);
        struct in_addr v4;
        if (g_ascii_isdigit(out[len - 1]) && inet_pton(AF_INET, out, &v4) == 1)
            return out;
        gboolean has_xn = FALSE;
        GError *err = NULL;
        if (!check_a_form(out, &has_xn, &err)) {
            g_free(out);
            g_propagate_error(error, err);
            return NULL;
        }
        if (has_xn) { /* A-labels: validate and convert to U-labels */
            g_free(out);
            out = prep_idna(s, len, dot_stripped, error);
        }
    } else {
        out = prep_idna(s, len, dot_stripped, error);
    }
    if (out && !check_len("domainpart", strlen(out), error)) {
        g_free(out);
        return NULL;
    }
    return out;
}

/* ---- public preparation --------------------------------------------------------------- */

char *jid_prep_local(const char *s, GError **error)
{
    if (!s)
        return fail(error, "localpart is missing");
    return prep_local(s, strlen(s), error);
}

char *jid_prep_domain(const char *s, GError **error)
{
    if (!s)
        return fail(error, "domainpart is missing (RFC 7622 §3.2)");
    return prep_domain(s, strlen(s), error);
}

char *jid_prep_resource(const char *s, GError **error)
{
    if (!s)
        return fail(error, "resourcepart is missing");
    return prep_resource(s, strlen(s), error);
}

/* ---- Jid objects ---------------------------------------------------------------------- */

/* Build from prepared parts (borrowed); one allocation holds every string. */
static Jid *jid_build(const char *local, const char *domain, const char *resource)
{
    gsize ll = local ? strlen(local) : 0, dl = strlen(domain);
    gsize rl = resource ? strlen(resource) : 0;
    gsize bare_len = (local ? ll + 1 : 0) + dl;
    gsize full_len = bare_len + (resource ? rl + 1 : 0);
    gsize size = full_len + 1 + (resource ? bare_len + 1 : 0) + (local ? ll + 1 : 0) + dl + 1 +
                 (resource ? rl + 1 : 0);
    Jid *j = g_malloc(sizeof *j + size);
    g_atomic_ref_count_init(&j->rc);

    char *p = j->buf;
    if (local)
        p = g_stpcpy(g_stpcpy(p, local), "@");
    p = g_stpcpy(p, domain);
    if (resource)
        p = g_stpcpy(g_stpcpy(p, "/"), resource);
    p++;
    if (resource) {
        j->bare = p;
        memcpy(p, j->buf, bare_len);
        p[bare_len] = '\0';
        p += bare_len + 1;
    } else {
        j->bare = j->buf;
    }
    j->local = NULL;
    if (local) {
        j->local = p;
        p = g_stpcpy(p, local) + 1;
    }
    j->domain = p;
    p = g_stpcpy(p, domain) + 1;
    j->resource = NULL;
    if (resource) {
        j->resource = p;
        g_stpcpy(p, resource);
    }
    return j;
}

/* Performance: every stanza's 'to' and 'from' are parsed, and they are the same few JIDs
 * over and over. Preparing one costs ~2,000 instructions, a lookup here ~200 (callgrind,
 * docs/performance.md). Jids are immutable, so a prepared one can be handed out again.
 * Per thread; emptied when full, so a flood of distinct JIDs cannot grow it. */
#define JID_CACHE_MAX 4096
#define JID_CACHE_KEY_MAX 256 /* longer inputs are not cached */
static __thread GHashTable *jid_cache;

static Jid *jid_parse(const char *s, gsize len, GError **error);

Jid *jid_new(const char *s, GError **error)
{
    if (!s)
        return fail(error, "JID is missing");
    gsize len = strlen(s);
    if (len > JID_CACHE_KEY_MAX)
        return jid_parse(s, len, error);
    if (!jid_cache)
        jid_cache =
            g_hash_table_new_full(jid_str_hash, g_str_equal, g_free, (GDestroyNotify)jid_unref);
    Jid *j = g_hash_table_lookup(jid_cache, s);
    if (j)
        return jid_ref(j);
    j = jid_parse(s, len, error);
    if (j) {
        if (g_hash_table_size(jid_cache) >= JID_CACHE_MAX)
            g_hash_table_remove_all(jid_cache);
        g_hash_table_insert(jid_cache, g_strndup(s, len), jid_ref(j));
    }
    return j;
}

static Jid *jid_parse(const char *s, gsize len, GError **error)
{
    /* RFC 7622 §3.1: the first '/' starts the resourcepart, then the first '@' before it
     * ends the localpart; the rest is the domainpart. */
    const char *slash = memchr(s, '/', len);
    gsize head = slash ? (gsize)(slash - s) : len;
    const char *at = memchr(s, '@', head);

    char *local = NULL, *domain = NULL, *resource = NULL;
    Jid *j = NULL;
    if (at && !(local = prep_local(s, (gsize)(at - s), error)))
        goto out;
    const char *d = at ? at + 1 : s;
    if (!(domain = prep_domain(d, (gsize)(s + head - d), error)))
        goto out;
    if (slash && !(resource = prep_resource(slash + 1, len - head - 1, error)))
        goto out;
    j = jid_build(local, domain, resource);
out:
    g_free(local);
    g_free(domain);
    g_free(resource);
    return j;
}

Jid *jid_new_parts(const char *local, const char *domain, const char *resource, GError **error)
{
    char *l = NULL, *d = NULL, *r = NULL;
    Jid *j = NULL;
    if (local && !(l = jid_prep_local(local, error)))
        goto out;
    if (!(d = jid_prep_domain(domain, error)))
        goto out;
    if (resource && !(r = jid_prep_resource(resource, error)))
        goto out;
    j = jid_build(l, d, r);
out:
    g_free(l);
    g_free(d);
    g_free(r);
    return j;
}

Jid *jid_ref(Jid *j)
{
    g_return_val_if_fail(j != NULL, NULL);
    g_atomic_ref_count_inc(&j->rc);
    return j;
}

void jid_unref(Jid *j)
{
    if (j && g_atomic_ref_count_dec(&j->rc))
        g_free(j);
}

const char *jid_local(const Jid *j)
{
    return j->local;
}

const char *jid_domain(const Jid *j)
{
    return j->domain;
}

const char *jid_resource(const Jid *j)
{
    return j->resource;
}

const char *jid_full(const Jid *j)
{
    return j->buf;
}

const char *jid_bare(const Jid *j)
{
    return j->bare;
}

gboolean jid_is_bare(const Jid *j)
{
    return j->resource == NULL;
}

Jid *jid_to_bare(const Jid *j)
{
    if (jid_is_bare(j))
        return jid_ref((Jid *)j);
    return jid_build(j->local, j->domain, NULL);
}

/* resource NULL gives the bare JID */
Jid *jid_with_resource(const Jid *j, const char *resource, GError **error)
{
    if (!resource)
        return jid_to_bare(j);
    char *r = jid_prep_resource(resource, error);
    if (!r)
        return NULL;
    Jid *out = jid_build(j->local, j->domain, r);
    g_free(r);
    return out;
}

gboolean jid_equal(const Jid *a, const Jid *b)
{
    if (a == b)
        return TRUE;
    if (!a || !b)
        return FALSE;
    return strcmp(a->buf, b->buf) == 0; /* prepared forms compare bytewise, RFC 7622 §3 */
}

gboolean jid_bare_equal(const Jid *a, const Jid *b)
{
    if (a == b)
        return TRUE;
    if (!a || !b)
        return FALSE;
    return strcmp(a->bare, b->bare) == 0;
}

guint jid_str_hash(gconstpointer key)
{
    const unsigned char *s = key;
    gsize n = strlen(key);
    guint64 h = 0x9e3779b97f4a7c15ULL ^ n, w = 0;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    w = 0;
    for (gsize i = 0; i < n; i++) /* the last 0-7 bytes */
        w |= (guint64)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 29;
    return (guint)h;
}

guint jid_hash(gconstpointer j)
{
    return jid_str_hash(((const Jid *)j)->buf);
}

gboolean jid_equal_func(gconstpointer a, gconstpointer b)
{
    return jid_equal(a, b);
}
