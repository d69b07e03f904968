/* SPDX-License-Identifier: MIT */
/*
 * waitq.h — the FIFO list of parked tasks every primitive in sync.c and
 * queue.c keeps. Nodes live on the waiting task's stack (internal.h rule 3):
 * a node is on the list exactly while its task is parked on it, and the
 * waiter unlinks itself (if still linked) before it returns.
 *
 * Hand-off protocol: the waker unlinks the first node, stores what it grants
 * (rc, item) in it, sets `granted` and wakes the task. A woken task checks
 * `granted` first: granted means it owns what it was given even if a cancel
 * arrived later (that cancel stays pending for its next suspension); not
 * granted means it was cancelled while queued and takes nothing.
 *
 * Loop thread only.
 */
#ifndef CORING_WAITQ_H
#define CORING_WAITQ_H

#include "core/internal.h"

typedef struct cr__wnode cr__wnode;
struct cr__wnode {
    cr__list link;       /* on q->list while queued */
    cr__task *task;
    struct cr__waitq *q; /* the list it waits on */
    void *item;   /* queue hand-off: the item given or taken */
    int rc;       /* what the grant says (e.g. -EPIPE for a broken barrier) */
    bool granted;
};

/* Objects holding a waitq are calloc'd: a zeroed waitq is a valid empty
 * one, and its list head is made on the first push. */
typedef struct cr__waitq {
    cr__list list;
    size_t n;
} cr__waitq;

static inline void cr__wq_push(cr__waitq *q, cr__wnode *w)
{
    if (!q->list.next)
        cr__list_init(&q->list);
    cr__list_push_back(&q->list, &w->link);
    q->n++;
}

static inline bool cr__wq_linked(const cr__wnode *w) { return cr__list_linked(&w->link); }

static inline void cr__wq_unlink(cr__waitq *q, cr__wnode *w)
{
    if (!cr__wq_linked(w))
        return;
    cr__list_del(&w->link);
    q->n--;
}

/* The first waiter, or NULL. */
static inline cr__wnode *cr__wq_first(const cr__waitq *q)
{
    return q->n ? CR_CONTAINER_OF(q->list.next, cr__wnode, link) : NULL;
}

/* Grant the first waiter `rc` (and `item`) and wake it; false if none. */
static inline bool cr__wq_grant_first(cr__waitq *q, int rc, void *item)
{
    cr__wnode *w = cr__wq_first(q);
    if (!w)
        return false;
    cr__wq_unlink(q, w);
    w->rc = rc;
    w->item = item;
    w->granted = true;
    cr__task_wake(w->task, 0);
    return true;
}

static inline void cr__wq_grant_all(cr__waitq *q, int rc)
{
    while (cr__wq_grant_first(q, rc, NULL))
        ;
}

/* Cancelled while queued: leave the queue at once, so that nothing can be
 * granted to this waiter between the cancel and the moment it runs. */
static inline void cr__wq_on_cancel(cr__task *t, void *ctx)
{
    cr__wnode *w = ctx;
    if (!w->granted)
        cr__wq_unlink(w->q, w);
    cr__task_wake(t, -ECANCELED);
}

/* Park the current task t on q until granted or cancelled. Returns the grant's
 * rc, or -ECANCELED (cancel consumed) if it was cancelled while still queued.
 * `what` names the wait for cr_dump_tasks. */
static inline int cr__wq_wait(cr__waitq *q, cr__task *t, cr__wnode *w, const char *what)
{
    w->task = t;
    w->q = q;
    w->granted = false;
    w->link.next = w->link.prev = NULL;
    cr__wq_push(q, w);
    t->waiting_on = what;
    int rc = cr__park_nocheck(cr__wq_on_cancel, w);
    if (w->granted)
        return w->rc;
    cr__wq_unlink(q, w);
    cr__consume_cancel(t);
    return rc < 0 ? rc : -ECANCELED;
}

/* Bind an object to the thread of its first use; later calls from another
 * thread get -EPERM. (A thread id, not a loop pointer: an object may outlive
 * the loop it was first used on, e.g. across two cr_run calls.) */
typedef struct cr__owner {
    pthread_t th;
    bool set;
} cr__owner;

static inline int cr__owner_check(cr__owner *o)
{
    if (!o->set) {
        o->th = pthread_self();
        o->set = true;
        return 0;
    }
    return pthread_equal(o->th, pthread_self()) ? 0 : -EPERM;
}

#endif
