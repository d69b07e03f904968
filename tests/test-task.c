/* SPDX-License-Identifier: MIT */
/*
 * Description: tasks — when bodies start, how cancellation is delivered and
 * counted, how awaiting a task passes cancellation and errors, current_task /
 * all_tasks / names, ensure_future, misuse, and what cr_run and cr_loop_free
 * do with tasks left behind.
 */
#include "helpers.h"

struct ctx {
    tlog log;
    cr_task *t[4];
    cr_future *f;
    int n;
};

static int log_name(void *arg, void **result)
{
    (void)result;
    struct ctx *c = arg;
    tlog_add(&c->log, "%s", cr_task_get_name(cr_current_task()));
    return 0;
}

static int named(cr_loop *l, const char *name, cr_task_fn fn, void *arg, cr_task **out)
{
    cr_task_opts o = {.name = name};
    return cr_loop_create_task(l ? l : cr_get_running_loop(NULL), fn, arg, &o, out);
}

static int start_order_main(void *arg, void **result)
{
    (void)result;
    struct ctx *c = arg;
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(named(NULL, names[i], log_name, c, &c->t[i]), 0);
    tlog_add(&c->log, "created");
    cr_assert_eq(cr_gather(c->t, 3, NULL, NULL, 0), 0);
    for (int i = 0; i < 3; i++)
        cr_future_unref(c->t[i]);
    return 0;
}

/* create_task never runs the body at once; new tasks start in creation order. */
Test(task, bodies_start_later_in_creation_order)
{
    struct ctx c = {0};
    RUN_EXPECT(start_order_main, &c, 0);
    LOG_EQ(&c.log, "created a b c");
}

static int must_not_run(void *arg, void **result)
{
    (void)result;
    tlog_add(arg, "body-ran");
    return 0;
}

static int cancel_before_start_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_task *t = cr_create_task(must_not_run, log);
    cr_assert(cr_cancel(t));
    cr_assert_eq(cr_task_cancelling(t), 1);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(t));
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0, "the awaiter is not cancelled");
    cr_future_unref(t);
    return 0;
}

/* A task cancelled before it starts never runs its body and ends cancelled. */
Test(task, cancelled_before_start_never_runs)
{
    tlog log = {{0}};
    RUN_EXPECT(cancel_before_start_main, &log, 0);
    LOG_EQ(&log, "");
}

static int sleep_long_log(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    int rc = cr_sleep(30);
    tlog_add(log, "sleep:%s", cr_strerror(rc));
    return rc;
}

static int cancel_sleep_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_task *t = cr_create_task(sleep_long_log, log);
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(log, "cancel");
    cr_assert(cr_cancel(t), "pending task: true");
    cr_assert_eq(cr_task_cancelling(t), 1);
    cr_assert(cr_cancel(t), "still pending: true again");
    cr_assert_eq(cr_task_cancelling(t), 2);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(t));
    cr_assert_not(cr_cancel(t), "done task: false");
    cr_assert_eq(cr_task_cancelling(t), 2, "a refused cancel does not count");
    cr_future_unref(t);
    return 0;
}

/* Cancel while sleeping: the sleep returns -ECANCELED at once; cancel on a done task is false. */
Test(task, cancel_wakes_a_sleep)
{
    tlog log = {{0}};
    RUN_EXPECT(cancel_sleep_main, &log, 0);
    LOG_EQF(&log, "cancel sleep:%s", cr_strerror(-ECANCELED));
}

static int swallow(void *arg, void **result)
{
    struct ctx *c = arg;
    int rc = cr_sleep(30);
    tlog_add(&c->log, "sleep:%d", rc);
    tlog_add(&c->log, "uncancel:%d", cr_task_uncancel(cr_current_task()));
    rc = cr_sleep(0);
    tlog_add(&c->log, "next:%d", rc); /* the cancel was consumed: no second -ECANCELED */
    *result = IPTR(42);
    return 0;
}

static int swallow_main(void *arg, void **result)
{
    (void)result;
    struct ctx *c = arg;
    cr_task *t = cr_create_task(swallow, c);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_cancel(t));
    void *v;
    cr_assert_eq(cr_await(t, &v), 0);
    cr_assert_eq(PINT(v), 42);
    cr_assert_not(cr_future_cancelled(t));
    cr_assert_eq(cr_task_cancelling(t), 0);
    cr_future_unref(t);
    return 0;
}

