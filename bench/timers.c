/* SPDX-License-Identifier: MIT */
/*
 * timers.c — timer-heavy load: LIVE timers stay armed (deadlines 1–10 s out,
 * so none fires), and every 1 ms tick RATE/1000 of them are cancelled and
 * re-armed: RATE arm+cancel pairs per second, paced, for SECONDS. The figure
 * is the process's CPU time per pair (CLOCK_PROCESS_CPUTIME_ID over the paced
 * run: the pairs plus the 1,000 tick wake-ups a second that every peer pays
 * alike). This is the work of a server that arms a timeout per request and
 * cancels it when the answer comes.
 *
 *   timers [SECONDS=1] [RATE=100000] [LIVE=10000]      (ROUNDS=N: rounds)
 *
 * coring: cr_call_later + cr_handle_cancel/cr_handle_release, paced by a task
 * sleeping to absolute 1 ms ticks. libuv (same process, interleaved rounds):
 * uv_timer_stop + uv_timer_start on preallocated handles (libuv's deadlines
 * are whole ms), paced by a repeating 1 ms uv_timer. Peers: Go
 * (time.AfterFunc + Stop), Tokio (a `Sleep` registered by one poll, dropped to
 * cancel), asyncio/uvloop (call_later + cancel): bench/peers/.
 */
#include <coring.h>
#include <uv.h>
#include "thread-common.h"

static int seconds = 1, rate = 100000, live = 10000;
static uint64_t rng = 42;

/* Deadlines from one splitmix64 sequence, uniform in 1–10 s. */
static double next_delay(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return 1.0 + 9.0 * (double)(z >> 11) / 9007199254740992.0;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long pairs;
static double result_cpu; /* CPU ns per pair of the last run */

/* ---- coring ---- */

static void nop(void *arg) { (void)arg; }

static int coring_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_loop *loop = cr_get_running_loop(NULL);
    cr_handle **h = calloc((size_t)live, sizeof *h);
    for (int i = 0; i < live; i++)
        if (cr_call_later(loop, next_delay(), nop, NULL, &h[i]) < 0)
            return -ENOMEM;
    int per_tick = rate / 1000, slot = 0;
    pairs = 0;
    int64_t c0 = cpu_ns(), next = now_ns();
    for (int tick = 0; tick < seconds * 1000; tick++) {
        next += 1000000;
        int64_t wait = next - now_ns();
        if (wait > 0)
            cr_sleep_ns(wait);
        for (int k = 0; k < per_tick; k++) {
            cr_handle_cancel(h[slot]);
            cr_handle_release(h[slot]);
            if (cr_call_later(loop, next_delay(), nop, NULL, &h[slot]) < 0)
                return -ENOMEM;
            slot = (slot + 1) % live;
            pairs++;
        }
    }
    result_cpu = (double)(cpu_ns() - c0) / (double)pairs;
    for (int i = 0; i < live; i++) {
        cr_handle_cancel(h[i]);
        cr_handle_release(h[i]);
    }
    free(h);
    return 0;
}

static double run_coring(void)
{
    if (cr_run(coring_main, NULL, NULL) < 0) {
        fprintf(stderr, "coring run failed\n");
        exit(1);
    }
    return result_cpu;
}

/* ---- libuv ---- */

static uv_timer_t *uvt, tick_timer;
static int uv_slot, uv_ticks;
static int64_t uv_c0;

static void uv_nop(uv_timer_t *t) { (void)t; }

static void uv_tick(uv_timer_t *t)
{
    for (int k = 0; k < rate / 1000; k++) {
        uv_timer_stop(&uvt[uv_slot]);
        uv_timer_start(&uvt[uv_slot], uv_nop, (uint64_t)(next_delay() * 1000), 0);
        uv_slot = (uv_slot + 1) % live;
        pairs++;
    }
    if (++uv_ticks == seconds * 1000) {
        result_cpu = (double)(cpu_ns() - uv_c0) / (double)pairs;
        uv_timer_stop(t);
        for (int i = 0; i < live; i++)
            uv_timer_stop(&uvt[i]);
    }
}

static double run_libuv(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    uvt = calloc((size_t)live, sizeof *uvt);
    for (int i = 0; i < live; i++) {
        uv_timer_init(&loop, &uvt[i]);
        uv_timer_start(&uvt[i], uv_nop, (uint64_t)(next_delay() * 1000), 0);
    }
    uv_timer_init(&loop, &tick_timer);
    pairs = 0, uv_slot = 0, uv_ticks = 0;
    uv_c0 = cpu_ns();
    uv_timer_start(&tick_timer, uv_tick, 1, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < live; i++)
        uv_close((uv_handle_t *)&uvt[i], NULL);
    uv_close((uv_handle_t *)&tick_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(uvt);
    return result_cpu;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        seconds = atoi(argv[1]);
    if (argc > 2)
        rate = atoi(argv[2]);
    if (argc > 3)
        live = atoi(argv[3]);
    if (seconds < 1 || rate < 1000 || live < 1) {
        fprintf(stderr, "usage: timers [SECONDS>=1] [RATE>=1000] [LIVE>=1]\n");
        return 2;
    }
    int rounds = rounds_from_env(5);
    series c = {.name = "coring call_later+cancel, CPU per pair"};
    series u = {.name = "libuv timer stop+start, CPU per pair"};
    for (int i = 0; i < rounds; i++) {
        c.v[c.n++] = run_coring();
        u.v[u.n++] = run_libuv();
    }
    printf("timers: %d s at %d arm+cancel pairs/s, %d armed\n", seconds, rate, live);
    report(&c);
    report(&u);
    printf("RESULT timers_coring %.1f ns/pair\nRESULT timers_libuv %.1f ns/pair\n", median(&c), median(&u));
    return 0;
}
