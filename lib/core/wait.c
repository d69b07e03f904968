/* SPDX-License-Identifier: MIT */
/*
 * wait.c — the suspending calls built on park/wake: sleep, await, gather,
 * wait, wait_for, shield, as_completed.
 *
 * Each keeps its bookkeeping (timer, waiter nodes) on the calling task's
 * stack, registers it, parks, and unregisters everything before returning
 * (internal.h rule 3), whatever woke it.
 *
 * A registered waiter node holds a reference on its future (hold()) until the
 * wait returns: the caller's pointers are borrowed, and their owner — another
 * task woken by the same completion — may drop its reference before this
 * waiter resumes and reads the outcome. The task records its nodes (track())
 * so that a loop closed while it is inside the wait can drop them too.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include <stdlib.h>
#include <string.h>

/* ---- sleep ---- */

struct sleeper {
    cr__timer tm;
    cr__task *t;
};

static void sleeper_fire(cr__timer *tm)
{
    cr__task_wake(CR_CONTAINER_OF(tm, struct sleeper, tm)->t, 0);
}

int cr_sleep_ns(int64_t ns)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (ns <= 0)
        return cr__yield();
    struct sleeper s = {.t = t};
    cr__timer_init(&s.tm, sleeper_fire);
    /* Saturates: INT64_MAX ns is "never", not an overflow into the past that
     * would leave the loop waiting ~2^63 ns for this one timer. */
    rc = cr__timer_arm(t->f.loop, &s.tm, cr__add_sat(cr__now_ns(), ns));
    if (rc < 0)
        return rc;
    t->waiting_on = "sleep";
    rc = cr__park_nocheck(NULL, NULL);
    if (rc == -ECANCELED) {
        cr__timer_disarm(t->f.loop, &s.tm);
        cr__consume_cancel(t);
    }
    return rc;
}

int cr_sleep(double seconds)
{
    if (seconds != seconds)
        return -EINVAL; /* asyncio: ValueError */
    return cr_sleep_ns(cr__secs_to_ns(seconds));
}

/* ---- await ---- */

static void waiter_wake(cr__cb *cb) { cr__task_wake(cb->arg, 0); }

/* Register cb on f, holding a reference until release_held. */
static void hold(cr_future *f, cr__cb *cb)
{
    cr_future_ref(f);
    cr__future_add_cb(f, cb);
}

/* The waiter nodes of the current wait (on the waiting task's stack): each
 * registered node holds a reference on its future until the wait returns. */
struct holdset {
    cr__cb *nodes;
    size_t n;
    bool heap; /* nodes was malloc'd */
};

static void holds_abandon(cr__task *t, void *ctx);

static void track(cr__task *t, struct holdset *hs, cr__cb *nodes, size_t n, bool heap)
{
    *hs = (struct holdset){nodes, n, heap};
    t->abandon = holds_abandon;
    t->abandon_ctx = hs;
}

/* After the wait: drop the references of the nodes that were registered
 * (cb->fut is set only by registration). Does not free the array. */
static void release_held(cr__task *t)
{
    struct holdset *hs = t->abandon_ctx;
    t->abandon = NULL;
    t->abandon_ctx = NULL;
    if (!hs)
        return;
    for (size_t i = 0; i < hs->n; i++)
        if (hs->nodes[i].fut)
            cr_future_unref(hs->nodes[i].fut);
}

/* The loop closed while t was inside the wait: let go as the wait would. */
static void holds_abandon(cr__task *t, void *ctx)
{
    struct holdset *hs = ctx;
    cr__cb *nodes = hs->nodes;
    bool heap = hs->heap;
    release_held(t);
    if (heap)
        free(nodes);
}

static void propagate_cancel(cr__task *t, void *f)
{
    (void)t;
    cr_cancel(f);
}

static int check_awaitable(cr__task *t, cr_future *f)
{
    if (!f)
        return -EINVAL;
    if (f->loop != t->f.loop)
        return f->loop ? -EINVAL : -ESHUTDOWN;
    if (f == &t->f)
        return -EDEADLK; /* a task awaiting itself */
    return 0;
}

/* ---- a wait on one future (cr_await, cr_wait_for) ---- */

/* The entry: *result cleared, in a task (*t) that may await f. */
static int enter_one(cr_future *f, void **result, cr__task **t)
{
    if (result)
        *result = NULL;
    int rc = cr__enter(t);
    if (rc < 0)
        return rc;
    return check_awaitable(*t, f);
}

/* Tracks node (on the caller's stack) and, if f is still pending, registers
 * it on f (holding a reference); true if so: the caller must park. */
