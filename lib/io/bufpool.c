/* SPDX-License-Identifier: MIT */
/*
 * bufpool.c — the loop's buffers for connections: the provided buffers
 * (count buffers of size bytes that the backend hands to multishot recvs as
 * data arrives; io_uring: a registered buffer ring) and their accounting, and
 * the stream buffers (struct cr__sbuf_pool in io.h): the page-sized read and
 * write buffers a stream holds only while it has bytes in them.
 *
 * Invariants:
 *  - A buffer is either with the backend (it may fill it) or "held": queued
 *    in a cr_mrecv or in a reader's hands. held counts the latter; a buffer
 *    goes back only through cr__bufring_put.
 *  - ENOBUFS never reaches a reader: a recv that ran dry goes on the starved
 *    list and is re-armed when a buffer comes back (mrecv.c).
 *  - Stream buffers: a page is carved once from a chunk and then is either
 *    with a stream or on the free stack (carved - nfree are out); the free stack's capacity
 *    covers every page ever carved, so a put never allocates (it runs on the
 *    stack of the task that parks, which may be a lean one). Free pages that
 *    no get took since the last trim, beyond SBUF_RESERVE, are given back
 *    to the kernel (MADV_DONTNEED): an idle server's memory goes down to its
 *    parked connections' own, and a busy one takes and puts warm pages from
 *    the top of the stack (inline in io.h: no malloc, no syscall, no fault
 *    per request). The trim runs after a tick without any get (idle: within
 *    100-300 ms) or, while gets go on, once every CR__SBUF_BUSY_TICKS ticks,
 *    so a busy loop gives back only pages it has not needed for a second.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <stdlib.h>
#include <string.h>
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


/* ---- stream buffers ---- */

#define SBUF_CHUNK_PAGES 64           /* 256 KiB of address space per mmap */
#define SBUF_RESERVE CR__SBUF_RESERVE /* warm pages kept through a trim */

static int sbuf_chunk(struct cr__sbuf_pool *p)
{
    size_t need = p->carved + SBUF_CHUNK_PAGES;
    if (need > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4 * SBUF_CHUNK_PAGES;
        while (cap < need)
            cap *= 2;
        char **v = realloc(p->free, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->free = v;
        p->cap = cap;
    }
    if (p->nchunks == p->chunks_cap) {
        size_t cap = p->chunks_cap ? p->chunks_cap * 2 : 16;
        char **v = realloc(p->chunks, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->chunks = v;
        p->chunks_cap = cap;
    }
    char *m = mmap(NULL, (size_t)SBUF_CHUNK_PAGES * CR__SBUF_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    p->chunks[p->nchunks++] = m;
    p->cur = m;
    p->left = SBUF_CHUNK_PAGES;
    return 0;
}

/* cr__sbuf_get found the free stack empty: a page never used yet. */
char *cr__sbuf_carve(cr_loop *l)
{
    struct cr__sbuf_pool *p = &l->io->sbufs;
    if (!p->loop)
        p->loop = l;
    if (!p->left && sbuf_chunk(p) < 0)
        return NULL;
    char *b = p->cur;
    p->cur += CR__SBUF_SIZE;
    p->left--;
    p->carved++;
    return b;
}

static int by_address(const void *a, const void *b)
{
    char *x = *(char *const *)a, *y = *(char *const *)b;
    return x < y ? -1 : x > y;
}

/* Each tick while pages are warm beyond the reserve. The entries below the
 * low water since the last trim were not taken since then, so they are idle;
 * all but the reserve's worth go back to the kernel, neighbours in one call.
 * A busy loop trims only every CR__SBUF_BUSY_TICKS ticks: demand that peaks
 * less often than every tick (a burst of requests now and then) would
 * otherwise see its pages given back between peaks and fault them in again at
 * the next one, 10-30 us a page on the VMs we measure on, in the middle of
 * serving it (HTTP p99 at 30,000-45,000 requests/s: 0.65-1.6 ms trimming every
 * tick, 0.14-0.50 ms now; docs/memory.md). */
void cr__sbuf_trim(struct cr__sbuf_pool *p)
{
    if (!p->trim_wanted || !p->loop)
        return;
    p->trim_wanted = false;
    bool busy = p->took;
    p->took = false;
    if (busy && ++p->busy_ticks < CR__SBUF_BUSY_TICKS) {
        p->trim_wanted = true; /* the low water keeps counting over the ticks */
        return;
    }
    p->busy_ticks = 0;
    size_t idle = p->low_water < p->nfree ? p->low_water : p->nfree;
    p->low_water = p->nfree;
    if (idle > SBUF_RESERVE && idle - SBUF_RESERVE > p->nclean) {
        size_t from = p->nclean, to = idle - SBUF_RESERVE;
        /* The given-back region's order does not matter (its pages are all
         * equally cold): sort it to coalesce neighbours. */
        qsort(p->free + from, to - from, sizeof *p->free, by_address);
        for (size_t i = from; i < to;) {
            size_t j = i + 1;
            while (j < to && p->free[j] == p->free[j - 1] + CR__SBUF_SIZE)
                j++;
            madvise(p->free[i], (j - i) * CR__SBUF_SIZE, MADV_DONTNEED);
            i = j;
        }
        p->nclean = to;
    }
    if (p->nfree - p->nclean > SBUF_RESERVE)
        p->trim_wanted = true;
}

void cr__sbuf_pool_free(struct cr__io_state *s)
{
    struct cr__sbuf_pool *p = &s->sbufs;
    for (size_t i = 0; i < p->nchunks; i++)
        munmap(p->chunks[i], (size_t)SBUF_CHUNK_PAGES * CR__SBUF_SIZE);
    free(p->chunks);
    free(p->free);
    memset(p, 0, sizeof *p);
}
