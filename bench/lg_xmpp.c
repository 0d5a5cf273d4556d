/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/lg_xmpp.c — load generator, XMPP side: stanza scanner, STARTTLS, XEP-0077, SASL
 * (SCRAM per RFC 5802, PLAIN per RFC 4616), bind, timestamped messages */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "bench/loadgen.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define LG_MAX_PENDING (1024 * 1024) /* bytes of one unfinished element */

/* ---- reading elements: a minimal scanner, exact about element boundaries ---- */

/* Index after the '>' closing the tag that starts at p; quotes in attributes respected. */
static gboolean tag_end(const char *buf, size_t p, size_t len, size_t *end)
{
    char q = 0;
    for (size_t i = p + 1; i < len; i++) {
        char ch = buf[i];
        if (q) {
            if (ch == q)
                q = 0;
        } else if (ch == '\'' || ch == '"') {
            q = ch;
        } else if (ch == '>') {
            *end = i + 1;
            return TRUE;
        }
    }
    return FALSE;
}

/* Local name of the element starting at el (prefix stripped). */
static gboolean el_is(const char *el, size_t len, const char *local)
{
    size_t i = 1;
    while (i < len && el[i] != ' ' && el[i] != '>' && el[i] != '/' && el[i] != '\t' &&
           el[i] != '\n' && el[i] != '\r')
        i++;
    const char *n = el + 1;
    size_t l = i - 1;
    const char *colon = memchr(n, ':', l);
    if (colon) {
        l -= (size_t)(colon + 1 - n);
        n = colon + 1;
    }
    return l == strlen(local) && memcmp(n, local, l) == 0;
}

/* Value of an unprefixed attribute of the start tag (not unescaped); NULL when absent. */
static const char *el_attr(const char *el, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name), i = 1;
    while (i < len && el[i] != ' ' && el[i] != '>' && el[i] != '/')
        i++;
    for (;;) {
        while (i < len && (el[i] == ' ' || el[i] == '\t' || el[i] == '\n' || el[i] == '\r'))
            i++;
        if (i >= len || el[i] == '>' || el[i] == '/')
            return NULL;
        size_t a = i;
        while (i < len && el[i] != '=' && el[i] != ' ')
            i++;
        size_t al = i - a;
        while (i < len && el[i] != '\'' && el[i] != '"')
            i++;
        if (i >= len)
            return NULL;
        char q = el[i++];
        size_t v = i;
        while (i < len && el[i] != q)
            i++;
        if (i >= len)
            return NULL;
        if (al == nl && memcmp(el + a, name, nl) == 0) {
            *vlen = i - v;
            return el + v;
        }
        i++;
    }
}

static gboolean attr_is(const char *el, size_t len, const char *name, const char *value)
{
    size_t vl = 0;
    const char *v = el_attr(el, len, name, &vl);
    return v && vl == strlen(value) && memcmp(v, value, vl) == 0;
}

/* Text right after the start tag of the element at el, up to the next '<' (transfer full). */
static char *el_text(const char *el, size_t len)
{
    size_t e = 0;
    if (!tag_end(el, 0, len, &e) || el[e - 2] == '/')
        return g_strdup("");
    const char *lt = memchr(el + e, '<', len - e);
    return g_strndup(el + e, lt ? (size_t)(lt - (el + e)) : len - e);
}

/* Text of the first descendant <name>...</name> (transfer full) or NULL. */
static char *child_text(const char *el, size_t len, const char *name)
{
    char pat[64];
    int pl = g_snprintf(pat, sizeof pat, "<%s", name);
    const char *p = el, *end = el + len;
    while ((p = memmem(p, (size_t)(end - p), pat, (size_t)pl))) {
        char next = p + pl < end ? p[pl] : '\0';
        if (next == '>' || next == ' ' || next == '/')
            return el_text(p, (size_t)(end - p));
        p += pl;
    }
    return NULL;
}

