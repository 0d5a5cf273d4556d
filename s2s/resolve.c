/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* s2s/resolve.c — c-ares in the GLib main loop: SRV (RFC 2782, XEP-0368), A/AAAA, TTL cache */
#include "s2s/resolve.h"
#include "s2s/resolve_cache.h"
#include "s2s/resolve_loop.h"
#include "s2s/srv_order.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <string.h>

#define DNS_TIMEOUT_MS 2000 /* c-ares: first try; later tries double it */
#define DNS_TRIES 2
#define DEADLINE_MS 15000  /* whole query, SRV + addresses */
#define MAX_TARGETS 32     /* SRV targets tried, a hostile answer may list thousands */
#define MAX_CANDIDATES 64  /* addresses handed out */
#define CACHE_MAX 10000    /* entries; the oldest insertion is evicted first */
#define XMPP_S2S_PORT 5269 /* RFC 6120 §3.2.2 fallback */

GQuark resolve_error_quark(void)
{
    return g_quark_from_static_string("tern-resolve-error-quark");
}

static const char *const srv_service[2] = {"_xmpps-server._tcp.", "_xmpp-server._tcp."};

/* ---- the resolver: one c-ares channel driven by one GSource (s2s/resolve_loop.c) ---- */

struct Resolver {
    ares_channel channel;
    GMainContext *ctx;
    GSource *loop; /* watches c-ares' sockets, fires its timeouts */
    ResolveCache *cache;
    GHashTable *queries; /* ResolveQuery* whose callback is still due */
    guint deadline_ms;
};

Resolver *resolver_new(const char *servers, GError **error)
{
    Resolver *r;
    struct ares_options o;
    int rc = ares_library_init(ARES_LIB_INIT_ALL);

    if (rc != ARES_SUCCESS) {
        g_set_error(error, RESOLVE_ERROR, RESOLVE_ERROR_FAILED, "c-ares: %s", ares_strerror(rc));
        return NULL;
    }
    r = g_new0(Resolver, 1);
    r->deadline_ms = DEADLINE_MS;
    r->cache = resolve_cache_new(CACHE_MAX);
    r->queries = g_hash_table_new(g_direct_hash, g_direct_equal);
    r->loop = resolve_loop_new();

    memset(&o, 0, sizeof(o));
    o.sock_state_cb = resolve_loop_sock_state;
    o.sock_state_cb_data = r->loop;
    o.timeout = DNS_TIMEOUT_MS;
    o.tries = DNS_TRIES;
    o.domains = NULL; /* no search list: XMPP domains are fully qualified */
    o.ndomains = 0;
    rc = ares_init_options(&r->channel, &o,
                           ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                               ARES_OPT_NOROTATE | ARES_OPT_DOMAINS);
    if (rc == ARES_SUCCESS && servers && *servers) {
        rc = ares_set_servers_ports_csv(r->channel, servers);
        if (rc != ARES_SUCCESS)
            ares_destroy(r->channel);
    }
    if (rc != ARES_SUCCESS) {
        g_set_error(error, RESOLVE_ERROR, RESOLVE_ERROR_FAILED, "c-ares setup (servers \"%s\"): %s",
                    servers ? servers : "", ares_strerror(rc));
        g_source_unref(r->loop);
        resolve_cache_free(r->cache);
        g_hash_table_destroy(r->queries);
        g_free(r);
        ares_library_cleanup();
        return NULL;
    }
    r->ctx = g_main_context_ref_thread_default();
    resolve_loop_set_channel(r->loop, r->channel);
    g_source_attach(r->loop, r->ctx);
    return r;
}

void resolver_set_deadline(Resolver *r, guint deadline_ms)
{
    r->deadline_ms = deadline_ms;
}

/* ---- queries: SRV step, then one address lookup per distinct target ---- */

typedef enum { QUERY_SRV, QUERY_ADDR, QUERY_DONE } QueryState;

typedef struct {
    char *name;
    ResolveAnswer *answer;
} HostLookup;

