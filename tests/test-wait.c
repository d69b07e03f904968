/* SPDX-License-Identifier: MIT */
/*
 * Description: the suspending combinators — sleep ordering and cr_sleep(0)
 * fairness, gather, wait, wait_for, shield and as_completed. Every test
 * asserts order, never speed: a child that must still be pending when the
 * test looks waits on an event the test sets (job.gate), and children that
 * finish "one after another" are released in that order by a driver task
 * that counts loop turns, not milliseconds (spawn_timed), so their order and
 * the test's reactions between them are the same on any machine.
 */
#include "helpers.h"
#include <math.h>

/* A child: wait, log, then return `val` (or fail with it if negative).
 * It waits on `gate` if set (the test or the driver decides when it
 * finishes), else it sleeps `ms`. */
struct job {
    tlog *log;
    const char *name;
    int ms;
    int val;
    bool swallow; /* ignore a cancel and return val anyway */
    cr_event *gate;
};

static int job_run(void *arg, void **result)
{
    struct job *j = arg;
    int rc = j->gate ? cr_event_wait(j->gate) : cr_sleep(j->ms / 1000.0);
    if (rc < 0) {
        tlog_add(j->log, "%s-cancelled", j->name);
        cr_sleep(0.002); /* cleanup that suspends: others must wait for it */
        tlog_add(j->log, "%s-cleanup", j->name);
        if (!j->swallow)
            return rc;
    } else {
        tlog_add(j->log, "%s-done", j->name);
    }
    if (j->val < 0)
        return j->val;
    *result = IPTR(j->val);
    return 0;
}

static void spawn_all(struct job *j, cr_task **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t[i] = cr_create_task(job_run, &j[i]);
}

static cr_task *spawn(struct job *j)
{
    cr_task *t;
    spawn_all(j, &t, 1);
    return t;
}

/* Loop turns the driver lets pass before it releases the next child: a
 * completion reaches a waiting task within a few turns (done callbacks never
 * run inline), and the waiter then logs and waits again. Turns, not time. */
#define SETTLE_TURNS 20

/* Children finishing one after another in the order of their `ms` (a rank
 * here, not a duration; 10000 = never: such a child is cancelled). */
struct timeline {
    struct job *j;
    size_t n;
    cr_event *ev[4];
    cr_task *driver;
};

static int drive(void *arg, void **result)
{
    (void)result;
    struct timeline *tl = arg;
    for (int last = -1;;) {
        int next = -1;
        for (size_t i = 0; i < tl->n; i++)
            if (tl->j[i].ms > last && tl->j[i].ms < 10000 &&
                (next < 0 || tl->j[i].ms < tl->j[next].ms))
                next = (int)i;
        if (next < 0)
            return 0;
        for (int k = 0; k < SETTLE_TURNS; k++)
            cr_assert_eq(cr_sleep(0), 0);
        cr_assert_eq(cr_event_set(tl->ev[next]), 0);
        last = tl->j[next].ms;
    }
}

/* Spawn the children gated, plus the driver that releases them by rank. */
static void spawn_timed(struct timeline *tl, struct job *j, cr_task **t, size_t n)
{
    cr_assert_leq(n, 4);
    *tl = (struct timeline){.j = j, .n = n};
    for (size_t i = 0; i < n; i++) {
        tl->ev[i] = cr_event_new();
        j[i].gate = tl->ev[i];
    }
    spawn_all(j, t, n);
    tl->driver = cr_create_task(drive, tl);
}

/* After every released child is done: collect the driver, free the gates. */
static void timeline_end(struct timeline *tl)
{
    cr_assert_eq(cr_await(tl->driver, NULL), 0);
    cr_future_unref(tl->driver);
    for (size_t i = 0; i < tl->n; i++)
        cr_assert_eq(cr_event_free(tl->ev[i]), 0);
}

/* Yield until f is done: loop turns, bounded, never a guessed time. */
static void yield_until_done(cr_future *f)
{
    for (int i = 0; i < 1000 && !cr_future_done(f); i++)
        cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_future_done(f));
}

static void unref_all(cr_task **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_future_unref(t[i]);
}

/* ---- sleep ---- */

/* A sleeper for the one test whose subject is cr_sleep's own order. */
struct sleeper {
    tlog *log;
    const char *name;
    int ms;
    cr_event *go;
    int64_t until; /* loop time (ns) to sleep until, set before go */
};

