/* SPDX-License-Identifier: MIT */
/*
 * Description: cr_timeout / cr_timeout_at scopes — expiry turns the scope's
 * own cancellation into -ETIMEDOUT, over several awaits; rescheduling; nested
 * scopes (the inner-most expiring one wins); an outer cancel is never taken
 * for a timeout.
 */
#include "helpers.h"

static tlog LOG;

static int body_sleeps(int n, double each)
{
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = cr_sleep(each);
    return rc;
}

static int expiry_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_timeout_scope *to = cr_timeout(0.01);
    cr_assert_not_null(to);
    int rc = body_sleeps(100, 0.001); /* many awaits, ~0.1 s in total */
    cr_assert_eq(rc, -ECANCELED);
    cr_assert(cr_timeout_expired(to));
    rc = cr_timeout_end(to, rc);
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0);
    cr_assert_eq(cr_sleep(0.001), 0, "no cancel left over");
    /* a scope that does not expire passes the result through */
    to = cr_timeout(100);
    rc = cr_timeout_end(to, body_sleeps(2, 0.001));
    cr_assert_eq(rc, 0);
    return 0;
}

/* Expiry cancels whatever is awaited; the scope reports -ETIMEDOUT. */
Test(timeout, expiry_becomes_etimedout)
{
    RUN_EXPECT(expiry_main, NULL, 0);
}

static int reschedule_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_timeout_scope *to = cr_timeout(0.005);
    cr_assert_eq(cr_timeout_reschedule(to, -1), 0, "no deadline");
    cr_assert_eq(cr_timeout_when(to), -1);
    int rc = cr_sleep(0.02);
    cr_assert_eq(rc, 0);
    double when = cr_loop_time(cr_get_running_loop(NULL)) + 0.005;
    cr_assert_eq(cr_timeout_reschedule(to, when), 0);
    cr_assert_float_eq(cr_timeout_when(to), when, 1e-6);
    rc = cr_sleep(1);
    cr_assert_eq(cr_timeout_reschedule(to, when + 1), -EALREADY, "expired");
    cr_assert_eq(cr_timeout_end(to, rc), -ETIMEDOUT);
    /* timeout_at with a deadline already past: expires at the next turn */
    to = cr_timeout_at(0.5);
    rc = cr_sleep(1);
    cr_assert_eq(cr_timeout_end(to, rc), -ETIMEDOUT);
    return 0;
}

/* reschedule moves or removes the deadline; timeout_at in the past fires. */
Test(timeout, reschedule_and_timeout_at)
{
    RUN_EXPECT(reschedule_main, NULL, 0);
}

static int nested_main(void *arg, void **r)
{
    (void)arg, (void)r;
    /* inner expires first: inner reports the timeout, outer sees the result */
    cr_timeout_scope *outer = cr_timeout(100); /* the other side: effectively never */
    cr_timeout_scope *inner = cr_timeout(0.005);
    int rc = cr_timeout_end(inner, cr_sleep(100));
    tlog_add(&LOG, "inner:%d", rc);
    rc = cr_timeout_end(outer, cr_sleep(0.001));
    tlog_add(&LOG, "outer:%d", rc);
    /* outer expires first: the inner passes the cancel on, the outer claims it */
    outer = cr_timeout(0.005);
    inner = cr_timeout(100);
    rc = cr_timeout_end(inner, cr_sleep(100));
    tlog_add(&LOG, "inner:%d", rc);
    rc = cr_timeout_end(outer, rc);
    tlog_add(&LOG, "outer:%d", rc);
    /* both expire before the task runs again: the outer one claims it */
    outer = cr_timeout(0.004);
    inner = cr_timeout(0.002);
    int64_t t0 = cr_loop_time_ns(cr_get_running_loop(NULL));
    while (cr_loop_time_ns(cr_get_running_loop(NULL)) - t0 < 10 * 1000 * 1000)
        ; /* hold the loop so both deadlines pass */
    rc = cr_timeout_end(inner, cr_sleep(100));
    tlog_add(&LOG, "inner:%d", rc);
    rc = cr_timeout_end(outer, rc);
    tlog_add(&LOG, "outer:%d", rc);
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0);
    return 0;
}

