/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/conn.c — connections: tcp/tls vtable, writes coalesced per loop turn, listeners */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "tern"

#include "router/conn.h"
#include "router/iobatch.h"
#include "router/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <glib-unix.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CONN_READ_CHUNK (16 * 1024)
#define CONN_READS_PER_WAKEUP 4 /* fairness between connections */
#define CONN_DEFAULT_MAX_OUTBUF (1024 * 1024)
#define CONN_CLOSE_TIMEOUT_MS 5000
#define CONN_COMPACT_MIN (64 * 1024)
#define CONN_OUT_KEEP 256 /* outbound buffer capacity kept once drained */
#define LISTENER_ACCEPTS_PER_WAKEUP 128
#define LISTENER_PAUSE_MS 100
#define CONN_EVENTS_PER_TURN 256       /* epoll events taken per main-loop turn */
#define CONN_FLUSH_EVERY 32            /* connections dispatched between writes in a long turn */
#define CONN_BATCH_OPS 64              /* send()s handed to the kernel in one system call */
#define CONN_PREFETCH_CHUNK (8 * 1024) /* bytes read per connection in a batch of reads */
#define CONN_CAPTURE_MAX (64 * 1024)   /* TLS plaintext encrypted per connection for a batch */
#define CONN_WCAP_KEEP (256 * 1024)    /* capture buffer capacity kept between flushes */

GQuark conn_error_quark(void)
{
    return g_quark_from_static_string("tern-conn-error-quark");
}

/* ---- the vtable per connection kind ---- */

typedef enum { IO_DONE, IO_WANT_READ, IO_WANT_WRITE, IO_EOF, IO_FAIL } IoResult;

typedef struct {
    const char *name;
    /* IO_DONE with *n > 0 bytes; IO_FAIL sets error. */
    IoResult (*read)(Conn *c, char *buf, gsize len, gsize *n, GError **error);
    IoResult (*write)(Conn *c, const char *buf, gsize len, gsize *n, GError **error);
    /* Say goodbye at this layer (TLS close_notify); IO_WANT_WRITE = call again. */
    IoResult (*shutdown)(Conn *c);
    /* Bytes readable without waiting for the fd (TLS record remainder). */
    gsize (*pending)(const Conn *c);
} ConnVtable;

typedef enum {
    CONN_ST_OPEN,
    CONN_ST_TLS_WAIT,  /* conn_start_tls: writing the queued plaintext first */
    CONN_ST_HANDSHAKE, /* TLS handshake running */
    CONN_ST_CLOSING,   /* conn_close: flushing */
    CONN_ST_SHUTDOWN,  /* close_notify waits for writable */
    CONN_ST_LINGER,    /* FIN sent; discarding input until the peer's FIN (no RST on close) */
    CONN_ST_CLOSED,    /* fd closed; on_closed pending or done */
} ConnState;

typedef struct Flusher Flusher;

typedef struct ConnVirtual ConnVirtual;

struct Conn {
    int refcount; /* internal: held by dispatchers while they run callbacks */
    int fd;
    ConnState state;
    GIOCondition watching; /* events registered in the flusher's epoll set; 0 = not in it */
    const ConnVtable *vt;
    ConnCallbacks cb;
    gpointer ud;

    /* flags, packed: ~20,000 idle sessions each carry one Conn */
    guint freed : 1;
    guint queued : 1; /* in the flusher's list (flush_link) */
    guint kicked : 1; /* in flusher->kicked: dispatch without waiting for the fd */
    guint read_paused : 1;
    guint rate_paused : 1;      /* bucket empty: no reading until rate_timer fires */
    guint write_blocked : 1;    /* waiting for writable */
    guint write_wants_read : 1; /* TLS write waiting for readable */
    guint read_wants_write : 1; /* TLS read waiting for writable (e.g. KeyUpdate reply) */
    guint hs_wants_write : 1;
    guint tls_client : 1;  /* conn_start_tls_client: we send the ClientHello */
    guint verify_peer : 1; /* server side: ask for a client certificate (s2s) */
    guint tls_ready : 1;
    guint secure : 1;    /* the transport vouches for it (HTTPS, loopback) */
    guint sink_done : 1; /* sink->close called, or the transport reported itself gone */

    GMainContext *ctx;
    Flusher *flusher;
    GList flush_link;
    GList kick_link;

    GString *out;
    gsize out_off;
    gsize plain_end; /* CONN_ST_TLS_WAIT: bytes up to here go out before the handshake */
    gsize max_outbuf;
    guint64 queued_total; /* bytes ever queued by conn_write */
    guint64 sent_total;   /* bytes ever handed to the kernel (plaintext before TLS) */
    guint64 plain_wire;   /* sent_total when TLS started: wire bytes before it */
    guint64 final_acked;  /* conn_wire_acked() frozen when the fd is closed */
    GSList *sent_waiters; /* SentWaiter*, see conn_when_sent() */
    /* sent_waiters' last link (appending is O(1): s2s adds one per stanza, ~1,000 in flight) */
    GSList *sent_waiters_tail;

    RateBucket rate; /* conn_set_read_rate(); rate 0 = unlimited */
    GSource *rate_timer;

    SSL_CTX *tls_ctx; /* ref held from conn_start_tls until SSL_new */
    SSL *ssl;
    char *sni;
    char *alpn;

    char peer[INET6_ADDRSTRLEN];
    gint64 last_activity;
    GSource *close_timer;
    GSource *closed_idle;
    GError *closed_err;

    /* the virtual kind (conn_new_virtual): fd stays -1 */
    const ConnSink *sink; /* NULL for tcp/tls */
    ConnVirtual *virt;    /* what only the virtual kind needs; NULL for tcp/tls */
};

/* A virtual connection's message framing and its input held for the read-rate bucket. */
struct ConnVirtual {
    gpointer sink_ud;
    GArray *msg_lens;  /* gsize per queued message, oldest first */
    GQueue in_backlog; /* GBytes*: input messages waiting for the read-rate bucket */
    gsize backlog_bytes;
    gsize rate_debt; /* a message longer than the tokens there were: paid off first */
};

static void conn_finish(Conn *c, GError *err);
static void conn_sink_close(Conn *c);
static void conn_virtual_flush(Conn *c);

typedef struct {
    guint64 mark;
    void (*fn)(gpointer ud);
    gpointer ud;
    GDestroyNotify destroy;
} SentWaiter;

static void sent_waiter_drop(gpointer p)
{
    SentWaiter *w = p;
    if (w->destroy)
        w->destroy(w->ud);
    g_free(w);
}

/* Tell the waiters whose bytes all reached the kernel. */
static void conn_run_sent_waiters(Conn *c)
{
    while (c->sent_waiters) {
        SentWaiter *w = c->sent_waiters->data;
        if (w->mark > c->sent_total)
            break;
        c->sent_waiters = g_slist_delete_link(c->sent_waiters, c->sent_waiters);
        if (!c->sent_waiters)
            c->sent_waiters_tail = NULL;
        w->fn(w->ud);
        sent_waiter_drop(w);
    }
}

guint64 conn_queued_mark(const Conn *c)
{
    return c->queued_total;
}

void conn_when_sent(Conn *c, guint64 mark, void (*fn)(gpointer ud), gpointer ud,
                    GDestroyNotify destroy)
{
    SentWaiter *w = g_new(SentWaiter, 1);
    *w = (SentWaiter){mark, fn, ud, destroy};
    if (c->freed || (c->sink ? c->state == CONN_ST_CLOSED : c->fd < 0)) {
        sent_waiter_drop(w);
        return;
    }
    GSList *link = g_slist_prepend(NULL, w); /* marks only grow: append, in O(1) */
    if (c->sent_waiters_tail)
        c->sent_waiters_tail->next = link;
    else
        c->sent_waiters = link;
    c->sent_waiters_tail = link;
    conn_run_sent_waiters(c);
}

static void conn_flush_now(Conn *c);
static gboolean conn_flush_begin(Conn *c, gsize *end);
static gboolean conn_wrote(Conn *c, IoResult r, gsize n, GError *err);
static void conn_flush_rest(Conn *c, gsize end);
static gboolean conn_write_until(Conn *c, gsize stop);
static void conn_ref(Conn *c);
/* A read done ahead, in a batch with the other readable connections of the turn. */
typedef struct {
    Conn *conn;
    char *buf;
    gsize want;
    gssize got;   /* recv()'s result, -errno on failure */
    gsize off;    /* TLS: bytes of buf OpenSSL has taken (through conn_bio_read) */
    gboolean set; /* this turn's */
    gboolean tls; /* ciphertext, for OpenSSL to take; else plaintext for conn_read */
} ConnPrefetch;

static void conn_dispatch(Conn *c, GIOCondition rev, gboolean kicked, ConnPrefetch *pre);
static void conn_unref(Conn *c);

/* ---- plain TCP ---- */

/* A send()/recv() result (-errno on failure), from a system call or a batch, as the vtable
 * says it. EINTR from a batch: as if nothing were there yet (the level-triggered epoll set
 * reports the fd again). */
static IoResult tcp_result(gssize r, gboolean reading, gsize *n, GError **error)
{
    if (r > 0 || (r == 0 && !reading)) {
        *n = (gsize)r;
        return IO_DONE;
    }
    if (r == 0)
        return IO_EOF;
    if (r == -EAGAIN || r == -EWOULDBLOCK || r == -EINTR)
        return reading ? IO_WANT_READ : IO_WANT_WRITE;
    g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "%s: %s", reading ? "read" : "write",
                g_strerror((int)-r));
    return IO_FAIL;
}

