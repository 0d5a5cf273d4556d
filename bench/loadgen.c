/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/loadgen.c — XMPP load generator: options, phases (register, log in, traffic or idle),
 * the report. One thread, one epoll set; see bench/README section in docs/performance.md. */
#include "bench/loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#define NS_PER_S 1000000000.0
#define DRAIN_NS 2000000000ull /* after the run: wait this long for messages in flight */

typedef struct {
    long rss_start, anon_start; /* before the sessions (after registration) */
    long rss_ready, anon_ready; /* all sessions up */
    long rss_end, anon_end, rss_peak;
    double cpu_win;  /* server CPU seconds in the measured window (traffic) or hold (idle) */
    double wait_win; /* server seconds runnable but without a CPU: other load on the machine */
    double self_cpu_win;
    double loadavg; /* 1-minute load average at the start */
    double setup_s;
    double register_s;
    int established; /* sessions up after the setup */
    int senders;
    uint64_t undelivered;
} Report;

static gboolean interrupted;

static void on_sigint(int sig)
{
    interrupted = TRUE;
}

/* ---- options ---- */

static gboolean parse_tls(const char *s, LgTls *out)
{
    if (!strcmp(s, "none") || !strcmp(s, "plain"))
        *out = LG_TLS_NONE;
    else if (!strcmp(s, "starttls"))
        *out = LG_TLS_STARTTLS;
    else if (!strcmp(s, "direct"))
        *out = LG_TLS_DIRECT;
    else
        return FALSE;
    return TRUE;
}

static gboolean parse_mech(const char *s, LgMech *out)
{
    if (!g_ascii_strcasecmp(s, "SCRAM-SHA-1"))
        *out = LG_MECH_SCRAM_SHA1;
    else if (!g_ascii_strcasecmp(s, "SCRAM-SHA-256"))
        *out = LG_MECH_SCRAM_SHA256;
    else if (!g_ascii_strcasecmp(s, "PLAIN"))
        *out = LG_MECH_PLAIN;
    else
        return FALSE;
    return TRUE;
}

static gboolean parse_ipv4(const char *s, guint32 *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return FALSE;
    *out = ntohl(a.s_addr);
    return TRUE;
}

/* "127.0.0.1-127.0.0.8" or "127.0.0.1,127.0.0.2" */
static gboolean parse_src(LgRun *run, const char *spec)
{
    g_auto(GStrv) items = g_strsplit(spec, ",", -1);
    GArray *a = g_array_new(FALSE, TRUE, sizeof(struct sockaddr_in));
    for (char **it = items; *it; it++) {
        g_strstrip(*it);
        if (!**it)
            continue;
        char *dash = strchr(*it, '-');
        guint32 lo, hi;
        if (dash)
            *dash = '\0';
        if (!parse_ipv4(*it, &lo) || !parse_ipv4(dash ? dash + 1 : *it, &hi) || hi < lo ||
            hi - lo > 1024) {
            g_array_free(a, TRUE);
            return FALSE;
        }
        for (guint32 v = lo; v <= hi; v++) {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(v)};
            g_array_append_val(a, sa);
        }
    }
    run->nsrc = (int)a->len;
    run->src = (struct sockaddr_in *)g_array_free(a, FALSE);
    return run->nsrc > 0;
}

static gboolean resolve_dst(const char *host, int port, struct sockaddr_in *dst)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return FALSE;
    memcpy(dst, res->ai_addr, sizeof *dst);
    dst->sin_port = htons((guint16)port);
    freeaddrinfo(res);
    return TRUE;
}