static gboolean contains(const char *el, size_t len, const char *s)
{
    return memmem(el, len, s, strlen(s)) != NULL;
}

/* ---- writing ---- */

void lg_xmpp_send_header(LgConn *c)
{
    char buf[512];
    int n = g_snprintf(buf, sizeof buf,
                       "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                       "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
                       c->domain);
    lg_conn_write(c, buf, (size_t)n);
}

static void send_register(LgConn *c)
{
    g_autofree char *pw = g_markup_escape_text(c->run->opt.password, -1);
    g_autofree char *iq = g_strdup_printf("<iq type='set' id='reg%d'><query xmlns='jabber:iq:"
                                          "register'><username>user%d</username><password>%s"
                                          "</password></query></iq>",
                                          c->idx, c->user, pw);
    lg_conn_write_str(c, iq);
    c->phase = PH_REGISTER;
}

static void send_bind(LgConn *c)
{
    char buf[256];
    int n = g_snprintf(buf, sizeof buf,
                       "<iq type='set' id='bind%d'><bind xmlns='" NS_BIND "'><resource>lg%d"
                       "</resource></bind></iq>",
                       c->idx, c->idx);
    lg_conn_write(c, buf, (size_t)n);
    c->phase = PH_BIND;
}

/* ---- SASL ---- */

typedef struct {
    guint8 client_key[EVP_MAX_MD_SIZE];
    guint8 stored_key[EVP_MAX_MD_SIZE];
    guint8 server_key[EVP_MAX_MD_SIZE];
} ScramKeys;

static const char *mech_name(LgMech m)
{
    switch (m) {
    case LG_MECH_SCRAM_SHA1:
        return "SCRAM-SHA-1";
    case LG_MECH_SCRAM_SHA256:
        return "SCRAM-SHA-256";
    case LG_MECH_PLAIN:
        break;
    }
    return "PLAIN";
}

