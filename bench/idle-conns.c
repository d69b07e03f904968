/* SPDX-License-Identifier: MIT */
/*
 * idle-conns.c — N idle TCP connections, each with a handler task parked in
 * cr_stream_readline: what one costs the server in resident memory.
 *
 *   idle-conns N [lean] [talk] measure N idle connections (below)
 *   idle-conns serve [lean] [copy]  a server for bench/loadgen's idle mode
 *
 * Owns: one coring server (this process) and one client process (forked)
 * that opens N loopback connections and sends nothing. Two processes because
 * N connections need 2N descriptors: each side raises its RLIMIT_NOFILE soft
 * limit to the hard one. When N does not fit under it (a hard limit of 20,000
 * on the machines this project measures on, which no process there may raise),
 * N is split over S = ceil(N / (limit - 64)) server processes, each with its
 * own client, all N connections open at once; the figures are the sums over
 * the servers, divided by N. Client sockets bind 127.0.0.x (a new x every
 * 20,000) so that N may exceed the ephemeral port range.
 *
 * Prints (bench/common.h's RESULT lines) the server's resident memory per
 * connection — VmRSS once all N handlers are parked minus VmRSS before the
 * first connection, over N — and its minor faults per connection (getrusage
 * minflt: pages made resident, a count that does not drift with the machine;
 * it includes pages brought in by MADV_POPULATE_WRITE, which perf's
 * page-faults event, counting traps only, does not).
 * `lean` gives the handler tasks the lean stack class (cr_server_opts.
 * stack_class; the main task keeps the default stack). `talk`: connections
 * after one exchange — once all are up the client sends a line on each and
 * reads its echo (each handler answers with cr_stream_write, as a line
 * protocol does, and parks in readline again); the server measures once every
 * handler is parked again plus TALK_SETTLE_MS, the time the loop's buffer
 * cache takes to give idle pages back (up to three of its 100 ms ticks: the
 * one that saw the last request, one that finds it idle, one more to trim
 * what the first window still counted as used).
 *
 * `serve` prints "idle-conns: listening on 127.0.0.1:PORT" and runs until
 * SIGTERM: each connection's task echoes what first arrives (bench/loadgen's
 * idle mode makes one 1-byte round trip; `copy`: through cr_stream_read and
 * cr_stream_write instead of the buffer views), then parks in cr_stream_readline,
 * so that loadgen measures it beside the other runtimes' servers.
 *
 * Threads: the loop's thread only; the client is a separate process.
 */
#include <coring.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static long n_conns;
static int report_fd = -1, go_fd = -1; /* a shard's pipes to the parent */
static size_t parked, ended, answered;
static bool talk;
#define TALK_SETTLE_MS 500


static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

/* The client: N connections, nothing sent; a byte on `done` when all are up,
 * then it waits to be killed (its sockets close with it). */
static void client(int port, int done)
{
    int *fds = talk ? malloc((size_t)n_conns * sizeof *fds) : NULL;
    if (talk && !fds)
        _exit(1);
    for (long i = 0; i < n_conns; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("idle-conns: client socket");
            _exit(1);
        }
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i / 20000));
        struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        dst.sin_addr.s_addr = htonl(0x7f000001u);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
            connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) {
            perror("idle-conns: client connect");
            _exit(1);
        }
        if (fds)
            fds[i] = fd;
    }
    /* talk: one exchange on each, all in flight at once (the server's worst
     * case: every connection's buffers taken within a few loop turns). */
    char r[2];
    for (long i = 0; fds && i < n_conns; i++)
        if (write(fds[i], "x\n", 2) != 2)
            _exit(1);
    for (long i = 0; fds && i < n_conns; i++)
        if (read(fds[i], r, 2) != 2)
            _exit(1);
    char c = 1;
    if (write(done, &c, 1) != 1)
        _exit(1);
    pause();
    _exit(0);
}

static int handler(cr_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    ssize_t n;
    for (;;) {
        parked++;
        n = cr_stream_readline(s, line, sizeof line); /* parks: nothing pending */
        parked--;
        if (n <= 0)
            break;
        if ((n = cr_stream_write(s, line, (size_t)n)) < 0 || (n = cr_stream_drain(s)) < 0)
            break;
        answered++;
    }
    ended++;
    return n < 0 ? (int)n : 0;
}

static cr_server_opts srv_opts;

/* serve mode: echo the first bytes, then park in readline until the peer
 * closes. The echo hands the received buffer back and forth (read_buf +
 * write_buf, as examples/echo.c): with cr_stream_read + cr_stream_write the
 * stream would keep a 4 KiB read and a 4 KiB write buffer for the rest of the
 * connection's life (docs/memory.md; `copy` measures that). */
static bool serve_copy;

static int serve_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char line[64];
    ssize_t n;
    if (serve_copy) {
        n = cr_stream_read(s, line, sizeof line);
        if (n > 0 && (n = cr_stream_write(s, line, (size_t)n)) > 0)
            n = cr_stream_drain(s);
    } else {
        cr_buf b;
        n = cr_stream_read_buf(s, &b);
        if (n > 0 && (n = cr_stream_write_buf(s, &b)) >= 0)
            n = cr_stream_drain(s);
    }
    while (n >= 0 && (n = cr_stream_readline(s, line, sizeof line)) > 0)
        ;
    return 0;
}

static int serve(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    int rc = cr_start_server(NULL, "127.0.0.1", 0, serve_handler, NULL, &srv_opts, &srv);
    if (rc < 0)
        return rc;
    printf("idle-conns: listening on 127.0.0.1:%d\n", cr_server_port(srv));
    fflush(stdout);
    cr_event *never = cr_event_new(); /* SIGTERM's default action ends it */
    return never ? cr_event_wait(never) : -ENOMEM;
}

