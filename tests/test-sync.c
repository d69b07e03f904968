/* SPDX-License-Identifier: MIT */
/*
 * Description: Event, Semaphore (plain and bounded), Condition and Barrier —
 * FIFO wake-up order, cancellation while waiting (the cancelled waiter takes
 * nothing), and the error cases.
 */
#include "helpers.h"
#include <pthread.h>

struct ctx {
    tlog log;
    cr_event *ev;
    cr_semaphore *sem;
    cr_condition *cond;
    cr_barrier *bar;
    int items;
};

static struct ctx *C;

/* Runs n tasks of fn with args 0..n-1 and unrefs them after gather. */
static void spawn(cr_task **t, int n, cr_task_fn fn)
{
    for (int i = 0; i < n; i++)
        t[i] = cr_create_task(fn, IPTR(i));
}

static void reap(cr_task **t, int n)
{
    cr_gather(t, n, NULL, NULL, CR_RETURN_EXCEPTIONS);
    for (int i = 0; i < n; i++)
        cr_future_unref(t[i]);
}

/* ---- event ---- */

static int ev_waiter(void *arg, void **r)
{
    (void)r;
    int rc = cr_event_wait(C->ev);
    tlog_add(&C->log, "w%d:%d", PINT(arg), rc);
    return rc;
}

static int event_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t[3];
    spawn(t, 3, ev_waiter);
    cr_sleep(0);
    cr_assert_not(cr_event_is_set(C->ev));
    cr_cancel(t[1]);
    cr_assert_eq(cr_event_set(C->ev), 0);
    cr_assert_eq(cr_event_clear(C->ev), 0); /* woken waiters still return 0 */
    reap(t, 3);
    LOG_EQ(&C->log, "w1:-125 w0:0 w2:0");
    cr_event_set(C->ev);
    cr_assert_eq(cr_event_wait(C->ev), 0, "set: returns at once");
    return 0;
}

/* Every waiter wakes, in FIFO order; a cancelled waiter gets -ECANCELED. */
Test(sync, event_wakes_all_fifo_and_cancel_is_clean)
{
    struct ctx c = {0};
    C = &c;
    c.ev = cr_event_new();
    RUN_EXPECT(event_main, NULL, 0);
    cr_assert_eq(cr_event_free(c.ev), 0);
}

static void *other_thread_set(void *ev) { return IPTR(cr_event_set(ev)); }

static int event_thread_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_assert_eq(cr_event_clear(C->ev), 0); /* binds it to this thread */
    pthread_t th;
    void *res;
    pthread_create(&th, NULL, other_thread_set, C->ev);
    pthread_join(th, &res);
    cr_assert_eq(PINT(res), -EPERM);
    cr_assert_not(cr_event_is_set(C->ev));
    return 0;
}

/* Touching a primitive from a thread that does not own it is -EPERM; misuse
 * outside a task is -EPERM; NULLs are -EINVAL. */
Test(sync, wrong_thread_and_misuse_errors)
{
    struct ctx c = {0};
    C = &c;
    c.ev = cr_event_new();
    cr_assert_eq(cr_event_wait(c.ev), -EPERM, "not in a task");
    cr_assert_eq(cr_event_set(NULL), -EINVAL);
    cr_assert_eq(cr_semaphore_release(NULL), -EINVAL);
    cr_assert_eq(cr_barrier_new(0), NULL);
    cr_assert_eq(cr_condition_notify(NULL, 1), -EINVAL);
    RUN_EXPECT(event_thread_main, NULL, 0);
    cr_assert_eq(cr_event_free(c.ev), 0);
    cr_assert_eq(cr_event_free(NULL), 0);
}

/* ---- semaphore ---- */

static int sem_user(void *arg, void **r)
{
    (void)r;
    int rc = cr_semaphore_acquire(C->sem);
    tlog_add(&C->log, "a%d:%d", PINT(arg), rc);
    if (rc < 0)
        return rc;
    /* Hold the unit until the main task says so: both holders wake in one
     * loop turn, whatever the machine's speed (two 1 ms timers armed a few
     * microseconds apart may expire in different turns on a slow machine). */
    cr_event_wait(C->ev);
    tlog_add(&C->log, "r%d", PINT(arg));
    return cr_semaphore_release(C->sem);
}

