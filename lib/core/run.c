/* SPDX-License-Identifier: MIT */
/*
 * run.c — asyncio.run: a new loop, the main task, SIGINT's policy (the first
 * cancels main, a second stops at once: os/signal.c), leftovers cancelled and
 * awaited, the loop closed and freed. And asyncio.Runner: the same split in
 * three (new, any number of runs on one loop, close), so cr_run stays
 * one-shot.
 *
 * The calling thread only; refuses to nest inside a running loop.
 */
#include "core/internal.h"
#include "os/signal.h"
#include <stdio.h>
#include <stdlib.h>

static bool no_tasks_left(cr_loop *l) { return l->tasks.ntasks == 0; }

/* asyncio.run's ending: cancel every task still pending and run until they
 * are all done (skipped after a hard stop). */
static void cancel_leftovers(cr_loop *l, bool hard_stop)
{
    CR__LIST_FOR_EACH_SAFE(p, &l->futures) {
        cr_future *f = CR_CONTAINER_OF(p, cr_future, all);
        if (f->is_task && f->state == CR__PENDING)
            cr_cancel(f);
    }
    if (!hard_stop && l->tasks.ntasks && cr__loop_begin_run(l) == 0) {
        cr__loop_run_while(l, no_tasks_left);
        cr__loop_end_run(l);
    }
}

int cr_run(cr_task_fn fn, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!fn)
        return -EINVAL;
    if (cr__tls_running)
        return -EBUSY;
    cr_loop *l;
    int rc = cr_loop_new(&l, NULL);
    if (rc < 0) {
        fprintf(stderr, "coring: cannot start an event loop: %s\n", cr_setup_error());
        return rc;
    }
    cr_loop *prev = cr__tls_loop_swap(l);
    cr_task *main_task;
    cr_task_opts o = {.name = "main"};
    rc = cr_loop_create_task(l, fn, arg, &o, &main_task);
    if (rc == 0) {
        /* The first SIGINT cancels main, a second stops at once. */
        cr__sigint_start(l, main_task);
        rc = cr_loop_run_until_complete(l, main_task, result);
        bool hard_stop = cr__sigint_stop(l); /* skip the clean-up run */
        /* Cancel what main left behind and wait for it, as asyncio.run does. */
        cancel_leftovers(l, hard_stop);
        rc = cr__sigint_end(l, rc);
        cr_future_unref(main_task);
    }
    cr__tls_loop_swap(prev);
    cr_loop_free(l);
    return rc;
}


/* ---- asyncio.Runner ---- */

struct cr_runner {
    cr_loop *loop;
};

int cr_runner_new(cr_runner **out, const cr_loop_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cr_runner *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    int rc = cr_loop_new(&r->loop, opts);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

cr_loop *cr_runner_get_loop(const cr_runner *r) { return r ? r->loop : NULL; }

int cr_runner_run(cr_runner *r, cr_task_fn fn, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!r || !fn)
        return -EINVAL;
    if (cr__tls_running)
        return -EBUSY;
    cr_loop *l = r->loop;
    cr_task *main_task;
    cr_task_opts o = {.name = "main"};
    int rc = cr_loop_create_task(l, fn, arg, &o, &main_task);
    if (rc < 0)
        return rc; /* e.g. -EPERM from another thread */
    cr_loop *prev = cr__tls_loop_swap(l);
    cr__sigint_start(l, main_task); /* as cr_run, per run */
    rc = cr_loop_run_until_complete(l, main_task, result);
    rc = cr__sigint_end(l, rc);
    cr__tls_loop_swap(prev);
    cr_future_unref(main_task);
    return rc;
}

int cr_runner_close(cr_runner *r)
{
    if (!r)
        return 0;
    if (r->loop->running)
        return -EBUSY; /* closing from inside one of its own runs */
    if (r->loop->has_owner && !pthread_equal(r->loop->owner, pthread_self()))
        return -EPERM;
    cancel_leftovers(r->loop, false);
    cr_loop_free(r->loop);
    free(r);
    return 0;
}
