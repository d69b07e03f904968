/* SPDX-License-Identifier: MIT */
/*
 * semaphore.c — asyncio.Semaphore and BoundedSemaphore: a release with
 * waiters hands the unit straight to the first (FIFO, no barging); a bounded
 * one refuses to go above its initial value. Waiters on a waitq (waitq.h).
 * Bound to the thread of its first use (-EPERM from another).
 */
#include "core/internal.h"
#include "sync/waitq.h"
#include <limits.h>
#include <stdlib.h>

/* Invariant: waiters queued ⇒ value == 0. release() with waiters hands the unit
 * straight to the first one, so value never rises while someone waits and a
 * newcomer cannot take a unit a queued waiter is owed. */
struct cr_semaphore {
    unsigned value, bound; /* bound: initial value of a bounded one, else UINT_MAX */
    bool bounded;
    cr__owner owner;
    cr__waitq waiters;
};

static cr_semaphore *sem_new(unsigned value, bool bounded)
{
    cr_semaphore *s = calloc(1, sizeof *s);
    if (s) {
        s->value = value;
        s->bound = value;
        s->bounded = bounded;
    }
    return s;
}

cr_semaphore *cr_semaphore_new(unsigned value) { return sem_new(value, false); }
cr_semaphore *cr_bounded_semaphore_new(unsigned value) { return sem_new(value, true); }

int cr_semaphore_free(cr_semaphore *s)
{
    if (!s)
        return 0;
    if (s->waiters.n)
        return -EBUSY;
    free(s);
    return 0;
}

bool cr_semaphore_locked(const cr_semaphore *s) { return s && (s->value == 0 || s->waiters.n); }
unsigned cr_semaphore_value(const cr_semaphore *s) { return s ? s->value : 0; }

int cr_semaphore_acquire(cr_semaphore *s)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!s)
        return -EINVAL;
    if ((rc = cr__owner_check(&s->owner)) < 0)
        return rc;
    if (s->value > 0 && !s->waiters.n) {
        s->value--;
        return 0;
    }
    cr__wnode w;
    return cr__wq_wait(&s->waiters, t, &w, "semaphore");
}

int cr_semaphore_release(cr_semaphore *s)
{
    if (!s)
        return -EINVAL;
    int rc = cr__owner_check(&s->owner);
    if (rc < 0)
        return rc;
    if (cr__wq_grant_first(&s->waiters, 0, NULL))
        return 0;
    if (s->value == (s->bounded ? s->bound : UINT_MAX))
        return -EOVERFLOW;
    s->value++;
    return 0;
}
