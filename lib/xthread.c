/*
 * xthread.c — the door into a loop from other threads: a lock-free MPSC queue
 * per loop (Vyukov's intrusive queue with a stub node), one coalesced eventfd
 * wakeup, and the count of external wakers that keeps an idle loop waiting.
 *
 * The queue itself is lib/mpsc.h.
 *
 * Owns: struct cr__xq (heap, refcounted: the loop holds one reference, and so
 * does every pool job that will post its completion back here, so a worker
 * finishing after cr_loop_free still finds the queue alive and closed).
 *
 * Invariants:
 *  - Producers (any thread) only push: one atomic exchange of `tail`, then a
 *    release store linking the previous node. The loop thread alone pops.
 *  - A producer is "inside" while it counts in the queue's gate; close shuts
 *    the gate and waits until nobody is inside, so after that no node can
 *    arrive and the eventfd may be closed.
 *  - Wakeup (Dekker-style, both sides seq_cst): the loop stores sleeping=1 and
 *    then re-reads the queue; a producer pushes and then reads `sleeping`. One
 *    of the two must see the other. Only a producer that sees sleeping=1 AND
 *    wins the exchange of wake_pending 0→1 writes the eventfd, so a burst costs
 *    one write per loop wakeup. wake_pending returns to 0 when the loop reaps
 *    the eventfd read.
 *  - The eventfd read is kept armed on the ring while the loop may block; it
 *    is not counted in loop->inflight (an armed read alone must not keep the
 *    loop alive); external wakers (`wakers`) decide that instead.
 *
 * Threads: cr__xq_post, hold/unhold, call_soon_threadsafe and
 * stop_threadsafe from any thread; everything else on the loop's thread.
 */
#include "internal.h"
#include <sched.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DRAIN_BUDGET 4096 /* nodes per iteration: producers cannot starve the loop */

struct cr__xq {
    cr__mpsc mq; /* pops: loop thread only */
    cr__op read_op;
    uint64_t read_buf;
    bool armed;
    bool closed; /* loop thread's view (set by close) */
    cr_loop *loop;
    cr_pool *executor;
    int efd;
    _Alignas(64) _Atomic int sleeping; /* read by every post, written per sleep */
    _Atomic int wake_pending;
    /* mostly the loop's own: kept off the producers' line so a to_thread's
     * bookkeeping does not bounce against workers posting completions */
    _Alignas(64) _Atomic long wakers;
    _Atomic long refs;
};

/* ---- the queue (mpsc.h) ---- */

static cr__xnode *pop(cr__xq *q)
{
    cr__mpsc_node *n = cr__mpsc_pop(&q->mq);
    return n ? CR_CONTAINER_OF(n, cr__xnode, link) : NULL;
}

static bool nonempty(cr__xq *q) { return cr__mpsc_nonempty(&q->mq); }

/* ---- wakeup ---- */

/* No fence needed before the load: the push's exchange of the tail and this
 * load are both seq_cst, as are the loop's store of `sleeping` and its load
 * of the tail (C11's single total order gives the Dekker guarantee). */
static void wake(cr__xq *q)
{
    if (!atomic_load_explicit(&q->sleeping, memory_order_seq_cst))
        return;
    if (atomic_exchange_explicit(&q->wake_pending, 1, memory_order_acq_rel))
        return; /* a write is already on its way */
    uint64_t one = 1;
    ssize_t rc;
    do
        rc = write(q->efd, &one, sizeof one);
    while (rc < 0 && errno == EINTR);
    /* EAGAIN (counter saturated) still leaves the eventfd readable. */
}

static void read_done(cr__op *op, int res, unsigned flags)
{
    (void)res;
    (void)flags;
    cr__xq *q = CR_CONTAINER_OF(op, cr__xq, read_op);
    q->armed = false;
    q->loop->inflight++; /* dispatch decremented it; the read never counted */
    atomic_store_explicit(&q->wake_pending, 0, memory_order_release);
}

static void arm_read(cr__xq *q)
{
    if (q->armed)
        return;
    struct io_uring_sqe *sqe = cr__ring_sqe(q->loop, &q->read_op);
    if (!sqe)
        return;
    io_uring_prep_read(sqe, q->efd, &q->read_buf, sizeof q->read_buf, 0);
    q->loop->inflight--; /* see the header: only `wakers` may keep us alive */
    q->armed = true;
}

/* ---- the loop's side (loop thread) ---- */

int cr__xq_init(cr_loop *l)
{
    cr__xq *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        int err = -errno;
        free(q);
        return err;
    }
    cr__mpsc_init(&q->mq);
    atomic_init(&q->refs, 1);
    q->read_op.complete = read_done;
    q->loop = l;
    l->xq = q;
    return 0;
}

bool cr__xq_keeps_alive(cr_loop *l)
{
    cr__xq *q = l->xq;
    return atomic_load_explicit(&q->wakers, memory_order_acquire) > 0 || nonempty(q);
}

