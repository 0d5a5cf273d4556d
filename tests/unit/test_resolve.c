/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* tests/unit/test_resolve.c — RFC 2782 ordering, and the s2s resolver against a real dnsmasq */
#include "s2s/resolve.h"
#include "s2s/resolve_cache.h"
#include "s2s/srv_order.h"
#include "tests/unit/testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- srv_order / srv_merge: pure functions ---- */

static guint64 rand_seeded(guint64 max, gpointer ud)
{
    g_assert_cmpuint(max, <, G_MAXINT32);
    return (guint64)g_rand_int_range(ud, 0, (gint32)max + 1);
}

/* Returns the next value of a script (a GQueue of GUINT_TO_POINTER). */
static guint64 rand_scripted(guint64 max, gpointer ud)
{
    guint64 v = GPOINTER_TO_UINT(g_queue_pop_head(ud));
    g_assert_cmpuint(v, <=, max);
    return v;
}

static void test_srv_order_priority(void)
{
    SrvRecord recs[] = {{"c", 20, 5, 1, FALSE},
                        {"a", 10, 0, 1, FALSE},
                        {"d", 20, 0, 1, FALSE},
                        {"b", 10, 7, 1, FALSE},
                        {"e", 30, 1, 1, FALSE}};
    GRand *rand = g_rand_new_with_seed(7);

    for (int run = 0; run < 200; run++) {
        guint seen = 0;
        g_assert_cmpuint(srv_order(recs, G_N_ELEMENTS(recs), 100, rand_seeded, rand), ==, 5);
        for (guint i = 0; i < G_N_ELEMENTS(recs); i++) {
            if (i > 0)
                g_assert_cmpuint(recs[i - 1].priority, <=, recs[i].priority);
            seen |= 1u << (recs[i].target[0] - 'a');
        }
        g_assert_cmphex(seen, ==, 0x1f); /* a permutation */
        g_assert_cmpstr(recs[4].target, ==, "e");
    }
    g_rand_free(rand);
}

/* RFC 2782's selection exactly: weight-0 first, running sums, first sum >= the random pick. */
static void test_srv_order_rfc_selection(void)
{
    SrvRecord recs[] = {{"A", 1, 10, 1, FALSE}, {"B", 1, 0, 1, FALSE}, {"C", 1, 20, 1, FALSE}};
    GQueue script = G_QUEUE_INIT;

    /* order B(0) A(10) C(20): sums 0, 10, 30. Pick 0 -> B; then A(10) C(20): 11 -> C. */
    g_queue_push_tail(&script, GUINT_TO_POINTER(0));
    g_queue_push_tail(&script, GUINT_TO_POINTER(11));
    g_queue_push_tail(&script, GUINT_TO_POINTER(0));
    srv_order(recs, 3, 3, rand_scripted, &script);
    g_assert_cmpstr(recs[0].target, ==, "B");
    g_assert_cmpstr(recs[1].target, ==, "C");
    g_assert_cmpstr(recs[2].target, ==, "A");
    g_assert_true(g_queue_is_empty(&script));

    /* pick 10 is A's running sum exactly: A; then C(20) alone. */
    recs[0] = (SrvRecord){"A", 1, 10, 1, FALSE};
    recs[1] = (SrvRecord){"B", 1, 0, 1, FALSE};
    recs[2] = (SrvRecord){"C", 1, 20, 1, FALSE};
    g_queue_push_tail(&script, GUINT_TO_POINTER(10));
    g_queue_push_tail(&script, GUINT_TO_POINTER(20));
    g_queue_push_tail(&script, GUINT_TO_POINTER(0));
    srv_order(recs, 3, 3, rand_scripted, &script);
    g_assert_cmpstr(recs[0].target, ==, "A");
    g_assert_cmpstr(recs[1].target, ==, "C");
    g_assert_cmpstr(recs[2].target, ==, "B");
}

static void test_srv_order_weights(void)
{
    const guint16 weights[] = {60, 30, 10, 0};
    guint first[4] = {0}, runs = 40000;
    GRand *rand = g_rand_new_with_seed(2782);

    for (guint run = 0; run < runs; run++) {
        SrvRecord recs[4];
        for (guint i = 0; i < 4; i++)
            recs[i] = (SrvRecord){GUINT_TO_POINTER(i + 1), 5, weights[i], 1, FALSE};
        srv_order(recs, 4, 4, rand_seeded, rand);
        first[GPOINTER_TO_UINT(recs[0].target) - 1]++;
    }
    /* uniform pick in [0, 100]: 0 selects the weight-0 record, 1..60 the first, ... */
    for (guint i = 0; i < 4; i++) {
        double expected = (weights[i] ? weights[i] : 1) / 101.0;
        double got = (double)first[i] / runs;
        g_assert_cmpfloat_with_epsilon(got, expected, 0.01);
    }
    g_assert_cmpuint(first[3], >, 0);
    g_rand_free(rand);
}

