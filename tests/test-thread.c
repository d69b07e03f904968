/* SPDX-License-Identifier: MIT */
/*
 * Description: other threads and loops — call_soon_threadsafe,
 * run_coroutine_threadsafe and its thread-safe future (wait with timeout,
 * cancel, result, done callbacks), holds and the idle rule, closed-loop
 * submissions (the caller keeps ownership), a million coroutines from four
 * producers each run exactly once, and one loop per core.
 */
#include "helpers.h"
#include "core/internal.h"
#include "thread/xq.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* ---- a loop running on its own thread, held so it waits for us ---- */

struct bg {
    cr_loop *loop;
    pthread_t th;
    int rc;
};

static void *bg_main(void *p)
{
    struct bg *b = p;
    b->rc = cr_loop_run_forever(b->loop);
    return NULL;
}

static void bg_start(struct bg *b)
{
    cr_assert_eq(cr_loop_new(&b->loop, NULL), 0);
    cr_assert_eq(cr_loop_hold(b->loop), 0);
    cr_assert_eq(pthread_create(&b->th, NULL, bg_main, b), 0);
}

static void bg_stop(struct bg *b)
{
    cr_assert_eq(cr_loop_stop_threadsafe(b->loop), 0);
    cr_assert_eq(cr_loop_unhold(b->loop), 0);
    pthread_join(b->th, NULL);
    cr_assert_eq(b->rc, 0);
    cr_assert_eq(cr_loop_free(b->loop), 0);
}

/* ---- call_soon_threadsafe ---- */

