/* SPDX-License-Identifier: MIT */
/*
 * condition.c — asyncio.Condition over a cr_lock (its own or the caller's):
 * wait releases the lock, parks on the condition's waitq, and reacquires the
 * lock before it returns, also when cancelled (as asyncio does). Bound to the
 * thread of its first use (-EPERM from another).
 */
#include "core/internal.h"
#include "sync/lock.h"
#include <limits.h>
#include <stdlib.h>

struct cr_condition {
    cr_lock *lock;
    bool own_lock;
    cr__waitq waiters;
};

cr_condition *cr_condition_new(cr_lock *lock)
{
    cr_condition *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->lock = lock;
    if (!lock) {
        c->own_lock = true;
        if (!(c->lock = cr_lock_new())) {
            free(c);
            return NULL;
        }
    }
    return c;
}

int cr_condition_free(cr_condition *c)
{
    if (!c)
        return 0;
    if (c->waiters.n || (c->own_lock && c->lock->waiters.n))
        return -EBUSY;
    if (c->own_lock)
        cr_lock_free(c->lock);
    free(c);
    return 0;
}

cr_lock *cr_condition_lock(cr_condition *c) { return c ? c->lock : NULL; }
int cr_condition_acquire(cr_condition *c) { return c ? cr_lock_acquire(c->lock) : -EINVAL; }
int cr_condition_release(cr_condition *c) { return c ? cr_lock_release(c->lock) : -EINVAL; }
bool cr_condition_locked(const cr_condition *c) { return c && c->lock->locked; }

/* Take the lock back whatever happens: a cancel while re-acquiring is
 * remembered and reported, never a reason to return without the lock. */
static bool reacquire(cr_lock *l)
{
    bool cancelled = false;
    for (;;) {
        int rc = cr_lock_acquire(l);
        if (rc == 0)
            return cancelled;
        if (rc == -ECANCELED)
            cancelled = true;
    }
}

static void notify_n(cr_condition *c, unsigned n)
{
    while (n-- && cr__wq_grant_first(&c->waiters, 0, NULL))
        ;
}

int cr_condition_wait(cr_condition *c)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!c)
        return -EINVAL;
    if (!c->lock->locked)
        return -EPERM;
    cr_lock_release(c->lock);
    cr__wnode w;
    rc = cr__wq_wait(&c->waiters, t, &w, "condition");
    bool cancelled_late = reacquire(c->lock);
    if (cancelled_late) {
        /* Notified, but cancelled before we could act on it: pass the
         * notification on so that it is not lost (asyncio 3.13). */
        if (w.granted)
            notify_n(c, 1);
        return -ECANCELED;
    }
    return rc;
}

int cr_condition_wait_for(cr_condition *c, bool (*pred)(void *arg), void *arg)
{
    if (!c || !pred)
        return -EINVAL;
    while (!pred(arg)) {
        int rc = cr_condition_wait(c);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cr_condition_notify(cr_condition *c, unsigned n)
{
    if (!c)
        return -EINVAL;
    if (!c->lock->locked)
        return -EPERM;
    notify_n(c, n);
    return 0;
}

int cr_condition_notify_all(cr_condition *c)
{
    if (!c)
        return -EINVAL;
    return cr_condition_notify(c, (unsigned)c->waiters.n);
}