static const EVP_MD *mech_md(LgMech m)
{
    return m == LG_MECH_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static void send_sasl(LgConn *c, const char *name, const char *mech, const char *data, size_t len)
{
    g_autofree char *b64 = len ? g_base64_encode((const guchar *)data, len) : g_strdup("=");
    GString *s = g_string_new(NULL);
    g_string_append_printf(s, "<%s xmlns='" NS_SASL "'", name);
    if (mech)
        g_string_append_printf(s, " mechanism='%s'", mech);
    g_string_append_printf(s, ">%s</%s>", b64, name);
    lg_conn_write(c, s->str, s->len);
    g_string_free(s, TRUE);
}

static void send_auth(LgConn *c)
{
    LgRun *run = c->run;
    if (run->opt.mech == LG_MECH_PLAIN) { /* RFC 4616: authzid NUL authcid NUL password */
        GString *m = g_string_new(NULL);
        g_string_append_c(m, '\0');
        g_string_append_printf(m, "user%d", c->user);
        g_string_append_c(m, '\0');
        g_string_append(m, run->opt.password);
        send_sasl(c, "auth", "PLAIN", m->str, m->len);
        OPENSSL_cleanse(m->str, m->len);
        g_string_free(m, TRUE);
    } else {
        guint8 raw[18];
        if (RAND_bytes(raw, sizeof raw) != 1)
            g_error("RAND_bytes failed");
        g_free(c->cnonce);
        c->cnonce = g_base64_encode(raw, sizeof raw);
        g_free(c->client_first_bare);
        c->client_first_bare = g_strdup_printf("n=user%d,r=%s", c->user, c->cnonce);
        g_autofree char *first = g_strconcat("n,,", c->client_first_bare, NULL);
        send_sasl(c, "auth", mech_name(run->opt.mech), first, strlen(first));
        c->server_sig_len = 0;
    }
    c->phase = PH_AUTH;
}

static void hmac(const EVP_MD *md, const guint8 *key, int klen, const void *data, size_t len,
                 guint8 *out)
{
    unsigned olen = 0;
    if (!HMAC(md, key, klen, data, len, out, &olen))
        g_error("HMAC failed");
}

/* Keys from the password, salt and iteration count; cached: every session of an account
 * sees the same salt, so PBKDF2 runs once per account and run. */
static const ScramKeys *scram_keys(LgRun *run, const char *salt_b64, guint iters)
{
    g_autofree char *key = g_strdup_printf("%s,%u", salt_b64, iters);
    ScramKeys *k = g_hash_table_lookup(run->scram_cache, key);
    if (k)
        return k;
    const EVP_MD *md = mech_md(run->opt.mech);
    int n = EVP_MD_get_size(md);
    gsize salt_len = 0;
    g_autofree guchar *salt = g_base64_decode(salt_b64, &salt_len);
    guint8 salted[EVP_MAX_MD_SIZE];
    if (PKCS5_PBKDF2_HMAC(run->opt.password, (int)strlen(run->opt.password), salt, (int)salt_len,
                          (int)iters, md, n, salted) != 1)
        g_error("PBKDF2 failed");
    k = g_new0(ScramKeys, 1);
    hmac(md, salted, n, "Client Key", 10, k->client_key);
    unsigned dl = 0;
    if (EVP_Digest(k->client_key, (size_t)n, k->stored_key, &dl, md, NULL) != 1)
        g_error("digest failed");
    hmac(md, salted, n, "Server Key", 10, k->server_key);
    OPENSSL_cleanse(salted, sizeof salted);
    g_hash_table_insert(run->scram_cache, g_steal_pointer(&key), k);
    return k;
}

static gboolean scram_verify(LgConn *c, const char *data)
{
    if (!g_str_has_prefix(data, "v="))
        return FALSE;
    g_autofree char *expect = g_base64_encode(c->server_sig, c->server_sig_len);
    return strcmp(data + 2, expect) == 0;
}

/* RFC 5802 §3: answer server-first-message with client-final-message. */
static void scram_challenge(LgConn *c, const char *server_first)
{
    LgRun *run = c->run;
    if (c->server_sig_len > 0) { /* additional data with the verifier: answer empty */
        if (!scram_verify(c, server_first)) {
            lg_conn_fail(c, &run->err.auth, "SCRAM: bad server signature");
            return;
        }
        send_sasl(c, "response", NULL, "", 0);
        return;
    }
    const char *nonce = NULL, *salt = NULL;
    guint iters = 0;
    g_auto(GStrv) parts = g_strsplit(server_first, ",", -1);
    for (char **p = parts; *p; p++) {
        if (g_str_has_prefix(*p, "r="))
            nonce = *p + 2;
        else if (g_str_has_prefix(*p, "s="))
            salt = *p + 2;
        else if (g_str_has_prefix(*p, "i="))
            iters = (guint)strtoul(*p + 2, NULL, 10);
    }
    if (!nonce || !salt || !iters || !g_str_has_prefix(nonce, c->cnonce)) {
        lg_conn_fail(c, &run->err.auth, "SCRAM: bad server-first-message '%s'", server_first);
        return;
    }
    const EVP_MD *md = mech_md(run->opt.mech);
    int n = EVP_MD_get_size(md);
    const ScramKeys *k = scram_keys(run, salt, iters);
    g_autofree char *without_proof = g_strconcat("c=biws,r=", nonce, NULL);
    g_autofree char *auth_msg =
        g_strconcat(c->client_first_bare, ",", server_first, ",", without_proof, NULL);
    guint8 sig[EVP_MAX_MD_SIZE], proof[EVP_MAX_MD_SIZE];
    hmac(md, k->stored_key, n, auth_msg, strlen(auth_msg), sig);
    for (int i = 0; i < n; i++)
        proof[i] = k->client_key[i] ^ sig[i];
    hmac(md, k->server_key, n, auth_msg, strlen(auth_msg), c->server_sig);
    c->server_sig_len = (unsigned)n;
    g_autofree char *proof_b64 = g_base64_encode(proof, (gsize)n);
    g_autofree char *final = g_strconcat(without_proof, ",p=", proof_b64, NULL);
    send_sasl(c, "response", NULL, final, strlen(final));
}

static char *b64_text(const char *el, size_t len)
{
    g_autofree char *t = el_text(el, len);
    g_strstrip(t);
    if (!*t || !strcmp(t, "="))
        return g_strdup("");
    gsize n = 0;
    guchar *raw = g_base64_decode(t, &n);
    char *s = g_strndup((const char *)raw, n);
    g_free(raw);
    return s;
}

/* ---- stanzas during the run ---- */

void lg_xmpp_set_peer(LgConn *c, const LgConn *peer)
{
    g_free(c->msg_prefix);
    g_autofree char *to = g_strdup(peer->jid);
    if (c->run->opt.to_bare) {
        char *slash = strchr(to, '/');
        if (slash)
            *slash = '\0';
    }
    c->msg_prefix = g_strdup_printf("<message type='%s' to='%s'", c->run->opt.msg_type, to);
    c->peer = peer->idx;
}

void lg_xmpp_send_message(LgConn *c, uint64_t ts_ns)
{
    static char pad[4096];
    LgRun *run = c->run;
    char buf[160];
    if (!pad[0])
        memset(pad, 'x', sizeof pad);
    lg_conn_write_str(c, c->msg_prefix);
    int n = g_snprintf(buf, sizeof buf, " id='%" PRIx64 "'><body>%d %" PRIu64 " %" PRIu64, c->seq,
                       c->idx, c->seq, ts_ns);
    lg_conn_write(c, buf, (size_t)n);
    for (int left = run->opt.payload; left > 0; left -= (int)sizeof pad)
        lg_conn_write(c, pad, MIN((size_t)left, sizeof pad));
    lg_conn_write(c, "</body></message>", 17);
    c->seq++;
    c->outstanding++;
    run->sent_total++;
    if (ts_ns >= run->win_start_ns && ts_ns < run->win_end_ns)
        run->sent++;
}

static uint64_t parse_u64(const char **p, const char *end)
{
    uint64_t v = 0;
    while (*p < end && **p == ' ')
        (*p)++;
    while (*p < end && **p >= '0' && **p <= '9')
        v = v * 10 + (uint64_t)(*(*p)++ - '0');
    return v;
}

/* A message from a partner: "sender seq timestamp" in the body. */
static void on_message(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    gboolean error = attr_is(el, len, "type", "error");
    const char *end = el + len, *b = memmem(el, len, "<body", 5);
    if (!b) {
        if (error)
            run->err.stanza++;
        return;
    }
    b = memchr(b, '>', (size_t)(end - b));
    if (!b)
        return;
    b++;
    uint64_t sender = parse_u64(&b, end);
    parse_u64(&b, end); /* seq */
    uint64_t ts = parse_u64(&b, end);
    if (sender >= (uint64_t)run->nconns)
        return;
    LgConn *s = &run->conns[sender];
    if (s->outstanding > 0)
        s->outstanding--;
    uint64_t now = lg_now_ns(), arrived = run->rx_ns ? MIN(run->rx_ns, now) : now;
    if (error) {
        run->err.stanza++;
    } else {
        run->delivered_total++;
        if (arrived >= run->win_start_ns && arrived < run->win_end_ns) {
            run->delivered++;
            lg_hist_add(&run->hist, arrived > ts ? arrived - ts : 0);
        }
    }
    /* flat out: keep the sender's window full */
    if (run->traffic && run->opt.rate <= 0 && s->phase == PH_READY && s->peer >= 0)
        while (s->outstanding < run->opt.window)
            lg_xmpp_send_message(s, now);
}

/* ---- the handshake, one top-level element at a time ---- */

static void on_features(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    if (!c->authed && run->opt.tls == LG_TLS_STARTTLS && !c->tls_done) {
        if (!contains(el, len, "<starttls")) {
            lg_conn_fail(c, &run->err.tls, "the server offers no STARTTLS");
            return;
        }
        lg_conn_write_str(c, "<starttls xmlns='" NS_TLS "'/>");
        c->phase = PH_STARTTLS;
        return;
    }
    if (c->register_only) {
        send_register(c);
        return;
    }
    if (!c->authed) {
        char want[64];
        g_snprintf(want, sizeof want, ">%s<", mech_name(run->opt.mech));
        if (!contains(el, len, want)) {
            lg_conn_fail(c, &run->err.auth, "the server does not offer %s here",
                         mech_name(run->opt.mech));
            return;
        }
        send_auth(c);
        return;
    }
    send_bind(c);
}

static void on_auth_element(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    if (el_is(el, len, "challenge")) {
        g_autofree char *data = b64_text(el, len);
        scram_challenge(c, data);
    } else if (el_is(el, len, "success")) {
        g_autofree char *data = b64_text(el, len);
        if (run->opt.mech != LG_MECH_PLAIN && *data && !scram_verify(c, data)) {
            lg_conn_fail(c, &run->err.auth, "SCRAM: bad server signature in <success/>");
            return;
        }
        c->authed = TRUE; /* RFC 6120 §6.4.6: restart the stream */
        c->depth = 0;
        c->phase = PH_FEATURES;
        lg_xmpp_send_header(c);
    } else if (el_is(el, len, "failure")) {
        g_autofree char *t = g_strndup(el, MIN(len, 200));
        lg_conn_fail(c, &run->err.auth, "authentication failed: %s", t);
    }
}

static void on_register_result(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    if (!el_is(el, len, "iq"))
        return;
    if (attr_is(el, len, "type", "result")) {
        run->registered++;
        lg_conn_close(c);
    } else if (contains(el, len, "<conflict")) {
        run->existed++;
        lg_conn_close(c);
    } else {
        g_autofree char *t = g_strndup(el, MIN(len, 300));
        lg_conn_fail(c, &run->err.reg, "registration failed: %s", t);
    }
}

static void on_bind_result(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    if (!el_is(el, len, "iq"))
        return;
    g_autofree char *jid = child_text(el, len, "jid");
    if (!attr_is(el, len, "type", "result") || !jid || !*jid) {
        g_autofree char *t = g_strndup(el, MIN(len, 300));
        lg_conn_fail(c, &run->err.bind, "bind failed: %s", t);
        return;
    }
    g_free(c->jid);
    c->jid = g_steal_pointer(&jid);
    if (run->opt.presence)
        lg_conn_write_str(c, "<presence/>");
    c->phase = PH_READY;
    run->active--;
    run->ready++;
}

static void on_element(LgConn *c, const char *el, size_t len)
{
    LgRun *run = c->run;
    if (c->phase == PH_READY) { /* the hot path first */
        if (el_is(el, len, "message"))
            on_message(c, el, len);
        else if (el_is(el, len, "error"))
            goto stream_error;
        else if (attr_is(el, len, "type", "error"))
            run->err.stanza++;
        return;
    }
    if (el_is(el, len, "error"))
        goto stream_error;
    switch (c->phase) {
    case PH_FEATURES:
        if (el_is(el, len, "features"))
            on_features(c, el, len);
        return;
    case PH_STARTTLS:
        if (el_is(el, len, "proceed"))
            lg_conn_start_tls(c);
        else
            lg_conn_fail(c, &run->err.tls, "STARTTLS refused");
        return;
    case PH_REGISTER:
        on_register_result(c, el, len);
        return;
    case PH_AUTH:
        on_auth_element(c, el, len);
        return;
    case PH_BIND:
        on_bind_result(c, el, len);
        return;
    default:
        return;
    }
stream_error:;
    /* <stream:error><condition xmlns=.../><text>..</text></stream:error> */
    size_t e = 0;
    char cond[64] = "?";
    if (tag_end(el, 0, len, &e) && e < len && el[e] == '<') {
        size_t i = e + 1, j = 0;
        while (i < len && j < sizeof cond - 1 && el[i] != ' ' && el[i] != '/' && el[i] != '>')
            cond[j++] = el[i++];
        cond[j] = '\0';
    }
    lg_conn_fail(c, &run->err.stream, "stream error <%s/>", cond);
}

static void on_stream_close(LgConn *c)
{
    LgRun *run = c->run;
    if (c->phase == PH_READY)
        lg_conn_fail(c, &run->err.disconnect, "the server closed the stream");
    else
        lg_conn_fail(c, &run->err.protocol, "the server closed the stream during setup");
}

/* Scan buf from a point at stream level (c->depth 0 or 1); hand each complete top-level
 * element to on_element. Returns the bytes consumed: whole elements and what lies between;
 * an incomplete element or tag stays for the next call. */
static size_t scan(LgConn *c, const char *buf, size_t len)
{
    size_t p = 0, consumed = 0, el_start = 0, end = 0;
    int depth = c->depth;
    while (p < len) {
        if (buf[p] != '<') {
            const char *lt = memchr(buf + p, '<', len - p);
            if (!lt) {
                if (depth <= 1)
                    consumed = len;
                break;
            }
            p = (size_t)(lt - buf);
            if (depth <= 1)
                consumed = p;
        }
        if (!tag_end(buf, p, len, &end))
            break;
        char k = buf[p + 1];
        if (k == '?' || k == '!') { /* XML declaration */
            p = end;
            if (depth <= 1)
                consumed = p;
            continue;
        }
        if (k == '/') {
            depth--;
            p = end;
            if (depth > 1)
                continue;
            consumed = end;
            c->depth = depth < 0 ? 0 : depth;
            if (depth == 1)
                on_element(c, buf + el_start, end - el_start);
            else
                on_stream_close(c);
            if (c->stop_scan)
                return consumed;
            depth = c->depth;
            continue;
        }
        gboolean empty = buf[end - 2] == '/';
        if (depth == 0) { /* the stream header */
            p = consumed = end;
            depth = c->depth = 1;
            continue;
        }
        if (depth == 1)
            el_start = p;
        p = end;
        if (!empty) {
            depth++;
            continue;
        }
        if (depth == 1) {
            consumed = end;
            on_element(c, buf + el_start, end - el_start);
            if (c->stop_scan)
                return consumed;
            depth = c->depth;
        }
    }
    return consumed;
}

static void keep(LgConn *c, const char *buf, size_t len)
{
    if (len == 0)
        return;
    if (c->in_len + len > c->in_cap) {
        c->in_cap = MAX(c->in_cap * 2, c->in_len + len + 4096);
        c->in = g_realloc(c->in, c->in_cap);
    }
    memcpy(c->in + c->in_len, buf, len);
    c->in_len += len;
}

void lg_xmpp_feed(LgConn *c, const char *buf, size_t len)
{
    size_t used;
    c->stop_scan = FALSE;
    if (c->in_len == 0) {
        used = scan(c, buf, len);
        if (c->fd < 0)
            return;
        if (c->stop_scan) { /* STARTTLS: what followed <proceed/> does not count */
            c->in_len = 0;
            return;
        }
        keep(c, buf + used, len - used);
    } else {
        keep(c, buf, len);
        used = scan(c, c->in, c->in_len);
        if (c->fd < 0)
            return;
        if (c->stop_scan) {
            c->in_len = 0;
            return;
        }
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (c->in_len > LG_MAX_PENDING)
        lg_conn_fail(c, &c->run->err.protocol, "an element larger than %d bytes", LG_MAX_PENDING);
    else if (c->in_len == 0 && c->in_cap > 65536) {
        g_clear_pointer(&c->in, g_free);
        c->in_cap = 0;
    }
}