/* A task that swallows its cancel and returns normally ends normally; uncancel lowers the count. */
Test(task, swallowed_cancel_ends_normally)
{
    struct ctx c = {0};
    RUN_EXPECT(swallow_main, &c, 0);
    LOG_EQF(&c.log, "sleep:%d uncancel:0 next:0", -ECANCELED);
}

static int return_ecanceled(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -ECANCELED;
}

static int return_error(void *arg, void **result)
{
    (void)result;
    cr_assert_eq(cr_sleep(0), 0);
    return (int)(intptr_t)arg;
}

static int outcome_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task *a = cr_create_task(return_ecanceled, NULL);
    cr_task *b = cr_create_task(return_error, IPTR(-EPROTO));
    cr_assert_eq(cr_await(a, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(a), "returning -ECANCELED ends cancelled");
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0);
    void *v = IPTR(1);
    cr_assert_eq(cr_await(b, &v), -EPROTO, "the error code reaches the awaiter");
    cr_assert_null(v);
    cr_assert_not(cr_future_cancelled(b));
    cr_assert_eq(cr_future_exception(b), -EPROTO);
    cr_future_unref(a);
    cr_future_unref(b);
    return 0;
}

/* A task ends with its return: -ECANCELED = cancelled, another code = that error. */
Test(task, return_code_is_the_outcome)
{
    RUN_EXPECT(outcome_main, NULL, 0);
}

static int inner_with_cleanup(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    int rc = cr_sleep(30);
    tlog_add(log, "inner:%d", rc);
    cr_assert_eq(cr_sleep(0.002), 0, "cleanup may suspend again");
    tlog_add(log, "inner-cleanup-done");
    return rc;
}

struct outer {
    tlog *log;
    cr_task *inner;
};

static int outer_awaits(void *arg, void **result)
{
    (void)result;
    struct outer *o = arg;
    int rc = cr_await(o->inner, NULL);
    tlog_add(o->log, "outer:%d inner-done:%d", rc, cr_future_done(o->inner));
    return rc;
}

static int propagate_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct outer o = {log, cr_create_task(inner_with_cleanup, log)};
    cr_task *outer = cr_create_task(outer_awaits, &o);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(log, "cancel-outer");
    cr_assert(cr_cancel(outer));
    cr_assert_eq(cr_await(outer, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(outer));
    cr_assert(cr_future_cancelled(o.inner), "the cancel went into the awaited task");
    cr_future_unref(outer);
    cr_future_unref(o.inner);
    return 0;
}

/* Cancelling a task that awaits another cancels the other and waits for it to finish. */
Test(task, await_propagates_cancel_and_waits)
{
    tlog log = {{0}};
    RUN_EXPECT(propagate_main, &log, 0);
    LOG_EQF(&log, "cancel-outer inner:%d inner-cleanup-done outer:%d inner-done:1",
                  -ECANCELED, -ECANCELED);
}

static int awaited_cancel_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct outer o = {log, cr_create_task(sleep_long_log, log)};
    cr_task *outer = cr_create_task(outer_awaits, &o);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_cancel(o.inner));
    cr_assert_eq(cr_await(outer, NULL), -ECANCELED);
    cr_assert_eq(cr_task_cancelling(outer), 0, "the awaiter itself was not cancelled");
    cr_future_unref(outer);
    cr_future_unref(o.inner);
    return 0;
}

/* An awaited task ending cancelled makes the await return -ECANCELED without cancelling the awaiter. */
Test(task, cancelled_awaited_task_does_not_cancel_the_awaiter)
{
    tlog log = {{0}};
    RUN_EXPECT(awaited_cancel_main, &log, 0);
    LOG_EQF(&log, "sleep:%s outer:%d inner-done:1", cr_strerror(-ECANCELED),
                  -ECANCELED);
}

static int yield_forever(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    int rc;
    while ((rc = cr_sleep(0)) == 0)
        ;
    tlog_add(log, "yield:%d", rc);
    return rc;
}