struct where {
    pthread_t th;
    _Atomic int ran;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void note_thread(void *arg)
{
    struct where *w = arg;
    w->th = pthread_self();
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->ran, 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* A callback posted from another thread runs on the loop's thread. */
Test(thread, call_soon_threadsafe_runs_on_the_loop_thread)
{
    struct bg b;
    bg_start(&b);
    struct where w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    cr_assert_eq(cr_call_soon_threadsafe(b.loop, note_thread, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!atomic_load(&w.ran))
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    cr_assert(pthread_equal(w.th, b.th));
    bg_stop(&b);
}

/* Bad arguments are refused, never crash. */
Test(thread, bad_arguments)
{
    cr_assert_eq(cr_call_soon_threadsafe(NULL, note_thread, NULL), -EINVAL);
    cr_assert_eq(cr_run_coroutine_threadsafe(NULL, NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_loop_hold(NULL), -EINVAL);
    cr_assert_eq(cr_tsfuture_wait(NULL, 0), -EINVAL);
    cr_assert_eq(cr_tsfuture_result(NULL, NULL), -EINVAL);
    cr_assert_not(cr_tsfuture_cancel(NULL));
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_call_soon_threadsafe(l, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_loop_unhold(l), -EINVAL, "unhold without hold");
    cr_assert_eq(cr_to_thread(NULL, NULL, NULL), -EPERM, "outside a task");
    cr_loop_free(l);
}

/* ---- run_coroutine_threadsafe ---- */

static int times_two(void *arg, void **result)
{
    int rc = cr_sleep(0);
    if (rc < 0)
        return rc;
    *result = IPTR(PINT(arg) * 2);
    return 0;
}

static int fails_eio(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return -EIO;
}

/* A foreign thread gets the coroutine's result, or its error. */
Test(thread, run_coroutine_threadsafe_result_and_error)
{
    struct bg b;
    bg_start(&b);
    cr_tsfuture *f, *g;
    cr_assert_eq(cr_run_coroutine_threadsafe(b.loop, times_two, IPTR(21), &f), 0);
    cr_assert_eq(cr_run_coroutine_threadsafe(b.loop, fails_eio, NULL, &g), 0);
    cr_assert_eq(cr_tsfuture_wait(f, -1), 0);
    cr_assert_eq(cr_tsfuture_wait(g, 5), 0);
    void *v = NULL;
    cr_assert_eq(cr_tsfuture_result(f, &v), 0);
    cr_assert_eq(PINT(v), 42);
    cr_assert_eq(cr_tsfuture_result(g, &v), -EIO);
    cr_assert_null(v);
    cr_assert(cr_tsfuture_done(f));
    cr_assert_not(cr_tsfuture_cancelled(f));
    cr_assert_not(cr_tsfuture_cancel(f), "cancelling a done future does nothing");
    cr_tsfuture_unref(f);
    cr_tsfuture_unref(g);
    bg_stop(&b);
}

struct forever {
    _Atomic int started, outcome;
    cr_loop *loop;
};

static int waits_forever(void *arg, void **result)
{
    (void)result;
    struct forever *fv = arg;
    cr_future *never = cr_future_new(NULL);
    atomic_store(&fv->started, 1);
    int rc = cr_await(never, NULL);
    cr_future_unref(never);
    atomic_store(&fv->outcome, rc);
    return rc;
}

static void count_cb(cr_tsfuture *f, void *arg)
{
    (void)f;
    atomic_fetch_add((_Atomic int *)arg, 1);
}

/* A foreign wait times out; cancelling wakes it, cancels the task in its
 * loop, and runs the done callbacks once. */
Test(thread, foreign_wait_timeout_then_cancel)
{
    struct bg b;
    bg_start(&b);
    struct forever fv = {0};
    cr_tsfuture *f;
    _Atomic int calls = 0;
    cr_assert_eq(cr_run_coroutine_threadsafe(b.loop, waits_forever, &fv, &f), 0);
    cr_assert_eq(cr_tsfuture_add_done_callback(f, count_cb, &calls), 0);
    cr_assert_eq(cr_tsfuture_wait(f, 0.02), -ETIMEDOUT);
    cr_assert_eq(cr_tsfuture_wait(f, 0), -ETIMEDOUT);
    cr_assert_eq(cr_tsfuture_result(f, NULL), -EAGAIN);
    cr_assert(cr_tsfuture_cancel(f));
    cr_assert_not(cr_tsfuture_cancel(f), "only once");
    cr_assert_eq(cr_tsfuture_wait(f, -1), 0);
    cr_assert(cr_tsfuture_cancelled(f));
    cr_assert_eq(cr_tsfuture_result(f, NULL), -ECANCELED);
    cr_assert_eq(atomic_load(&calls), 1);
    /* A callback added after completion runs at once, here. */
    cr_assert_eq(cr_tsfuture_add_done_callback(f, count_cb, &calls), 0);
    cr_assert_eq(atomic_load(&calls), 2);
    /* The task saw the cancel in its loop. Waiting for that through a second
     * future: it is queued behind the cancel request, FIFO. */
    cr_tsfuture *g;
    cr_assert_eq(cr_run_coroutine_threadsafe(b.loop, times_two, IPTR(1), &g), 0);
    cr_assert_eq(cr_tsfuture_wait(g, -1), 0);
    cr_tsfuture_unref(g);
    cr_assert_eq(atomic_load(&fv.started), 1);
    cr_assert_eq(atomic_load(&fv.outcome), -ECANCELED);
    cr_tsfuture_unref(f);
    bg_stop(&b);
}

static int waits_own_future(void *arg, void **result)
{
    (void)result;
    cr_tsfuture *f;
    int rc = cr_run_coroutine_threadsafe(cr_get_running_loop(NULL), times_two, arg, &f);
    if (rc < 0)
        return rc;
    rc = cr_tsfuture_wait(f, 1); /* on the loop's own thread: could never finish */
    cr_tsfuture_unref(f);
    return rc;
}

/* Waiting on the loop thread for a future of that same loop is -EDEADLK. */
Test(thread, wait_on_own_loop_is_edeadlk)
{
    RUN_EXPECT(waits_own_future, IPTR(1), -EDEADLK);
}

/* ---- closed loops ---- */

static _Atomic int never_ran;
static void must_not_run(void *arg)
{
    (void)arg;
    atomic_fetch_add(&never_ran, 1);
}
static int must_not_run_task(void *arg, void **result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&never_ran, 1);
    return 0;
}

/* Submissions to a closed loop fail with -ESHUTDOWN and take nothing. */
Test(thread, closed_loop_submissions_are_refused)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_loop_close(l), 0);
    cr_tsfuture *f = (cr_tsfuture *)1;
    cr_assert_eq(cr_call_soon_threadsafe(l, must_not_run, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_run_coroutine_threadsafe(l, must_not_run_task, NULL, &f), -ESHUTDOWN);
    cr_assert_null(f);
    cr_assert_eq(cr_run_coroutine_threadsafe(l, must_not_run_task, NULL, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_loop_hold(l), -ESHUTDOWN);
    cr_assert_eq(cr_loop_stop_threadsafe(l), -ESHUTDOWN);
    cr_assert_eq(atomic_load(&never_ran), 0);
    cr_loop_free(l);
}

static void counts(void *arg) { atomic_fetch_add((_Atomic int *)arg, 1); }

/* A thread that already has its own lane into a loop is refused too once the
 * loop closes (its lane is sealed), and what it queued before is dropped. */
Test(thread, closed_loop_refuses_an_existing_producer)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    _Atomic int n = 0;
    cr_assert_eq(cr_call_soon_threadsafe(l, counts, &n), 0);
    cr_loop_stop(l);
    cr_assert_eq(cr_loop_run_forever(l), 0);
    cr_assert_eq(atomic_load(&n), 1);
    cr_assert_eq(cr_call_soon_threadsafe(l, counts, &n), 0); /* queued, never run */
    cr_assert_eq(cr_loop_close(l), 0);
    cr_assert_eq(cr_call_soon_threadsafe(l, counts, &n), -ESHUTDOWN);
    cr_assert_eq(cr_call_soon_threadsafe(l, counts, &n), -ESHUTDOWN);
    cr_assert_eq(atomic_load(&n), 1);
    cr_loop_free(l);
}

/* A loop closed with submissions queued drops every one: callbacks never
 * run, futures complete with -ESHUTDOWN, nothing leaks (ASan). */
Test(thread, close_drops_queued_submissions)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_tsfuture *f[8];
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(cr_call_soon_threadsafe(l, must_not_run, NULL), 0);
        cr_assert_eq(cr_run_coroutine_threadsafe(l, must_not_run_task, NULL, &f[i]), 0);
        cr_assert_eq(cr_run_coroutine_threadsafe(l, must_not_run_task, NULL, NULL), 0);
    }
    cr_assert_eq(cr_loop_close(l), 0);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(cr_tsfuture_wait(f[i], 0), 0);
        cr_assert_eq(cr_tsfuture_result(f[i], NULL), -ESHUTDOWN);
        cr_tsfuture_unref(f[i]);
    }
    cr_assert_eq(atomic_load(&never_ran), 0);
    cr_loop_free(l);
}

