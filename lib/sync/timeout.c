/* SPDX-License-Identifier: MIT */
/*
 * timeout.c — asyncio.timeout / timeout_at: a deadline over a scope of awaits.
 *
 * Owns: the scope (heap: it must outlive the body's frames) and its timer.
 *
 * How expiry becomes -ETIMEDOUT without stealing anybody else's cancel
 * (asyncio 3.11's protocol): at entry the scope records the task's
 * cancelling count. On expiry it cr_cancel()s the task (count + 1). At the
 * end it cr_task_uncancel()s once; if the count is then back at (or below)
 * what it was at entry and the body ended -ECANCELED, that cancellation was
 * ours: -ETIMEDOUT. Otherwise some other cancel (an outer scope's, or a real
 * one) is still outstanding and -ECANCELED is passed on untouched. An inner
 * scope only ever removes its own count, so nested scopes each claim their own.
 *
 * The deadline is kept as the double it was given (when() gives it back
 * exactly) beside the ns the timer uses.
 *
 * Loop thread only. A scope belongs to the task that opened it (end() only
 * from there); any task or callback of the loop may reschedule it, as in
 * asyncio.
 */
#include "core/internal.h"
#include <stdlib.h>

struct cr_timeout_scope {
    cr__timer tm;
    cr__task *task;
    double when;   /* as given (loop time, seconds); -1: no deadline */
    int base_cancelling;
    bool expired;
};

static void on_expire(cr__timer *tm)
{
    cr_timeout_scope *to = CR_CONTAINER_OF(tm, cr_timeout_scope, tm);
    to->expired = true;
    cr_cancel(&to->task->f);
}

/* when: loop time in seconds, < 0 none; ns: the same deadline for the timer. */
static int arm(cr_timeout_scope *to, double when, int64_t ns)
{
    cr__timer_disarm(to->task->f.loop, &to->tm);
    to->when = when < 0 ? -1 : when;
    if (when < 0)
        return 0;
    /* A deadline already past fires at the next loop turn, never inline. */
    return cr__timer_arm(to->task->f.loop, &to->tm, ns);
}

static cr_timeout_scope *open_scope(double when, int64_t ns)
{
    cr__task *t = cr__current();
    if (!t || when != when)
        return NULL;
    cr_timeout_scope *to = calloc(1, sizeof *to);
    if (!to)
        return NULL;
    to->task = t;
    cr_future_ref(&t->f); /* the timer may fire after a misused scope's task ended */
    to->base_cancelling = t->cancelling;
    cr__timer_init(&to->tm, on_expire);
    if (arm(to, when, ns) < 0) {
        cr_future_unref(&t->f);
        free(to);
        return NULL;
    }
    return to;
}

static int64_t to_ns(double when)
{
    int64_t ns = -1;
    if (when >= 0)
        cr__when_to_ns(when, &ns); /* +inf and beyond int64: CR__NEVER */
    return ns;
}

cr_timeout_scope *cr_timeout(double seconds)
{
    if (seconds != seconds || seconds < 0)
        return open_scope(seconds, -1);
    int64_t now = cr__now_ns();
    return open_scope((double)now / 1e9 + seconds, cr__add_sat(now, cr__secs_to_ns(seconds)));
}

cr_timeout_scope *cr_timeout_at(double when) { return open_scope(when, to_ns(when)); }

int cr_timeout_reschedule(cr_timeout_scope *to, double when)
{
    if (!to || when != when)
        return -EINVAL;
    cr_loop *l = to->task->f.loop;
    if (!l)
        return -ESHUTDOWN;
    if (cr__tls_running != l)
        return -EPERM; /* another thread, or the loop is not running */
    if (to->expired)
        return -EALREADY;
    return arm(to, when, to_ns(when));
}

double cr_timeout_when(const cr_timeout_scope *to) { return to ? to->when : -1; }

bool cr_timeout_expired(const cr_timeout_scope *to) { return to && to->expired; }

int cr_timeout_end(cr_timeout_scope *to, int rc)
{
    if (!to)
        return -EINVAL;
    cr__task *t = to->task;
    if (cr__current() != t)
        return -EPERM;
    cr__timer_disarm(t->f.loop, &to->tm);
    if (to->expired) {
        int left = cr_task_uncancel(&t->f);
        if (left <= to->base_cancelling) {
            /* Only our cancel was asked for during the scope: if the body
             * ended before it was delivered, it must not leak out. */
            t->must_cancel = false;
            if (rc == -ECANCELED)
                rc = -ETIMEDOUT;
        }
    }
    cr_future_unref(&t->f);
    free(to);
    return rc;
}