struct ResolveQuery {
    gint refs; /* the caller's (until callback / cancel) + one per c-ares request */
    Resolver *r;
    char *domain;
    ResolveDoneFunc cb;
    gpointer ud;
    gboolean live; /* results still wanted (not finished, cancelled, or resolver freed) */
    QueryState state;
    guint pending;         /* c-ares requests of the current step (+1 while starting them) */
    ResolveAnswer *srv[2]; /* [0] _xmpps-server, [1] _xmpp-server */
    SrvRecord *targets;    /* ordered; targets borrowed from srv[] or domain */
    guint n_targets;
    gboolean fallback;  /* no SRV: the domain's own A/AAAA on 5269 */
    guint *target_host; /* target index -> hosts index */
    GPtrArray *hosts;   /* HostLookup* */
    GSource *deadline, *idle;
    GPtrArray *result;
    GError *error;
};

typedef struct {
    ResolveQuery *q; /* a reference */
    guint slot;      /* srv[] index or hosts index */
    char *key;
} Job;

static void host_lookup_free(gpointer data)
{
    HostLookup *h = data;
    resolve_answer_unref(h->answer);
    g_free(h->name);
    g_free(h);
}

static void query_unref(ResolveQuery *q)
{
    if (--q->refs > 0)
        return;
    resolve_answer_unref(q->srv[0]);
    resolve_answer_unref(q->srv[1]);
    g_free(q->targets);
    g_free(q->target_host);
    if (q->hosts)
        g_ptr_array_unref(q->hosts);
    if (q->result)
        g_ptr_array_unref(q->result);
    g_clear_error(&q->error);
    g_free(q->domain);
    g_free(q);
}

static void clear_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

/* Stops a query for good (no callback) and drops the caller's reference. */
static void query_drop(ResolveQuery *q)
{
    q->live = FALSE;
    q->state = QUERY_DONE;
    q->cb = NULL;
    clear_source(&q->deadline);
    clear_source(&q->idle);
    g_hash_table_remove(q->r->queries, q);
    query_unref(q);
}

static gboolean query_deliver(gpointer data)
{
    ResolveQuery *q = data;
    ResolveDoneFunc cb = q->cb;

    g_clear_pointer(&q->idle, g_source_unref); /* GLib holds its own ref while dispatching */
    q->cb = NULL;
    g_hash_table_remove(q->r->queries, q);
    cb(g_steal_pointer(&q->result), q->error, q->ud); /* may free the resolver */
    query_unref(q);
    return G_SOURCE_REMOVE;
}

/* Ends a live query: the callback runs from an idle, never from the caller's stack. */
static void query_finish(ResolveQuery *q, GPtrArray *result, GError *error)
{
    q->live = FALSE;
    q->state = QUERY_DONE;
    clear_source(&q->deadline);
    q->result = result;
    q->error = error;
    if (error)
        g_message("resolve: %s", error->message);
    q->idle = g_idle_source_new();
    g_source_set_callback(q->idle, query_deliver, q, NULL);
    g_source_set_name(q->idle, "tern-resolve-done");
    g_source_attach(q->idle, q->r->ctx);
}

static G_GNUC_PRINTF(3, 4) void query_fail(ResolveQuery *q, ResolveError code, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    query_finish(q, NULL, g_error_new_literal(RESOLVE_ERROR, code, msg));
    g_free(msg);
}

static gboolean query_deadline(gpointer data)
{
    ResolveQuery *q = data;
    g_clear_pointer(&q->deadline, g_source_unref);
    query_fail(q, RESOLVE_ERROR_TIMEOUT, "%s: DNS resolution did not finish within %u ms",
               q->domain, q->r->deadline_ms);
    return G_SOURCE_REMOVE;
}

/* How bad a c-ares status is for the caller: TIMEOUT > FAILED > NOT_FOUND. */
static ResolveError status_code(int status)
{
    if (status == ARES_ETIMEOUT)
        return RESOLVE_ERROR_TIMEOUT;
    return resolve_status_negative(status) || status == ARES_SUCCESS ? RESOLVE_ERROR_NOT_FOUND
                                                                     : RESOLVE_ERROR_FAILED;
}

static ResolveError worse(ResolveError a, ResolveError b)
{
    static const int rank[] = {
        [RESOLVE_ERROR_NOT_FOUND] = 0, [RESOLVE_ERROR_FAILED] = 1, [RESOLVE_ERROR_TIMEOUT] = 2};
    return rank[b] > rank[a] ? b : a;
}

static void query_advance(ResolveQuery *q);