static int sleeps_long(void *arg, void **result)
{
    (void)result;
    if (arg)
        atomic_store((_Atomic int *)arg, 1);
    return cr_sleep(3600);
}

/* A task started by a foreign thread but still pending when its loop closes:
 * the future completes cancelled; its submitter may already be gone. */
Test(thread, close_cancels_started_tasks_futures)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    _Atomic int started = 0;
    cr_tsfuture *f, *g;
    cr_assert_eq(cr_run_coroutine_threadsafe(l, sleeps_long, &started, &f), 0);
    cr_assert_eq(cr_run_coroutine_threadsafe(l, sleeps_long, NULL, &g), 0);
    cr_tsfuture_unref(g); /* "the thread exited": nobody holds g */
    for (int turn = 0; turn < 2; turn++) { /* create the tasks, then start them */
        cr_loop_stop(l);
        cr_assert_eq(cr_loop_run_forever(l), 0);
    }
    cr_assert_eq(atomic_load(&started), 1);
    cr_assert_not(cr_tsfuture_done(f));
    cr_assert_eq(cr_loop_close(l), 0);
    cr_assert(cr_tsfuture_cancelled(f));
    cr_tsfuture_unref(f);
    cr_loop_free(l);
}

struct exiter {
    cr_loop *loop;
    _Atomic int *n;
};

static void *post_and_exit(void *arg)
{
    struct exiter *e = arg;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(cr_call_soon_threadsafe(e->loop, counts, e->n), 0);
    cr_tsfuture *f;
    cr_assert_eq(cr_run_coroutine_threadsafe(e->loop, times_two, IPTR(4), &f), 0);
    cr_tsfuture_unref(f); /* exits with its future still pending */
    return NULL;
}

