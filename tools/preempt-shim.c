/* SPDX-License-Identifier: MIT */
/*
 * preempt-shim.c — an LD_PRELOAD library that makes this machine look like a
 * slow, loaded one to the test suite (`make test-preempt`).
 *
 * Owns: one wrapper around clock_gettime(3). At random CLOCK_MONOTONIC reads
 * (one in CORING_PREEMPT_EVERY, default 4) it spins for a random
 * 0..CORING_PREEMPT_US microseconds (default 1000) of real time, before or
 * after reading the clock, as if the thread had been preempted right there. coring reads the clock when it arms
 * a timer and when it expires them, so the gaps land exactly where tests that
 * lean on timer races are fragile: two 1 ms timers armed "at once" by two
 * tasks can end up hundreds of microseconds apart and expire in different
 * loop turns, as they do on a slow CI machine. Every ordering test must hold
 * under it; the suite's rule (tests/README.md) is that orderings never depend
 * on speed.
 *
 * Invariants: time stays real and monotonic (the shim only waits, it never
 * lies about the clock), so kernel timeouts and coring's deadlines agree.
 * Threads: any; the random state is per thread.
 *
 * Only for release builds: the sanitizers want to be first in the link map.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

static clock_fn real_clock(void)
{
    static clock_fn fn;
    if (!fn)
        fn = (clock_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return fn;
}

static int env_int(const char *name, int dflt)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : dflt;
}

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
    return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
}

int clock_gettime(clockid_t c, struct timespec *ts)
{
    static int every = -1, max_us;
    static __thread unsigned seed;
    clock_fn fn = real_clock();
    if (every < 0) { /* a benign race: every thread computes the same values */
        max_us = env_int("CORING_PREEMPT_US", 1000);
        every = env_int("CORING_PREEMPT_EVERY", 4);
    }
    if (c != CLOCK_MONOTONIC || every <= 0 || max_us <= 0)
        return fn(c, ts);
    if (!seed)
        seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL) ^ 0x9e3779b9u;
    unsigned r = (unsigned)rand_r(&seed);
    if (r % (unsigned)every)
        return fn(c, ts);
    /* Preempted before the read (the caller sees a later time) or right
     * after it (the caller acts on a time already stale): both happen. */
    bool after = r / (unsigned)every & 1;
    int rc = after ? fn(c, ts) : 0;
    int64_t want = (int64_t)(rand_r(&seed) % (unsigned)(max_us + 1)) * 1000;
    struct timespec a, b;
    fn(c, &a);
    do
        fn(c, &b);
    while (ns_between(&a, &b) < want);
    return after ? rc : fn(c, ts);
}