static int parse_options(LgRun *run, int argc, char **argv)
{
    LgOptions *o = &run->opt;
    g_autofree char *tls = NULL, *mech = NULL;
    *o = (LgOptions){
        .port = 5222, .duration = 10, .warmup = 1, .concurrency = 100, .setup_timeout = 120};
    GOptionEntry entries[] = {
        {"host", 0, 0, G_OPTION_ARG_STRING, &o->host, "server address (127.0.0.1)", "HOST"},
        {"port", 0, 0, G_OPTION_ARG_INT, &o->port, "server port (5222)", "PORT"},
        {"domain", 0, 0, G_OPTION_ARG_STRING, &o->domain, "XMPP domain (localhost)", "DOMAIN"},
        {"host2", 0, 0, G_OPTION_ARG_STRING, &o->host2,
         "second server: odd sessions (2k+1) use it, so every pair crosses s2s", "HOST"},
        {"port2", 0, 0, G_OPTION_ARG_INT, &o->port2, "second server's port (--port)", "PORT"},
        {"domain2", 0, 0, G_OPTION_ARG_STRING, &o->domain2, "second server's XMPP domain",
         "DOMAIN"},
        {"users", 0, 0, G_OPTION_ARG_INT, &o->users, "accounts user0..userN-1 (= sessions)", "N"},
        {"sessions", 0, 0, G_OPTION_ARG_INT, &o->sessions,
         "connections; session i is user(i mod N)/lg<i> (= 2 x pairs, or users with --idle)", "N"},
        {"pairs", 0, 0, G_OPTION_ARG_INT, &o->pairs, "pairs exchanging messages (100)", "N"},
        {"rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->rate, "total messages/s (0 = flat out)", "R"},
        {"window", 0, 0, G_OPTION_ARG_INT, &o->window,
         "messages in flight per sender (16 flat out, 1000 at a rate)", "N"},
        {"duration", 0, 0, G_OPTION_ARG_DOUBLE, &o->duration, "seconds measured (10)", "S"},
        {"warmup", 0, 0, G_OPTION_ARG_DOUBLE, &o->warmup, "seconds before measuring (1)", "S"},
        {"tls", 0, 0, G_OPTION_ARG_STRING, &tls, "none, starttls or direct (none)", "MODE"},
        {"mech", 0, 0, G_OPTION_ARG_STRING, &mech, "SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN", "M"},
        {"password", 0, 0, G_OPTION_ARG_STRING, &o->password, "every account's password", "PW"},
        {"register", 0, 0, G_OPTION_ARG_NONE, &o->do_register,
         "create the accounts first (XEP-0077 in-band registration)", NULL},
        {"src-addrs", 0, 0, G_OPTION_ARG_STRING, &o->src_addrs,
         "source addresses, e.g. 127.0.0.1-127.0.0.8", "RANGE"},
        {"server-pid", 0, 0, G_OPTION_ARG_INT, &o->server_pid, "read the server's RSS and CPU",
         "PID"},
        {"idle", 0, 0, G_OPTION_ARG_NONE, &o->idle,
         "hold the sessions for --duration, report RSS per session", NULL},
        {"presence", 0, 0, G_OPTION_ARG_NONE, &o->presence,
         "send initial presence with --idle too (always in traffic runs)", NULL},
        {"concurrency", 0, 0, G_OPTION_ARG_INT, &o->concurrency, "logins in progress (100)", "N"},
        {"to-bare", 0, 0, G_OPTION_ARG_NONE, &o->to_bare, "address messages to bare JIDs", NULL},
        {"type", 0, 0, G_OPTION_ARG_STRING, &o->msg_type,
         "message type: chat (default), normal or headline (not archived, XEP-0313 §5.1.1)",
         "TYPE"},
        {"payload", 0, 0, G_OPTION_ARG_INT, &o->payload, "filler bytes per body (0)", "N"},
        {"timeout", 0, 0, G_OPTION_ARG_DOUBLE, &o->setup_timeout,
         "seconds allowed for registration and for logging in (120)", "S"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &o->json, "print the result as JSON", NULL},
        {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "no progress on stderr", NULL},
        {NULL, 0, 0, 0, NULL, NULL, NULL},
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("— XMPP load generator");
    g_option_context_add_main_entries(ctx, entries, NULL);
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "loadgen: %s\n", err->message);
        return 2;
    }
    if (!o->host)
        o->host = g_strdup("127.0.0.1");
    if (!o->domain)
        o->domain = g_strdup("localhost");
    if ((o->port2 || o->domain2) && !o->host2)
        o->host2 = g_strdup(o->host);
    if (o->host2) {
        if (!o->port2)
            o->port2 = o->port;
        if (!o->domain2) {
            fprintf(stderr, "loadgen: --host2/--port2 need --domain2\n");
            return 2;
        }
    }
    if (!o->password)
        o->password = g_strdup("bench-password");
    if (!o->msg_type)
        o->msg_type = g_strdup("chat");
    if (strcmp(o->msg_type, "chat") && strcmp(o->msg_type, "normal") &&
        strcmp(o->msg_type, "headline")) {
        fprintf(stderr, "loadgen: --type must be chat, normal or headline\n");
        return 2;
    }
    if (tls && !parse_tls(tls, &o->tls)) {
        fprintf(stderr, "loadgen: --tls must be none, starttls or direct\n");
        return 2;
    }
    if (mech && !parse_mech(mech, &o->mech)) {
        fprintf(stderr, "loadgen: --mech must be SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN\n");
        return 2;
    }
    if (o->idle) {
        if (!o->sessions)
            o->sessions = o->users ? o->users : 100;
    } else {
        o->presence = TRUE;
        if (!o->pairs)
            o->pairs = o->sessions ? o->sessions / 2 : 100;
        if (!o->sessions)
            o->sessions = 2 * o->pairs;
    }
    if (!o->users)
        o->users = o->sessions;
    if (!o->window)
        o->window = o->rate > 0 ? 1000 : 16;
    if (o->sessions <= 0 || o->users <= 0 || o->pairs < 0 || 2 * o->pairs > o->sessions ||
        o->window <= 0 || o->duration <= 0 || o->warmup < 0 || o->concurrency <= 0 ||
        o->payload < 0 || o->rate < 0 || o->port <= 0 || o->port > 65535 ||
        (o->host2 && (o->port2 <= 0 || o->port2 > 65535))) {
        fprintf(stderr, "loadgen: bad numbers (need sessions >= 2 x pairs, positive values)\n");
        return 2;
    }
    if (o->src_addrs && !parse_src(run, o->src_addrs)) {
        fprintf(stderr, "loadgen: --src-addrs: expected e.g. 127.0.0.1-127.0.0.8\n");
        return 2;
    }
    if (o->host2 && o->users % 2 != 0) {
        /* user u lives on server (u mod 2), which must be the server of session u mod users */
        fprintf(stderr, "loadgen: --host2 needs an even number of users\n");
        return 2;
    }
    if (!resolve_dst(o->host, o->port, &run->dst)) {
        fprintf(stderr, "loadgen: cannot resolve %s\n", o->host);
        return 2;
    }
    if (o->host2 && !resolve_dst(o->host2, o->port2, &run->dst2)) {
        fprintf(stderr, "loadgen: cannot resolve %s\n", o->host2);
        return 2;
    }
    return 0;
}

