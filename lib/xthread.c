/*
 * xthread.c — the door into a loop from other threads: lock-free queues into
 * each loop, one coalesced eventfd wakeup, and the count of external wakers
 * that keeps an idle loop waiting.
 *
 * The queues (lib/mpsc.h, Vyukov's intrusive MPSC with a stub node) come in
 * two kinds. Each producer thread gets its own *lane* into a loop on first
 * use (up to TLS_LANES loops per thread): with one producer per lane, two
 * threads never write the same tail or each other's nodes, and a post costs
 * one locked exchange. A thread beyond that uses the *shared* lane, guarded
 * by a sharded gate. The loop drains all lanes once per iteration.
 *
 * Owns: struct cr__xq (heap, refcounted: the loop holds one reference, and so
 * does every pool job that will post its completion back here, so a worker
 * finishing after cr_loop_free still finds the queue alive and closed), and
 * the lanes (refcounted: the xq's + their thread's; a lane whose thread
 * exited is freed by the loop once empty).
 *
 * Invariants:
 *  - Producers only push; the loop thread alone pops (and relinks the list
 *    of lanes, whose head producers may push in front of).
 *  - Closing: the gate's closed flag is set (shared-lane producers are waited
 *    out), every lane is sealed (a later push finds CR__MPSC_SEALED and fails,
 *    the caller keeping its node) and drained, and close waits until each
 *    lane's producer has left the post it was in. A lane created during a
 *    close sees the flag and seals itself. The eventfd lives until the xq.
 *  - Wakeup (Dekker-style, both sides seq_cst): the loop stores sleeping=1 and
 *    then re-reads the queues; a producer pushes and then reads `sleeping`.
 *    One of the two must see the other. Only a producer that sees sleeping=1
 *    AND wins the exchange of wake_pending 0→1 writes the eventfd, so a burst
 *    costs one write per loop wakeup. wake_pending returns to 0 when the loop
 *    reaps the eventfd read.
 *  - The eventfd read is kept armed on the ring while the loop may block; it
 *    is not counted in loop->inflight (an armed read alone must not keep the
 *    loop alive); external wakers (`wakers`) decide that instead.
 *
 * Threads: cr__xq_post, hold/unhold, call_soon_threadsafe and
 * stop_threadsafe from any thread; everything else on the loop's thread.
 */
#include "internal.h"
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DRAIN_BUDGET 1024 /* nodes per iteration: producers cannot starve the loop */
#define LANE_MIN 32       /* a lane's share never drops below this */
#define TLS_LANES 8       /* loops a thread keeps a lane into; beyond: the shared lane */
#ifndef LOOP_SPIN_NS
#define LOOP_SPIN_NS 50000 /* how long a loop polls before sleeping while jobs are out */
#endif

/* A producer thread's own queue into one loop. One producer means no two
 * threads ever write the same tail or each other's nodes. */
typedef struct lane lane;
struct lane {
    cr__mpsc q; /* pops: loop thread only */
    /* The producer's line. `entering` is the number of the post it is in,
     * `left` that of the last one that is over (push AND wake): close waits
     * until `left` reaches what it saw in `entering`, so the xq is never
     * freed under a producer still inside cr__xq_post. Counters, not node
     * addresses: they only grow. */
    _Alignas(64) _Atomic uint64_t entering;
    _Atomic uint64_t left;
    uint64_t posts;       /* the producer's own count */
    /* Node block cache: the producer allocates from `pfree` and refills it
     * by taking all of `ret` at once; the loop collects freed blocks on its
     * own list and publishes them to `ret` with one CAS per drain. */
    cr__mpsc_node *pfree; /* producer only */
    void *slabs;          /* producer only: where the blocks live */
    _Alignas(64) _Atomic(cr__mpsc_node *) ret;
    /* The loop's line. */
    _Alignas(64) lane *next;              /* the xq's list; relinked by the loop only */
    cr__mpsc_node *lret_head, *lret_tail; /* loop only */
    long out;             /* loop only: blocks drained and not yet freed */
    _Atomic int orphaned; /* its thread exited: nothing more will come */
    _Atomic int dead;     /* its xq is gone: the thread may reuse the slot */
    _Atomic int refs;     /* the xq's + the thread's */
};

