/* SPDX-License-Identifier: MIT */
/*
 * bufpool.c — the loop's provided buffers: count buffers of size bytes that
 * the backend hands to multishot recvs as data arrives (io_uring: a
 * registered buffer ring), and their accounting.
 *
 * Invariants:
 *  - A buffer is either with the backend (it may fill it) or "held": queued
 *    in a cr_mrecv or in a reader's hands. held counts the latter; a buffer
 *    goes back only through cr__bufring_put.
 *  - ENOBUFS never reaches a reader: a recv that ran dry goes on the starved
 *    list and is re-armed when a buffer comes back (mrecv.c).
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int cr_loop_set_buffers(cr_loop *loop, unsigned count, unsigned size)
{
    if (!loop || count == 0 || count > 32768 || (count & (count - 1)) || size == 0)
        return -EINVAL;
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    struct cr__io_state *s = cr__io_state(loop);
    if (!s)
        return -ENOMEM;
    if (s->registered)
        return -EBUSY;
    s->count = count;
    s->size = size;
    return 0;
}

int cr_loop_buffer_stats(cr_loop *loop, cr_bufring_stats *out)
{
    if (!loop || !out)
        return -EINVAL;
    struct cr__io_state *s = cr__io_state(loop);
    if (!s)
        return -ENOMEM;
    out->enobufs = s->enobufs;
    out->rearms = s->rearms;
    out->in_use = s->held;
    out->count = s->count;
    out->size = s->size;
    return 0;
}

int cr__bufring_ready(cr_loop *l)
{
    struct cr__io_state *s = cr__io_state(l);
    if (!s)
        return -ENOMEM;
    if (s->registered)
        return 0;
    size_t bytes = (size_t)s->count * s->size;
    s->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->mem == MAP_FAILED) {
        s->mem = NULL;
        return -ENOMEM;
    }
    int rc = l->be.ops->bufs_register(&l->be, s->mem, s->count, s->size);
    if (rc < 0) {
        munmap(s->mem, bytes);
        s->mem = NULL;
        return rc;
    }
    s->registered = true;
    return 0;
}

void cr__bufring_put(cr_loop *l, int bid)
{
    struct cr__io_state *s = l->io;
    l->be.ops->buf_recycle(&l->be, (unsigned)bid);
    s->held--;
    /* Buffers are back: everything that ran dry may go on. Feeding all of
     * them costs one op each per returned buffer at worst, and only while the
     * pool is exhausted; a recv with no data pending takes no buffer. */
    if (!cr__list_empty(&s->starved)) {
        cr__list batch;
        cr__list_init(&batch);
        CR__LIST_FOR_EACH_SAFE(p, &s->starved) {
            cr__list_del(p);
            cr__list_push_back(&batch, p);
        }
        cr__list *n;
        while ((n = cr__list_first(&batch))) {
            cr__list_del(n);
            CR_CONTAINER_OF(n, cr__buf_waiter, link)->fed(CR_CONTAINER_OF(n, cr__buf_waiter, link));
        }
    }
}

void cr__bufpool_wait(cr_loop *l, cr__buf_waiter *w)
{
    cr__list_push_back(&l->io->starved, &w->link);
}

