/*
 * tothread.c — cr_to_thread and cr_run_in_executor: run a function on a pool
 * thread while the calling task is parked.
 *
 * Owns: struct tt_job (heap). It is never on the awaiting task's stack: the
 * function may still be running when its task is cancelled and gone. Its
 * life: created by the task → queued on the pool → run (or handed back) by a
 * worker → posted back through the loop's cross-thread queue → freed on the
 * loop thread (or by the worker, if the loop is closed by then).
 *
 * Invariants:
 *  - The job holds a reference to the loop's xq, so a worker can post (and be
 *    refused) even after cr_loop_free.
 *  - While the job is out it counts as an external waker of its loop: an idle
 *    loop waits for it instead of reporting -EDEADLK.
 *  - `task`/`wait` are touched on the loop thread only; the cancel hook
 *    clears them (and claims a job not yet started) and wakes the task.
 *
 * Threads: the public calls from a task on its loop thread; tt_run/tt_cancel
 * on a worker.
 */
#include "internal.h"
#include "pool.h"
#include <stdlib.h>

/* The job record lives on the heap, never on the awaiting task's stack: the
 * function may still be running when its task is cancelled and gone. */
struct tt_wait {
    int rc;
    void *result;
    bool done;
};

enum { TT_QUEUED, TT_RUNNING, TT_CANCELLED };

struct tt_job {
    cr__job job;
    _Atomic int state;    /* QUEUED → RUNNING (worker) or → CANCELLED (loop) */
    cr__xnode back;       /* the completion, posted to the loop */
    cr__xq *xq;           /* a reference: the loop may be freed before we finish */
    cr__task *task;       /* loop thread only; NULL once cancelled */
    struct tt_wait *wait; /* on the task's stack; NULL once cancelled */
    cr_task_fn fn;
    void *arg;
    void *result;
    int rc;
};

static void tt_free(struct tt_job *tj)
{
    cr__xq_unref(tj->xq);
    free(tj);
}

/* Worker: the function ran (or was handed back); tell the loop. */
static void tt_post(struct tt_job *tj)
{
    if (cr__xq_post(tj->xq, &tj->back) < 0)
        tt_free(tj); /* the loop is closed: nobody waits any more */
}

static void tt_run(cr__job *j)
{
    struct tt_job *tj = CR_CONTAINER_OF(j, struct tt_job, job);
    tj->result = NULL;
    int queued = TT_QUEUED;
    if (atomic_compare_exchange_strong_explicit(&tj->state, &queued, TT_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire))
        tj->rc = tj->fn(tj->arg, &tj->result);
    else
        tj->rc = -ECANCELED; /* its task was cancelled before it started */
    tt_post(tj);
}

static void tt_cancel(cr__job *j)
{
    struct tt_job *tj = CR_CONTAINER_OF(j, struct tt_job, job);
    tj->rc = -ECANCELED;
    tj->result = NULL;
    tt_post(tj);
}

/* Loop thread: the completion arrived. */
static void tt_back(cr__handle *h)
{
    struct tt_job *tj = CR_CONTAINER_OF(h, struct tt_job, back.h);
    cr__xq_waker_add(tj->xq, -1);
    if (tj->wait) {
        tj->wait->rc = tj->rc;
        tj->wait->result = tj->result;
        tj->wait->done = true;
        cr__task_wake(tj->task, 0);
    }
    tt_free(tj);
}

static void tt_back_drop(cr__handle *h) { tt_free(CR_CONTAINER_OF(h, struct tt_job, back.h)); }

static void tt_on_cancel(cr__task *t, void *ctx)
{
    struct tt_job *tj = ctx;
    /* Not started yet? Then it never will (as concurrent.futures' cancel). */
    int queued = TT_QUEUED;
    atomic_compare_exchange_strong_explicit(&tj->state, &queued, TT_CANCELLED,
                                            memory_order_acq_rel, memory_order_relaxed);
    tj->wait = NULL;
    tj->task = NULL;
    cr__task_wake(t, -ECANCELED);
}

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
    cr_loop *l = t->f.loop;
    if (!pool)
        pool = cr__xq_executor(l->xq);
    if (!pool && !(pool = cr_pool_default()))
        return -ENOMEM;
    struct tt_job *tj = malloc(sizeof *tj);
    if (!tj)
        return -ENOMEM;
    struct tt_wait w = {0};
    atomic_init(&tj->state, TT_QUEUED);
    tj->job.run = tt_run;
    tj->job.cancel = tt_cancel;
    tj->back.home = NULL;
    tj->back.h.run = tt_back;
    tj->back.h.drop = tt_back_drop;
    tj->xq = cr__xq_ref(l->xq);
    tj->task = t;
    tj->wait = &w;
    tj->fn = fn;
    tj->arg = arg;
    cr__xq_waker_add(l->xq, 1); /* the loop must wait for our completion */
    if ((rc = cr__pool_push(pool, &tj->job, true)) < 0) {
        cr__xq_waker_add(l->xq, -1);
        tt_free(tj);
        return rc;
    }
    /* From here the job belongs to the pool and then to the loop's queue;
     * only tt_on_cancel and tt_back touch tj on this thread. */
    rc = cr__park_nocheck(tt_on_cancel, tj);
    if (!w.done) {
        cr__consume_cancel(t);
        return rc < 0 ? rc : -ECANCELED;
    }
    if (result)
        *result = w.result;
    return w.rc;
}

int cr_to_thread(cr_task_fn fn, void *arg, void **result)
{
    return cr_run_in_executor(NULL, fn, arg, result);
}
