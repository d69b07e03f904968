/* SPDX-License-Identifier: MIT */
/*
 * sleepers.c — N tasks each sleeping a random 0–max ms (the same splitmix64
 * delays in every peer), all spawned at once, then gathered.
 *
 *   sleepers N [max_ms=100] [seed=42]
 *
 * Prints the wall time from the first spawn to the last join (ideal: max_ms,
 * the longest sleep; the issue-2 goal for N=100,000 is < 1.2x that), and the
 * peak RSS per task: VmHWM after the run minus VmHWM before spawning, over N.
 *
 * Tuning experiments: CR_BENCH_STACK_SIZE and CR_BENCH_STACK_CACHE (bytes,
 * count) set the loop's cr_loop_opts.stack_size / stack_cache, and
 * CR_BENCH_STACK_CLASS (lean, 8k, 16k, 64k) the sleepers' stack_class
 * (cr_task_opts; the main task keeps a default stack); unset, the
 * loop has the library's defaults, as the report's figures do.
 * CR_BENCH_AFTER_MS=M: also print what stays resident M ms after the last
 * join (VmRSS then minus VmRSS before spawning, over N: the stacks' trim).
 */
#include <coring.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static long n_tasks;

static int64_t max_ns;
static uint64_t seed;
static cr_task_opts sleeper_opts;

static int sleeper(void *arg, void **result)
{
    (void)result;
    return cr_sleep_ns((int64_t)(intptr_t)arg);
}

static int amain(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task **ts = malloc((size_t)n_tasks * sizeof *ts);
    int64_t *delay = malloc((size_t)n_tasks * sizeof *delay);
    if (!ts || !delay)
        return -12;
    uint64_t st = seed;
    for (long i = 0; i < n_tasks; i++)
        delay[i] = (int64_t)(bench_rand(&st) % (uint64_t)(max_ns + 1));
    long hwm0 = bench_vmhwm_kib(), rss0 = bench_vmrss_kib();
    int64_t t0 = bench_now_ns();
    for (long i = 0; i < n_tasks; i++)
        if (cr_loop_create_task(cr_get_running_loop(NULL), sleeper, (void *)(intptr_t)delay[i],
                                &sleeper_opts, &ts[i]) < 0)
            return -12;
    int rc = cr_gather(ts, (size_t)n_tasks, NULL, NULL, 0);
    int64_t t1 = bench_now_ns();
    long hwm1 = bench_vmhwm_kib();
    for (long i = 0; i < n_tasks; i++)
        cr_future_unref(ts[i]);
    free(ts);
    free(delay);
    if (rc < 0)
        return rc;
    double wall_ms = (double)(t1 - t0) / 1e6;
    bench_result("sleepers_wall", wall_ms, "ms");
    bench_result("sleepers_wall_over_ideal", wall_ms / ((double)max_ns / 1e6), "x");
    bench_result("sleepers_rss_per_task", (double)(hwm1 - hwm0) * 1024.0 / (double)n_tasks, "B");
    const char *after = getenv("CR_BENCH_AFTER_MS");
    if (after && (rc = cr_sleep(atof(after) / 1e3)) == 0)
        bench_result("sleepers_rss_after_idle", (double)(bench_vmrss_kib() - rss0) * 1024.0 / (double)n_tasks,
                     "B");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (n_tasks = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: %s N [max_ms] [seed]\n", argv[0]);
        return 2;
    }
    max_ns = (argc > 2 ? atol(argv[2]) : 100) * 1000000L;
    seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 42;
    cr_loop_opts opts = {0};
    const char *e;
    if ((e = getenv("CR_BENCH_STACK_SIZE")))
        opts.stack_size = (size_t)atol(e);
    if ((e = getenv("CR_BENCH_STACK_CACHE")))
        opts.stack_cache = (unsigned)atol(e);
    if ((e = getenv("CR_BENCH_STACK_CLASS"))) {
        static const char *names[] = {"default", "lean", "8k", "16k", "64k"};
        for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
            if (strcmp(e, names[i]) == 0)
                sleeper_opts.stack_class = i;
    }
    cr_loop *loop;
    int rc = cr_loop_new(&loop, &opts);
    if (rc < 0) {
        fprintf(stderr, "sleepers: %s (%s)\n", cr_strerror(rc), cr_setup_error());
        return 1;
    }
    cr_task *main_task;
    rc = cr_loop_create_task(loop, amain, NULL, NULL, &main_task);
    if (rc == 0) {
        rc = cr_loop_run_until_complete(loop, main_task, NULL);
        cr_future_unref(main_task);
    }
    cr_loop_free(loop);
    if (rc < 0)
        fprintf(stderr, "sleepers: %s\n", cr_strerror(rc));
    return rc < 0;
}
