/* SPDX-License-Identifier: MIT */
/*
 * xthread.c — the door into a loop from other threads: the loop's side of its
 * cross-thread queue (struct cr__xq), the one coalesced eventfd wakeup, the
 * count of external wakers that keeps an idle loop waiting, and the public
 * calls built on it (call_soon_threadsafe, stop_threadsafe, hold/unhold).
 * The producers' side — one lane per producer thread, node blocks — is
 * lane.c; the queue itself lib/mpsc.h; the shared structures lib/xq.h.
 *
 * Owns: struct cr__xq (heap, refcounted: the loop holds one reference, and so
 * does every pool job that will post its completion back here, so a worker
 * finishing after cr_loop_free still finds the queue alive and closed).
 *
 * Invariants:
 *  - Closing: the gate's closed flag is set (shared-lane producers are waited
 *    out), then every lane is sealed and drained (lane.c). The eventfd lives
 *    until the last reference, since a producer may still be writing to it.
 *  - Wakeup (Dekker-style, both sides seq_cst): the loop stores sleeping=1 and
 *    then re-reads the queues; a producer pushes and then reads `sleeping`.
 *    One of the two must see the other. Only a producer that sees sleeping=1
 *    AND wins the exchange of wake_pending 0→1 writes the eventfd, so a burst
 *    costs one write per loop wakeup. wake_pending returns to 0 when the loop
 *    reaps the eventfd read.
 *  - The eventfd read is kept armed while the loop may block; it is a weak op
 *    (an armed read alone must not keep the loop alive); the xq's resource
 *    hook `alive` (external wakers, queued nodes) decides that instead.
 *  - Created by the first thread that needs it (cr__xq_get: any thread),
 *    registered on the loop's resource list before it is published; loop close's REFUSE stage
 *    closes it, cr_loop_free's release drops the loop's reference.
 *
 * Threads: hold/unhold, call_soon_threadsafe and stop_threadsafe from any
 * thread; everything else on the loop's thread.
 */
#include "core/cpus.h"
#include "thread/xq.h"
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- wakeup ---- */

static void read_done(cr__op *op, int res, unsigned flags)
{
    (void)res;
    (void)flags;
    cr__xq *q = CR_CONTAINER_OF(op, cr__xq, read.op);
    cr__mshot_ended(&q->read, 0);
    atomic_store_explicit(&q->wake_pending, 0, memory_order_release);
}

static void arm_read(cr__xq *q)
{
    if (!q->read.armed)
        cr__mshot_arm(&q->loop->be, &q->read);
}

/* ---- the loop's side (loop thread), as resource hooks ---- */

static bool xq_alive(cr_loop *l, cr__resource *r)
{
    (void)l;
    cr__xq *q = CR_CONTAINER_OF(r, cr__xq, res);
    return atomic_load_explicit(&q->wakers, memory_order_acquire) > 0 || cr__lanes_nonempty(q);
}

static bool xq_before_block(cr_loop *l, cr__resource *r)
{
    cr__xq *q = CR_CONTAINER_OF(r, cr__xq, res);
    cr__pool_flush(); /* to_thread jobs this iteration queued */
    /* Would we block only because external wakers exist? Then the last one
     * going away while we fall asleep must not be missed: re-check below.
     * Not if anything else keeps the loop up (a watched signal): then the
     * loop must sleep until that happens, wakers or not; "do not block"
     * there spun the loop without a system call, and on io_uring with
     * DEFER_TASKRUN the signal's poll could never complete. */
    bool only_wakers = !cr__be_busy(&l->be) && !cr__timer_peek(l) &&
                       !cr__resources_keep_alive(l, r);
    /* Jobs are out on a pool (not mere holds): their completions usually
     * follow within microseconds, while a sleep costs a wakeup later: an
     * eventfd write, and on a VM an idle vCPU to wake (tens of µs; measured:
     * this poll halves to_thread's cost per job on the 2-vCPU box). Only
     * with a second CPU to run the workers on. */
    if (q->jobs > 0 && q->spin_ns > 0) {
        int64_t until = cr__now_ns() + q->spin_ns;
        do {
            for (int i = 0; i < 8; i++) {
                if (cr__lanes_nonempty(q))
                    return true;
                cr__cpu_relax();
            }
            /* Yield rather than only pause: on a busy machine a worker
             * runnable on this CPU runs now (and posts what we wait for);
             * on an idle one this returns at once and the vCPU stays up. */
            sched_yield();
        } while (cr__now_ns() < until);
    }
    arm_read(q);
    atomic_store_explicit(&q->sleeping, 1, memory_order_seq_cst);
    if (cr__lanes_nonempty(q) ||
        (only_wakers && atomic_load_explicit(&q->wakers, memory_order_seq_cst) == 0)) {
        atomic_store_explicit(&q->sleeping, 0, memory_order_relaxed);
        return true;
    }
    return false;
}

