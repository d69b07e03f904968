/* SPDX-License-Identifier: MIT */
/*
 * deque.c — the Chase-Lev deque (see deque.h for the paper and the one
 * deviation from it).
 *
 * Invariants: top only grows (CAS by a thief or by the owner taking the last
 * item); bottom is written by the owner alone; items live in [top, bottom).
 * The owner alone replaces the ring, and never frees a ring a thief might
 * still read until cr__deque_free.
 */
#include "thread/deque.h"
#include "core/internal.h"
#include <stdlib.h>

static cr__dq_ring *ring_new(int64_t cap)
{
    cr__dq_ring *r = malloc(sizeof *r + (size_t)cap * sizeof r->slot[0]);
    if (!r)
        return NULL;
    r->mask = cap - 1;
    r->older = NULL;
    for (int64_t i = 0; i < cap; i++)
        atomic_init(&r->slot[i], NULL);
    return r;
}

int cr__deque_init(cr__deque *q, size_t cap_pow2)
{
    if (cap_pow2 < 2 || (cap_pow2 & (cap_pow2 - 1)))
        return -EINVAL;
    cr__dq_ring *r = ring_new((int64_t)cap_pow2);
    if (!r)
        return -ENOMEM;
    atomic_init(&q->top, 0);
    atomic_init(&q->bottom, 0);
    atomic_init(&q->ring, r);
    return 0;
}

void cr__deque_free(cr__deque *q)
{
    cr__dq_ring *r = atomic_load_explicit(&q->ring, memory_order_relaxed);
    while (r) {
        cr__dq_ring *o = r->older;
        free(r);
        r = o;
    }
    atomic_store_explicit(&q->ring, NULL, memory_order_relaxed);
}

static cr__dq_ring *grow(cr__deque *q, cr__dq_ring *a, int64_t t, int64_t b)
{
    cr__dq_ring *n = ring_new((a->mask + 1) * 2);
    if (!n)
        return NULL;
    for (int64_t i = t; i < b; i++)
        atomic_store_explicit(&n->slot[i & n->mask],
                              atomic_load_explicit(&a->slot[i & a->mask], memory_order_relaxed),
                              memory_order_relaxed);
    n->older = a;
    /* Release: a thief that sees the new ring sees its contents. */
    atomic_store_explicit(&q->ring, n, memory_order_release);
    return n;
}

int cr__deque_push(cr__deque *q, void *x)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
    cr__dq_ring *a = atomic_load_explicit(&q->ring, memory_order_relaxed);
    if (b - t > a->mask && !(a = grow(q, a, t, b)))
        return -ENOMEM;
    atomic_store_explicit(&a->slot[b & a->mask], x, memory_order_release);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
    return 0;
}

void *cr__deque_take(cr__deque *q)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed) - 1;
    cr__dq_ring *a = atomic_load_explicit(&q->ring, memory_order_relaxed);
    atomic_store_explicit(&q->bottom, b, memory_order_relaxed);
    /* The fence orders our bottom store before the top load, against a
     * thief's top load → fence → bottom load: one of us sees the other. */
    atomic_thread_fence(memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
    void *x = CR__DQ_EMPTY;
    if (t <= b) {
        x = atomic_load_explicit(&a->slot[b & a->mask], memory_order_relaxed);
        if (t == b) {
            /* The last item: race thieves for it through top. */
            if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1,
                                                         memory_order_seq_cst,
                                                         memory_order_relaxed))
                x = CR__DQ_EMPTY;
            atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
        }
    } else {
        atomic_store_explicit(&q->bottom, b + 1, memory_order_relaxed);
    }
    return x;
}

void *cr__deque_steal(cr__deque *q)
{
    int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
    atomic_thread_fence(memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_acquire);
    if (t >= b)
        return CR__DQ_EMPTY;
    /* The paper's consume; acquire pairs with grow's release. */
    cr__dq_ring *a = atomic_load_explicit(&q->ring, memory_order_acquire);
    void *x = atomic_load_explicit(&a->slot[t & a->mask], memory_order_acquire);
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return CR__DQ_ABORT;
    return x;
}
