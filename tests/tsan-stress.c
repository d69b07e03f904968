/* SPDX-License-Identifier: MIT */
/*
 * Description: a plain-C stress of every cross-thread path, meant to be built
 * with -fsanitize=thread (Criterion cannot run under TSan: its bug #274).
 * Run it with tools/tsan-stress.sh. It exits 0 and prints "ok" when every
 * check held; TSan reports races on stderr and makes the exit code non-zero.
 *
 * Covers: producers posting callbacks and coroutines into one loop, foreign
 * waits with timeouts and cancels on thread-safe futures, to_thread with
 * cancellation while the function runs, a loop group, the deque under
 * thieves, and pool shutdown with jobs queued.
 */
#include <coring.h>
#include "core/internal.h"
#include "thread/deque.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            exit(1);                                                              \
        }                                                                         \
    } while (0)

/* Sizes: every coroutine here is a TSan fiber whose ~850 KB of state is
 * zeroed page by page, 3-15 ms apiece on a 2-vCPU VM with both cores busy.
 * On that VM 20,000 posts per producer and 100 to_thread rounds took
 * 4 min 52 s, 2,000 and 20 took 77 s (load average 8). 1,000 posts (a
 * foreign wait every 100) and 10 rounds of 64 to_thread tasks still run
 * every cross-thread path hundreds to thousands of times under TSan. */

/* ---- producers into one loop ---- */

#define PRODUCERS 3
#define PER_PRODUCER 1000
#define SYNC_EVERY 100 /* a foreign wait, and a cancelled sleeper, every 100 posts */

static cr_loop *loop;
static long ran_cb, ran_task; /* loop thread only */
static int payload[PRODUCERS * PER_PRODUCER];

static void cb(void *arg) { ran_cb += *(int *)arg; }

static int coro(void *arg, void **result)
{
    ran_task += *(int *)arg;
    *result = arg;
    return 0;
}

static int progress(void *arg, void **result)
{
    (void)arg;
    *result = (void *)(intptr_t)(ran_cb + ran_task);
    return 0;
}

static int sleeper(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return cr_sleep(3600);
}

static void *producer(void *arg)
{
    int idx = (int)(intptr_t)arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        int *p = &payload[idx * PER_PRODUCER + i];
        *p = 1; /* written here, read on the loop thread: the queue orders it */
        if (i % 2)
            CHECK(cr_call_soon_threadsafe(loop, cb, p) == 0);
        else
            CHECK(cr_run_coroutine_threadsafe(loop, coro, p, NULL) == 0);
        if (i % SYNC_EVERY == 0) {
            cr_tsfuture *f;
            CHECK(cr_run_coroutine_threadsafe(loop, coro, p, &f) == 0);
            CHECK(cr_tsfuture_wait(f, -1) == 0);
            void *v;
            CHECK(cr_tsfuture_result(f, &v) == 0 && v == p);
            cr_tsfuture_unref(f);
            CHECK(cr_run_coroutine_threadsafe(loop, sleeper, NULL, &f) == 0);
            CHECK(cr_tsfuture_wait(f, 0.0005) == -ETIMEDOUT || cr_tsfuture_done(f));
            CHECK(cr_tsfuture_cancel(f));
            CHECK(cr_tsfuture_wait(f, -1) == 0);
            cr_tsfuture_unref(f);
        }
    }
    return NULL;
}

static void *run_loop(void *arg)
{
    (void)arg;
    CHECK(cr_loop_run_forever(loop) == 0);
    return NULL;
}

static void stress_producers(void)
{
    CHECK(cr_loop_new(&loop, NULL) == 0);
    CHECK(cr_loop_hold(loop) == 0);
    pthread_t lt, th[PRODUCERS];
    CHECK(pthread_create(&lt, NULL, run_loop, NULL) == 0);
    for (int i = 0; i < PRODUCERS; i++)
        CHECK(pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    /* Posts from different threads interleave: ask the loop (on its own
     * thread) until everything has run. */
    long want_cb = PRODUCERS * (PER_PRODUCER / 2);
    long want_task = PRODUCERS * (PER_PRODUCER / 2 + PER_PRODUCER / SYNC_EVERY);
    for (;;) {
        cr_tsfuture *probe;
        void *v;
        CHECK(cr_run_coroutine_threadsafe(loop, progress, NULL, &probe) == 0);
        CHECK(cr_tsfuture_wait(probe, -1) == 0);
        CHECK(cr_tsfuture_result(probe, &v) == 0);
        cr_tsfuture_unref(probe);
        if ((long)(intptr_t)v == want_cb + want_task)
            break;
    }
    CHECK(cr_loop_stop_threadsafe(loop) == 0);
    CHECK(cr_loop_unhold(loop) == 0);
    pthread_join(lt, NULL);
    CHECK(ran_cb == want_cb);
    CHECK(ran_task == want_task);
    CHECK(cr_loop_free(loop) == 0);
}

/* ---- to_thread with cancellation ---- */

static _Atomic long jobs_done;

static int work(void *arg, void **result)
{
    *result = arg;
    atomic_fetch_add(&jobs_done, 1);
    return 0;
}

static int one_job(void *arg, void **result)
{
    void *v;
    int rc = cr_to_thread(work, arg, &v);
    if (rc == 0 && v != arg)
        return -EIO;
    *result = v;
    return rc;
}

static int to_thread_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    enum { N = 64, ROUNDS = 10 };
    cr_task *t[N];
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < N; i++)
            t[i] = cr_create_task(one_job, &payload[i]);
        CHECK(cr_sleep(0) == 0);
        for (int i = 0; i < N; i += 3)
            cr_cancel(t[i]); /* some while queued, some while running */
        for (int i = 0; i < N; i++) {
            int rc = cr_await(t[i], NULL);
            CHECK(rc == 0 || rc == -ECANCELED);
            cr_future_unref(t[i]);
        }
    }
    return 0;
}