static int amain(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    int rc = cr_start_server(NULL, "127.0.0.1", 0, handler, NULL, &srv_opts, &srv);
    if (rc < 0)
        return rc;
    int pfd[2];
    if (pipe(pfd) < 0)
        return -errno;
    long rss0 = bench_vmrss_kib(), flt0 = minflt();
    int64_t t0 = bench_now_ns();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        client(cr_server_port(srv), pfd[1]);
    }
    close(pfd[1]);
    while (parked < (size_t)n_conns || (talk && answered < (size_t)n_conns)) {
        if ((rc = cr_sleep(0.01)) < 0)
            return rc;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "idle-conns: the client died with %ld of %ld connected\n",
                    (long)parked, n_conns);
            return -EIO;
        }
    }
    int64_t t1 = bench_now_ns();
    if (talk && (rc = cr_sleep(TALK_SETTLE_MS / 1e3)) < 0) /* the cache's trim */
        return rc;
    long rss1 = bench_vmrss_kib(), flt1 = minflt();
    if (report_fd >= 0) { /* one shard of several: report, then hold until all are up */
        char c;
        dprintf(report_fd, "%ld %ld %lld\n", rss1 - rss0, flt1 - flt0, (long long)(t1 - t0));
        if (read(go_fd, &c, 1) < 0)
            c = 0;
    } else {
        bench_result("idle_conns", (double)n_conns, "connections");
        bench_result("idle_conns_setup", (double)(t1 - t0) / 1e6, "ms");
        bench_result("idle_conns_rss_per_conn", (double)(rss1 - rss0) * 1024.0 / (double)n_conns, "B");
        bench_result("idle_conns_minflt_per_conn", (double)(flt1 - flt0) / (double)n_conns, "pages");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    while (ended < (size_t)n_conns && cr_sleep(0.01) == 0)
        ;
    cr_server_shutdown(srv, 0);
    cr_server_free(srv);
    return 0;
}

static int run_one(bool lean, bool serving)
{
    cr_loop *loop;
    int rc = cr_loop_new(&loop, NULL);
    if (rc < 0) {
        fprintf(stderr, "idle-conns: %s (%s)\n", cr_strerror(rc), cr_setup_error());
        return 1;
    }
    if (lean)
        srv_opts.stack_class = CR_STACK_LEAN;
    cr_task *t;
    rc = cr_loop_create_task(loop, serving ? serve : amain, NULL, NULL, &t);
    if (rc == 0) {
        rc = cr_loop_run_until_complete(loop, t, NULL);
        cr_future_unref(t);
    }
    cr_loop_free(loop);
    if (rc < 0)
        fprintf(stderr, "idle-conns: %s\n", cr_strerror(rc));
    return rc < 0;
}

/* N over S server processes (each with its own client), all connected at once. */
static int run_shards(bool lean, long per)
{
    long n = n_conns, shards = (n + per - 1) / per;
    int rep[2], go[2];
    if (pipe(rep) < 0 || pipe(go) < 0)
        return 1;
    fflush(NULL);
    pid_t pids[shards];
    for (long i = 0; i < shards; i++) {
        long share = n / shards + (i < n % shards);
        if ((pids[i] = fork()) == 0) {
            close(rep[0]);
            close(go[1]);
            report_fd = rep[1];
            go_fd = go[0];
            n_conns = share;
            _exit(run_one(lean, false));
        }
    }
    close(rep[1]);
    close(go[0]);
    FILE *f = fdopen(rep[0], "r");
    long rss = 0, flt = 0, got = 0;
    long long setup = 0;
    for (long r, fl, i = 0; i < shards; i++) {
        long long ns;
        if (fscanf(f, "%ld %ld %lld", &r, &fl, &ns) != 3)
            break;
        rss += r, flt += fl, got++;
        setup = ns > setup ? ns : setup;
    }
    close(go[1]); /* every shard holds its connections until now */
    int bad = 0;
    for (long i = 0; i < shards; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    fclose(f);
    if (got < shards || bad) {
        fprintf(stderr, "idle-conns: %ld of %ld shards reported\n", got, shards);
        return 1;
    }
    bench_result("idle_conns", (double)n, "connections");
    bench_result("idle_conns_processes", (double)shards, "servers");
    bench_result("idle_conns_setup", (double)setup / 1e6, "ms");
    bench_result("idle_conns_rss_per_conn", (double)rss * 1024.0 / (double)n, "B");
    bench_result("idle_conns_minflt_per_conn", (double)flt / (double)n, "pages");
    return 0;
}

int main(int argc, char **argv)
{
    bool serving = argc >= 2 && strcmp(argv[1], "serve") == 0;
    if (argc < 2 || (!serving && (n_conns = atol(argv[1])) <= 0)) {
        fprintf(stderr, "usage: %s N [lean] [talk] | serve [lean] [copy]\n", argv[0]);
        return 2;
    }
    bool lean = false;
    for (int i = 2; i < argc; i++) {
        lean |= strcmp(argv[i], "lean") == 0;
        serve_copy |= strcmp(argv[i], "copy") == 0;
        talk |= strcmp(argv[i], "talk") == 0;
    }
    rlim_t lim = raise_nofile();
    if (serving)
        return run_one(lean, true);
    long per = (long)lim - 128; /* the loop's own descriptors, stdio, the pipes */
    if (per < 1)
        return 2;
    return n_conns <= per ? run_one(lean, false) : run_shards(lean, per);
}