static Job *job_new(ResolveQuery *q, guint slot, char *key /* transfer full */)
{
    Job *j = g_new0(Job, 1);
    j->q = q;
    q->refs++;
    q->pending++;
    j->slot = slot;
    j->key = key;
    return j;
}

/* One request (or the starting guard) of the current step is over. */
static void step_release(ResolveQuery *q)
{
    if (--q->pending == 0 && q->live)
        query_advance(q);
}

static void job_done(Job *j)
{
    ResolveQuery *q = j->q;
    g_free(j->key);
    g_free(j);
    step_release(q);
    query_unref(q);
}

/* A c-ares callback: also when the query is no longer live, so that the cache still learns.
 * ARES_EDESTRUCTION (resolver_free) touches nothing but the job. */
static void srv_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    Job *j = arg;
    ResolveQuery *q = j->q;
    gint64 ttl = 0;

    if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
        ResolveAnswer *a = resolve_answer_from_srv(status, abuf, alen, j->slot == 0, &ttl);
        if (a->status != ARES_SUCCESS && !resolve_status_negative(a->status))
            g_message("resolve: SRV %s: %s", j->key + 4, ares_strerror(a->status));
        resolve_cache_put(q->r->cache, j->key, a, ttl);
        if (q->live && q->state == QUERY_SRV && !q->srv[j->slot])
            q->srv[j->slot] = resolve_answer_ref(a);
        resolve_answer_unref(a);
    }
    job_done(j);
}

static void addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    Job *j = arg;
    ResolveQuery *q = j->q;
    gint64 ttl = 0;

    if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
        ResolveAnswer *a = resolve_answer_from_addrinfo(status, res, MAX_CANDIDATES, &ttl);
        resolve_cache_put(q->r->cache, j->key, a, ttl);
        if (q->live && q->state == QUERY_ADDR) {
            HostLookup *h = g_ptr_array_index(q->hosts, j->slot);
            if (!h->answer)
                h->answer = resolve_answer_ref(a);
        }
        resolve_answer_unref(a);
    }
    if (res)
        ares_freeaddrinfo(res);
    job_done(j);
}

static void query_start_srv(ResolveQuery *q)
{
    q->state = QUERY_SRV;
    q->pending++; /* guard: c-ares may call back from inside ares_query */
    for (guint slot = 0; slot < 2; slot++) {
        char *key = g_strconcat("srv:", srv_service[slot], q->domain, NULL);
        if ((q->srv[slot] = resolve_cache_get(q->r->cache, key))) {
            g_free(key);
            continue;
        }
        ares_query(q->r->channel, key + 4, C_IN, T_SRV, srv_cb, job_new(q, slot, key));
    }
    resolve_loop_update_timer(q->r->loop);
    step_release(q);
}

static void query_start_addr(ResolveQuery *q)
{
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC};

    q->state = QUERY_ADDR;
    q->hosts = g_ptr_array_new_with_free_func(host_lookup_free);
    q->target_host = g_new0(guint, q->n_targets);
    for (guint t = 0; t < q->n_targets; t++) {
        guint h;
        for (h = 0; h < q->hosts->len; h++)
            if (strcmp(((HostLookup *)g_ptr_array_index(q->hosts, h))->name,
                       q->targets[t].target) == 0)
                break;
        if (h == q->hosts->len) {
            HostLookup *hl = g_new0(HostLookup, 1);
            hl->name = g_strdup(q->targets[t].target);
            g_ptr_array_add(q->hosts, hl);
        }
        q->target_host[t] = h;
    }
    q->pending++; /* guard: ares_getaddrinfo answers /etc/hosts and literals synchronously */
    for (guint h = 0; h < q->hosts->len; h++) {
        HostLookup *hl = g_ptr_array_index(q->hosts, h);
        char *key = g_strconcat("addr:", hl->name, NULL);
        if ((hl->answer = resolve_cache_get(q->r->cache, key))) {
            g_free(key);
            continue;
        }
        ares_getaddrinfo(q->r->channel, hl->name, NULL, &hints, addr_cb, job_new(q, h, key));
    }
    resolve_loop_update_timer(q->r->loop);
    step_release(q);
}

static gboolean srv_usable(const ResolveAnswer *a)
{
    return a && a->status == ARES_SUCCESS && !a->no_service && a->srv->len > 0;
}