struct cr__xq {
    cr__gate gate;         /* producers inside; closed by cr__xq_close */
    cr__mpsc shared;       /* for threads with no lane slot left */
    _Atomic(lane *) lanes; /* pushed by producers (at the head), relinked by the loop */
    uint64_t id;           /* unique for the process: names this xq in threads' slots */
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
    long jobs;       /* loop thread only: pool jobs out (the part of `wakers` that spins) */
    int64_t spin_ns; /* LOOP_SPIN_NS, or 0 on a single CPU */
};

static inline void cr__cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- lanes ---- */

static _Atomic uint64_t next_xq_id;
static __thread struct {
    uint64_t id;
    lane *l;
} tls_lanes[TLS_LANES];
static pthread_key_t lane_key;
static lane *my_lane(cr__xq *q);
static pthread_once_t lane_once = PTHREAD_ONCE_INIT;

/* Both owners are gone (its thread and its xq): nobody touches it any more,
 * and every block is back (in pfree, ret or lret), so the slabs can go. */
static void lane_unref(lane *ln)
{
    if (atomic_fetch_sub_explicit(&ln->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (void *sl = ln->slabs, *next; sl; sl = next) {
        next = *(void **)sl;
        free(sl);
    }
    free(ln);
}

/* Blocks come in slabs of contiguous, line-aligned blocks: one cache line per
 * node, and a lane's nodes, recycled in FIFO order, stay roughly sequential
 * (the loop's hardware prefetcher follows them). Block 0 holds the link. */
#define SLAB_BLOCKS 64

static cr__mpsc_node *slab_new(lane *ln)
{
    char *sl = aligned_alloc(64, SLAB_BLOCKS * CR__XQ_BLOCK);
    if (!sl)
        return NULL;
    *(void **)sl = ln->slabs;
    ln->slabs = sl;
    cr__mpsc_node *first = NULL;
    for (int i = SLAB_BLOCKS - 1; i >= 1; i--) {
        cr__xnode *b = (cr__xnode *)(sl + (size_t)i * CR__XQ_BLOCK);
        atomic_init(&b->link.next, first);
        first = &b->link;
    }
    return first;
}

/* Loop thread: hand the blocks freed since the last drain back to the
 * producer, all at once. */
static void lane_publish(lane *ln)
{
    cr__mpsc_node *h = ln->lret_head;
    if (!h)
        return;
    cr__mpsc_node *old = atomic_load_explicit(&ln->ret, memory_order_relaxed);
    do
        atomic_store_explicit(&ln->lret_tail->next, old, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&ln->ret, &old, h, memory_order_release,
                                                  memory_order_relaxed));
    ln->lret_head = ln->lret_tail = NULL;
}

void *cr__xq_block_alloc(cr__xq *q)
{
    lane *ln = my_lane(q);
    cr__xnode *b = NULL;
    if (ln) {
        cr__mpsc_node *n = ln->pfree;
        if (!n)
            n = atomic_exchange_explicit(&ln->ret, NULL, memory_order_acquire);
        if (!n)
            n = slab_new(ln);
        if (n) {
            ln->pfree = atomic_load_explicit(&n->next, memory_order_relaxed);
            b = CR_CONTAINER_OF(n, cr__xnode, link);
        }
    }
    if (!b && !(b = malloc(CR__XQ_BLOCK)))
        return NULL;
    b->home = ln;
    return b;
}

void cr__xq_block_free(void *p)
{
    cr__xnode *b = p;
    lane *ln = b->home;
    if (!ln) {
        free(b);
        return;
    }
    ln->out--;
    atomic_store_explicit(&b->link.next, NULL, memory_order_relaxed);
    if (ln->lret_tail)
        atomic_store_explicit(&ln->lret_tail->next, &b->link, memory_order_relaxed);
    else
        ln->lret_head = &b->link;
    ln->lret_tail = &b->link;
}

void cr__xq_block_unpost(void *p)
{
    cr__xnode *b = p;
    lane *ln = b->home;
    if (!ln) {
        free(b);
        return;
    }
    atomic_store_explicit(&b->link.next, ln->pfree, memory_order_relaxed);
    ln->pfree = &b->link;
}

/* Loop thread: a node left its lane (drained or dropped). */
static inline cr__xnode *took(cr__xnode *n)
{
    if (n && n->home)
        ((lane *)n->home)->out++;
    return n;
}

/* Thread exit: our lanes get no more nodes; their loops free them once empty. */
static void lanes_thread_exit(void *unused)
{
    (void)unused;
    for (int i = 0; i < TLS_LANES; i++) {
        lane *ln = tls_lanes[i].l;
        if (!ln)
            continue;
        tls_lanes[i].l = NULL;
        tls_lanes[i].id = 0;
        ln->pfree = NULL; /* its blocks live in the slabs, freed with the lane */
        atomic_store_explicit(&ln->orphaned, 1, memory_order_release);
        lane_unref(ln);
    }
}

static void make_lane_key(void) { pthread_key_create(&lane_key, lanes_thread_exit); }

/* This thread's lane into q, made on first use; NULL: use the shared lane. */
static lane *my_lane(cr__xq *q)
{
    int slot = -1;
    for (int i = 0; i < TLS_LANES; i++) {
        if (tls_lanes[i].id == q->id)
            return tls_lanes[i].l;
        if (slot < 0 && (!tls_lanes[i].l || atomic_load_explicit(&tls_lanes[i].l->dead,
                                                                  memory_order_acquire)))
            slot = i;
    }
    if (slot < 0)
        return NULL;
    if (tls_lanes[slot].l) { /* its loop is gone: reuse the slot */
        lane_unref(tls_lanes[slot].l);
        tls_lanes[slot].l = NULL;
        tls_lanes[slot].id = 0;
    }
    lane *ln = aligned_alloc(64, sizeof *ln);
    if (!ln)
        return NULL;
    cr__mpsc_init(&ln->q);
    ln->pfree = NULL;
    ln->slabs = NULL;
    atomic_init(&ln->ret, NULL);
    ln->lret_head = ln->lret_tail = NULL;
    ln->out = 0;
    atomic_init(&ln->entering, 0);
    atomic_init(&ln->left, 0);
    ln->posts = 0;
    atomic_init(&ln->orphaned, 0);
    atomic_init(&ln->dead, 0);
    atomic_init(&ln->refs, 2);
    pthread_once(&lane_once, make_lane_key);
    pthread_setspecific(lane_key, (void *)1); /* so lanes_thread_exit runs */
    lane *head = atomic_load_explicit(&q->lanes, memory_order_relaxed);
    do
        ln->next = head;
    while (!atomic_compare_exchange_weak_explicit(&q->lanes, &head, ln, memory_order_seq_cst,
                                                  memory_order_relaxed));
    /* Dekker with close (which sets `closed`, then reads the list): if close
     * may have missed this lane, seal it ourselves: pushes then fail. */
    if (atomic_load_explicit(&q->gate.closed, memory_order_seq_cst))
        atomic_exchange_explicit(&ln->q.tail, CR__MPSC_SEALED, memory_order_seq_cst);
    tls_lanes[slot].id = q->id;
    tls_lanes[slot].l = ln;
    return ln;
}

static cr__xnode *as_xnode(cr__mpsc_node *n) { return n ? CR_CONTAINER_OF(n, cr__xnode, link) : NULL; }

static bool nonempty(cr__xq *q)
{
    if (cr__mpsc_nonempty(&q->shared))
        return true;
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln; ln = ln->next)
        if (cr__mpsc_nonempty(&ln->q))
            return true;
    return false;
}