static void test_srv_order_cap(void)
{
    guint n = 5000;
    SrvRecord *recs = g_new0(SrvRecord, n);
    GRand *rand = g_rand_new_with_seed(1);

    for (guint i = 0; i < n; i++)
        recs[i] = (SrvRecord){"t", (guint16)(n - i), (guint16)(i * 7919u), 1, FALSE};
    g_assert_cmpuint(srv_order(recs, n, 32, rand_seeded, rand), ==, 32);
    for (guint i = 0; i < 32; i++)
        g_assert_cmpuint(recs[i].priority, ==, i + 1);
    g_assert_cmpuint(srv_order(recs, 0, 32, rand_seeded, rand), ==, 0);
    g_free(recs);
    g_rand_free(rand);
}

static void test_srv_merge(void)
{
    SrvRecord tls[] = {{"t10", 10, 0, 5223, TRUE}, {"t30", 30, 0, 5223, TRUE}};
    SrvRecord tcp[] = {
        {"p5", 5, 0, 5269, FALSE}, {"p10", 10, 0, 5269, FALSE}, {"p20", 20, 0, 5269, FALSE}};
    const char *want[] = {"p5", "t10", "p10", "p20", "t30"};
    SrvRecord out[5];

    g_assert_cmpuint(srv_merge(tls, 2, tcp, 3, out, 5), ==, 5);
    for (guint i = 0; i < 5; i++)
        g_assert_cmpstr(out[i].target, ==, want[i]);
    g_assert_cmpuint(srv_merge(tls, 2, tcp, 3, out, 2), ==, 2);
    g_assert_cmpstr(out[1].target, ==, "t10");
    g_assert_cmpuint(srv_merge(NULL, 0, tcp, 1, out, 5), ==, 1);
}

/* ---- the TTL walk over raw replies, and the cache ---- */

/* A reply for _x._tcp.a.test SRV with two answers (TTL 300 and 120, names compressed). */
/* clang-format off */
static const unsigned char srv_reply[] = {
    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,                          /* header */
    2, '_', 'x', 4, '_', 't', 'c', 'p', 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 33, 0, 1, /* q */
    0xC0, 12, 0, 33, 0, 1, 0, 0, 0x01, 0x2C, 0, 8, 0, 1, 0, 1, 0x14, 0x95, 0xC0, 20,
    0xC0, 12, 0, 33, 0, 1, 0, 0, 0x00, 0x78, 0, 8, 0, 2, 0, 1, 0x14, 0x95, 0xC0, 20};
/* clang-format on */

static void test_dns_min_ttl(void)
{
    unsigned char m[sizeof(srv_reply)];

    g_assert_cmpint(resolve_dns_min_ttl(srv_reply, sizeof(srv_reply)), ==, 120);
    /* every truncation is malformed, never a read past the end (ASan) */
    for (gsize len = 0; len < sizeof(srv_reply); len++) {
        unsigned char *copy = g_memdup2(srv_reply, len);
        g_assert_cmpint(resolve_dns_min_ttl(copy, len), ==, -1);
        g_free(copy);
    }
    memcpy(m, srv_reply, sizeof(m));
    m[7] = 0; /* no answers */
    g_assert_cmpint(resolve_dns_min_ttl(m, sizeof(m)), ==, -1);
    memcpy(m, srv_reply, sizeof(m));
    m[7] = 200; /* more answers than the message holds */
    g_assert_cmpint(resolve_dns_min_ttl(m, sizeof(m)), ==, -1);
    memcpy(m, srv_reply, sizeof(m));
    m[12] = 0x40; /* a reserved label type */
    g_assert_cmpint(resolve_dns_min_ttl(m, sizeof(m)), ==, -1);
    memcpy(m, srv_reply, sizeof(m));
    m[12] = 63; /* a label running past the end */
    g_assert_cmpint(resolve_dns_min_ttl(m, sizeof(m)), ==, -1);
    memcpy(m, srv_reply, sizeof(m));
    m[58] = 0x80; /* TTL with the top bit set counts as 0 (RFC 2181 §8) */
    g_assert_cmpint(resolve_dns_min_ttl(m, sizeof(m)), ==, 0);
    g_assert_cmpint(resolve_dns_min_ttl(NULL, 0), ==, -1);
}

