/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/tests/test_sms.c — tern-sms's pure parts: GSM 03.38, UCS-2, splitting with
 * concatenation UDH, decoding, reassembly, E.164 and TON/NPI, receipt text, config */
#include <string.h>

#include "transports/sms/address.h"
#include "transports/sms/codec.h"
#include "transports/sms/config.h"
#include "transports/sms/reasm.h"
#include "transports/sms/receipt.h"

/* --- GSM 03.38 ------------------------------------------------------------------------- */

static void test_gsm7_encode_decode(void)
{
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_assert_true(sms_gsm7_encode("@£$¥èA~€{}[]\\^|Ω\n", s));
    static const guint8 want[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x41, 0x1B, 0x3D, 0x1B,
                                  0x65, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x3C, 0x1B, 0x3E,
                                  0x1B, 0x2F, 0x1B, 0x14, 0x1B, 0x40, 0x15, 0x0A};
    g_assert_cmpmem(s->data, s->len, want, sizeof want);
    g_autofree char *back = sms_gsm7_decode(s->data, s->len);
    g_assert_cmpstr(back, ==, "@£$¥èA~€{}[]\\^|Ω\n");
    g_autoptr(GByteArray) t = g_byte_array_new();
    g_assert_false(sms_gsm7_encode("hello 😀", t)); /* not in the alphabet */
    g_assert_false(sms_gsm7_encode("Привет", t));
    /* an unknown extension code shows as the basic character (§6.2.1.1) */
    static const guint8 unk[] = {0x1B, 0x41};
    g_autofree char *u = sms_gsm7_decode(unk, 2);
    g_assert_cmpstr(u, ==, "A");
}

static void test_gsm7_pack_unpack(void)
{
    /* TS 23.038 example: "hellohello" packs to e8 32 9b fd 46 97 d9 ec 37 */
    g_autoptr(GByteArray) s = g_byte_array_new();
    g_assert_true(sms_gsm7_encode("hellohello", s));
    g_autoptr(GByteArray) p = sms_gsm7_pack(s->data, s->len, 0);
    static const guint8 want[] = {0xe8, 0x32, 0x9b, 0xfd, 0x46, 0x97, 0xd9, 0xec, 0x37};
    g_assert_cmpmem(p->data, p->len, want, sizeof want);
    g_autoptr(GByteArray) u = sms_gsm7_unpack(p->data, p->len, s->len, 0);
    g_assert_cmpmem(u->data, u->len, s->data, s->len);
    /* after a 6-octet UDH: 1 fill bit */
    g_autoptr(GByteArray) p1 = sms_gsm7_pack(s->data, s->len, 1);
    g_assert_cmpuint(p1->len, ==, (1 + 70 + 7) / 8);
    g_autoptr(GByteArray) u1 = sms_gsm7_unpack(p1->data, p1->len, s->len, 1);
    g_assert_cmpmem(u1->data, u1->len, s->data, s->len);
    g_assert_null(sms_gsm7_unpack(p->data, 3, 10, 0)); /* too short */
}

static void test_coding_choice(void)
{
    g_assert_cmpint(sms_choose_coding("Hello, world! €5 {x}"), ==, SMS_CODING_GSM7);
    g_assert_cmpint(sms_choose_coding("Grüße ÄÖÜ"), ==, SMS_CODING_GSM7);
    g_assert_cmpint(sms_choose_coding("ça va"), ==, SMS_CODING_UCS2); /* ç: only Ç exists */
    g_assert_cmpint(sms_choose_coding("日本"), ==, SMS_CODING_UCS2);
    g_assert_cmpint(sms_choose_coding(""), ==, SMS_CODING_GSM7);
}

