/* SPDX-License-Identifier: MIT */
/*
 * tothread.c — cr_to_thread and cr_run_in_executor: run a function on a pool
 * thread while the calling task is parked; and cr__pjob, that cancel-safe job
 * life cycle itself, which resolve.c shares (see pool.h).
 *
 * Owns: the cr__pjob life cycle and struct tt_job (heap). A job is never on
 * the awaiting task's stack: its work may still be running when its task is
 * cancelled and gone. Its life: created by the task → queued on the pool →
 * run (or skipped, or handed back) by a worker → posted back through the
 * loop's cross-thread queue → freed on the loop thread (or by the worker, if
 * the loop is closed by then).
 *
 * Invariants:
 *  - The job holds a reference to the loop's xq, so a worker can post (and be
 *    refused) even after cr_loop_free.
 *  - While the job is out it counts as an external waker of its loop: an idle
 *    loop waits for it instead of reporting -EDEADLK.
 *  - `wait` (and what it points to) is touched on the loop thread only; the
 *    cancel hook and the deadline clear it (and claim a job not yet started)
 *    and wake the task. The worker touches rc, the atomic state and what
 *    `work` owns.
 *
 * Threads: the public calls and cr__pjob_await from a task on its loop
 * thread; pj_run/pj_handed_back on a worker.
 */
#include "core/internal.h"
#include "thread/pool.h"
#include <stdlib.h>

/* ---- the shared life cycle ---- */

enum { PJ_QUEUED, PJ_RUNNING, PJ_ABANDONED };

static void pj_free(cr__pjob *pj)
{
    cr__xq_unref(pj->xq);
    pj->destroy(pj);
}

/* Worker: the job ran (or was skipped, or handed back); tell the loop. */
static void pj_post(cr__pjob *pj)
{
    if (cr__xq_post(pj->xq, &pj->back) < 0)
        pj_free(pj); /* the loop is closed: nobody waits any more */
}

static void pj_run(cr__job *j)
{
    cr__pjob *pj = CR_CONTAINER_OF(j, cr__pjob, job);
    int queued = PJ_QUEUED;
    if (atomic_compare_exchange_strong_explicit(&pj->state, &queued, PJ_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire))
        pj->work(pj);
    else
        pj->rc = -ECANCELED; /* its task left before it started: skip it */
    pj_post(pj);
}

static void pj_handed_back(cr__job *j) /* a pool shutdown handed it back unrun */
{
    cr__pjob *pj = CR_CONTAINER_OF(j, cr__pjob, job);
    pj->rc = -ECANCELED;
    pj_post(pj);
}

/* Loop thread: the job is back. */
static void pj_back(cr__handle *h)
{
    cr__pjob *pj = CR_CONTAINER_OF(h, cr__pjob, back.h);
    cr__xq_waker_add(pj->xq, -1);
    cr__pjob_wait *w = pj->wait;
    if (w) {
        w->rc = pj->rc;
        if (pj->deliver)
            pj->deliver(pj, w);
        w->done = true;
        cr__timer_disarm(w->task->f.loop, &w->deadline);
        cr__task_wake(w->task, 0);
    }
    pj_free(pj);
}

static void pj_back_drop(cr__handle *h) { pj_free(CR_CONTAINER_OF(h, cr__pjob, back.h)); }

/* Loop thread: the task leaves (cancel or deadline); the job runs on alone. */
static void pj_detach(cr__pjob_wait *w, int rc)
{
    cr__pjob *pj = w->job;
    /* Not started yet? Then it never will (as concurrent.futures' cancel). */
    int queued = PJ_QUEUED;
    atomic_compare_exchange_strong_explicit(&pj->state, &queued, PJ_ABANDONED,
                                            memory_order_acq_rel, memory_order_relaxed);
    pj->wait = NULL;
    cr__task_wake(w->task, rc);
}

static void pj_on_cancel(cr__task *t, void *ctx)
{
    cr__pjob_wait *w = ctx;
    cr__timer_disarm(t->f.loop, &w->deadline);
    pj_detach(w, -ECANCELED);
}

