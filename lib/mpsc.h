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

#define CR__MPSC_SHARDS 8

typedef struct cr__mpsc {
    cr__mpsc_node *head; /* consumer only */
    cr__mpsc_node stub;
    _Alignas(64) _Atomic(cr__mpsc_node *) tail;
    /* The gate that lets a closer know no producer is mid-push: a count of
     * producers inside, sharded by thread so that two producers do not bounce
     * one cache line twice per push, plus a read-mostly closed flag. */
    _Alignas(64) _Atomic int closed;
    struct {
        _Alignas(64) _Atomic long n;
    } inside[CR__MPSC_SHARDS];
} cr__mpsc;

static inline void cr__mpsc_init(cr__mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    q->head = &q->stub;
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->closed, 0);
    for (int i = 0; i < CR__MPSC_SHARDS; i++)
        atomic_init(&q->inside[i].n, 0);
}

static inline unsigned cr__mpsc_shard(void)
{
    static _Atomic unsigned next_id;
    static __thread unsigned id; /* 0 = not assigned yet */
    if (__builtin_expect(!id, 0))
        id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
    return id % CR__MPSC_SHARDS;
}

/* A producer that may race with cr__mpsc_close brackets its push with
 * enter/leave. enter returns the shard to pass to leave, or -1 once the
 * queue is closed. Dekker-style, all seq_cst: the producer counts itself
 * then reads `closed`; the closer sets `closed` then reads the counts. */
static inline int cr__mpsc_enter(cr__mpsc *q)
{
    unsigned i = cr__mpsc_shard();
    atomic_fetch_add_explicit(&q->inside[i].n, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&q->closed, memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&q->inside[i].n, 1, memory_order_release);
        return -1;
    }
    return (int)i;
}

static inline void cr__mpsc_leave(cr__mpsc *q, int shard)
{
    atomic_fetch_sub_explicit(&q->inside[shard].n, 1, memory_order_release);
}

/* Refuse new producers and wait for those inside (they only push): after
 * this returns nothing more can arrive. Returns false if already closed. */
static inline bool cr__mpsc_close(cr__mpsc *q)
{
    int was = atomic_exchange_explicit(&q->closed, 1, memory_order_seq_cst);
    for (int i = 0; i < CR__MPSC_SHARDS; i++)
        while (atomic_load_explicit(&q->inside[i].n, memory_order_seq_cst) != 0)
            sched_yield();
    return !was;
}

static inline bool cr__mpsc_closed(cr__mpsc *q)
{
    return atomic_load_explicit(&q->closed, memory_order_acquire);
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
