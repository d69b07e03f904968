/* SPDX-License-Identifier: MIT */
/*
 * list.h — the one intrusive list of coring: circular, doubly linked, with a
 * head node (the kernel's list.h and libuv's queue.h are the model). A node
 * lives inside the object it links (CR_CONTAINER_OF gets the object back).
 *
 * Invariants: a head is initialised before use (cr__list_init); a node is
 * either linked or points at itself, so cr__list_del is safe twice and
 * cr__list_linked says which. Not thread-safe: each list belongs to one
 * thread (its owner says which).
 */
#ifndef CORING_CORE_LIST_H
#define CORING_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cr__list cr__list;
struct cr__list {
    cr__list *next, *prev;
};

static inline void cr__list_init(cr__list *h) { h->next = h->prev = h; }
static inline bool cr__list_empty(const cr__list *h) { return h->next == h; }
static inline bool cr__list_linked(const cr__list *n) { return n->next != n && n->next; }

static inline void cr__list_insert_(cr__list *n, cr__list *prev, cr__list *next)
{
    n->prev = prev;
    n->next = next;
    prev->next = n;
    next->prev = n;
}
static inline void cr__list_push_back(cr__list *h, cr__list *n) { cr__list_insert_(n, h->prev, h); }
static inline void cr__list_push_front(cr__list *h, cr__list *n) { cr__list_insert_(n, h, h->next); }

static inline void cr__list_del(cr__list *n)
{
    if (!cr__list_linked(n))
        return;
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}

/* The first node, or NULL when empty. */
static inline cr__list *cr__list_first(const cr__list *h) { return h->next == h ? NULL : h->next; }

/* Walk; the _SAFE form allows deleting `pos` inside the body. */
#define CR__LIST_FOR_EACH(pos, head) for (cr__list *pos = (head)->next; pos != (head); pos = pos->next)
#define CR__LIST_FOR_EACH_SAFE(pos, head)                                        \
    for (cr__list *pos = (head)->next, *pos##_next_ = pos->next; pos != (head);  \
         pos = pos##_next_, pos##_next_ = pos->next)

#endif
