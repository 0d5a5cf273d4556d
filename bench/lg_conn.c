/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* bench/lg_conn.c — load generator connections: nonblocking TCP, TLS, buffers, epoll step */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* epoll_pwait2 */
#endif
#include "bench/loadgen.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LG_READ_CHUNK (64 * 1024)
#define LG_MAX_EVENTS 1024

uint64_t lg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_events(LgConn *c, uint32_t ev)
{
    if (c->fd < 0 || ev == c->ev_mask)
        return;
    struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)c->idx};
    if (epoll_ctl(c->run->epfd, EPOLL_CTL_MOD, c->fd, &e) != 0)
        g_warning("epoll_ctl: %s", g_strerror(errno));
    c->ev_mask = ev;
}

/* What the connection waits for now. */
static void update_events(LgConn *c)
{
    uint32_t ev = EPOLLIN;
    if (c->phase == PH_CONNECTING)
        ev = EPOLLOUT;
    else if (c->phase == PH_TLS)
        ev = c->hs_want_write ? EPOLLOUT : EPOLLIN;
    else if (c->out_off < c->out_len || c->read_want_write)
        ev |= EPOLLOUT;
    set_events(c, ev);
}

static void release(LgConn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(c->run->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    g_clear_pointer(&c->in, g_free);
    g_clear_pointer(&c->out, g_free);
    c->in_len = c->in_cap = c->out_len = c->out_off = c->out_cap = 0;
    c->ev_mask = 0;
    c->stop_scan = TRUE;
}

/* The end of a connection's setup: the run stops counting it as in progress. */
static void setup_over(LgConn *c)
{
    if (c->phase != PH_READY && c->phase != PH_DONE && c->phase != PH_FAILED)
        c->run->active--;
}

void lg_conn_fail(LgConn *c, uint64_t *counter, const char *fmt, ...)
{
    LgRun *run = c->run;
    if (c->phase == PH_FAILED || c->phase == PH_DONE)
        return;
    if (counter)
        (*counter)++;
    if (!run->first_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_snprintf(run->first_error, sizeof run->first_error, "session %d (user%d): %s", c->idx,
                   c->user, msg);
        g_free(msg);
    }
    if (c->phase == PH_READY)
        run->ready--;
    setup_over(c);
    c->phase = PH_FAILED;
    run->failed++;
    release(c);
}

/* Say goodbye on purpose (registration done, end of the run). */
void lg_conn_close(LgConn *c)
{
    if (c->phase == PH_FAILED || c->phase == PH_DONE)
        return;
    if (c->fd >= 0 && c->phase != PH_CONNECTING && c->phase != PH_TLS) {
        static const char bye[] = "</stream:stream>";
        lg_conn_write(c, bye, sizeof bye - 1);
        /* one best-effort write; the server may reset if we close with unread input */
        if (c->ssl)
            SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        else if (send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL) < 0)
            errno = 0;
        ERR_clear_error();
    }
    if (c->phase == PH_READY)
        c->run->ready--;
    setup_over(c);
    c->phase = PH_DONE;
    c->run->done++;
    release(c);
}

void lg_conn_free(LgConn *c)
{
    release(c);
    g_free(c->cnonce);
    g_free(c->client_first_bare);
    g_free(c->jid);
    g_free(c->msg_prefix);
}

