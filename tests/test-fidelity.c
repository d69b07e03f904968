/* SPDX-License-Identifier: MIT */
/*
 * Description: where coring used to differ from asyncio (items
 * 1–8b), one test each, pinned to asyncio's answer: a closed loop, negative
 * call_later delays, NaN times, task groups fed by their children and
 * cancelled from outside while failing, timeout scopes rescheduled by other
 * tasks and their when(), a SIGINT raised with nothing else pending, and the
 * stream limit and concurrent drain().
 */
#include "io-helpers.h"
#include <math.h>
#include <signal.h>

/* ---- 1 ---- */

/* run_until_complete on a closed loop answers -ESHUTDOWN, as coring.h says. */
Test(fidelity, run_until_complete_on_closed_loop_is_eshutdown)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *f = cr_future_new(l);
    cr_assert_not_null(f);
    cr_assert_eq(cr_loop_close(l), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, f, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_loop_run_forever(l), -ESHUTDOWN);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- 2 ---- */

static tlog LOG;
static void log_cb(void *arg) { tlog_add(&LOG, "%s", (const char *)arg); }

static int negative_delays_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_assert_eq(cr_call_later(l, -1, log_cb, "a", NULL), 0);
    cr_assert_eq(cr_call_later(l, -2, log_cb, "b", NULL), 0);
    cr_assert_eq(cr_call_later(l, 0, log_cb, "c", NULL), 0);
    cr_assert_eq(cr_call_later(l, -INFINITY, log_cb, "d", NULL), 0);
    cr_assert_eq(cr_sleep(0.001), 0);
    return 0;
}

/* Negative call_later delays keep their deadlines: earliest first (asyncio). */
Test(fidelity, call_later_negative_delays_run_by_deadline)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(negative_delays_main, NULL, 0);
    LOG_EQ(&LOG, "d b a c");
}

/* ---- 3 ---- */

static int nan_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_future *f = cr_future_new(NULL);
    cr_assert_eq(cr_sleep(NAN), -EINVAL, "asyncio.sleep(nan): ValueError");
    cr_assert_eq(cr_wait(&f, 1, NAN, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), -EINVAL,
                 "wait(nan) no longer waits forever");
    cr_assert_eq(cr_wait_for(f, NAN, NULL), -EINVAL);
    cr_assert_null(cr_as_completed_new(&f, 1, NAN));
    cr_assert_null(cr_timeout(NAN));
    cr_assert_null(cr_timeout_at(NAN));
    cr_assert_eq(cr_call_later(l, NAN, log_cb, "x", NULL), -EINVAL);
    cr_assert_eq(cr_call_at(l, NAN, log_cb, "x", NULL), -EINVAL);
    int p[2];
    tcp_pair(p);
    char c;
    cr_assert_eq(cr_recv(p[0], &c, 1, 0, NAN), -EINVAL, "recv(nan) no longer polls once");
    cr_assert_eq(cr_send(p[0], "x", 1, 0, NAN), -EINVAL);
    cr_assert_eq(recv(p[1], &c, 1, MSG_DONTWAIT), -1, "the refused send sent nothing");
    cr_assert_eq(errno, EAGAIN);
    close(p[0]);
    close(p[1]);
    /* +inf is "forever": a wait that ends only by its future */
    cr_future_set_result(f, IPTR(7));
    void *v;
    cr_assert_eq(cr_wait_for(f, INFINITY, &v), 0);
    cr_assert_eq(PINT(v), 7);
    cr_future_unref(f);
    return 0;
}

/* NaN is -EINVAL in every call that takes a time (one rule, coring.h). */
Test(fidelity, nan_time_is_einval_everywhere)
{
    RUN_EXPECT(nan_main, NULL, 0);
}

/* ---- 4 ---- */

struct tg4 {
    cr_task_group *g;
    int add_rc, late_rc;
};

static int leaf(void *arg, void **result)
{
    (void)arg;
    *result = IPTR(1);
    return 0;
}

static int child_adds_sibling(void *arg, void **result)
{
    (void)result;
    struct tg4 *s = arg;
    s->add_rc = cr_task_group_create_task(s->g, leaf, NULL, NULL, NULL);
    return 0;
}