static bool watch_one(cr__task *t, cr_future *f, cr__cb *node, struct holdset *hs)
{
    *node = (cr__cb){.on_done = waiter_wake, .arg = t};
    track(t, hs, node, 1, false);
    if (f->state != CR__PENDING)
        return false;
    hold(f, node);
    return true;
}

/* Until f is done; a cancel of the task cancels f (and waits on). */
static void park_until_done(cr__task *t, cr_future *f, const char *what)
{
    t->waiting_on = what;
    while (f->state == CR__PENDING)
        cr__park_nocheck(propagate_cancel, f);
}

/* The outcome once f is done: -ECANCELED if the task itself was cancelled,
 * -ETIMEDOUT if our deadline cancelled f, else f's; then drop the hold. */
static int finish_one(cr__task *t, cr_future *f, bool timed_out, void **result)
{
    int rc;
    if (t->must_cancel) {
        cr__consume_cancel(t);
        rc = -ECANCELED;
    } else if (timed_out && f->state == CR__CANCELLED) {
        rc = -ETIMEDOUT;
    } else {
        rc = cr_future_result(f, result);
    }
    release_held(t);
    return rc;
}

int cr_await(cr_future *f, void **result)
{
    cr__task *t;
    int rc = enter_one(f, result, &t);
    if (rc < 0)
        return rc;
    cr__cb node;
    struct holdset hs;
    if (watch_one(t, f, &node, &hs))
        park_until_done(t, f, f->is_task ? "task" : "future");
    return finish_one(t, f, false, result);
}

/* ---- gather ---- */

struct gather {
    cr__task *t;
    size_t remaining;
    int first_err;
    bool return_exc, cancelled;
    cr__cb *nodes;
    cr_future *const *fs;
    size_t n;
};

static void gather_child_done(cr__cb *cb)
{
    struct gather *g = cb->arg;
    g->remaining--;
    if (g->remaining == 0 || (!g->return_exc && cb->fut->err && !g->first_err)) {
        if (!g->first_err)
            g->first_err = cb->fut->err;
        cr__task_wake(g->t, 0);
    }
}

static void gather_on_cancel(cr__task *t, void *ctx)
{
    (void)t;
    struct gather *g = ctx;
    g->cancelled = true;
    for (size_t i = 0; i < g->n; i++)
        cr_cancel(g->fs[i]);
}

int cr_gather(cr_future *const *fs, size_t n, void **results, int *errors, unsigned flags)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if ((n && !fs) || (flags & ~(unsigned)CR_RETURN_EXCEPTIONS))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_awaitable(t, fs[i])) < 0)
            return rc;
    cr__cb local[8];
    struct gather g = {.t = t, .fs = fs, .n = n, .return_exc = flags & CR_RETURN_EXCEPTIONS};
    g.nodes = n <= 8 ? local : malloc(n * sizeof *g.nodes);
    if (!g.nodes)
        return -ENOMEM;
    struct holdset hs;
    track(t, &hs, g.nodes, n, g.nodes != local);
    for (size_t i = 0; i < n; i++) {
        cr_future *f = fs[i];
        g.nodes[i].fut = NULL;
        if (f->state != CR__PENDING) {
            if (f->err && !g.first_err)
                g.first_err = f->err;
            continue;
        }
        g.nodes[i] = (cr__cb){.on_done = gather_child_done, .arg = &g};
        hold(f, &g.nodes[i]);
        g.remaining++;
    }
    t->waiting_on = "gather";
    while (g.remaining && (g.return_exc || !g.first_err || g.cancelled))
        cr__park_nocheck(gather_on_cancel, &g);
    /* Early return on an error: the others keep running, unwatched. */
    for (size_t i = 0; i < n; i++)
        if (g.nodes[i].fut && fs[i]->state == CR__PENDING)
            cr__future_remove_cb(fs[i], &g.nodes[i]);
    for (size_t i = 0; i < n; i++) {
        if (results)
            results[i] = fs[i]->state == CR__DONE && !fs[i]->err ? fs[i]->value : NULL;
        if (errors)
            errors[i] = fs[i]->state == CR__PENDING ? -EAGAIN : fs[i]->err;
        if (errors || (fs[i]->err && fs[i]->err == g.first_err))
            fs[i]->retrieved = 1; /* debug mode: the caller saw it */
    }
    release_held(t);
    if (g.nodes != local)
        free(g.nodes);
    if (g.cancelled || t->must_cancel) {
        cr__consume_cancel(t);
        return -ECANCELED;
    }
    return g.return_exc ? 0 : g.first_err;
}

/* ---- wait ---- */

struct waitset {
    cr__task *t;
    cr__timer tm;
    bool timed_out;
};

static void waitset_fire(cr__timer *tm)
{
    struct waitset *w = CR_CONTAINER_OF(tm, struct waitset, tm);
    w->timed_out = true;
    cr__task_wake(w->t, 0);
}