void lg_conn_start(LgRun *run, LgConn *c)
{
    c->run = run;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->phase = PH_CONNECTING;
    run->started++;
    run->active++;
    if (c->fd < 0) {
        lg_conn_fail(c, &run->err.connect, "socket: %s", g_strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    if (run->nsrc > 0) {
        /* the port is picked at connect(), per 4-tuple: many more than 28k per address */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        const struct sockaddr_in *src = &run->src[c->idx % run->nsrc];
        if (bind(c->fd, (const struct sockaddr *)src, sizeof *src) != 0) {
            lg_conn_fail(c, &run->err.connect, "bind: %s", g_strerror(errno));
            return;
        }
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)c->idx};
    if (epoll_ctl(run->epfd, EPOLL_CTL_ADD, c->fd, &e) != 0) {
        lg_conn_fail(c, &run->err.connect, "epoll_ctl: %s", g_strerror(errno));
        return;
    }
    c->ev_mask = EPOLLOUT;
    if (connect(c->fd, (const struct sockaddr *)c->dst, sizeof *c->dst) != 0 &&
        errno != EINPROGRESS) {
        lg_conn_fail(c, &run->err.connect, "connect: %s", g_strerror(errno));
        return;
    }
}

static void mark_dirty(LgConn *c)
{
    if (!c->dirty) {
        c->dirty = TRUE;
        g_array_append_val(c->run->dirty, c->idx);
    }
}

void lg_conn_write(LgConn *c, const char *buf, size_t len)
{
    if (c->fd < 0)
        return;
    if (c->out_len + len > c->out_cap) {
        if (c->out_off > 0) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + len > c->out_cap) {
            c->out_cap = MAX(c->out_cap * 2, MAX(c->out_len + len, 1024));
            c->out = g_realloc(c->out, c->out_cap);
        }
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    mark_dirty(c);
}

void lg_conn_write_str(LgConn *c, const char *s)
{
    lg_conn_write(c, s, strlen(s));
}

static const char *ssl_err_text(void)
{
    static char buf[200];
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    else
        g_strlcpy(buf, errno ? g_strerror(errno) : "connection closed", sizeof buf);
    ERR_clear_error();
    return buf;
}

static void flush_conn(LgConn *c)
{
    c->dirty = FALSE;
    if (c->fd < 0 || c->phase == PH_CONNECTING || c->phase == PH_TLS)
        return;
    while (c->out_off < c->out_len) {
        size_t left = c->out_len - c->out_off;
        if (c->ssl) {
            size_t n = 0;
            ERR_clear_error();
            errno = 0;
            if (SSL_write_ex(c->ssl, c->out + c->out_off, left, &n) == 1) {
                c->out_off += n;
                continue;
            }
            int e = SSL_get_error(c->ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                break;
            lg_conn_fail(c, &c->run->err.disconnect, "TLS write: %s", ssl_err_text());
            return;
        }
        ssize_t n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);
        if (n >= 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        lg_conn_fail(c, &c->run->err.disconnect, "write: %s", g_strerror(errno));
        return;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    update_events(c);
}

void lg_flush_all(LgRun *run)
{
    /* a flush may fail a connection, never queue more: the array is stable */
    for (guint i = 0; i < run->dirty->len; i++) {
        LgConn *c = &run->conns[g_array_index(run->dirty, int, i)];
        if (c->dirty)
            flush_conn(c);
    }
    g_array_set_size(run->dirty, 0);
}

static void tls_ready(LgConn *c)
{
    c->tls_done = TRUE;
    c->phase = PH_FEATURES;
    c->depth = 0;
    c->in_len = 0;
    lg_xmpp_send_header(c);
    update_events(c);
}

static void handshake(LgConn *c)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        tls_ready(c);
        return;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        c->hs_want_write = FALSE;
        break;
    case SSL_ERROR_WANT_WRITE:
        c->hs_want_write = TRUE;
        break;
    default:
        lg_conn_fail(c, &c->run->err.tls, "TLS handshake: %s", ssl_err_text());
        return;
    }
    update_events(c);
}

void lg_conn_start_tls(LgConn *c)
{
    LgRun *run = c->run;
    c->ssl = SSL_new(run->ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        lg_conn_fail(c, &run->err.tls, "TLS setup: %s", ssl_err_text());
        return;
    }
    SSL_set_tlsext_host_name(c->ssl, c->domain);
    if (run->opt.tls == LG_TLS_DIRECT) {
        static const unsigned char alpn[] = "\x0bxmpp-client"; /* XEP-0368 */
        SSL_set_alpn_protos(c->ssl, alpn, sizeof alpn - 1);
    }
    SSL_set_connect_state(c->ssl);
    c->phase = PH_TLS;
    c->in_len = 0; /* RFC 6120 §5.4.3.3: nothing before the handshake counts */
    c->stop_scan = TRUE;
    handshake(c);
}

static void connected(LgConn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err) {
        lg_conn_fail(c, &c->run->err.connect, "connect: %s", g_strerror(err));
        return;
    }
    if (c->run->opt.tls == LG_TLS_DIRECT) {
        lg_conn_start_tls(c);
        return;
    }
    c->phase = PH_FEATURES;
    lg_xmpp_send_header(c);
    update_events(c);
}

