/* SPDX-License-Identifier: MIT */
/*
 * first-touch.c — what touching fresh memory costs on this machine, per 4 KiB
 * page, the ways coring's stack pool could pay for it.
 *
 *   first-touch [pages=20000] [rounds=3]
 *
 * Owns nothing but its own mappings; one thread. Each round runs every mode
 * on a fresh mapping (interleaved, as /work/shared/BENCHMARKING.md asks), one
 * page per 80 KiB stride (where a default stack's top page sits):
 *
 *   fault          write one byte per page: a page fault each
 *   madvise+touch  madvise(MADV_POPULATE_WRITE) per page, then write each
 *   pmadvise+touch process_madvise(PIDFD_SELF, MADV_POPULATE_WRITE) over an
 *                  iovec of 64 pages per call, then write each
 *   range+touch    one MADV_POPULATE_WRITE over a contiguous range (the lean
 *                  class's case), then write each page of it
 *
 * Prints µs per page for the populate and for the first write after it, and
 * the page faults (getrusage minflt) the write phase took. The finding that
 * shaped stack.c: on our Firecracker VMs the first write to a page stays dear
 * even after the kernel populated it (no fault counted), so fewer pages per
 * task is what pays; populating only turns faults into cheaper calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PIDFD_SELF_PROCESS (-10001)
#define STRIDE (80 * 1024)
#define PAGE 4096

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static void run(int mode, size_t n)
{
    static const char *names[] = {"fault", "madvise+touch", "pmadvise+touch", "range+touch"};
    size_t stride = mode == 3 ? PAGE : STRIDE;
    size_t len = n * stride;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    double t0 = now_us();
    int bad = 0;
    if (mode == 1) {
        for (size_t i = 0; i < n; i++)
            bad |= madvise(p + i * stride + stride - PAGE, PAGE, MADV_POPULATE_WRITE);
    } else if (mode == 2) {
        struct iovec iov[64];
        for (size_t i = 0; i < n; i += 64) {
            size_t k = n - i < 64 ? n - i : 64;
            for (size_t j = 0; j < k; j++)
                iov[j] = (struct iovec){p + (i + j) * stride + stride - PAGE, PAGE};
            bad |= syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, k, MADV_POPULATE_WRITE, 0) < 0;
        }
    } else if (mode == 3) {
        bad |= madvise(p, len, MADV_POPULATE_WRITE);
    }
    double t1 = now_us();
    long f0 = minflt();
    for (size_t i = 0; i < n; i++)
        p[i * stride + stride - 64] = 1;
    double t2 = now_us();
    long f1 = minflt();
    printf("%-15s populate %6.2f us/page  first write %6.2f us/page  faults/page %.3f%s\n",
           names[mode], (t1 - t0) / (double)n, (t2 - t1) / (double)n, (double)(f1 - f0) / (double)n,
           bad ? "  (populate failed: kernel too old?)" : "");
    munmap(p, len);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    for (int r = 0; r < rounds; r++)
        for (int m = 0; m < 4; m++)
            run(m, n);
    return 0;
}
