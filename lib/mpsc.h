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
#include <stdint.h>
#include <sched.h>

typedef struct cr__mpsc_node cr__mpsc_node;
struct cr__mpsc_node {
    _Atomic(cr__mpsc_node *) next;
};

typedef struct cr__mpsc {
    cr__mpsc_node *head; /* consumer only */
    cr__mpsc_node stub;
    /* The producers' cache line: the tail and the gate share it, so a push
     * (enter, exchange, leave) moves one line between cores, not two. */
    _Alignas(64) _Atomic(cr__mpsc_node *) tail;
    _Atomic uint64_t gate; /* producers inside + CR__MPSC_CLOSED */
} cr__mpsc;

#define CR__MPSC_CLOSED (1ull << 63)

static inline void cr__mpsc_init(cr__mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    q->head = &q->stub;
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->gate, 0);
}

/* A producer that may race with cr__mpsc_close brackets its push with
 * enter/leave; enter fails (false) once the queue is closed. */
static inline bool cr__mpsc_enter(cr__mpsc *q)
{
    uint64_t g = atomic_fetch_add_explicit(&q->gate, 1, memory_order_acquire);
    if (g & CR__MPSC_CLOSED) {
        atomic_fetch_sub_explicit(&q->gate, 1, memory_order_release);
        return false;
    }
    return true;
}

static inline void cr__mpsc_leave(cr__mpsc *q)
{
    atomic_fetch_sub_explicit(&q->gate, 1, memory_order_release);
}

/* Refuse new producers and wait for those inside (they only push): after
 * this returns nothing more can arrive. Returns false if already closed. */
static inline bool cr__mpsc_close(cr__mpsc *q)
{
    uint64_t g = atomic_fetch_or_explicit(&q->gate, CR__MPSC_CLOSED, memory_order_acq_rel);
    while (atomic_load_explicit(&q->gate, memory_order_acquire) != CR__MPSC_CLOSED)
        sched_yield();
    return !(g & CR__MPSC_CLOSED);
}

static inline bool cr__mpsc_closed(cr__mpsc *q)
{
    return atomic_load_explicit(&q->gate, memory_order_acquire) & CR__MPSC_CLOSED;
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