/* Threads that post and exit (their futures still pending) do not disturb
 * the loop: everything they posted runs, their lanes are reclaimed (ASan
 * would see them leak otherwise). */
Test(thread, producers_that_exit)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    _Atomic int n = 0;
    struct exiter e = {l, &n};
    for (int round = 0; round < 3; round++) {
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            cr_assert_eq(pthread_create(&th[i], NULL, post_and_exit, &e), 0);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        cr_assert_eq(cr_call_soon_threadsafe(l, counts, &n), 0); /* our own lane too */
        cr_assert_eq(cr_loop_run_forever(l), 0, "idle once all of it ran");
    }
    cr_assert_eq(atomic_load(&n), 3 * (3 * 100 + 1));
    /* Nine threads came and went: their lanes were freed once drained (the
     * list head stays until another lane is pushed in front of it). */
    cr_assert_leq(cr__xq_lanes(l), 2, "%zu lanes left", cr__xq_lanes(l));
    cr_loop_free(l);
}

struct fair {
    cr_loop *loop;
    _Atomic int ran;
};

static void fair_cb(void *arg) { atomic_fetch_add(&((struct fair *)arg)->ran, 1); }

static void *post_1000(void *arg)
{
    struct fair *f = arg;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(cr_call_soon_threadsafe(f->loop, fair_cb, f), 0);
    return NULL;
}

/* One loop iteration serves every producer: four threads with 1,000 posts
 * queued each all get some run in the first iteration, none starves. */
Test(thread, every_producer_is_served_each_iteration)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    struct fair f[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        f[i].loop = l;
        atomic_init(&f[i].ran, 0);
        cr_assert_eq(pthread_create(&th[i], NULL, post_1000, &f[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_loop_stop(l); /* exactly one iteration */
    cr_assert_eq(cr_loop_run_forever(l), 0);
    int total = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_gt(atomic_load(&f[i].ran), 0, "producer %d starved", i);
        total += atomic_load(&f[i].ran);
    }
    cr_assert_lt(total, 4000, "the drain is bounded per iteration");
    cr_assert_eq(cr_loop_run_forever(l), 0); /* the rest */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(atomic_load(&f[i].ran), 1000);
    cr_loop_free(l);
}

/* ---- the idle rule ---- */

static void *post_later(void *arg)
{
    struct bg *b = arg;
    cr_run_coroutine_threadsafe(b->loop, times_two, IPTR(1), NULL);
    cr_loop_stop_threadsafe(b->loop);
    cr_loop_unhold(b->loop);
    return NULL;
}

/* Held, an idle run_forever waits for a foreign submission; unheld and idle,
 * it returns 0. */
Test(thread, hold_keeps_an_idle_loop_waiting)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0, "nothing to do, not held: returns");
    cr_assert_eq(cr_loop_hold(l), 0);
    struct bg b = {.loop = l};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, post_later, &b), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0);
    pthread_join(th, NULL);
    cr_assert_eq(cr_loop_run_forever(l), 0, "unheld again: returns");
    cr_loop_free(l);
}

static void wait_until_asleep(cr_loop *l)
{
    while (!atomic_load(&l->xq->sleeping))
        sched_yield();
}

struct sleeper_case {
    cr_loop *loop;
    int mode; /* 0: post a stop, 1: unhold */
};

static void *act_when_asleep(void *arg)
{
    struct sleeper_case *c = arg;
    wait_until_asleep(c->loop);
    if (c->mode == 0)
        cr_assert_eq(cr_loop_stop_threadsafe(c->loop), 0);
    else
        cr_assert_eq(cr_loop_unhold(c->loop), 0);
    return NULL;
}

/* A loop blocked in the kernel is woken by a post from another thread, and
 * by the last unhold (then it finds itself idle and returns). */
Test(thread, a_sleeping_loop_is_woken)
{
    for (int mode = 0; mode < 2; mode++) {
        cr_loop *l;
        cr_assert_eq(cr_loop_new(&l, NULL), 0);
        cr_assert_eq(cr_loop_hold(l), 0);
        struct sleeper_case c = {l, mode};
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, act_when_asleep, &c), 0);
        cr_assert_eq(cr_loop_run_forever(l), 0);
        pthread_join(th, NULL);
        if (mode == 0)
            cr_assert_eq(cr_loop_unhold(l), 0);
        cr_loop_free(l);
    }
}