static IoResult tcp_read(Conn *c, char *buf, gsize len, gsize *n, GError **error)
{
    ssize_t r;
    while ((r = recv(c->fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
    return tcp_result(r < 0 ? -errno : r, TRUE, n, error);
}

static IoResult tcp_write(Conn *c, const char *buf, gsize len, gsize *n, GError **error)
{
    ssize_t r;
    while ((r = send(c->fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return tcp_result(r < 0 ? -errno : r, FALSE, n, error);
}

static IoResult tcp_shutdown(Conn *c)
{
    return IO_DONE;
}

static gsize tcp_pending(const Conn *c)
{
    return 0;
}

static const ConnVtable conn_tcp_vtable = {"tcp", tcp_read, tcp_write, tcp_shutdown, tcp_pending};

/* ---- TLS ---- */

/* The first queued OpenSSL error as text (clears the queue). */
static void tls_error_text(char *buf, gsize size, int saved_errno)
{
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, buf, size);
    else if (saved_errno != 0)
        g_strlcpy(buf, g_strerror(saved_errno), size);
    else
        g_strlcpy(buf, "unexpected end of stream", size);
    ERR_clear_error();
}

static IoResult tls_result(Conn *c, int ret, const char *what, GError **error)
{
    int saved_errno = errno;
    char text[256];
    switch (SSL_get_error(c->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: /* close_notify */
        return IO_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && saved_errno != 0) {
            ERR_clear_error();
            g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "%s: %s", what, g_strerror(saved_errno));
            return IO_FAIL;
        }
        if (ERR_peek_error() == 0)
            return IO_EOF;
        break;
    case SSL_ERROR_SSL:
        /* A TCP FIN without close_notify: XML framing makes truncation visible anyway. */
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            return IO_EOF;
        }
        break;
    default:
        break;
    }
    tls_error_text(text, sizeof text, saved_errno);
    g_set_error(error, CONN_ERROR, CONN_ERROR_TLS, "TLS %s: %s", what, text);
    return IO_FAIL;
}

static IoResult tls_read(Conn *c, char *buf, gsize len, gsize *n, GError **error)
{
    ERR_clear_error();
    errno = 0;
    if (SSL_read_ex(c->ssl, buf, len, n) == 1)
        return IO_DONE;
    return tls_result(c, 0, "read", error);
}

static IoResult tls_write(Conn *c, const char *buf, gsize len, gsize *n, GError **error)
{
    ERR_clear_error();
    errno = 0;
    if (SSL_write_ex(c->ssl, buf, len, n) == 1)
        return IO_DONE;
    return tls_result(c, 0, "write", error);
}

static IoResult tls_shutdown(Conn *c)
{
    /* Send close_notify once; the peer's reply is not awaited (RFC 8446 §6.1 allows it). */
    if (!c->tls_ready)
        return IO_DONE;
    ERR_clear_error();
    int r = SSL_shutdown(c->ssl);
    if (r >= 0)
        return IO_DONE;
    if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE)
        return IO_WANT_WRITE;
    ERR_clear_error(); /* best effort: the TCP close follows anyway */
    return IO_DONE;
}

static gsize tls_ahead(const Conn *c);
static gsize tls_ahead_take(Conn *c, char *buf, gsize len);
static gboolean tls_drained(const Conn *c);
static GByteArray *tls_stashed(const Conn *c);
static gboolean tls_capture(Conn *c, const char *buf, gsize len);
static gboolean tls_wstash_drain(Conn *c);
static GByteArray *tls_wstashed(const Conn *c);
static void bytes_append(GHashTable **t, Conn *c, const char *buf, gsize len);

/* Decrypted bytes OpenSSL holds, and ciphertext read ahead that it has not taken yet */
static gsize tls_pending(const Conn *c)
{
    return c->tls_ready ? (gsize)SSL_pending(c->ssl) + tls_ahead(c) : 0;
}

static const ConnVtable conn_tls_vtable = {"tls", tls_read, tls_write, tls_shutdown, tls_pending};

/* OpenSSL's I/O for a connection: a socket BIO, except that ciphertext read ahead in a
 * batch (prefetch_reads) comes first. */
static int conn_bio_read(BIO *b, char *buf, int len)
{
    Conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    gsize n = tls_ahead_take(c, buf, (gsize)len);
    if (n > 0)
        return (int)n;
    if (tls_drained(c)) { /* the read ahead emptied the socket: no recv() to hear EAGAIN */
        BIO_set_retry_read(b);
        return -1;
    }
    ssize_t r;
    while ((r = recv(c->fd, buf, (size_t)len, 0)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        BIO_set_flags(b, BIO_FLAGS_IN_EOF);
    else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_read(b);
    return (int)r;
}

static int conn_bio_write(BIO *b, const char *buf, int len)
{
    Conn *c = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (tls_capture(c, buf, (gsize)len))
        return len;
    if (!tls_wstash_drain(c)) { /* what a batched write left goes first */
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return -1;
    }
    ssize_t r;
    while ((r = send(c->fd, buf, (size_t)MAX(len, 0), MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        BIO_set_retry_write(b);
    return (int)r;
}

static long conn_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_EOF:
        return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0;
    default:
        return 0;
    }
}

static BIO_METHOD *conn_bio_method(void)
{
    static gsize once;
    static BIO_METHOD *m;
    if (g_once_init_enter(&once)) {
        m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tern conn");
        if (!m || BIO_meth_set_read(m, conn_bio_read) != 1 ||
            BIO_meth_set_write(m, conn_bio_write) != 1 || BIO_meth_set_ctrl(m, conn_bio_ctrl) != 1)
            g_error("conn: cannot make the TLS BIO method"); /* out of memory */
        g_once_init_leave(&once, 1);
    }
    return m;
}

/* ---- the shared flusher: one per main context. It writes every dirty connection once a
 * turn, and owns the epoll set of every connection of that context: one fd in GLib's poll,
 * so a loop turn costs O(ready connections), not O(all connections). ---- */

struct Flusher {
    GSource base;
    GMainContext *ctx;
    int epfd;
    gpointer epfd_tag;
    GQueue queue;  /* Conn with queued output, linked by flush_link */
    GQueue kicked; /* Conn to dispatch without an fd event, linked by kick_link */
    guint nconns;
    IoBatch *batch; /* the turn's reads and writes, many to a system call */
    char *rbuf;     /* CONN_FLUSH_EVERY slots of CONN_PREFETCH_CHUNK bytes, made on first use */
    ConnPrefetch pre[CONN_FLUSH_EVERY]; /* the reads ahead of the connections being dispatched */
    /* Conn* -> GByteArray*: TLS ciphertext read ahead that OpenSSL could not take in its
     * turn (the read waits for writable, or was paused); taken first next time. Rare. */
    GHashTable *stash;
    /* Batched TLS writes: while `capturing`, that connection's ciphertext (its BIO's
     * writes) is appended to wcap, and the flush sends it with the others. What the kernel
     * did not take waits in wstash (Conn* -> GByteArray*), sent before anything else. */
    Conn *capturing;
    GString *wcap;
    GHashTable *wstash;
};

G_LOCK_DEFINE_STATIC(flushers);
static GHashTable *flushers; /* GMainContext* -> Flusher* */

/* The time of this main-loop turn: GLib reads the clock once a turn, and a read costs
 * ~0.25 µs on this VM's kvm-clock; one per read and one per write of each stanza added up.
 * Good enough for idle timeouts. */
static gint64 conn_now(Conn *c)
{
    return c->flusher ? g_source_get_time(&c->flusher->base) : g_get_monotonic_time();
}

#define CONN_GROUP_COMMITS_MAX 8
static ConnGroupCommit *group_commits[CONN_GROUP_COMMITS_MAX]; /* see conn_group_commit_add */
static guint n_group_commits;

void conn_group_commit_add(ConnGroupCommit *g)
{
    g_return_if_fail(n_group_commits < CONN_GROUP_COMMITS_MAX && g && g->commit);
    group_commits[n_group_commits++] = g;
}

static gboolean group_commit_idle(gpointer data)
{
    ConnGroupCommit *g = data;
    g->idle = 0;
    g->commit();
    return G_SOURCE_REMOVE;
}

void conn_group_commit_schedule(ConnGroupCommit *g)
{
    if (!g->idle)
        g->idle = g_idle_add_full(G_PRIORITY_HIGH, group_commit_idle, g, NULL);
}

void conn_group_commit_now(ConnGroupCommit *g)
{
    if (g->idle) {
        g_source_remove(g->idle);
        group_commit_idle(g);
    }
}

static gboolean commit_pending(void)
{
    for (guint i = 0; i < n_group_commits; i++)
        if (group_commits[i]->idle)
            return TRUE;
    return FALSE;
}

void conn_group_commit_remove(ConnGroupCommit *g)
{
    conn_group_commit_now(g);
    for (guint i = 0; i < n_group_commits; i++) {
        if (group_commits[i] == g) {
            memmove(&group_commits[i], &group_commits[i + 1],
                    (n_group_commits - i - 1) * sizeof group_commits[0]);
            n_group_commits--;
            return;
        }
    }
}

static gboolean flusher_prepare(GSource *s, gint *timeout)
{
    Flusher *f = (Flusher *)s;
    *timeout = -1;
    return f->queue.length > 0 || f->kicked.length > 0;
}

static gboolean flusher_check(GSource *s)
{
    Flusher *f = (Flusher *)s;
    return f->queue.length > 0 || f->kicked.length > 0 ||
           g_source_query_unix_fd(s, f->epfd_tag) != 0;
}

static GIOCondition epoll_to_gio(uint32_t ev)
{
    return (ev & EPOLLIN ? G_IO_IN : 0) | (ev & EPOLLOUT ? G_IO_OUT : 0) |
           (ev & EPOLLHUP ? G_IO_HUP : 0) | (ev & EPOLLERR ? G_IO_ERR : 0);
}

/* A connection held for a batched write: plain TCP (its output buffer), or TLS (the
 * ciphertext of it in the flusher's capture buffer, wcap[off, off + len)). */
typedef struct {
    Conn *c;
    gboolean tls;
    gsize off, len;
} ConnHeld;

static void flush_sent(gpointer ud, gssize res, gpointer data)
{
    ConnHeld *h = ud;
    Flusher *f = data;
    Conn *c = h->c;
    /* a callback of an earlier one (a sent-waiter) may have closed this one meanwhile */
    if (!c->freed && c->fd >= 0 && (c->state == CONN_ST_OPEN || c->state == CONN_ST_CLOSING)) {
        gsize n = 0;
        GError *err = NULL;
        if (!h->tls) {
            IoResult r = tcp_result(res, FALSE, &n, &err);
            if (conn_wrote(c, r, n, err))
                conn_flush_rest(c, c->out ? c->out->len : 0); /* a short write: on as usual */
        } else if (tcp_result(res, FALSE, &n, &err) == IO_FAIL) {
            conn_finish(c, err);
        } else {
            /* OpenSSL counts all of it written: what the kernel did not take waits, first
             * in line (conn_flush_rest tries it again, else waits for writable) */
            if (n < h->len)
                bytes_append(&f->wstash, c, f->wcap->str + h->off + n, h->len - n);
            conn_flush_rest(c, c->out ? c->out->len : 0);
        }
    }
    conn_unref(c);
}

/* Hand the held connections' output to the kernel in one call. Plain buffers are taken
 * here, with nothing run between this and the call: an owner callback run while the batch
 * was gathered (a sent-waiter) may have written to one of them, moving its buffer. */
static void flush_batch(Flusher *f, ConnHeld *held, guint n)
{
    for (guint i = 0; i < n; i++) {
        ConnHeld *h = &held[i];
        Conn *c = h->c;
        gboolean alive =
            !c->freed && c->fd >= 0 && (c->state == CONN_ST_OPEN || c->state == CONN_ST_CLOSING);
        if (alive && h->tls && h->len > 0)
            iobatch_send(f->batch, c->fd, f->wcap->str + h->off, h->len, h);
        else if (alive && !h->tls && c->out != NULL && c->out_off < c->out->len)
            iobatch_send(f->batch, c->fd, c->out->str + c->out_off, c->out->len - c->out_off, h);
        else
            flush_sent(h, 0, f); /* nothing to send, or closed meanwhile: settle it as it is */
    }
    iobatch_run(f->batch, flush_sent, f);
    if (f->wcap) {
        g_string_truncate(f->wcap, 0);
        if (f->wcap->allocated_len > CONN_WCAP_KEEP) { /* memory: a burst does not stay */
            g_string_free(f->wcap, TRUE);
            f->wcap = NULL;
        }
    }
}

/* A TLS connection whose ciphertext can go in a batch: established, and waiting for
 * nothing but the write */
static gboolean tls_capturable(const Conn *c)
{
    return c->vt == &conn_tls_vtable && c->tls_ready &&
           (c->state == CONN_ST_OPEN || c->state == CONN_ST_CLOSING) && !c->write_wants_read &&
           !c->read_wants_write && !tls_wstashed(c);
}

/* Encrypt up to CONN_CAPTURE_MAX bytes of c's output into the capture buffer; FALSE when
 * the connection failed meanwhile */
static gboolean tls_capture_out(Flusher *f, Conn *c, gsize end, ConnHeld *h)
{
    gsize stop = MIN(end, c->out_off + CONN_CAPTURE_MAX);
    if (!f->wcap)
        f->wcap = g_string_sized_new(16 * 1024);
    h->off = f->wcap->len;
    f->capturing = c;
    conn_write_until(c, stop);
    f->capturing = NULL;
    h->len = f->wcap->len - h->off;
    return c->fd >= 0 && c->state != CONN_ST_CLOSED;
}

/* Write every connection with output, once each: the plain TCP ones and the TLS ones
 * (encrypted here) in batches, a system call for up to CONN_BATCH_OPS of them; the others
 * one by one. */
static void flush_queued(Flusher *f)
{
    ConnHeld held[CONN_BATCH_OPS];
    guint nheld = 0;
    for (guint nflush = f->queue.length; nflush > 0 && f->queue.length > 0; nflush--) {
        Conn *c = g_queue_pop_head_link(&f->queue)->data;
        gsize end;
        c->queued = FALSE;
        if (!conn_flush_begin(c, &end))
            continue;
        ConnHeld *h = &held[nheld];
        *h = (ConnHeld){c, FALSE, 0, 0};
        if (c->vt == &conn_tcp_vtable && c->state != CONN_ST_TLS_WAIT && c->out_off < end) {
            /* held: the buffer is taken when the batch runs */
        } else if (c->out_off < end && tls_capturable(c)) {
            h->tls = TRUE;
            if (!tls_capture_out(f, c, end, h))
                continue;
        } else {
            conn_flush_rest(c, end);
            continue;
        }
        conn_ref(c);
        if (++nheld == G_N_ELEMENTS(held)) {
            flush_batch(f, held, nheld);
            nheld = 0;
        }
    }
    flush_batch(f, held, nheld);
}

static void prefetch_done(gpointer ud, gssize res, gpointer data)
{
    ((ConnPrefetch *)ud)->got = res;
}

/* Whether c may be read ahead, and how much: the plain and the established TLS ones that
 * wait for nothing but input. Plaintext within the read bucket; TLS ciphertext a slot's
 * worth while the bucket has any room: what the bucket then refuses waits in the stash,
 * and nothing more is read ahead for that connection until the stash is empty (so a
 * rate-limited connection keeps at most a slot here, the rest in TCP). */
static gsize prefetch_want(Conn *c, uint32_t events)
{
    gboolean tls = c->vt == &conn_tls_vtable;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != EPOLLIN || c->freed || c->fd < 0 ||
        c->state != CONN_ST_OPEN || c->read_paused || c->rate_paused)
        return 0;
    if (!(c->vt == &conn_tcp_vtable ||
          (tls && c->tls_ready && !c->read_wants_write && !c->write_wants_read && !tls_stashed(c))))
        return 0;
    if (!c->rate.rate)
        return CONN_PREFETCH_CHUNK;
    gsize avail = rate_bucket_available(&c->rate, conn_now(c));
    if (tls)
        return avail > 0 ? CONN_PREFETCH_CHUNK : 0;
    return MIN(avail, CONN_PREFETCH_CHUNK); /* 0: conn_read pauses it */
}

/* Ciphertext of this turn's read ahead not yet taken (0 on EAGAIN, EOF or error) */
static gsize prefetch_left(const ConnPrefetch *p)
{
    return p && p->got > 0 ? (gsize)p->got - p->off : 0;
}

/* A per-connection byte queue of the flusher (the read and write stashes): Conn* ->
 * GByteArray*, the table made on first use, an entry dropped when emptied. */
static GByteArray *bytes_of(GHashTable *t, const Conn *c)
{
    return t ? g_hash_table_lookup(t, c) : NULL;
}

static void bytes_append(GHashTable **t, Conn *c, const char *buf, gsize len)
{
    if (!*t)
        *t = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)g_byte_array_unref);
    GByteArray *a = g_hash_table_lookup(*t, c);
    if (!a) {
        a = g_byte_array_new();
        g_hash_table_insert(*t, c, a);
    }
    g_byte_array_append(a, (const guint8 *)buf, (guint)len);
}

/* Drop n bytes from the front of c's queue a */
static void bytes_consume(GHashTable *t, Conn *c, GByteArray *a, gsize n)
{
    if (n >= a->len)
        g_hash_table_remove(t, c);
    else
        g_byte_array_remove_range(a, 0, (guint)n);
}

/* End of the reads ahead of a batch: ciphertext a live TLS connection has not taken yet
 * goes to the stash (it precedes whatever the kernel holds); a connection going away
 * loses what it left, as it would lose its kernel buffer. */
static void prefetch_clear(Flusher *f)
{
    for (int k = 0; k < CONN_FLUSH_EVERY; k++) {
        ConnPrefetch *p = &f->pre[k];
        if (p->set && p->tls && prefetch_left(p) > 0 && !p->conn->freed && p->conn->fd >= 0 &&
            p->conn->state == CONN_ST_OPEN)
            bytes_append(&f->stash, p->conn, p->buf + p->off, prefetch_left(p));
        p->set = FALSE;
    }
}

/* Read the readable connections among evs[from, to) in one batch, into f->pre (indexed
 * from `from`). One alone is one recv() as it would be, but a TLS connection learns from
 * it that the socket is empty (no second recv() to hear EAGAIN). */
static void prefetch_reads(Flusher *f, const struct epoll_event *evs, int from, int to)
{
    int idx[CONN_FLUSH_EVERY], k = 0;
    prefetch_clear(f);
    for (int i = from; i < to; i++) {
        ConnPrefetch *p = &f->pre[i - from];
        p->want = prefetch_want(evs[i].data.ptr, evs[i].events);
        if (p->want > 0)
            idx[k++] = i;
    }
    if (k == 0)
        return;
    if (!f->rbuf)
        f->rbuf = g_malloc((gsize)CONN_FLUSH_EVERY * CONN_PREFETCH_CHUNK);
    for (int j = 0; j < k; j++) {
        ConnPrefetch *p = &f->pre[idx[j] - from];
        p->conn = evs[idx[j]].data.ptr;
        p->buf = f->rbuf + (gsize)(idx[j] - from) * CONN_PREFETCH_CHUNK;
        p->off = 0;
        p->set = TRUE;
        p->tls = p->conn->vt == &conn_tls_vtable;
        iobatch_recv(f->batch, p->conn->fd, p->buf, p->want, p);
    }
    iobatch_run(f->batch, prefetch_done, f);
}

/* This turn's read ahead of TLS connection c, if it had one */
static ConnPrefetch *tls_prefetch_of(const Conn *c)
{
    Flusher *f = c->flusher;
    for (int k = 0; f && k < CONN_FLUSH_EVERY; k++)
        if (f->pre[k].set && f->pre[k].tls && f->pre[k].conn == c)
            return &f->pre[k];
    return NULL;
}

/* This turn's read ahead for c found the socket empty, and all of it has been taken: more
 * would only say EAGAIN (the level-triggered epoll set reports what comes later) */
static gboolean tls_drained(const Conn *c)
{
    const ConnPrefetch *p = tls_prefetch_of(c);
    return p &&
           (p->got == -EAGAIN || (p->got > 0 && (gsize)p->got < p->want && prefetch_left(p) == 0));
}

static GByteArray *tls_stashed(const Conn *c)
{
    return c->flusher ? bytes_of(c->flusher->stash, c) : NULL;
}

/* Ciphertext of c read ahead and not yet given to OpenSSL */
static gsize tls_ahead(const Conn *c)
{
    const GByteArray *a = tls_stashed(c);
    return (a ? a->len : 0) + prefetch_left(tls_prefetch_of(c));
}

/* Give OpenSSL what was read ahead, oldest first; 0 when nothing is */
static gsize tls_ahead_take(Conn *c, char *buf, gsize len)
{
    GByteArray *a = tls_stashed(c);
    if (a) {
        gsize n = MIN(len, a->len);
        memcpy(buf, a->data, n);
        bytes_consume(c->flusher->stash, c, a, n);
        return n;
    }
    ConnPrefetch *p = tls_prefetch_of(c);
    gsize n = MIN(len, prefetch_left(p));
    if (n == 0)
        return 0;
    memcpy(buf, p->buf + p->off, n);
    p->off += n;
    return n;
}

/* The BIO's write while a flush encrypts c for the batch: into the capture buffer */
static gboolean tls_capture(Conn *c, const char *buf, gsize len)
{
    Flusher *f = c->flusher;
    if (!f || f->capturing != c)
        return FALSE;
    g_string_append_len(f->wcap, buf, (gssize)len);
    return TRUE;
}

static GByteArray *tls_wstashed(const Conn *c)
{
    return c->flusher ? bytes_of(c->flusher->wstash, c) : NULL;
}

/* Send the ciphertext a batched write left. TRUE when none is left; FALSE with errno set
 * (EAGAIN: the socket is full). */
static gboolean tls_wstash_drain(Conn *c)
{
    GByteArray *a = tls_wstashed(c);
    while (a) {
        ssize_t r = send(c->fd, a->data, a->len, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return FALSE;
        }
        gboolean all = (guint)r == a->len;
        bytes_consume(c->flusher->wstash, c, a, (gsize)r);
        if (all)
            return TRUE;
    }
    return TRUE;
}

static gboolean flusher_dispatch(GSource *s, GSourceFunc cb, gpointer ud)
{
    Flusher *f = (Flusher *)s;
    struct epoll_event evs[CONN_EVENTS_PER_TURN];
    int n = 0;
    /* Every connection with output is written at the end of the turn, one write each. The
     * group commits run first (conn_group_commit_add: durable before acknowledged), so the
     * output of this turn need not wait for the next one: at a fixed rate, where a turn
     * carries a few messages, that extra turn (a poll() and often an epoll_wait() more)
     * was a fifth of the CPU per message, and a turn of latency. */
    if (g_source_query_unix_fd(s, f->epfd_tag) != 0) {
        n = epoll_wait(f->epfd, evs, CONN_EVENTS_PER_TURN, 0);
        if (n < 0) {
            if (errno != EINTR)
                g_warning("conn: epoll_wait: %s", g_strerror(errno));
            n = 0;
        }
    }
    /* Hold every connection of this batch: a callback may free another one (conn_free
     * takes the fd out of the set; the memory stays until the last unref). */
    for (int i = 0; i < n; i++)
        ((Conn *)evs[i].data.ptr)->refcount++;
    for (int i = 0; i < n; i++) {
        Conn *c = evs[i].data.ptr;
        if (i % CONN_FLUSH_EVERY == 0)
            prefetch_reads(f, evs, i, MIN(n, i + CONN_FLUSH_EVERY));
        if (c->freed || c->fd < 0)
            continue;
        gboolean kicked = c->kicked;
        if (kicked) {
            g_queue_unlink(&f->kicked, &c->kick_link);
            c->kicked = FALSE;
        }
        ConnPrefetch *p = &f->pre[i % CONN_FLUSH_EVERY];
        conn_dispatch(c, epoll_to_gio(evs[i].events), kicked, p->set ? p : NULL);
        /* A long turn (a backlog: up to CONN_EVENTS_PER_TURN connections, each a read, a
         * parse and a route) writes what it has every CONN_FLUSH_EVERY connections, so
         * the first messages of the turn do not wait for the last. Only while no group
         * commit is waiting: what a commit covers leaves after it, at the end. When each
         * connection gets output once a turn (at a fixed rate, and one sender per
         * recipient flat out) this adds no write. */
        if ((i + 1) % CONN_FLUSH_EVERY == 0 && i + 1 < n && f->queue.length > 0 &&
            !commit_pending())
            flush_queued(f);
    }
    /* What a connection going away left unread goes with it (as its kernel buffer would):
     * a TLS connection otherwise takes all its ciphertext in its conn_read. */
    prefetch_clear(f);
    for (int i = 0; i < n; i++)
        conn_unref(evs[i].data.ptr);
    /* Kicked ones (TLS bytes decrypted beyond what was read, reading resumed): once each;
     * a kick while these run waits for the next turn. */
    for (guint k = f->kicked.length; k > 0 && f->kicked.length > 0; k--) {
        Conn *c = g_queue_pop_head_link(&f->kicked)->data;
        c->kicked = FALSE;
        conn_dispatch(c, 0, TRUE, NULL);
    }
    if (f->queue.length > 0)
        for (guint i = 0; i < n_group_commits; i++)
            conn_group_commit_now(group_commits[i]);
    flush_queued(f);
    return G_SOURCE_CONTINUE;
}

/* After the last unref: a connection freed from a callback may release the flusher while
 * it dispatches, and the rest of that turn still uses the batch. */
static void flusher_finalize(GSource *s)
{
    Flusher *f = (Flusher *)s;
    iobatch_free(f->batch);
    g_free(f->rbuf);
    g_clear_pointer(&f->stash, g_hash_table_unref);
    g_clear_pointer(&f->wstash, g_hash_table_unref);
    if (f->wcap)
        g_string_free(f->wcap, TRUE);
}

static GSourceFuncs flusher_funcs = {flusher_prepare,  flusher_check, flusher_dispatch,
                                     flusher_finalize, NULL,          NULL};

/* NULL when no epoll set can be created (out of descriptors) */
static Flusher *flusher_acquire(GMainContext *ctx)
{
    G_LOCK(flushers);
    if (!flushers)
        flushers = g_hash_table_new(NULL, NULL);
    Flusher *f = g_hash_table_lookup(flushers, ctx);
    if (!f) {
        int epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0) {
            g_warning("conn: epoll_create1: %s", g_strerror(errno));
            if (g_hash_table_size(flushers) == 0)
                g_clear_pointer(&flushers, g_hash_table_unref);
            G_UNLOCK(flushers);
            return NULL;
        }
        f = (Flusher *)g_source_new(&flusher_funcs, sizeof(Flusher));
        f->ctx = ctx;
        f->epfd = epfd;
        f->epfd_tag = g_source_add_unix_fd(&f->base, epfd, G_IO_IN);
        g_queue_init(&f->queue);
        g_queue_init(&f->kicked);
        g_source_set_name(&f->base, "tern conn flusher");
        g_source_set_priority(&f->base, G_PRIORITY_DEFAULT);
        /* no nested loops run inside: never blocked around dispatch (that would cost two
         * eventfd wakeups a turn) */
        g_source_set_can_recurse(&f->base, TRUE);
        f->batch = iobatch_new(CONN_BATCH_OPS);
        g_source_attach(&f->base, ctx);
        g_hash_table_insert(flushers, ctx, f);
    }
    f->nconns++;
    G_UNLOCK(flushers);
    return f;
}

static void flusher_release(Flusher *f)
{
    if (!f)
        return;
    G_LOCK(flushers);
    if (--f->nconns == 0) {
        g_hash_table_remove(flushers, f->ctx);
        if (g_hash_table_size(flushers) == 0)
            g_clear_pointer(&flushers, g_hash_table_unref);
        g_source_destroy(&f->base);
        if (close(f->epfd) != 0)
            g_debug("conn: close epoll: %s", g_strerror(errno));
        g_source_unref(&f->base);
    }
    G_UNLOCK(flushers);
}

static void conn_dequeue(Conn *c)
{
    if (c->kicked) {
        g_queue_unlink(&c->flusher->kicked, &c->kick_link);
        c->kicked = FALSE;
    }
    if (c->queued) {
        g_queue_unlink(&c->flusher->queue, &c->flush_link);
        c->queued = FALSE;
    }
}

/* Ask for one flush this loop turn (unless the fd already tells us when). */
static void conn_schedule_flush(Conn *c)
{
    if (c->queued || (c->fd < 0 && !c->sink) || c->write_blocked || c->write_wants_read ||
        !c->flusher)
        return;
    if (c->state == CONN_ST_HANDSHAKE || c->state >= CONN_ST_SHUTDOWN)
        return;
    g_queue_push_tail_link(&c->flusher->queue, &c->flush_link);
    c->queued = TRUE;
}

/* ---- lifetime ---- */

static void conn_ref(Conn *c)
{
    c->refcount++;
}

static void conn_unref(Conn *c)
{
    if (--c->refcount > 0)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->tls_ctx)
        SSL_CTX_free(c->tls_ctx);
    g_free(c->sni);
    g_free(c->alpn);
    if (c->out != NULL)
        g_string_free(c->out, TRUE);
    if (c->virt) {
        g_array_unref(c->virt->msg_lens);
        g_queue_clear_full(&c->virt->in_backlog, (GDestroyNotify)g_bytes_unref);
        g_free(c->virt);
    }
    g_main_context_unref(c->ctx);
    g_free(c);
}

