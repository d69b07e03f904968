/* SPDX-License-Identifier: MIT */
/*
 * call.c — loop.call_soon / call_later / call_at and their handles.
 *
 * Owns: struct cr_handle (heap, refcounted: the loop's reference while
 * scheduled, and the caller's if it asked for the handle).
 * Invariant: a handle runs at most once; a cancelled one never runs.
 *
 * Loop thread only (other threads: cr_call_soon_threadsafe).
 */
#include "core/internal.h"
#include <stdlib.h>

struct cr_handle {
    cr__handle h;
    cr__timer timer;
    cr_loop *loop;
    cr_callback fn;
    void *arg;
    int refs;
    bool cancelled, ran;
};

static void handle_unref(cr_handle *h)
{
    if (--h->refs == 0)
        free(h);
}

static void handle_run(cr__handle *hh)
{
    cr_handle *h = CR_CONTAINER_OF(hh, cr_handle, h);
    if (!h->cancelled) {
        h->ran = true;
        h->fn(h->arg);
    }
    handle_unref(h);
}

static void handle_drop(cr__handle *hh) { handle_unref(CR_CONTAINER_OF(hh, cr_handle, h)); }

static void handle_fire(cr__timer *t)
{
    cr_handle *h = CR_CONTAINER_OF(t, cr_handle, timer);
    cr__loop_schedule(h->loop, &h->h);
}

static const struct cr__handle_ops call_ops = {.run = handle_run, .drop = handle_drop};

static void handle_timer_drop(cr__timer *t) { handle_unref(CR_CONTAINER_OF(t, cr_handle, timer)); }

/* when: an absolute deadline, or SOON (the ready queue, FIFO). A deadline in
 * the past still goes through the heap, so past deadlines keep their order. */
#define SOON INT64_MIN

static int schedule(cr_loop *l, int64_t when, cr_callback fn, void *arg, cr_handle **out)
{
    if (out)
        *out = NULL;
    if (!fn)
        return -EINVAL;
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    cr_handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = l;
    h->fn = fn;
    h->arg = arg;
    h->refs = out ? 2 : 1;
    h->h.ops = &call_ops;
    cr__timer_init(&h->timer, handle_fire);
    h->timer.drop = handle_timer_drop;
    if (when == SOON) {
        cr__loop_schedule(l, &h->h);
    } else if (when == CR__NEVER) {
        /* Never due: the loop takes no reference (it will never run it). */
        if (--h->refs == 0) {
            free(h);
            return 0;
        }
    } else if ((rc = cr__timer_arm(l, &h->timer, when)) < 0) {
        free(h);
        return rc;
    }
    if (out)
        *out = h;
    return 0;
}

int cr_call_soon(cr_loop *l, cr_callback fn, void *arg, cr_handle **out)
{
    return schedule(l, SOON, fn, arg, out);
}

int cr_call_later(cr_loop *l, double delay, cr_callback fn, void *arg, cr_handle **out)
{
    int64_t when;
    if (out)
        *out = NULL;
    if (cr__delay_deadline(cr__now_ns(), delay, &when) < 0)
        return -EINVAL;
    return schedule(l, when, fn, arg, out);
}

int cr_call_at(cr_loop *l, double when, cr_callback fn, void *arg, cr_handle **out)
{
    int64_t ns;
    if (out)
        *out = NULL;
    if (cr__when_to_ns(when, &ns) < 0)
        return -EINVAL;
    return schedule(l, ns, fn, arg, out);
}

bool cr_handle_cancel(cr_handle *h)
{
    if (!h || h->cancelled || h->ran)
        return false;
    h->cancelled = true;
    if (cr__timer_armed(&h->timer)) {
        cr__timer_disarm(h->loop, &h->timer);
        handle_unref(h);
    }
    return true;
}

bool cr_handle_cancelled(const cr_handle *h) { return h && h->cancelled; }

void cr_handle_release(cr_handle *h)
{
    if (h)
        handle_unref(h);
}