static int sleep_until(void *arg, void **result)
{
    (void)result;
    struct sleeper *z = arg;
    cr_assert_eq(cr_event_wait(z->go), 0);
    /* cr_sleep is relative and reads the clock itself, a few instructions
     * after this read: the deadlines keep their 149 ms gaps to within that. */
    int64_t left = z->until - cr_loop_time_ns(cr_get_running_loop(NULL));
    cr_assert_eq(cr_sleep_ns(left), 0);
    tlog_add(z->log, "%s-done", z->name);
    return 0;
}

static int sleep_order_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    /* Every sleeper is started (a fiber under TSan: milliseconds) and parked
     * on go first; then all get deadlines from one instant and arm them in
     * the same loop turn. So how long starting them takes cannot reorder
     * them, and neither can a slow, loaded machine. */
    cr_event *go = cr_event_new();
    struct sleeper z[] = {{log, "a", 300, go, 0}, {log, "b", 1, go, 0}, {log, "c", 150, go, 0}};
    cr_task *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = cr_create_task(sleep_until, &z[i]);
    cr_assert_eq(cr_sleep(0), 0); /* all three wait on go now */
    int64_t t0 = cr_loop_time_ns(cr_get_running_loop(NULL));
    for (int i = 0; i < 3; i++)
        z[i].until = t0 + z[i].ms * 1000000LL;
    cr_assert_eq(cr_event_set(go), 0);
    cr_assert_eq(cr_gather(t, 3, NULL, NULL, 0), 0);
    unref_all(t, 3);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* Sleepers wake in deadline order, not creation order. */
Test(wait, sleepers_wake_in_deadline_order)
{
    tlog log = {{0}};
    RUN_EXPECT(sleep_order_main, &log, 0);
    LOG_EQ(&log, "b-done c-done a-done");
}

static int yielder(void *arg, void **result)
{
    (void)result;
    struct job *j = arg;
    for (int i = 0; i < 3; i++) {
        tlog_add(j->log, "%s%d", j->name, i);
        cr_assert_eq(cr_sleep(0), 0);
    }
    return 0;
}

static int alternate_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job a = {log, "a", 0, 0, 0, NULL}, b = {log, "b", 0, 0, 0, NULL};
    cr_task *t[2] = {cr_create_task(yielder, &a), cr_create_task(yielder, &b)};
    cr_assert_eq(cr_gather(t, 2, NULL, NULL, 0), 0);
    unref_all(t, 2);
    return 0;
}

/* cr_sleep(0) lets every ready task run first: two yielders strictly alternate. */
Test(wait, sleep_zero_alternates_strictly)
{
    tlog log = {{0}};
    RUN_EXPECT(alternate_main, &log, 0);
    LOG_EQ(&log, "a0 b0 a1 b1 a2 b2");
}

/* ---- gather ---- */

static int gather_order_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 3, 1, 0, NULL},
                      {log, "b", 1, 2, 0, NULL},
                      {log, "c", 2, 3, 0, NULL}};
    cr_task *t[4];
    struct timeline tl; /* ms ranks them: they finish in that order */
    spawn_timed(&tl, j, t, 3);
    cr_future *ready = cr_future_new(NULL); /* an already-done future mixes in */
    cr_future_set_result(ready, IPTR(4));
    t[3] = ready;
    void *r[4] = {0};
    int e[4] = {9, 9, 9, 9};
    cr_assert_eq(cr_gather(t, 4, r, e, 0), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(PINT(r[i]), i + 1, "results[%d] = %d", i, PINT(r[i]));
        cr_assert_eq(e[i], 0);
    }
    timeline_end(&tl);
    unref_all(t, 4);
    return 0;
}

/* gather: results in argument order whatever the completion order. */
Test(wait, gather_results_in_argument_order)
{
    tlog log = {{0}};
    RUN_EXPECT(gather_order_main, &log, 0);
    LOG_EQ(&log, "b-done c-done a-done");
}

