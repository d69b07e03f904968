/* SPDX-License-Identifier: MIT */
/*
 * xq.h — private to xthread.c and lane.c: the cross-thread queue of a loop
 * (struct cr__xq) and the per-producer lanes into it. See xthread.c for the
 * invariants; lane.c for the lanes and their node blocks.
 */
#ifndef CORING_XQ_H
#define CORING_XQ_H

#include "core/internal.h"
#include "thread/inbox.h"
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
    cr__resource res;      /* on the loop's list (core/resource.h) */
    cr__gate gate;         /* producers inside; closed by cr__xq_close */
    cr__mpsc shared;       /* for threads with no lane slot left */
    _Atomic(lane *) lanes; /* pushed by producers (at the head), relinked by the loop */
    uint64_t id;           /* unique for the process: names this xq in threads' slots */
    cr__mshot read;        /* the eventfd read: weak, `wakers` keep the loop */
    uint64_t read_buf;
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


static inline cr__xnode *cr__as_xnode(cr__mpsc_node *n)
{
    return n ? CR_CONTAINER_OF(n, cr__xnode, link) : NULL;
}

/* No fence needed before the load: the push's exchange of the tail and this
 * load are both seq_cst, as are the loop's store of `sleeping` and its load
 * of the tail (C11's single total order gives the Dekker guarantee). */
static inline void cr__xq_wake(cr__xq *q)
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


/* lane.c */
CR_HIDDEN void cr__lanes_init(cr__xq *q);
CR_HIDDEN bool cr__lanes_nonempty(cr__xq *q);
CR_HIDDEN void cr__lanes_drain(cr__xq *q, cr_loop *l);
CR_HIDDEN void cr__lanes_close(cr__xq *q);   /* after the gate is closed */
CR_HIDDEN void cr__lanes_publish(cr__xq *q); /* blocks freed by a close go home */
CR_HIDDEN void cr__lanes_release(cr__xq *q); /* the xq is going away */

#endif
