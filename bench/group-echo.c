/* SPDX-License-Identifier: MIT */
/*
 * group-echo.c — coring's echo server on every core, built from the public
 * API only: a loop group (cr_loop_group_start, one loop per CPU) where each
 * loop accepts on its own SO_REUSEPORT listener (the kernel spreads incoming
 * connections over them) with a multishot acceptor, and serves each
 * connection in a task of that loop with the same zero-copy handler as
 * examples/echo.c. No connection ever moves between loops.
 *
 *     group-echo [port] [loops] [http]   (0/none: any free port; loops 0 = one per CPU)
 *
 * With "http" each connection is served by examples/http.c's handler instead
 * (the HTTP/1.1 hello server: request parser, Date and Server headers,
 * keep-alive), for the all-cores HTTP table beside nginx with 2 workers.
 *
 * Prints "group: listening on 127.0.0.1:PORT"; SIGINT/SIGTERM stop it (the
 * group stop cancels every task and joins the loops).
 *
 * The listeners are made with plain socket calls on the main thread, before
 * the group starts (coring's cr_listen_tcp sets no SO_REUSEPORT, and there is
 * no server helper for it yet): the first binds the port, the rest join it.
 */
#include <coring.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_NO_MAIN
#include "../examples/http.c" /* http_handler: the same HTTP work as examples/http */

enum { MAX_LOOPS = 64 };
static bool serve_http;
static int lfd[MAX_LOOPS];
static atomic_uint next_loop;

static int listener(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0) {
        perror("group-echo: listener");
        exit(1);
    }
    return fd;
}

static int conn_task(void *arg, void **result)
{
    (void)result;
    cr_stream *s = arg;
    cr_buf b;
    if (serve_http) {
        http_handler(s, NULL);
        cr_stream_free(s);
        return 0;
    }
    for (;;) {
        if (cr_stream_read_buf(s, &b) <= 0)
            break; /* EOF, reset, or cancelled at stop */
        if (cr_stream_write_buf(s, &b) < 0 || cr_stream_drain(s) < 0)
            break;
    }
    cr_stream_free(s);
    return 0;
}

/* Each loop: take the next listener, accept on it until the group stops. */
static int loop_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_loop *loop = cr_get_running_loop(NULL);
    unsigned i = atomic_fetch_add(&next_loop, 1);
    cr_acceptor *acc;
    int rc = cr_acceptor_new(loop, lfd[i], &acc);
    if (rc < 0)
        return rc;
    for (;;) {
        int fd = cr_acceptor_next(acc, CR_NO_TIMEOUT);
        if (fd < 0)
            break; /* cancelled by cr_loop_group_stop */
        cr_stream *s;
        /* As cr_start_server does (and nginx's tcp_nodelay): without it Nagle
         * holds a pipelined answer until the client's delayed ACK. */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (cr_stream_new(loop, fd, NULL, &s) < 0) {
            close(fd);
            continue;
        }
        cr_task *t = cr_create_task(conn_task, s);
        if (t)
            cr_future_unref(t); /* fire and forget: the loop keeps it */
        else
            cr_stream_free(s);
    }
    cr_acceptor_free(acc);
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    long n = argc > 2 ? atol(argv[2]) : 0;
    serve_http = argc > 3 && !strcmp(argv[3], "http");
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > MAX_LOOPS)
        n = MAX_LOOPS;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL); /* the loops' threads inherit the mask */
    lfd[0] = listener(port);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(lfd[0], (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    for (long i = 1; i < n; i++)
        lfd[i] = listener(port);
    cr_loop_group *g;
    int rc = cr_loop_group_start(&g, (unsigned)n, loop_main, NULL);
    if (rc < 0) {
        fprintf(stderr, "group-echo: %s\n", cr_strerror(rc));
        return 1;
    }
    printf("group: listening on 127.0.0.1:%d (%ld loops)\n", port, n);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    rc = cr_loop_group_stop(g);
    for (long i = 0; i < n; i++)
        close(lfd[i]);
    return rc < 0;
}