static int tg_child_add_main(void *arg, void **result)
{
    (void)arg, (void)result;
    struct tg4 s = {0};
    cr_assert_eq(cr_task_group_new(&s.g), 0);
    cr_assert_eq(cr_task_group_create_task(s.g, child_adds_sibling, &s, NULL, NULL), 0);
    cr_assert_eq(cr_task_group_wait(s.g), 0);
    cr_assert_eq(s.add_rc, 0, "a child may add to its own group");
    cr_assert_eq(cr_task_group_create_task(s.g, leaf, NULL, NULL, NULL), -ESHUTDOWN,
                 "finished group");
    cr_task_group_free(s.g);
    return 0;
}

/* Any task of the loop may add to an active TaskGroup; a finished one: -ESHUTDOWN. */
Test(fidelity, taskgroup_child_may_create_task)
{
    RUN_EXPECT(tg_child_add_main, NULL, 0);
}

/* ---- 5 ---- */

struct tg5 {
    cr_task *parent, *failer;
    cr_future *gate;
    int wait_rc, cancelling, next_rc;
};

static int fails(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_sleep(0);
    return -EIO;
}

static int slow_to_stop(void *arg, void **result)
{
    (void)result;
    struct tg5 *s = arg;
    int rc = cr_sleep(10);
    cr_assert_eq(rc, -ECANCELED);
    cr_await(s->gate, NULL); /* still finishing while the outside cancel comes */
    return rc;
}

static int outsider(void *arg, void **result)
{
    (void)result;
    struct tg5 *s = arg;
    cr_assert_eq(cr_await(s->failer, NULL), -EIO); /* the group is failing now */
    cr_cancel(s->parent);
    cr_future_set_result(s->gate, NULL);
    return 0;
}

static int tg5_parent(void *arg, void **result)
{
    (void)result;
    struct tg5 *s = arg;
    cr_task_group *g;
    cr_assert_eq(cr_task_group_new(&g), 0);
    cr_assert_eq(cr_task_group_create_task(g, fails, s, NULL, &s->failer), 0);
    cr_assert_eq(cr_task_group_create_task(g, slow_to_stop, s, NULL, NULL), 0);
    cr_task *o = cr_create_task(outsider, s);
    s->wait_rc = cr_task_group_wait(g);
    s->cancelling = cr_task_cancelling(cr_current_task());
    s->next_rc = cr_sleep(0);
    cr_task_group_free(g);
    cr_future_unref(o);
    cr_future_unref(s->failer);
    return s->next_rc;
}

static int tg5_main(void *arg, void **result)
{
    (void)arg, (void)result;
    struct tg5 s = {0};
    s.gate = cr_future_new(NULL);
    s.parent = cr_create_task(tg5_parent, &s);
    cr_assert_eq(cr_await(s.parent, NULL), -ECANCELED, "the parent ends cancelled");
    cr_assert(cr_future_cancelled(s.parent));
    cr_assert_eq(s.wait_rc, -EIO, "the child error wins in wait()");
    cr_assert_eq(s.cancelling, 1);
    cr_assert_eq(s.next_rc, -ECANCELED, "the outside cancel is delivered next");
    cr_future_unref(s.parent);
    cr_future_unref(s.gate);
    return 0;
}

/* An outside cancel while a TaskGroup fails reaches the parent's next await. */
Test(fidelity, taskgroup_outside_cancel_while_failing_is_delivered)
{
    RUN_EXPECT(tg5_main, NULL, 0);
}

/* ---- 6 ---- */

struct to6 {
    cr_timeout_scope *to;
    int resched_rc;
};

static int rescheduler(void *arg, void **result)
{
    (void)result;
    struct to6 *s = arg;
    s->resched_rc = cr_timeout_reschedule(s->to, cr_loop_time(cr_get_running_loop(NULL)));
    return 0;
}

static int to6_main(void *arg, void **result)
{
    (void)arg, (void)result;
    struct to6 s = {0};
    s.to = cr_timeout(10);
    cr_assert_not_null(s.to);
    cr_task *r = cr_create_task(rescheduler, &s);
    int rc = cr_sleep(10);
    cr_assert_eq(s.resched_rc, 0, "another task may reschedule");
    cr_assert_eq(cr_timeout_end(s.to, rc), -ETIMEDOUT);
    cr_future_unref(r);
    return 0;
}

/* A timeout scope may be rescheduled from another task (asyncio allows it). */
Test(fidelity, timeout_reschedule_from_another_task)
{
    RUN_EXPECT(to6_main, NULL, 0);
}

/* ---- 7 ---- */

