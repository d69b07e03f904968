/* SPDX-License-Identifier: MIT */
/*
 * deque.h — a Chase-Lev work-stealing deque (Chase & Lev, SPAA 2005) with the
 * C11 memory orders of Lê, Pop, Cohen & Zappa Nardelli, "Correct and
 * Efficient Work-Stealing for Weak Memory Models", PPoPP 2013.
 *
 * The owner thread pushes and takes at the bottom (LIFO); any thread steals at
 * the top (FIFO). The ring of slots grows by doubling; old rings are kept
 * until the deque is freed, since a thief may still be reading one.
 *
 * One deviation from the paper: slots are written with a release store and
 * stolen with an acquire load (the paper uses relaxed plus fences). On x86
 * this costs nothing, and it gives ThreadSanitizer, which does not model
 * fences, the happens-before edge from push to steal.
 */
#ifndef CORING_DEQUE_H
#define CORING_DEQUE_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

typedef struct cr__dq_ring cr__dq_ring;
struct cr__dq_ring {
    int64_t mask;
    cr__dq_ring *older; /* retired rings, freed with the deque */
    _Atomic(void *) slot[];
};

typedef struct cr__deque {
    _Alignas(64) _Atomic int64_t top;
    _Alignas(64) _Atomic int64_t bottom;
    _Atomic(cr__dq_ring *) ring;
} cr__deque;

#define CR__DQ_EMPTY NULL
#define CR__DQ_ABORT ((void *)1) /* lost a race: try again */

int cr__deque_init(cr__deque *q, size_t cap_pow2);
void cr__deque_free(cr__deque *q);
/* Owner only. -ENOMEM if the ring cannot grow (the item was not pushed). */
int cr__deque_push(cr__deque *q, void *x);
/* Owner only. CR__DQ_EMPTY or an item. */
void *cr__deque_take(cr__deque *q);
/* Any thread. CR__DQ_EMPTY, CR__DQ_ABORT, or an item. */
void *cr__deque_steal(cr__deque *q);
/* Any thread; a hint only. */
static inline int64_t cr__deque_size(cr__deque *q)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed);
    int64_t t = atomic_load_explicit(&q->top, memory_order_relaxed);
    return b > t ? b - t : 0;
}

#endif