static void test_ucs2(void)
{
    g_autoptr(GByteArray) u = sms_ucs2_encode("añ😀");
    static const guint8 want[] = {0x00, 'a', 0x00, 0xF1, 0xD8, 0x3D, 0xDE, 0x00};
    g_assert_cmpmem(u->data, u->len, want, sizeof want);
    g_autofree char *back = sms_ucs2_decode(u->data, u->len);
    g_assert_cmpstr(back, ==, "añ😀");
    g_autofree char *lone = sms_ucs2_decode((const guint8 *)"\xD8\x3D\x00"
                                                            "a",
                                            4);
    g_assert_cmpstr(lone, ==,
                    "\xEF\xBF\xBD"
                    "a"); /* U+FFFD for the lone surrogate */
}

static void test_xml_safe(void)
{
    g_autofree char *a = sms_xml_safe("a\x01" "b\tc\x0c\xef\xbf\xbe", -1);
    g_assert_cmpstr(a, ==,
                    "a\xEF\xBF\xBD"
                    "b\tc\xEF\xBF\xBD\xEF\xBF\xBD");
    g_autofree char *b = sms_xml_safe("ok\xff", 3); /* invalid UTF-8 */
    g_assert_true(g_utf8_validate(b, -1, NULL));
    g_assert_true(g_str_has_prefix(b, "ok"));
    /* decoded SMS texts are always safe: IA5 controls, a UCS-2 U+0001, GSM page break */
    SmsPart p;
    g_assert_true(sms_decode(SMS_DC_IA5, FALSE, FALSE, (const guint8 *)"x\x01y", 3, &p, NULL));
    g_assert_cmpstr(p.text, ==, "x\xEF\xBF\xBDy");
    sms_part_clear(&p);
    static const guint8 u[] = {0x00, 0x01, 0x00, 'z'};
    g_assert_true(sms_decode(SMS_DC_UCS2, FALSE, FALSE, u, 4, &p, NULL));
    g_assert_cmpstr(p.text, ==, "\xEF\xBF\xBDz");
    sms_part_clear(&p);
    static const guint8 ff[] = {'a', 0x1B, 0x0A, 'b'};
    g_assert_true(sms_decode(SMS_DC_DEFAULT, FALSE, FALSE, ff, 4, &p, NULL));
    g_assert_cmpstr(p.text, ==, "a\nb");
    sms_part_clear(&p);
}

/* --- splitting and decoding ------------------------------------------------------------ */

static SmsPart decode_part(const SmsSplit *sp, guint i)
{
    gsize len;
    const guint8 *d = g_bytes_get_data(sp->parts->pdata[i], &len);
    SmsPart p;
    g_autoptr(GError) error = NULL;
    g_assert_true(sms_decode(sp->data_coding, sp->udhi, FALSE, d, len, &p, &error));
    return p;
}

static void test_split_single(void)
{
    g_autofree char *t160 = g_strnfill(160, 'a');
    g_autoptr(SmsSplit) s = sms_split(t160, 7, FALSE, FALSE, 10, NULL);
    g_assert_cmpuint(s->parts->len, ==, 1);
    g_assert_false(s->udhi);
    g_assert_cmpuint(s->data_coding, ==, SMS_DC_DEFAULT);
    g_assert_cmpuint(g_bytes_get_size(s->parts->pdata[0]), ==, 160);
    g_autoptr(SmsSplit) u = sms_split("日本語", 7, FALSE, FALSE, 10, NULL);
    g_assert_cmpuint(u->data_coding, ==, SMS_DC_UCS2);
    g_assert_cmpuint(g_bytes_get_size(u->parts->pdata[0]), ==, 6);
}