static void waitset_child_done(cr__cb *cb) { cr__task_wake(((struct waitset *)cb->arg)->t, 0); }

static bool wait_satisfied(cr_future *const *fs, size_t n, int when)
{
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (fs[i]->state == CR__PENDING)
            continue;
        done++;
        if (when == CR_FIRST_COMPLETED)
            return true;
        if (when == CR_FIRST_EXCEPTION && fs[i]->state == CR__DONE && fs[i]->err)
            return true;
    }
    return done == n;
}

int cr_wait(cr_future *const *fs, size_t n, double timeout, int when, cr_future **done,
            size_t *ndone, cr_future **pending, size_t *npending)
{
    if (ndone)
        *ndone = 0;
    if (npending)
        *npending = 0;
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!n || !fs || when < CR_FIRST_COMPLETED || when > CR_ALL_COMPLETED || timeout != timeout)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((rc = check_awaitable(t, fs[i])) < 0)
            return rc;
    struct waitset w = {.t = t};
    cr__timer_init(&w.tm, waitset_fire);
    cr__cb local[8];
    struct holdset hs;
    cr__cb *nodes = NULL; /* freed at the end: they hold references until then */
    if (!wait_satisfied(fs, n, when) && timeout != 0) {
        nodes = n <= 8 ? local : malloc(n * sizeof *nodes);
        if (!nodes)
            return -ENOMEM;
        track(t, &hs, nodes, n, nodes != local);
        for (size_t i = 0; i < n; i++) {
            nodes[i] = (cr__cb){.on_done = waitset_child_done, .arg = &w};
            if (fs[i]->state == CR__PENDING)
                hold(fs[i], &nodes[i]);
        }
        if (timeout > 0)
            rc = cr__timer_arm(t->f.loop, &w.tm, cr__add_sat(cr__now_ns(), cr__secs_to_ns(timeout)));
        t->waiting_on = "wait";
        while (rc == 0 && !w.timed_out && !wait_satisfied(fs, n, when))
            rc = cr__park_nocheck(NULL, NULL);
        cr__timer_disarm(t->f.loop, &w.tm);
        for (size_t i = 0; i < n; i++)
            if (nodes[i].fut && fs[i]->state == CR__PENDING)
                cr__future_remove_cb(fs[i], &nodes[i]);
        if (rc == -ECANCELED)
            cr__consume_cancel(t);
    }
    size_t d = 0, p = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (fs[i]->state != CR__PENDING) {
            if (done)
                done[d] = fs[i];
            d++;
        } else {
            if (pending)
                pending[p] = fs[i];
            p++;
        }
    }
    release_held(t);
    if (nodes != local)
        free(nodes);
    if (ndone)
        *ndone = d;
    if (npending)
        *npending = p;
    return rc;
}

/* ---- wait_for ---- */

struct waitfor {
    cr__timer tm;
    cr_future *f;
    bool timed_out;
};

static void waitfor_fire(cr__timer *tm)
{
    struct waitfor *w = CR_CONTAINER_OF(tm, struct waitfor, tm);
    w->timed_out = true;
    cr_cancel(w->f); /* and keep waiting until it has really finished */
}

int cr_wait_for(cr_future *f, double timeout, void **result)
{
    cr__task *t;
    if (timeout != timeout) {
        if (result)
            *result = NULL;
        return -EINVAL;
    }
    int rc = enter_one(f, result, &t);
    if (rc < 0)
        return rc;
    if (timeout < 0)
        return cr_await(f, result);
    struct waitfor w = {.f = f};
    cr__timer_init(&w.tm, waitfor_fire);
    cr__cb node;
    struct holdset hs;
    if (watch_one(t, f, &node, &hs)) {
        if (timeout == 0)
            waitfor_fire(&w.tm);
        else if ((rc = cr__timer_arm(t->f.loop, &w.tm,
                                     cr__add_sat(cr__now_ns(), cr__secs_to_ns(timeout)))) < 0)
            waitfor_fire(&w.tm);
        park_until_done(t, f, "wait_for");
        cr__timer_disarm(t->f.loop, &w.tm);
    }
    return finish_one(t, f, w.timed_out, result);
}

/* ---- shield ---- */

struct shield {
    cr__cb cb;
    cr_future *outer;
};

static void shield_done(cr__cb *cb)
{
    struct shield *s = CR_CONTAINER_OF(cb, struct shield, cb);
    cr_future *in = cb->fut, *out = s->outer;
    if (out->state == CR__PENDING && out->loop) {
        in->retrieved = 1; /* debug mode: the outer carries the error on */
        cr__future_complete(out, in->state, in->err, in->value);
    }
    cr_future_unref(out);
    free(s);
}