static void disconnected(LgConn *c, const char *why)
{
    LgRun *run = c->run;
    if (c->phase == PH_READY)
        lg_conn_fail(c, &run->err.disconnect, "disconnected: %s", why);
    else
        lg_conn_fail(c, &run->err.protocol, "disconnected during setup: %s", why);
}

/* recv() that also takes the kernel's receive timestamp of the data (run->rx_ns). */
static ssize_t recv_stamped(LgConn *c, char *buf, size_t len)
{
    union {
        char b[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                       .msg_controllen = sizeof ctl.b};
    ssize_t r = recvmsg(c->fd, &m, 0);

    c->run->rx_ns = 0;
    for (struct cmsghdr *h = r > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(h), sizeof ts);
            int64_t rt = (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
            if (rt > 0)
                c->run->rx_ns = (uint64_t)(rt + c->run->rt_to_mono);
        }
    }
    return r;
}

static void readable(LgConn *c)
{
    static char buf[LG_READ_CHUNK];
    c->read_want_write = FALSE;
    for (int i = 0; i < 8 && c->fd >= 0; i++) {
        size_t n = 0;
        if (c->ssl) {
            ERR_clear_error();
            errno = 0;
            if (SSL_read_ex(c->ssl, buf, sizeof buf, &n) != 1) {
                int e = SSL_get_error(c->ssl, 0);
                if (e == SSL_ERROR_WANT_READ)
                    break;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->read_want_write = TRUE;
                    update_events(c);
                    break;
                }
                disconnected(c, e == SSL_ERROR_ZERO_RETURN ? "TLS close_notify" : ssl_err_text());
                return;
            }
        } else {
            ssize_t r = recv_stamped(c, buf, sizeof buf);
            if (r == 0) {
                disconnected(c, "EOF");
                return;
            }
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break;
                disconnected(c, g_strerror(errno));
                return;
            }
            n = (size_t)r;
        }
        lg_xmpp_feed(c, buf, n);
        c->run->rx_ns = 0;
        if (c->fd < 0 || c->phase == PH_TLS)
            return; /* closed, or STARTTLS began */
        if (!c->ssl && n < sizeof buf)
            break;
    }
}

static void handle_event(LgRun *run, LgConn *c, uint32_t ev)
{
    if (c->fd < 0)
        return;
    switch (c->phase) {
    case PH_CONNECTING:
        connected(c);
        return;
    case PH_TLS:
        handshake(c);
        return;
    default:
        break;
    }
    if (ev & EPOLLOUT) {
        if (c->read_want_write)
            readable(c);
        if (c->fd >= 0)
            flush_conn(c);
    }
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        readable(c);
    /* TLS: a record may have been decrypted beyond what we asked for */
    while (c->fd >= 0 && c->ssl && c->phase != PH_TLS && SSL_pending(c->ssl) > 0)
        readable(c);
}

void lg_poll(LgRun *run, int64_t timeout_ns)
{
    struct epoll_event evs[LG_MAX_EVENTS];
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    int n = epoll_pwait2(run->epfd, evs, LG_MAX_EVENTS, tsp, NULL);
    if (n < 0 && errno != EINTR)
        g_error("epoll_pwait2: %s", g_strerror(errno));
    for (int i = 0; i < n; i++)
        handle_event(run, &run->conns[evs[i].data.u32], evs[i].events);
    lg_flush_all(run);
}