static int gather_error_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_event *go = cr_event_new(); /* a and c finish (in that order) once we have looked */
    struct job j[] = {{log, "a", 0, 1, 0, go},
                      {log, "b", 1, -EIO, 0, NULL},
                      {log, "c", 0, 3, 0, go}};
    cr_task *t[3];
    spawn_all(j, t, 3);
    void *r[3];
    cr_assert_eq(cr_gather(t, 3, r, NULL, 0), -EIO);
    tlog_add(log, "gather-returned");
    cr_assert_not(cr_future_done(t[0]), "the others keep running");
    cr_assert_not(cr_future_done(t[2]));
    cr_assert_eq(cr_event_set(go), 0);
    void *v;
    cr_assert_eq(cr_await(t[0], &v), 0);
    cr_assert_eq(PINT(v), 1);
    cr_assert_eq(cr_await(t[2], &v), 0);
    cr_assert_eq(PINT(v), 3);
    unref_all(t, 3);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* gather: the first error is returned as it happens; the others are not cancelled. */
Test(wait, gather_returns_first_error_others_keep_running)
{
    tlog log = {{0}};
    RUN_EXPECT(gather_error_main, &log, 0);
    LOG_EQ(&log, "b-done gather-returned a-done c-done");
}

static int gather_exc_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 3, -EIO, 0, NULL},
                      {log, "b", 1, 2, 0, NULL},
                      {log, "c", 2, -ENOENT, 0, NULL}};
    cr_task *t[3];
    struct timeline tl; /* ms ranks them: they finish in that order */
    spawn_timed(&tl, j, t, 3);
    void *r[3];
    int e[3];
    cr_assert_eq(cr_gather(t, 3, r, e, CR_RETURN_EXCEPTIONS), 0);
    cr_assert_eq(e[0], -EIO);
    cr_assert_eq(e[1], 0);
    cr_assert_eq(e[2], -ENOENT);
    cr_assert_null(r[0]);
    cr_assert_eq(PINT(r[1]), 2);
    cr_assert_null(r[2]);
    for (int i = 0; i < 3; i++)
        cr_assert(cr_future_done(t[i]), "all done before it returns");
    timeline_end(&tl);
    unref_all(t, 3);
    return 0;
}

/* gather with CR_RETURN_EXCEPTIONS waits for all and fills errors[]. */
Test(wait, gather_return_exceptions_fills_errors)
{
    tlog log = {{0}};
    RUN_EXPECT(gather_exc_main, &log, 0);
    LOG_EQ(&log, "b-done c-done a-done");
}

struct gatherer {
    tlog *log;
    cr_task *kids[2];
};

static int gathering(void *arg, void **result)
{
    (void)result;
    struct gatherer *g = arg;
    int rc = cr_gather(g->kids, 2, NULL, NULL, 0);
    tlog_add(g->log, "gather:%d k0:%d k1:%d", rc, cr_future_cancelled(g->kids[0]),
             cr_future_cancelled(g->kids[1]));
    return rc;
}

static int gather_cancel_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 10000, 1, 0, NULL}, {log, "b", 10000, 2, 0, NULL}};
    struct gatherer g = {log, {NULL, NULL}};
    spawn_all(j, g.kids, 2);
    cr_task *gt = cr_create_task(gathering, &g);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(log, "cancel");
    cr_assert(cr_cancel(gt));
    cr_assert_eq(cr_await(gt, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(gt));
    unref_all(g.kids, 2);
    cr_future_unref(gt);
    return 0;
}

/* Cancelling the gathering task cancels every child and returns -ECANCELED only after they finish. */
Test(wait, gather_cancel_cancels_children_and_waits)
{
    tlog log = {{0}};
    RUN_EXPECT(gather_cancel_main, &log, 0);
    char want[160];
    snprintf(want, sizeof want, "cancel a-cancelled b-cancelled a-cleanup b-cleanup gather:%d k0:1 k1:1",
             -ECANCELED);
    LOG_EQ(&log, want);
}

static int gather_edge_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_assert_eq(cr_gather(NULL, 0, NULL, NULL, 0), 0, "n == 0 returns at once");
    cr_future *f = cr_future_new(NULL);
    cr_assert_eq(cr_gather(&f, 1, NULL, NULL, 1u << 7), -EINVAL, "unknown flag");
    cr_assert_eq(cr_gather(NULL, 1, NULL, NULL, 0), -EINVAL);
    cr_future *bad[] = {f, NULL};
    cr_assert_eq(cr_gather(bad, 2, NULL, NULL, 0), -EINVAL);
    cr_assert_not(cr_future_done(f), "a refused gather touches nothing");
    cr_future_unref(f);
    return 0;
}