static void conn_kick(Conn *c)
{
    if (!c->kicked && c->fd >= 0 && c->flusher) {
        g_queue_push_tail_link(&c->flusher->kicked, &c->kick_link);
        c->kicked = TRUE;
    }
}

static void clear_source(GSource **s)
{
    if (*s) {
        g_source_destroy(*s);
        g_source_unref(*s);
        *s = NULL;
    }
}

/* Watch the fd for exactly what the current state needs. */
static void conn_update_io(Conn *c)
{
    GIOCondition want = 0;
    if (c->fd >= 0) {
        switch (c->state) {
        case CONN_ST_OPEN:
            if ((!c->read_paused && !c->rate_paused) || c->write_wants_read)
                want |= G_IO_IN;
            if (c->write_blocked || (c->read_wants_write && !c->read_paused && !c->rate_paused))
                want |= G_IO_OUT;
            break;
        case CONN_ST_TLS_WAIT:
        case CONN_ST_CLOSING:
            if (c->write_wants_read)
                want |= G_IO_IN;
            if (c->write_blocked)
                want |= G_IO_OUT;
            break;
        case CONN_ST_HANDSHAKE:
            want = c->hs_wants_write ? G_IO_OUT : G_IO_IN;
            break;
        case CONN_ST_SHUTDOWN:
            want = G_IO_OUT;
            break;
        case CONN_ST_LINGER:
            want = G_IO_IN;
            break;
        case CONN_ST_CLOSED:
            break;
        }
    }
    if (want == c->watching || !c->flusher)
        return;
    /* Out of the set rather than events 0: epoll would still report HUP and spin. */
    struct epoll_event ev = {
        .events = (want & G_IO_IN ? EPOLLIN : 0) | (want & G_IO_OUT ? EPOLLOUT : 0), .data.ptr = c};
    int op = want == 0 ? EPOLL_CTL_DEL : c->watching == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(c->flusher->epfd, op, c->fd, &ev) != 0) {
        int e = errno;
        c->watching = 0;
        if (op != EPOLL_CTL_DEL) /* ENOMEM, ENOSPC (max_user_watches) */
            conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_IO, "epoll_ctl: %s", g_strerror(e)));
        return;
    }
    c->watching = want;
}