static void test_split_concat_8bit(void)
{
    GString *t = g_string_new(NULL);
    for (int i = 0; i < 300; i++)
        g_string_append_c(t, (char)('a' + i % 26));
    g_autoptr(SmsSplit) s = sms_split(t->str, 0x2A, FALSE, FALSE, 10, NULL);
    g_assert_true(s->udhi);
    g_assert_cmpuint(s->parts->len, ==, 2); /* 153 + 147 */
    gsize len;
    const guint8 *d = g_bytes_get_data(s->parts->pdata[0], &len);
    static const guint8 udh1[] = {0x05, 0x00, 0x03, 0x2A, 0x02, 0x01};
    g_assert_cmpmem(d, 6, udh1, 6);
    g_assert_cmpuint(len, ==, 6 + 153);
    d = g_bytes_get_data(s->parts->pdata[1], &len);
    static const guint8 udh2[] = {0x05, 0x00, 0x03, 0x2A, 0x02, 0x02};
    g_assert_cmpmem(d, 6, udh2, 6);
    g_assert_cmpuint(len, ==, 6 + 147);
    GString *back = g_string_new(NULL);
    for (guint i = 0; i < 2; i++) {
        SmsPart p = decode_part(s, i);
        g_assert_true(p.concat);
        g_assert_cmpuint(p.ref, ==, 0x2A);
        g_assert_cmpuint(p.total, ==, 2);
        g_assert_cmpuint(p.seq, ==, i + 1);
        g_string_append(back, p.text);
        sms_part_clear(&p);
    }
    g_assert_cmpstr(back->str, ==, t->str);
    g_string_free(back, TRUE);
    g_string_free(t, TRUE);
}

static void test_split_concat_16bit_ucs2(void)
{
    GString *t = g_string_new(NULL);
    for (int i = 0; i < 100; i++)
        g_string_append(t, "я");
    g_autoptr(SmsSplit) s = sms_split(t->str, 0x1234, TRUE, FALSE, 10, NULL);
    g_assert_cmpuint(s->data_coding, ==, SMS_DC_UCS2);
    g_assert_cmpuint(s->parts->len, ==, 2); /* 66 + 34 */
    gsize len;
    const guint8 *d = g_bytes_get_data(s->parts->pdata[0], &len);
    static const guint8 udh[] = {0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01};
    g_assert_cmpmem(d, 7, udh, 7);
    g_assert_cmpuint(len, ==, 7 + 132);
    SmsPart p = decode_part(s, 1);
    g_assert_cmpuint(p.ref, ==, 0x1234);
    g_assert_cmpuint(g_utf8_strlen(p.text, -1), ==, 34);
    sms_part_clear(&p);
    g_string_free(t, TRUE);
}

static void test_split_keeps_pairs(void)
{
    /* 152 'a' then '€' (2 septets): the escape pair must not be cut at 153 */
    g_autofree char *a = g_strnfill(152, 'a');
    g_autofree char *t = g_strconcat(a, "€", a, NULL);
    g_autoptr(SmsSplit) s = sms_split(t, 1, FALSE, FALSE, 10, NULL);
    g_assert_cmpuint(g_bytes_get_size(s->parts->pdata[0]), ==, 6 + 152);
    SmsPart p = decode_part(s, 1);
    g_assert_true(g_str_has_prefix(p.text, "€"));
    sms_part_clear(&p);
    /* UCS-2: a surrogate pair is not cut either */
    GString *u = g_string_new(NULL);
    for (int i = 0; i < 66; i++)
        g_string_append(u, "ж");
    g_string_append(u, "😀😀😀😀😀😀😀😀😀😀");
    g_autoptr(SmsSplit) s2 = sms_split(u->str, 1, FALSE, FALSE, 10, NULL);
    for (guint i = 0; i < s2->parts->len; i++) {
        SmsPart q = decode_part(s2, i);
        g_assert_null(strstr(q.text, "\xEF\xBF\xBD"));
        sms_part_clear(&q);
    }
    g_string_free(u, TRUE);
}