/* gather of nothing is 0; bad arguments are -EINVAL. */
Test(wait, gather_edge_cases)
{
    RUN_EXPECT(gather_edge_main, NULL, 0);
}

/* ---- wait ---- */

static int wait_modes_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 3, 1, 0, NULL},
                      {log, "b", 1, 2, 0, NULL},
                      {log, "c", 2, -EIO, 0, NULL}};
    cr_task *t[3];
    struct timeline tl; /* ms ranks them: they finish in that order */
    spawn_timed(&tl, j, t, 3);
    cr_future *done[3], *pend[3];
    size_t nd, np;
    cr_assert_eq(cr_wait(t, 3, -1, CR_FIRST_COMPLETED, done, &nd, pend, &np), 0);
    tlog_add(log, "first-completed");
    cr_assert_eq(nd, 1);
    cr_assert_eq(done[0], t[1]);
    cr_assert_eq(np, 2);
    cr_assert_eq(pend[0], t[0], "pending keeps argument order");
    cr_assert_eq(pend[1], t[2]);
    cr_assert_eq(cr_wait(t, 3, -1, CR_FIRST_EXCEPTION, done, &nd, pend, &np), 0);
    tlog_add(log, "first-exception");
    cr_assert_eq(nd, 2);
    cr_assert_eq(done[0], t[1]);
    cr_assert_eq(done[1], t[2]);
    cr_assert_eq(np, 1);
    cr_assert_eq(cr_wait(t, 3, -1, CR_ALL_COMPLETED, done, &nd, NULL, &np), 0);
    tlog_add(log, "all-completed");
    cr_assert_eq(nd, 3);
    cr_assert_eq(np, 0);
    timeline_end(&tl);
    unref_all(t, 3);
    return 0;
}

/* wait returns when its condition holds: first completed, first error, all. */
Test(wait, wait_return_when_modes)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_modes_main, &log, 0);
    LOG_EQ(&log, "b-done first-completed c-done first-exception a-done all-completed");
}

static int first_exception_all_ok_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 2, 1, 0, NULL}, {log, "b", 1, 2, 0, NULL}};
    cr_task *t[2];
    struct timeline tl; /* ms ranks them: they finish in that order */
    spawn_timed(&tl, j, t, 2);
    size_t nd = 0, np = 9;
    cr_assert_eq(cr_wait(t, 2, -1, CR_FIRST_EXCEPTION, NULL, &nd, NULL, &np), 0);
    cr_assert_eq(nd, 2, "no error: FIRST_EXCEPTION waits for all");
    cr_assert_eq(np, 0);
    timeline_end(&tl);
    unref_all(t, 2);
    return 0;
}

/* FIRST_EXCEPTION without any error behaves like ALL_COMPLETED. */
Test(wait, wait_first_exception_without_error_waits_for_all)
{
    tlog log = {{0}};
    RUN_EXPECT(first_exception_all_ok_main, &log, 0);
    LOG_EQ(&log, "b-done a-done");
}

static int wait_timeout_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    /* a is done before the wait (a timer would race it); b only once the
     * test sets go */
    cr_event *go = cr_event_new();
    struct job j[] = {{log, "a", 0, 1, 0, NULL}, {log, "b", 0, 2, 0, go}};
    cr_task *t[2];
    spawn_all(j, t, 2);
    yield_until_done(t[0]);
    cr_future *done[2], *pend[2];
    size_t nd, np;
    cr_assert_eq(cr_wait(t, 2, 0.2, CR_ALL_COMPLETED, done, &nd, pend, &np), 0,
                 "a timeout is not an error");
    tlog_add(log, "timeout");
    cr_assert_eq(nd, 1);
    cr_assert_eq(done[0], t[0]);
    cr_assert_eq(np, 1);
    cr_assert_eq(pend[0], t[1]);
    cr_assert_not(cr_future_cancelled(t[1]), "the timeout cancels nothing");
    cr_assert_eq(cr_wait(t, 2, 0, CR_ALL_COMPLETED, NULL, &nd, NULL, &np), 0);
    cr_assert_eq(np, 1, "timeout 0 just looks");
    cr_assert_eq(cr_event_set(go), 0);
    void *v;
    cr_assert_eq(cr_await(t[1], &v), 0);
    cr_assert_eq(PINT(v), 2);
    unref_all(t, 2);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* wait's timeout returns done/pending and cancels nothing. */
