/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/iobatch.c — many sockets' send()s or recv()s in one system call (io_uring) */
#undef G_LOG_DOMAIN
#define G_LOG_DOMAIN "tern"

#include "router/iobatch.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/socket.h>

#define IOBATCH_SUBMIT_TRIES 8 /* io_uring_enter saying EAGAIN/ENOMEM/EINTR: then give up */

typedef enum { OP_SEND, OP_RECV } OpKind;

typedef struct {
    OpKind kind;
    int fd;
    void *buf;
    gsize len;
    gpointer ud;
    gssize res;
} IoOp;

struct IoBatch {
    struct io_uring ring;
    gboolean ring_ok; /* FALSE: no ring (never had one, or it failed): plain system calls */
    guint cap;
    guint n;
    IoOp *ops;
};

static gboolean enabled = TRUE;

void iobatch_set_enabled(gboolean on)
{
    enabled = on;
}

static gboolean ring_init(IoBatch *b)
{
    /* SUBMIT_ALL: one bad entry does not stop the rest; COOP_TASKRUN: no interrupt to run
     * completion work (we wait for it anyway). Older kernels refuse the flags: retry bare. */
    static const unsigned flag_sets[] = {IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, 0};
    for (guint i = 0; i < G_N_ELEMENTS(flag_sets); i++) {
        int r = io_uring_queue_init(b->cap, &b->ring, flag_sets[i]);
        if (r == 0) {
            g_debug("iobatch: io_uring, %u operations a system call", b->cap);
            return TRUE;
        }
        if (r != -EINVAL) {
            g_debug("iobatch: io_uring unavailable (%s): one system call per operation",
                    g_strerror(-r));
            return FALSE;
        }
    }
    return FALSE;
}

IoBatch *iobatch_new(guint entries)
{
    IoBatch *b = g_new0(IoBatch, 1);
    b->cap = MAX(entries, 1);
    b->ops = g_new0(IoOp, b->cap);
    b->ring_ok = enabled && ring_init(b);
    if (!enabled)
        g_debug("iobatch: io_uring off ([server] io_uring = false): one system call each");
    return b;
}

void iobatch_free(IoBatch *b)
{
    if (!b)
        return;
    if (b->ring_ok)
        io_uring_queue_exit(&b->ring);
    g_free(b->ops);
    g_free(b);
}

gboolean iobatch_uses_ring(const IoBatch *b)
{
    return b->ring_ok;
}

guint iobatch_queued(const IoBatch *b)
{
    return b->n;
}

guint iobatch_capacity(const IoBatch *b)
{
    return b->cap;
}

static gboolean add_op(IoBatch *b, OpKind kind, int fd, void *buf, gsize len, gpointer ud)
{
    if (b->n == b->cap)
        return FALSE;
    b->ops[b->n] = (IoOp){kind, fd, buf, len, ud, -EIO};
    b->n++;
    return TRUE;
}

gboolean iobatch_send(IoBatch *b, int fd, const void *buf, gsize len, gpointer ud)
{
    return add_op(b, OP_SEND, fd, (void *)buf, len, ud);
}

gboolean iobatch_recv(IoBatch *b, int fd, void *buf, gsize len, gpointer ud)
{
    return add_op(b, OP_RECV, fd, buf, len, ud);
}

static gssize op_now(const IoOp *op)
{
    for (;;) {
        ssize_t r = op->kind == OP_SEND ? send(op->fd, op->buf, op->len, MSG_NOSIGNAL)
                                        : recv(op->fd, op->buf, op->len, 0);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

/* Through the ring. FALSE when the ring failed: the operations not handed over are done
 * with plain system calls by the caller (those handed over completed, res set). */
static gboolean run_ring(IoBatch *b, guint *handed)
{
    *handed = 0;
    for (guint i = 0; i < b->n; i++) {
        IoOp *op = &b->ops[i];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);
        if (!sqe) /* cannot happen: the ring has cap entries and is empty between runs */
            return FALSE;
        if (op->kind == OP_SEND)
            io_uring_prep_send(sqe, op->fd, op->buf, op->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        else
            io_uring_prep_recv(sqe, op->fd, op->buf, op->len, MSG_DONTWAIT);
        io_uring_sqe_set_data64(sqe, i);
    }
    guint submitted = 0, done = 0, tries = 0;
    while (submitted < b->n) {
        int r = io_uring_submit(&b->ring);
        if (r > 0) {
            submitted += (guint)r;
            continue;
        }
        if ((r == -EINTR || r == -EAGAIN || r == -ENOMEM) && ++tries < IOBATCH_SUBMIT_TRIES)
            continue;
        /* What the kernel did not take stays in the ring: the ring is dropped below, so it
         * never runs, and the caller does it with plain system calls. */
        g_warning("iobatch: io_uring_enter: %s: back to one system call per operation",
                  g_strerror(r < 0 ? -r : EIO));
        break;
    }
    *handed = submitted;
    while (done < submitted) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&b->ring, &cqe);
        if (r == -EINTR)
            continue;
        if (r < 0) {
            g_warning("iobatch: waiting for completions: %s", g_strerror(-r));
            return FALSE;
        }
        guint64 i = io_uring_cqe_get_data64(cqe);
        if (i < b->n)
            b->ops[i].res = cqe->res;
        io_uring_cqe_seen(&b->ring, cqe);
        done++;
    }
    return submitted == b->n;
}

guint iobatch_run(IoBatch *b, IoBatchDone done, gpointer data)
{
    guint n = b->n;
    if (n == 0)
        return 0;
    guint handed = 0;
    /* one operation: the plain system call is one system call too, and cheaper */
    if (b->ring_ok && n > 1 && !run_ring(b, &handed)) {
        io_uring_queue_exit(&b->ring);
        b->ring_ok = FALSE;
    }
    if (!b->ring_ok || n == 1)
        for (guint i = handed; i < n; i++)
            b->ops[i].res = op_now(&b->ops[i]);
    b->n = 0;
    for (guint i = 0; i < n; i++)
        done(b->ops[i].ud, b->ops[i].res, data);
    return n;
}