guint64 conn_wire_sent(const Conn *c)
{
    if (c->ssl) {
        BIO *w = SSL_get_wbio(c->ssl);
        const GByteArray *left = tls_wstashed(c); /* written by OpenSSL, not yet by us */
        return c->plain_wire + (w ? BIO_number_written(w) : 0) - (left ? left->len : 0);
    }
    return c->sent_total;
}

guint64 conn_wire_acked(const Conn *c)
{
    if (c->sink) /* handed to the transport is as far as we can see */
        return c->sent_total;
    if (c->fd < 0)
        return c->final_acked;
    int unacked = 0;
    guint64 sent = conn_wire_sent(c);
    if (ioctl(c->fd, SIOCOUTQ, &unacked) != 0 || unacked < 0)
        return c->final_acked; /* not TCP: what we knew last */
    return sent >= (guint64)unacked ? sent - (guint64)unacked : 0;
}

/* Close the fd and drop everything that depends on it. */
static void conn_release_fd(Conn *c)
{
    if (c->fd >= 0)
        c->final_acked = conn_wire_acked(c);
    if (c->watching && c->flusher) {
        if (epoll_ctl(c->flusher->epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0)
            g_debug("conn %s: epoll_ctl del: %s", c->peer, g_strerror(errno));
        c->watching = 0;
    }
    if (c->fd >= 0) {
        if (close(c->fd) != 0)
            g_debug("conn %s: close: %s", c->peer, g_strerror(errno));
        c->fd = -1;
    }
    conn_dequeue(c);
    if (c->flusher && c->flusher->stash)
        g_hash_table_remove(c->flusher->stash, c);
    if (c->flusher && c->flusher->wstash)
        g_hash_table_remove(c->flusher->wstash, c);
    clear_source(&c->close_timer);
    clear_source(&c->rate_timer);
    if (c->out != NULL)
        g_string_truncate(c->out, 0);
    c->out_off = 0;
    if (c->virt)
        g_array_set_size(c->virt->msg_lens, 0);
    if (c->tls_ctx) {
        SSL_CTX_free(c->tls_ctx);
        c->tls_ctx = NULL;
    }
}

static gboolean conn_closed_dispatch(gpointer data)
{
    Conn *c = data;
    GError *err = g_steal_pointer(&c->closed_err);
    g_source_unref(c->closed_idle); /* the context keeps it alive through this dispatch */
    c->closed_idle = NULL;
    conn_ref(c);
    if (c->cb.on_closed)
        c->cb.on_closed(c, err, c->ud);
    g_clear_error(&err);
    conn_unref(c);
    return G_SOURCE_REMOVE;
}

/* The end (err transfer full, NULL = orderly). The fd goes now; on_closed comes from an idle
 * so that no owner call (conn_write, conn_close...) ever sees it on its own stack. */
static void conn_finish(Conn *c, GError *err)
{
    if (c->state == CONN_ST_CLOSED) {
        g_clear_error(&err);
        return;
    }
    if (err)
        g_debug("conn %s: %s", c->peer, err->message);
    c->state = CONN_ST_CLOSED;
    conn_release_fd(c);
    conn_sink_close(c);
    c->closed_err = err;
    c->closed_idle = g_idle_source_new();
    g_source_set_priority(c->closed_idle, G_PRIORITY_DEFAULT);
    g_source_set_name(c->closed_idle, "tern conn closed");
    g_source_set_callback(c->closed_idle, conn_closed_dispatch, c, NULL);
    g_source_attach(c->closed_idle, c->ctx);
}

/* ---- closing: flush, close_notify, FIN, linger, close ---- */

static void conn_linger_read(Conn *c)
{
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0)
            continue;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        conn_finish(c, NULL); /* the peer's FIN (or reset): done */
        return;
    }
}

