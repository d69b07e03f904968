/* SPDX-License-Identifier: MIT */
/*
 * idle-conns.c — N idle TCP connections, each with a handler task parked in
 * cr_stream_readline: what one costs the server in resident memory.
 *
 *   idle-conns N [lean]
 *
 * Owns: one coring server (this process) and one client process (forked)
 * that opens N loopback connections and sends nothing. Two processes because
 * N connections need 2N descriptors: each side raises its RLIMIT_NOFILE soft
 * limit to the hard one and N must fit under it (the program says so if not).
 * Client sockets bind 127.0.0.x (a new x every 20,000) so that N may exceed
 * the ephemeral port range.
 *
 * Prints (bench/common.h's RESULT lines) the server's resident memory per
 * connection — VmRSS once all N handlers are parked minus VmRSS before the
 * first connection, over N — and its minor faults per connection (getrusage
 * minflt: pages made resident, a count that does not drift with the machine;
 * it includes pages brought in by MADV_POPULATE_WRITE, which perf's
 * page-faults event, counting traps only, does not).
 * `lean` gives the handler tasks the lean stack class (the loop's
 * stack_class; the main task keeps a 64K stack).
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
static size_t parked, ended;

static long vmrss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

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
    }
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
    parked++;
    ssize_t n = cr_stream_readline(s, line, sizeof line); /* parks: nothing is ever sent */
    parked--;
    ended++;
    return n < 0 ? (int)n : 0;
}

static int amain(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    int rc = cr_start_server(NULL, "127.0.0.1", 0, handler, NULL, NULL, &srv);
    if (rc < 0)
        return rc;
    int pfd[2];
    if (pipe(pfd) < 0)
        return -errno;
    long rss0 = vmrss_kib(), flt0 = minflt();
    int64_t t0 = bench_now_ns();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        client(cr_server_port(srv), pfd[1]);
    }
    close(pfd[1]);
    while (parked < (size_t)n_conns) {
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
    long rss1 = vmrss_kib(), flt1 = minflt();
    bench_result("idle_conns", (double)n_conns, "connections");
    bench_result("idle_conns_setup", (double)(t1 - t0) / 1e6, "ms");
    bench_result("idle_conns_rss_per_conn", (double)(rss1 - rss0) * 1024.0 / (double)n_conns, "B");
    bench_result("idle_conns_minflt_per_conn", (double)(flt1 - flt0) / (double)n_conns, "pages");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    while (ended < (size_t)n_conns && cr_sleep(0.01) == 0)
        ;
    cr_server_shutdown(srv, 0);
    cr_server_free(srv);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (n_conns = atol(argv[1])) <= 0) {
        fprintf(stderr, "usage: %s N [lean]\n", argv[0]);
        return 2;
    }
    rlim_t lim = raise_nofile();
    if ((rlim_t)n_conns + 64 > lim) {
        fprintf(stderr, "idle-conns: %ld connections need %ld descriptors per process; "
                        "RLIMIT_NOFILE's hard limit is %lu\n",
                n_conns, n_conns + 64, (unsigned long)lim);
        return 2;
    }
    cr_loop_opts lo = {0};
    cr_task_opts mo = {.name = "main"};
#ifdef CR_HAVE_STACK_CLASSES /* built against an older coring for before/after runs */
    if (argc > 2 && strcmp(argv[2], "lean") == 0)
        lo.stack_class = CR_STACK_LEAN;
    mo.stack_class = CR_STACK_64K;
#endif
    cr_loop *loop;
    int rc = cr_loop_new(&loop, &lo);
    if (rc < 0) {
        fprintf(stderr, "idle-conns: %s (%s)\n", cr_strerror(rc), cr_setup_error());
        return 1;
    }
    cr_task *t;
    rc = cr_loop_create_task(loop, amain, NULL, &mo, &t);
    if (rc == 0) {
        rc = cr_loop_run_until_complete(loop, t, NULL);
        cr_future_unref(t);
    }
    cr_loop_free(loop);
    if (rc < 0)
        fprintf(stderr, "idle-conns: %s\n", cr_strerror(rc));
    return rc < 0;
}