static void shield_dispose(cr__cb *cb)
{
    struct shield *s = CR_CONTAINER_OF(cb, struct shield, cb);
    cr_future_unref(s->outer);
    free(s);
}

cr_future *cr_shield(cr_future *f)
{
    if (!f || !f->loop)
        return NULL;
    if (f->state != CR__PENDING)
        return cr_future_ref(f);
    struct shield *s = calloc(1, sizeof *s);
    cr_future *out = s ? cr_future_new(f->loop) : NULL;
    if (!out) {
        free(s);
        return NULL;
    }
    s->outer = cr_future_ref(out);
    s->cb.on_done = shield_done;
    s->cb.dispose = shield_dispose;
    cr__future_add_cb(f, &s->cb);
    return out;
}

/* ---- as_completed ---- */

struct cr_as_completed {
    cr_loop *loop;
    size_t n, head, tail; /* queue of finished futures: q[head..tail) */
    cr_future **fs;       /* referenced */
    cr_future **q;
    cr__cb *nodes;
    cr__task *waiter;
    int64_t deadline;     /* -1: none */
    cr__timer tm;
    bool timed_out;
};

static void ac_child_done(cr__cb *cb)
{
    cr_as_completed *it = cb->arg;
    it->q[it->tail++] = cb->fut;
    if (it->waiter)
        cr__task_wake(it->waiter, 0);
}

static void ac_fire(cr__timer *tm)
{
    cr_as_completed *it = CR_CONTAINER_OF(tm, cr_as_completed, tm);
    it->timed_out = true;
    if (it->waiter)
        cr__task_wake(it->waiter, 0);
}

cr_as_completed *cr_as_completed_new(cr_future *const *fs, size_t n, double timeout)
{
    cr_loop *l = cr__tls_running;
    if (!l || (n && !fs) || timeout != timeout)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!fs[i] || fs[i]->loop != l)
            return NULL;
    cr_as_completed *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->loop = l;
    it->n = n;
    it->fs = calloc(n + 1, sizeof *it->fs);
    it->q = calloc(n + 1, sizeof *it->q);
    it->nodes = calloc(n + 1, sizeof *it->nodes);
    if (!it->fs || !it->q || !it->nodes) {
        free(it->fs);
        free(it->q);
        free(it->nodes);
        free(it);
        return NULL;
    }
    cr__timer_init(&it->tm, ac_fire);
    it->deadline = timeout < 0 ? -1 : cr__add_sat(cr__now_ns(), cr__secs_to_ns(timeout));
    for (size_t i = 0; i < n; i++) {
        it->fs[i] = cr_future_ref(fs[i]);
        it->nodes[i] = (cr__cb){.on_done = ac_child_done, .arg = it};
        if (fs[i]->state != CR__PENDING) {
            it->nodes[i].fut = fs[i];
            it->q[it->tail++] = fs[i];
        } else {
            cr__future_add_cb(fs[i], &it->nodes[i]);
        }
    }
    return it;
}

int cr_as_completed_next(cr_as_completed *it, cr_future **out)
{
    if (out)
        *out = NULL;
    if (!it)
        return -EINVAL;
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (t->f.loop != it->loop)
        return -EINVAL;
    if (it->head == it->n)
        return -ENOENT;
    if (it->head == it->tail) {
        if (it->waiter)
            return -EBUSY; /* one waiter slot: a second would orphan the first */
        if (it->deadline >= 0 && !cr__timer_armed(&it->tm) && !it->timed_out) {
            if (it->deadline <= cr__now_ns())
                it->timed_out = true;
            else if ((rc = cr__timer_arm(it->loop, &it->tm, it->deadline)) < 0)
                return rc;
        }
        it->waiter = t;
        while (rc == 0 && it->head == it->tail && !it->timed_out)
            rc = cr__park_nocheck(NULL, NULL);
        it->waiter = NULL;
        if (rc == -ECANCELED) {
            cr__consume_cancel(t);
            return rc;
        }
        if (it->head == it->tail)
            return -ETIMEDOUT;
    }
    if (out)
        *out = it->q[it->head];
    it->head++;
    return 0;
}

void cr_as_completed_free(cr_as_completed *it)
{
    if (!it)
        return;
    if (it->loop && !it->loop->closed)
        cr__timer_disarm(it->loop, &it->tm);
    for (size_t i = 0; i < it->n; i++) {
        if (it->fs[i]->state == CR__PENDING)
            cr__future_remove_cb(it->fs[i], &it->nodes[i]);
        cr_future_unref(it->fs[i]);
    }
    free(it->fs);
    free(it->q);
    free(it->nodes);
    free(it);
}
