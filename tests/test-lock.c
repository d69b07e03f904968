/* SPDX-License-Identifier: MIT */
/*
 * Description: cr_lock, asyncio.Lock for tasks — mutual exclusion across
 * awaits, FIFO hand-off among waiters, release misuse, cancelled waiters, and
 * the CR_LOCK_GUARD scope guard.
 */
#include "helpers.h"

struct shared {
    tlog log;
    cr_lock *lock;
    int inside;
    cr_task *t[4];
};

struct worker {
    struct shared *s;
    const char *name;
};

static int critical(void *arg, void **result)
{
    (void)result;
    struct worker *w = arg;
    int rc = cr_lock_acquire(w->s->lock);
    if (rc < 0) {
        tlog_add(&w->s->log, "%s:%d", w->name, rc);
        return rc;
    }
    cr_assert_eq(w->s->inside++, 0, "two tasks inside the lock");
    tlog_add(&w->s->log, "%s-in", w->name);
    cr_assert_eq(cr_sleep(0.002), 0); /* hold it across an await */
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(&w->s->log, "%s-out", w->name);
    w->s->inside--;
    cr_assert_eq(cr_lock_release(w->s->lock), 0);
    return 0;
}

static int fifo_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    struct worker w[] = {{s, "a"}, {s, "b"}, {s, "c"}, {s, "d"}};
    for (int i = 0; i < 4; i++)
        s->t[i] = cr_create_task(critical, &w[i]);
    cr_assert_eq(cr_gather(s->t, 4, NULL, NULL, 0), 0);
    for (int i = 0; i < 4; i++)
        cr_future_unref(s->t[i]);
    cr_assert_not(cr_lock_locked(s->lock));
    return 0;
}

/* One task at a time holds the lock across awaits; waiters get it in FIFO order. */
Test(lock, mutual_exclusion_and_fifo)
{
    struct shared s = {.lock = cr_lock_new()};
    cr_assert_not_null(s.lock);
    RUN_EXPECT(fifo_main, &s, 0);
    LOG_EQ(&s.log, "a-in a-out b-in b-out c-in c-out d-in d-out");
    cr_lock_free(s.lock);
}

static int barger(void *arg, void **result)
{
    (void)result;
    struct worker *w = arg;
    tlog_add(&w->s->log, "%s-try", w->name);
    cr_assert_eq(cr_lock_acquire(w->s->lock), 0);
    tlog_add(&w->s->log, "%s-in", w->name);
    return cr_lock_release(w->s->lock);
}

static int no_barging_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    struct worker a = {s, "a"}, late = {s, "late"};
    cr_assert_eq(cr_lock_acquire(s->lock), 0);
    s->t[0] = cr_create_task(barger, &a);
    cr_assert_eq(cr_sleep(0), 0); /* a queues */
    s->t[1] = cr_create_task(barger, &late); /* will run before a resumes */
    cr_assert_eq(cr_lock_release(s->lock), 0);
    cr_assert(cr_lock_locked(s->lock), "handed to a, never free in between");
    cr_assert_eq(cr_gather(s->t, 2, NULL, NULL, 0), 0);
    cr_future_unref(s->t[0]);
    cr_future_unref(s->t[1]);
    return 0;
}

/* A release hands the lock straight to the first waiter; a later arrival cannot barge in. */
Test(lock, release_hands_off_without_barging)
{
    struct shared s = {.lock = cr_lock_new()};
    RUN_EXPECT(no_barging_main, &s, 0);
    LOG_EQ(&s.log, "a-try late-try a-in late-in");
    cr_lock_free(s.lock);
}

static int misuse_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_lock *l = cr_lock_new();
    cr_assert_eq(cr_lock_release(l), -EPERM, "releasing an unlocked lock");
    cr_assert_eq(cr_lock_acquire(l), 0);
    cr_assert(cr_lock_locked(l));
    cr_assert_eq(cr_lock_release(l), 0);
    cr_assert_eq(cr_lock_release(l), -EPERM, "a second release");
    cr_assert_not(cr_lock_locked(l));
    cr_assert_eq(cr_lock_acquire(NULL), -EINVAL);
    cr_assert_eq(cr_lock_release(NULL), -EINVAL);
    cr_assert_not(cr_lock_locked(NULL));
    cr_lock_free(l);
    cr_lock_free(NULL);
    return 0;
}

/* Releasing an unlocked lock is -EPERM; NULL is -EINVAL; acquiring outside a task is -EPERM. */
Test(lock, misuse_returns_errors)
{
    RUN_EXPECT(misuse_main, NULL, 0);
    cr_lock *l = cr_lock_new();
    cr_assert_eq(cr_lock_acquire(l), -EPERM);
    cr_assert_not(cr_lock_locked(l));
    cr_lock_free(l);
}

/* Take the lock, then start n `critical` workers named a, b, c... and let
 * them all queue behind it. */
static void queue_workers(struct shared *s, struct worker *w, int n)
{
    static const char *const names[] = {"a", "b", "c", "d"};
    cr_assert_eq(cr_lock_acquire(s->lock), 0);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){s, names[i]};
        s->t[i] = cr_create_task(critical, &w[i]);
    }
    cr_assert_eq(cr_sleep(0), 0);
}