/* SRV answers in: order them (RFC 2782), merge (XEP-0368), or fall back (RFC 6120 §3.2.2). */
static void query_srv_done(ResolveQuery *q)
{
    ResolveAnswer *tls = q->srv[0], *tcp = q->srv[1];
    SrvRecord *lists[2] = {NULL, NULL};
    gsize n[2] = {0, 0};

    if (!srv_usable(tls) && !srv_usable(tcp)) {
        if (tcp && tcp->no_service) { /* RFC 6120 §3.2.1: abort, no fallback */
            query_fail(q, RESOLVE_ERROR_NOT_FOUND,
                       "%s: XMPP server-to-server service not offered (SRV target \".\")",
                       q->domain);
            return;
        }
        q->targets = g_new0(SrvRecord, 1);
        q->targets[0] = (SrvRecord){q->domain, 0, 0, XMPP_S2S_PORT, FALSE};
        q->n_targets = 1;
        q->fallback = TRUE;
        query_start_addr(q);
        return;
    }
    for (guint s = 0; s < 2; s++) {
        if (!srv_usable(q->srv[s]))
            continue;
        lists[s] = g_memdup2(q->srv[s]->srv->data, q->srv[s]->srv->len * sizeof(SrvRecord));
        n[s] = srv_order(lists[s], q->srv[s]->srv->len, MAX_TARGETS, NULL, NULL);
    }
    q->targets = g_new0(SrvRecord, MAX_TARGETS);
    q->n_targets = (guint)srv_merge(lists[0], n[0], lists[1], n[1], q->targets, MAX_TARGETS);
    g_free(lists[0]);
    g_free(lists[1]);
    query_start_addr(q);
}

static gboolean candidate_known(GPtrArray *out, const ResolveCandidate *c)
{
    for (guint i = 0; i < out->len; i++) {
        const ResolveCandidate *o = g_ptr_array_index(out, i);
        if (o->addr_len == c->addr_len && o->direct_tls == c->direct_tls &&
            memcmp(&o->addr, &c->addr, c->addr_len) == 0)
            return TRUE;
    }
    return FALSE;
}

static void candidate_add(GPtrArray *out, const char *host, const struct sockaddr_storage *addr,
                          socklen_t len, guint16 port, gboolean tls)
{
    ResolveCandidate *c = g_new0(ResolveCandidate, 1);
    memcpy(&c->addr, addr, len);
    c->addr_len = len;
    if (c->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&c->addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&c->addr)->sin6_port = htons(port);
    c->port = port;
    c->direct_tls = tls;
    if (candidate_known(out, c)) {
        g_free(c);
        return;
    }
    c->host = g_strdup(host);
    g_ptr_array_add(out, c);
}

/* Addresses in: candidates in target order, each target's addresses in c-ares' order. */
static void query_addr_done(ResolveQuery *q)
{
    GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)resolve_candidate_free);
    ResolveError code = RESOLVE_ERROR_NOT_FOUND;
    const char *bad_host = NULL;
    int bad_status = ARES_SUCCESS;

    for (guint t = 0; t < q->n_targets && out->len < MAX_CANDIDATES; t++) {
        const SrvRecord *tg = &q->targets[t];
        HostLookup *h = g_ptr_array_index(q->hosts, q->target_host[t]);
        if (!h->answer || h->answer->status != ARES_SUCCESS) {
            int st = h->answer ? h->answer->status : ARES_ENOTFOUND;
            if (!bad_host || worse(code, status_code(st)) != code) {
                bad_host = tg->target; /* the first of the worst kind, for the message */
                bad_status = st;
            }
            code = worse(code, status_code(st));
            if (!q->fallback)
                g_message("resolve: %s: SRV target %s:%u: %s", q->domain, tg->target, tg->port,
                          ares_strerror(st));
            continue;
        }
        for (guint i = 0; i < h->answer->addrs->len && out->len < MAX_CANDIDATES; i++) {
            const ResolveAddr *ra = &g_array_index(h->answer->addrs, ResolveAddr, i);
            candidate_add(out, tg->target, &ra->addr, ra->len, tg->port, tg->direct_tls);
        }
    }
    if (out->len > 0) {
        g_debug("resolve: %s: %u candidates", q->domain, out->len);
        query_finish(q, out, NULL);
        return;
    }
    g_ptr_array_unref(out);
    if (q->fallback) {
        int srv_status = q->srv[1] ? q->srv[1]->status : ARES_ENOTFOUND;
        code = worse(code, status_code(srv_status));
        query_fail(q, code, "%s: no XMPP server found (SRV: %s; A/AAAA: %s)", q->domain,
                   srv_status == ARES_SUCCESS ? "no usable record" : ares_strerror(srv_status),
                   ares_strerror(bad_status));
    } else {
        query_fail(q, code, "%s: none of %u SRV targets has an address (%s: %s)", q->domain,
                   q->n_targets, bad_host, ares_strerror(bad_status));
    }
}