bool cr__xq_prepare_sleep(cr_loop *l)
{
    cr__xq *q = l->xq;
    cr__pool_flush(); /* to_thread jobs this iteration queued */
    /* Would we block only because external wakers exist? Then the last one
     * going away while we fall asleep must not be missed: re-check below. */
    bool only_wakers = !l->inflight && !l->sq_pending && !cr__timer_peek(l);
    arm_read(q);
    atomic_store_explicit(&q->sleeping, 1, memory_order_seq_cst);
    if (nonempty(q) ||
        (only_wakers && atomic_load_explicit(&q->wakers, memory_order_seq_cst) == 0)) {
        atomic_store_explicit(&q->sleeping, 0, memory_order_relaxed);
        return true;
    }
    return false;
}

void cr__xq_after_sleep(cr_loop *l)
{
    atomic_store_explicit(&l->xq->sleeping, 0, memory_order_relaxed);
}

void cr__xq_drain(cr_loop *l)
{
    cr__xq *q = l->xq;
    cr__xnode *n;
    cr__pool_flush();
    for (int budget = DRAIN_BUDGET; budget && (n = pop(q)); budget--)
        cr__loop_schedule(l, &n->h);
}

void cr__xq_end_run(cr_loop *l)
{
    (void)l;
    cr__pool_flush();
}

void cr__xq_close(cr_loop *l)
{
    cr__xq *q = l->xq;
    if (!q || q->closed)
        return;
    q->closed = true;
    /* Producers inside only push and maybe write the eventfd: a short wait. */
    cr__mpsc_close(&q->mq);
    for (;;) {
        cr__xnode *n = pop(q);
        if (!n) {
            if (!nonempty(q))
                break;
            sched_yield();
            continue;
        }
        if (n->h.drop)
            n->h.drop(&n->h);
    }
    close(q->efd);
    q->efd = -1;
    q->loop = NULL;
}

void cr__xq_release(cr_loop *l)
{
    cr__xq_unref(l->xq);
    l->xq = NULL;
}

/* ---- any thread ---- */

cr__xq *cr__xq_ref(cr__xq *q)
{
    atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
    return q;
}

void cr__xq_unref(cr__xq *q)
{
    if (q && atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
        free(q);
}

int cr__xq_post(cr__xq *q, cr__xnode *n)
{
    int shard = cr__mpsc_enter(&q->mq);
    if (shard < 0)
        return -ESHUTDOWN;
    cr__mpsc_push(&q->mq, &n->link);
    wake(q);
    cr__mpsc_leave(&q->mq, shard);
    return 0;
}

void cr__xq_waker_add(cr__xq *q, long d)
{
    long now = atomic_fetch_add_explicit(&q->wakers, d, memory_order_seq_cst) + d;
    if (now == 0) {
        /* The loop may be blocked only because of us: let it re-check. */
        int shard = cr__mpsc_enter(&q->mq); /* the eventfd stays open meanwhile */
        if (shard >= 0) {
            wake(q); /* seq_cst RMW of wakers, then seq_cst load of sleeping */
            cr__mpsc_leave(&q->mq, shard);
        }
    }
}

cr_pool *cr__xq_executor(cr__xq *q) { return q->executor; }

/* ---- public: call_soon_threadsafe and friends ---- */

struct xcall {
    cr__xnode n;
    cr_callback fn;
    void *arg;
};

static void xcall_run(cr__handle *h)
{
    struct xcall *c = CR_CONTAINER_OF(h, struct xcall, n.h);
    cr_callback fn = c->fn;
    void *arg = c->arg;
    free(c);
    fn(arg);
}

static void xcall_drop(cr__handle *h) { free(CR_CONTAINER_OF(h, struct xcall, n.h)); }

int cr_call_soon_threadsafe(cr_loop *loop, cr_callback fn, void *arg)
{
    if (!loop || !fn || !loop->xq)
        return -EINVAL;
    struct xcall *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->n.h.run = xcall_run;
    c->n.h.drop = xcall_drop;
    c->fn = fn;
    c->arg = arg;
    int rc = cr__xq_post(loop->xq, &c->n);
    if (rc < 0)
        free(c);
    return rc;
}

static void stop_cb(void *arg) { cr_loop_stop(arg); }

int cr_loop_stop_threadsafe(cr_loop *loop) { return cr_call_soon_threadsafe(loop, stop_cb, loop); }

int cr_loop_hold(cr_loop *loop)
{
    if (!loop || !loop->xq)
        return -EINVAL;
    cr__xq *q = loop->xq;
    if (cr__mpsc_closed(&q->mq))
        return -ESHUTDOWN;
    atomic_fetch_add_explicit(&q->wakers, 1, memory_order_acq_rel);
    return 0;
}

int cr_loop_unhold(cr_loop *loop)
{
    if (!loop || !loop->xq)
        return -EINVAL;
    cr__xq *q = loop->xq;
    long w = atomic_load_explicit(&q->wakers, memory_order_acquire);
    do {
        if (w <= 0)
            return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&q->wakers, &w, w - 1,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire));
    if (w == 1)
        cr__xq_waker_add(q, 0); /* reached zero: wake the loop to re-check */
    return 0;
}

int cr_loop_set_default_executor(cr_loop *loop, cr_pool *pool)
{
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    loop->xq->executor = pool;
    return 0;
}
