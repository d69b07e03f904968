/* SPDX-License-Identifier: MIT */
/*
 * Description: cr_task_group — waits for every child; the first failure
 * cancels the siblings (and the parent's pending await) and every error is
 * reported; cancelling the parent cancels the group.
 */
#include "helpers.h"

static tlog LOG;
static cr_event *GATE;
static int STARTED; /* children that have begun to run */

/* arg v: |v| < 1000: yield |v| loop turns (deterministic order), >= 1000:
 * sleep |v| ms (long enough to be cancelled); then succeed if v > 0 or fail
 * with v. v == GATED: wait on GATE, then fail with -EIO. */
#define GATED 7777
static int child(void *arg, void **r)
{
    (void)r;
    int v = PINT(arg), n = v < 0 ? -v : v, rc = 0;
    STARTED++;
    if (v == GATED) {
        rc = cr_event_wait(GATE);
        tlog_add(&LOG, "g:%d", rc);
        return rc < 0 ? rc : -EIO;
    }
    if (n >= 1000)
        rc = cr_sleep(n / 1000.0);
    for (int i = 0; i < n && n < 1000 && rc == 0; i++)
        rc = cr_sleep(0);
    tlog_add(&LOG, "c%d:%d", v, rc);
    if (rc < 0)
        return rc;
    return v < 0 ? v : 0;
}

struct plan {
    int n, kids[6];
    int want, nerr, errs[6];
    bool parent_sleeps; /* the parent awaits something before wait() */
};

static int group_main(void *arg, void **r)
{
    (void)r;
    struct plan *p = arg;
    cr_task_group *g;
    cr_assert_eq(cr_task_group_new(&g), 0);
    for (int i = 0; i < p->n; i++)
        cr_assert_eq(cr_task_group_create_task(g, child, IPTR(p->kids[i]), NULL, NULL), 0);
    if (GATE) {
        cr_sleep(0); /* every child waits on the gate now */
        cr_event_set(GATE); /* they all wake in the same turn, then fail */
    }
    if (p->parent_sleeps) {
        int rc = cr_sleep(1);
        tlog_add(&LOG, "parent:%d", rc);
    }
    int rc = cr_task_group_wait(g);
    cr_assert_eq(rc, p->want, "wait returned %d", rc);
    int errs[6];
    size_t n = cr_task_group_errors(g, errs, 6);
    cr_assert_eq(n, (size_t)p->nerr);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(errs[i], p->errs[i]);
    cr_assert_eq(cr_task_group_wait(g), -EALREADY);
    cr_assert_eq(cr_task_group_create_task(g, child, NULL, NULL, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0, "the group took its cancel back");
    cr_task_group_free(g);
    return 0;
}

/* All children succeed: wait returns 0 once all are done. */
Test(taskgroup, all_succeed)
{
    struct plan p = {.n = 3, .kids = {3, 1, 2}, .want = 0};
    RUN_EXPECT(group_main, &p, 0);
    LOG_EQ(&LOG, "c1:0 c2:0 c3:0");
}

/* One child fails: the others are cancelled; the error is reported. */
Test(taskgroup, one_failure_cancels_the_others)
{
    memset(&LOG, 0, sizeof LOG);
    struct plan p = {.n = 3, .kids = {50, -2, 1060}, .want = -2, .nerr = 1, .errs = {-2}};
    RUN_EXPECT(group_main, &p, 0);
    LOG_EQ(&LOG, "c-2:0 c50:-125 c1060:-125");
}

/* Several fail in the same turn: every error is kept; the survivor is
 * cancelled. */
Test(taskgroup, several_failures_all_reported)
{
    GATE = cr_event_new();
    struct plan p = {.n = 4, .kids = {GATED, GATED, 1000, GATED}, .want = -EIO, .nerr = 3,
                     .errs = {-EIO, -EIO, -EIO}};
    RUN_EXPECT(group_main, &p, 0);
    LOG_EQ(&LOG, "g:0 g:0 g:0 c1000:-125");
    cr_event_free(GATE);
}

/* Every child fails: all of the errors are reported. */
Test(taskgroup, all_fail)
{
    GATE = cr_event_new();
    struct plan p = {.n = 2, .kids = {GATED, GATED}, .want = -EIO, .nerr = 2,
                     .errs = {-EIO, -EIO}};
    RUN_EXPECT(group_main, &p, 0);
    cr_event_free(GATE);
}

static int fail_now(void *arg, void **r)
{
    (void)r;
    return PINT(arg);
}

static int fail_then_finish(void *arg, void **r)
{
    (void)r;
    int rc = cr_sleep(1);
    (void)rc;
    return PINT(arg); /* ignores the cancel, fails anyway */
}

static int mixed_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task_group *g;
    cr_task_group_new(&g);
    cr_task_group_create_task(g, fail_then_finish, IPTR(-EIO), NULL, NULL);
    cr_task_group_create_task(g, fail_now, IPTR(-ENOENT), NULL, NULL);
    int rc = cr_task_group_wait(g);
    int errs[4];
    cr_assert_eq(cr_task_group_errors(g, errs, 4), 2);
    cr_assert_eq(errs[0], -ENOENT);
    cr_assert_eq(errs[1], -EIO);
    cr_task_group_free(g);
    return rc;
}