static void test_split_too_long_and_packed(void)
{
    g_autofree char *t = g_strnfill(1000, 'x');
    g_autoptr(GError) error = NULL;
    g_assert_null(sms_split(t, 1, FALSE, FALSE, 3, &error));
    g_assert_error(error, SMS_CODEC_ERROR, SMS_CODEC_ERROR_TOO_LONG);
    /* packed GSM-7 round trip with a UDH (fill bit) */
    g_autofree char *t2 = g_strnfill(200, 'q');
    g_autoptr(SmsSplit) s = sms_split(t2, 9, FALSE, TRUE, 10, NULL);
    g_assert_cmpuint(s->parts->len, ==, 2);
    g_assert_cmpuint(g_bytes_get_size(s->parts->pdata[0]), ==, 140); /* 6 + 134 */
    GString *back = g_string_new(NULL);
    for (guint i = 0; i < 2; i++) {
        gsize len;
        const guint8 *d = g_bytes_get_data(s->parts->pdata[i], &len);
        SmsPart p;
        g_assert_true(sms_decode(SMS_DC_DEFAULT, TRUE, TRUE, d, len, &p, NULL));
        g_string_append(back, p.text);
        sms_part_clear(&p);
    }
    g_assert_cmpstr(back->str, ==, t2);
    g_string_free(back, TRUE);
}

static void test_decode_codings_and_bad_udh(void)
{
    SmsPart p;
    g_assert_true(sms_decode(SMS_DC_IA5, FALSE, FALSE, (const guint8 *)"hi!", 3, &p, NULL));
    g_assert_cmpstr(p.text, ==, "hi!");
    sms_part_clear(&p);
    g_assert_true(sms_decode(SMS_DC_LATIN1, FALSE, FALSE, (const guint8 *)"caf\xe9", 4, &p, NULL));
    g_assert_cmpstr(p.text, ==, "café");
    sms_part_clear(&p);
    g_autoptr(GError) error = NULL;
    static const guint8 bad[] = {0x09, 0x00, 0x03, 0x01}; /* UDHL beyond the message */
    g_assert_false(sms_decode(0, TRUE, FALSE, bad, sizeof bad, &p, &error));
    g_assert_error(error, SMS_CODEC_ERROR, SMS_CODEC_ERROR_INVALID);
    g_clear_error(&error);
    static const guint8 seq0[] = {0x05, 0x00, 0x03, 0x01, 0x02, 0x00, 'a'}; /* seq 0 */
    g_assert_false(sms_decode(0, TRUE, FALSE, seq0, sizeof seq0, &p, &error));
    g_clear_error(&error);
    static const guint8 ie_over[] = {0x03, 0x00, 0x05, 0x01, 'a'};
    g_assert_false(sms_decode(0, TRUE, FALSE, ie_over, sizeof ie_over, &p, &error));
    g_clear_error(&error);
    /* another IE (port addressing) is skipped */
    static const guint8 other[] = {0x04, 0x05, 0x02, 0x0B, 0x84, 0x61};
    g_assert_true(sms_decode(0, TRUE, FALSE, other, sizeof other, &p, NULL));
    g_assert_false(p.concat);
    g_assert_cmpstr(p.text, ==, "a");
    sms_part_clear(&p);
}

/* --- reassembly ------------------------------------------------------------------------- */

typedef struct {
    int calls;
    char *text;
} Expired;

static void on_expired(const char *from, const char *to, guint16 ref, guint8 total,
                       const char *text, gpointer data)
{
    Expired *e = data;
    e->calls++;
    g_free(e->text);
    e->text = g_strdup(text);
}

