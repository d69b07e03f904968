/* SPDX-License-Identifier: MIT */
/*
 * spawn.c — whole-program spawn benchmarks for coring.
 *
 *   spawn batch N   create N empty tasks, then gather them all (asyncio's
 *                   `await gather(*[create_task(f()) for _ in range(N)])`);
 *                   prints ns per task, spawn to last join.
 *   spawn seq N     N times: create one empty task and await it; prints ns
 *                   per spawn+run+join (the issue-2 goal: < 150 ns).
 *
 * The peers in bench/peers/ do the same work the same way.
 */
#include <coring.h>
#include <stdlib.h>
#include "common.h"

static long n_tasks;

static int empty(void *arg, void **result)
{
    (void)arg;
    (void)result;
    return 0;
}

static int batch(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task **ts = malloc((size_t)n_tasks * sizeof *ts);
    if (!ts)
        return -12;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n_tasks; i++)
        if (!(ts[i] = cr_create_task(empty, NULL)))
            return -12;
    int rc = cr_gather(ts, (size_t)n_tasks, NULL, NULL, 0);
    int64_t t1 = bench_now_ns();
    for (long i = 0; i < n_tasks; i++)
        cr_future_unref(ts[i]);
    free(ts);
    if (rc == 0)
        bench_result("spawn_batch", (double)(t1 - t0) / (double)n_tasks, "ns/task");
    return rc;
}

static int seq(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n_tasks; i++) {
        cr_task *t = cr_create_task(empty, NULL);
        if (!t)
            return -12;
        int rc = cr_await(t, NULL);
        cr_future_unref(t);
        if (rc < 0)
            return rc;
    }
    int64_t t1 = bench_now_ns();
    bench_result("spawn_seq", (double)(t1 - t0) / (double)n_tasks, "ns/task");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (n_tasks = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: %s batch|seq N\n", argv[0]);
        return 2;
    }
    cr_task_fn fn = strcmp(argv[1], "batch") == 0 ? batch : strcmp(argv[1], "seq") == 0 ? seq : NULL;
    if (!fn) {
        fprintf(stderr, "spawn: unknown mode '%s'\n", argv[1]);
        return 2;
    }
    int rc = cr_run(fn, NULL, NULL);
    if (rc < 0)
        fprintf(stderr, "spawn: %s\n", cr_strerror(rc));
    return rc < 0;
}
