/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/codec.c — GSM 03.38 / UCS-2 text, concatenation UDH, decoding (codec.h) */
#include "transports/sms/codec.h"

#include <string.h>

#define GSM_ESC 0x1B
#define SINGLE_GSM7 160 /* septets in one SMS (TS 23.038 §6.1.2.1) */
#define SINGLE_UCS2 140 /* octets in one SMS */

GQuark sms_codec_error_quark(void)
{
    return g_quark_from_static_string("tern-sms-codec-error-quark");
}

/* TS 23.038 §6.2.1: the default alphabet, septet value -> Unicode (0x1B: escape) */
/* clang-format off */
static const gunichar gsm_basic[128] = {
    '@',    0x00A3, '$',    0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 0x00 */
    0x00F2, 0x00C7, '\n',   0x00D8, 0x00F8, '\r',   0x00C5, 0x00E5, /* 0x08 */
    0x0394, '_',    0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 0x10 */
    0x03A3, 0x0398, 0x039E, 0x00A0, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 0x18 (0x1B: ESC) */
    ' ',    '!',    '"',    '#',    0x00A4, '%',    '&',    '\'',   /* 0x20 */
    '(',    ')',    '*',    '+',    ',',    '-',    '.',    '/',    /* 0x28 */
    '0',    '1',    '2',    '3',    '4',    '5',    '6',    '7',    /* 0x30 */
    '8',    '9',    ':',    ';',    '<',    '=',    '>',    '?',    /* 0x38 */
    0x00A1, 'A',    'B',    'C',    'D',    'E',    'F',    'G',    /* 0x40 */
    'H',    'I',    'J',    'K',    'L',    'M',    'N',    'O',    /* 0x48 */
    'P',    'Q',    'R',    'S',    'T',    'U',    'V',    'W',    /* 0x50 */
    'X',    'Y',    'Z',    0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 0x58 */
    0x00BF, 'a',    'b',    'c',    'd',    'e',    'f',    'g',    /* 0x60 */
    'h',    'i',    'j',    'k',    'l',    'm',    'n',    'o',    /* 0x68 */
    'p',    'q',    'r',    's',    't',    'u',    'v',    'w',    /* 0x70 */
    'x',    'y',    'z',    0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 0x78 */
};
/* clang-format on */

/* §6.2.1.1: the extension table (after 0x1B) */
static const struct {
    guint8 code;
    gunichar ch;
} gsm_ext[] = {
    {0x0A, 0x000C}, {0x14, '^'}, {0x28, '{'}, {0x29, '}'}, {0x2F, '\\'},
    {0x3C, '['},    {0x3D, '~'}, {0x3E, ']'}, {0x40, '|'}, {0x65, 0x20AC},
};

/* A character as septets (1 or 2, written to out); 0 when not in the alphabet. */
static guint gsm_from_unichar(gunichar c, guint8 out[2])
{
    for (guint i = 0; i < 128; i++) {
        if (i != GSM_ESC && gsm_basic[i] == c) {
            out[0] = (guint8)i;
            return 1;
        }
    }
    for (gsize i = 0; i < G_N_ELEMENTS(gsm_ext); i++) {
        if (gsm_ext[i].ch == c) {
            out[0] = GSM_ESC;
            out[1] = gsm_ext[i].code;
            return 2;
        }
    }
    return 0;
}

gboolean sms_gsm7_encode(const char *utf8, GByteArray *septets)
{
    for (const char *p = utf8; *p; p = g_utf8_next_char(p)) {
        guint8 s[2];
        guint n = gsm_from_unichar(g_utf8_get_char(p), s);
        if (!n)
            return FALSE;
        g_byte_array_append(septets, s, n);
    }
    return TRUE;
}

