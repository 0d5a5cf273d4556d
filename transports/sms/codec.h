/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/codec.h — SMS text: GSM 03.38 (3GPP TS 23.038) default alphabet and its
 * extension table, UCS-2/UTF-16, the choice between them, splitting with concatenation UDH
 * (TS 23.040 §9.2.3.24.1 and .8) and decoding what an SMSC delivers */
#pragma once

#include <glib.h>

#define SMS_CODEC_ERROR (sms_codec_error_quark())
GQuark sms_codec_error_quark(void);
typedef enum {
    SMS_CODEC_ERROR_TOO_LONG, /* more parts than allowed */
    SMS_CODEC_ERROR_INVALID,  /* a short message that cannot be decoded */
} SmsCodecError;

/* SMPP 3.4 §5.2.19 data_coding values we send and understand */
#define SMS_DC_DEFAULT 0x00 /* SMSC default alphabet: GSM 03.38 here */
#define SMS_DC_IA5 0x01     /* IA5 (ASCII) */
#define SMS_DC_LATIN1 0x03  /* ISO-8859-1 */
#define SMS_DC_UCS2 0x08    /* UCS-2 (we send and read UTF-16BE) */

#define SMS_ESM_UDHI 0x40 /* esm_class: short_message starts with a user data header */

typedef enum {
    SMS_CODING_GSM7,
    SMS_CODING_UCS2,
} SmsCoding;

/* UTF-8 -> GSM 03.38 septet values, one per byte (extension characters as 0x1B + code).
 * FALSE when a character has no GSM 03.38 form (then UCS-2 is needed). */
gboolean sms_gsm7_encode(const char *utf8, GByteArray *septets);
/* Septet values -> UTF-8 (unknown extension codes as the base character, §6.2.1.1). transfer full
 */
char *sms_gsm7_decode(const guint8 *septets, gsize n);
/* Pack n septets into octets after fill_bits zero bits (TS 23.038 §6.1.2.1.1; the fill
 * bits align the text after a UDH to a septet boundary). transfer full */
GByteArray *sms_gsm7_pack(const guint8 *septets, gsize n, guint fill_bits);
/* Unpack n septets from octets (len bytes) starting after fill_bits. NULL when too short. */
GByteArray *sms_gsm7_unpack(const guint8 *octets, gsize len, gsize n, guint fill_bits);

/* UTF-8 -> UTF-16BE (characters beyond the BMP as surrogate pairs). transfer full */
GByteArray *sms_ucs2_encode(const char *utf8);
/* UTF-16BE -> UTF-8; an odd length or a lone surrogate: U+FFFD. transfer full */
char *sms_ucs2_decode(const guint8 *data, gsize len);

/* text (len bytes, -1: NUL-terminated) as valid UTF-8 with every character XML 1.0 cannot
 * carry (controls other than tab, LF, CR; U+FFFE/U+FFFF) replaced by U+FFFD: an SMS may hold
 * anything, a stanza may not (ternd would end the component stream). transfer full */
char *sms_xml_safe(const char *text, gssize len);

/* GSM-7 when every character has a GSM 03.38 form, else UCS-2. */
SmsCoding sms_choose_coding(const char *utf8);

/* An outgoing text split into short_message payloads. */
typedef struct {
    SmsCoding coding;
    guint8 data_coding; /* for submit_sm */
    gboolean udhi;      /* parts carry a concatenation UDH: esm_class |= SMS_ESM_UDHI */
    GPtrArray *parts;   /* GBytes*: UDH (when udhi) + text, one short_message each */
} SmsSplit;

/* Split utf8 into at most max_parts parts: one part when it fits (160 GSM-7 septets, 70
 * UCS-2 units), else concatenated parts with reference ref, as an 8-bit (IEI 0x00, 153
 * septets / 67 units) or 16-bit (IEI 0x08, 152 / 66) reference. An extension character
 * and a surrogate pair are never cut. packed: GSM-7 packed into octets (else one septet
 * per octet, as most SMSCs expect over SMPP). NULL + SMS_CODEC_ERROR_TOO_LONG. transfer full */
SmsSplit *sms_split(const char *utf8, guint16 ref, gboolean ref16, gboolean packed, guint max_parts,
                    GError **error);
void sms_split_free(SmsSplit *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmsSplit, sms_split_free)

/* A short message as received (deliver_sm). */
typedef struct {
    char *text;      /* UTF-8 */
    gboolean concat; /* part of a concatenated message */
    guint16 ref;     /* its reference */
    guint8 total;    /* number of parts */
    guint8 seq;      /* this part, 1-based */
} SmsPart;

/* Decode short_message (len bytes): the UDH when udhi (concatenation IEs 0x00 and 0x08;
 * other IEs skipped), the text by data_coding (0: GSM 03.38, packed or not; 1: ASCII;
 * 3: Latin-1; 8: UTF-16BE; other 8-bit codings: hex). FALSE + SMS_CODEC_ERROR_INVALID on
 * a malformed UDH. out: filled, clear with sms_part_clear() */
gboolean sms_decode(guint8 data_coding, gboolean udhi, gboolean packed, const guint8 *sm, gsize len,
                    SmsPart *out, GError **error);
void sms_part_clear(SmsPart *p);