/* Nested scopes each claim only their own expiry. */
Test(timeout, nested_scopes)
{
    RUN_EXPECT(nested_main, NULL, 0);
    LOG_EQ(&LOG, "inner:-110 outer:0 inner:-125 outer:-110 inner:-125 outer:-110");
}

static int scoped(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_timeout_scope *to = cr_timeout(100); /* never reached: the cancel comes first */
    int rc = cr_sleep(1000);
    rc = cr_timeout_end(to, rc);
    tlog_add(&LOG, "scoped:%d", rc);
    return rc;
}

static int outer_cancel_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t = cr_create_task(scoped, NULL);
    cr_sleep(0); /* exact: scoped has opened its scope and sleeps */
    cr_cancel(t); /* before the timeout: a real cancel */
    int rc = cr_await(t, NULL);
    cr_future_unref(t);
    return rc;
}

/* A cancel from outside is never mistaken for the scope's timeout. */
Test(timeout, outer_cancel_is_not_a_timeout)
{
    RUN_EXPECT(outer_cancel_main, NULL, -ECANCELED);
    LOG_EQ(&LOG, "scoped:-125");
}

static int both_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_timeout_scope *to = cr_timeout(0.002);
    cr_task *self = cr_current_task();
    int64_t t0 = cr_loop_time_ns(cr_get_running_loop(NULL));
    cr_sleep(0.001);
    while (cr_loop_time_ns(cr_get_running_loop(NULL)) - t0 < 5 * 1000 * 1000)
        ;
    cr_cancel(self); /* a real cancel as well as the expiry */
    int rc = cr_sleep(1);
    rc = cr_timeout_end(to, rc);
    cr_assert_eq(rc, -ECANCELED, "the outside cancel wins: %d", rc);
    cr_assert_eq(cr_task_cancelling(self), 1);
    return rc;
}

/* Expired AND cancelled from outside: -ECANCELED, the outside cancel stays. */
Test(timeout, expiry_plus_real_cancel_stays_cancelled)
{
    RUN_EXPECT(both_main, NULL, -ECANCELED);
}

static int misuse_main(void *arg, void **r)
{
    (void)r;
    cr_timeout_scope **slot = arg;
    if (*slot)
        return cr_timeout_end(*slot, 0); /* another task's scope */
    *slot = cr_timeout(1);
    cr_task *t = cr_create_task(misuse_main, slot);
    int rc = cr_await(t, NULL);
    cr_future_unref(t);
    cr_assert_eq(rc, -EPERM);
    cr_assert_eq(cr_timeout_end(NULL, 0), -EINVAL);
    cr_assert_eq(cr_timeout_end(*slot, 5), 5, "rc passes through");
    return 0;
}

/* Outside a task there is no scope; another task cannot end ours. */
Test(timeout, misuse)
{
    cr_assert_null(cr_timeout(1));
    cr_timeout_scope *slot = NULL;
    RUN_EXPECT(misuse_main, &slot, 0);
}

static int slow_child(void *arg, void **r)
{
    (void)arg, (void)r;
    int rc = cr_sleep(100); /* effectively never: the scope's 10 ms come first */
    tlog_add(&LOG, "child:%d", rc);
    return rc;
}

static int group_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_queue *q;
    cr_queue_new(&q, NULL);
    cr_timeout_scope *to = cr_timeout(0.01);
    void *item;
    int rc = cr_timeout_end(to, cr_queue_get(q, &item));
    tlog_add(&LOG, "get:%d size:%zu", rc, cr_queue_size(q));
    cr_task_group *g;
    cr_task_group_new(&g);
    cr_task_group_create_task(g, slow_child, NULL, NULL, NULL);
    cr_task_group_create_task(g, slow_child, NULL, NULL, NULL);
    cr_assert_eq(cr_sleep(0), 0); /* exact: both children sleep before the scope opens */
    to = cr_timeout(0.01);
    rc = cr_timeout_end(to, cr_task_group_wait(g));
    tlog_add(&LOG, "group:%d", rc);
    cr_task_group_free(g);
    cr_queue_free(q);
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0);
    return 0;
}

/* A timeout around a queue get, and around a task group's wait. */
Test(timeout, around_queue_get_and_task_group)
{
    RUN_EXPECT(group_main, NULL, 0);
    LOG_EQ(&LOG, "get:-110 size:0 child:-125 child:-125 group:-110");
}