static int sem_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t[5];
    spawn(t, 5, sem_user);
    cr_sleep(0);
    cr_cancel(t[3]); /* queued: must take nothing */
    cr_sleep(0);     /* the cancelled one leaves before the units move */
    cr_event_set(C->ev);
    reap(t, 5);
    return 0;
}

/* Two units, five tasks: FIFO order; a cancelled waiter never gets a unit. */
Test(sync, semaphore_is_fifo_and_cancel_safe)
{
    struct ctx c = {0};
    C = &c;
    c.sem = cr_semaphore_new(2);
    c.ev = cr_event_new();
    RUN_EXPECT(sem_main, NULL, 0);
    LOG_EQ(&c.log, "a0:0 a1:0 a3:-125 r0 r1 a2:0 r2 a4:0 r4");
    cr_assert_eq(cr_semaphore_value(c.sem), 2);
    cr_assert_eq(cr_semaphore_free(c.sem), 0);
    cr_assert_eq(cr_event_free(c.ev), 0);
}

static int bounded_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_semaphore *b = cr_bounded_semaphore_new(1);
    cr_assert_eq(cr_semaphore_release(b), -EOVERFLOW, "beyond the initial value");
    cr_assert_eq(cr_semaphore_acquire(b), 0);
    cr_assert(cr_semaphore_locked(b));
    cr_assert_eq(cr_semaphore_release(b), 0);
    cr_assert_eq(cr_semaphore_release(b), -EOVERFLOW);
    cr_assert_eq(cr_semaphore_value(b), 1);
    cr_semaphore_free(b);
    cr_semaphore *u = cr_semaphore_new(0);
    cr_assert_eq(cr_semaphore_release(u), 0, "an unbounded one may grow");
    cr_assert_eq(cr_semaphore_value(u), 1);
    cr_semaphore_free(u);
    return 0;
}

/* A bounded semaphore refuses a release beyond its initial value. */
Test(sync, bounded_semaphore_refuses_over_release)
{
    RUN_EXPECT(bounded_main, NULL, 0);
}

/* ---- condition ---- */

static bool have_items(void *arg)
{
    (void)arg;
    return C->items > 0;
}

static int consumer(void *arg, void **r)
{
    (void)r;
    int rc = cr_condition_acquire(C->cond);
    cr_assert_eq(rc, 0);
    rc = cr_condition_wait_for(C->cond, have_items, NULL);
    cr_assert(cr_condition_locked(C->cond), "lock held on every return");
    if (rc == 0)
        C->items--;
    tlog_add(&C->log, "c%d:%d", PINT(arg), rc);
    cr_condition_release(C->cond);
    return rc;
}

static int cond_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_assert_eq(cr_condition_notify(C->cond, 1), -EPERM, "needs the lock");
    cr_assert_eq(cr_condition_wait(C->cond), -EPERM, "needs the lock");
    cr_task *t[4];
    spawn(t, 4, consumer);
    cr_sleep(0);
    cr_cancel(t[0]); /* cancelled while waiting: gets the lock back, -ECANCELED */
    cr_assert_eq(cr_condition_acquire(C->cond), 0);
    C->items = 2;
    cr_condition_notify(C->cond, 2);
    cr_condition_release(C->cond);
    while (C->items > 0) /* loop turns, not a timer: c1 and c2 take both */
        cr_sleep(0);
    cr_condition_acquire(C->cond);
    C->items = 1;
    cr_condition_notify_all(C->cond);
    cr_condition_release(C->cond);
    reap(t, 4);
    return 0;
}

/* notify(n) wakes n waiters in FIFO order; wait_for re-checks its predicate;
 * a cancelled waiter returns -ECANCELED holding the lock. */
Test(sync, condition_notify_order_and_cancel)
{
    struct ctx c = {0};
    C = &c;
    c.cond = cr_condition_new(NULL);
    RUN_EXPECT(cond_main, NULL, 0);
    LOG_EQ(&c.log, "c0:-125 c1:0 c2:0 c3:0");
    cr_assert_not(cr_condition_locked(c.cond));
    cr_assert_eq(cr_condition_free(c.cond), 0);
}

