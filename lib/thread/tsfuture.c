/* SPDX-License-Identifier: MIT */
/*
 * tsfuture.c — cr_run_coroutine_threadsafe and its thread-safe future
 * (asyncio's concurrent.futures.Future).
 *
 * Owns: struct cr_tsfuture (heap, atomic refcount). References: the caller's
 * (if it asked for the future) and the loop side's (from the start node until
 * the task's outcome is copied, or the node/task is dropped by a close).
 *
 * Invariants:
 *  - state/err/value/callbacks change only under `mu`, exactly once
 *    (pending → done | cancelled); waiters sleep on `cv`.
 *  - `task` and `watch` are touched only on the loop's thread: the start node
 *    creates the task there, the cancel node cancels it there. Both travel the
 *    same FIFO queue, so a cancel never overtakes its start.
 *
 * Threads: every public function here is thread-safe.
 */
#include "core/internal.h"
#include "thread/inbox.h"
#include <stdlib.h>
#include <time.h>

enum { TS_PENDING, TS_DONE, TS_CANCELLED };

struct tcb {
    struct tcb *next;
    cr_tsfuture_cb fn;
    void *arg;
};

struct cr_tsfuture {
    _Atomic long refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state, err;
    void *value;
    struct tcb *cbs, **cbs_tail;
    cr_loop *loop;
    /* loop thread only */
    cr__xnode start;
    cr_task_fn fn;
    void *arg;
    cr_task *task;
    cr__cb watch;
};