Test(wait, wait_timeout_cancels_nothing)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_timeout_main, &log, 0);
    LOG_EQ(&log, "a-done timeout b-done");
}

static int wait_misuse_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_future *f = cr_future_new(NULL);
    size_t nd = 7, np = 7;
    cr_assert_eq(cr_wait(&f, 0, -1, CR_ALL_COMPLETED, NULL, &nd, NULL, &np), -EINVAL,
                 "an empty set is an error");
    cr_assert_eq(nd, 0);
    cr_assert_eq(np, 0);
    cr_assert_eq(cr_wait(NULL, 1, -1, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_wait(&f, 1, -1, 0, NULL, NULL, NULL, NULL), -EINVAL, "bad return_when");
    cr_assert_eq(cr_wait(&f, 1, -1, 4, NULL, NULL, NULL, NULL), -EINVAL);
    cr_future_unref(f);
    return 0;
}

/* wait of an empty set or with bad arguments is -EINVAL. */
Test(wait, wait_misuse_is_einval)
{
    RUN_EXPECT(wait_misuse_main, NULL, 0);
}

static int waiting(void *arg, void **result)
{
    (void)result;
    struct gatherer *g = arg;
    int rc = cr_wait(g->kids, 2, -1, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL);
    tlog_add(g->log, "wait:%d", rc);
    return rc;
}

static int wait_cancel_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    /* The children stay pending until the test sets go (never a timer: the
     * cancel and await must not race their finishing), then finish a, b. */
    cr_event *go = cr_event_new();
    struct job j[] = {{log, "a", 0, 1, 0, go}, {log, "b", 0, 2, 0, go}};
    struct gatherer g = {log, {NULL, NULL}};
    spawn_all(j, g.kids, 2);
    cr_task *wt = cr_create_task(waiting, &g);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_cancel(wt));
    cr_assert_eq(cr_await(wt, NULL), -ECANCELED);
    tlog_add(log, "waiter-cancelled");
    cr_assert_not(cr_future_done(g.kids[0]), "children unharmed");
    cr_assert_not(cr_future_done(g.kids[1]));
    cr_assert_eq(cr_event_set(go), 0);
    cr_assert_eq(cr_gather(g.kids, 2, NULL, NULL, 0), 0, "children unharmed");
    unref_all(g.kids, 2);
    cr_future_unref(wt);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* Cancelling a task in cr_wait returns -ECANCELED at once and cancels none of the children. */
Test(wait, wait_cancel_leaves_children_alone)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_cancel_main, &log, 0);
    char want[96];
    snprintf(want, sizeof want, "wait:%d waiter-cancelled a-done b-done", -ECANCELED);
    LOG_EQ(&log, want);
}

/* ---- wait_for ---- */

static int wait_for_timeout_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j = {log, "inner", 10000, 1, 0, NULL};
    cr_task *t = spawn(&j);
    cr_assert_eq(cr_sleep(0), 0); /* exact: the inner sleeps before any timer fires */
    void *v = IPTR(5);
    int rc = cr_wait_for(t, 0.01, &v);
    tlog_add(log, "wait_for:%d", rc);
    cr_assert_eq(rc, -ETIMEDOUT);
    cr_assert_null(v);
    cr_assert(cr_future_cancelled(t), "the inner was cancelled and has finished");
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0);
    cr_future_unref(t);
    return 0;
}

/* wait_for's timeout cancels the inner and waits for its cleanup before returning -ETIMEDOUT. */
Test(wait, wait_for_timeout_waits_for_inner_cleanup)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_for_timeout_main, &log, 0);
    char want[96];
    snprintf(want, sizeof want, "inner-cancelled inner-cleanup wait_for:%d", -ETIMEDOUT);
    LOG_EQ(&log, want);
}