static int cancel_yielder_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_task *t = cr_create_task(yield_forever, log);
    cr_assert_eq(cr_sleep(0), 0); /* t has yielded: queued behind us, not parked */
    cr_assert(cr_cancel(t));
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    return 0;
}

/* Cancelling a task that is queued by cr_sleep(0) delivers -ECANCELED once (no double schedule). */
Test(task, cancel_a_yielding_task)
{
    tlog log = {{0}};
    RUN_EXPECT(cancel_yielder_main, &log, 0);
    LOG_EQF(&log, "yield:%d", -ECANCELED);
}

static int pending_cancel_check(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_assert(cr_cancel(cr_current_task()), "a running task can cancel itself");
    tlog_add(log, "still-running");
    int rc = cr_sleep(0);
    tlog_add(log, "sleep:%d", rc);
    return 0;
}

/* A cancel of a running task is delivered at its next suspending call. */
Test(task, cancel_of_running_task_hits_next_suspension)
{
    tlog log = {{0}};
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, pending_cancel_check, &log, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0, "swallowed: ends normally");
    LOG_EQF(&log, "still-running sleep:%d", -ECANCELED);
    cr_future_unref(t);
    cr_loop_free(l);
}

static int introspect_child(void *arg, void **result)
{
    (void)result;
    struct ctx *c = arg;
    cr_task *me = cr_current_task();
    cr_assert(me == c->t[1] || me == c->t[2]);
    return cr_sleep(0);
}

static int introspect_main(void *arg, void **result)
{
    (void)result;
    struct ctx *c = arg;
    cr_task *me = cr_current_task();
    cr_assert_not_null(me);
    cr_assert(cr_is_task(me));
    cr_assert_str_eq(cr_task_get_name(me), "main", "cr_run names its task");
    c->t[0] = me;
    c->t[1] = cr_create_task(introspect_child, c);
    cr_assert_eq(named(NULL, "worker", introspect_child, c, &c->t[2]), 0);
    cr_assert_eq(strncmp(cr_task_get_name(c->t[1]), "Task-", 5), 0, "%s",
                 cr_task_get_name(c->t[1]));
    cr_assert_str_eq(cr_task_get_name(c->t[2]), "worker");
    cr_assert_eq(cr_task_set_name(c->t[2], "renamed"), 0);
    cr_assert_str_eq(cr_task_get_name(c->t[2]), "renamed");
    cr_assert_eq(cr_task_set_name(c->t[2], NULL), -EINVAL);
    cr_task *all[8] = {0};
    cr_assert_eq(cr_all_tasks(NULL, all, 8), 3);
    cr_assert_eq(cr_all_tasks(NULL, all, 1), 3, "the count exceeds the cap");
    cr_assert_eq(cr_all_tasks(NULL, NULL, 0), 3);
    int seen = 0;
    cr_assert_eq(cr_all_tasks(NULL, all, 8), 3);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            seen += all[i] == c->t[j];
    cr_assert_eq(seen, 3);
    cr_future_unref(c->t[2]); /* c->t[1] is awaited below */
    cr_assert_eq(cr_await(c->t[1], NULL), 0);
    cr_assert_eq(cr_all_tasks(NULL, NULL, 0), 1, "done tasks are not listed");
    cr_future_unref(c->t[1]);
    return 0;
}

/* current_task, all_tasks (pending only, counted past the cap) and names. */
Test(task, introspection_and_names)
{
    struct ctx c = {0};
    cr_assert_null(cr_current_task(), "none outside a loop");
    cr_assert_eq(cr_all_tasks(NULL, NULL, 0), 0);
    RUN_EXPECT(introspect_main, &c, 0);
    cr_assert_null(cr_task_get_name(NULL));
    cr_assert_eq(cr_task_cancelling(NULL), -EINVAL);
    cr_assert_eq(cr_task_uncancel(NULL), -EINVAL);
}

static int ensure_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_future *f = cr_future_new(NULL);
    cr_future *same = cr_ensure_future(f, NULL, NULL);
    cr_assert_eq(same, f, "a future stays itself");
    cr_future_unref(same);
    cr_future *t = cr_ensure_future(NULL, return_error, IPTR(-EXDEV));
    cr_assert(cr_is_task(t), "a function becomes a task");
    cr_assert_eq(cr_await(t, NULL), -EXDEV);
    cr_assert_null(cr_ensure_future(f, return_error, NULL), "exactly one of fut/fn");
    cr_assert_null(cr_ensure_future(NULL, NULL, NULL));
    cr_future_unref(t);
    cr_future_unref(f);
    return 0;
}