static void test_srv_answer(void)
{
    gint64 ttl = 0;
    ResolveAnswer *a =
        resolve_answer_from_srv(ARES_SUCCESS, srv_reply, sizeof(srv_reply), TRUE, &ttl);
    g_assert_cmpint(a->status, ==, ARES_SUCCESS);
    g_assert_cmpint(ttl, ==, 120);
    g_assert_false(a->no_service);
    g_assert_cmpuint(a->srv->len, ==, 2);
    g_assert_cmpstr(g_array_index(a->srv, SrvRecord, 0).target, ==, "a.test");
    g_assert_cmpuint(g_array_index(a->srv, SrvRecord, 1).priority, ==, 2);
    g_assert_cmpuint(g_array_index(a->srv, SrvRecord, 1).port, ==, 5269);
    g_assert_true(g_array_index(a->srv, SrvRecord, 1).direct_tls);
    resolve_answer_unref(a);
    a = resolve_answer_from_srv(ARES_ENOTFOUND, NULL, 0, FALSE, &ttl);
    g_assert_cmpint(ttl, ==, RESOLVE_TTL_NEGATIVE);
    resolve_answer_unref(a);
    a = resolve_answer_from_srv(ARES_ETIMEOUT, NULL, 0, FALSE, &ttl);
    g_assert_cmpint(ttl, <=, 0); /* failures are not cached */
    resolve_answer_unref(a);
}

static void test_cache_bounds(void)
{
    ResolveCache *c = resolve_cache_new(100);
    gint64 ttl;
    ResolveAnswer *a = resolve_answer_from_srv(ARES_ENOTFOUND, NULL, 0, FALSE, &ttl), *got;

    for (guint i = 0; i < 250; i++) {
        g_autofree char *key = g_strdup_printf("srv:k%u", i);
        resolve_cache_put(c, key, a, 60);
        g_assert_cmpuint(resolve_cache_size(c), <=, 100);
    }
    g_assert_null(resolve_cache_get(c, "srv:k149")); /* the oldest went first */
    got = resolve_cache_get(c, "srv:k150");
    g_assert_true(got == a);
    resolve_answer_unref(got);
    resolve_cache_put(c, "srv:k150", a, 60); /* replacing does not grow it */
    g_assert_cmpuint(resolve_cache_size(c), ==, 100);
    resolve_cache_put(c, "srv:zero", a, 0); /* TTL 0: not stored */
    g_assert_null(resolve_cache_get(c, "srv:zero"));
    resolve_cache_free(c);
    resolve_answer_unref(a);
}

/* ---- a real DNS server: dnsmasq on 127.0.0.1 and a free port ---- */

typedef struct {
    GPid pid;
    guint16 port;
    char *dir;
} Dns;

