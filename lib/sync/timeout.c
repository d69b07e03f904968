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
 * Loop thread only; a scope belongs to the task that opened it.
 */
#include "core/internal.h"
#include <stdlib.h>

struct cr_timeout_scope {
    cr__timer tm;
    cr__task *task;
    int64_t when;  /* -1: no deadline */
    int base_cancelling;
    bool expired;
};

static void on_expire(cr__timer *tm)
{
    cr_timeout_scope *to = CR_CONTAINER_OF(tm, cr_timeout_scope, tm);
    to->expired = true;
    cr_cancel(&to->task->f);
}

static int arm(cr_timeout_scope *to, int64_t when)
{
    cr__timer_disarm(to->task->f.loop, &to->tm);
    to->when = when;
    if (when < 0)
        return 0;
    /* A deadline already past fires at the next loop turn, never inline. */
    return cr__timer_arm(to->task->f.loop, &to->tm, when);
}

static cr_timeout_scope *open_scope(int64_t when)
{
    cr__task *t = cr__current();
    if (!t)
        return NULL;
    cr_timeout_scope *to = calloc(1, sizeof *to);
    if (!to)
        return NULL;
    to->task = t;
    cr_future_ref(&t->f); /* the timer may fire after a misused scope's task ended */
    to->base_cancelling = t->cancelling;
    cr__timer_init(&to->tm, on_expire);
    if (arm(to, when) < 0) {
        cr_future_unref(&t->f);
        free(to);
        return NULL;
    }
    return to;
}

static int64_t to_ns(double when) { return when < 0 ? -1 : (int64_t)(when * 1e9); }

cr_timeout_scope *cr_timeout(double seconds)
{
    return open_scope(seconds < 0 ? -1 : cr__now_ns() + cr__secs_to_ns(seconds));
}

cr_timeout_scope *cr_timeout_at(double when) { return open_scope(to_ns(when)); }

int cr_timeout_reschedule(cr_timeout_scope *to, double when)
{
    if (!to)
        return -EINVAL;
    if (cr__current() != to->task)
        return -EPERM;
    if (to->expired)
        return -EALREADY;
    return arm(to, to_ns(when));
}

double cr_timeout_when(const cr_timeout_scope *to)
{
    return !to || to->when < 0 ? -1 : (double)to->when / 1e9;
}

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