static int wait_for_variants_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    void *v;
    /* timeout 0 on a done future: its result */
    cr_future *f = cr_future_new(NULL);
    cr_future_set_result(f, IPTR(8));
    cr_assert_eq(cr_wait_for(f, 0, &v), 0);
    cr_assert_eq(PINT(v), 8);
    cr_future_unref(f);
    /* timeout 0 on a pending plain future: cancelled, -ETIMEDOUT */
    f = cr_future_new(NULL);
    cr_assert_eq(cr_wait_for(f, 0, &v), -ETIMEDOUT);
    cr_assert(cr_future_cancelled(f));
    cr_future_unref(f);
    /* timeout 0 on a pending task: cancelled, waited for */
    struct job a = {log, "a", 10000, 1, 0, NULL};
    cr_task *t = spawn(&a);
    cr_assert_eq(cr_sleep(0), 0); /* started, so it has cleanup to wait for */
    cr_assert_eq(cr_wait_for(t, 0, &v), -ETIMEDOUT);
    cr_assert(cr_future_done(t));
    cr_future_unref(t);
    /* no timeout (< 0): waits as long as it takes */
    struct job b = {log, "b", 20, 2, 0, NULL};
    t = spawn(&b);
    cr_assert_eq(cr_wait_for(t, -1, &v), 0);
    cr_assert_eq(PINT(v), 2);
    cr_future_unref(t);
    /* finishing before the timeout: its result, and the timer is gone */
    struct job c = {log, "c", 2, 3, 0, NULL};
    t = spawn(&c);
    cr_assert_eq(cr_wait_for(t, 5, &v), 0);
    cr_assert_eq(PINT(v), 3);
    cr_future_unref(t);
    /* an error of the inner comes through as is */
    struct job d = {log, "d", 1, -EIO, 0, NULL};
    t = spawn(&d);
    cr_assert_eq(cr_wait_for(t, 5, &v), -EIO);
    cr_future_unref(t);
    return 0;
}

/* wait_for with timeout 0 (done and pending), no timeout, an early result, an error. */
Test(wait, wait_for_variants)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_for_variants_main, &log, 0);
    LOG_EQ(&log, "a-cancelled a-cleanup b-done c-done d-done");
}

static int wait_for_race_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j = {log, "inner", 10000, 77, true, NULL};
    cr_task *t = spawn(&j);
    cr_assert_eq(cr_sleep(0), 0); /* exact: the inner sleeps before any timer fires */
    void *v = NULL;
    cr_assert_eq(cr_wait_for(t, 0.005, &v), 0, "the inner's result wins");
    cr_assert_eq(PINT(v), 77);
    cr_assert_not(cr_future_cancelled(t));
    cr_future_unref(t);
    return 0;
}

/* If the inner ignores the cancel and returns a result, wait_for returns that result. */
Test(wait, wait_for_inner_result_wins)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_for_race_main, &log, 0);
    LOG_EQ(&log, "inner-cancelled inner-cleanup");
}

struct wf {
    tlog *log;
    cr_task *inner;
};

static int wait_for_in_task(void *arg, void **result)
{
    (void)result;
    struct wf *w = arg;
    int rc = cr_wait_for(w->inner, 10, NULL);
    tlog_add(w->log, "wait_for:%d", rc);
    return rc;
}

static int wait_for_cancel_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j = {log, "inner", 10000, 1, 0, NULL};
    struct wf w = {log, spawn(&j)};
    cr_task *outer = cr_create_task(wait_for_in_task, &w);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_cancel(outer));
    cr_assert_eq(cr_await(outer, NULL), -ECANCELED);
    cr_assert(cr_future_cancelled(w.inner));
    cr_future_unref(w.inner);
    cr_future_unref(outer);
    return 0;
}

/* Cancelling a task in wait_for cancels the inner, waits for it, returns -ECANCELED (not -ETIMEDOUT). */
Test(wait, wait_for_cancel_propagates)
{
    tlog log = {{0}};
    RUN_EXPECT(wait_for_cancel_main, &log, 0);
    char want[96];
    snprintf(want, sizeof want, "inner-cancelled inner-cleanup wait_for:%d", -ECANCELED);
    LOG_EQ(&log, want);
}

/* ---- shield ---- */

static int await_shielded(void *arg, void **result)
{
    (void)result;
    struct wf *w = arg;
    cr_future *s = cr_shield(w->inner);
    cr_assert_not_null(s);
    int rc = cr_await(s, NULL);
    tlog_add(w->log, "outer:%d", rc);
    cr_future_unref(s);
    return rc;
}