static void pj_on_deadline(cr__timer *tm)
{
    pj_detach(CR_CONTAINER_OF(tm, cr__pjob_wait, deadline), -ETIMEDOUT);
}

static const struct cr__handle_ops back_ops = {.run = pj_back, .drop = pj_back_drop};

int cr__pjob_await(cr__task *t, cr_pool *pool, cr__pjob *pj, cr__pjob_wait *w,
                   int64_t deadline_ns, const char *waiting_on)
{
    cr_loop *l = t->f.loop;
    int err = 0;
    cr__xq *q = cr__xq_get(l, &err);
    if (!q) {
        pj->xq = NULL;
        pj_free(pj);
        return err;
    }
    atomic_init(&pj->state, PJ_QUEUED);
    pj->job.run = pj_run;
    pj->job.cancel = pj_handed_back;
    pj->back.home = NULL;
    pj->back.h.ops = &back_ops;
    pj->xq = cr__xq_ref(q);
    pj->wait = w;
    w->task = t;
    w->job = pj;
    w->done = false;
    cr__timer_init(&w->deadline, pj_on_deadline);
    if (!pool)
        pool = cr__xq_executor(q);
    if (!pool && !(pool = cr_pool_default())) {
        pj_free(pj);
        return -ENOMEM;
    }
    int rc;
    if (deadline_ns >= 0 && (rc = cr__timer_arm(l, &w->deadline, deadline_ns)) < 0) {
        pj_free(pj);
        return rc;
    }
    cr__xq_waker_add(q, 1); /* the loop must wait for our completion */
    if ((rc = cr__pool_push(pool, &pj->job, true)) < 0) {
        cr__xq_waker_add(q, -1);
        cr__timer_disarm(l, &w->deadline);
        pj_free(pj);
        return rc;
    }
    /* From here only pj_back and the detach paths touch pj on this thread,
     * and each of them unlinks w (rule 3) before waking us. */
    t->waiting_on = waiting_on;
    rc = cr__park_nocheck(pj_on_cancel, w);
    if (!w->done) {
        if (rc == -ECANCELED)
            cr__consume_cancel(t);
        return rc < 0 ? rc : -ECANCELED;
    }
    return w->rc;
}

/* ---- cr_to_thread ---- */

struct tt_job {
    cr__pjob pj;
    cr_task_fn fn;
    void *arg;
    void *result; /* the task's, if it still waits; else dropped (not ours to free) */
};

struct tt_wait {
    cr__pjob_wait w;
    void *result;
};

static void tt_work(cr__pjob *pj)
{
    struct tt_job *tj = CR_CONTAINER_OF(pj, struct tt_job, pj);
    pj->rc = tj->fn(tj->arg, &tj->result);
}

static void tt_deliver(cr__pjob *pj, cr__pjob_wait *w)
{
    CR_CONTAINER_OF(w, struct tt_wait, w)->result = CR_CONTAINER_OF(pj, struct tt_job, pj)->result;
}

static void tt_destroy(cr__pjob *pj) { free(CR_CONTAINER_OF(pj, struct tt_job, pj)); }

int cr_run_in_executor(cr_pool *pool, cr_task_fn fn, void *arg, void **result)
{
    if (result)
        *result = NULL;
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (!fn)
        return -EINVAL;
    struct tt_job *tj = malloc(sizeof *tj);
    if (!tj)
        return -ENOMEM;
    tj->pj.rc = 0;
    tj->pj.work = tt_work;
    tj->pj.deliver = tt_deliver;
    tj->pj.destroy = tt_destroy;
    tj->fn = fn;
    tj->arg = arg;
    tj->result = NULL;
    struct tt_wait w = {0};
    rc = cr__pjob_await(t, pool, &tj->pj, &w.w, -1, NULL);
    if (w.w.done && result)
        *result = w.result;
    return rc;
}

int cr_to_thread(cr_task_fn fn, void *arg, void **result)
{
    return cr_run_in_executor(NULL, fn, arg, result);
}
