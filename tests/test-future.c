/* SPDX-License-Identifier: MIT */
/*
 * Description: plain futures — exactly-once completion, the result/exception/
 * done/cancelled accessors, done callbacks (never inline, registration order,
 * interleaved with waiters), cancel, reference counting and misuse errors.
 */
#include "helpers.h"

static cr_loop *new_loop(void)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    return l;
}

/* A second result or error is refused with -EALREADY and changes nothing. */
Test(future, completes_exactly_once)
{
    cr_loop *l = new_loop();
    cr_future *f = cr_future_new(l);
    cr_assert_not_null(f);
    cr_assert_eq(cr_future_set_result(f, IPTR(1)), 0);
    cr_assert_eq(cr_future_set_result(f, IPTR(2)), -EALREADY);
    cr_assert_eq(cr_future_set_error(f, -EIO), -EALREADY);
    cr_assert_not(cr_cancel(f), "cancel of a done future reports false");
    void *v = NULL;
    cr_assert_eq(cr_future_result(f, &v), 0);
    cr_assert_eq(PINT(v), 1);
    cr_assert_not(cr_future_cancelled(f));
    cr_future_unref(f);

    f = cr_future_new(l);
    cr_assert_eq(cr_future_set_error(f, -EIO), 0);
    cr_assert_eq(cr_future_set_result(f, IPTR(2)), -EALREADY);
    cr_assert_eq(cr_future_set_error(f, -ENOENT), -EALREADY);
    cr_assert_eq(cr_future_exception(f), -EIO);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* While pending: done false, result/exception -EAGAIN; then each outcome reads back. */
Test(future, accessors_follow_the_state)
{
    cr_loop *l = new_loop();
    cr_future *f = cr_future_new(l);
    void *v = IPTR(99);
    cr_assert_not(cr_future_done(f));
    cr_assert_not(cr_future_cancelled(f));
    cr_assert_eq(cr_future_result(f, &v), -EAGAIN);
    cr_assert_eq(cr_future_exception(f), -EAGAIN);
    cr_assert_eq(cr_future_get_loop(f), l);
    cr_assert_not(cr_is_task(f));
    cr_assert_eq(cr_future_set_result(f, IPTR(5)), 0);
    cr_assert(cr_future_done(f));
    cr_assert_eq(cr_future_exception(f), 0, "a result has no exception");
    cr_assert_eq(cr_future_result(f, NULL), 0, "value may be NULL");
    cr_future_unref(f);

    f = cr_future_new(l);
    cr_assert_eq(cr_future_set_error(f, -EPIPE), 0);
    cr_assert(cr_future_done(f));
    cr_assert_not(cr_future_cancelled(f));
    v = IPTR(99);
    cr_assert_eq(cr_future_result(f, &v), -EPIPE);
    cr_assert_null(v, "an error leaves no value");
    cr_future_unref(f);

    f = cr_future_new(l);
    cr_assert(cr_cancel(f), "cancel of a pending future reports true");
    cr_assert(cr_future_done(f));
    cr_assert(cr_future_cancelled(f));
    cr_assert_eq(cr_future_result(f, &v), -ECANCELED);
    cr_assert_eq(cr_future_exception(f), -ECANCELED);
    cr_assert_not(cr_cancel(f), "a second cancel reports false");
    cr_future_unref(f);

    f = cr_future_new(l);
    cr_assert_eq(cr_future_set_error(f, -ECANCELED), 0);
    cr_assert(cr_future_cancelled(f), "an error of -ECANCELED is a cancel");
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* Misuse returns a negative errno, never a crash. */
Test(future, misuse_returns_errors)
{
    cr_loop *l = new_loop();
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_set_error(f, 0), -EINVAL, "an error must be negative");
    cr_assert_eq(cr_future_set_error(f, 5), -EINVAL);
    cr_assert_not(cr_future_done(f), "a refused call changes nothing");
    cr_assert_eq(cr_future_set_result(NULL, NULL), -EINVAL);
    cr_assert_eq(cr_future_set_error(NULL, -EIO), -EINVAL);
    cr_assert_eq(cr_future_result(NULL, NULL), -EINVAL);
    cr_assert_eq(cr_future_exception(NULL), -EINVAL);
    cr_assert_eq(cr_future_add_done_callback(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_future_add_done_callback(f, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_future_remove_done_callback(NULL, NULL, NULL), -EINVAL);
    cr_assert_not(cr_future_done(NULL));
    cr_assert_not(cr_future_cancelled(NULL));
    cr_assert_not(cr_cancel(NULL));
    cr_assert_null(cr_future_get_loop(NULL));
    cr_assert_null(cr_future_ref(NULL));
    cr_future_unref(NULL);
    cr_assert_null(cr_future_new(NULL), "no running loop, none given");

    cr_task *t = IPTR(1);
    cr_assert_eq(cr_loop_create_task(l, NULL, NULL, NULL, &t), -EINVAL);
    cr_assert_null(t);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

static int returns_3(void *arg, void **result)
{
    (void)arg;
    *result = IPTR(3);
    return 0;
}

/* set_result / set_error on a task is -EINVAL (pending), -EALREADY (done). */
Test(future, cannot_set_a_task)
{
    cr_loop *l = new_loop();
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, returns_3, NULL, NULL, &t), 0);
    cr_assert(cr_is_task(t));
    cr_assert_eq(cr_future_set_result(t, IPTR(1)), -EINVAL);
    cr_assert_eq(cr_future_set_error(t, -EIO), -EINVAL);
    void *v;
    cr_assert_eq(cr_loop_run_until_complete(l, t, &v), 0);
    cr_assert_eq(PINT(v), 3, "the refused set changed nothing");
    cr_assert_eq(cr_future_set_result(t, IPTR(1)), -EALREADY);
    cr_future_unref(t);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- done callbacks ---- */

struct cbctx {
    tlog *log;
    const char *name;
};

static void log_done(cr_future *f, void *arg)
{
    struct cbctx *c = arg;
    void *v = NULL;
    int rc = cr_future_result(f, &v);
    tlog_add(c->log, "%s:%d", c->name, rc < 0 ? rc : PINT(v));
}

static void stop_loop(void *arg) { cr_loop_stop(arg); }

/* Run l until a stop queued now: callbacks already scheduled run first. */
static void run_turn(cr_loop *l)
{
    cr_assert_eq(cr_call_soon(l, stop_loop, l, NULL), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0);
}

/* Completing a future runs no callback inline; the loop runs them in registration order. */
Test(future, done_callbacks_run_later_in_order)
{
    cr_loop *l = new_loop();
    tlog log = {{0}};
    struct cbctx a = {&log, "a"}, b = {&log, "b"}, c = {&log, "c"};
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &b), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &c), 0);
    cr_assert_eq(cr_future_set_result(f, IPTR(7)), 0);
    LOG_EQ(&log, "");
    run_turn(l);
    LOG_EQ(&log, "a:7 b:7 c:7");
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* A callback added to a done future is scheduled for the next turn, not run inline. */
Test(future, add_after_done_runs_next_turn)
{
    cr_loop *l = new_loop();
    tlog log = {{0}};
    struct cbctx a = {&log, "late"};
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_set_error(f, -EIO), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    LOG_EQ(&log, "");
    run_turn(l);
    LOG_EQF(&log, "late:%d", -EIO);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* remove_done_callback removes every (fn, arg) registration and returns the count. */
Test(future, remove_done_callback_counts)
{
    cr_loop *l = new_loop();
    tlog log = {{0}};
    struct cbctx a = {&log, "a"}, b = {&log, "b"};
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &b), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &b), 0);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_remove_done_callback(f, log_done, &a), 3);
    cr_assert_eq(cr_future_remove_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_remove_done_callback(f, log_done, &log), 0, "another arg matches nothing");
    cr_assert_eq(cr_future_set_result(f, IPTR(1)), 0);
    run_turn(l);
    LOG_EQ(&log, "b:1 b:1");
    /* Once scheduled, a callback can no longer be removed. */
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &b), 0);
    cr_assert_eq(cr_future_remove_done_callback(f, log_done, &b), 0);
    run_turn(l);
    LOG_EQ(&log, "b:1 b:1 b:1");
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* Cancelling a future runs its callbacks (from the loop) with -ECANCELED. */
Test(future, cancel_runs_callbacks)
{
    cr_loop *l = new_loop();
    tlog log = {{0}};
    struct cbctx a = {&log, "a"};
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert(cr_cancel(f));
    LOG_EQ(&log, "");
    run_turn(l);
    LOG_EQF(&log, "a:%d", -ECANCELED);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- callbacks interleaved with awaiting tasks ---- */

struct waiter {
    tlog *log;
    cr_future *f;
    const char *name;
};

static int await_and_log(void *arg, void **result)
{
    (void)result;
    struct waiter *w = arg;
    void *v;
    int rc = cr_await(w->f, &v);
    tlog_add(w->log, "%s:%d", w->name, rc < 0 ? rc : PINT(v));
    return rc;
}

static int interleave_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_future *f = cr_future_new(NULL);
    struct cbctx a = {log, "cb1"}, b = {log, "cb2"};
    struct waiter w1 = {log, f, "t1"}, w2 = {log, f, "t2"};
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_task *t1 = cr_create_task(await_and_log, &w1);
    cr_assert_eq(cr_sleep(0), 0); /* t1 registers its wait */
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &b), 0);
    cr_task *t2 = cr_create_task(await_and_log, &w2);
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(log, "set");
    cr_assert_eq(cr_future_set_result(f, IPTR(4)), 0);
    tlog_add(log, "after");
    cr_task *ts[] = {t1, t2};
    cr_assert_eq(cr_gather(ts, 2, NULL, NULL, 0), 0);
    cr_future_unref(t1);
    cr_future_unref(t2);
    cr_future_unref(f);
    return 0;
}