char *sms_gsm7_decode(const guint8 *septets, gsize n)
{
    GString *out = g_string_sized_new(n + 8);
    for (gsize i = 0; i < n; i++) {
        guint8 s = septets[i] & 0x7F;
        if (s != GSM_ESC) {
            g_string_append_unichar(out, gsm_basic[s]);
            continue;
        }
        if (i + 1 >= n) /* a trailing escape: §6.2.1.1 shows it as a space */
            break;
        guint8 code = septets[++i] & 0x7F;
        gunichar c = 0;
        for (gsize k = 0; k < G_N_ELEMENTS(gsm_ext); k++)
            if (gsm_ext[k].code == code)
                c = gsm_ext[k].ch;
        if (c == 0x000C) /* the page break: XML cannot carry a form feed */
            c = '\n';
        /* §6.2.1.1: an unknown extension shows as the basic table's character */
        g_string_append_unichar(out, c ? c : (code == GSM_ESC ? ' ' : gsm_basic[code]));
    }
    return g_string_free(out, FALSE);
}

GByteArray *sms_gsm7_pack(const guint8 *septets, gsize n, guint fill_bits)
{
    gsize bits = fill_bits + 7 * n;
    GByteArray *out = g_byte_array_sized_new((guint)((bits + 7) / 8));
    g_byte_array_set_size(out, (guint)((bits + 7) / 8));
    memset(out->data, 0, out->len);
    for (gsize i = 0; i < n; i++) {
        gsize bit = fill_bits + 7 * i; /* septets fill octets from the least significant bit */
        guint v = (guint)(septets[i] & 0x7F) << (bit % 8);
        out->data[bit / 8] |= (guint8)(v & 0xFF);
        if (v > 0xFF)
            out->data[bit / 8 + 1] |= (guint8)(v >> 8);
    }
    return out;
}

GByteArray *sms_gsm7_unpack(const guint8 *octets, gsize len, gsize n, guint fill_bits)
{
    if ((fill_bits + 7 * n + 7) / 8 > len)
        return NULL;
    GByteArray *out = g_byte_array_sized_new((guint)n);
    for (gsize i = 0; i < n; i++) {
        gsize bit = fill_bits + 7 * i;
        guint v = octets[bit / 8];
        if (bit / 8 + 1 < len)
            v |= (guint)octets[bit / 8 + 1] << 8;
        guint8 s = (guint8)((v >> (bit % 8)) & 0x7F);
        g_byte_array_append(out, &s, 1);
    }
    return out;
}

GByteArray *sms_ucs2_encode(const char *utf8)
{
    glong n = 0;
    g_autofree gunichar2 *u = g_utf8_to_utf16(utf8, -1, NULL, &n, NULL);
    GByteArray *out = g_byte_array_sized_new((guint)(2 * n));
    for (glong i = 0; u && i < n; i++) {
        guint8 be[2] = {(guint8)(u[i] >> 8), (guint8)(u[i] & 0xFF)};
        g_byte_array_append(out, be, 2);
    }
    return out;
}

char *sms_ucs2_decode(const guint8 *data, gsize len)
{
    GString *out = g_string_sized_new(len);
    for (gsize i = 0; i + 1 < len; i += 2) {
        gunichar c = (gunichar)(data[i] << 8 | data[i + 1]);
        if (c >= 0xD800 && c <= 0xDBFF && i + 3 < len) {
            gunichar lo = (gunichar)(data[i + 2] << 8 | data[i + 3]);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                i += 2;
            } else {
                c = 0xFFFD;
            }
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        g_string_append_unichar(out, c);
    }
    if (len % 2)
        g_string_append_unichar(out, 0xFFFD);
    return g_string_free(out, FALSE);
}

char *sms_xml_safe(const char *text, gssize len)
{
    g_autofree char *valid = g_utf8_make_valid(text, len);
    GString *out = g_string_sized_new(strlen(valid));
    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        gboolean ok = c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
                      (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000; /* XML 1.0 §2.2 Char */
        g_string_append_unichar(out, ok ? c : 0xFFFD);
    }
    return g_string_free(out, FALSE);
}

SmsCoding sms_choose_coding(const char *utf8)
{
    for (const char *p = utf8; *p; p = g_utf8_next_char(p)) {
        guint8 s[2];
        if (!gsm_from_unichar(g_utf8_get_char(p), s))
            return SMS_CODING_UCS2;
    }
    return SMS_CODING_GSM7;
}