static guint16 free_port(int type)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, type, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &len), ==, 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static gboolean tcp_accepts(guint16 port)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    gboolean ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* No stray dnsmasq when an assertion aborts the test (PR_SET_PDEATHSIG does not survive
 * dnsmasq's change of credentials). */
static volatile sig_atomic_t dns_pids[4];

static void dns_kill_all(int sig)
{
    for (guint i = 0; i < G_N_ELEMENTS(dns_pids); i++)
        if (dns_pids[i] > 0)
            kill(dns_pids[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void dns_track(GPid pid, gboolean add)
{
    for (guint i = 0; i < G_N_ELEMENTS(dns_pids); i++) {
        if (add ? dns_pids[i] == 0 : dns_pids[i] == pid) {
            dns_pids[i] = add ? pid : 0;
            return;
        }
    }
    g_assert_false(add);
}

static void dns_stop(Dns *d)
{
    if (!d)
        return;
    if (d->pid > 0) {
        dns_track(d->pid, FALSE);
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        g_spawn_close_pid(d->pid);
    }
    if (d->dir) {
        g_autofree char *conf = g_build_filename(d->dir, "dnsmasq.conf", NULL);
        g_autofree char *log = g_build_filename(d->dir, "dnsmasq.log", NULL);
        g_unlink(conf);
        g_unlink(log);
        g_rmdir(d->dir);
        g_free(d->dir);
    }
    g_free(d);
}

/* Starts dnsmasq with the given config lines; NULL (and the test failed) when it cannot. */
static Dns *dns_start(const char *records)
{
    g_autofree char *bin = g_find_program_in_path("dnsmasq");
    if (!bin && g_file_test("/usr/sbin/dnsmasq", G_FILE_TEST_IS_EXECUTABLE))
        bin = g_strdup("/usr/sbin/dnsmasq");
    if (!bin) {
        g_test_fail_printf("dnsmasq not found: install dnsmasq-base (tools/install-deps.sh)");
        return NULL;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        Dns *d = g_new0(Dns, 1);
        GError *err = NULL;
        d->dir = g_dir_make_tmp("tern-dns-XXXXXX", &err);
        g_assert_no_error(err);
        g_autofree char *conf = g_build_filename(d->dir, "dnsmasq.conf", NULL);
        g_autofree char *log = g_build_filename(d->dir, "dnsmasq.log", NULL);
        guint16 port = free_port(SOCK_DGRAM);
        g_autofree char *text =
            g_strdup_printf("no-resolv\nno-hosts\nlocal=/test/\nlocal-ttl=60\nport=%u\n"
                            "listen-address=127.0.0.1\nbind-interfaces\n%s",
                            port, records);
        g_autofree char *conf_arg = g_strconcat("--conf-file=", conf, NULL);
        g_autofree char *log_arg = g_strconcat("--log-facility=", log, NULL);
        char *argv[] = {bin,      "--keep-in-foreground",
                        conf_arg, "--pid-file=",
                        log_arg,  geteuid() == 0 ? "--user=root" : NULL,
                        NULL};

        g_assert_true(g_file_set_contents(conf, text, -1, &err));
        g_assert_no_error(err);
        if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                           NULL, NULL, &d->pid, &err)) {
            g_test_fail_printf("cannot start dnsmasq: %s", err->message);
            g_error_free(err);
            dns_stop(d);
            return NULL;
        }
        d->port = port;
        dns_track(d->pid, TRUE);
        for (int i = 0; i < 250; i++) { /* up to 5 s */
            if (tcp_accepts(port))
                return d;
            if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
                dns_track(d->pid, FALSE);
                g_spawn_close_pid(d->pid);
                d->pid = 0; /* it exited: the port was taken meanwhile, try another */
                break;
            }
            g_usleep(20000);
        }
        dns_stop(d);
    }
    g_test_fail_printf("dnsmasq did not start");
    return NULL;
}

/* The zones most tests use: one dnsmasq for the whole binary. */
static const char shared_zones[] =
    /* two priorities and weights */
    "srv-host=_xmpp-server._tcp.order.test,hi.order.test,5269,5,0\n"
    "srv-host=_xmpp-server._tcp.order.test,lo1.order.test,5270,10,50\n"
    "srv-host=_xmpp-server._tcp.order.test,lo2.order.test,5271,10,50\n"
    "host-record=hi.order.test,127.0.1.1\n"
    "host-record=lo1.order.test,127.0.1.2\n"
    "host-record=lo2.order.test,127.0.1.3\n"
    /* XEP-0368: xmpps and xmpp merged by priority, direct TLS first at equal priority */
    "srv-host=_xmpps-server._tcp.merged.test,tls.merged.test,5223,10,0\n"
    "srv-host=_xmpps-server._tcp.merged.test,last.merged.test,5223,20,0\n"
    "srv-host=_xmpp-server._tcp.merged.test,tcp.merged.test,5269,10,0\n"
    "srv-host=_xmpp-server._tcp.merged.test,first.merged.test,5269,5,0\n"
    "host-record=tls.merged.test,127.0.2.1\n"
    "host-record=tcp.merged.test,127.0.2.2\n"
    "host-record=first.merged.test,127.0.2.3,fd00::2:3\n"
    "host-record=last.merged.test,127.0.2.4\n"
    /* "." target: the service is not offered, no fallback to the A record */
    "srv-host=_xmpp-server._tcp.dot.test\n"
    "host-record=dot.test,127.0.3.1\n"
    "srv-host=_xmpps-server._tcp.dottls.test\n"
    "srv-host=_xmpp-server._tcp.dottls.test,x.dottls.test,5269,0,0\n"
    "host-record=x.dottls.test,127.0.4.1\n"
    /* no SRV: A/AAAA of the domain on 5269 */
    "host-record=plain.test,127.0.5.1,fd00::5:1\n"
    /* an SRV target without an address */
    "srv-host=_xmpp-server._tcp.badtarget.test,nowhere.badtarget.test,5269,0,0\n";

static Dns *shared_dns;

static Dns *dns_shared(void)
{
    if (!shared_dns) {
        GString *z = g_string_new(shared_zones);
        /* a hostile answer: 300 SRV records (more than a UDP reply holds: TCP retry) */
        for (guint i = 0; i < 300; i++)
            g_string_append_printf(z,
                                   "srv-host=_xmpp-server._tcp.many.test,t%u.many.test,%u,%u,%u\n"
                                   "host-record=t%u.many.test,127.1.%u.%u\n",
                                   i, 6000 + i, i % 7, i % 13, i, i / 200, i % 200 + 1);
        /* two targets with 40 addresses each: the candidate cap (64) */
        g_string_append(z, "srv-host=_xmpp-server._tcp.wide.test,w1.wide.test,5269,0,0\n"
                           "srv-host=_xmpp-server._tcp.wide.test,w2.wide.test,5269,1,0\n");
        for (guint i = 1; i <= 40; i++)
            g_string_append_printf(z,
                                   "host-record=w1.wide.test,127.2.1.%u\n"
                                   "host-record=w2.wide.test,127.2.2.%u\n",
                                   i, i);
        shared_dns = dns_start(z->str);
        g_string_free(z, TRUE);
    }
    return shared_dns;
}

static Resolver *resolver_for(guint16 port)
{
    GError *err = NULL;
    g_autofree char *servers = g_strdup_printf("127.0.0.1:%u", port);
    Resolver *r = resolver_new(servers, &err);
    g_assert_no_error(err);
    g_assert_nonnull(r);
    return r;
}

typedef struct {
    int calls;
    GPtrArray *cands;
    GError *error;
    Resolver *free_me; /* resolver_free from inside the callback */
} Result;

static void on_done(GPtrArray *cands, const GError *error, gpointer ud)
{
    Result *res = ud;
    res->calls++;
    g_assert_true((cands != NULL) != (error != NULL));
    if (cands)
        g_assert_cmpuint(cands->len, >, 0);
    res->cands = cands;
    res->error = error ? g_error_copy(error) : NULL;
    if (res->free_me)
        resolver_free(g_steal_pointer(&res->free_me));
}

static void result_clear(Result *res)
{
    if (res->cands)
        g_ptr_array_unref(res->cands);
    g_clear_error(&res->error);
    memset(res, 0, sizeof(*res));
}

/* Looks domain up and waits: the callback must come from the loop, exactly once. */
static void lookup(Resolver *r, const char *domain, Result *res)
{
    memset(res, 0, sizeof(*res));
    resolver_lookup_s2s(r, domain, on_done, res);
    g_assert_cmpint(res->calls, ==, 0);
    RUN_UNTIL(res->calls > 0);
    run_for(20);
    g_assert_cmpint(res->calls, ==, 1);
}

/* "host addr port [tls]" */
static char *cand_str(const ResolveCandidate *c)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    guint16 port;
    if (c->addr.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&c->addr;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
        g_assert_cmpuint(c->addr_len, ==, sizeof(*s));
    } else {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&c->addr;
        g_assert_cmpint(c->addr.ss_family, ==, AF_INET6);
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
        g_assert_cmpuint(c->addr_len, ==, sizeof(*s));
    }
    g_assert_cmpuint(port, ==, c->port);
    return g_strdup_printf("%s %s %u%s", c->host, ip, c->port, c->direct_tls ? " tls" : "");
}

