/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/address.h — phone numbers: E.164 ("+15551234567", ITU-T E.164 §6), the JID
 * form (+15551234567@sms.example.org) and SMPP addresses with TON/NPI (SMPP 3.4 §5.2.5-6) */
#pragma once

#include <glib.h>

/* TRUE for '+' and 2..15 digits, the first not 0 (E.164 §6: at most 15 digits, a country
 * code never starts with 0). */
gboolean sms_e164_valid(const char *number);
/* "+1 (555) 123-4567" / "0015551234567" -> "+15551234567" when the result is valid
 * E.164, else NULL. Spaces, dots, dashes and parentheses are dropped. transfer full */
char *sms_e164_normalize(const char *text);

/* The number of a JID at our domain ("+15551234567@sms.example.org[/res]"), NULL when
 * the JID is not a valid number there. transfer full */
char *sms_jid_to_number(const char *jid, const char *domain);
/* "+15551234567" -> "+15551234567@domain". transfer full */
char *sms_number_to_jid(const char *number, const char *domain);

/* How numbers are written in SMPP addresses (config [sms] ton/npi rules). */
typedef struct {
    guint8 ton;               /* 1 international, 2 national, 0 unknown (SMPP 3.4 §5.2.5) */
    guint8 npi;               /* 1 ISDN/E.164, 0 unknown (§5.2.6) */
    const char *country_code; /* national: the country code stripped ("44"); borrowed */
    const char *trunk_prefix; /* national: put in front instead ("0"); borrowed */
} SmsAddrRule;

/* An E.164 number as an SMPP address under rule: international -> digits without '+';
 * national -> the trunk prefix and the national number (NULL when the number is not in
 * the country); unknown -> "+digits". transfer full */
char *sms_number_to_smpp(const char *number, const SmsAddrRule *rule);
/* An SMPP address (as received, with its TON) -> E.164 or NULL: international: '+'
 * digits; national: country code of rule + number without trunk prefix; unknown: '+...'
 * or "00..." kept as international, else like national when rule has a country code.
 * transfer full */
char *sms_smpp_to_number(const char *addr, guint8 ton, const SmsAddrRule *rule);