static void test_reasm(void)
{
    g_autoptr(SmsReasm) r = sms_reasm_new(10 * G_USEC_PER_SEC);
    gboolean dup;
    g_assert_null(sms_reasm_add(r, "+1", "u@x", 5, 3, 3, "C", 0, &dup));
    g_assert_null(sms_reasm_add(r, "+1", "u@x", 5, 3, 1, "A", 0, &dup));
    g_assert_null(sms_reasm_add(r, "+1", "u@x", 5, 3, 1, "A", 0, &dup)); /* duplicate */
    g_assert_true(dup);
    /* same ref from another sender: a different message */
    g_assert_null(sms_reasm_add(r, "+2", "u@x", 5, 3, 2, "x", 0, &dup));
    g_assert_cmpuint(sms_reasm_pending(r), ==, 2);
    g_autofree char *whole = sms_reasm_add(r, "+1", "u@x", 5, 3, 2, "B", 0, &dup);
    g_assert_cmpstr(whole, ==, "ABC");
    g_assert_false(dup);
    g_assert_null(sms_reasm_add(r, "+1", "u@x", 5, 3, 4, "?", 0, NULL)); /* out of range */
    g_assert_cmpuint(sms_reasm_pending(r), ==, 1);
    Expired e = {0};
    g_assert_cmpuint(sms_reasm_expire(r, 5 * G_USEC_PER_SEC, on_expired, &e), ==, 0);
    g_assert_cmpuint(sms_reasm_expire(r, 11 * G_USEC_PER_SEC, on_expired, &e), ==, 1);
    g_assert_cmpint(e.calls, ==, 1);
    g_assert_cmpstr(e.text, ==, "[…]x[…]");
    g_assert_cmpuint(sms_reasm_pending(r), ==, 0);
    g_free(e.text);
    g_autofree char *single = sms_reasm_add(r, "+1", "u@x", 9, 1, 1, "solo", 0, NULL);
    g_assert_cmpstr(single, ==, "solo");
}

/* --- addresses ------------------------------------------------------------------------- */

static void test_e164(void)
{
    g_assert_true(sms_e164_valid("+15551234567"));
    g_assert_true(sms_e164_valid("+491701234567"));
    g_assert_true(sms_e164_valid("+123456789012345")); /* 15 digits */
    g_assert_false(sms_e164_valid("+1234567890123456"));
    g_assert_false(sms_e164_valid("15551234567"));
    g_assert_false(sms_e164_valid("+05551234567"));
    g_assert_false(sms_e164_valid("+1555-123"));
    g_assert_false(sms_e164_valid("+"));
    g_assert_false(sms_e164_valid("+1"));
    g_assert_false(sms_e164_valid(NULL));
    g_autofree char *n1 = sms_e164_normalize("+1 (555) 123-4567");
    g_assert_cmpstr(n1, ==, "+15551234567");
    g_autofree char *n2 = sms_e164_normalize("0044 20 7946 0000");
    g_assert_cmpstr(n2, ==, "+442079460000");
    g_assert_null(sms_e164_normalize("555-1234x"));
    g_assert_null(sms_e164_normalize("5551234567")); /* no country code */
    g_autofree char *j = sms_jid_to_number("+15551234567@sms.example.org/x", "sms.example.org");
    g_assert_cmpstr(j, ==, "+15551234567");
    g_assert_null(sms_jid_to_number("+15551234567@other.example.org", "sms.example.org"));
    g_assert_null(sms_jid_to_number("alice@sms.example.org", "sms.example.org"));
    g_assert_null(sms_jid_to_number("sms.example.org", "sms.example.org"));
}

static void test_ton_npi(void)
{
    SmsAddrRule intl = {1, 1, "", "0"}, nat = {2, 1, "44", "0"}, unk = {0, 0, "", ""};
    g_autofree char *a = sms_number_to_smpp("+15551234567", &intl);
    g_assert_cmpstr(a, ==, "15551234567");
    g_autofree char *b = sms_number_to_smpp("+442079460000", &nat);
    g_assert_cmpstr(b, ==, "02079460000");
    g_assert_null(sms_number_to_smpp("+15551234567", &nat)); /* not in the country */
    g_autofree char *c = sms_number_to_smpp("+15551234567", &unk);
    g_assert_cmpstr(c, ==, "+15551234567");
    g_autofree char *d = sms_smpp_to_number("15551234567", 1, &intl);
    g_assert_cmpstr(d, ==, "+15551234567");
    g_autofree char *e = sms_smpp_to_number("02079460000", 2, &nat);
    g_assert_cmpstr(e, ==, "+442079460000");
    g_autofree char *f = sms_smpp_to_number("02079460000", 0, &nat); /* unknown: national */
    g_assert_cmpstr(f, ==, "+442079460000");
    g_autofree char *g = sms_smpp_to_number("0015551234567", 0, &nat);
    g_assert_cmpstr(g, ==, "+15551234567");
    g_autofree char *h = sms_smpp_to_number("15551234567", 0, &unk);
    g_assert_cmpstr(h, ==, "+15551234567");
    g_assert_null(sms_smpp_to_number("MyBank", 5, &intl)); /* alphanumeric */
    g_assert_null(sms_smpp_to_number("12ab", 1, &intl));
}

