/* SPDX-License-Identifier: MIT */
/*
 * bench/pipes.c — a child's pipes: `cat` echoing N MiB, fed and drained
 * concurrently, through CR_SUBPROCESS_STREAM (a socket pair read as a
 * cr_stream: multishot recv into provided buffers, background sends) vs
 * CR_SUBPROCESS_PIPE (an OS pipe, one single-shot read/write op per call).
 * Rounds interleave the two (BENCHMARKING.md: the machine drifts); prints the
 * median and min-max MiB/s of each and their ratio.
 *
 *   make && cc -std=gnu11 -D_GNU_SOURCE -O2 -Iinclude bench/pipes.c \
 *       lib/libcoring.a -luring -lpthread -o build/pipes && build/pipes [MiB] [rounds]
 */
#include <coring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t total;
static char chunk[64 * 1024];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int feed(void *arg, void **r)
{
    (void)r;
    cr_subprocess *p = arg;
    for (size_t off = 0; off < total; off += sizeof chunk) {
        ssize_t n = cr_subprocess_write(p, chunk, sizeof chunk); /* STREAM: write+drain */
        if (n < 0)
            return (int)n;
    }
    return cr_subprocess_close_pipe(p, 0);
}

static int one_round(void *arg, void **result)
{
    int mode = (int)(intptr_t)arg;
    const char *argv[] = {"cat", NULL};
    cr_subprocess_opts o = {.stdin_mode = mode, .stdout_mode = mode};
    cr_subprocess *p;
    int rc = cr_create_subprocess_exec(&p, argv, &o);
    if (rc < 0)
        return rc;
    double t0 = now();
    cr_task *t = cr_create_task(feed, p);
    static char buf[64 * 1024];
    size_t got = 0;
    ssize_t n;
    while ((n = cr_subprocess_read(p, 1, buf, sizeof buf)) > 0)
        got += (size_t)n;
    rc = cr_await(t, NULL);
    cr_future_unref(t);
    double dt = now() - t0;
    cr_subprocess_wait(p, NULL);
    cr_subprocess_free(p);
    if (rc < 0 || n < 0 || got != total)
        return rc < 0 ? rc : -EIO;
    static double mibs;
    mibs = (double)total / (1 << 20) / dt;
    *result = &mibs;
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 64;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > 64 || !mib)
        return 2;
    total = mib << 20;
    memset(chunk, 'x', sizeof chunk);
    double s[64], p[64];
    for (int i = 0; i < rounds; i++) {
        for (int k = 0; k < 2; k++) {
            void *res;
            int mode = k ? CR_SUBPROCESS_PIPE : CR_SUBPROCESS_STREAM;
            int rc = cr_run(one_round, (void *)(intptr_t)mode, &res);
            if (rc < 0) {
                fprintf(stderr, "round failed: %s\n", cr_strerror(rc));
                return 1;
            }
            (k ? p : s)[i] = *(double *)res;
        }
    }
    qsort(s, (size_t)rounds, sizeof *s, cmp);
    qsort(p, (size_t)rounds, sizeof *p, cmp);
    printf("cat echo of %zu MiB, %d interleaved rounds, MiB/s median (min-max)\n", mib, rounds);
    printf("STREAM (socket pair + cr_stream)  %7.0f (%.0f-%.0f)\n", s[rounds / 2], s[0],
           s[rounds - 1]);
    printf("PIPE   (OS pipe, raw read/write)  %7.0f (%.0f-%.0f)\n", p[rounds / 2], p[0],
           p[rounds - 1]);
    printf("STREAM / PIPE = %.2f\n", s[rounds / 2] / p[rounds / 2]);
    return 0;
}
