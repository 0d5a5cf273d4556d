/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* router/iobatch.h — many sockets' send()s or recv()s in one system call (io_uring) */
#ifndef TERN_IOBATCH_H
#define TERN_IOBATCH_H

#include <glib.h>
#include <sys/types.h>

/*
 * A turn of the main loop reads from the connections that are readable and writes to the
 * ones with output: at a fixed rate that is one recv() per message and one send() per
 * recipient, each a system call, and on a virtual machine the entry and exit of a system
 * call cost as much as the TCP work inside it. An IoBatch gathers those operations and
 * hands them to the kernel in one io_uring_enter(). Every operation is non-blocking
 * (MSG_DONTWAIT): the kernel does it at once, as send()/recv() would, and reports the
 * same result (bytes, 0 at EOF, -EAGAIN, -errno); iobatch_run() returns when all are done.
 * The buffers must stay valid until then. Without io_uring (an old kernel, a seccomp
 * filter, kernel.io_uring_disabled, iobatch_set_enabled(FALSE)), or if the ring fails, the
 * batch makes the system calls one by one: same results, no saving.
 */

typedef struct IoBatch IoBatch;

/* A batch of up to `entries` operations a run (transfer full; never NULL). */
IoBatch *iobatch_new(guint entries);
void iobatch_free(IoBatch *b);
/* TRUE when the batch goes through an io_uring ring (else one system call each). */
gboolean iobatch_uses_ring(const IoBatch *b);

/* Off: batches made from now on make plain system calls (config `io_uring = false`). */
void iobatch_set_enabled(gboolean on);

/* Queue one operation; ud comes back in iobatch_run()'s callback. FALSE when the batch is
 * full (iobatch_capacity() operations): run it first. */
gboolean iobatch_send(IoBatch *b, int fd, const void *buf, gsize len, gpointer ud);
gboolean iobatch_recv(IoBatch *b, int fd, void *buf, gsize len, gpointer ud);
guint iobatch_queued(const IoBatch *b);
guint iobatch_capacity(const IoBatch *b);

/* Hand every queued operation to the kernel and wait for all of them; then call done once
 * per operation, with its result as send()/recv() would give it (-errno on failure).
 * Returns the number of operations done. */
typedef void (*IoBatchDone)(gpointer ud, gssize res, gpointer data);
guint iobatch_run(IoBatch *b, IoBatchDone done, gpointer data);

#endif