/* ensure_future: a future stays itself (new ref); a function becomes a task. */
Test(task, ensure_future)
{
    RUN_EXPECT(ensure_main, NULL, 0);
}

static int await_self(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cr_await(cr_current_task(), NULL);
}

/* Suspending outside a task is -EPERM; a task awaiting itself is -EDEADLK. */
Test(task, awaiting_misuse)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_await(f, NULL), -EPERM);
    cr_assert_eq(cr_sleep(0), -EPERM);
    cr_assert_eq(cr_wait_for(f, 1, NULL), -EPERM);
    cr_assert_eq(cr_gather(&f, 1, NULL, NULL, 0), -EPERM);
    cr_assert_null(cr_create_task(await_self, NULL), "no running loop");
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, await_self, NULL, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), -EDEADLK);
    cr_future_unref(t);
    cr_future_unref(f);
    cr_loop_free(l);
}

static int leftover(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    tlog_add(log, "leftover-start");
    int rc = cr_sleep(30);
    tlog_add(log, "leftover-cleanup:%d", rc);
    cr_assert_eq(cr_sleep(0.001), 0, "cleanup may still suspend");
    tlog_add(log, "leftover-end");
    return rc;
}

static int run_main(void *arg, void **result)
{
    tlog *log = arg;
    cr_task *t = cr_create_task(leftover, log);
    cr_future_unref(t); /* fire and forget */
    cr_assert_eq(cr_sleep(0), 0);
    cr_task *never = cr_create_task(must_not_run, log); /* not started when main returns */
    cr_future_unref(never);
    tlog_add(log, "main-returns");
    *result = IPTR(11);
    return 0;
}

/* cr_run returns main's result, then cancels leftover tasks and waits for their cleanup. */
Test(task, run_cancels_and_waits_for_leftovers)
{
    tlog log = {{0}};
    void *v = NULL;
    cr_assert_eq(cr_run(run_main, &log, &v), 0);
    cr_assert_eq(PINT(v), 11);
    LOG_EQF(&log, "leftover-start main-returns leftover-cleanup:%d leftover-end",
                  -ECANCELED);
    cr_assert_null(cr_get_running_loop(NULL));
}

static int run_error_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -ENOTCONN;
}

/* cr_run returns main's error code. */
Test(task, run_returns_main_error)
{
    RUN_EXPECT(run_error_main, NULL, -ENOTCONN);
}

static int wait_on_future(void *arg, void **result)
{
    (void)result;
    return cr_await(arg, NULL);
}

static void stop_cb(void *arg) { cr_loop_stop(arg); }

static void log_cb(cr_future *f, void *arg)
{
    (void)f;
    tlog_add(arg, "callback-ran");
}

/* A loop freed with tasks parked, queued and unstarted frees everything without running them. */
Test(task, loop_freed_with_pending_tasks)
{
    tlog log = {{0}};
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *f = cr_future_new(l); /* created first: later on the loop's list */
    cr_task *t[4];
    cr_task_opts big = {.name = "big", .stack_size = 256 * 1024};
    cr_assert_eq(cr_loop_create_task(l, sleep_long_log, &log, NULL, &t[0]), 0);
    cr_assert_eq(cr_loop_create_task(l, wait_on_future, f, &big, &t[1]), 0);
    cr_assert_eq(cr_loop_create_task(l, wait_on_future, f, NULL, &t[2]), 0);
    cr_assert_eq(cr_call_soon(l, stop_cb, l, NULL), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0);
    cr_assert_eq(cr_loop_create_task(l, must_not_run, &log, NULL, &t[3]), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_cb, &log), 0);
    cr_assert_eq(cr_loop_free(l), 0);
    LOG_EQ(&log, "");
    for (int i = 0; i < 4; i++) {
        cr_assert(cr_future_cancelled(t[i]));
        cr_future_unref(t[i]);
    }
    cr_assert(cr_future_cancelled(f));
    cr_future_unref(f);
}