/* --- splitting ------------------------------------------------------------------------- */

/* Cut points of units (septets or UTF-16 octet pairs) into chunks of at most per units,
 * never after an escape septet / a high surrogate. Offsets in units; ends appended. */
static void cut(const guint8 *u, gsize n, gsize unit, gsize per, GArray *ends)
{
    gsize start = 0;
    while (start < n) {
        gsize end = MIN(n, start + per);
        if (end < n && end > start + 1) {
            if (unit == 1 && u[end - 1] == GSM_ESC)
                end--;
            else if (unit == 2 && (u[2 * (end - 1)] & 0xFC) == 0xD8)
                end--;
        }
        g_array_append_val(ends, end);
        start = end;
    }
}

SmsSplit *sms_split(const char *utf8, guint16 ref, gboolean ref16, gboolean packed, guint max_parts,
                    GError **error)
{
    SmsSplit *s = g_new0(SmsSplit, 1);
    s->parts = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    s->coding = sms_choose_coding(utf8);
    s->data_coding = s->coding == SMS_CODING_GSM7 ? SMS_DC_DEFAULT : SMS_DC_UCS2;
    g_autoptr(GByteArray) u = g_byte_array_new();
    gsize unit; /* bytes per unit */
    gsize single, multi;
    guint udh_len = ref16 ? 7 : 6; /* UDHL + IEI + IEDL + ref(1|2) + total + seq */
    if (s->coding == SMS_CODING_GSM7) {
        sms_gsm7_encode(utf8, u);
        unit = 1;
        single = SINGLE_GSM7;
        multi = SINGLE_GSM7 - (udh_len * 8 + 6) / 7; /* the UDH in septets, rounded up */
    } else {
        g_byte_array_unref(u);
        u = sms_ucs2_encode(utf8);
        unit = 2;
        single = SINGLE_UCS2 / 2;
        multi = (SINGLE_UCS2 - udh_len) / 2;
    }
    gsize n = u->len / unit;
    g_autoptr(GArray) ends = g_array_new(FALSE, FALSE, sizeof(gsize));
    if (n <= single) {
        g_array_append_val(ends, n);
    } else {
        cut(u->data, n, unit, multi, ends);
        s->udhi = TRUE;
    }
    if (ends->len > max_parts || ends->len > 255) {
        g_set_error(error, SMS_CODEC_ERROR, SMS_CODEC_ERROR_TOO_LONG,
                    "the text needs %u SMS; at most %u are sent", ends->len, MIN(max_parts, 255));
        sms_split_free(s);
        return NULL;
    }
    gsize start = 0;
    for (guint i = 0; i < ends->len; i++) {
        gsize end = g_array_index(ends, gsize, i);
        GByteArray *pdu = g_byte_array_new();
        if (s->udhi) { /* TS 23.040 §9.2.3.24.1 (8-bit ref) / §9.2.3.24.8 (16-bit ref) */
            guint8 h[7] = {(guint8)(udh_len - 1), ref16 ? 0x08 : 0x00, ref16 ? 4 : 3};
            guint k = 3;
            if (ref16)
                h[k++] = (guint8)(ref >> 8);
            h[k++] = (guint8)(ref & 0xFF);
            h[k++] = (guint8)ends->len;
            h[k++] = (guint8)(i + 1);
            g_byte_array_append(pdu, h, k);
        }
        if (unit == 1 && packed) {
            guint fill = s->udhi ? (7 - (udh_len * 8) % 7) % 7 : 0;
            g_autoptr(GByteArray) p = sms_gsm7_pack(u->data + start, end - start, fill);
            g_byte_array_append(pdu, p->data, p->len);
        } else {
            g_byte_array_append(pdu, u->data + start * unit, (guint)((end - start) * unit));
        }
        g_ptr_array_add(s->parts, g_byte_array_free_to_bytes(pdu));
        start = end;
    }
    return s;
}

void sms_split_free(SmsSplit *s)
{
    if (!s)
        return;
    g_ptr_array_unref(s->parts);
    g_free(s);
}