/* --- receipts --------------------------------------------------------------------------- */

static void test_receipt(void)
{
    const char *t = "id:0A1B2C sub:001 dlvrd:001 submit date:2411240712 done date:2411240713 "
                    "stat:DELIVRD err:000 text:Hello";
    SmsReceipt r;
    g_assert_true(sms_receipt_parse(t, strlen(t), &r));
    g_assert_cmpstr(r.id, ==, "0A1B2C");
    g_assert_cmpstr(r.stat, ==, "DELIVRD");
    g_assert_cmpstr(r.err, ==, "000");
    g_assert_cmpint(r.state, ==, SMS_RECEIPT_DELIVERED);
    sms_receipt_clear(&r);
    const char *u = "ID:77 STAT:UNDELIV ERR:012 Text:x"; /* keys in any case */
    g_assert_true(sms_receipt_parse(u, strlen(u), &r));
    g_assert_cmpint(r.state, ==, SMS_RECEIPT_FAILED);
    g_assert_cmpstr(r.err, ==, "012");
    sms_receipt_clear(&r);
    const char *v = "stat:ENROUTE id:5"; /* any order */
    g_assert_true(sms_receipt_parse(v, strlen(v), &r));
    g_assert_cmpint(r.state, ==, SMS_RECEIPT_ENROUTE);
    g_assert_cmpstr(r.id, ==, "5");
    sms_receipt_clear(&r);
    const char *w = "hello there, not a receipt";
    g_assert_false(sms_receipt_parse(w, strlen(w), &r));
    const char *x = "subid:1 stat:DELIVRD"; /* "subid:" is not "id:" */
    g_assert_false(sms_receipt_parse(x, strlen(x), &r));
    g_assert_cmpint(sms_receipt_state("REJECTD"), ==, SMS_RECEIPT_FAILED);
    g_assert_cmpint(sms_receipt_state("WHATEVER"), ==, SMS_RECEIPT_UNKNOWN);
    g_assert_cmpstr(sms_receipt_state_word(2), ==, "DELIVRD");
    g_assert_null(sms_receipt_state_word(42));
    g_autofree char *alt = sms_receipt_alt_id("ff");
    g_assert_cmpstr(alt, ==, "255");
    g_autofree char *alt2 = sms_receipt_alt_id("123"); /* read as hex: 291 */
    g_assert_cmpstr(alt2, ==, "291");
    g_assert_null(sms_receipt_alt_id("7"));   /* the same either way */
    g_assert_null(sms_receipt_alt_id("xyz")); /* not hexadecimal */
}

/* --- config ----------------------------------------------------------------------------- */

#define GOOD                                                                                       \
    "[component]\ndomain = SMS.Example.org\nsecret = s\n"                                          \
    "[smsc]\nhost = 127.0.0.1\nsystem_id = tern\npassword = pw\n"