struct shared_wait {
    tlog *log;
    cr_task *t; /* one reference, owned by whichever waiter resumes first */
};

static int await_then_drop(void *arg, void **result)
{
    (void)result;
    struct shared_wait *w = arg;
    void *v;
    int rc = cr_await(w->t, &v);
    tlog_add(w->log, "first:%d", PINT(v));
    cr_future_unref(w->t); /* the last reference, while another task still awaits it */
    return rc;
}

static int await_only(void *arg, void **result)
{
    (void)result;
    struct shared_wait *w = arg;
    void *v;
    int rc = cr_await(w->t, &v);
    tlog_add(w->log, "second:%d", PINT(v));
    return rc;
}

static int yield_then_7(void *arg, void **result)
{
    (void)arg;
    cr_assert_eq(cr_sleep(0), 0);
    *result = IPTR(7);
    return 0;
}

static int shared_wait_main(void *arg, void **result)
{
    (void)result;
    struct shared_wait w = {arg, cr_create_task(yield_then_7, NULL)};
    cr_task *ts[] = {cr_create_task(await_then_drop, &w), cr_create_task(await_only, &w)};
    cr_assert_eq(cr_gather(ts, 2, NULL, NULL, 0), 0);
    cr_future_unref(ts[0]);
    cr_future_unref(ts[1]);
    return 0;
}

/* An await keeps the awaited future alive until it returns, even if its last owner drops it first. */
Test(task, await_keeps_the_future_alive)
{
    tlog log = {{0}};
    RUN_EXPECT(shared_wait_main, &log, 0);
    LOG_EQ(&log, "first:7 second:7");
}

static int await_arg(void *arg, void **result)
{
    (void)result;
    return cr_await(arg, NULL);
}

/* A loop freed while a waiter is woken but not yet resumed frees everything (no leaked ref). */
Test(task, loop_freed_with_woken_waiter)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task *main_t, *w;
    cr_assert_eq(cr_loop_create_task(l, yield_then_7, NULL, NULL, &main_t), 0);
    cr_assert_eq(cr_loop_create_task(l, await_arg, main_t, NULL, &w), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, main_t, NULL), 0);
    cr_assert_not(cr_future_done(w), "woken, not yet resumed");
    cr_future_unref(main_t);
    cr_future_unref(w);
    cr_assert_eq(cr_loop_free(l), 0);
}

static int gather_many(void *arg, void **result)
{
    (void)result;
    cr_future **fs = arg;
    return cr_gather(fs, 12, NULL, NULL, 0);
}

/* A loop freed while a task gathers more than 8 futures (heap nodes) frees them. */
Test(task, loop_freed_inside_a_large_gather)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *fs[12];
    for (int i = 0; i < 12; i++)
        fs[i] = cr_future_new(l);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, gather_many, fs, NULL, &t), 0);
    cr_assert_eq(cr_call_soon(l, stop_cb, l, NULL), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0);
    cr_assert_eq(cr_loop_free(l), 0);
    cr_assert(cr_future_cancelled(t));
    cr_future_unref(t);
    for (int i = 0; i < 12; i++)
        cr_future_unref(fs[i]);
}

struct cycle {
    cr_task *a, *b;
};

static int await_b(void *arg, void **result)
{
    (void)result;
    struct cycle *c = arg;
    return cr_await(c->b, NULL);
}

static int await_a(void *arg, void **result)
{
    (void)result;
    struct cycle *c = arg;
    return cr_await(c->a, NULL);
}

static int cycle_main(void *arg, void **result)
{
    (void)result;
    struct cycle *c = arg;
    c->a = cr_create_task(await_b, c);
    c->b = cr_create_task(await_a, c);
    return cr_await(c->a, NULL);
}

/* A cycle of awaits ends in -EDEADLK (nothing can ever happen), and cancelling it terminates. */
Test(task, await_cycle_is_edeadlk_not_a_hang)
{
    struct cycle c = {0};
    int rc = cr_run(cycle_main, &c, NULL);
    cr_assert_eq(rc, -EDEADLK, "%s", cr_strerror(rc));
    cr_assert(cr_future_done(c.a));
    cr_assert(cr_future_done(c.b));
    cr_future_unref(c.a);
    cr_future_unref(c.b);
}