static void conn_begin_shutdown(Conn *c)
{
    c->state = CONN_ST_SHUTDOWN;
    if (c->vt->shutdown(c) == IO_WANT_WRITE) {
        conn_update_io(c);
        return;
    }
    if (shutdown(c->fd, SHUT_WR) != 0) {
        conn_finish(c, NULL); /* ENOTCONN: the peer is already gone */
        return;
    }
    c->state = CONN_ST_LINGER;
    conn_update_io(c);
}

static gboolean conn_close_timeout(gpointer data)
{
    Conn *c = data;
    g_debug("conn %s: close timed out, closing anyway", c->peer);
    g_source_unref(c->close_timer);
    c->close_timer = NULL;
    conn_finish(c, NULL);
    return G_SOURCE_REMOVE;
}

/* ---- TLS start and handshake ---- */

/* Keep the handshake going whatever the chain looks like; SSL_get_verify_result() keeps
 * the verdict for the owner. */
static int conn_verify_any(int ok, X509_STORE_CTX *ctx)
{
    return 1;
}

static void conn_begin_handshake(Conn *c)
{
    char text[256];
    c->plain_wire = c->sent_total;
    c->ssl = SSL_new(c->tls_ctx);
    SSL_CTX_free(c->tls_ctx);
    c->tls_ctx = NULL;
    BIO *bio = c->ssl ? BIO_new(conn_bio_method()) : NULL;
    if (bio) {
        BIO_set_data(bio, c);
        BIO_set_init(bio, 1);
        SSL_set_bio(c->ssl, bio, bio); /* one reference for both directions */
    }
    if (!c->ssl || !bio) {
        tls_error_text(text, sizeof text, 0);
        conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_TLS, "TLS setup: %s", text));
        return;
    }
    /* Our outbuf grows and moves between retries of one SSL_write. */
    /* RELEASE_BUFFERS: an idle session keeps no 16 KiB+ record buffers (memory per session) */
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                             SSL_MODE_RELEASE_BUFFERS);
    if (c->tls_client) {
        /* RFC 6125 §6: the name checks are the owner's (s2s/verify.c); OpenSSL only
         * records the chain result, so the handshake never fails on an untrusted peer. */
        SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
        if (c->sni && SSL_set_tlsext_host_name(c->ssl, c->sni) != 1) {
            tls_error_text(text, sizeof text, 0);
            conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_TLS, "TLS SNI: %s", text));
            return;
        }
        SSL_set_connect_state(c->ssl);
    } else {
        if (c->verify_peer) { /* ask for a certificate; judge it later (never fail here) */
            SSL_set_verify(c->ssl, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, conn_verify_any);
            /* COMPAT: XMPP servers present their server certificate as client certificate
             * (RFC 6120 §13.7.1.3); many lack the clientAuth key usage. */
            X509_VERIFY_PARAM_set_purpose(SSL_get0_param(c->ssl), X509_PURPOSE_ANY);
        }
        SSL_set_accept_state(c->ssl);
    }
    c->vt = &conn_tls_vtable;
    c->state = CONN_ST_HANDSHAKE;
    c->hs_wants_write = FALSE;
    c->write_blocked = c->write_wants_read = c->read_wants_write = FALSE;
    conn_update_io(c);
    conn_kick(c); /* the ClientHello may already be waiting */
}

static void conn_handshake(Conn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
        int saved_errno = errno;
        char text[256];
        switch (SSL_get_error(c->ssl, r)) {
        case SSL_ERROR_WANT_READ:
            c->hs_wants_write = FALSE;
            conn_update_io(c);
            return;
        case SSL_ERROR_WANT_WRITE:
            c->hs_wants_write = TRUE;
            conn_update_io(c);
            return;
        default:
            tls_error_text(text, sizeof text, saved_errno);
            conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_TLS, "TLS handshake: %s", text));
            return;
        }
    }
    const unsigned char *proto = NULL;
    unsigned int proto_len = 0;
    SSL_get0_alpn_selected(c->ssl, &proto, &proto_len);
    if (proto && proto_len > 0)
        c->alpn = g_strndup((const char *)proto, proto_len);
    if (!c->tls_client) {
        const char *sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
        g_free(c->sni);
        c->sni = g_strdup(sni);
    }
    c->tls_ready = TRUE;
    c->state = CONN_ST_OPEN;
    c->last_activity = g_get_monotonic_time();
    g_debug("conn %s: %s established (sni %s, alpn %s)", c->peer, SSL_get_version(c->ssl),
            c->sni ? c->sni : "-", c->alpn ? c->alpn : "-");
    conn_update_io(c);
    if (c->cb.on_tls_ready) {
        c->cb.on_tls_ready(c, c->ud);
        if (c->freed)
            return;
    }
    if (c->state == CONN_ST_OPEN) {
        if (c->out != NULL && c->out->len > c->out_off)
            conn_schedule_flush(c); /* written during the handshake */
        conn_kick(c);               /* application data may have come with the Finished */
    }
}

/* ---- reading and writing ---- */

/* ---- read rate: a token bucket per connection; an empty bucket stops reading (the fd
 * leaves the epoll set) until a timer says enough tokens are back ---- */

/* Wake up for at least this many bytes: ~16 wakeups a second at most, whatever the rate. */
static gsize rate_resume_bytes(const Conn *c)
{
    return (gsize)MIN(c->rate.burst, MAX(c->rate.rate / 16, 1));
}

static void conn_virtual_drain(Conn *c);

static gboolean conn_rate_resume(gpointer data)
{
    Conn *c = data;
    g_source_unref(c->rate_timer);
    c->rate_timer = NULL;
    c->rate_paused = FALSE;
    if (c->sink) {
        conn_virtual_drain(c);
        return G_SOURCE_REMOVE;
    }
    conn_update_io(c);
    if (c->state == CONN_ST_OPEN && !c->read_paused && c->vt->pending(c) > 0)
        conn_kick(c); /* decrypted bytes that poll cannot announce */
    return G_SOURCE_REMOVE;
}

static void conn_rate_pause(Conn *c)
{
    gint64 us = rate_bucket_wait_us(&c->rate, rate_resume_bytes(c));
    c->rate_paused = TRUE;
    clear_source(&c->rate_timer);
    c->rate_timer = g_timeout_source_new((guint)MIN(us / 1000 + 1, 60000));
    g_source_set_name(c->rate_timer, "tern conn read rate");
    g_source_set_callback(c->rate_timer, conn_rate_resume, c, NULL);
    g_source_attach(c->rate_timer, c->ctx);
}

void conn_set_read_rate(Conn *c, guint64 bytes_per_s, guint64 burst)
{
    g_return_if_fail(!c->freed);
    rate_bucket_init(&c->rate, bytes_per_s, burst, g_get_monotonic_time());
    if (c->rate_paused) { /* the bucket starts full */
        clear_source(&c->rate_timer);
        c->rate_paused = FALSE;
        conn_update_io(c);
        if (c->state == CONN_ST_OPEN && !c->read_paused && c->vt->pending(c) > 0)
            conn_kick(c);
    }
}

/* pre: the first read, done ahead in a batch (prefetch_reads), or NULL. */
static void conn_read(Conn *c, ConnPrefetch *pre)
{
    char buf[CONN_READ_CHUNK];
    c->read_wants_write = FALSE;
    for (int i = 0; i < CONN_READS_PER_WAKEUP || c->vt->pending(c) > 0; i++) {
        gsize n = 0, want = sizeof buf;
        const char *data = buf;
        GError *err = NULL;
        IoResult r;
        if (i == 0 && pre && c->vt == &conn_tcp_vtable) {
            want = pre->want;
            data = pre->buf;
            r = tcp_result(pre->got, TRUE, &n, &err);
            pre->off = (gsize)MAX(pre->got, 0); /* taken */
        } else {
            if (c->rate.rate) {
                /* Read only what the bucket allows: the rest waits in the kernel (or in
                 * OpenSSL's record buffer), so nothing is dropped and TCP pushes back. */
                gsize avail = rate_bucket_available(&c->rate, conn_now(c));
                if (avail == 0) {
                    conn_rate_pause(c);
                    goto out;
                }
                want = MIN(want, avail);
            }
            r = c->vt->read(c, buf, want, &n, &err);
        }
        switch (r) {
        case IO_DONE:
            break;
        case IO_WANT_READ:
            goto out;
        case IO_WANT_WRITE:
            c->read_wants_write = TRUE;
            goto out;
        case IO_EOF:
            conn_finish(c, g_error_new_literal(CONN_ERROR, CONN_ERROR_EOF, "peer closed"));
            return;
        case IO_FAIL:
            conn_finish(c, err);
            return;
        }
        c->last_activity = conn_now(c);
        rate_bucket_take(&c->rate, n);
        gboolean more = c->cb.on_data(c, data, n, c->ud);
        if (c->freed || c->state != CONN_ST_OPEN)
            return; /* conn_free / conn_close / conn_start_tls from the callback */
        if (!more || c->read_paused)
            break; /* (TLS ciphertext read ahead waits in the stash) */
        if (c->vt == &conn_tcp_vtable && n < want)
            break; /* drained: poll says when more comes (saves a recv() that says EAGAIN) */
    }
out:
    /* Decrypted bytes (or ciphertext read ahead) that poll cannot announce; not while the
     * read waits for writable: that would spin until the peer reads. */
    if (!c->read_paused && !c->rate_paused && !c->read_wants_write && c->vt->pending(c) > 0)
        conn_kick(c);
    conn_update_io(c);
}

