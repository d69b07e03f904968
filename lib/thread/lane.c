/* SPDX-License-Identifier: MIT */
/*
 * lane.c — the producers' side of a loop's cross-thread queue: one *lane*
 * (a single-producer Vyukov queue, lib/mpsc.h) per producer thread per loop,
 * made on first use and named in a small per-thread table (TLS_LANES loops;
 * beyond that the shared lane behind the sharded gate), and the node blocks
 * recycled through each lane.
 *
 * Owns: struct lane (refcounted: the xq's + its thread's). A lane whose
 * thread exited is freed by the loop once it is empty and none of its blocks
 * is out; a lane whose xq is gone is freed by its thread (slot reuse, exit).
 *
 * Invariants:
 *  - One producer per lane: its tail and its nodes are written by one thread
 *    only, so a post is one locked exchange.
 *  - Closing seals each lane (tail := CR__MPSC_SEALED; a later push fails and
 *    the caller keeps its node), drains it, and waits until the producer has
 *    left the post it was in (entering/left counters).
 *  - Blocks live in line-aligned slabs owned by the lane; the producer takes
 *    from `pfree`/`ret`, the loop gives back through its own list and one CAS
 *    per drain.
 *
 * Threads: cr__xq_post and cr__xq_block_alloc/unpost from any thread (the
 * lane's producer); everything else on the loop's thread.
 */
#include "thread/xq.h"
#include <sched.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t next_xq_id;

void cr__lanes_init(cr__xq *q)
{
    cr__gate_init(&q->gate);
    cr__mpsc_init(&q->shared);
    atomic_init(&q->lanes, NULL);
    q->id = atomic_fetch_add_explicit(&next_xq_id, 1, memory_order_relaxed) + 1;
}


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

bool cr__lanes_nonempty(cr__xq *q)
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
void cr__lanes_drain(cr__xq *q, cr_loop *l)
{
    int nl = 1; /* the shared lane */
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln; ln = ln->next)
        nl++;
    int quota = DRAIN_BUDGET / nl > LANE_MIN ? DRAIN_BUDGET / nl : LANE_MIN;
    cr__xnode *n;
    for (int k = quota; k && (n = took(cr__as_xnode(cr__mpsc_pop(&q->shared)))); k--)
        cr__loop_schedule(l, &n->h);
    lane *prev = NULL;
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln;) {
        lane_publish(ln);
        for (int k = quota; k && (n = took(cr__as_xnode(cr__mpsc_pop(&ln->q)))); k--)
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

static void drop_node(cr_loop *l, cr__xnode *n)
{
    (void)l;
    if (n->h.ops && n->h.ops->drop)
        n->h.ops->drop(&n->h);
}

static void drop_link(cr__mpsc_node *m, void *ctx)
{
    (void)ctx;
    drop_node(NULL, took(cr__as_xnode(m)));
}

void cr__lanes_close(cr__xq *q)
{
    cr__xnode *n;
    while ((n = took(cr__as_xnode(cr__mpsc_pop(&q->shared)))))
        drop_node(NULL, n);
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_seq_cst); ln; ln = ln->next) {
        cr__mpsc_seal_drain(&ln->q, drop_link, NULL);
        /* The seal's exchange came after the producer's last one, so we see
         * the node it was posting: wait until that post is over. */
        uint64_t e = atomic_load_explicit(&ln->entering, memory_order_acquire);
        while (atomic_load_explicit(&ln->left, memory_order_acquire) < e)
            sched_yield();
    }
}

void cr__lanes_publish(cr__xq *q)
{
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire); ln; ln = ln->next)
        lane_publish(ln);
}

void cr__lanes_release(cr__xq *q)
{
    for (lane *ln = atomic_load_explicit(&q->lanes, memory_order_acquire), *next; ln; ln = next) {
        next = ln->next;
        atomic_store_explicit(&ln->dead, 1, memory_order_release);
        lane_unref(ln);
    }
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
            cr__xq_wake(q);
        else
            rc = -ESHUTDOWN;
        atomic_store_explicit(&ln->left, seq, memory_order_release);
        return rc;
    }
    int shard = cr__gate_enter(&q->gate);
    if (shard < 0)
        return -ESHUTDOWN;
    cr__mpsc_push(&q->shared, &n->link);
    cr__xq_wake(q);
    cr__gate_leave(&q->gate, shard);
    return 0;
}