/* Errors are reported in the order they happened; wait returns the first. */
Test(taskgroup, errors_in_order_of_occurrence)
{
    RUN_EXPECT(mixed_main, NULL, -ENOENT);
}

/* A child failing while the parent awaits something else cancels that await. */
Test(taskgroup, failure_cancels_the_parent_body)
{
    memset(&LOG, 0, sizeof LOG);
    struct plan p = {.n = 2, .kids = {-3, 40}, .want = -3, .nerr = 1, .errs = {-3},
                     .parent_sleeps = true};
    RUN_EXPECT(group_main, &p, 0);
    LOG_EQ(&LOG, "c-3:0 c40:-125 parent:-125");
}

static int parent(void *arg, void **r)
{
    (void)r;
    struct plan *p = arg;
    cr_task_group *g;
    cr_task_group_new(&g);
    for (int i = 0; i < p->n; i++)
        cr_task_group_create_task(g, child, IPTR(p->kids[i]), NULL, NULL);
    if (p->parent_sleeps)
        tlog_add(&LOG, "body:%d", cr_sleep(1));
    int rc = cr_task_group_wait(g);
    tlog_add(&LOG, "wait:%d", rc);
    cr_task_group_free(g);
    return rc;
}

static int cancel_parent_main(void *arg, void **r)
{
    (void)r;
    struct plan *p = arg;
    cr_task *t = cr_create_task(parent, arg);
    /* Yield until every child runs (so each has something to cancel): the
     * parent is then parked in wait or in its body's sleep. */
    for (int i = 0; i < 100 && STARTED < p->n; i++)
        cr_sleep(0);
    cr_assert_eq(STARTED, p->n);
    cr_cancel(t);
    int rc = cr_await(t, NULL);
    cr_future_unref(t);
    return rc;
}

/* Cancelling the parent while it waits cancels every child; wait: -ECANCELED. */
Test(taskgroup, parent_cancel_in_wait_cancels_children)
{
    memset(&LOG, 0, sizeof LOG);
    struct plan p = {.n = 2, .kids = {1000, 2000}};
    RUN_EXPECT(cancel_parent_main, &p, -ECANCELED);
    LOG_EQ(&LOG, "c1000:-125 c2000:-125 wait:-125");
}

/* Cancelling the parent in its body: wait still cancels and collects children. */
Test(taskgroup, parent_cancel_in_body_cancels_children)
{
    memset(&LOG, 0, sizeof LOG);
    struct plan p = {.n = 1, .kids = {1000}, .parent_sleeps = true};
    RUN_EXPECT(cancel_parent_main, &p, -ECANCELED);
    LOG_EQ(&LOG, "body:-125 c1000:-125 wait:-125");
}

static int misuse_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_assert_eq(cr_task_group_new(NULL), -EINVAL);
    cr_task_group *g;
    cr_assert_eq(cr_task_group_new(&g), 0);
    cr_assert_eq(cr_task_group_create_task(g, NULL, NULL, NULL, NULL), -EINVAL);
    cr_task *t;
    cr_assert_eq(cr_task_group_create_task(g, child, IPTR(1), NULL, &t), 0);
    cr_assert(cr_is_task(t));
    cr_assert_eq(cr_task_group_wait(g), 0);
    cr_assert(cr_future_done(t));
    cr_future_unref(t);
    cr_task_group_free(g);
    /* freed without wait: children are cancelled, nothing leaks */
    cr_task_group_new(&g);
    cr_task_group_create_task(g, child, IPTR(500), NULL, NULL);
    cr_task_group_free(g);
    return 0;
}

/* Misuse gets errors; a group freed without wait cancels its children. */
Test(taskgroup, misuse_and_free_without_wait)
{
    cr_task_group *g;
    cr_assert_eq(cr_task_group_new(&g), -EPERM, "outside a task");
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(misuse_main, NULL, 0);
}