static void xq_after_block(cr_loop *l, cr__resource *r)
{
    (void)l;
    atomic_store_explicit(&CR_CONTAINER_OF(r, cr__xq, res)->sleeping, 0, memory_order_relaxed);
}

static void xq_drain(cr_loop *l, cr__resource *r)
{
    cr__pool_flush();
    cr__lanes_drain(CR_CONTAINER_OF(r, cr__xq, res), l);
}

static void xq_end_run(cr_loop *l, cr__resource *r)
{
    (void)l;
    (void)r;
    cr__pool_flush(); /* wakeups deferred to the end of a phase (pool.c) */
}

static void xq_close(cr_loop *l, cr__resource *r, enum cr__close_stage stage)
{
    (void)l;
    cr__xq *q = CR_CONTAINER_OF(r, cr__xq, res);
    if (stage != CR__CLOSE_REFUSE || q->closed)
        return;
    q->closed = true;
    /* Producers inside only push and maybe write the eventfd: a short wait. */
    cr__gate_close(&q->gate); /* shared-lane producers are out, lanes get no new ones */
    cr__lanes_close(q);
    /* The eventfd stays open until the last reference: a worker that posted
     * just before the seal may still be writing to it. */
    q->loop = NULL;
}

static void xq_release(cr_loop *l, cr__resource *r)
{
    cr__xq *q = CR_CONTAINER_OF(r, cr__xq, res);
    cr__lanes_publish(q); /* blocks freed by the close go back to their lanes */
    l->xq = NULL;
    cr__xq_unref(q);
}

static const struct cr__resource_ops xq_ops = {
    .name = "cross-thread inbox",
    .close = xq_close,
    .release = xq_release,
    .alive = xq_alive,
    .before_block = xq_before_block,
    .after_block = xq_after_block,
    .drain = xq_drain,
    .end_run = xq_end_run,
};

/* Creation is rare (once per loop) and may race between threads: one
 * process-wide mutex makes "register, then publish" atomic, so an inbox is
 * never registered twice nor published unregistered (and so never leaks). */
static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER;

cr__xq *cr__xq_get(cr_loop *l, int *err)
{
    cr__xq *q = atomic_load_explicit(&l->xq, memory_order_acquire);
    if (q)
        return q;
    pthread_mutex_lock(&create_mu);
    q = atomic_load_explicit(&l->xq, memory_order_acquire);
    if (q)
        goto out;
    q = aligned_alloc(64, sizeof *q);
    if (!q) {
        *err = -ENOMEM;
        goto out;
    }
    memset(q, 0, sizeof *q);
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        *err = -errno;
        free(q);
        q = NULL;
        goto out;
    }
    cr__lanes_init(q);
    atomic_init(&q->refs, 1);
    cr__op_init(&q->read.op, CR__OP_READ, q->efd, read_done);
    q->read.op.a.rw.buf = &q->read_buf;
    q->read.op.a.rw.len = sizeof q->read_buf;
    q->read.op.a.rw.off = (uint64_t)-1; /* an eventfd has no offset: epoll's preadv2 says ESPIPE to 0 */
    q->read.op.weak = true;
    q->spin_ns = cr__usable_cpus() > 1 ? LOOP_SPIN_NS : 0; /* on one CPU a spinner only delays the poster */
    q->loop = l;
    if ((*err = cr__resource_add(l, &q->res, &xq_ops, false)) < 0) {
        cr__lanes_release(q); /* the loop is closing: it takes no inbox now */
        close(q->efd);
        free(q);
        q = NULL;
        goto out;
    }
    atomic_store_explicit(&l->xq, q, memory_order_release);