/* --- decoding ------------------------------------------------------------------------- */

void sms_part_clear(SmsPart *p)
{
    g_clear_pointer(&p->text, g_free);
    memset(p, 0, sizeof *p);
}

static gboolean invalid(GError **error, const char *what)
{
    g_set_error(error, SMS_CODEC_ERROR, SMS_CODEC_ERROR_INVALID, "short message: %s", what);
    return FALSE;
}

gboolean sms_decode(guint8 data_coding, gboolean udhi, gboolean packed, const guint8 *sm, gsize len,
                    SmsPart *out, GError **error)
{
    memset(out, 0, sizeof *out);
    gsize skip = 0;
    if (udhi) {
        if (len < 1 || (gsize)sm[0] + 1 > len)
            return invalid(error, "user data header longer than the message");
        gsize udhl = sm[0];
        for (gsize i = 1; i + 1 < udhl + 1;) { /* IEs: IEI, IEDL, data */
            guint8 iei = sm[i], iedl = sm[i + 1];
            if (i + 2 + iedl > udhl + 1)
                return invalid(error, "information element beyond the header");
            const guint8 *d = sm + i + 2;
            if ((iei == 0x00 && iedl == 3) || (iei == 0x08 && iedl == 4)) {
                gsize k = 0;
                out->ref = iei == 0x08 ? (guint16)(d[k] << 8 | d[k + 1]) : d[k];
                k += iei == 0x08 ? 2 : 1;
                out->total = d[k];
                out->seq = d[k + 1];
                if (out->total == 0 || out->seq == 0 || out->seq > out->total)
                    return invalid(error, "concatenation numbers out of range");
                out->concat = out->total > 1;
            }
            i += 2 + iedl;
        }
        skip = udhl + 1;
    }
    const guint8 *body = sm + skip;
    gsize blen = len - skip;
    switch (data_coding) {
    case SMS_DC_DEFAULT:
        if (packed) {
            gsize hbits = skip * 8, fill = (7 - hbits % 7) % 7;
            gsize n = (blen * 8 - (blen ? fill : 0)) / 7;
            g_autoptr(GByteArray) s = sms_gsm7_unpack(body, blen, n, (guint)fill);
            if (!s)
                return invalid(error, "packed text too short");
            /* 7 spare bits at the end look like one more septet '@' (0): SMPP carries no
             * septet count. A real trailing '@' there is lost (TS 23.038 §6.1.2.3.1 has
             * the same ambiguity; senders pad with CR where it matters). */
            gint64 bits = (gint64)blen * 8 - (gint64)fill;
            if (n && bits % 7 == 0 && s->data[s->len - 1] == 0 &&
                7 * ((gint64)n - 1) > 8 * ((gint64)blen - 1) - (gint64)fill)
                g_byte_array_set_size(s, s->len - 1);
            out->text = sms_gsm7_decode(s->data, s->len);
        } else {
            out->text = sms_gsm7_decode(body, blen);
        }
        break;
    case SMS_DC_IA5: {
        GString *t = g_string_sized_new(blen);
        for (gsize i = 0; i < blen; i++)
            g_string_append_c(t, (body[i] & 0x80) || !body[i] ? '?' : (char)body[i]);
        out->text = g_string_free(t, FALSE);
        break;
    }
    case SMS_DC_LATIN1: {
        GString *t = g_string_sized_new(blen * 2);
        for (gsize i = 0; i < blen; i++)
            g_string_append_unichar(t, body[i] ? body[i] : '?');
        out->text = g_string_free(t, FALSE);
        break;
    }
    case SMS_DC_UCS2:
        out->text = sms_ucs2_decode(body, blen);
        break;
    default: { /* binary or an unknown coding: show the octets */
        GString *t = g_string_new("[binary SMS] ");
        for (gsize i = 0; i < blen; i++)
            g_string_append_printf(t, "%02x", body[i]);
        out->text = g_string_free(t, FALSE);
        break;
    }
    }
    char *safe = sms_xml_safe(out->text, -1);
    g_free(out->text);
    out->text = safe;
    return TRUE;
}
