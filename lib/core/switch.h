/* SPDX-License-Identifier: MIT */
/*
 * switch.h — a task's switch out to its loop and back, and the entry check of
 * a suspending call, inline (task.c's cr__park_nocheck and cr__enter are
 * these; park.h's fast park inlines them into a stream read's own frame).
 *
 * Why a header of its own: the switch reads the loop's fields (sched_sp,
 * current), so it cannot live in task.h, which loop.h includes; and task.c
 * and park.c both build on it, so it belongs to neither.
 *
 * Loop thread only, inside a task.
 */
#ifndef CORING_CORE_SWITCH_H
#define CORING_CORE_SWITCH_H

#include "arch/ctx.h"
#include "core/san.h"
#include "core/trace.h"

/* Park the running task t of loop l: cr__park_nocheck's body (task.h). */
static inline __attribute__((always_inline)) int cr__park_switch(cr_loop *l, cr__task *t,
                                                                 cr__cancel_hook hook, void *ctx)
{
    t->on_cancel = hook;
    t->cancel_ctx = ctx;
    /* A task that queued itself (cr_sleep(0)) switches out READY: it must not
     * look PARKED, or a cancel or wake would queue it twice. */
    if (t->state == CR__T_RUNNING)
        t->state = CR__T_PARKED;
    CR_TRACE2(task_park, t->id, t->waiting_on ? t->waiting_on : "");
    cr__san_leave_task(l, t, false);
    cr__ctx_switch(&t->sp, l->sched_sp, NULL);
    cr__san_in_task(l, t);
    t->on_cancel = NULL;
    t->cancel_ctx = NULL;
    return t->wake_rc;
}

/* cr__enter (task.h) for a caller that needs no task pointer, inline: the
 * entry check of the stream calls, without a frame of its own below theirs. */
static inline __attribute__((always_inline)) int cr__enter_here(void)
{
    cr_loop *l = cr__tls_running;
    cr__task *t = l ? l->current : NULL;
    if (!t)
        return -EPERM;
    t->waiting_on = NULL; /* each park site names its wait afresh */
    if (t->must_cancel) {
        t->must_cancel = false;
        return -ECANCELED;
    }
    return 0;
}

#endif
