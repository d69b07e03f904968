/* SPDX-License-Identifier: MIT */
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
 *
 * Emptiness is `tail == stub && head == stub`, not `tail == stub` alone: when
 * pop takes the last node it pushes the stub back like a producer, and a
 * producer that exchanged `tail` just before leaves the chain
 * head -> P -> stub with `tail == stub` and P still queued. `head` is atomic
 * so that other threads may read it for that test; only the consumer writes
 * it.
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
    _Atomic(cr__mpsc_node *) head; /* written by the consumer only */
    cr__mpsc_node stub;
    _Alignas(64) _Atomic(cr__mpsc_node *) tail;
} cr__mpsc;

/* The gate that lets a closer know no producer is mid-push: a count of
 * producers inside, sharded by thread so that two producers do not bounce
 * one cache line twice per push, plus a read-mostly closed flag. */
typedef struct cr__gate {
    _Alignas(64) _Atomic int closed;
    struct {
        _Alignas(64) _Atomic long n;
    } inside[CR__MPSC_SHARDS];
} cr__gate;

static inline void cr__mpsc_init(cr__mpsc *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    atomic_init(&q->tail, &q->stub);
}

static inline void cr__gate_init(cr__gate *g)
{
    atomic_init(&g->closed, 0);
    for (int i = 0; i < CR__MPSC_SHARDS; i++)
        atomic_init(&g->inside[i].n, 0);
}

static inline unsigned cr__gate_shard(void)
{
    static _Atomic unsigned next_id;
    static __thread unsigned id; /* 0 = not assigned yet */
    if (__builtin_expect(!id, 0))
        id = atomic_fetch_add_explicit(&next_id, 1, memory_order_relaxed) + 1;
    return id % CR__MPSC_SHARDS;
}

/* A producer that may race with cr__gate_close brackets its push with
 * enter/leave. enter returns the shard to pass to leave, or -1 once the
 * queue is closed. Dekker-style, all seq_cst: the producer counts itself
 * then reads `closed`; the closer sets `closed` then reads the counts. */
static inline int cr__gate_enter(cr__gate *q)
{
    unsigned i = cr__gate_shard();
    atomic_fetch_add_explicit(&q->inside[i].n, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&q->closed, memory_order_seq_cst)) {
        atomic_fetch_sub_explicit(&q->inside[i].n, 1, memory_order_release);
        return -1;
    }
    return (int)i;
}

static inline void cr__gate_leave(cr__gate *q, int shard)
{
    atomic_fetch_sub_explicit(&q->inside[shard].n, 1, memory_order_release);
}

/* Refuse new producers and wait for those inside (they only push): after
 * this returns nothing more can arrive. Returns false if already closed. */
static inline bool cr__gate_close(cr__gate *q)
{
    int was = atomic_exchange_explicit(&q->closed, 1, memory_order_seq_cst);
    for (int i = 0; i < CR__MPSC_SHARDS; i++)
        while (atomic_load_explicit(&q->inside[i].n, memory_order_seq_cst) != 0)
            sched_yield();
    return !was;
}

static inline bool cr__gate_closed(cr__gate *q)
{
    return atomic_load_explicit(&q->closed, memory_order_acquire);
}

static inline void cr__mpsc_push(cr__mpsc *q, cr__mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    cr__mpsc_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_seq_cst);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* ---- single-producer lanes that can be sealed ----
 *
 * When a queue has ONE producer thread, closing needs no gate: the closer
 * swaps the tail for CR__MPSC_SEALED and drains up to the node it got back;
 * a later push finds SEALED in its exchange, puts it back (nobody else
 * pushes) and fails, keeping its node. One locked instruction per push. */
#define CR__MPSC_SEALED ((cr__mpsc_node *)1)

/* The only producer of q: false (n untouched) if q is sealed. */
static inline bool cr__mpsc_push_sp(cr__mpsc *q, cr__mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    cr__mpsc_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_seq_cst);
    if (__builtin_expect(prev == CR__MPSC_SEALED, 0)) {
        atomic_store_explicit(&q->tail, CR__MPSC_SEALED, memory_order_relaxed);
        return false;
    }
    atomic_store_explicit(&prev->next, n, memory_order_release);
    return true;
}

/* The consumer: seal q, then hand every node pushed before to fn, in order
 * (waiting out a producer that is between its exchange and its link).
 * Sealing twice is harmless. */
static inline void cr__mpsc_seal_drain(cr__mpsc *q, void (*fn)(cr__mpsc_node *n, void *ctx),
                                       void *ctx)
{
    cr__mpsc_node *last = atomic_exchange_explicit(&q->tail, CR__MPSC_SEALED,
                                                   memory_order_seq_cst);
    if (last == CR__MPSC_SEALED)
        return;
    for (cr__mpsc_node *cur = atomic_load_explicit(&q->head, memory_order_relaxed);;) {
        cr__mpsc_node *next = NULL;
        if (cur != last)
            while (!(next = atomic_load_explicit(&cur->next, memory_order_acquire)))
                sched_yield();
        if (cur != &q->stub)
            fn(cur, ctx); /* may free cur: next was read first */
        if (cur == last)
            break;
        cur = next;
    }
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
}

/* Any thread: true if something was pushed and not yet popped. The tail is
 * read first: when pop swaps the stub in as tail (seq_cst) behind a node it
 * could not take yet, a reader that sees that tail also sees the head that
 * still holds the node (the store to head came before, in the consumer). */
static inline bool cr__mpsc_nonempty(cr__mpsc *q)
{
    return atomic_load_explicit(&q->tail, memory_order_seq_cst) != &q->stub ||
           atomic_load_explicit(&q->head, memory_order_acquire) != &q->stub;
}

/* Consumer only. NULL when empty or when a producer is mid-push. */
static inline cr__mpsc_node *cr__mpsc_pop(cr__mpsc *q)
{
    cr__mpsc_node *head = atomic_load_explicit(&q->head, memory_order_relaxed);
    cr__mpsc_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->stub) {
        if (!next)
            return NULL;
        atomic_store_explicit(&q->head, next, memory_order_release);
        head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        atomic_store_explicit(&q->head, next, memory_order_release);
        return head;
    }
    if (atomic_load_explicit(&q->tail, memory_order_acquire) != head)
        return NULL; /* a producer is linking after head */
    cr__mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        atomic_store_explicit(&q->head, next, memory_order_release);
        return head;
    }
    return NULL; /* a producer slipped in before the stub: head keeps its node */
}

#endif
