/*
 * run.c — asyncio.run: a new loop, the main task, SIGINT's policy (the first
 * cancels main, a second stops at once: os/signal.c), leftovers cancelled and
 * awaited, the loop closed and freed.
 *
 * The calling thread only; refuses to nest inside a running loop.
 */
#include "core/internal.h"
#include "os/signal.h"
#include <stdio.h>

static bool no_tasks_left(cr_loop *l) { return l->tasks.ntasks == 0; }

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
        CR__LIST_FOR_EACH_SAFE(p, &l->futures) {
            cr_future *f = CR_CONTAINER_OF(p, cr_future, all);
            if (f->is_task && f->state == CR__PENDING)
                cr_cancel(f);
        }
        if (!hard_stop && l->tasks.ntasks && cr__loop_begin_run(l) == 0) {
            cr__loop_run_while(l, no_tasks_left);
            cr__loop_end_run(l);
        }
        rc = cr__sigint_end(l, rc);
        cr_future_unref(main_task);
    }
    cr__tls_loop_swap(prev);
    cr_loop_free(l);
    return rc;
}