static void assert_cand(const Result *res, guint i, const char *want)
{
    g_autofree char *got = NULL;
    g_assert_nonnull(res->cands);
    g_assert_cmpuint(i, <, res->cands->len);
    got = cand_str(g_ptr_array_index(res->cands, i));
    g_assert_cmpstr(got, ==, want);
}

static void assert_error(const Result *res, ResolveError code, const char *in_message)
{
    g_assert_null(res->cands);
    g_assert_error(res->error, RESOLVE_ERROR, (gint)code);
    g_assert_nonnull(strstr(res->error->message, in_message));
}

/* ---- resolver tests ---- */

static void test_priority_order(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    gboolean seen_12 = FALSE, seen_21 = FALSE;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    for (int run = 0; run < 20; run++) { /* weighted order is drawn per lookup, cache or not */
        Result res;
        g_autofree char *second = NULL;
        lookup(r, "order.test", &res);
        g_assert_cmpuint(res.cands->len, ==, 3);
        assert_cand(&res, 0, "hi.order.test 127.0.1.1 5269");
        second = cand_str(g_ptr_array_index(res.cands, 1));
        if (g_str_equal(second, "lo1.order.test 127.0.1.2 5270")) {
            assert_cand(&res, 2, "lo2.order.test 127.0.1.3 5271");
            seen_12 = TRUE;
        } else {
            assert_cand(&res, 1, "lo2.order.test 127.0.1.3 5271");
            assert_cand(&res, 2, "lo1.order.test 127.0.1.2 5270");
            seen_21 = TRUE;
        }
        result_clear(&res);
    }
    g_assert_true(seen_12 && seen_21); /* fails with probability 2^-19 */
    resolver_free(r);
}

