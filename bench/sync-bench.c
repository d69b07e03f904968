/* SPDX-License-Identifier: MIT */
/*
 * sync-bench.c — what the sync primitives cost on top of a task switch.
 * Rounds are interleaved (A B C … A B C …) and the median and min–max of each
 * are printed, per BENCHMARKING.md: compare the rows of ONE run, not runs.
 *
 *   make && cc -std=gnu11 -O2 -Iinclude -o build/sync-bench bench/sync-bench.c \
 *       lib/libcoring.a -luring -lpthread && build/sync-bench
 */
#include <coring.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUNDS 7

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- yield ping-pong: the floor (two switches per round trip) ---- */
static int yielder(void *arg, void **r)
{
    (void)r;
    for (long i = 0; i < (long)(intptr_t)arg; i++)
        cr_sleep(0);
    return 0;
}

static double b_yield(long n)
{
    double t0 = now();
    cr_task *a = cr_create_task(yielder, (void *)(intptr_t)n);
    cr_task *b = cr_create_task(yielder, (void *)(intptr_t)n);
    cr_await(a, NULL);
    cr_await(b, NULL);
    cr_future_unref(a);
    cr_future_unref(b);
    return (now() - t0) / (double)n;
}

/* ---- queue ping-pong: put + get + a switch each way ---- */
static cr_queue *QA, *QB;
static int ponger(void *arg, void **r)
{
    (void)r;
    void *v;
    for (long i = 0; i < (long)(intptr_t)arg; i++) {
        cr_queue_get(QA, &v);
        cr_queue_put(QB, v);
    }
    return 0;
}

static double b_queue(long n)
{
    cr_queue_new(&QA, NULL);
    cr_queue_new(&QB, NULL);
    cr_task *p = cr_create_task(ponger, (void *)(intptr_t)n);
    double t0 = now();
    void *v;
    for (long i = 0; i < n; i++) {
        cr_queue_put(QA, (void *)(intptr_t)i);
        cr_queue_get(QB, &v);
    }
    double dt = now() - t0;
    cr_await(p, NULL);
    cr_future_unref(p);
    cr_queue_free(QA);
    cr_queue_free(QB);
    return dt / (double)n;
}

/* ---- uncontended semaphore acquire + release (no suspension) ---- */
static double b_sem(long n)
{
    cr_semaphore *s = cr_semaphore_new(1);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        cr_semaphore_acquire(s);
        cr_semaphore_release(s);
    }
    double dt = now() - t0;
    cr_semaphore_free(s);
    return dt / (double)n;
}

/* ---- task group: create + run + wait of an empty child ---- */
static int empty(void *a, void **r) { (void)a, (void)r; return 0; }

static double b_group(long n)
{
    double t0 = now();
    cr_task_group *g;
    cr_task_group_new(&g);
    for (long i = 0; i < n; i++)
        cr_task_group_create_task(g, empty, NULL, NULL, NULL);
    cr_task_group_wait(g);
    cr_task_group_free(g);
    return (now() - t0) / (double)n;
}

/* ---- timeout scope that does not expire, around one yield ---- */
static double b_timeout(long n)
{
    double t0 = now();
    for (long i = 0; i < n; i++) {
        cr_timeout_scope *to = cr_timeout(10);
        cr_timeout_end(to, cr_sleep(0));
    }
    return (now() - t0) / (double)n;
}

/* ---- subprocess spawn + wait of `true` ---- */
static double b_spawn(long n)
{
    const char *argv[] = {"true", NULL};
    double t0 = now();
    for (long i = 0; i < n; i++) {
        cr_subprocess *p;
        cr_create_subprocess_exec(&p, argv, NULL);
        cr_subprocess_wait(p, NULL);
        cr_subprocess_free(p);
    }
    return (now() - t0) / (double)n;
}

struct bench {
    const char *name;
    double (*fn)(long);
    long n;
    double v[ROUNDS];
};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int amain(void *arg, void **r)
{
    (void)arg, (void)r;
    struct bench bs[] = {
        {"yield ping-pong (per yield pair)", b_yield, 200000, {0}},
        {"queue ping-pong (put+get round trip)", b_queue, 200000, {0}},
        {"semaphore acquire+release, uncontended", b_sem, 2000000, {0}},
        {"task group child (create+run+wait)", b_group, 100000, {0}},
        {"timeout scope + one yield", b_timeout, 200000, {0}},
        {"subprocess spawn+wait of true", b_spawn, 100, {0}},
    };
    size_t nb = sizeof bs / sizeof *bs;
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < nb; i++)
            bs[i].v[r] = bs[i].fn(bs[i].n);
    for (size_t i = 0; i < nb; i++) {
        qsort(bs[i].v, ROUNDS, sizeof(double), cmp);
        printf("%-42s median %9.1f ns  (min %.1f, max %.1f)\n", bs[i].name,
               bs[i].v[ROUNDS / 2] * 1e9, bs[i].v[0] * 1e9, bs[i].v[ROUNDS - 1] * 1e9);
    }
    return 0;
}

int main(void) { return cr_run(amain, NULL, NULL) < 0; }
