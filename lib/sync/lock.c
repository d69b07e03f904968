/* SPDX-License-Identifier: MIT */
/*
 * lock.c — asyncio.Lock for tasks of one loop.
 *
 * FIFO-fair by hand-off: release() with waiters passes ownership straight to
 * the first waiter (the lock never looks free in between), so a task that
 * arrives later cannot barge ahead. A waiter cancelled while still queued is
 * unlinked at once (waitq.h's cancel hook), so a release in the same turn
 * skips it. A waiter handed the lock but cancelled before it resumes is still
 * inside acquire(): as in asyncio it returns -ECANCELED and passes the lock
 * on, so a cancelled acquire never comes out holding the lock.
 *
 * Waiter nodes live on the waiting task's stack (waitq.h). Loop thread only.
 */
#include "core/internal.h"
#include "sync/lock.h"
#include <limits.h>
#include <stdlib.h>

cr_lock *cr_lock_new(void) { return calloc(1, sizeof(cr_lock)); }

int cr_lock_free(cr_lock *l)
{
    if (!l)
        return 0;
    if (l->waiters.n)
        return -EBUSY; /* their nodes link through it: freeing would dangle */
    free(l);
    return 0;
}

bool cr_lock_locked(const cr_lock *l) { return l && l->locked; }

int cr_lock_acquire(cr_lock *l)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!l)
        return -EINVAL;
    if (!l->locked && !l->waiters.n) {
        l->locked = true;
        return 0;
    }
    cr__wnode w;
    rc = cr__wq_wait(&l->waiters, t, &w, "lock");
    if (w.granted) {
        if (!t->must_cancel)
            return 0;
        cr__consume_cancel(t); /* cancelled after the hand-off: pass it on */
        cr_lock_release(l);
        return -ECANCELED;
    }
    return rc;
}

int cr_lock_release(cr_lock *l)
{
    if (!l)
        return -EINVAL;
    if (!l->locked)
        return -EPERM;
    /* Hand-off: ownership goes straight to the first waiter. */
    if (!cr__wq_grant_first(&l->waiters, 0, NULL))
        l->locked = false;
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
