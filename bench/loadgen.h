/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/loadgen.h — the XMPP load generator's shared types (loadgen.c, lg_*.c) */
#pragma once

#include <glib.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdint.h>

typedef enum { LG_TLS_NONE, LG_TLS_STARTTLS, LG_TLS_DIRECT } LgTls;
typedef enum { LG_MECH_SCRAM_SHA1, LG_MECH_SCRAM_SHA256, LG_MECH_PLAIN } LgMech;

typedef struct {
    char *host;
    int port;
    char *domain;
    char *host2; /* --host2: odd sessions (2k+1) use a second server (s2s benchmarks) */
    int port2;
    char *domain2;
    int users;       /* accounts user0..user<users-1> */
    int sessions;    /* connections; session i logs in as user (i % users), resource lg<i> */
    int pairs;       /* traffic: sessions 2k and 2k+1 send to each other */
    double rate;     /* total messages/s; 0 = flat out */
    int window;      /* messages in flight per sender */
    double duration; /* seconds measured */
    double warmup;   /* seconds of traffic before measuring */
    LgTls tls;
    LgMech mech;
    char *password;
    gboolean do_register; /* XEP-0077 in-band registration before logging in */
    char *src_addrs;      /* "127.0.0.1-127.0.0.8" or "a,b,c" */
    int server_pid;
    gboolean idle;     /* hold sessions, report RSS per session */
    gboolean presence; /* send initial presence after bind */
    gboolean json;
    int concurrency; /* logins in progress at once */
    gboolean to_bare;
    char *msg_type; /* chat (default), normal or headline */
    int payload;    /* filler bytes in each body */
    double setup_timeout;
    gboolean quiet;
} LgOptions;

typedef enum {
    PH_IDLE,       /* not started yet */
    PH_CONNECTING, /* TCP connect in progress */
    PH_TLS,        /* TLS handshake (direct TLS, or after <proceed/>) */
    PH_FEATURES,   /* our header is out; waiting for the server's header and features */
    PH_STARTTLS,   /* waiting for <proceed/> */
    PH_REGISTER,   /* waiting for the XEP-0077 result */
    PH_AUTH,       /* SASL exchange */
    PH_BIND,       /* waiting for the bind result */
    PH_READY,      /* bound (and presence sent): traffic may flow */
    PH_DONE,       /* closed on purpose */
    PH_FAILED,
} LgPhase;

typedef struct LgRun LgRun;

typedef struct {
    LgRun *run;
    int idx;
    int fd;
    SSL *ssl;
    LgPhase phase;
    gboolean register_only; /* registration connection: close after the result */
    gboolean authed;
    gboolean tls_done;
    gboolean hs_want_write; /* TLS handshake waits for writable */
    gboolean read_want_write;
    gboolean stop_scan; /* a callback restarted or closed the stream */
    gboolean dirty;     /* in the run's flush list */
    uint32_t ev_mask;   /* epoll events registered */
    int user;
    const struct sockaddr_in *dst; /* the server this connection uses (run->dst or dst2) */
    const char *domain;            /* its XMPP domain (opt.domain or opt.domain2) */
    int depth; /* XML depth at the end of what was consumed: 0 or 1 */
    /* input not yet consumed (part of an element) */
    char *in;
    size_t in_len, in_cap;
    /* output not yet written */
    char *out;
    size_t out_len, out_off, out_cap;
    /* SASL */
    char *cnonce;
    char *client_first_bare;
    guint8 server_sig[EVP_MAX_MD_SIZE];
    unsigned server_sig_len;
    /* session */
    char *jid;        /* bound full JID */
    char *msg_prefix; /* "<message type='chat' to='peer'" */
    int peer;         /* session index of the partner, -1 when none */
    uint64_t seq;
    int outstanding; /* sent and not yet seen by the partner */
} LgConn;

#define LG_HIST_SIZE 3840

typedef struct {
    uint64_t counts[LG_HIST_SIZE];
    uint64_t n, max;
} LgHist;

typedef struct {
    uint64_t connect, tls, auth, reg, bind, stream, stanza, disconnect, timeout, protocol;
} LgErrors;

struct LgRun {
    LgOptions opt;
    int epfd;
    SSL_CTX *ssl_ctx;
    LgConn *conns;
    int nconns;
    int started, active; /* connections started / in progress (setup) */
    int ready, done, failed;
    GArray *dirty; /* int indices of connections with queued output */
    struct sockaddr_in *src;
    int nsrc;
    struct sockaddr_in dst, dst2;
    GHashTable *scram_cache; /* "salt,i" -> derived keys */
    /* registration */
    int registered, existed;
    /* traffic */
    gboolean traffic;   /* senders may send */
    gboolean measuring; /* inside the measured window */
    uint64_t sent, delivered, sent_total, delivered_total;
    uint64_t win_start_ns, win_end_ns;
    LgHist hist;
    LgHist lag; /* rate mode: how late loadgen itself sent (due -> queued) */
    LgErrors err;
    char first_error[256];
    /* latency ends when the bytes reached the client's socket (the kernel's receive
     * timestamp, SO_TIMESTAMPNS, on plaintext connections), not when loadgen got to read
     * them: a busy loadgen does not count its own backlog as the server's latency */
    int64_t rt_to_mono;  /* CLOCK_MONOTONIC - CLOCK_REALTIME, ns */
    uint64_t rx_ns;      /* arrival of the bytes being parsed (monotonic); 0: unknown */
};

/* lg_conn.c: sockets, TLS, buffers, the epoll loop step */
void lg_conn_start(LgRun *run, LgConn *c);
void lg_conn_write(LgConn *c, const char *buf, size_t len);
void lg_conn_write_str(LgConn *c, const char *s);
void lg_conn_start_tls(LgConn *c);
void lg_conn_fail(LgConn *c, uint64_t *counter, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void lg_conn_close(LgConn *c);
void lg_conn_free(LgConn *c);
/* Wait up to timeout_ns (-1 = forever) for events and handle them; then flush output. */
void lg_poll(LgRun *run, int64_t timeout_ns);
void lg_flush_all(LgRun *run);
uint64_t lg_now_ns(void);

/* lg_xmpp.c: the XMPP side: stream header, scanner, SASL, bind, messages */
void lg_xmpp_send_header(LgConn *c);
/* Consume received bytes (plaintext); keeps what is not a complete element. */
void lg_xmpp_feed(LgConn *c, const char *buf, size_t len);
/* Queue one message to the partner; ts_ns goes into the body for the latency. */
void lg_xmpp_send_message(LgConn *c, uint64_t ts_ns);
void lg_xmpp_set_peer(LgConn *c, const LgConn *peer);

/* lg_stats.c: latency histogram, the server's /proc figures */
void lg_hist_add(LgHist *h, uint64_t v);
uint64_t lg_hist_percentile(const LgHist *h, double p);
/* VmRSS and RssAnon in KiB; FALSE when the process is not readable. */
gboolean lg_proc_rss(int pid, long *rss_kib, long *anon_kib);
/* CPU seconds of a process (schedstat, else utime + stime; -1 when unknown) */
double lg_proc_cpu(int pid);
/* seconds the process was runnable but waited for a CPU (-1 when unknown): contention */
double lg_proc_wait(int pid);
double lg_self_cpu(void);
