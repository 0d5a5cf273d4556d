/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* transports/sms/address.c — E.164 numbers, their JIDs and SMPP TON/NPI forms (address.h) */
#include "transports/sms/address.h"

#include <string.h>

#include "transports/sdk/tern-transport.h"

#define E164_MAX_DIGITS 15

static gboolean all_digits(const char *s)
{
    if (!*s)
        return FALSE;
    for (; *s; s++)
        if (!g_ascii_isdigit(*s))
            return FALSE;
    return TRUE;
}

gboolean sms_e164_valid(const char *number)
{
    if (!number || number[0] != '+' || !all_digits(number + 1))
        return FALSE;
    gsize n = strlen(number + 1);
    return n >= 2 && n <= E164_MAX_DIGITS && number[1] != '0';
}

char *sms_e164_normalize(const char *text)
{
    if (!text)
        return NULL;
    GString *s = g_string_new(NULL);
    for (const char *p = text; *p; p++) {
        if (*p == '+' && s->len == 0)
            g_string_append_c(s, '+');
        else if (g_ascii_isdigit(*p))
            g_string_append_c(s, *p);
        else if (!strchr(" .-()", *p)) {
            g_string_free(s, TRUE);
            return NULL;
        }
    }
    if (g_str_has_prefix(s->str, "00")) /* the ITU international call prefix */
        g_string_overwrite(g_string_erase(s, 0, 1), 0, "+");
    char *r = g_string_free(s, FALSE);
    if (!sms_e164_valid(r))
        g_clear_pointer(&r, g_free);
    return r;
}

char *sms_jid_to_number(const char *jid, const char *domain)
{
    if (!jid)
        return NULL;
    g_autofree char *local = tt_jid_local(jid);
    g_autofree char *dom = tt_jid_domain(jid);
    if (!local || !dom || g_ascii_strcasecmp(dom, domain) != 0 || !sms_e164_valid(local))
        return NULL;
    return g_steal_pointer(&local);
}

char *sms_number_to_jid(const char *number, const char *domain)
{
    return g_strconcat(number, "@", domain, NULL);
}

char *sms_number_to_smpp(const char *number, const SmsAddrRule *rule)
{
    if (!sms_e164_valid(number))
        return NULL;
    const char *digits = number + 1;
    switch (rule->ton) {
    case 1: /* international */
        return g_strdup(digits);
    case 2: { /* national */
        const char *cc = rule->country_code ? rule->country_code : "";
        if (!*cc || !g_str_has_prefix(digits, cc))
            return NULL;
        return g_strconcat(rule->trunk_prefix ? rule->trunk_prefix : "", digits + strlen(cc), NULL);
    }
    default:
        return g_strdup(number);
    }
}

char *sms_smpp_to_number(const char *addr, guint8 ton, const SmsAddrRule *rule)
{
    if (!addr)
        return NULL;
    g_autofree char *n = NULL;
    const char *cc = rule->country_code ? rule->country_code : "";
    const char *trunk = rule->trunk_prefix ? rule->trunk_prefix : "";
    if (ton == 1) {
        n = g_strconcat(addr[0] == '+' ? "" : "+", addr, NULL);
    } else if (ton == 2 || (ton == 0 && *cc && addr[0] != '+' && !g_str_has_prefix(addr, "00"))) {
        if (!*cc)
            return NULL;
        const char *national =
            *trunk && g_str_has_prefix(addr, trunk) ? addr + strlen(trunk) : addr;
        n = g_strconcat("+", cc, national, NULL);
    } else if (ton == 0) {
        return sms_e164_normalize(addr[0] == '+' || g_str_has_prefix(addr, "00")
                                      ? addr
                                      : (n = g_strconcat("+", addr, NULL)));
    } else {
        return NULL; /* alphanumeric, abbreviated ...: not a number we can answer */
    }
    return sms_e164_valid(n) ? g_steal_pointer(&n) : NULL;
}