/* Bursts from one thread into a loop that keeps going to sleep: every
 * callback runs without another post to nudge it. The loop decides to sleep
 * on the lanes' emptiness test, the one that once read a lane's tail alone
 * and called "empty" a lane the loop had left as head -> node -> stub after
 * taking its last node while the producer was mid-push (the pool's twin of
 * this test hung on that; here the producer's own wakeup usually covers it,
 * so this one guards the rule rather than reproducing the bug). A stranded
 * callback is a hang, which HANG_GUARD reports. */
struct burst {
    _Atomic int n;
    int want;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool all;
};

static void burst_cb(void *arg)
{
    struct burst *b = arg; /* loop thread */
    if (atomic_fetch_add(&b->n, 1) + 1 == b->want) {
        pthread_mutex_lock(&b->mu);
        b->all = true;
        pthread_cond_signal(&b->cv);
        pthread_mutex_unlock(&b->mu);
    }
}

Test(thread, bursts_never_strand_a_callback, HANG_GUARD(120))
{
    struct bg bgl;
    bg_start(&bgl);
    unsigned seed = 4242;
    for (int round = 0; round < 20000; round++) {
        seed = seed * 1103515245u + 12345u;
        struct burst b = {.want = 1 + (int)((seed >> 16) % 32),
                          .mu = PTHREAD_MUTEX_INITIALIZER,
                          .cv = PTHREAD_COND_INITIALIZER};
        for (int i = 0; i < b.want; i++)
            cr_assert_eq(cr_call_soon_threadsafe(bgl.loop, burst_cb, &b), 0);
        pthread_mutex_lock(&b.mu);
        while (!b.all)
            pthread_cond_wait(&b.cv, &b.mu);
        pthread_mutex_unlock(&b.mu);
        cr_assert_eq(atomic_load(&b.n), b.want);
    }
    bg_stop(&bgl);
}

/* ---- a million coroutines from four producers ---- */

/* Sized to finish in well under half of the 120 s budget on a slow 2-core
 * machine with both cores busy: the count is scaled down under sanitizers,
 * the budget stays. Under TSan every coroutine is a TSan fiber whose state
 * (~850 KB, zeroed page by page) costs 3-5 ms to set up on the 2-vCPU VM:
 * 100,000 took over 120 s there, 1,000 take ~3 s (so ~15 s on a machine five
 * times slower). Under ASan 1,000,000 take ~5 s loaded; 250,000 keep that
 * far inside the budget too. -DNTOTAL=n overrides, for measuring. */
#define NPROD 4
#ifndef NTOTAL
#if defined(__SANITIZE_THREAD__)
#define NTOTAL 1000
#elif defined(__SANITIZE_ADDRESS__)
#define NTOTAL 250000
#else
#define NTOTAL 1000000
#endif
#endif

struct million {
    cr_loop *loop;
    unsigned char *seen; /* loop thread only */
    size_t done;         /* loop thread only */
    int bad;
};

struct producer {
    struct million *m;
    unsigned idx;
    int rc;
};

struct one {
    struct million *m;
    size_t i;
};

static struct one *ones;

static int run_once(void *arg, void **result)
{
    (void)result;
    struct one *o = arg;
    struct million *m = o->m;
    if (m->seen[o->i]++)
        m->bad++;
    if (++m->done == NTOTAL)
        cr_loop_stop(m->loop);
    return 0;
}

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (size_t i = p->idx; i < NTOTAL; i += NPROD) {
        int rc;
        while ((rc = cr_run_coroutine_threadsafe(p->m->loop, run_once, &ones[i], NULL)) == -ENOMEM)
            ;
        if (rc < 0) {
            p->rc = rc;
            break;
        }
    }
    return NULL;
}

/* Four producer threads submit 1,000,000 coroutines (fewer under sanitizers,
 * see NTOTAL); each runs exactly once. */