static int shield_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_event *go = cr_event_new(); /* the inner finishes once we have looked */
    struct job j = {log, "inner", 0, 5, 0, go};
    struct wf w = {log, spawn(&j)};
    cr_task *outer = cr_create_task(await_shielded, &w);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert(cr_cancel(outer));
    cr_assert_eq(cr_await(outer, NULL), -ECANCELED);
    tlog_add(log, "outer-gone");
    cr_assert_not(cr_future_done(w.inner), "the inner keeps running");
    cr_assert_eq(cr_event_set(go), 0);
    void *v;
    cr_assert_eq(cr_await(w.inner, &v), 0);
    cr_assert_eq(PINT(v), 5, "and its result still arrives");
    cr_future_unref(w.inner);
    cr_future_unref(outer);
    cr_assert_eq(cr_event_free(go), 0);

    /* A shield of a done future is that future; a shield mirrors errors. */
    cr_future *f = cr_future_new(NULL);
    cr_future_set_result(f, IPTR(1));
    cr_future *s = cr_shield(f);
    cr_assert_eq(s, f);
    cr_future_unref(s);
    cr_future_unref(f);
    f = cr_future_new(NULL);
    s = cr_shield(f);
    cr_assert_neq(s, f);
    cr_future_set_error(f, -EBADF);
    cr_assert_eq(cr_await(s, NULL), -EBADF);
    cr_future_unref(s);
    cr_future_unref(f);
    cr_assert_null(cr_shield(NULL));
    return 0;
}

/* shield: cancelling the outer leaves the inner running and its result still arrives. */
Test(wait, shield_keeps_inner_running)
{
    tlog log = {{0}};
    RUN_EXPECT(shield_main, &log, 0);
    char want[96];
    snprintf(want, sizeof want, "outer:%d outer-gone inner-done", -ECANCELED);
    LOG_EQ(&log, want);
}

/* ---- as_completed ---- */

static int as_completed_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    struct job j[] = {{log, "a", 3, 1, 0, NULL},
                      {log, "b", 1, 2, 0, NULL},
                      {log, "c", 2, 3, 0, NULL}};
    cr_task *t[3];
    struct timeline tl; /* ms ranks them: they finish in that order */
    spawn_timed(&tl, j, t, 3);
    cr_as_completed *it = cr_as_completed_new(t, 3, -1);
    cr_assert_not_null(it);
    cr_future *f;
    while (cr_as_completed_next(it, &f) == 0) {
        void *v;
        cr_assert_eq(cr_future_result(f, &v), 0);
        tlog_add(log, "got%d", PINT(v));
    }
    cr_assert_eq(cr_as_completed_next(it, &f), -ENOENT, "-ENOENT at the end, every time");
    cr_assert_null(f);
    cr_as_completed_free(it);
    timeline_end(&tl);
    unref_all(t, 3);
    return 0;
}

/* as_completed yields in completion order, then -ENOENT. */
Test(wait, as_completed_in_completion_order)
{
    tlog log = {{0}};
    RUN_EXPECT(as_completed_main, &log, 0);
    LOG_EQ(&log, "b-done got2 c-done got3 a-done got1");
}

static int as_completed_timeout_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    /* a is done before the iterator starts, b never (it is cancelled below) */
    struct job j[] = {{log, "a", 0, 1, 0, NULL}, {log, "b", 10000, 2, 0, NULL}};
    cr_task *t[2];
    spawn_all(j, t, 2);
    yield_until_done(t[0]);
    cr_as_completed *it = cr_as_completed_new(t, 2, 0.2);
    cr_future *f;
    cr_assert_eq(cr_as_completed_next(it, &f), 0);
    cr_assert_eq(f, t[0]);
    cr_assert_eq(cr_as_completed_next(it, &f), -ETIMEDOUT);
    tlog_add(log, "timeout");
    cr_assert_eq(cr_as_completed_next(it, &f), -ETIMEDOUT, "stays timed out");
    cr_assert_not(cr_future_done(t[1]), "the timeout cancels nothing");
    cr_as_completed_free(it);
    cr_assert(cr_cancel(t[1]));
    cr_assert_eq(cr_await(t[1], NULL), -ECANCELED);
    cr_assert_null(cr_as_completed_new(NULL, 1, -1));
    unref_all(t, 2);
    /* an empty iterator ends at once */
    it = cr_as_completed_new(NULL, 0, -1);
    cr_assert_not_null(it);
    cr_assert_eq(cr_as_completed_next(it, &f), -ENOENT);
    cr_as_completed_free(it);
    cr_assert_eq(cr_as_completed_next(NULL, &f), -EINVAL);
    return 0;
}