/* ---- phases ---- */

static void progress(LgRun *run, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void progress(LgRun *run, const char *fmt, ...)
{
    if (run->opt.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void reset_conns(LgRun *run, int n, gboolean register_only)
{
    if (run->conns)
        for (int i = 0; i < run->nconns; i++)
            lg_conn_free(&run->conns[i]);
    g_free(run->conns);
    run->conns = g_new0(LgConn, n);
    run->nconns = n;
    for (int i = 0; i < n; i++) {
        LgConn *c = &run->conns[i];
        c->run = run;
        c->idx = i;
        c->fd = -1;
        c->peer = -1;
        c->register_only = register_only;
        c->user = i % run->opt.users;
        gboolean second = run->opt.host2 && (i % 2) == 1;
        c->dst = second ? &run->dst2 : &run->dst;
        c->domain = second ? run->opt.domain2 : run->opt.domain;
    }
    run->started = run->active = run->ready = run->done = run->failed = 0;
}

/* Start connections (at most `concurrency` in setup at once) until each is ready, done or
 * failed. Returns the seconds it took. */
static double run_setup(LgRun *run)
{
    uint64_t t0 = lg_now_ns(), deadline = t0 + (uint64_t)(run->opt.setup_timeout * NS_PER_S);
    uint64_t next_note = t0 + 5000000000ull;
    while (run->ready + run->done + run->failed < run->nconns && !interrupted) {
        while (run->started < run->nconns && run->active < run->opt.concurrency)
            lg_conn_start(run, &run->conns[run->started]);
        lg_flush_all(run);
        lg_poll(run, 5000000);
        uint64_t now = lg_now_ns();
        if (now > next_note) {
            progress(run, "  %d ready, %d done, %d failed of %d", run->ready, run->done,
                     run->failed, run->nconns);
            next_note = now + 5000000000ull;
        }
        if (now > deadline) {
            for (int i = 0; i < run->nconns; i++) {
                LgConn *c = &run->conns[i];
                if (c->phase == PH_IDLE) {
                    c->phase = PH_FAILED; /* never started */
                    run->failed++;
                    run->err.timeout++;
                } else if (c->phase < PH_READY) {
                    lg_conn_fail(c, &run->err.timeout, "setup timed out");
                }
            }
            break;
        }
    }
    return (double)(lg_now_ns() - t0) / NS_PER_S;
}

static void sample_rss(LgRun *run, long *rss, long *anon, Report *r)
{
    *rss = *anon = -1;
    if (run->opt.server_pid > 0 && lg_proc_rss(run->opt.server_pid, rss, anon) &&
        *rss > r->rss_peak)
        r->rss_peak = *rss;
}

/* Rate mode: the k-th message is due at t0 + k / rate, sent by the senders in turn; its
 * timestamp is when it was due (open loop: a late send counts in the latency). */
/* rate mode: poll without sleeping when the next message is due within this */
#define SPIN_NS 500000ull

static void send_due(LgRun *run, int *senders, int nsenders, uint64_t t0, uint64_t *k, int *rr,
                     uint64_t now)
{
    double interval = NS_PER_S / run->opt.rate;
    while (t0 + (uint64_t)((double)*k * interval) <= now) {
        int tries = 0;
        LgConn *c = NULL;
        while (tries++ < nsenders) {
            LgConn *s = &run->conns[senders[*rr]];
            *rr = (*rr + 1) % nsenders;
            if (s->phase == PH_READY && s->outstanding < run->opt.window) {
                c = s;
                break;
            }
        }
        if (!c)
            return; /* every window is full: the backlog waits */
        uint64_t due = t0 + (uint64_t)((double)*k * interval);
        lg_xmpp_send_message(c, due);
        if (due >= run->win_start_ns && due < run->win_end_ns)
            lg_hist_add(&run->lag, now - due);
        (*k)++;
    }
}

static void run_traffic(LgRun *run, Report *r)
{
    LgOptions *o = &run->opt;
    int *senders = g_new(int, 2 * o->pairs + 1);
    int n = 0;
    for (int k = 0; k < o->pairs; k++) {
        LgConn *a = &run->conns[2 * k], *b = &run->conns[2 * k + 1];
        if (a->phase != PH_READY || b->phase != PH_READY)
            continue;
        lg_xmpp_set_peer(a, b);
        lg_xmpp_set_peer(b, a);
        senders[n++] = a->idx;
        senders[n++] = b->idx;
    }
    r->senders = n;
    if (n == 0) {
        g_free(senders);
        return;
    }
    progress(run, "traffic: %d senders, %s, window %d, %.0f s + %.0f s warmup", n,
             o->rate > 0 ? "fixed rate" : "flat out", o->window, o->duration, o->warmup);
    uint64_t t0 = lg_now_ns();
    run->win_start_ns = t0 + (uint64_t)(o->warmup * NS_PER_S);
    run->win_end_ns = run->win_start_ns + (uint64_t)(o->duration * NS_PER_S);
    run->traffic = TRUE;
    if (o->rate <= 0)
        for (int i = 0; i < n; i++)
            for (int w = 0; w < o->window; w++)
                lg_xmpp_send_message(&run->conns[senders[i]], t0);
    uint64_t k = 0, next_sample = run->win_start_ns;
    int rr = 0;
    double cpu0 = -1, self0 = 0, wait0 = 0;
    for (;;) {
        uint64_t now = lg_now_ns();
        if (now >= run->win_end_ns || interrupted || run->ready == 0)
            break;
        if (now >= next_sample) {
            long rss, anon;
            sample_rss(run, &rss, &anon, r);
            if (cpu0 < 0) {
                cpu0 = o->server_pid > 0 ? lg_proc_cpu(o->server_pid) : 0;
                wait0 = o->server_pid > 0 ? lg_proc_wait(o->server_pid) : 0;
                self0 = lg_self_cpu();
            }
            next_sample += 1000000000ull;
        }
        int64_t timeout = 100000000;
        if (o->rate > 0) {
            send_due(run, senders, n, t0, &k, &rr, now);
            lg_flush_all(run); /* out now, not after this turn's reading */
            uint64_t due = t0 + (uint64_t)((double)k * NS_PER_S / o->rate);
            /* The next message is due soon: poll without sleeping. A sleeping loadgen
             * makes every send of the server wake it, which on a VM (an interrupt to the
             * other CPU, a VM exit) costs the server more than the message itself. */
            timeout = due > now + SPIN_NS ? (int64_t)MIN(due - now, 1000000ull) : 0;
        }
        lg_poll(run, timeout);
    }
    if (cpu0 >= 0) {
        r->cpu_win = o->server_pid > 0 ? lg_proc_cpu(o->server_pid) - cpu0 : -1;
        r->wait_win = o->server_pid > 0 && wait0 >= 0 ? lg_proc_wait(o->server_pid) - wait0 : -1;
        r->self_cpu_win = lg_self_cpu() - self0;
    }
    sample_rss(run, &r->rss_end, &r->anon_end, r);
    run->traffic = FALSE;
    uint64_t drain_end = lg_now_ns() + DRAIN_NS;
    while (lg_now_ns() < drain_end && !interrupted) {
        gboolean busy = FALSE;
        for (int i = 0; i < n && !busy; i++)
            busy =
                run->conns[senders[i]].phase == PH_READY && run->conns[senders[i]].outstanding > 0;
        if (!busy)
            break;
        lg_poll(run, 10000000);
    }
    for (int i = 0; i < n; i++)
        r->undelivered += (uint64_t)MAX(run->conns[senders[i]].outstanding, 0);
    g_free(senders);
}

static void run_idle(LgRun *run, Report *r)
{
    progress(run, "holding %d sessions for %.0f s", run->ready, run->opt.duration);
    double cpu0 = run->opt.server_pid > 0 ? lg_proc_cpu(run->opt.server_pid) : -1;
    double wait0 = run->opt.server_pid > 0 ? lg_proc_wait(run->opt.server_pid) : -1;
    uint64_t end = lg_now_ns() + (uint64_t)(run->opt.duration * NS_PER_S);
    while (lg_now_ns() < end && !interrupted)
        lg_poll(run, 100000000);
    sample_rss(run, &r->rss_end, &r->anon_end, r);
    if (cpu0 >= 0)
        r->cpu_win = lg_proc_cpu(run->opt.server_pid) - cpu0;
    if (wait0 >= 0)
        r->wait_win = lg_proc_wait(run->opt.server_pid) - wait0;
}

/* ---- the report ---- */

static const char *tls_name(LgTls t)
{
    return t == LG_TLS_DIRECT ? "direct" : t == LG_TLS_STARTTLS ? "starttls" : "none";
}

static const char *mech_label(LgMech m)
{
    return m == LG_MECH_PLAIN          ? "PLAIN"
           : m == LG_MECH_SCRAM_SHA256 ? "SCRAM-SHA-256"
                                       : "SCRAM-SHA-1";
}

static uint64_t total_errors(const LgErrors *e)
{
    return e->connect + e->tls + e->auth + e->reg + e->bind + e->stream + e->stanza +
           e->disconnect + e->timeout + e->protocol;
}

static double per_session(long before, long after, int n)
{
    return before >= 0 && after >= 0 && n > 0 ? (double)(after - before) * 1024.0 / n : -1;
}

static void print_text(LgRun *run, const Report *r)
{
    const LgOptions *o = &run->opt;
    const LgErrors *e = &run->err;
    double win = o->duration;
    printf("loadgen: %d sessions of %d accounts at %s:%d (%s), tls %s, %s\n", o->sessions, o->users,
           o->host, o->port, o->domain, tls_name(o->tls), mech_label(o->mech));
    if (o->host2)
        printf("  odd sessions at %s:%d (%s): every pair crosses s2s\n", o->host2, o->port2,
               o->domain2);
    if (o->do_register)
        printf("register: %d new, %d existing in %.2f s\n", run->registered, run->existed,
               r->register_s);
    printf("setup: %d/%d sessions in %.2f s: %.1f connections/s\n", r->established, o->sessions,
           r->setup_s, r->setup_s > 0 ? r->established / r->setup_s : 0);
    if (!o->idle) {
        printf("traffic: %s, type %s, %d senders, window %d, %.1f s measured\n",
               o->rate > 0 ? "fixed rate" : "flat out", o->msg_type, r->senders, o->window, win);
        if (o->rate > 0)
            printf("  target %.0f stanzas/s\n", o->rate);
        printf("  sent %" PRIu64 ", delivered %" PRIu64 ": %.0f stanzas/s; undelivered at the "
               "end %" PRIu64 "\n",
               run->sent, run->delivered, run->delivered / win, r->undelivered);
        printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
               lg_hist_percentile(&run->hist, 50) / 1e6, lg_hist_percentile(&run->hist, 90) / 1e6,
               lg_hist_percentile(&run->hist, 99) / 1e6, lg_hist_percentile(&run->hist, 99.9) / 1e6,
               run->hist.max / 1e6);
        if (o->rate > 0)
            printf("  loadgen's own send lag ms (due -> queued): p50 %.3f  p99 %.3f  max %.3f\n",
                   lg_hist_percentile(&run->lag, 50) / 1e6, lg_hist_percentile(&run->lag, 99) / 1e6,
                   run->lag.max / 1e6);
        if (r->self_cpu_win > 0)
            printf("  loadgen CPU %.0f %% of one core\n", 100 * r->self_cpu_win / win);
    }
    printf("errors: connect %" PRIu64 ", tls %" PRIu64 ", auth %" PRIu64 ", register %" PRIu64
           ", bind %" PRIu64 ", stream %" PRIu64 ", stanza %" PRIu64 ", disconnects %" PRIu64
           ", timeouts %" PRIu64 ", protocol %" PRIu64 "\n",
           e->connect, e->tls, e->auth, e->reg, e->bind, e->stream, e->stanza, e->disconnect,
           e->timeout, e->protocol);
    if (run->first_error[0])
        printf("  first: %s\n", run->first_error);
    if (o->server_pid > 0) {
        printf("server pid %d: RSS %ld KiB before the sessions, %ld KiB with them, %ld KiB at "
               "the end (peak %ld)\n",
               o->server_pid, r->rss_start, r->rss_ready, r->rss_end, r->rss_peak);
        printf("  per session: %.0f bytes RSS (%.0f bytes anonymous)\n",
               per_session(r->rss_start, o->idle ? r->rss_end : r->rss_ready, r->established),
               per_session(r->anon_start, o->idle ? r->anon_end : r->anon_ready, r->established));
        if (r->cpu_win >= 0) {
            printf("  CPU %.2f s in %.1f s (%.0f %% of one core)", r->cpu_win, win,
                   100 * r->cpu_win / win);
            if (!o->idle && run->delivered)
                printf("; %.2f us per delivered stanza", 1e6 * r->cpu_win / (double)run->delivered);
            printf("\n");
            if (r->wait_win > 0.05 * win)
                printf("  note: the server waited %.2f s for a CPU (load average %.1f): the "
                       "machine was busy with something else\n",
                       r->wait_win, r->loadavg);
        }
    }
}

/* A JSON string's content (RFC 8259 §7); transfer full */
static char *json_escape(const char *in)
{
    GString *out = g_string_new(NULL);
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == '"' || *p == '\\')
            g_string_append_printf(out, "\\%c", *p);
        else if (*p < 0x20)
            g_string_append_printf(out, "\\u%04x", *p);
        else
            g_string_append_c(out, (char)*p);
    }
    return g_string_free(out, FALSE);
}