/* Start a write-out: FALSE when there is nothing to write to an fd (a virtual connection
 * is flushed here, at once); else *end is where the bytes to write end. */
static gboolean conn_flush_begin(Conn *c, gsize *end)
{
    conn_dequeue(c);
    if (c->sink) {
        conn_virtual_flush(c);
        return FALSE;
    }
    if (c->fd < 0)
        return FALSE;
    if (c->state != CONN_ST_OPEN && c->state != CONN_ST_TLS_WAIT && c->state != CONN_ST_CLOSING)
        return FALSE;
    *end = c->state == CONN_ST_TLS_WAIT ? c->plain_end : c->out != NULL ? c->out->len : 0;
    c->write_blocked = c->write_wants_read = FALSE;
    return TRUE;
}

/* One write's result; FALSE when it failed and the connection is finished. */
static gboolean conn_wrote(Conn *c, IoResult r, gsize n, GError *err)
{
    switch (r) {
    case IO_DONE:
        c->out_off += n;
        c->sent_total += n;
        c->last_activity = conn_now(c);
        return TRUE;
    case IO_WANT_WRITE:
        c->write_blocked = TRUE;
        return TRUE;
    case IO_WANT_READ:
        c->write_wants_read = TRUE; /* TLS: retried when readable */
        return TRUE;
    case IO_EOF:
    case IO_FAIL:
        break;
    }
    if (!err)
        err = g_error_new_literal(CONN_ERROR, CONN_ERROR_IO, "write: peer closed");
    conn_finish(c, err);
    return FALSE;
}

/* Write the output up to stop until done or blocked; FALSE when the connection failed. */
static gboolean conn_write_until(Conn *c, gsize stop)
{
    while (c->out_off < stop && !c->write_blocked && !c->write_wants_read) {
        gsize n = 0;
        GError *err = NULL;
        IoResult r = c->vt->write(c, c->out->str + c->out_off, stop - c->out_off, &n, &err);
        if (!conn_wrote(c, r, n, err))
            return FALSE;
    }
    return TRUE;
}

/* Write up to end until done or blocked, then settle the buffer and the state. */
static void conn_flush_rest(Conn *c, gsize end)
{
    /* TLS ciphertext a batched write left goes first; until it is out, the connection is
     * not done writing (no sent-waiters, no close_notify) */
    if (tls_wstashed(c) && !tls_wstash_drain(c)) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_IO, "write: %s", g_strerror(errno)));
            return;
        }
        c->write_blocked = TRUE;
    }
    gboolean wire_left = tls_wstashed(c) != NULL;
    if (!conn_write_until(c, end))
        return;
    if (c->sent_waiters && !wire_left)
        conn_run_sent_waiters(c);
    if (c->fd < 0)
        return;
    if (c->out_off == end && !wire_left) {
        if (c->out != NULL) {
            g_string_erase(c->out, 0, (gssize)c->out_off);
            c->out_off = 0;
            if (c->out->len == 0 && c->out->allocated_len > CONN_OUT_KEEP) {
                /* memory per idle session: do not keep what a login or a burst grew */
                g_string_free(c->out, TRUE);
                c->out = g_string_new(NULL);
            }
        }
        if (c->state == CONN_ST_TLS_WAIT) {
            conn_begin_handshake(c);
            return;
        }
        if (c->state == CONN_ST_CLOSING) {
            conn_begin_shutdown(c);
            return;
        }
    } else if (c->state != CONN_ST_TLS_WAIT && c->out_off >= CONN_COMPACT_MIN &&
               c->out_off > c->out->len / 2) {
        g_string_erase(c->out, 0, (gssize)c->out_off);
        c->out_off = 0;
    }
    conn_update_io(c);
}

static void conn_flush_now(Conn *c)
{
    gsize end;
    if (conn_flush_begin(c, &end))
        conn_flush_rest(c, end);
}

/* What the epoll set reported for c (rev), or a kick (more to read without an fd event). */
static void conn_dispatch(Conn *c, GIOCondition rev, gboolean kicked, ConnPrefetch *pre)
{
    /* Let the read or write that is waiting find out what happened. */
    if (rev & (G_IO_HUP | G_IO_ERR))
        rev |= c->watching;

    conn_ref(c);
    switch (c->state) {
    case CONN_ST_HANDSHAKE:
        if (rev || kicked)
            conn_handshake(c);
        break;
    case CONN_ST_SHUTDOWN:
        if (rev & G_IO_OUT)
            conn_begin_shutdown(c);
        break;
    case CONN_ST_LINGER:
        if (rev & G_IO_IN)
            conn_linger_read(c);
        break;
    case CONN_ST_CLOSED:
        break;
    default:
        if ((c->write_blocked && (rev & G_IO_OUT)) || (c->write_wants_read && (rev & G_IO_IN)))
            conn_flush_now(c);
        /* Bytes read ahead are delivered even if a callback of another connection paused
         * this one meanwhile: they are out of the kernel, and pausing stops more reading. */
        if (c->state == CONN_ST_OPEN &&
            (pre || (!c->read_paused && !c->rate_paused &&
                     ((rev & G_IO_IN) || kicked || (c->read_wants_write && (rev & G_IO_OUT))))))
            conn_read(c, pre);
        break;
    }
    conn_unref(c);
}

/* ---- public API ---- */

static void format_addr(const struct sockaddr *sa, char *out, socklen_t size)
{
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    const char *ok = NULL;
    if (sa->sa_family == AF_INET)
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, size);
    else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
        ok = inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, size); /* dual-stack listener */
    else if (sa->sa_family == AF_INET6)
        ok = inet_ntop(AF_INET6, &s6->sin6_addr, out, size);
    else if (sa->sa_family == AF_UNIX)
        ok = g_strlcpy(out, "unix", size) < size ? out : NULL;
    if (!ok)
        g_strlcpy(out, "unknown", size);
}

Conn *conn_new(int fd, const ConnCallbacks *cb, gpointer ud)
{
    g_return_val_if_fail(fd >= 0 && cb && cb->on_data && cb->on_closed, NULL);
    GError *err = NULL;
    if (!g_unix_set_fd_nonblocking(fd, TRUE, &err)) {
        g_warning("conn: cannot make fd %d nonblocking: %s", fd, err->message);
        g_clear_error(&err);
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 && errno != ENOTSUP &&
        errno != EOPNOTSUPP && errno != ENOPROTOOPT)
        g_debug("conn: TCP_NODELAY: %s", g_strerror(errno)); /* writes are coalesced here */

    Conn *c = g_new0(Conn, 1);
    c->refcount = 1;
    c->fd = fd;
    c->state = CONN_ST_OPEN;
    c->vt = &conn_tcp_vtable;
    c->cb = *cb;
    c->ud = ud;
    c->out = g_string_new(NULL);
    c->max_outbuf = CONN_DEFAULT_MAX_OUTBUF;
    c->flush_link.data = c;
    c->ctx = g_main_context_ref_thread_default();
    c->flusher = flusher_acquire(c->ctx);
    c->kick_link.data = c;

    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        format_addr((const struct sockaddr *)&ss, c->peer, sizeof c->peer);
    else
        g_strlcpy(c->peer, "unknown", sizeof c->peer);
    c->last_activity = g_get_monotonic_time();
    if (!c->flusher)
        conn_finish(c, g_error_new_literal(CONN_ERROR, CONN_ERROR_IO, "no epoll set"));
    conn_update_io(c);
    return c;
}

void conn_free(Conn *c)
{
    if (!c)
        return;
    g_return_if_fail(!c->freed);
    c->freed = TRUE;
    g_slist_free_full(g_steal_pointer(&c->sent_waiters), sent_waiter_drop);
    c->sent_waiters_tail = NULL;
    conn_release_fd(c);
    conn_sink_close(c);
    c->state = CONN_ST_CLOSED;
    clear_source(&c->closed_idle);
    g_clear_error(&c->closed_err);
    flusher_release(c->flusher);
    c->flusher = NULL;
    conn_unref(c); /* memory stays until a running dispatcher lets go */
}

void conn_set_max_outbuf(Conn *c, gsize max)
{
    c->max_outbuf = max;
}

/* An idle stream's connection gives back its (empty) outbound buffer; conn_write() makes a
 * new one. Memory per idle session (docs/performance.md). */
void conn_release_idle(Conn *c)
{
    if (c->freed || c->sink != NULL || c->out == NULL || c->out->len != 0)
        return;
    g_string_free(c->out, TRUE);
    c->out = NULL;
    c->out_off = 0;
}

void conn_write(Conn *c, const char *buf, gsize len)
{
    g_return_if_fail(!c->freed);
    if (len == 0 || (c->fd < 0 && !c->sink) || c->state >= CONN_ST_CLOSING)
        return; /* nothing more goes out once closing started */
    if (c->out == NULL)
        c->out = g_string_new(NULL); /* given back by conn_release_idle() */
    g_string_append_len(c->out, buf, (gssize)len);
    if (c->sink)
        g_array_append_val(c->virt->msg_lens, len);
    c->queued_total += len;
    if (c->out->len - c->out_off > c->max_outbuf) {
        conn_finish(c,
                    g_error_new(CONN_ERROR, CONN_ERROR_OVERFLOW,
                                "outbound buffer over %" G_GSIZE_FORMAT " bytes", c->max_outbuf));
        return;
    }
    conn_schedule_flush(c);
}

void conn_write_str(Conn *c, const char *s)
{
    conn_write(c, s, strlen(s));
}

void conn_flush(Conn *c)
{
    g_return_if_fail(!c->freed);
    conn_flush_now(c);
}

void conn_close(Conn *c)
{
    g_return_if_fail(!c->freed);
    switch (c->state) {
    case CONN_ST_HANDSHAKE:
        conn_finish(c, NULL); /* nothing readable can be said mid-handshake */
        return;
    case CONN_ST_TLS_WAIT:
        g_string_truncate(c->out, c->plain_end); /* was meant to go out encrypted */
        break;
    case CONN_ST_OPEN:
        break;
    default:
        return; /* already closing or closed */
    }
    c->state = CONN_ST_CLOSING;
    c->close_timer = g_timeout_source_new(CONN_CLOSE_TIMEOUT_MS);
    g_source_set_callback(c->close_timer, conn_close_timeout, c, NULL);
    g_source_attach(c->close_timer, c->ctx);
    conn_update_io(c);
    conn_schedule_flush(c);
}

