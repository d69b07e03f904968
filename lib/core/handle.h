/* SPDX-License-Identifier: MIT */
/*
 * handle.h — what can sit on a loop's ready queue, and the queue itself (a
 * FIFO of intrusive handles). Loop thread only.
 */
#ifndef CORING_CORE_HANDLE_H
#define CORING_CORE_HANDLE_H

#include "core/common.h"

/* Anything that can sit on the ready queue. What it does is a shared const
 * table, so a handle is two words: a task's handle sits in its hot line with
 * everything a wake, a run and a park touch (task.h). */
typedef struct cr__handle cr__handle;
struct cr__handle_ops {
    void (*run)(cr__handle *h);
    void (*drop)(cr__handle *h); /* loop closed before it ran; NULL = nothing to free */
};
struct cr__handle {
    cr__handle *next;
    const struct cr__handle_ops *ops;
};

typedef struct cr__queue {
    cr__handle *head, *tail;
    size_t n;
} cr__queue;

static inline void cr__queue_push(cr__queue *q, cr__handle *h)
{
    h->next = NULL;
    if (q->tail)
        q->tail->next = h;
    else
        q->head = h;
    q->tail = h;
    q->n++;
}

static inline cr__handle *cr__queue_pop(cr__queue *q)
{
    cr__handle *h = q->head;
    if (h) {
        q->head = h->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    }
    return h;
}

#endif
