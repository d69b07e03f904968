/* SPDX-License-Identifier: MIT */
/*
 * fileread.c — random 4 KiB reads from a warm file: io_uring (cr_read)
 * against the thread pool (cr_to_thread around pread) against libuv
 * (uv_fs_read, its thread pool), interleaved rounds in one process.
 *
 *   fileread [READS=200000] [INFLIGHT=64] [MIB=64]      (ROUNDS=N, WORKERS=N)
 *
 * The file (MIB MiB under $TMPDIR or /tmp, removed at exit) is written and
 * read through once before the first round, so every read is a page-cache
 * hit: the figure is each path's overhead, not the disk's. Offsets are 4 KiB
 * aligned, from one splitmix64 sequence. INFLIGHT tasks (coring) or requests
 * (libuv) each read until READS are done. Figures: wall ns per read, and the
 * process's CPU ns per read (CLOCK_PROCESS_CPUTIME_ID: loop + workers).
 * WORKERS sizes coring's pool and libuv's (make bench: the CPU count).
 */
#include <coring.h>
#include <fcntl.h>
#include <string.h>
#include <uv.h>
#include <unistd.h>
#include "thread-common.h"

static int reads = 200000, inflight = 64, mib = 64;
static int fd;
static long remaining;
static uint64_t rng;
static double last_cpu;

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t next_off(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (int64_t)(z % ((uint64_t)mib * 256)) * 4096;
}

/* ---- coring: io_uring reads, or pread on the pool ---- */

static bool use_pool;

struct pread_job {
    char *buf;
    int64_t off;
};

static int do_pread(void *arg, void **result)
{
    struct pread_job *j = arg;
    *result = (void *)(intptr_t)pread(fd, j->buf, 4096, j->off);
    return 0;
}

static int reader(void *arg, void **result)
{
    (void)arg;
    (void)result;
    char buf[4096];
    while (remaining > 0) {
        remaining--;
        int64_t off = next_off();
        ssize_t n;
        if (use_pool) {
            struct pread_job j = {buf, off};
            void *r;
            int rc = cr_to_thread(do_pread, &j, &r);
            n = rc < 0 ? rc : (ssize_t)(intptr_t)r;
        } else {
            n = cr_read(fd, buf, 4096, off, CR_NO_TIMEOUT);
        }
        if (n != 4096)
            return n < 0 ? (int)n : -EIO;
    }
    return 0;
}

static cr_pool *pool;

static int coring_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    if (pool)
        cr_loop_set_default_executor(cr_get_running_loop(NULL), pool);
    cr_task **t = calloc((size_t)inflight, sizeof *t);
    for (int i = 0; i < inflight; i++)
        t[i] = cr_create_task(reader, NULL);
    int rc = cr_gather(t, (size_t)inflight, NULL, NULL, 0);
    for (int i = 0; i < inflight; i++)
        cr_future_unref(t[i]);
    free(t);
    return rc;
}

static double run_coring(bool pool_reads)
{
    use_pool = pool_reads;
    remaining = reads;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    if (cr_run(coring_main, NULL, NULL) < 0) {
        fprintf(stderr, "fileread: coring run failed\n");
        exit(1);
    }
    last_cpu = (double)(cpu_ns() - c0) / reads;
    return (double)(now_ns() - t0) / reads;
}

/* ---- libuv: uv_fs_read on its thread pool ---- */

struct uvreq {
    uv_fs_t fs;
    char buf[4096];
};

static void uv_next(uv_loop_t *loop, struct uvreq *r);

static void uv_done(uv_fs_t *req)
{
    struct uvreq *r = (struct uvreq *)req;
    if (req->result != 4096) {
        fprintf(stderr, "fileread: uv_fs_read %ld\n", (long)req->result);
        exit(1);
    }
    uv_loop_t *loop = req->loop;
    uv_fs_req_cleanup(req);
    uv_next(loop, r);
}

static void uv_next(uv_loop_t *loop, struct uvreq *r)
{
    if (remaining <= 0)
        return;
    remaining--;
    uv_buf_t b = uv_buf_init(r->buf, 4096);
    uv_fs_read(loop, &r->fs, fd, &b, 1, next_off(), uv_done);
}

static double run_libuv(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct uvreq *rq = calloc((size_t)inflight, sizeof *rq);
    remaining = reads;
    int64_t t0 = now_ns(), c0 = cpu_ns();
    for (int i = 0; i < inflight; i++)
        uv_next(&loop, &rq[i]);
    uv_run(&loop, UV_RUN_DEFAULT);
    last_cpu = (double)(cpu_ns() - c0) / reads;
    double r = (double)(now_ns() - t0) / reads;
    uv_loop_close(&loop);
    free(rq);
    return r;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        reads = atoi(argv[1]);
    if (argc > 2)
        inflight = atoi(argv[2]);
    if (argc > 3)
        mib = atoi(argv[3]);
    if (reads < 1 || inflight < 1 || mib < 1) {
        fprintf(stderr, "usage: fileread [READS] [INFLIGHT] [MIB]\n");
        return 2;
    }
    const char *w = getenv("WORKERS");
    if (w && atoi(w) > 0) {
        cr_pool_opts o = {.workers = (unsigned)atoi(w)};
        if (cr_pool_new(&pool, &o) < 0)
            return 1;
        setenv("UV_THREADPOOL_SIZE", w, 1);
    }
    char path[256];
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/coring-fileread-XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) {
        perror("fileread: mkstemp");
        return 1;
    }
    unlink(path); /* gone at exit, whatever happens */
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < mib; i++)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
            return 1;
    for (int i = 0; i < mib; i++) /* warm: every page in the page cache */
        if (pread(fd, chunk, sizeof chunk, (off_t)i << 20) != (ssize_t)sizeof chunk)
            return 1;
    int rounds = rounds_from_env(5);
    series a = {.name = "coring cr_read (io_uring), wall"}, b = {.name = "coring to_thread(pread), wall"},
           c = {.name = "libuv uv_fs_read, wall"};
    series ac = {.name = "coring cr_read, CPU"}, bc = {.name = "coring to_thread(pread), CPU"},
           cc = {.name = "libuv uv_fs_read, CPU"};
    for (int i = 0; i < rounds; i++) {
        a.v[a.n++] = run_coring(false);
        ac.v[ac.n++] = last_cpu;
        b.v[b.n++] = run_coring(true);
        bc.v[bc.n++] = last_cpu;
        c.v[c.n++] = run_libuv();
        cc.v[cc.n++] = last_cpu;
    }
    printf("fileread: %d random 4 KiB reads of a warm %d MiB file, %d in flight\n", reads, mib, inflight);
    report(&a), report(&b), report(&c), report(&ac), report(&bc), report(&cc);
    printf("RESULT fileread_uring %.1f ns/read\nRESULT fileread_pool %.1f ns/read\n"
           "RESULT fileread_libuv %.1f ns/read\n", median(&a), median(&b), median(&c));
    printf("RESULT fileread_cpu_uring %.1f ns/read\nRESULT fileread_cpu_pool %.1f ns/read\n"
           "RESULT fileread_cpu_libuv %.1f ns/read\n", median(&ac), median(&bc), median(&cc));
    close(fd);
    if (pool)
        cr_pool_free(pool);
    return 0;
}