void conn_pause_reading(Conn *c, gboolean paused)
{
    g_return_if_fail(!c->freed);
    c->read_paused = !!paused;
    conn_update_io(c);
    if (!paused && !c->rate_paused && c->state == CONN_ST_OPEN && c->vt->pending(c) > 0)
        conn_kick(c);
}

void conn_start_tls(Conn *c, SSL_CTX *ctx)
{
    g_return_if_fail(!c->freed && ctx);
    if (c->state != CONN_ST_OPEN || c->ssl || c->sink) {
        g_warning("conn %s: conn_start_tls ignored (TLS already started or closing)", c->peer);
        return;
    }
    SSL_CTX_up_ref(ctx);
    c->tls_ctx = ctx;
    c->state = CONN_ST_TLS_WAIT;
    c->plain_end = c->out != NULL ? c->out->len : 0;
    c->read_wants_write = FALSE;
    conn_update_io(c); /* stop reading: the ClientHello stays in the kernel for OpenSSL */
    conn_schedule_flush(c);
}

void conn_start_tls_client(Conn *c, SSL_CTX *ctx, const char *sni)
{
    g_return_if_fail(!c->freed && ctx);
    if (c->state != CONN_ST_OPEN || c->ssl) {
        g_warning("conn %s: conn_start_tls_client ignored (TLS already started or closing)",
                  c->peer);
        return;
    }
    c->tls_client = TRUE;
    g_free(c->sni);
    c->sni = g_strdup(sni);
    conn_start_tls(c, ctx);
}

void conn_set_verify_peer(Conn *c, gboolean verify)
{
    c->verify_peer = !!verify;
}

gboolean conn_is_tls(const Conn *c)
{
    return c->tls_ready;
}

SSL *conn_ssl(const Conn *c)
{
    return c->ssl;
}

const char *conn_peer_addr(const Conn *c)
{
    return c->peer;
}

const char *conn_sni(const Conn *c)
{
    return c->sni;
}

const char *conn_alpn(const Conn *c)
{
    return c->alpn;
}

gint64 conn_last_activity(const Conn *c)
{
    return c->last_activity;
}

/* ---- the virtual kind ---- */

Conn *conn_new_virtual(const ConnCallbacks *cb, gpointer ud, const ConnSink *sink, gpointer sink_ud,
                       const char *peer_addr, gboolean secure)
{
    g_return_val_if_fail(cb && cb->on_data && cb->on_closed && sink && sink->send && sink->close,
                         NULL);
    Conn *c = g_new0(Conn, 1);
    c->refcount = 1;
    c->fd = -1;
    c->state = CONN_ST_OPEN;
    c->vt = &conn_tcp_vtable; /* never called: no fd */
    c->cb = *cb;
    c->ud = ud;
    c->sink = sink;
    c->virt = g_new0(ConnVirtual, 1);
    c->virt->sink_ud = sink_ud;
    c->virt->msg_lens = g_array_new(FALSE, FALSE, sizeof(gsize));
    c->secure = !!secure;
    c->out = g_string_new(NULL);
    c->max_outbuf = CONN_DEFAULT_MAX_OUTBUF;
    c->flush_link.data = c;
    c->kick_link.data = c;
    c->ctx = g_main_context_ref_thread_default();
    c->flusher = flusher_acquire(c->ctx); /* the same once-per-turn flush as sockets */
    g_strlcpy(c->peer, peer_addr && *peer_addr ? peer_addr : "unknown", sizeof c->peer);
    c->last_activity = g_get_monotonic_time();
    if (!c->flusher)
        conn_finish(c, g_error_new_literal(CONN_ERROR, CONN_ERROR_IO, "no epoll set"));
    return c;
}

/* Tell the transport once that this end is closing (not when it told us it is gone). */
static void conn_sink_close(Conn *c)
{
    if (!c->sink || c->sink_done)
        return;
    c->sink_done = TRUE;
    c->sink->close(c->virt->sink_ud);
}

/* Every queued message to the transport, in order; then finish a closing connection. */
static void conn_virtual_flush(Conn *c)
{
    if (c->state != CONN_ST_OPEN && c->state != CONN_ST_CLOSING)
        return;
    gsize off = 0;
    conn_ref(c);
    for (guint i = 0; i < c->virt->msg_lens->len && !c->sink_done; i++) {
        gsize len = g_array_index(c->virt->msg_lens, gsize, i);
        c->sink->send(c->virt->sink_ud, c->out->str + off, len);
        off += len;
    }
    g_array_set_size(c->virt->msg_lens, 0);
    g_string_truncate(c->out, 0);
    c->sent_total = c->queued_total;
    if (off)
        c->last_activity = g_get_monotonic_time();
    if (c->sent_waiters && !c->freed)
        conn_run_sent_waiters(c);
    if (!c->freed && c->state == CONN_ST_CLOSING)
        conn_finish(c, NULL); /* calls sink->close */
    conn_unref(c);
}

/* A web transport cannot be told to stop reading, so its messages wait here while the
 * read-rate bucket is empty (the same pace as a socket's; nothing is dropped). Waiting input
 * is bounded: past CONN_VIRTUAL_BACKLOG_MAX the connection is closed. */
#define CONN_VIRTUAL_BACKLOG_MAX (1024 * 1024)

/* Spend the tokens for a message of len bytes (what is missing becomes debt); FALSE when
 * the bucket is empty or a debt is still being paid off. */
static gboolean virtual_take(Conn *c, gsize len)
{
    gsize avail = rate_bucket_available(&c->rate, g_get_monotonic_time());
    gsize pay = MIN(avail, c->virt->rate_debt);

    rate_bucket_take(&c->rate, pay);
    c->virt->rate_debt -= pay;
    avail -= pay;
    if (c->virt->rate_debt > 0 || avail == 0)
        return FALSE;
    rate_bucket_take(&c->rate, MIN(avail, len));
    c->virt->rate_debt = len - MIN(avail, len);
    return TRUE;
}

static void virtual_deliver(Conn *c, const char *buf, gsize len)
{
    c->last_activity = g_get_monotonic_time();
    c->cb.on_data(c, buf, len, c->ud);
}

/* The bucket has tokens again: messages that waited, oldest first. */
static void conn_virtual_drain(Conn *c)
{
    conn_ref(c);
    while (c->virt->in_backlog.length > 0 && !c->freed && c->state == CONN_ST_OPEN &&
           !c->sink_done) {
        GBytes *msg = g_queue_peek_head(&c->virt->in_backlog);
        gsize len;
        const char *data = g_bytes_get_data(msg, &len);

        if (!virtual_take(c, len)) {
            conn_rate_pause(c);
            break;
        }
        g_queue_pop_head(&c->virt->in_backlog);
        c->virt->backlog_bytes -= len;
        virtual_deliver(c, data, len);
        g_bytes_unref(msg);
    }
    conn_unref(c);
}

void conn_virtual_feed(Conn *c, const char *buf, gsize len)
{
    g_return_if_fail(c && !c->freed && c->sink);
    if (c->state != CONN_ST_OPEN || c->sink_done)
        return; /* closing: what the peer says now is not read (as with a socket) */
    if (c->rate.rate && (c->virt->in_backlog.length > 0 || !virtual_take(c, len))) {
        if (c->virt->backlog_bytes + len > CONN_VIRTUAL_BACKLOG_MAX) {
            conn_finish(c, g_error_new(CONN_ERROR, CONN_ERROR_OVERFLOW,
                                       "over %d bytes of input waiting for the read rate",
                                       CONN_VIRTUAL_BACKLOG_MAX));
            return;
        }
        g_queue_push_tail(&c->virt->in_backlog, g_bytes_new(buf, len));
        c->virt->backlog_bytes += len;
        if (c->rate_timer == NULL)
            conn_rate_pause(c);
        return;
    }
    conn_ref(c);
    virtual_deliver(c, buf, len);
    conn_unref(c);
}

void conn_virtual_gone(Conn *c)
{
    g_return_if_fail(c && !c->freed && c->sink);
    c->sink_done = TRUE;
    conn_finish(c, g_error_new_literal(CONN_ERROR, CONN_ERROR_EOF, "the transport closed"));
}

gboolean conn_is_virtual(const Conn *c)
{
    return c->sink != NULL;
}

gboolean conn_is_secure(const Conn *c)
{
    return c->tls_ready || (c->sink && c->secure);
}

/* RFC 5929 §4.1: hash of our certificate with its signature's digest, SHA-256 for MD5/SHA-1. */
static GBytes *server_end_point(SSL *ssl)
{
    X509 *cert = SSL_get_certificate(ssl);
    int md_nid = NID_undef;
    if (!cert || X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL) != 1)
        return NULL;
    if (md_nid == NID_md5 || md_nid == NID_sha1)
        md_nid = NID_sha256;
    const EVP_MD *md = EVP_get_digestbynid(md_nid);
    if (!md)
        return NULL; /* e.g. Ed25519: no single hash, undefined by RFC 5929 */
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, md, buf, &len) != 1)
        return NULL;
    return g_bytes_new(buf, len);
}

GBytes *conn_channel_binding(const Conn *c, const char *type)
{
    if (!c->tls_ready || !c->ssl || !type)
        return NULL;
    if (g_str_equal(type, "tls-exporter")) {
        /* RFC 9266 §3: TLS 1.2 only with extended master secret; we offer 1.3 only. */
        if (SSL_version(c->ssl) != TLS1_3_VERSION)
            return NULL;
        unsigned char out[32];
        static const char label[] = "EXPORTER-Channel-Binding";
        if (SSL_export_keying_material(c->ssl, out, sizeof out, label, sizeof label - 1, NULL, 0,
                                       0) != 1) {
            ERR_clear_error();
            return NULL;
        }
        GBytes *b = g_bytes_new(out, sizeof out);
        OPENSSL_cleanse(out, sizeof out);
        return b;
    }
    if (g_str_equal(type, "tls-server-end-point"))
        return server_end_point(c->ssl);
    return NULL; /* tls-unique: not offered (RFC 9266 §4) */
}

/* ---- outgoing connect ---- */

struct ConnConnect {
    int fd;
    ConnConnectFunc fn;
    gpointer ud;
    GSource *watch;
    GSource *timer;
    GSource *idle; /* immediate result, reported from the loop */
    GError *error;
    char addr[INET6_ADDRSTRLEN + 8];
};

static void connect_free(ConnConnect *cc)
{
    clear_source(&cc->watch);
    clear_source(&cc->timer);
    clear_source(&cc->idle);
    if (cc->fd >= 0)
        close(cc->fd);
    g_clear_error(&cc->error);
    g_free(cc);
}