static void test_config(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(SmsGwConfig) c = sms_config_load_data(
        GOOD "[allow alice@example.org]\nnumbers = +1 555 123 4567; +15550000000\n"
             "[allow bob@example.org]\nnumbers = *\n",
        &error);
    g_assert_no_error(error);
    g_assert_cmpstr(c->component.domain, ==, "sms.example.org");
    g_assert_cmpuint(c->smsc_port, ==, 2775);
    g_assert_cmpuint(c->source_rule.ton, ==, 1);
    g_assert_true(sms_config_allowed(c, "alice@example.org", "+15551234567"));
    g_assert_true(sms_config_allowed(c, "Alice@Example.org", "+15550000000"));
    g_assert_false(sms_config_allowed(c, "alice@example.org", "+15559999999"));
    g_assert_true(sms_config_allowed(c, "bob@example.org", "+15559999999"));
    g_assert_false(sms_config_allowed(c, "carol@example.org", "+15551234567"));
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"[component]\ndomain = sms.example.org\nsecret = s\n", "host"},
        {GOOD "[smsc]\nport = 0\n", "port"},
        {GOOD "[smsc]\npassword = 123456789\n", "password"},
        {GOOD "[sms]\nsource_ton = alpha\n", "source_ton"},
        {GOOD "[sms]\ndest_ton = national\n", "country_code"},
        {GOOD "[sms]\ncountry_code = +44\n", "country_code"},
        {GOOD "[sms]\nref16 = maybe\n", "ref16"},
        {GOOD "[sms]\nnope = 1\n", "unknown key"},
        {GOOD "[smpp]\n", "unknown section"},
        {GOOD "[allow alice]\nnumbers = +15551234567\n", "bare JID"},
        {GOOD "[allow bob@example.org]\n", "numbers"},
        {GOOD "[allow alice@example.org]\nnumbers = 5551234567\n", "E.164"},
        {GOOD "[smsc]\nreconnect_min_ms = 5000\nreconnect_max_ms = 1000\n", "reconnect_max_ms"},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) e = NULL;
        g_autoptr(SmsGwConfig) b = sms_config_load_data(bad[i].text, &e);
        g_assert_null(b);
        g_assert_nonnull(e);
        if (!strstr(e->message, bad[i].needle))
            g_error("config %zu: '%s' does not mention '%s'", i, e->message, bad[i].needle);
    }
}

static void test_example_config(void)
{
    /* the generated example loads, and the shipped file is that example */
    g_autofree char *ex = sms_config_example();
    g_autoptr(GError) error = NULL;
    g_autoptr(SmsGwConfig) c = sms_config_load_data(ex, &error);
    g_assert_no_error(error);
    const char *srcdir = g_getenv("TERN_SRCDIR");
    if (!srcdir) {
        g_test_skip("no TERN_SRCDIR");
        return;
    }
    g_autofree char *path = g_build_filename(srcdir, "transports/sms/tern-sms.conf.example", NULL);
    g_autofree char *shipped = NULL;
    g_assert_true(g_file_get_contents(path, &shipped, NULL, NULL));
    g_assert_cmpstr(shipped, ==, ex);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sms/gsm7/encode-decode", test_gsm7_encode_decode);
    g_test_add_func("/sms/gsm7/pack-unpack", test_gsm7_pack_unpack);
    g_test_add_func("/sms/coding-choice", test_coding_choice);
    g_test_add_func("/sms/ucs2", test_ucs2);
    g_test_add_func("/sms/xml-safe", test_xml_safe);
    g_test_add_func("/sms/split/single", test_split_single);
    g_test_add_func("/sms/split/concat-8bit", test_split_concat_8bit);
    g_test_add_func("/sms/split/concat-16bit-ucs2", test_split_concat_16bit_ucs2);
    g_test_add_func("/sms/split/keeps-pairs", test_split_keeps_pairs);
    g_test_add_func("/sms/split/too-long-and-packed", test_split_too_long_and_packed);
    g_test_add_func("/sms/decode/codings-and-bad-udh", test_decode_codings_and_bad_udh);
    g_test_add_func("/sms/reasm", test_reasm);
    g_test_add_func("/sms/e164", test_e164);
    g_test_add_func("/sms/ton-npi", test_ton_npi);
    g_test_add_func("/sms/receipt", test_receipt);
    g_test_add_func("/sms/config", test_config);
    g_test_add_func("/sms/config/example", test_example_config);
    return g_test_run();
}
