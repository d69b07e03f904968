/* SPDX-License-Identifier: MIT */
/*
 * micro-threads.c — the bodies of micro.cc's MPSC and Chase-Lev deque
 * benchmarks (the lock-free structures of lib/thread/).
 *
 * They live in C because lib/mpsc.h and lib/deque.h are C11 headers
 * (<stdatomic.h>, _Atomic) that C++17 cannot include. Each call runs a batch
 * of BATCH operations so the call from micro.cc (another translation unit, no
 * LTO) is amortised; micro.cc sets the `ops` counter to match.
 *
 * Single-threaded on purpose: these are the uncontended costs of one push,
 * one pop, one steal (atomic exchange / CAS on a line this core owns). The
 * contended figures are bench/thread-deque.c's and thread-submit.c's.
 */
#include <stdint.h>
#include <stdlib.h>
#include "thread/deque.h"
#include "micro-threads.h"
#include "thread/mpsc.h"

static cr__mpsc q;
static cr__mpsc_node nodes[MICRO_BATCH];
static cr__deque dq;
static uintptr_t sink;

int micro_threads_init(void)
{
    cr__mpsc_init(&q);
    return cr__deque_init(&dq, 1024);
}

void micro_threads_fini(void)
{
    cr__deque_free(&dq);
}

/* MICRO_BATCH pushes, then MICRO_BATCH pops: 2 × MICRO_BATCH operations.
 * Returns the number popped (MICRO_BATCH unless the queue is broken). */
int micro_mpsc_push_pop(void)
{
    for (int i = 0; i < MICRO_BATCH; i++)
        cr__mpsc_push(&q, &nodes[i]);
    int n = 0;
    /* pop re-pushes the stub behind the last node, so all come out and the
     * queue is empty again: nodes[] can be pushed by the next batch. */
    while (cr__mpsc_pop(&q))
        n++;
    return n;
}

/* MICRO_BATCH owner pushes, then MICRO_BATCH owner takes (LIFO). */
int micro_deque_push_take(void)
{
    for (uintptr_t i = 0; i < MICRO_BATCH; i++)
        if (cr__deque_push(&dq, (void *)(i + 2)) < 0)
            return -1;
    int n = 0;
    void *x;
    while ((x = cr__deque_take(&dq)) != CR__DQ_EMPTY) {
        sink += (uintptr_t)x;
        n++;
    }
    return n;
}

/* MICRO_BATCH owner pushes, then MICRO_BATCH steals (FIFO, one CAS each). */
int micro_deque_push_steal(void)
{
    for (uintptr_t i = 0; i < MICRO_BATCH; i++)
        if (cr__deque_push(&dq, (void *)(i + 2)) < 0)
            return -1;
    int n = 0;
    for (;;) {
        void *x = cr__deque_steal(&dq);
        if (x == CR__DQ_EMPTY)
            break;
        if (x == CR__DQ_ABORT)
            continue; /* no other thread: cannot happen, but retrying is the contract */
        sink += (uintptr_t)x;
        n++;
    }
    return n;
}