/* Report and free: fd to the callback on success. */
static void connect_done(ConnConnect *cc)
{
    int fd = -1;
    if (!cc->error) {
        fd = cc->fd;
        cc->fd = -1;
    }
    ConnConnectFunc fn = cc->fn;
    gpointer ud = cc->ud;
    GError *err = g_steal_pointer(&cc->error);
    connect_free(cc);
    fn(fd, err, ud);
    g_clear_error(&err);
}

static gboolean connect_idle_cb(gpointer data)
{
    ConnConnect *cc = data;
    g_source_unref(cc->idle);
    cc->idle = NULL;
    connect_done(cc);
    return G_SOURCE_REMOVE;
}

static gboolean connect_ready_cb(int fd, GIOCondition cond, gpointer data)
{
    ConnConnect *cc = data;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr == EINPROGRESS || soerr == EALREADY)
        return G_SOURCE_CONTINUE;
    if (soerr != 0)
        cc->error = g_error_new(CONN_ERROR, CONN_ERROR_IO, "connect to %s: %s", cc->addr,
                                g_strerror(soerr));
    g_source_unref(cc->watch); /* removed by returning G_SOURCE_REMOVE */
    cc->watch = NULL;
    connect_done(cc);
    return G_SOURCE_REMOVE;
}

static gboolean connect_timeout_cb(gpointer data)
{
    ConnConnect *cc = data;
    g_source_unref(cc->timer);
    cc->timer = NULL;
    cc->error = g_error_new(CONN_ERROR, CONN_ERROR_IO, "connect to %s: %s", cc->addr,
                            g_strerror(ETIMEDOUT));
    connect_done(cc);
    return G_SOURCE_REMOVE;
}

ConnConnect *conn_connect(const struct sockaddr *addr, socklen_t len, guint timeout_ms,
                          ConnConnectFunc fn, gpointer ud)
{
    g_return_val_if_fail(addr && fn, NULL);
    ConnConnect *cc = g_new0(ConnConnect, 1);
    cc->fn = fn;
    cc->ud = ud;
    char host[INET6_ADDRSTRLEN];
    format_addr(addr, host, sizeof host);
    guint16 port = addr->sa_family == AF_INET6
                       ? ntohs(((const struct sockaddr_in6 *)addr)->sin6_port)
                       : ntohs(((const struct sockaddr_in *)addr)->sin_port);
    g_snprintf(cc->addr, sizeof cc->addr, addr->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
               port);
    GMainContext *ctx = g_main_context_get_thread_default();
    cc->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = cc->fd < 0 ? -1 : connect(cc->fd, addr, len);
    if (r != 0 && (cc->fd < 0 || errno != EINPROGRESS)) {
        cc->error = g_error_new(CONN_ERROR, CONN_ERROR_IO, "connect to %s: %s", cc->addr,
                                g_strerror(errno));
    } else if (r != 0) {
        cc->watch = g_unix_fd_source_new(cc->fd, G_IO_OUT);
        g_source_set_callback(cc->watch, G_SOURCE_FUNC(connect_ready_cb), cc, NULL);
        g_source_attach(cc->watch, ctx);
        if (timeout_ms) {
            cc->timer = g_timeout_source_new(timeout_ms);
            g_source_set_callback(cc->timer, connect_timeout_cb, cc, NULL);
            g_source_attach(cc->timer, ctx);
        }
        return cc;
    }
    cc->idle = g_idle_source_new(); /* connected at once (loopback) or failed at once */
    g_source_set_callback(cc->idle, connect_idle_cb, cc, NULL);
    g_source_attach(cc->idle, ctx);
    return cc;
}

void conn_connect_cancel(ConnConnect *cc)
{
    if (cc)
        connect_free(cc);
}

/* ---- addresses ---- */

gboolean conn_parse_hostport(const char *s, char **host, guint16 *port, GError **error)
{
    const char *port_str;
    g_autofree char *h = NULL;
    if (!s || !*s) {
        g_set_error_literal(error, CONN_ERROR, CONN_ERROR_IO, "empty address");
        return FALSE;
    }
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end == s + 1 || end[1] != ':') {
            g_set_error(error, CONN_ERROR, CONN_ERROR_IO,
                        "bad address \"%s\": expected [ipv6-address]:port", s);
            return FALSE;
        }
        h = g_strndup(s + 1, (gsize)(end - s - 1));
        port_str = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s) {
            g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "bad address \"%s\": expected host:port",
                        s);
            return FALSE;
        }
        if (memchr(s, ':', (gsize)(colon - s))) {
            g_set_error(error, CONN_ERROR, CONN_ERROR_IO,
                        "bad address \"%s\": an IPv6 address goes in brackets, [::1]:5222", s);
            return FALSE;
        }
        h = g_strndup(s, (gsize)(colon - s));
        port_str = colon + 1;
    }
    for (const char *p = h; *p; p++) {
        if (g_ascii_isspace(*p) || *p == '[' || *p == ']' || *p == '/') {
            g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "bad address \"%s\": bad host", s);
            return FALSE;
        }
    }
    guint64 v = 0;
    if (!g_ascii_string_to_unsigned(port_str, 10, 0, 65535, &v, NULL)) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_IO,
                    "bad address \"%s\": port must be a number from 0 to 65535", s);
        return FALSE;
    }
    *host = g_steal_pointer(&h);
    *port = (guint16)v;
    return TRUE;
}

/* ---- listeners ---- */

struct Listener {
    int refcount;
    gboolean freed;
    int fd;
    guint16 port;
    char *addr;
    ListenerAcceptFunc fn;
    gpointer ud;
    GMainContext *ctx;
    GSource *source;
    GSource *pause_timer;
};

static void listener_unref(Listener *l)
{
    if (--l->refcount > 0)
        return;
    g_free(l->addr);
    g_main_context_unref(l->ctx);
    g_free(l);
}

static gboolean listener_readable(int fd, GIOCondition cond, gpointer data);

static void listener_watch(Listener *l)
{
    l->source = g_unix_fd_source_new(l->fd, G_IO_IN);
    g_source_set_name(l->source, "tern listener");
    g_source_set_callback(l->source, G_SOURCE_FUNC(listener_readable), l, NULL);
    g_source_attach(l->source, l->ctx);
}

static gboolean listener_resume(gpointer data)
{
    Listener *l = data;
    g_source_unref(l->pause_timer);
    l->pause_timer = NULL;
    listener_watch(l);
    return G_SOURCE_REMOVE;
}

static gboolean listener_readable(int fd, GIOCondition cond, gpointer data)
{
    Listener *l = data;
    l->refcount++;
    for (int i = 0; i < LISTENER_ACCEPTS_PER_WAKEUP && !l->freed; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int cfd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd >= 0) {
            l->fn(cfd, (struct sockaddr *)&ss, len, l->ud);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: the pending connection stays readable; don't spin on it. */
            g_warning("listener %s: accept: %s; pausing for %d ms", l->addr, g_strerror(errno),
                      LISTENER_PAUSE_MS);
            clear_source(&l->source);
            l->pause_timer = g_timeout_source_new(LISTENER_PAUSE_MS);
            g_source_set_callback(l->pause_timer, listener_resume, l, NULL);
            g_source_attach(l->pause_timer, l->ctx);
            break;
        }
        g_debug("listener %s: accept: %s", l->addr, g_strerror(errno)); /* ECONNABORTED... */
    }
    listener_unref(l);
    return G_SOURCE_CONTINUE;
}

/* v6only: -1 leaves the system default. */
static int listener_bind(int family, const struct sockaddr *sa, socklen_t salen, int v6only,
                         const char *addr, GError **error)
{
    const char *step = "socket";
    int one = 1;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    step = "SO_REUSEADDR";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    step = "IPV6_V6ONLY";
    if (family == AF_INET6 && v6only >= 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
        goto fail;
    step = "bind";
    if (bind(fd, sa, salen) != 0)
        goto fail;
    step = "listen";
    if (listen(fd, SOMAXCONN) != 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "cannot listen on %s: %s: %s", addr, step,
                g_strerror(saved));
    if (fd >= 0)
        close(fd);
    errno = saved;
    return -1;
}

static int listener_open(const char *addr, const char *host, guint16 port, GError **error)
{
    if (g_str_equal(host, "*")) {
        /* Every address: dual-stack [::], or 0.0.0.0 on a host without IPv6. */
        struct sockaddr_in6 s6 = {
            .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
        GError *err6 = NULL;
        int fd = listener_bind(AF_INET6, (struct sockaddr *)&s6, sizeof s6, 0, addr, &err6);
        if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL)) {
            if (err6)
                g_propagate_error(error, err6);
            return fd;
        }
        g_clear_error(&err6);
        struct sockaddr_in s4 = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
        return listener_bind(AF_INET, (struct sockaddr *)&s4, sizeof s4, -1, addr, error);
    }
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port_str[8];
    g_snprintf(port_str, sizeof port_str, "%u", port);
    int r = getaddrinfo(host, port_str, &hints, &res);
    if (r != 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "cannot listen on %s: %s", addr,
                    gai_strerror(r));
        return -1;
    }
    int fd = -1;
    GError *last = NULL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        int v6only = -1;
        if (ai->ai_family == AF_INET6) /* "[::]" means every address, as "*" does */
            v6only =
                IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr) ? 0 : 1;
        g_clear_error(&last);
        fd = listener_bind(ai->ai_family, ai->ai_addr, ai->ai_addrlen, v6only, addr, &last);
    }
    freeaddrinfo(res);
    if (fd < 0)
        g_propagate_error(error, last);
    else
        g_clear_error(&last);
    return fd;
}

Listener *listener_new(const char *addr, ListenerAcceptFunc fn, gpointer ud, GError **error)
{
    g_autofree char *host = NULL;
    guint16 port = 0;
    g_return_val_if_fail(addr && fn, NULL);
    if (!conn_parse_hostport(addr, &host, &port, error))
        return NULL;
    int fd = listener_open(addr, host, port, error);
    if (fd < 0)
        return NULL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        g_set_error(error, CONN_ERROR, CONN_ERROR_IO, "cannot listen on %s: getsockname: %s", addr,
                    g_strerror(errno));
        close(fd);
        return NULL;
    }
    Listener *l = g_new0(Listener, 1);
    l->refcount = 1;
    l->fd = fd;
    l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    l->addr = g_strdup(addr);
    l->fn = fn;
    l->ud = ud;
    l->ctx = g_main_context_ref_thread_default();
    listener_watch(l);
    g_debug("listening on %s (port %u)", addr, l->port);
    return l;
}

void listener_free(Listener *l)
{
    if (!l)
        return;
    g_return_if_fail(!l->freed);
    l->freed = TRUE;
    clear_source(&l->source);
    clear_source(&l->pause_timer);
    if (close(l->fd) != 0)
        g_debug("listener %s: close: %s", l->addr, g_strerror(errno));
    l->fd = -1;
    listener_unref(l); /* an accept callback may still be running: it holds a ref */
}

guint16 listener_port(const Listener *l)
{
    return l->port;
}