static void print_json(LgRun *run, const Report *r)
{
    const LgOptions *o = &run->opt;
    const LgErrors *e = &run->err;
    double win = o->duration;
    printf("{\"mode\":\"%s\",\"type\":\"%s\",\"host\":\"%s\",\"port\":%d,\"domain\":\"%s\",\"tls\":"
           "\"%s\","
           "\"mech\":\"%s\",\"users\":%d,\"sessions\":%d,\"pairs\":%d,\"window\":%d,"
           "\"target_rate\":%.1f,\"duration\":%.3f,",
           o->idle       ? "idle"
           : o->rate > 0 ? "rate"
                         : "flat",
           o->msg_type, o->host, o->port, o->domain, tls_name(o->tls), mech_label(o->mech),
           o->users, o->sessions, o->pairs, o->window, o->rate, win);
    if (o->host2)
        printf("\"host2\":\"%s\",\"port2\":%d,\"domain2\":\"%s\",", o->host2, o->port2,
               o->domain2);
    printf("\"registered\":%d,\"existed\":%d,\"register_seconds\":%.3f,", run->registered,
           run->existed, r->register_s);
    printf("\"established\":%d,\"setup_seconds\":%.3f,\"connections_per_second\":%.1f,",
           r->established, r->setup_s, r->setup_s > 0 ? r->established / r->setup_s : 0);
    printf("\"senders\":%d,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
           ",\"stanzas_per_second\":%.1f,\"undelivered\":%" PRIu64 ",",
           r->senders, run->sent, run->delivered, o->idle ? 0 : run->delivered / win,
           r->undelivered);
    printf("\"latency_ms\":{\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"p999\":%.4f,\"max\":%.4f,"
           "\"samples\":%" PRIu64 "},",
           lg_hist_percentile(&run->hist, 50) / 1e6, lg_hist_percentile(&run->hist, 90) / 1e6,
           lg_hist_percentile(&run->hist, 99) / 1e6, lg_hist_percentile(&run->hist, 99.9) / 1e6,
           run->hist.max / 1e6, run->hist.n);
    printf("\"send_lag_ms\":{\"p50\":%.4f,\"p99\":%.4f,\"max\":%.4f},",
           lg_hist_percentile(&run->lag, 50) / 1e6, lg_hist_percentile(&run->lag, 99) / 1e6,
           run->lag.max / 1e6);
    printf("\"errors\":{\"total\":%" PRIu64 ",\"connect\":%" PRIu64 ",\"tls\":%" PRIu64
           ",\"auth\":%" PRIu64 ",\"register\":%" PRIu64 ",\"bind\":%" PRIu64 ",\"stream\":%" PRIu64
           ",\"stanza\":%" PRIu64 ",\"disconnect\":%" PRIu64 ",\"timeout\":%" PRIu64
           ",\"protocol\":%" PRIu64 "},",
           total_errors(e), e->connect, e->tls, e->auth, e->reg, e->bind, e->stream, e->stanza,
           e->disconnect, e->timeout, e->protocol);
    g_autofree char *first = json_escape(run->first_error);
    printf("\"first_error\":\"%s\",", first);
    printf("\"server\":{\"pid\":%d,\"rss_kib_start\":%ld,\"rss_kib_ready\":%ld,"
           "\"rss_kib_end\":%ld,\"rss_kib_peak\":%ld,\"anon_kib_start\":%ld,"
           "\"anon_kib_ready\":%ld,\"anon_kib_end\":%ld,\"rss_bytes_per_session\":%.1f,"
           "\"anon_bytes_per_session\":%.1f,\"cpu_seconds\":%.3f},",
           o->server_pid, r->rss_start, r->rss_ready, r->rss_end, r->rss_peak, r->anon_start,
           r->anon_ready, r->anon_end,
           per_session(r->rss_start, o->idle ? r->rss_end : r->rss_ready, r->established),
           per_session(r->anon_start, o->idle ? r->anon_end : r->anon_ready, r->established),
           r->cpu_win);
    printf("\"server_wait_seconds\":%.3f,\"loadavg\":%.2f,\"loadgen_cpu_seconds\":%.3f}\n",
           r->wait_win, r->loadavg, r->self_cpu_win);
}