/* Loop thread: move each lane's nodes to the ready queue, up to a fair
 * share of DRAIN_BUDGET per lane (at least LANE_MIN), so every lane is served
 * every iteration and no producer starves another; free the lanes of exited
 * threads once they are empty and none of their blocks is out (never the
 * list head, which producers may be pushing in front of). */
static void drain_lanes(cr__xq *q, cr_loop *l)
{
    int nl = 1; /* the shared lane */
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln; ln = ln->next)
        nl++;
    int quota = DRAIN_BUDGET / nl > LANE_MIN ? DRAIN_BUDGET / nl : LANE_MIN;
    cr__xnode *n;
    for (int k = quota; k && (n = took(as_xnode(cr__mpsc_pop(&q->shared)))); k--)
        cr__loop_schedule(l, &n->h);
    lane *prev = NULL;
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln;) {
        lane_publish(ln);
        for (int k = quota; k && (n = took(as_xnode(cr__mpsc_pop(&ln->q)))); k--)
            cr__loop_schedule(l, &n->h);
        if (prev && atomic_load_explicit(&ln->orphaned, memory_order_acquire) && !ln->out &&
            !cr__mpsc_nonempty(&ln->q)) {
            lane *gone = ln;
            prev->next = ln = ln->next;
            lane_unref(gone);
            continue;
        }
        prev = ln;
        ln = ln->next;
    }
}

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
    cr__xq *q = aligned_alloc(64, sizeof *q);
    if (!q)
        return -ENOMEM;
    memset(q, 0, sizeof *q);
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        int err = -errno;
        free(q);
        return err;
    }
    cr__gate_init(&q->gate);
    cr__mpsc_init(&q->shared);
    atomic_init(&q->lanes, NULL);
    q->id = atomic_fetch_add_explicit(&next_xq_id, 1, memory_order_relaxed) + 1;
    atomic_init(&q->refs, 1);
    q->read_op.complete = read_done;
    q->spin_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? LOOP_SPIN_NS : 0;
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
    /* Jobs are out on a pool (not mere holds): their completions usually
     * follow within microseconds, while a sleep costs a wakeup later: an
     * eventfd write, and on a VM an idle vCPU to wake (tens of µs; measured:
     * this poll halves to_thread's cost per job on the 2-vCPU box). Only
     * with a second CPU to run the workers on. */
    if (q->jobs > 0 && q->spin_ns > 0) {
        int64_t until = cr__now_ns() + q->spin_ns;
        do {
            for (int i = 0; i < 64; i++) {
                if (nonempty(q))
                    return true;
                cr__cpu_relax();
            }
        } while (cr__now_ns() < until);
    }
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
    cr__pool_flush();
    drain_lanes(l->xq, l);
}

