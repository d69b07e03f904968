/* SPDX-License-Identifier: MIT */
/*
 * barrier.c — asyncio.Barrier: parties tasks meet, the last one in releases
 * them all; reset or abort breaks it (waiters get -EPIPE). Waiters on a
 * waitq (waitq.h). Bound to the thread of its first use (-EPERM from another).
 */
#include "core/internal.h"
#include "sync/waitq.h"
#include <limits.h>
#include <stdlib.h>

/* count = tasks waiting in the current round. The last arrival releases the
 * round (every waiter granted its index) and the barrier starts empty again.
 * Broken (abort): every waiter granted -EPIPE, new ones refused. */
struct cr_barrier {
    unsigned parties;
    bool broken;
    cr__owner owner;
    cr__waitq waiters;
};

cr_barrier *cr_barrier_new(unsigned parties)
{
    if (parties == 0)
        return NULL;
    cr_barrier *b = calloc(1, sizeof *b);
    if (b)
        b->parties = parties;
    return b;
}

int cr_barrier_free(cr_barrier *b)
{
    if (!b)
        return 0;
    if (b->waiters.n)
        return -EBUSY;
    free(b);
    return 0;
}

int cr_barrier_wait(cr_barrier *b)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!b)
        return -EINVAL;
    if ((rc = cr__owner_check(&b->owner)) < 0)
        return rc;
    if (b->broken)
        return -EPIPE;
    unsigned index = (unsigned)b->waiters.n;
    if (index + 1 == b->parties) {
        /* Last arrival: release the round; indices follow arrival order. */
        unsigned i = 0;
        while (b->waiters.n)
            cr__wq_grant_first(&b->waiters, (int)i++, NULL);
        return (int)index;
    }
    cr__wnode w;
    return cr__wq_wait(&b->waiters, t, &w, "barrier");
}

int cr_barrier_reset(cr_barrier *b)
{
    if (!b)
        return -EINVAL;
    int rc = cr__owner_check(&b->owner);
    if (rc < 0)
        return rc;
    cr__wq_grant_all(&b->waiters, -EPIPE);
    b->broken = false;
    return 0;
}

int cr_barrier_abort(cr_barrier *b)
{
    if (!b)
        return -EINVAL;
    int rc = cr__owner_check(&b->owner);
    if (rc < 0)
        return rc;
    b->broken = true;
    cr__wq_grant_all(&b->waiters, -EPIPE);
    return 0;
}

unsigned cr_barrier_parties(const cr_barrier *b) { return b ? b->parties : 0; }
unsigned cr_barrier_n_waiting(const cr_barrier *b) { return b ? (unsigned)b->waiters.n : 0; }
bool cr_barrier_broken(const cr_barrier *b) { return b && b->broken; }
