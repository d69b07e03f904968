/* SPDX-License-Identifier: MIT */
/*
 * thread-common.h — shared by bench/thread-*.c: a clock, and the interleaved
 * A/B rounds with medians and min–max that BENCHMARKING.md asks for (this
 * machine drifts by up to 50%: only same-run ratios mean anything).
 */
#ifndef CORING_BENCH_THREAD_COMMON_H
#define CORING_BENCH_THREAD_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct series {
    const char *name;
    double v[64];
    int n;
} series;

static inline double median(series *s)
{
    double t[64];
    for (int i = 0; i < s->n; i++)
        t[i] = s->v[i];
    qsort(t, (size_t)s->n, sizeof *t, cmp_d);
    return s->n % 2 ? t[s->n / 2] : (t[s->n / 2 - 1] + t[s->n / 2]) / 2;
}

static inline double smin(series *s)
{
    double m = s->v[0];
    for (int i = 1; i < s->n; i++)
        m = s->v[i] < m ? s->v[i] : m;
    return m;
}

static inline double smax(series *s)
{
    double m = s->v[0];
    for (int i = 1; i < s->n; i++)
        m = s->v[i] > m ? s->v[i] : m;
    return m;
}

static inline void report(series *s)
{
    printf("  %-44s %9.1f ns/op  (min %.1f, max %.1f, %d rounds)\n", s->name, median(s),
           smin(s), smax(s), s->n);
}

static inline int rounds_from_env(int def)
{
    const char *r = getenv("ROUNDS");
    int n = r ? atoi(r) : def;
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

#endif