/* Gather the n workers, check t[cancelled] ended cancelled, drop them all. */
static void gather_cancelled(struct shared *s, int n, int cancelled)
{
    cr_assert_eq(cr_gather(s->t, n, NULL, NULL, CR_RETURN_EXCEPTIONS), 0);
    cr_assert(cr_future_cancelled(s->t[cancelled]));
    for (int i = 0; i < n; i++)
        cr_future_unref(s->t[i]);
}

/* Run main_fn with a fresh lock; the log must equal want_fmt with its one
 * %d filled in with -ECANCELED. */
static void expect_cancel_log(int (*main_fn)(void *, void **), const char *want_fmt)
{
    struct shared s = {.lock = cr_lock_new()};
    RUN_EXPECT(main_fn, &s, 0);
    LOG_EQF(&s.log, want_fmt, -ECANCELED);
    cr_lock_free(s.lock);
}

static int cancel_queued_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    struct worker w[3];
    queue_workers(s, w, 3); /* all three queue */
    cr_assert(cr_cancel(s->t[1]));
    cr_assert_eq(cr_sleep(0), 0); /* b leaves the queue */
    tlog_add(&s->log, "release");
    cr_assert_eq(cr_lock_release(s->lock), 0);
    gather_cancelled(s, 3, 1);
    return 0;
}

/* A waiter cancelled while queued leaves the queue and never takes the lock. */
Test(lock, cancelled_waiter_leaves_the_queue)
{
    expect_cancel_log(cancel_queued_main, "b:%d release a-in a-out c-in c-out");
}

static int cancel_then_release_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    struct worker w[2];
    queue_workers(s, w, 2); /* both queue */
    /* Cancel the head waiter and release in the same turn, before it runs. */
    cr_assert(cr_cancel(s->t[0]));
    tlog_add(&s->log, "release");
    cr_assert_eq(cr_lock_release(s->lock), 0);
    gather_cancelled(s, 2, 0);
    cr_assert_not(cr_lock_locked(s->lock));
    return 0;
}

/* A head waiter cancelled just before a release never takes the lock; the next waiter does. */
Test(lock, cancelled_head_waiter_passes_the_lock_on)
{
    expect_cancel_log(cancel_then_release_main, "release a:%d b-in b-out");
}

static int release_then_cancel_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    struct worker w[2];
    queue_workers(s, w, 2);
    /* Handed to a, then a is cancelled before it resumes: a is still inside
     * acquire(), so it must not come out holding the lock. */
    tlog_add(&s->log, "release");
    cr_assert_eq(cr_lock_release(s->lock), 0);
    cr_assert(cr_cancel(s->t[0]));
    gather_cancelled(s, 2, 0);
    cr_assert_not(cr_lock_locked(s->lock));
    return 0;
}

/* A waiter handed the lock but cancelled before it resumes returns -ECANCELED and passes the lock on. */
Test(lock, cancel_after_hand_off_passes_the_lock_on)
{
    expect_cancel_log(release_then_cancel_main, "release a:%d b-in b-out");
}

static int guarded(struct shared *s, const char *name, bool early)
{
    CR_LOCK_GUARD(g, s->lock);
    if (g.rc < 0)
        return g.rc;
    tlog_add(&s->log, "%s-in:%d", name, cr_lock_locked(s->lock));
    if (early)
        return 1; /* early return: the guard still releases */
    cr_assert_eq(cr_sleep(0), 0);
    tlog_add(&s->log, "%s-out", name);
    return 0;
}

static int guard_task(void *arg, void **result)
{
    (void)result;
    struct worker *w = arg;
    return guarded(w->s, w->name, false);
}

static int guard_main(void *arg, void **result)
{
    (void)result;
    struct shared *s = arg;
    cr_assert_eq(guarded(s, "early", true), 1);
    cr_assert_not(cr_lock_locked(s->lock), "released on the early return");
    struct worker a = {s, "a"}, b = {s, "b"};
    s->t[0] = cr_create_task(guard_task, &a);
    s->t[1] = cr_create_task(guard_task, &b);
    cr_assert_eq(cr_gather(s->t, 2, NULL, NULL, 0), 0);
    cr_assert_not(cr_lock_locked(s->lock));
    /* A guard whose acquire was cancelled releases nothing. */
    cr_assert_eq(cr_lock_acquire(s->lock), 0);
    cr_assert(cr_cancel(cr_current_task()));
    cr_assert_eq(guarded(s, "never", false), -ECANCELED);
    cr_assert(cr_lock_locked(s->lock), "the lock we hold was not released by the failed guard");
    cr_assert_eq(cr_lock_release(s->lock), 0);
    cr_assert_eq(cr_task_uncancel(cr_current_task()), 0);
    for (int i = 0; i < 2; i++)
        cr_future_unref(s->t[i]);
    return 0;
}

/* CR_LOCK_GUARD releases on every scope exit, including an early return. */
Test(lock, guard_releases_on_scope_exit)
{
    struct shared s = {.lock = cr_lock_new()};
    RUN_EXPECT(guard_main, &s, 0);
    LOG_EQ(&s.log, "early-in:1 a-in:1 a-out b-in:1 b-out");
    cr_lock_free(s.lock);
}