static void test_xmpps_merged(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res;
    g_autofree char *a = NULL, *b = NULL;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    lookup(r, "Merged.Test.", &res); /* case and a trailing dot do not matter */
    g_assert_cmpuint(res.cands->len, ==, 5);
    a = cand_str(g_ptr_array_index(res.cands, 0));
    b = cand_str(g_ptr_array_index(res.cands, 1));
    /* both families of the first target, in c-ares' (RFC 6724) order */
    g_assert_true((g_str_equal(a, "first.merged.test 127.0.2.3 5269") &&
                   g_str_equal(b, "first.merged.test fd00::2:3 5269")) ||
                  (g_str_equal(b, "first.merged.test 127.0.2.3 5269") &&
                   g_str_equal(a, "first.merged.test fd00::2:3 5269")));
    assert_cand(&res, 2, "tls.merged.test 127.0.2.1 5223 tls");
    assert_cand(&res, 3, "tcp.merged.test 127.0.2.2 5269");
    assert_cand(&res, 4, "last.merged.test 127.0.2.4 5223 tls");
    result_clear(&res);
    resolver_free(r);
}

static void test_dot_target(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    lookup(r, "dot.test", &res); /* has an A record, which must not be used */
    assert_error(&res, RESOLVE_ERROR_NOT_FOUND, "dot.test");
    result_clear(&res);
    lookup(r, "dottls.test", &res); /* "." for xmpps only: plain xmpp still offered */
    g_assert_cmpuint(res.cands->len, ==, 1);
    assert_cand(&res, 0, "x.dottls.test 127.0.4.1 5269");
    result_clear(&res);
    resolver_free(r);
}

static void test_fallback(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res;
    g_autofree char *a = NULL, *b = NULL;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    lookup(r, "plain.test", &res);
    g_assert_cmpuint(res.cands->len, ==, 2);
    a = cand_str(g_ptr_array_index(res.cands, 0));
    b = cand_str(g_ptr_array_index(res.cands, 1));
    g_assert_true((g_str_equal(a, "plain.test 127.0.5.1 5269") &&
                   g_str_equal(b, "plain.test fd00::5:1 5269")) ||
                  (g_str_equal(b, "plain.test 127.0.5.1 5269") &&
                   g_str_equal(a, "plain.test fd00::5:1 5269")));
    result_clear(&res);
    resolver_free(r);
}

static void test_not_found(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    lookup(r, "nx.test", &res);
    assert_error(&res, RESOLVE_ERROR_NOT_FOUND, "nx.test");
    result_clear(&res);
    lookup(r, "badtarget.test", &res);
    assert_error(&res, RESOLVE_ERROR_NOT_FOUND, "badtarget.test");
    result_clear(&res);
    for (guint i = 0; i < 3; i++) {
        static const char *const bad[] = {"", "a..test", "white space.test"};
        lookup(r, bad[i], &res);
        g_assert_error(res.error, RESOLVE_ERROR, RESOLVE_ERROR_NOT_FOUND);
        result_clear(&res);
    }
    resolver_free(r);
}

static void test_ip_literal(void)
{
    Resolver *r = resolver_for(free_port(SOCK_DGRAM)); /* no DNS needed */
    Result res;
    lookup(r, "127.0.0.9", &res);
    g_assert_cmpuint(res.cands->len, ==, 1);
    assert_cand(&res, 0, "127.0.0.9 127.0.0.9 5269");
    result_clear(&res);
    lookup(r, "[::1]", &res);
    assert_cand(&res, 0, "[::1] ::1 5269");
    result_clear(&res);
    resolver_free(r);
}

static void test_many_records(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res;
    GHashTable *hosts;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    hosts = g_hash_table_new(g_str_hash, g_str_equal);
    lookup(r, "many.test", &res);
    g_assert_cmpuint(res.cands->len, ==, 32); /* 32 targets tried, one address each */
    for (guint i = 0; i < res.cands->len; i++) {
        ResolveCandidate *c = g_ptr_array_index(res.cands, i);
        g_assert_true(g_str_has_suffix(c->host, ".many.test"));
        g_assert_cmpuint(c->port, >=, 6000);
        g_hash_table_add(hosts, c->host);
        if (i > 0) /* priority order survives the cap: priorities are i % 7 */
            g_assert_cmpuint(
                (c->port - 6000) % 7, >=,
                (((ResolveCandidate *)g_ptr_array_index(res.cands, i - 1))->port - 6000) % 7);
    }
    g_assert_cmpuint(g_hash_table_size(hosts), ==, 32);
    g_hash_table_destroy(hosts);
    result_clear(&res);

    lookup(r, "wide.test", &res);
    g_assert_cmpuint(res.cands->len, ==, 64);
    for (guint i = 0; i < 64; i++)
        g_assert_cmpstr(((ResolveCandidate *)g_ptr_array_index(res.cands, i))->host, ==,
                        i < 40 ? "w1.wide.test" : "w2.wide.test");
    result_clear(&res);
    resolver_free(r);
}