/* Callbacks and waiting tasks resume in one registration order, after the setter. */
Test(future, callbacks_and_waiters_interleave_in_registration_order)
{
    tlog log = {{0}};
    RUN_EXPECT(interleave_main, &log, 0);
    LOG_EQ(&log, "set after cb1:4 t1:4 cb2:4 t2:4");
}

/* ---- reference counting ---- */

static int refs_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    tlog log = {{0}};
    struct cbctx a = {&log, "a"};
    cr_future *f = cr_future_new(NULL);
    cr_assert_eq(cr_future_ref(f), f);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_set_result(f, IPTR(8)), 0);
    /* Both references dropped while the callback is still scheduled: the
     * callback keeps the future alive until it has run. */
    cr_future_unref(f);
    cr_future_unref(f);
    cr_assert_eq(cr_sleep(0), 0);
    LOG_EQ(&log, "a:8");
    /* A future dropped with callbacks still registered frees them (ASan checks). */
    cr_future *g = cr_future_new(NULL);
    cr_assert_eq(cr_future_add_done_callback(g, log_done, &a), 0);
    cr_future_unref(g);
    /* A future left pending when the loop closes is cancelled quietly. */
    cr_future *h = cr_future_new(NULL);
    cr_assert_eq(cr_future_add_done_callback(h, log_done, &a), 0);
    *result = h;
    return 0;
}