/* as_completed's overall timeout gives -ETIMEDOUT and cancels nothing. */
Test(wait, as_completed_timeout)
{
    tlog log = {{0}};
    RUN_EXPECT(as_completed_timeout_main, &log, 0);
    LOG_EQ(&log, "a-done timeout b-cancelled b-cleanup");
}

static int nan_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_assert_eq(cr_sleep(NAN), -EINVAL, "NaN is a bad argument (coring.h, Times)");
    cr_assert_eq(cr_sleep(-1), 0);
    cr_future *f = cr_future_new(NULL);
    cr_assert_eq(cr_wait_for(f, NAN, NULL), -EINVAL, "NaN is a bad argument");
    cr_future_unref(f);
    return 0;
}

/* Odd durations (negative, NaN) never hang or hit undefined conversions. */
Test(wait, odd_durations_are_safe)
{
    RUN_EXPECT(nan_main, NULL, 0);
}

struct drop_wait {
    tlog *log;
    cr_task *t;
};

static int gather_then_drop(void *arg, void **result)
{
    (void)result;
    struct drop_wait *w = arg;
    int rc = cr_gather(&w->t, 1, NULL, NULL, 0);
    tlog_add(w->log, "gather:%d", rc);
    cr_future_unref(w->t); /* last reference, another task still waits on it */
    return rc;
}

static int wait_for_only(void *arg, void **result)
{
    (void)result;
    struct drop_wait *w = arg;
    void *v;
    int rc = cr_wait_for(w->t, 10, &v);
    tlog_add(w->log, "wait_for:%d", PINT(v));
    return rc;
}

static int wait_only(void *arg, void **result)
{
    (void)result;
    struct drop_wait *w = arg;
    size_t nd = 0;
    int rc = cr_wait(&w->t, 1, 10, CR_ALL_COMPLETED, NULL, &nd, NULL, NULL);
    tlog_add(w->log, "wait:%zu", nd);
    return rc;
}

static int drop_main(void *arg, void **result)
{
    (void)result;
    cr_event *go = cr_event_new(); /* j finishes only once all three wait on it */
    struct job j = {arg, "j", 0, 9, 0, go};
    struct drop_wait w = {arg, spawn(&j)};
    cr_task *ts[] = {cr_create_task(gather_then_drop, &w), cr_create_task(wait_for_only, &w),
                     cr_create_task(wait_only, &w)};
    cr_assert_eq(cr_sleep(0), 0); /* j and the three waiters have all started */
    cr_assert_eq(cr_event_set(go), 0);
    cr_assert_eq(cr_gather(ts, 3, NULL, NULL, 0), 0);
    unref_all(ts, 3);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* gather, wait_for and wait keep what they wait for alive until they return. */
Test(wait, waits_keep_their_futures_alive)
{
    tlog log = {{0}};
    RUN_EXPECT(drop_main, &log, 0);
    LOG_EQ(&log, "j-done gather:0 wait_for:9 wait:1");
}

static int ac_next(void *arg, void **result)
{
    (void)result;
    cr_future *f;
    return cr_as_completed_next(arg, &f);
}

static int ac_two_waiters_main(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    cr_event *go = cr_event_new(); /* a stays pending until we set go */
    struct job j = {log, "a", 0, 1, 0, go};
    cr_task *t = spawn(&j);
    cr_as_completed *it = cr_as_completed_new(&t, 1, -1);
    cr_task *first = cr_create_task(ac_next, it);
    cr_assert_eq(cr_sleep(0), 0); /* first is waiting in next() */
    cr_future *f;
    cr_assert_eq(cr_as_completed_next(it, &f), -EBUSY, "one waiter at a time");
    cr_assert_eq(cr_event_set(go), 0);
    cr_assert_eq(cr_await(first, NULL), 0, "the first waiter still gets its future");
    cr_as_completed_free(it);
    cr_future_unref(first);
    cr_future_unref(t);
    cr_assert_eq(cr_event_free(go), 0);
    return 0;
}

/* A second task waiting on the same as_completed iterator gets -EBUSY; the first is not lost. */
Test(wait, as_completed_one_waiter_at_a_time)
{
    tlog log = {{0}};
    RUN_EXPECT(ac_two_waiters_main, &log, 0);
    LOG_EQ(&log, "a-done");
}