static void query_advance(ResolveQuery *q)
{
    switch (q->state) {
    case QUERY_SRV:
        query_srv_done(q);
        break;
    case QUERY_ADDR:
        query_addr_done(q);
        break;
    case QUERY_DONE:
        break;
    }
}

/* An IP literal domain (RFC 6120 §3.2.1 does SRV for names only): connect to it on 5269. */
static gboolean query_literal(ResolveQuery *q)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    gsize len = strlen(q->domain);
    g_autofree char *inner = NULL;
    GPtrArray *out;

    if (len > 2 && q->domain[0] == '[' && q->domain[len - 1] == ']')
        inner = g_strndup(q->domain + 1, len - 2);
    if (!inner && inet_pton(AF_INET, q->domain, &in4->sin_addr) == 1) {
        ss.ss_family = AF_INET;
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, inner ? inner : q->domain, &in6->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        len = sizeof(*in6);
    } else {
        return FALSE;
    }
    out = g_ptr_array_new_with_free_func((GDestroyNotify)resolve_candidate_free);
    candidate_add(out, q->domain, &ss, (socklen_t)len, XMPP_S2S_PORT, FALSE);
    query_finish(q, out, NULL);
    return TRUE;
}

static gboolean domain_valid(const char *d)
{
    gsize len = strlen(d);
    if (len == 0 || len > 253 || d[0] == '.' || strstr(d, ".."))
        return FALSE;
    for (const char *p = d; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
            return FALSE;
    return TRUE;
}

ResolveQuery *resolver_lookup_s2s(Resolver *r, const char *domain, ResolveDoneFunc cb, gpointer ud)
{
    ResolveQuery *q = g_new0(ResolveQuery, 1);
    gsize len = strlen(domain);

    q->refs = 1;
    q->r = r;
    q->cb = cb;
    q->ud = ud;
    q->live = TRUE;
    q->domain = g_ascii_strdown(domain, len > 1 && domain[len - 1] == '.' ? (gssize)len - 1 : -1);
    g_hash_table_add(r->queries, q);
    if (query_literal(q))
        return q;
    if (!domain_valid(q->domain)) {
        query_fail(q, RESOLVE_ERROR_NOT_FOUND, "\"%s\": not a valid domain (A-labels only)",
                   q->domain);
        return q;
    }
    q->deadline = g_timeout_source_new(r->deadline_ms);
    g_source_set_callback(q->deadline, query_deadline, q, NULL);
    g_source_set_name(q->deadline, "tern-resolve-deadline");
    g_source_attach(q->deadline, r->ctx);
    query_start_srv(q);
    return q;
}

void resolver_cancel(ResolveQuery *q)
{
    if (q && q->cb)
        query_drop(q);
}

void resolver_free(Resolver *r)
{
    GList *queries;

    if (!r)
        return;
    queries = g_hash_table_get_keys(r->queries);
    for (GList *l = queries; l; l = l->next)
        query_drop(l->data);
    g_list_free(queries);
    ares_destroy(r->channel); /* remaining requests end with ARES_EDESTRUCTION */
    resolve_loop_set_channel(r->loop, NULL);
    g_source_destroy(r->loop);
    g_source_unref(r->loop);
    resolve_cache_free(r->cache);
    g_hash_table_destroy(r->queries);
    g_main_context_unref(r->ctx);
    g_free(r);
    ares_library_cleanup();
}

void resolve_candidate_free(ResolveCandidate *c)
{
    if (!c)
        return;
    g_free(c->host);
    g_free(c);
}