out:
    pthread_mutex_unlock(&create_mu);
    return q;
}

/* ---- any thread ---- */

cr__xq *cr__xq_ref(cr__xq *q)
{
    atomic_fetch_add_explicit(&q->refs, 1, memory_order_relaxed);
    return q;
}

void cr__xq_unref(cr__xq *q)
{
    if (!q || atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1)
        return;
    cr__lanes_release(q);
    close(q->efd);
    free(q);
}

/* Loop thread only (the loop is awake: no kick needed). A foreign thread
 * that drops the count to 0 kicks the loop itself (cr_loop_unhold). */
void cr__xq_waker_add(cr__xq *q, long d)
{
    q->jobs += d;
    atomic_fetch_add_explicit(&q->wakers, d, memory_order_seq_cst);
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
    cr__xq_block_free(c);
    fn(arg);
}

static void xcall_drop(cr__handle *h) { cr__xq_block_free(CR_CONTAINER_OF(h, struct xcall, n.h)); }

static const struct cr__handle_ops xcall_ops = {.run = xcall_run, .drop = xcall_drop};

int cr_call_soon_threadsafe(cr_loop *loop, cr_callback fn, void *arg)
{
    if (!loop || !fn)
        return -EINVAL;
    int rc = 0;
    cr__xq *q = cr__xq_get(loop, &rc);
    if (!q)
        return rc;
    _Static_assert(sizeof(struct xcall) <= CR__XQ_BLOCK, "xcall fits a block");
    struct xcall *c = cr__xq_block_alloc(q);
    if (!c)
        return -ENOMEM;
    c->n.h.ops = &xcall_ops;
    c->fn = fn;
    c->arg = arg;
    rc = cr__xq_post(q, &c->n);
    if (rc < 0)
        cr__xq_block_unpost(c);
    return rc;
}

static void stop_cb(void *arg) { cr_loop_stop(arg); }

int cr_loop_stop_threadsafe(cr_loop *loop) { return cr_call_soon_threadsafe(loop, stop_cb, loop); }

int cr_loop_hold(cr_loop *loop)
{
    if (!loop)
        return -EINVAL;
    int rc = 0;
    cr__xq *q = cr__xq_get(loop, &rc);
    if (!q)
        return rc;
    if (cr__gate_closed(&q->gate))
        return -ESHUTDOWN;
    atomic_fetch_add_explicit(&q->wakers, 1, memory_order_acq_rel);
    return 0;
}

static void noop_cb(void *arg) { (void)arg; }

int cr_loop_unhold(cr_loop *loop)
{
    if (!loop)
        return -EINVAL;
    int rc = 0;
    cr__xq *q = cr__xq_get(loop, &rc);
    if (!q)
        return rc;
    long w = atomic_load_explicit(&q->wakers, memory_order_acquire);
    do {
        if (w <= 0)
            return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&q->wakers, &w, w - 1,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire));
    if (w == 1) {
        /* Reached zero: the loop may be asleep only because of holds. Kick it
         * with a node (a post is safe against a concurrent close and free;
         * a bare eventfd write would not be). */
        cr_call_soon_threadsafe(loop, noop_cb, NULL);
    }
    return 0;
}

int cr_loop_set_default_executor(cr_loop *loop, cr_pool *pool)
{
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    cr__xq *q = cr__xq_get(loop, &rc);
    if (!q)
        return rc;
    q->executor = pool;
    return 0;
}

/* Test seam: how many lanes the loop's inbox has. */
size_t cr__xq_lanes(cr_loop *l)
{
    size_t n = 0;
    int err = 0;
    cr__xq *q = cr__xq_get(l, &err);
    for (lane *ln = q ? atomic_load_explicit(&q->lanes, memory_order_acquire) : NULL; ln; ln = ln->next)
        n++;
    return n;
}