static void stress_to_thread(void)
{
    cr_pool *p;
    cr_pool_opts o = {.workers = 3};
    CHECK(cr_pool_new(&p, &o) == 0);
    cr_loop *l;
    CHECK(cr_loop_new(&l, NULL) == 0);
    CHECK(cr_loop_set_default_executor(l, p) == 0);
    cr_task *m;
    CHECK(cr_loop_create_task(l, to_thread_main, NULL, NULL, &m) == 0);
    CHECK(cr_loop_run_until_complete(l, m, NULL) == 0);
    cr_future_unref(m);
    CHECK(cr_loop_run_forever(l) == 0); /* until every dropped job came back */
    CHECK(cr_loop_free(l) == 0);
    CHECK(cr_pool_free(p) == 0);
}

/* ---- the deque ---- */

#define DQ_N 100000
static cr__deque dq;
static _Atomic int dq_taken[DQ_N];
static _Atomic int dq_owner_done;
static int dq_data[DQ_N]; /* plain ints published through the deque */

static void dq_take_one(void *x)
{
    int i = (int)((uintptr_t)x - 2);
    CHECK(dq_data[i] == i);
    atomic_fetch_add(&dq_taken[i], 1);
}

static void *dq_thief(void *arg)
{
    (void)arg;
    for (;;) {
        void *x = cr__deque_steal(&dq);
        if (x == CR__DQ_ABORT)
            continue;
        if (x)
            dq_take_one(x);
        else if (atomic_load(&dq_owner_done))
            return NULL;
    }
}

static void stress_deque(void)
{
    CHECK(cr__deque_init(&dq, 8) == 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, dq_thief, NULL) == 0);
    for (uintptr_t i = 0; i < DQ_N; i++) {
        dq_data[i] = (int)i;
        CHECK(cr__deque_push(&dq, (void *)(i + 2)) == 0);
        if (i % 3 == 0) {
            void *x = cr__deque_take(&dq);
            if (x)
                dq_take_one(x);
        }
    }
    void *x;
    while ((x = cr__deque_take(&dq)))
        dq_take_one(x);
    atomic_store(&dq_owner_done, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < DQ_N; i++)
        CHECK(atomic_load(&dq_taken[i]) == 1);
    cr__deque_free(&dq);
}

/* ---- loop group and pool shutdown ---- */

/* Touches no shared state: a cancelled future's task may still be running
 * on one loop while the next one runs on the other. */
static int echo(void *arg, void **result)
{
    *result = arg;
    return cr_sleep(0);
}

static int group_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static _Atomic int plain_runs;
static void plain(void *arg)
{
    (void)arg;
    atomic_fetch_add(&plain_runs, 1);
}

static void stress_group_and_shutdown(void)
{
    cr_loop_group *g;
    CHECK(cr_loop_group_start(&g, 2, group_main, NULL) == 0);
    for (int i = 0; i < 200; i++) {
        cr_tsfuture *f;
        CHECK(cr_run_coroutine_threadsafe(cr_loop_group_loop(g, i % 2), echo, &payload[0], &f) == 0);
        if (i % 7 == 0)
            cr_tsfuture_cancel(f);
        CHECK(cr_tsfuture_wait(f, -1) == 0);
        cr_tsfuture_unref(f);
    }
    CHECK(cr_loop_group_stop(g) == 0);

    cr_pool *p;
    cr_pool_opts o = {.workers = 2};
    CHECK(cr_pool_new(&p, &o) == 0);
    for (int i = 0; i < 5000; i++)
        CHECK(cr_pool_submit(p, plain, NULL) == 0);
    CHECK(cr_pool_shutdown(p, -1, true) == 0);
    CHECK(cr_pool_submit(p, plain, NULL) == -ESHUTDOWN);
    CHECK(cr_pool_free(p) == 0);
}

/* Run one part and say how long it took (the sizes above are set from these). */
static void timed(const char *name, void (*fn)(void))
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%s: %.1f s\n", name, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    fflush(stdout);
}

int main(void)
{
    timed("producers", stress_producers);
    timed("to_thread", stress_to_thread);
    timed("deque", stress_deque);
    timed("group+shutdown", stress_group_and_shutdown);
    printf("ok: %ld callbacks, %ld coroutines, %ld pool jobs, %d plain jobs\n", ran_cb,
           ran_task, atomic_load(&jobs_done), atomic_load(&plain_runs));
    return 0;
}