static int notified_then_cancelled(void *arg, void **r)
{
    (void)r;
    cr_condition_acquire(C->cond);
    int rc = cr_condition_wait(C->cond);
    tlog_add(&C->log, "n%d:%d", PINT(arg), rc);
    cr_condition_release(C->cond);
    return 0;
}

static int pass_on_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t[2];
    spawn(t, 2, notified_then_cancelled);
    cr_sleep(0);
    cr_condition_acquire(C->cond);
    cr_condition_notify(C->cond, 1); /* t0 notified ... */
    cr_cancel(t[0]);                 /* ... then cancelled before it runs */
    cr_condition_release(C->cond);
    reap(t, 2);
    return 0;
}

/* A waiter notified and then cancelled passes its notification on. */
Test(sync, condition_notification_is_not_lost_to_a_cancel)
{
    struct ctx c = {0};
    C = &c;
    c.cond = cr_condition_new(NULL);
    RUN_EXPECT(pass_on_main, NULL, 0);
    LOG_EQ(&c.log, "n0:-125 n1:0");
    cr_condition_free(c.cond);
}

/* ---- barrier ---- */

static int bar_party(void *arg, void **r)
{
    (void)r;
    int rc = cr_barrier_wait(C->bar);
    tlog_add(&C->log, "p%d:%d", PINT(arg), rc);
    return 0;
}

static int barrier_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_task *t[7];
    spawn(t, 3, bar_party); /* a full round: indices in arrival order */
    reap(t, 3);
    tlog_add(&C->log, "|");
    spawn(t, 2, bar_party); /* the second one is cancelled: it leaves */
    cr_sleep(0);
    cr_assert_eq(cr_barrier_n_waiting(C->bar), 2);
    cr_cancel(t[1]);
    cr_assert_eq(cr_barrier_n_waiting(C->bar), 1);
    cr_assert_eq(cr_barrier_reset(C->bar), 0); /* the waiting one: -EPIPE */
    reap(t, 2);
    tlog_add(&C->log, "|");
    spawn(t, 2, bar_party);
    cr_sleep(0);
    cr_barrier_abort(C->bar);
    cr_assert(cr_barrier_broken(C->bar));
    cr_assert_eq(cr_barrier_wait(C->bar), -EPIPE, "broken until reset");
    reap(t, 2);
    cr_barrier_reset(C->bar);
    cr_assert_not(cr_barrier_broken(C->bar));
    return 0;
}

/* wait returns the arrival index; reset/abort give every waiter -EPIPE. */
Test(sync, barrier_indices_and_broken_barrier)
{
    struct ctx c = {0};
    C = &c;
    c.bar = cr_barrier_new(3);
    cr_assert_eq(cr_barrier_parties(c.bar), 3);
    RUN_EXPECT(barrier_main, NULL, 0);
    LOG_EQ(&c.log, "p2:2 p0:0 p1:1 | p1:-125 p0:-32 | p0:-32 p1:-32");
    cr_assert_eq(cr_barrier_free(c.bar), 0);
}

/* ---- lock (core bug regression) ---- */

static cr_lock *LK;

static int lock_waiter(void *arg, void **r)
{
    (void)r;
    int rc = cr_lock_acquire(LK);
    tlog_add(&C->log, "l%d:%d", PINT(arg), rc);
    if (rc == 0)
        cr_lock_release(LK);
    return 0;
}

static int lock_main(void *arg, void **r)
{
    (void)arg, (void)r;
    LK = cr_lock_new();
    cr_assert_eq(cr_lock_acquire(LK), 0);
    cr_task *t[2];
    spawn(t, 2, lock_waiter);
    cr_sleep(0); /* both queued */
    cr_cancel(t[0]);        /* cancelled while queued ... */
    cr_lock_release(LK);    /* ... and the lock released before it runs */
    reap(t, 2);
    cr_assert_not(cr_lock_locked(LK));
    cr_lock_free(LK);
    return 0;
}

/* A lock waiter cancelled while queued never takes the lock, even when the
 * lock is released before the cancelled task gets to run: it goes to the
 * next waiter. */
Test(sync, lock_cancelled_waiter_never_takes_it)
{
    struct ctx c = {0};
    C = &c;
    RUN_EXPECT(lock_main, NULL, 0);
    LOG_EQ(&c.log, "l0:-125 l1:0");
}
