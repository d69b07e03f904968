/*
 * sync.c — asyncio's synchronisation primitives for tasks of one loop.
 *
 * Lock: FIFO-fair by hand-off. release() with waiters passes ownership straight
 * to the first waiter (the lock never looks free in between), so a task that
 * arrives later cannot barge ahead. A waiter cancelled while still queued is
 * unlinked at once (its cancel hook), so a release in the same turn skips it.
 * A waiter handed the lock but cancelled before it resumes is still inside
 * acquire(): as in asyncio it returns -ECANCELED and passes the lock on, so a
 * cancelled acquire never comes out holding the lock.
 *
 * Waiter nodes live on the waiting task's stack and are unlinked before
 * acquire() returns. Loop thread only.
 */
#include "internal.h"
#include <stdlib.h>

typedef struct cr__waiter cr__waiter;
struct cr__waiter {
    cr__waiter *next, *prev;
    cr__task *task;
    cr_lock *lock;
    bool granted;
    bool queued; /* linked on lock's queue */
};

struct cr_lock {
    bool locked;
    cr__waiter *head, *tail;
};

static void wq_push(cr_lock *l, cr__waiter *w)
{
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

static void wq_remove(cr_lock *l, cr__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->next = w->prev = NULL;
}

cr_lock *cr_lock_new(void) { return calloc(1, sizeof(cr_lock)); }

void cr_lock_free(cr_lock *l) { free(l); }

bool cr_lock_locked(const cr_lock *l) { return l && l->locked; }

/* Cancel hook of a queued waiter: leave the queue now, not when it resumes. */
static void waiter_on_cancel(cr__task *t, void *ctx)
{
    cr__waiter *w = ctx;
    if (w->queued) {
        wq_remove(w->lock, w);
        w->queued = false;
    }
    cr__task_wake(t, -ECANCELED);
}

int cr_lock_acquire(cr_lock *l)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!l)
        return -EINVAL;
    if (!l->locked && !l->head) {
        l->locked = true;
        return 0;
    }
    cr__waiter w = {.task = t, .lock = l, .queued = true};
    wq_push(l, &w);
    rc = cr__park_nocheck(waiter_on_cancel, &w);
    if (w.granted) {
        if (!t->must_cancel)
            return 0;
        cr__consume_cancel(t); /* cancelled after the hand-off: pass it on */
        cr_lock_release(l);
        return -ECANCELED;
    }
    if (w.queued)
        wq_remove(l, &w);
    cr__consume_cancel(t);
    return rc < 0 ? rc : -ECANCELED;
}

int cr_lock_release(cr_lock *l)
{
    if (!l)
        return -EINVAL;
    if (!l->locked)
        return -EPERM;
    cr__waiter *w = l->head;
    if (!w) {
        l->locked = false;
        return 0;
    }
    wq_remove(l, w);
    w->queued = false;
    w->granted = true;
    cr__task_wake(w->task, 0);
    return 0;
}

cr_lock_guard cr_lock_guard_acquire(cr_lock *l)
{
    cr_lock_guard g = {.lock = l, .rc = cr_lock_acquire(l)};
    return g;
}

void cr_lock_guard_release(cr_lock_guard *g)
{
    if (g->rc == 0 && g->lock) {
        cr_lock_release(g->lock);
        g->rc = -EPERM;
    }
}