void cr__xq_end_run(cr_loop *l)
{
    (void)l;
    cr__pool_flush();
}

static void drop_node(cr_loop *l, cr__xnode *n)
{
    (void)l;
    if (n->h.drop)
        n->h.drop(&n->h);
}

static void drop_link(cr__mpsc_node *m, void *ctx)
{
    (void)ctx;
    drop_node(NULL, took(as_xnode(m)));
}

void cr__xq_close(cr_loop *l)
{
    cr__xq *q = l->xq;
    if (!q || q->closed)
        return;
    q->closed = true;
    /* Producers inside only push and maybe write the eventfd: a short wait. */
    cr__gate_close(&q->gate); /* shared-lane producers are out, lanes get no new ones */
    cr__xnode *n;
    while ((n = took(as_xnode(cr__mpsc_pop(&q->shared)))))
        drop_node(NULL, n);
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_seq_cst); ln; ln = ln->next) {
        cr__mpsc_seal_drain(&ln->q, drop_link, NULL);
        /* The seal's exchange came after the producer's last one, so we see
         * the node it was posting: wait until that post is over. */
        uint64_t e = atomic_load_explicit(&ln->entering, memory_order_acquire);
        while (atomic_load_explicit(&ln->left, memory_order_acquire) < e)
            sched_yield();
    }
    /* The eventfd stays open until the last reference: a worker that posted
     * just before the seal may still be writing to it. */
    q->loop = NULL;
}