/* References keep a future alive exactly as long as needed: no leak, no use after free. */
Test(future, refcounts_free_everything)
{
    void *h = NULL;
    cr_assert_eq(cr_run(refs_main, NULL, &h), 0);
    cr_assert_not_null(h);
    cr_assert(cr_future_cancelled(h), "abandoned by its closed loop");
    cr_assert_null(cr_future_get_loop(h));
    cr_assert_eq(cr_future_set_result(h, NULL), -EALREADY);
    cr_assert_eq(cr_future_add_done_callback(h, log_done, NULL), -ESHUTDOWN);
    cr_future_unref(h);
}

/* A done callback scheduled but not yet run when the loop is freed is dropped, not run, not leaked. */
Test(future, loop_freed_with_scheduled_callback)
{
    cr_loop *l = new_loop();
    tlog log = {{0}};
    struct cbctx a = {&log, "a"};
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_future_add_done_callback(f, log_done, &a), 0);
    cr_assert_eq(cr_future_set_result(f, IPTR(1)), 0);
    cr_future_unref(f); /* the scheduled callback still holds it */
    cr_future *g = cr_future_new(l);
    cr_assert_eq(cr_future_add_done_callback(g, log_done, &a), 0);
    cr_assert_eq(cr_loop_free(l), 0);
    LOG_EQ(&log, "");
    cr_assert(cr_future_cancelled(g), "a pending future is cancelled quietly");
    cr_future_unref(g);
}
