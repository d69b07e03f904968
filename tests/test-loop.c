/* SPDX-License-Identifier: MIT */
/*
 * Description: the event loop itself — creation and teardown, running and
 * stopping, call_soon/call_later/call_at ordering, per-thread loops, misuse
 * errors, and the io_uring setup diagnostics.
 */
#include "helpers.h"
#include "core/internal.h"
#include <liburing.h>
#include <pthread.h>

static void log_cb(void *arg)
{
    tlog_add(arg, "cb");
}

struct named {
    tlog *log;
    const char *name;
    cr_loop *stop;
};

static void named_cb(void *arg)
{
    struct named *n = arg;
    tlog_add(n->log, "%s", n->name);
    if (n->stop)
        cr_loop_stop(n->stop);
}

/* call_soon callbacks run in FIFO order, never inline. */
Test(loop, call_soon_runs_fifo_from_the_loop)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    tlog log = {{0}};
    struct named a = {&log, "a", NULL}, b = {&log, "b", NULL}, c = {&log, "c", l};
    cr_assert_eq(cr_call_soon(l, named_cb, &a, NULL), 0);
    cr_assert_eq(cr_call_soon(l, named_cb, &b, NULL), 0);
    cr_assert_eq(cr_call_soon(l, named_cb, &c, NULL), 0);
    LOG_EQ(&log, "");
    cr_assert_eq(cr_loop_run_forever(l), 0);
    LOG_EQ(&log, "a b c");
    cr_assert_eq(cr_loop_free(l), 0);
}

/* call_later orders by deadline; equal deadlines keep FIFO order; a cancelled
 * handle never runs. */
Test(loop, call_later_orders_by_deadline_and_cancel_works)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    tlog log = {{0}};
    struct named a = {&log, "a", NULL}, b = {&log, "b", NULL}, c = {&log, "c", NULL},
                 d = {&log, "d", l}, x = {&log, "x", NULL};
    double now = cr_loop_time(l);
    cr_handle *hx;
    cr_assert_eq(cr_call_later(l, 0.02, named_cb, &c, NULL), 0);
    cr_assert_eq(cr_call_at(l, now + 0.01, named_cb, &a, NULL), 0);
    cr_assert_eq(cr_call_at(l, now + 0.01, named_cb, &b, NULL), 0);
    cr_assert_eq(cr_call_later(l, 0.015, named_cb, &x, &hx), 0);
    cr_assert_eq(cr_call_later(l, 0.03, named_cb, &d, NULL), 0);
    cr_assert(cr_handle_cancel(hx));
    cr_assert_not(cr_handle_cancel(hx), "a second cancel reports false");
    cr_assert(cr_handle_cancelled(hx));
    cr_handle_release(hx);
    cr_assert_eq(cr_loop_run_forever(l), 0);
    LOG_EQ(&log, "a b c d");
    cr_assert_geq(cr_loop_time(l), now + 0.03);
    cr_assert_eq(cr_loop_free(l), 0);
}

static int returns_7(void *arg, void **result)
{
    (void)arg;
    *result = IPTR(7);
    return 0;
}

/* run_until_complete returns the future's result and leaves the loop reusable. */
Test(loop, run_until_complete_returns_result)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, returns_7, NULL, NULL, &t), 0);
    void *v = NULL;
    cr_assert_eq(cr_loop_run_until_complete(l, t, &v), 0);
    cr_assert_eq(PINT(v), 7);
    cr_assert(cr_future_done(t));
    cr_future_unref(t);
    cr_assert_not(cr_loop_is_running(l));
    cr_assert_not(cr_loop_is_closed(l));
    cr_assert_eq(cr_loop_close(l), 0);
    cr_assert(cr_loop_is_closed(l));
    cr_assert_eq(cr_loop_free(l), 0);
}

static int check_running(void *arg, void **result)
{
    (void)result;
    cr_loop *l = arg;
    int err = 1;
    cr_assert_eq(cr_get_running_loop(&err), l);
    cr_assert_eq(err, 0);
    cr_assert(cr_loop_is_running(l));
    cr_assert_eq(cr_get_event_loop(), l);
    /* run_until_complete / run_forever / close / free refuse a running loop */
    cr_assert_eq(cr_loop_run_forever(l), -EBUSY);
    cr_assert_eq(cr_loop_close(l), -EBUSY);
    cr_assert_eq(cr_loop_free(l), -EBUSY);
    return 0;
}