Test(thread, million_coroutines_from_four_producers, HANG_GUARD(120))
{
    struct million m = {0};
    cr_assert_eq(cr_loop_new(&m.loop, NULL), 0);
    cr_assert_eq(cr_loop_hold(m.loop), 0);
    m.seen = calloc(NTOTAL, 1);
    ones = malloc(NTOTAL * sizeof *ones);
    for (size_t i = 0; i < NTOTAL; i++)
        ones[i] = (struct one){&m, i};
    struct producer p[NPROD];
    pthread_t th[NPROD];
    for (unsigned i = 0; i < NPROD; i++) {
        p[i] = (struct producer){&m, i, 0};
        cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    cr_assert_eq(cr_loop_run_forever(m.loop), 0);
    for (unsigned i = 0; i < NPROD; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(p[i].rc, 0);
    }
    cr_assert_eq(m.done, NTOTAL);
    cr_assert_eq(m.bad, 0);
    for (size_t i = 0; i < NTOTAL; i++)
        cr_assert_eq(m.seen[i], 1, "coroutine %zu ran %d times", i, m.seen[i]);
    cr_assert_lt(m.loop->stats.iterations, NTOTAL, "wakeups and drains are batched");
    cr_loop_unhold(m.loop);
    cr_loop_free(m.loop);
    free(m.seen);
    free(ones);
}

/* ---- one loop per core ---- */

static _Atomic int group_mains;
static int group_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    atomic_fetch_add(&group_mains, 1);
    return 0;
}

static int which_loop(void *arg, void **result)
{
    (void)arg;
    *result = cr_get_running_loop(NULL);
    return 0;
}


/* Every loop of a group runs its main task, serves foreign submissions on its
 * own thread, and stop cancels what is left and joins them all. */
Test(thread, loop_group_runs_and_stops_cleanly)
{
    cr_loop_group *g;
    cr_assert_eq(cr_loop_group_start(&g, 3, group_main, NULL), 0);
    cr_assert_eq(cr_loop_group_size(g), 3);
    cr_assert_null(cr_loop_group_loop(g, 3));
    for (unsigned i = 0; i < 3; i++) {
        cr_loop *l = cr_loop_group_loop(g, i);
        cr_assert_not_null(l);
        cr_tsfuture *f;
        cr_assert_eq(cr_run_coroutine_threadsafe(l, which_loop, NULL, &f), 0);
        cr_assert_eq(cr_tsfuture_wait(f, -1), 0);
        void *v;
        cr_assert_eq(cr_tsfuture_result(f, &v), 0);
        cr_assert_eq(v, l);
        cr_tsfuture_unref(f);
        cr_assert_eq(cr_run_coroutine_threadsafe(l, sleeps_long, NULL, NULL), 0);
    }
    cr_assert_eq(atomic_load(&group_mains), 3);
    cr_assert_eq(cr_loop_group_stop(g), 0);
    cr_assert_eq(cr_loop_group_start(&g, 1, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_loop_group_stop(NULL), -EINVAL);
}

/* ---- a loop waiting only for other threads sleeps in the kernel ---- */

static int slow_job(void *arg, void **res)
{
    (void)arg;
    (void)res;
    usleep(100 * 1000); /* the job's own length, not a wait for something */
    return 0;
}

static int wait_for_job(void *arg, void **res)
{
    (void)res;
    cr_loop *l = cr_get_running_loop(NULL);
    struct cr_loop_stats before, after;
    cr_loop_stats(l, &before);
    cr_assert_eq(cr_to_thread(slow_job, NULL, NULL), 0);
    cr_loop_stats(l, &after);
    *(uint64_t *)arg = after.iterations - before.iterations;
    return 0;
}

/* The inbox's eventfd read once failed at once on epoll (an offset of 0
 * makes preadv2 say ESPIPE), so a loop waiting for a to_thread job turned
 * thousands of times a second instead of sleeping: ~100% of a CPU for
 * nothing. Sleeping, it turns a few times (the job's spin window, the
 * wake-up). */
Test(thread, waiting_for_a_job_the_loop_sleeps)
{
    uint64_t turns = 0;
    cr_assert_eq(cr_run(wait_for_job, &turns, NULL), 0);
    cr_assert_lt(turns, 50, "%llu loop turns while one 100 ms job ran", (unsigned long long)turns);
}
