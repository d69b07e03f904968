/*
 * mpsc.h — Vyukov's intrusive multi-producer single-consumer queue, with a
 * stub node (as described by Dmitry Vyukov, 1024cores.net; written here
 * from the description).
 *
 * Producers (any thread): one atomic exchange of `tail`, then a release store
 * linking the previous node — wait-free. The single consumer (or whoever
 * holds the consumer's lock) pops from `head`. Between a producer's exchange
 * and its link the queue is non-empty yet pop returns NULL: the consumer then
 * tries again later (cr__mpsc_nonempty stays true meanwhile).
 */
#ifndef CORING_MPSC_H
#define CORING_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cr__mpsc_node cr__mpsc_node;
struct cr__mpsc_node {
    _Atomic(cr__mpsc_node *) next;
};

typedef struct cr__mpsc {
    cr__mpsc_node *head; /* consumer only */
    cr__mpsc_node stub;
    _Alignas(64) _Atomic(cr__mpsc_node *) tail;
} cr__mpsc;

static inline void cr__mpsc_init(cr__mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    q->head = &q->stub;
    atomic_init(&q->tail, &q->stub);
}

static inline void cr__mpsc_push(cr__mpsc *q, cr__mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    cr__mpsc_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Any thread: true if something was pushed and not yet popped. */
static inline bool cr__mpsc_nonempty(cr__mpsc *q)
{
    return atomic_load_explicit(&q->tail, memory_order_seq_cst) != &q->stub;
}

/* Consumer only. NULL when empty or when a producer is mid-push. */
static inline cr__mpsc_node *cr__mpsc_pop(cr__mpsc *q)
{
    cr__mpsc_node *head = q->head;
    cr__mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->stub) {
        if (!next)
            return NULL;
        q->head = head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    if (atomic_load_explicit(&q->tail, memory_order_acquire) != head)
        return NULL; /* a producer is linking after head */
    cr__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

#endif