/* Inside a running loop, the loop is visible and refuses to nest or close. */
Test(loop, running_loop_is_visible_and_refuses_nesting)
{
    int err = 0;
    cr_assert_null(cr_get_running_loop(&err));
    cr_assert_eq(err, -EPERM);
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, check_running, l, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    cr_future_unref(t);
    cr_loop_free(l);
}

static int nested_run(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cr_run(returns_7, NULL, NULL);
}

/* cr_run refuses to nest inside a running loop with -EBUSY. */
Test(loop, run_refuses_to_nest)
{
    RUN_EXPECT(nested_run, NULL, -EBUSY);
}

/* A closed loop refuses work with -ESHUTDOWN. */
Test(loop, closed_loop_refuses_work)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_loop_close(l), 0);
    cr_assert_eq(cr_loop_close(l), 0, "closing twice is harmless");
    cr_task *t = (cr_task *)1;
    cr_assert_eq(cr_loop_create_task(l, returns_7, NULL, NULL, &t), -ESHUTDOWN);
    cr_assert_null(t);
    cr_assert_eq(cr_call_soon(l, log_cb, NULL, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_loop_run_forever(l), -ESHUTDOWN);
    cr_assert_null(cr_future_new(l));
    cr_assert_eq(cr_set_event_loop(l), -ESHUTDOWN);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* Bad arguments get -EINVAL, never a crash. */
Test(loop, bad_arguments_are_einval)
{
    cr_assert_eq(cr_loop_new(NULL, NULL), -EINVAL);
    cr_loop *l;
    cr_loop_opts o = {.flags = 1u << 30};
    cr_assert_eq(cr_loop_new(&l, &o), -EINVAL);
    cr_assert_eq(cr_call_soon(NULL, log_cb, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_loop_run_until_complete(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_run(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_loop_free(NULL), 0);
}

/* get_event_loop creates one loop per thread and keeps returning it. */
static void *thread_loop(void *arg)
{
    (void)arg;
    cr_loop *a = cr_get_event_loop();
    cr_loop *b = cr_get_event_loop();
    return a == b ? a : NULL;
}

Test(loop, get_event_loop_is_per_thread)
{
    cr_loop *mine = cr_get_event_loop();
    cr_assert_not_null(mine);
    cr_assert_eq(cr_get_event_loop(), mine);
    pthread_t th;
    void *other;
    pthread_create(&th, NULL, thread_loop, NULL);
    pthread_join(th, &other);
    cr_assert_not_null(other);
    cr_assert_neq(other, (void *)mine);
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_set_event_loop(l), 0);
    cr_assert_eq(cr_get_event_loop(), l);
    cr_loop_free(l); /* unsets it: the next call makes a fresh, open loop */
    cr_loop *fresh = cr_get_event_loop();
    cr_assert_not_null(fresh);
    cr_assert_not(cr_loop_is_closed(fresh));
    cr_loop_free(fresh);
    cr_loop_free(mine);
}

/* When io_uring cannot be set up, the error names the cause in one line. */
Test(loop, setup_failure_names_the_cause)
{
    cr_loop *l;
    cr_loop_opts uring = {.backend = CR_BACKEND_URING}; /* AUTO would fall back to epoll */
    cr__uring_set_fault(-ENOSYS);
    cr_assert_eq(cr_loop_new(&l, &uring), -ENOSYS);
    cr_assert(strstr(cr_setup_error(), "no io_uring"), "%s", cr_setup_error());
    cr__uring_set_fault(-ENOMEM);
    cr_assert_eq(cr_loop_new(&l, &uring), -ENOMEM);
    cr_assert(strstr(cr_setup_error(), "RLIMIT_MEMLOCK"), "%s", cr_setup_error());
    cr__uring_set_fault(-EPERM);
    cr_assert_eq(cr_loop_new(&l, &uring), -EPERM);
    cr_assert(strstr(cr_setup_error(), "io_uring"), "%s", cr_setup_error());
    cr_assert_null(strchr(cr_setup_error(), '\n'), "one line");
    cr_assert_eq(cr_loop_new(&l, NULL), 0, "the fault is one-shot");
    cr_assert_str_eq(cr_setup_error(), "");
    cr_loop_free(l);
}

/* The ring uses the modern flags this kernel offers. */
Test(loop, ring_uses_single_issuer_and_defer_taskrun)
{
    cr_loop *l;
    if (!on_io_uring())
        cr_skip_test("io_uring only: the ring's set-up flags");
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert(cr__uring_setup_flags(&l->be) & IORING_SETUP_SINGLE_ISSUER);
    cr_assert(cr__uring_setup_flags(&l->be) & IORING_SETUP_DEFER_TASKRUN);
    cr_loop_free(l);
    cr_loop_opts o = {.flags = CR_LOOP_NO_DEFER_TASKRUN};
    cr_assert_eq(cr_loop_new(&l, &o), 0);
    cr_assert(cr__uring_setup_flags(&l->be) & IORING_SETUP_COOP_TASKRUN);
    cr_assert_not(cr__uring_setup_flags(&l->be) & IORING_SETUP_DEFER_TASKRUN);
    cr_loop_free(l);
}

static int sleeper(void *arg, void **result)
{
    (void)result;
    for (int i = 0; i < 20; i++)
        cr_sleep(0.001 * (intptr_t)arg);
    return 0;
}

static int many_sleepers(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task *t[10];
    for (int i = 0; i < 10; i++)
        t[i] = cr_create_task(sleeper, IPTR(i % 3));
    cr_gather(t, 10, NULL, NULL, 0);
    for (int i = 0; i < 10; i++)
        cr_future_unref(t[i]);
    return 0;
}

/* Timers never become SQEs, and no iteration makes more than one enter. */
Test(loop, at_most_one_enter_per_iteration)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, many_sleepers, NULL, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    cr_future_unref(t);
    cr_assert_leq(l->be.stats.enters, l->stats.iterations);
    /* The only SQE: the eventfd read that lets other threads wake a sleeping
     * loop (xthread.c), armed once when the loop first blocks. */
    cr_assert_leq(l->be.stats.submitted, 1, "sleeping costs no SQE");
    cr_loop_free(l);
}

static int yielder(void *arg, void **result)
{
    (void)result;
    int *count = arg;
    for (;;) {
        int rc = cr_sleep(0);
        if (rc < 0)
            return rc;
        ++*count;
    }
}

static int cancel_yielder(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int count = 0;
    cr_task *t = cr_create_task(yielder, &count);
    for (int i = 0; i < 5; i++)
        cr_sleep(0);
    /* t is queued (READY) right now: cancelling it twice must not queue it twice */
    cr_assert(cr_cancel(t));
    cr_assert(cr_cancel(t));
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(t));
    cr_assert_eq(cr_task_cancelling(t), 2);
    cr_future_unref(t);
    return 0;
}

/* A task cancelled while queued by cr_sleep(0) ends cancelled, once. */
Test(loop, cancel_of_a_yielding_task_is_delivered_once)
{
    RUN_EXPECT(cancel_yielder, NULL, 0);
}

/* The feature report names the loop's backend and what its kernel granted,
 * as a struct and as one line; bad arguments are -EINVAL. */
Test(loop, features_report_what_the_loop_got)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_loop_features f;
    cr_assert_eq(cr_loop_get_features(l, &f), 0);
    cr_assert_str_eq(f.backend, cr_loop_backend(l));
    if (!strcmp(f.backend, "io_uring")) {
        cr_assert(f.single_issuer, "the default ring asks for SINGLE_ISSUER and gets it here");
        cr_assert_eq(f.ring_flags, cr__uring_setup_flags(&l->be));
    } else {
        cr_assert_eq(f.ring_flags, 0u);
        cr_assert_not(f.multishot_recv, "emulated on epoll");
    }
    char line[512];
    int n = cr_loop_features_str(l, line, sizeof line);
    cr_assert_gt(n, 0);
    cr_assert_eq((size_t)n, strlen(line));
    cr_assert(!strncmp(line, f.backend, strlen(f.backend)), "%s", line);
    cr_assert_null(strchr(line, '\n'), "one line");
    char small[8];
    cr_assert_eq(cr_loop_features_str(l, small, sizeof small), n, "snprintf's length");
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(cr_loop_get_features(NULL, &f), -EINVAL);
    cr_assert_eq(cr_loop_get_features(l, NULL), -EINVAL);
    cr_assert_eq(cr_loop_features_str(l, NULL, 4), -EINVAL);
    cr_loop_free(l);
}
