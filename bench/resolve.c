/* SPDX-License-Identifier: MIT */
/*
 * bench/resolve.c — what the thread-pool hop of cr_getaddrinfo costs: N
 * lookups of a /etc/hosts name ("localhost": no DNS involved) done (a) with a
 * plain blocking getaddrinfo on the calling thread, (b) with cr_getaddrinfo
 * one after another from one task, (c) with cr_getaddrinfo from 32 tasks at
 * once. Rounds interleave a, b, c (BENCHMARKING.md); prints the median and
 * min-max microseconds per lookup.
 *
 *   make && cc -std=gnu11 -D_GNU_SOURCE -O2 -Iinclude bench/resolve.c \
 *       lib/libcoring.a -luring -lpthread -o build/resolve && build/resolve [N] [rounds]
 */
#include <coring.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int n_lookups;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct addrinfo hints = {.ai_socktype = SOCK_STREAM};

static double direct(void)
{
    double t0 = now();
    for (int i = 0; i < n_lookups; i++) {
        struct addrinfo *res;
        if (getaddrinfo("localhost", "80", &hints, &res) != 0)
            return -1;
        freeaddrinfo(res);
    }
    return (now() - t0) * 1e6 / n_lookups;
}

static int lookups(void *arg, void **r)
{
    (void)r;
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        struct addrinfo *res;
        int rc = cr_getaddrinfo("localhost", "80", &hints, &res);
        if (rc < 0)
            return rc;
        cr_freeaddrinfo(res);
    }
    return 0;
}

static int concurrent(void *arg, void **r)
{
    (void)arg, (void)r;
    enum { T = 32 };
    cr_task *t[T];
    for (int i = 0; i < T; i++)
        t[i] = cr_create_task(lookups, (void *)(intptr_t)(n_lookups / T));
    int rc = cr_gather(t, T, NULL, NULL, 0);
    for (int i = 0; i < T; i++)
        cr_future_unref(t[i]);
    return rc;
}

static double timed(cr_task_fn fn, void *arg)
{
    double t0 = now();
    int rc = cr_run(fn, arg, NULL);
    return rc < 0 ? -1 : (now() - t0) * 1e6 / n_lookups;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void show(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%-34s %6.2f (%.2f-%.2f)\n", what, v[n / 2], v[0], v[n - 1]);
}

int main(int argc, char **argv)
{
    n_lookups = argc > 1 ? atoi(argv[1]) : 2048;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > 64 || n_lookups < 32)
        return 2;
    double a[64], b[64], c[64];
    for (int i = 0; i < rounds; i++) {
        a[i] = direct();
        b[i] = timed(lookups, (void *)(intptr_t)n_lookups);
        c[i] = timed(concurrent, NULL);
        if (a[i] < 0 || b[i] < 0 || c[i] < 0) {
            fprintf(stderr, "a lookup failed\n");
            return 1;
        }
    }
    printf("%d lookups of localhost, %d interleaved rounds, us/lookup median (min-max)\n",
           n_lookups, rounds);
    show("getaddrinfo, blocking, in place", a, rounds);
    show("cr_getaddrinfo, one task", b, rounds);
    show("cr_getaddrinfo, 32 tasks at once", c, rounds);
    return 0;
}