cr_tsfuture *cr_tsfuture_ref(cr_tsfuture *f)
{
    if (f)
        atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void cr_tsfuture_unref(cr_tsfuture *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (struct tcb *c = f->cbs, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}

/* Exactly once; runs the callbacks outside the lock. false if already done. */
static bool complete(cr_tsfuture *f, int state, int err, void *value)
{
    pthread_mutex_lock(&f->mu);
    if (f->state != TS_PENDING) {
        pthread_mutex_unlock(&f->mu);
        return false;
    }
    f->state = state;
    f->err = err;
    f->value = value;
    struct tcb *cbs = f->cbs;
    f->cbs = NULL;
    f->cbs_tail = &f->cbs;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    while (cbs) {
        struct tcb *n = cbs->next;
        cbs->fn(f, cbs->arg);
        free(cbs);
        cbs = n;
    }
    return true;
}

/* ---- loop side ---- */

/* The task's outcome is copied from a ready-queue handle, not from the
 * on_done hook itself: the tsfuture's callbacks are user code (rule 2). */
static void watch_run(cr__handle *h)
{
    cr__cb *cb = CR_CONTAINER_OF(h, cr__cb, h);
    cr_tsfuture *f = CR_CONTAINER_OF(cb, cr_tsfuture, watch);
    cr_future *t = cb->fut;
    if (t->state == CR__CANCELLED)
        complete(f, TS_CANCELLED, -ECANCELED, NULL);
    else
        complete(f, TS_DONE, t->err, t->err ? NULL : t->value);
    f->task = NULL;
    cr_future_unref(t);
    cr_tsfuture_unref(f);
}

static void watch_done(cr__cb *cb) { cr__loop_schedule(cb->fut->loop, &cb->h); }

/* The loop closed while the task was pending. */
static void watch_dispose(cr__cb *cb)
{
    cr_tsfuture *f = CR_CONTAINER_OF(cb, cr_tsfuture, watch);
    complete(f, TS_CANCELLED, -ECANCELED, NULL);
    cr_future *t = f->task;
    f->task = NULL;
    cr_future_unref(t);
    cr_tsfuture_unref(f);
}

static const struct cr__handle_ops watch_ops = {.run = watch_run, .drop = watch_run};

static void start_run(cr__handle *h)
{
    cr_tsfuture *f = CR_CONTAINER_OF(h, cr_tsfuture, start.h);
    bool cancelled;
    pthread_mutex_lock(&f->mu);
    cancelled = f->state != TS_PENDING;
    pthread_mutex_unlock(&f->mu);
    if (cancelled) {
        cr_tsfuture_unref(f);
        return;
    }
    cr_task *t;
    int rc = cr_loop_create_task(f->loop, f->fn, f->arg, NULL, &t);
    if (rc < 0) {
        complete(f, TS_DONE, rc, NULL);
        cr_tsfuture_unref(f);
        return;
    }
    f->task = t;
    f->watch.h.ops = &watch_ops; /* loop closing: the outcome is known, pass it on */
    f->watch.on_done = watch_done;
    f->watch.dispose = watch_dispose;
    cr__future_add_cb(t, &f->watch);
}

static void start_drop(cr__handle *h)
{
    cr_tsfuture *f = CR_CONTAINER_OF(h, cr_tsfuture, start.h);
    complete(f, TS_DONE, -ESHUTDOWN, NULL);
    cr_tsfuture_unref(f);
}

/* Fire and forget: no future, just a task. */
struct bare_start {
    cr__xnode n;
    cr_loop *loop;
    cr_task_fn fn;
    void *arg;
};

static void bare_run(cr__handle *h)
{
    struct bare_start *b = CR_CONTAINER_OF(h, struct bare_start, n.h);
    cr_task *t;
    if (cr_loop_create_task(b->loop, b->fn, b->arg, NULL, &t) == 0)
        cr_future_unref(t);
    cr__xq_block_free(b);
}

static void bare_drop(cr__handle *h)
{
    cr__xq_block_free(CR_CONTAINER_OF(h, struct bare_start, n.h));
}

static const struct cr__handle_ops start_ops = {.run = start_run, .drop = start_drop};
static const struct cr__handle_ops bare_ops = {.run = bare_run, .drop = bare_drop};

int cr_run_coroutine_threadsafe(cr_loop *loop, cr_task_fn fn, void *arg, cr_tsfuture **out)
{
    if (out)
        *out = NULL;
    if (!loop || !fn)
        return -EINVAL;
    int err = 0;
    cr__xq *q = cr__xq_get(loop, &err);
    if (!q)
        return err;
    if (!out) {
        _Static_assert(sizeof(struct bare_start) <= CR__XQ_BLOCK, "fits a block");
        struct bare_start *b = cr__xq_block_alloc(q);
        if (!b)
            return -ENOMEM;
        b->n.h.ops = &bare_ops;
        b->loop = loop;
        b->fn = fn;
        b->arg = arg;
        int rc = cr__xq_post(q, &b->n);
        if (rc < 0)
            cr__xq_block_unpost(b);
        return rc;
    }
    cr_tsfuture *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    atomic_init(&f->refs, 2); /* the caller's and the loop side's */
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    f->cbs_tail = &f->cbs;
    f->loop = loop;
    f->fn = fn;
    f->arg = arg;
    f->start.h.ops = &start_ops;
    int rc = cr__xq_post(q, &f->start);
    if (rc < 0) {
        atomic_store(&f->refs, 1);
        cr_tsfuture_unref(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- cancel ---- */

struct cancel_node {
    cr__xnode n;
    cr_tsfuture *f;
};

static void cancel_run(cr__handle *h)
{
    struct cancel_node *c = CR_CONTAINER_OF(h, struct cancel_node, n.h);
    if (c->f->task)
        cr_cancel(c->f->task);
    cr_tsfuture_unref(c->f);
    free(c);
}

static void cancel_drop(cr__handle *h)
{
    struct cancel_node *c = CR_CONTAINER_OF(h, struct cancel_node, n.h);
    cr_tsfuture_unref(c->f);
    free(c);
}

static const struct cr__handle_ops cancel_ops = {.run = cancel_run, .drop = cancel_drop};

bool cr_tsfuture_cancel(cr_tsfuture *f)
{
    if (!f || !complete(f, TS_CANCELLED, -ECANCELED, NULL))
        return false;
    struct cancel_node *c = malloc(sizeof *c);
    if (!c)
        return true; /* the future is cancelled; the task just runs on */
    c->n.home = NULL; /* malloc'd, not a lane block */
    c->n.h.ops = &cancel_ops;
    c->f = cr_tsfuture_ref(f);
    int err = 0;
    cr__xq *q = cr__xq_get(f->loop, &err);
    if (!q || cr__xq_post(q, &c->n) < 0) {
        cr_tsfuture_unref(f);
        free(c);
    }
    return true;
}

/* ---- reading and waiting ---- */

int cr_tsfuture_wait(cr_tsfuture *f, double timeout)
{
    if (!f || timeout != timeout)
        return -EINVAL; /* NaN: the deadline would never be set */
    if (timeout >= 9.2e9)
        timeout = -1; /* +inf, or beyond any clock: forever */
    struct timespec dl = {0, 0};
    if (timeout >= 0)
        dl = cr__timespec_in(CLOCK_MONOTONIC, timeout);
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->state == TS_PENDING && cr__tls_running == f->loop)
        rc = -EDEADLK;
    while (rc == 0 && f->state == TS_PENDING) {
        if (timeout < 0)
            pthread_cond_wait(&f->cv, &f->mu);
        else if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT &&
                 f->state == TS_PENDING)
            rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

int cr_tsfuture_result(cr_tsfuture *f, void **value)
{
    if (value)
        *value = NULL;
    if (!f)
        return -EINVAL;
    pthread_mutex_lock(&f->mu);
    int rc = f->state == TS_PENDING ? -EAGAIN : f->err;
    if (rc == 0 && value)
        *value = f->value;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static int get_state(cr_tsfuture *f)
{
    pthread_mutex_lock(&f->mu);
    int s = f->state;
    pthread_mutex_unlock(&f->mu);
    return s;
}

bool cr_tsfuture_done(cr_tsfuture *f) { return f && get_state(f) != TS_PENDING; }
bool cr_tsfuture_cancelled(cr_tsfuture *f) { return f && get_state(f) == TS_CANCELLED; }

int cr_tsfuture_add_done_callback(cr_tsfuture *f, cr_tsfuture_cb fn, void *arg)
{
    if (!f || !fn)
        return -EINVAL;
    struct tcb *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->next = NULL;
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&f->mu);
    bool pending = f->state == TS_PENDING;
    if (pending) {
        *f->cbs_tail = c;
        f->cbs_tail = &c->next;
    }
    pthread_mutex_unlock(&f->mu);
    if (!pending) {
        fn(f, arg);
        free(c);
    }
    return 0;
}
