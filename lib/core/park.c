/* SPDX-License-Identifier: MIT */
/*
 * park.c — parking a task on an object's slot with a user-space deadline:
 * the wait behind stream reads, acceptors, multishot recvs and servers.
 *
 * Invariant: the object's slot holds the parked task (as an opaque
 * cr__waiter *). Whoever wakes it (cr__wake_slot, the deadline, a cancel)
 * empties the slot and disarms the timer, so after the park neither side
 * touches the other: an object may be freed right after waking its waiter
 * with -ESHUTDOWN.
 *
 * Why the slot holds the task and not a record on the task's stack: a wake
 * then reads only the task's hot line (task.h). At hundreds of connections a
 * loop, every line a request touches is a cache miss, and the stack record
 * was one more (measured in docs/backends.md). A park with a deadline keeps
 * the slot's address and the timer on its stack, in a `struct park`, reached
 * through cancel_ctx by the rare paths (deadline, cancel); an untimed park's
 * cancel_ctx is the slot itself. The cancel hook says whether a timer is
 * armed, so a plain wake never looks at the stack.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include "core/park.h"

struct park {
    cr__timer tm;          /* armed only by a park with a deadline */
    cr__waiter **slot;
    cr__task *t;
};

static inline cr__waiter *as_waiter(cr__task *t) { return (cr__waiter *)(void *)t; }
static inline cr__task *as_task(cr__waiter *w) { return (cr__task *)(void *)w; }

static void park_fire(cr__timer *tm)
{
    struct park *p = CR_CONTAINER_OF(tm, struct park, tm);
    *p->slot = NULL; /* the object is alive: freeing it would have woken us */
    cr__task_wake(p->t, -ETIMEDOUT);
}

/* An untimed park's hook: ctx is the slot itself, so the plain park keeps
 * nothing on its stack (one stack line fewer per request at hundreds of
 * connections: the frames from the read call down to the switch are all
 * cold lines then). */
void cr__park_cancel_slot(cr__task *t, void *ctx)
{
    cr__waiter **slot = ctx;
    if (*slot == as_waiter(t))
        *slot = NULL;
    cr__task_wake(t, -ECANCELED);
}

/* The hook of a park with a deadline: cr__wake_slot knows by it that a timer
 * is armed. */
static void park_cancel_timed(cr__task *t, void *ctx)
{
    struct park *p = ctx;
    cr__timer_disarm(t->f.loop, &p->tm);
    cr__park_cancel_slot(t, p->slot);
}

static __attribute__((noinline)) int park_timed(cr__task *t, cr__waiter **slot, int64_t deadline_ns)
{
    if (deadline_ns <= cr__now_ns())
        return -ETIMEDOUT;
    struct park p = {.slot = slot, .t = t};
    cr__timer_init(&p.tm, park_fire);
    int rc = cr__timer_arm(t->f.loop, &p.tm, deadline_ns);
    if (rc < 0)
        return rc;
    *slot = as_waiter(t);
    if (!t->waiting_on)
        t->waiting_on = "object";
    rc = cr__park_nocheck(park_cancel_timed, &p);
    /* Whoever woke us emptied the slot and disarmed the timer; the object may
     * be gone already, so neither is touched here. */
    if (rc == -ECANCELED)
        cr__consume_cancel(t);
    return rc;
}

int cr__park_until(cr__waiter **slot, int64_t deadline_ns)
{
    cr__task *t = cr__current();
    if (deadline_ns == CR__BAD_DEADLINE)
        return -EINVAL; /* a NaN timeout (timer.h) */
    if (deadline_ns < 0)
        return cr__park_slot(slot, deadline_ns); /* park.h: inside a task, it parks */
    if (t->must_cancel) {
        cr__consume_cancel(t);
        return -ECANCELED;
    }
    return park_timed(t, slot, deadline_ns);
}

void cr__wake_slot(cr__waiter **slot, int rc)
{
    cr__waiter *w = *slot;
    if (w) {
        cr__task *t = as_task(w);
        *slot = NULL;
        if (t->on_cancel == park_cancel_timed)
            cr__timer_disarm(t->f.loop, &((struct park *)t->cancel_ctx)->tm);
        cr__task_wake(t, rc);
    }
}