void cr__xq_release(cr_loop *l)
{
    /* Blocks freed by the close (dropped nodes) go back to their lanes. */
    for (lane *ln = atomic_load_explicit(&l->xq->lanes, memory_order_acquire); ln; ln = ln->next)
        lane_publish(ln);
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
    if (!q || atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire), *next; ln; ln = next) {
        next = ln->next;
        atomic_store_explicit(&ln->dead, 1, memory_order_release);
        lane_unref(ln);
    }
    close(q->efd);
    free(q);
}

int cr__xq_post(cr__xq *q, cr__xnode *n)
{
    lane *ln = my_lane(q);
    if (CR_LIKELY(ln)) {
        /* The hot path: one exchange on our own lane, then the wake check. */
        uint64_t seq = ++ln->posts;
        atomic_store_explicit(&ln->entering, seq, memory_order_relaxed);
        int rc = 0;
        if (cr__mpsc_push_sp(&ln->q, &n->link))
            wake(q);
        else
            rc = -ESHUTDOWN;
        atomic_store_explicit(&ln->left, seq, memory_order_release);
        return rc;
    }
    int shard = cr__gate_enter(&q->gate);
    if (shard < 0)
        return -ESHUTDOWN;
    cr__mpsc_push(&q->shared, &n->link);
    wake(q);
    cr__gate_leave(&q->gate, shard);
    return 0;
}

/* Loop thread only (the loop is awake: no kick needed). A foreign thread
 * that drops the count to 0 kicks the loop itself (cr_loop_unhold). */
void cr__xq_waker_add(cr__xq *q, long d)
{
    q->jobs += d;
    atomic_fetch_add_explicit(&q->wakers, d, memory_order_seq_cst);
}

cr_pool *cr__xq_executor(cr__xq *q) { return q->executor; }

size_t cr__xq_lanes(cr_loop *l)
{
    size_t n = 0;
    for (lane *ln = atomic_load_explicit(&l->xq->lanes, memory_order_acquire); ln; ln = ln->next)
        n++;
    return n;
}

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

int cr_call_soon_threadsafe(cr_loop *loop, cr_callback fn, void *arg)
{
    if (!loop || !fn || !loop->xq)
        return -EINVAL;
    _Static_assert(sizeof(struct xcall) <= CR__XQ_BLOCK, "xcall fits a block");
    struct xcall *c = cr__xq_block_alloc(loop->xq);
    if (!c)
        return -ENOMEM;
    c->n.h.run = xcall_run;
    c->n.h.drop = xcall_drop;
    c->fn = fn;
    c->arg = arg;
    int rc = cr__xq_post(loop->xq, &c->n);
    if (rc < 0)
        cr__xq_block_unpost(c);
    return rc;
}

static void stop_cb(void *arg) { cr_loop_stop(arg); }

int cr_loop_stop_threadsafe(cr_loop *loop) { return cr_call_soon_threadsafe(loop, stop_cb, loop); }

int cr_loop_hold(cr_loop *loop)
{
    if (!loop || !loop->xq)
        return -EINVAL;
    cr__xq *q = loop->xq;
    if (cr__gate_closed(&q->gate))
        return -ESHUTDOWN;
    atomic_fetch_add_explicit(&q->wakers, 1, memory_order_acq_rel);
    return 0;
}

static void noop_cb(void *arg) { (void)arg; }

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
    loop->xq->executor = pool;
    return 0;
}
