/* SPDX-License-Identifier: MIT */
/*
 * thread-to-thread.c — cr_to_thread against libuv's uv_queue_work: 200,000
 * tiny jobs, 64 in flight, interleaved rounds, medians (ns per job).
 *
 * coring: 64 tasks each loop on cr_to_thread until the jobs are used up.
 * libuv: 64 requests; each after_work callback queues the next.
 * Both pools keep their defaults (coring: one worker per CPU; libuv: 4
 * threads) unless WORKERS=N is set, which sizes both (make bench sets it to
 * the CPU count for every peer: equal pools). Besides wall time per job it
 * reports the process's CPU time per job (CLOCK_PROCESS_CPUTIME_ID: loop
 * thread + workers), since a pool that spins before parking buys wall time
 * with CPU.
 *
 *   tools/bench-threads.sh   (or: ROUNDS=7 build/bench/thread-to-thread)
 */
#include <coring.h>
#include <uv.h>
#include "thread-common.h"

#define JOBS 200000
#define INFLIGHT 64

static long remaining;
static long sink_work;

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double last_cpu; /* CPU ns per job of the last run */

static int tiny(void *arg, void **result)
{
    *result = arg;
    return 0;
}

static int submitter(void *arg, void **result)
{
    (void)arg;
    (void)result;
    while (remaining > 0) {
        remaining--;
        void *v;
        int rc = cr_to_thread(tiny, &remaining, &v);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int coring_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_task *t[INFLIGHT];
    for (int i = 0; i < INFLIGHT; i++)
        t[i] = cr_create_task(submitter, NULL);
    int rc = cr_gather(t, INFLIGHT, NULL, NULL, 0);
    for (int i = 0; i < INFLIGHT; i++)
        cr_future_unref(t[i]);
    return rc;
}

static cr_pool *pool;

static int coring_wrap(void *arg, void **result)
{
    if (pool)
        cr_loop_set_default_executor(cr_get_running_loop(NULL), pool);
    return coring_main(arg, result);
}

static double run_coring(void)
{
    remaining = JOBS;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    if (cr_run(coring_wrap, NULL, NULL) < 0) {
        fprintf(stderr, "coring run failed\n");
        exit(1);
    }
    last_cpu = (double)(cpu_ns() - c0) / JOBS;
    return (double)(now_ns() - t0) / JOBS;
}

/* ---- libuv ---- */

static long uv_left;

static void uv_work(uv_work_t *req) { sink_work += (long)(intptr_t)req->data; }

static void uv_after(uv_work_t *req, int status)
{
    (void)status;
    if (uv_left > 0) {
        uv_left--;
        uv_queue_work(req->loop, req, uv_work, uv_after);
    }
}

static double run_libuv(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    static uv_work_t reqs[INFLIGHT];
    uv_left = JOBS;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    for (int i = 0; i < INFLIGHT; i++) {
        uv_left--;
        reqs[i].data = (void *)(intptr_t)i;
        uv_queue_work(&loop, &reqs[i], uv_work, uv_after);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double r = (double)(now_ns() - t0) / JOBS;
    last_cpu = (double)(cpu_ns() - c0) / JOBS;
    uv_loop_close(&loop);
    return r;
}

int main(void)
{
    int rounds = rounds_from_env(5);
    const char *w = getenv("WORKERS");
    if (w && atoi(w) > 0) {
        cr_pool_opts o = {.workers = (unsigned)atoi(w)};
        if (cr_pool_new(&pool, &o) < 0)
            return 1;
        setenv("UV_THREADPOOL_SIZE", w, 1);
    }
    series c = {.name = "coring cr_to_thread (64 in flight)"};
    series u = {.name = "libuv uv_queue_work (64 in flight)"};
    series cc = {.name = "coring CPU per job"}, uc = {.name = "libuv CPU per job"};
    run_coring(); /* warm both pools */
    run_libuv();
    for (int i = 0; i < rounds; i++) {
        c.v[c.n++] = run_coring();
        cc.v[cc.n++] = last_cpu;
        u.v[u.n++] = run_libuv();
        uc.v[uc.n++] = last_cpu;
    }
    printf("to_thread: %d tiny jobs, %d in flight, coring workers %u, libuv threads %s\n", JOBS,
           INFLIGHT, cr_pool_workers(pool ? pool : cr_pool_default()),
           getenv("UV_THREADPOOL_SIZE") ? getenv("UV_THREADPOOL_SIZE") : "4");
    report(&c);
    report(&u);
    report(&cc);
    report(&uc);
    printf("  ratio coring/libuv (medians): %.2f  (goal < 0.5)\n", median(&c) / median(&u));
    /* For bench/run.py (make bench runs this with ROUNDS=1, one sample per round). */
    printf("RESULT to_thread_coring %.1f ns/job\nRESULT to_thread_libuv %.1f ns/job\n", median(&c),
           median(&u));
    printf("RESULT to_thread_cpu_coring %.1f ns/job\nRESULT to_thread_cpu_libuv %.1f ns/job\n", median(&cc),
           median(&uc));
    if (pool)
        cr_pool_free(pool);
    return 0;
}
