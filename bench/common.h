/* SPDX-License-Identifier: MIT */
/*
 * common.h — what the whole-program benchmarks share: a clock, the peak RSS
 * of the process, a seeded PRNG (so every runtime sleeps the same delays), and
 * the one output format bench/run.py reads:
 *
 *     RESULT <figure> <value> <unit>
 *
 * Every peer (Go, Python, Rust) prints the same lines for the same figures.
 */
#ifndef CORING_BENCH_COMMON_H
#define CORING_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A "Key:" line of /proc/self/status in KiB (VmHWM: the peak resident set,
 * VmRSS: the current one), or -1 if /proc cannot be read. */
static inline long bench_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && sscanf(line + n, "%ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static inline long bench_vmhwm_kib(void) { return bench_status_kib("VmHWM:"); }
static inline long bench_vmrss_kib(void) { return bench_status_kib("VmRSS:"); }

/* splitmix64: the same sequence in every peer (they implement it too), so all
 * runtimes sleep exactly the same delays. */
static inline uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void bench_result(const char *figure, double value, const char *unit)
{
    printf("RESULT %s %.6g %s\n", figure, value, unit);
    fflush(stdout);
}

#endif