/* ---- main ---- */

static void run_free(LgRun *run)
{
    if (run->conns)
        for (int i = 0; i < run->nconns; i++)
            lg_conn_free(&run->conns[i]);
    g_free(run->conns);
    g_array_free(run->dirty, TRUE);
    g_hash_table_destroy(run->scram_cache);
    if (run->ssl_ctx)
        SSL_CTX_free(run->ssl_ctx);
    close(run->epfd);
    g_free(run->src);
    g_free(run->opt.host);
    g_free(run->opt.domain);
    g_free(run->opt.host2);
    g_free(run->opt.domain2);
    g_free(run->opt.password);
    g_free(run->opt.src_addrs);
    g_free(run->opt.msg_type);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            g_warning("setrlimit: %s", g_strerror(errno));
    }
}

int main(int argc, char **argv)
{
    LgRun run = {0};
    Report r = {.rss_start = -1,
                .anon_start = -1,
                .rss_ready = -1,
                .anon_ready = -1,
                .rss_end = -1,
                .anon_end = -1,
                .rss_peak = -1,
                .cpu_win = -1,
                .wait_win = -1,
                .loadavg = -1};
    int rc = parse_options(&run, argc, argv);
    if (rc)
        return rc;
    LgOptions *o = &run.opt;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &r.loadavg) != 1)
            r.loadavg = -1;
        fclose(la);
    }
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    {
        struct timespec rt, mono;
        clock_gettime(CLOCK_REALTIME, &rt);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        run.rt_to_mono = ((int64_t)mono.tv_sec - (int64_t)rt.tv_sec) * 1000000000ll +
                         (mono.tv_nsec - rt.tv_nsec);
    }
    run.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (run.epfd < 0) {
        fprintf(stderr, "loadgen: epoll_create1: %s\n", g_strerror(errno));
        return 1;
    }
    run.dirty = g_array_new(FALSE, FALSE, sizeof(int));
    run.scram_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    if (o->tls != LG_TLS_NONE) {
        run.ssl_ctx = SSL_CTX_new(TLS_client_method());
        if (!run.ssl_ctx) {
            fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
            return 1;
        }
        SSL_CTX_set_verify(run.ssl_ctx, SSL_VERIFY_NONE, NULL); /* benchmark: self-signed */
        SSL_CTX_set_mode(run.ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                          SSL_MODE_RELEASE_BUFFERS);
        SSL_CTX_set_session_cache_mode(run.ssl_ctx, SSL_SESS_CACHE_OFF);
    }
    if (o->server_pid > 0 && kill(o->server_pid, 0) != 0) {
        fprintf(stderr, "loadgen: --server-pid %d: %s\n", o->server_pid, g_strerror(errno));
        return 2;
    }

    gboolean setup_failed = FALSE;
    if (o->do_register) {
        progress(&run, "registering %d accounts", o->users);
        reset_conns(&run, o->users, TRUE);
        r.register_s = run_setup(&run);
        setup_failed |= run.failed > 0;
    }
    if (!setup_failed && !interrupted) {
        lg_proc_rss(o->server_pid, &r.rss_start, &r.anon_start);
        r.rss_peak = r.rss_start;
        progress(&run, "logging in %d sessions", o->sessions);
        reset_conns(&run, o->sessions, FALSE);
        r.setup_s = run_setup(&run);
        /* let presence and late writes settle before taking the figure */
        for (int i = 0; i < 20; i++)
            lg_poll(&run, 10000000);
        sample_rss(&run, &r.rss_ready, &r.anon_ready, &r);
        r.established = run.ready;
        setup_failed |= run.failed > 0 || run.ready == 0;
        if (run.ready > 0 && !interrupted) {
            if (o->idle)
                run_idle(&run, &r);
            else
                run_traffic(&run, &r);
        }
        for (int i = 0; i < run.nconns; i++)
            lg_conn_close(&run.conns[i]);
    }
    if (o->json)
        print_json(&run, &r);
    else
        print_text(&run, &r);
    fflush(stdout);
    if (setup_failed)
        fprintf(stderr, "loadgen: setup failed: %s\n",
                run.first_error[0] ? run.first_error : "no session established");
    run_free(&run);
    return setup_failed || interrupted ? 1 : 0;
}