/* Cached answers survive the DNS server going away, and come from an idle. */
static void test_cache(void)
{
    Dns *dns = dns_start("srv-host=_xmpp-server._tcp.c.test,s.c.test,5269,0,0\n"
                         "host-record=s.c.test,127.0.6.1\n"
                         "host-record=plain.test,127.0.6.2\n");
    Resolver *r;
    Result res;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    lookup(r, "c.test", &res);
    assert_cand(&res, 0, "s.c.test 127.0.6.1 5269");
    result_clear(&res);
    lookup(r, "plain.test", &res);
    result_clear(&res);
    lookup(r, "nx.test", &res);
    result_clear(&res);
    dns_stop(dns);

    lookup(r, "c.test", &res); /* lookup() asserts: no call before the loop runs */
    g_assert_cmpuint(res.cands->len, ==, 1);
    assert_cand(&res, 0, "s.c.test 127.0.6.1 5269");
    result_clear(&res);
    lookup(r, "plain.test", &res); /* negative SRV and positive A from the cache */
    assert_cand(&res, 0, "plain.test 127.0.6.2 5269");
    result_clear(&res);
    lookup(r, "nx.test", &res); /* the negative answer is cached too */
    assert_error(&res, RESOLVE_ERROR_NOT_FOUND, "nx.test");
    result_clear(&res);
    lookup(r, "other.test", &res); /* not cached: the server is gone */
    g_assert_error(res.error, RESOLVE_ERROR, RESOLVE_ERROR_FAILED);
    g_assert_nonnull(strstr(res.error->message, "other.test"));
    result_clear(&res);
    resolver_free(r);
}

/* Nothing listens on the port: an error naming the domain, well within the deadline. */
static void test_unreachable(void)
{
    Resolver *r = resolver_for(free_port(SOCK_DGRAM));
    Result res;
    gint64 t0 = g_get_monotonic_time();
    lookup(r, "unreachable.test", &res);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 16 * G_USEC_PER_SEC);
    g_assert_null(res.cands);
    g_assert_nonnull(res.error);
    g_assert_true(res.error->code == RESOLVE_ERROR_FAILED ||
                  res.error->code == RESOLVE_ERROR_TIMEOUT);
    g_assert_nonnull(strstr(res.error->message, "unreachable.test"));
    result_clear(&res);
    resolver_free(r);
}

static int blackhole_open(guint16 *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &len), ==, 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* A server that never answers: the query's deadline fires RESOLVE_ERROR_TIMEOUT. */
static void test_deadline(void)
{
    guint16 port;
    int fd = blackhole_open(&port);
    Resolver *r = resolver_for(port);
    Result res;
    gint64 t0 = g_get_monotonic_time(), dt;
    resolver_set_deadline(r, 700);
    lookup(r, "silent.test", &res);
    dt = g_get_monotonic_time() - t0;
    g_assert_cmpint(dt, >=, 650 * 1000);
    g_assert_cmpint(dt, <, 3 * G_USEC_PER_SEC);
    assert_error(&res, RESOLVE_ERROR_TIMEOUT, "silent.test");
    result_clear(&res);
    resolver_free(r);
    close(fd);
}

/* Without the short deadline: c-ares' own timeouts (2 s, 2 tries, SRV then A) end it. */
static void test_timeout_slow(void)
{
    guint16 port;
    int fd;
    Resolver *r;
    Result res;
    gint64 t0 = g_get_monotonic_time();
    if (!g_test_slow()) {
        g_test_skip("takes ~12 s; run with -m slow");
        return;
    }
    fd = blackhole_open(&port);
    r = resolver_for(port);
    lookup(r, "silent.test", &res);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 16 * G_USEC_PER_SEC);
    assert_error(&res, RESOLVE_ERROR_TIMEOUT, "silent.test");
    result_clear(&res);
    resolver_free(r);
    close(fd);
}

