/* SPDX-License-Identifier: MIT */
/*
 * park.c — parking a task on an object's slot with a user-space deadline:
 * the wait behind stream reads, acceptors, multishot recvs and servers.
 *
 * Invariant: a cr__waiter lives on the parked task's stack and the object's
 * slot points at it. Whoever wakes it (cr__wake_slot, the deadline, a cancel)
 * empties the slot and disarms the timer, so after the park neither side
 * touches the other: an object may be freed right after waking its waiter
 * with -ESHUTDOWN.
 *
 * Loop thread only.
 */
#include "core/internal.h"

static void waiter_fire(cr__timer *tm)
{
    cr__waiter *w = CR_CONTAINER_OF(tm, cr__waiter, tm);
    *w->slot = NULL; /* the object is alive: freeing it would have woken us */
    cr__task_wake(w->t, -ETIMEDOUT);
}

static void waiter_cancel(cr__task *t, void *ctx)
{
    cr__waiter *w = ctx;
    if (*w->slot == w)
        *w->slot = NULL;
    cr__timer_disarm(t->f.loop, &w->tm);
    cr__task_wake(t, -ECANCELED);
}

int cr__park_until(cr__waiter **slot, int64_t deadline_ns)
{
    cr__task *t = cr__current();
    if (deadline_ns == CR__BAD_DEADLINE)
        return -EINVAL; /* a NaN timeout (timer.h) */
    if (t->must_cancel) {
        cr__consume_cancel(t);
        return -ECANCELED;
    }
    cr__waiter w = {.t = t, .slot = slot};
    cr__timer_init(&w.tm, waiter_fire);
    if (deadline_ns >= 0) {
        if (deadline_ns <= cr__now_ns())
            return -ETIMEDOUT;
        int rc = cr__timer_arm(t->f.loop, &w.tm, deadline_ns);
        if (rc < 0)
            return rc;
    }
    *slot = &w;
    if (!t->waiting_on)
        t->waiting_on = "object"; /* a stream, an acceptor, a recv, a server */
    int rc = cr__park_nocheck(waiter_cancel, &w);
    /* Whoever woke us emptied the slot and disarmed the timer; the object may
     * be gone already, so neither is touched here. */
    if (rc == -ECANCELED)
        cr__consume_cancel(t);
    return rc;
}

void cr__wake_slot(cr__waiter **slot, int rc)
{
    cr__waiter *w = *slot;
    if (w) {
        *slot = NULL;
        cr__timer_disarm(w->t->f.loop, &w->tm);
        cr__task_wake(w->t, rc);
    }
}

