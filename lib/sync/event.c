/* SPDX-License-Identifier: MIT */
/*
 * event.c — asyncio.Event: set wakes every waiter (each is granted), clear
 * makes later waits block again. Waiters on a waitq (waitq.h's hand-off).
 * Bound to the thread of its first use (-EPERM from another).
 */
#include "core/internal.h"
#include "sync/waitq.h"
#include <limits.h>
#include <stdlib.h>

struct cr_event {
    bool set;
    cr__owner owner;
    cr__waitq waiters;
};

cr_event *cr_event_new(void) { return calloc(1, sizeof(cr_event)); }

int cr_event_free(cr_event *e)
{
    if (!e)
        return 0;
    if (e->waiters.n)
        return -EBUSY;
    free(e);
    return 0;
}

int cr_event_set(cr_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = cr__owner_check(&e->owner);
    if (rc < 0)
        return rc;
    e->set = true;
    cr__wq_grant_all(&e->waiters, 0);
    return 0;
}

int cr_event_clear(cr_event *e)
{
    if (!e)
        return -EINVAL;
    int rc = cr__owner_check(&e->owner);
    if (rc == 0)
        e->set = false;
    return rc;
}

bool cr_event_is_set(const cr_event *e) { return e && e->set; }

int cr_event_wait(cr_event *e)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!e)
        return -EINVAL;
    if ((rc = cr__owner_check(&e->owner)) < 0)
        return rc;
    if (e->set)
        return 0;
    cr__wnode w;
    return cr__wq_wait(&e->waiters, t, &w, "event");
}