static int to7_main(void *arg, void **result)
{
    (void)arg, (void)result;
    double base = cr_loop_time(cr_get_running_loop(NULL)) + 1000;
    int bad = 0;
    for (int i = 0; i < 1000; i++) {
        double w = base + i * 0.0013 + 1e-10 * i;
        cr_timeout_scope *to = cr_timeout_at(w);
        cr_assert_not_null(to);
        if (cr_timeout_when(to) != w)
            bad++;
        double w2 = w + 0.123456789;
        cr_assert_eq(cr_timeout_reschedule(to, w2), 0);
        if (cr_timeout_when(to) != w2)
            bad++;
        cr_assert_eq(cr_timeout_end(to, 0), 0);
    }
    cr_assert_eq(bad, 0, "%d deadlines did not round-trip", bad);
    cr_timeout_scope *to = cr_timeout_at(INFINITY);
    cr_assert_eq(cr_timeout_when(to), INFINITY);
    cr_assert_eq(cr_sleep(0.001), 0, "never expires");
    cr_assert_eq(cr_timeout_end(to, 0), 0);
    return 0;
}

/* when() gives back exactly the deadline it was given. */
Test(fidelity, timeout_when_round_trips)
{
    RUN_EXPECT(to7_main, NULL, 0);
}

/* ---- 8 ---- */

static void raise_sigint(void *arg)
{
    (void)arg;
    raise(SIGINT);
}

static int sigint_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_future *never = cr_future_new(NULL);
    cr_assert_eq(cr_call_soon(cr_get_running_loop(NULL), raise_sigint, NULL, NULL), 0);
    int rc = cr_await(never, NULL);
    cr_future_unref(never);
    return rc;
}

/* A SIGINT raised from a callback with nothing else pending cancels main:
 * cr_run returns -EINTR, not -EDEADLK. */
Test(fidelity, sigint_from_callback_is_not_lost)
{
    /* cr_run takes SIGINT only where it has its default disposition, and a
     * background job of a non-interactive shell starts with it ignored. */
    signal(SIGINT, SIG_DFL);
    RUN_EXPECT(sigint_main, NULL, -EINTR);
}

/* ---- 8b ---- */

static int limit_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    tcp_pair(p);
    cr_stream *s;
    cr_stream_opts o = {.limit = 7};
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), p[0], &o, &s), 0);
    cr_assert_eq(write(p[1], "1234567\n12345678\n", 17), 17);
    char buf[64];
    cr_assert_eq(cr_stream_readline(s, buf, sizeof buf), 8, "limit bounds the data before sep");
    cr_assert_eq(memcmp(buf, "1234567\n", 8), 0);
    cr_assert_eq(cr_stream_readline(s, buf, sizeof buf), CR_ELIMIT, "8 before sep > 7");
    cr_assert_eq(cr_stream_readline(s, buf, 5), CR_ELIMIT, "cap still bounds the line");
    cr_stream_close(s);
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    close(p[1]);
    return 0;
}

/* With limit 7, readline returns "1234567\n" (asyncio); 8 bytes before it: CR_ELIMIT. */
Test(fidelity, stream_limit_bounds_data_before_separator)
{
    RUN_EXPECT(limit_main, NULL, 0);
}

static int drain_task(void *arg, void **result)
{
    (void)result;
    return cr_stream_drain(arg);
}

static int drains_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    tcp_pair(p);
    cr_stream *s;
    cr_stream_opts o = {.high_water = 1024, .low_water = 256};
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), p[0], &o, &s), 0);
    static char big[8 << 20];
    cr_assert_eq(cr_stream_write(s, big, sizeof big), (ssize_t)sizeof big);
    cr_task *d[3];
    for (int i = 0; i < 3; i++)
        d[i] = cr_create_task(drain_task, s);
    cr_assert_eq(cr_sleep(0), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_not(cr_future_done(d[i]), "drain %d waits", i);
    static char sink[65536];
    size_t total = 0;
    while (total < sizeof big) {
        ssize_t n = cr_recv(p[1], sink, sizeof sink, 0, 5.0);
        cr_assert_gt(n, 0);
        total += (size_t)n;
    }
    int errs[3];
    cr_assert_eq(cr_gather(d, 3, NULL, errs, CR_RETURN_EXCEPTIONS), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(errs[i], 0, "drain %d: %s", i, cr_strerror(errs[i]));
        cr_future_unref(d[i]);
    }
    cr_stream_close(s);
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    close(p[1]);
    return 0;
}

/* Several tasks may await drain() on one writer (asyncio 3.12): all return 0. */
Test(fidelity, several_tasks_drain_one_writer)
{
    RUN_EXPECT(drains_main, NULL, 0);
}