static void test_cancel(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result res = {0}, cached = {0}, other;
    ResolveQuery *q;
    if (!dns)
        return;
    r = resolver_for(dns->port);
    q = resolver_lookup_s2s(r, "order.test", on_done, &res); /* in flight */
    resolver_cancel(q);
    lookup(r, "merged.test", &other); /* the loop turns; the other query is answered */
    result_clear(&other);
    run_for(200);
    g_assert_cmpint(res.calls, ==, 0);

    lookup(r, "plain.test", &other);
    result_clear(&other);
    q = resolver_lookup_s2s(r, "plain.test", on_done, &cached); /* a cache hit: idle pending */
    resolver_cancel(q);
    resolver_cancel(NULL);
    run_for(100);
    g_assert_cmpint(cached.calls, ==, 0);
    resolver_free(r);
}

/* resolver_free with queries pending: no callback, nothing leaks (ASan). */
static void test_free_pending(void)
{
    Dns *dns = dns_shared();
    guint16 port;
    int fd = blackhole_open(&port);
    Resolver *r, *silent;
    Result a = {0}, b = {0}, c = {0};
    if (!dns) {
        close(fd);
        return;
    }
    r = resolver_for(dns->port);
    lookup(r, "plain.test", &c);
    result_clear(&c);
    resolver_lookup_s2s(r, "order.test", on_done, &a);
    resolver_lookup_s2s(r, "plain.test", on_done, &c); /* cache hit, idle pending */
    silent = resolver_for(port);
    resolver_lookup_s2s(silent, "silent.test", on_done, &b); /* sent, never answered */
    resolver_free(r);
    resolver_free(silent);
    resolver_free(NULL);
    run_for(100);
    g_assert_cmpint(a.calls + b.calls + c.calls, ==, 0);
    close(fd);
}

/* The callback may free the resolver, with other queries still pending. */
static void test_free_from_callback(void)
{
    Dns *dns = dns_shared();
    Resolver *r;
    Result first = {0}, second = {0};
    if (!dns)
        return;
    r = resolver_for(dns->port);
    first.free_me = r;
    resolver_lookup_s2s(r, "127.0.0.1", on_done, &first); /* answered from an idle */
    resolver_lookup_s2s(r, "order.test", on_done, &second);
    RUN_UNTIL(first.calls > 0);
    run_for(200);
    g_assert_cmpint(first.calls, ==, 1);
    g_assert_cmpint(second.calls, ==, 0);
    result_clear(&first);
}

static void test_bad_servers(void)
{
    GError *err = NULL;
    Resolver *r = resolver_new("not an address", &err);
    g_assert_null(r);
    g_assert_error(err, RESOLVE_ERROR, RESOLVE_ERROR_FAILED);
    g_assert_nonnull(strstr(err->message, "not an address"));
    g_clear_error(&err);
    r = resolver_new("", &err); /* the system's resolv.conf */
    g_assert_no_error(err);
    resolver_free(r);
}

int main(int argc, char **argv)
{
    int rc;
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, dns_kill_all);
    signal(SIGSEGV, dns_kill_all);
    g_test_add_func("/srv_order/priority", test_srv_order_priority);
    g_test_add_func("/srv_order/rfc_selection", test_srv_order_rfc_selection);
    g_test_add_func("/srv_order/weights", test_srv_order_weights);
    g_test_add_func("/srv_order/cap", test_srv_order_cap);
    g_test_add_func("/srv_order/merge", test_srv_merge);
    g_test_add_func("/resolve_cache/dns_min_ttl", test_dns_min_ttl);
    g_test_add_func("/resolve_cache/srv_answer", test_srv_answer);
    g_test_add_func("/resolve_cache/bounds", test_cache_bounds);
    g_test_add_func("/resolve/priority_order", test_priority_order);
    g_test_add_func("/resolve/xmpps_merged", test_xmpps_merged);
    g_test_add_func("/resolve/dot_target", test_dot_target);
    g_test_add_func("/resolve/fallback", test_fallback);
    g_test_add_func("/resolve/not_found", test_not_found);
    g_test_add_func("/resolve/ip_literal", test_ip_literal);
    g_test_add_func("/resolve/many_records", test_many_records);
    g_test_add_func("/resolve/cache", test_cache);
    g_test_add_func("/resolve/unreachable", test_unreachable);
    g_test_add_func("/resolve/deadline", test_deadline);
    g_test_add_func("/resolve/timeout_slow", test_timeout_slow);
    g_test_add_func("/resolve/cancel", test_cancel);
    g_test_add_func("/resolve/free_pending", test_free_pending);
    g_test_add_func("/resolve/free_from_callback", test_free_from_callback);
    g_test_add_func("/resolve/bad_servers", test_bad_servers);
    rc = g_test_run();
    dns_stop(shared_dns);
    return rc;
}
