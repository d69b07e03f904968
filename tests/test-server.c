/* SPDX-License-Identifier: MIT */
/*
 * Description: servers — start_server with a task per connection over one
 * multishot accept, many clients, peer resets and half-closed connections,
 * graceful shutdown with connections open (handlers that finish in time and
 * handlers that get cancelled), Unix-socket servers, eager start (ordering,
 * handlers that never suspend, cancellation, a server freed before its start
 * step, on both backends), and the HTTP example
 * answering curl and a raw pipelined request sent in pieces.
 */
#include "io-helpers.h"
#include "core/internal.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#define HTTP_NO_MAIN
#include "../examples/http.c"

static int echo_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char buf[1024];
    for (;;) {
        ssize_t n = cr_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return n == 0 ? 0 : (int)n;
        cr_stream_write(s, buf, (size_t)n);
        if (cr_stream_drain(s) < 0)
            return 0;
    }
}

static int echo_client(void *arg, void **result)
{
    (void)result;
    /* GUARD_S: 400 tasks (200 clients, 200 handlers) start at once */
    int fd = cr_connect_tcp("127.0.0.1", PINT(arg), GUARD_S);
    if (fd < 0)
        return fd;
    char msg[32], buf[32];
    int len = snprintf(msg, sizeof msg, "hello %d", fd);
    for (int i = 0; i < 5; i++) {
        if (cr_send_all(fd, msg, (size_t)len, GUARD_S) != len ||
            cr_recv(fd, buf, (size_t)len, MSG_WAITALL, GUARD_S) != len ||
            memcmp(msg, buf, (size_t)len)) {
            close(fd);
            return -EIO;
        }
    }
    close(fd);
    return 0;
}

static int many_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    enum { N = 200 };
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    cr_task *t[N];
    for (int i = 0; i < N; i++)
        t[i] = cr_create_task(echo_client, IPTR(cr_server_port(srv)));
    cr_assert_eq(cr_gather(t, N, NULL, NULL, 0), 0);
    for (int i = 0; i < N; i++)
        cr_future_unref(t[i]);
    cr_acceptor_stats st;
    cr_acceptor_get_stats(cr_server_acceptor(srv), &st);
    cr_assert_eq(st.accepted, N);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_connections(srv), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* 200 concurrent clients are each echoed correctly over one multishot accept. */
Test(server, echo_many_clients)
{
    RUN_NO_FD_LEAK(many_main, NULL);
}

static int half_close_handler(cr_stream *s, void *arg)
{
    (void)arg;
    /* Read everything until EOF, then answer: the peer only shut its side. */
    char buf[256];
    size_t total = 0;
    ssize_t n;
    while ((n = cr_stream_read(s, buf, sizeof buf)) > 0)
        total += (size_t)n;
    if (n < 0)
        return (int)n;
    char out[32];
    int len = snprintf(out, sizeof out, "got %zu", total);
    cr_stream_write(s, out, (size_t)len);
    return cr_stream_drain(s);
}

static int half_close_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, half_close_handler, NULL, NULL, &srv), 0);
    int port = cr_server_port(srv);
    /* A reset peer: the handler gets an error; the server goes on. */
    int r = cr_connect_tcp("127.0.0.1", port, 1.0);
    cr_assert_geq(r, 0);
    while (cr_server_connections(srv) < 1) /* its handler runs: the reset hits it */
        cr_sleep(0.001);
    struct linger lg = {1, 0};
    setsockopt(r, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(r);
    /* A half-closed peer still gets its answer. */
    int fd = cr_connect_tcp("127.0.0.1", port, 1.0);
    cr_assert_eq(cr_send_all(fd, "0123456789", 10, 1.0), 10);
    cr_assert_eq(cr_shutdown(fd, SHUT_WR), 0);
    char buf[32] = {0};
    cr_assert_eq(cr_recv(fd, buf, sizeof buf - 1, MSG_WAITALL, 2.0), 6);
    cr_assert_str_eq(buf, "got 10");
    close(fd);
    cr_assert_eq(cr_server_shutdown(srv, 1.0), 0, "nothing had to be cancelled");
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* Peer resets and half-closed connections are handled; the server survives. */
Test(server, reset_and_half_close)
{
    RUN_NO_FD_LEAK(half_close_main, NULL);
}

static int GOT_Q; /* handlers that have read their 'q' */

static int stuck_handler(cr_stream *s, void *arg)
{
    int *finished = arg;
    char buf[16];
    ssize_t n = cr_stream_read(s, buf, sizeof buf); /* waits for data that never comes */
    if (n == 1 && buf[0] == 'q') {
        GOT_Q++;
        cr_sleep(0); /* finishing its work (it suspends) within the grace period */
        (*finished)++;
        return 0;
    }
    return (int)n;
}

static int shutdown_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    int finished = 0;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, stuck_handler, &finished, NULL, &srv), 0);
    int port = cr_server_port(srv);
    int fds[10];
    for (int i = 0; i < 10; i++)
        fds[i] = cr_connect_tcp("127.0.0.1", port, 1.0);
    while (cr_server_connections(srv) < 10)
        cr_sleep(0.001);
    /* Three will finish within the grace period; seven are stuck. */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(cr_send_all(fds[i], "q", 1, 1.0), 1);
    /* Wait until the three have their 'q' (never a timer: a slow machine
     * must not turn them into stuck ones); what is left of their work is
     * one loop turn, far inside the grace period. */
    while (GOT_Q < 3)
        cr_sleep(0.001);
    cr_assert_eq(cr_server_shutdown(srv, 0.5), 7);
    cr_assert_eq(finished, 3);
    cr_assert_eq(cr_server_connections(srv), 0);
    /* Every server-side socket is closed: the clients see EOF. */
    for (int i = 0; i < 10; i++) {
        char c;
        cr_assert_eq(cr_recv(fds[i], &c, 1, 0, 1.0), 0, "client %d sees EOF", i);
        close(fds[i]);
    }
    cr_assert_eq(cr_connect_tcp("127.0.0.1", port, 1.0), -ECONNREFUSED, "no longer listening");
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* Graceful shutdown: stop accepting, let handlers finish within the grace
 * period, cancel the rest, close everything. */
Test(server, shutdown_with_connections_open)
{
    RUN_NO_FD_LEAK(shutdown_main, NULL);
}

static int leftover_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, stuck_handler, NULL, NULL, &srv), 0);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 1.0);
    while (cr_server_connections(srv) < 1)
        cr_sleep(0.001);
    cr_assert_eq(cr_server_free(srv), -EBUSY, "live connections");
    close(fd);
    return 0; /* main ends with the server running: cr_run must clean up */
}

/* A server left running when main returns is torn down by loop close
 * without leaking fds or memory. */
Test(server, loop_close_frees_a_running_server)
{
    RUN_NO_FD_LEAK(leftover_main, NULL);
}

static int unix_main(void *arg, void **result)
{
    (void)result;
    const char *path = arg;
    cr_server *srv;
    cr_assert_eq(cr_start_unix_server(NULL, path, echo_handler, NULL, NULL, &srv), 0);
    cr_stream *s;
    cr_assert_eq(cr_open_unix_connection(path, NULL, 1.0, &s), 0);
    cr_stream_write(s, "unix\n", 5);
    char buf[16];
    cr_assert_eq(cr_stream_readline(s, buf, sizeof buf), 5);
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    cr_assert_eq(access(path, F_OK), -1, "socket file removed");
    return 0;
}

/* start_unix_server / open_unix_connection. */
Test(server, unix_server)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/coring-srv-%d.sock", (int)getpid());
    RUN_EXPECT(unix_main, path, 0);
}

static cr_server *QUIT_SRV;
static int QUIT_RC = 1;

/* Stuck until it reads a byte; a 'q' shuts the server down from here. */
static int quit_handler(cr_stream *s, void *arg)
{
    (void)arg;
    char c;
    ssize_t n = cr_stream_read(s, &c, 1);
    if (n == 1 && c == 'q') {
        QUIT_RC = cr_server_shutdown(QUIT_SRV, 0);
        cr_stream_write(s, "k", 1);
        return 0;
    }
    return n < 0 ? (int)n : 0;
}

static int quit_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    QUIT_RC = 1;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, quit_handler, NULL, NULL, &QUIT_SRV), 0);
    int port = cr_server_port(QUIT_SRV);
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = cr_connect_tcp("127.0.0.1", port, GUARD_S);
    while (cr_server_connections(QUIT_SRV) < 3)
        cr_sleep(0.001);
    cr_assert_eq(cr_send_all(fds[0], "q", 1, GUARD_S), 1);
    char c;
    cr_assert_eq(cr_recv(fds[0], &c, 1, 0, GUARD_S), 1, "the quitting handler goes on");
    cr_assert_eq(c, 'k');
    cr_assert_eq(QUIT_RC, 2, "the two others were cancelled, not the caller");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cr_recv(fds[i], &c, 1, 0, GUARD_S), 0, "client %d sees EOF", i);
        close(fds[i]);
    }
    while (cr_server_connections(QUIT_SRV))
        cr_sleep(0.001); /* the caller's own connection ends after it returns */
    cr_assert_eq(cr_server_free(QUIT_SRV), 0);
    return 0;
}

/* cr_server_shutdown from one of the server's own handlers cancels and waits
 * for the others, not for itself (which would never end). */
Test(server, shutdown_from_a_handler)
{
    RUN_NO_FD_LEAK(quit_main, NULL);
}

/* ---- eager start (cr_server_opts.eager) ---- */

/* Each run on both backends in every test run: a cr_runner per backend (io_uring
 * only where the kernel lets us have it). */
static void on_each_backend(cr_task_fn fn, bool eager)
{
    unsigned be[] = {CR_BACKEND_URING, CR_BACKEND_EPOLL};
    for (int i = on_io_uring() ? 0 : 1; i < 2; i++) {
        cr_loop_opts o = {.backend = be[i]};
        cr_runner *r;
        int before = count_fds();
        cr_assert_eq(cr_runner_new(&r, &o), 0);
        int rc = cr_runner_run(r, fn, &eager, NULL);
        cr_assert_eq(rc, 0, "%s, eager=%d: %s", be[i] == CR_BACKEND_URING ? "io_uring" : "epoll",
                     eager, cr_strerror(rc));
        cr_assert_eq(cr_runner_close(r), 0);
        cr_assert_eq(count_fds(), before);
    }
}

/* What each handler saw at its first step. */
static struct {
    cr_server *srv;
    int started;
    size_t conns[4];        /* cr_server_connections */
    uint64_t accepted[4];   /* the acceptor's count */
    size_t ready[4];        /* the loop's ready queue length */
} EG;

static void eager_note(void)
{
    int i = EG.started++;
    cr_assert_lt(i, 4);
    EG.conns[i] = cr_server_connections(EG.srv);
    cr_acceptor_stats st;
    cr_acceptor_get_stats(cr_server_acceptor(EG.srv), &st);
    EG.accepted[i] = st.accepted;
    EG.ready[i] = cr__tls_running->ready.n;
}

/* Reads to EOF (it suspends). */
static int eager_reader(cr_stream *s, void *arg)
{
    (void)arg;
    eager_note();
    char buf[16];
    ssize_t n;
    while ((n = cr_stream_read(s, buf, sizeof buf)) > 0)
        ;
    return n == -ECANCELED ? (int)n : 0; /* EOF or a reset: done */
}

/* Answers and returns without ever suspending. */
static int eager_quick(cr_stream *s, void *arg)
{
    (void)arg;
    eager_note();
    cr_stream_write(s, "bye", 3);
    return 0;
}

/* Two clients connected (blocking: the kernel completes a loopback connect
 * from the listen backlog) before the server's accept is even submitted, so
 * one accept batch holds both. */
static void connect_two(int port, int *fd)
{
    struct sockaddr_storage ss;
    socklen_t len;
    cr_sockaddr_ip("127.0.0.1", port, &ss, &len);
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_eq(connect(fd[i], (struct sockaddr *)&ss, len), 0);
    }
}

static int eager_order_main(void *arg, void **result)
{
    (void)result;
    bool eager = *(bool *)arg;
    memset(&EG, 0, sizeof EG);
    cr_server_opts o = {.eager = eager};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, eager_reader, NULL, &o, &EG.srv), 0);
    int fd[2];
    connect_two(cr_server_port(EG.srv), fd);
    while (EG.started < 2)
        cr_sleep(0.001);
    cr_assert_eq(EG.accepted[0], 2, "both connections came in one accept batch");
    if (eager) {
        /* The first handler ran (and parked) before the second connection
         * was even made into a task: the server saw only its own. */
        cr_assert_eq(EG.conns[0], 1);
        cr_assert_eq(EG.conns[1], 2);
    } else {
        /* Both tasks were made at dispatch; their bodies run later. */
        cr_assert_eq(EG.conns[0], 2);
        cr_assert_eq(EG.conns[1], 2);
    }
    for (int i = 0; i < 2; i++)
        close(fd[i]);
    cr_assert_eq(cr_server_shutdown(EG.srv, GUARD_S), 0, "both handlers end at EOF");
    cr_assert_eq(cr_server_free(EG.srv), 0);
    return 0;
}

/* Eager start: a handler's first step runs before the server takes the next
 * accepted connection (without it, every connection of a batch becomes a
 * task first); both backends. */
Test(server, eager_handler_runs_before_the_next_accept)
{
    on_each_backend(eager_order_main, true);
    on_each_backend(eager_order_main, false);
}

static int eager_quick_main(void *arg, void **result)
{
    (void)result;
    bool eager = *(bool *)arg;
    memset(&EG, 0, sizeof EG);
    cr_server_opts o = {.eager = eager};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, eager_quick, NULL, &o, &EG.srv), 0);
    int fd[2];
    connect_two(cr_server_port(EG.srv), fd);
    while (EG.started < 2)
        cr_sleep(0.001);
    cr_assert_eq(EG.accepted[0], 2, "both connections came in one accept batch");
    if (eager) {
        /* The first was done and its connection gone before the second
         * started, and it put nothing on the ready queue on the way. */
        cr_assert_eq(EG.conns[0], 1);
        cr_assert_eq(EG.conns[1], 1);
        cr_assert_eq(EG.ready[1], EG.ready[0]);
        cr_assert_eq(cr_server_connections(EG.srv), 0, "both done at once");
    } else {
        /* Both were queued as tasks: the second was still waiting its turn. */
        cr_assert_eq(EG.conns[0], 2);
        cr_assert_eq(EG.ready[1] + 1, EG.ready[0]);
    }
    for (int i = 0; i < 2; i++) {
        char buf[8];
        cr_assert_eq(cr_recv(fd[i], buf, sizeof buf, MSG_WAITALL, GUARD_S), 3, "answer, then EOF");
        cr_assert_eq(memcmp(buf, "bye", 3), 0);
        close(fd[i]);
    }
    cr_assert_eq(cr_server_shutdown(EG.srv, GUARD_S), 0);
    cr_assert_eq(cr_server_free(EG.srv), 0);
    return 0;
}

/* Eager start: a handler that returns without suspending is done, its
 * stream closed, inside the server's start step, and is never scheduled. */
Test(server, eager_handler_that_returns_at_once)
{
    on_each_backend(eager_quick_main, true);
    on_each_backend(eager_quick_main, false);
}

static int eager_cancel_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    memset(&EG, 0, sizeof EG);
    cr_server_opts o = {.eager = true};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, eager_reader, NULL, &o, &EG.srv), 0);
    int port = cr_server_port(EG.srv);
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = cr_connect_tcp("127.0.0.1", port, GUARD_S);
    while (EG.started < 3)
        cr_sleep(0.001);
    cr_assert_eq(cr_server_shutdown(EG.srv, 0), 3, "all three parked in their first read");
    cr_assert_eq(cr_server_connections(EG.srv), 0);
    for (int i = 0; i < 3; i++) {
        char c;
        cr_assert_eq(cr_recv(fds[i], &c, 1, 0, GUARD_S), 0, "client %d sees EOF", i);
        close(fds[i]);
    }
    cr_assert_eq(cr_server_free(EG.srv), 0);
    return 0;
}

/* Eager start: handlers parked after their eager first step are cancelled
 * by shutdown like any other, and their streams closed. */
Test(server, eager_handlers_cancelled_by_shutdown)
{
    on_each_backend(eager_cancel_main, true);
}

static int eager_free_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    memset(&EG, 0, sizeof EG);
    cr_server_opts o = {.eager = true};
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, eager_reader, NULL, &o, &EG.srv), 0);
    int fd[2];
    connect_two(cr_server_port(EG.srv), fd);
    /* This task is queued a turn before the accept completes, so it runs
     * ahead of the server's start step in the turn that queues it. */
    cr_acceptor_stats st;
    do {
        cr_sleep(0);
        cr_acceptor_get_stats(cr_server_acceptor(EG.srv), &st);
    } while (st.accepted < 2);
    cr_assert_eq(cr_server_connections(EG.srv), 0, "accepted, not started yet");
    cr_assert_eq(cr_server_shutdown(EG.srv, 0), 0);
    cr_assert_eq(cr_server_free(EG.srv), 0, "freed with its start step still queued");
    cr_sleep(0); /* the step runs: it frees the server and starts nothing */
    cr_assert_eq(EG.started, 0);
    for (int i = 0; i < 2; i++) {
        char c;
        cr_assert_eq(cr_recv(fd[i], &c, 1, 0, GUARD_S), 0, "queued connection %d closed", i);
        close(fd[i]);
    }
    return 0;
}

/* Eager start: a server shut down and freed between an accept and its start
 * step closes the accepted connections, starts no handler, leaks nothing. */
Test(server, eager_server_freed_before_its_start_step)
{
    on_each_backend(eager_free_main, true);
}

/* ---- the HTTP example ---- */

static int count_responses(const char *buf)
{
    int n = 0;
    for (const char *p = buf; (p = strstr(p, "Hello, world!")); p++)
        n++;
    return n;
}

static int pipelined_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, http_handler, NULL, NULL, &srv), 0);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 1.0);
    const char *reqs = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                       "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                       "GET /2 HTTP/1.1\r\nHo";
    cr_assert_eq(cr_send_all(fd, reqs, strlen(reqs), 1.0), (ssize_t)strlen(reqs));
    /* The third request arrives in pieces: the rest goes out only once the
     * first two are answered, so the server has parsed up to the cut. */
    static char buf[8192];
    size_t have = 0;
    ssize_t n = 1;
    while (count_responses(buf) < 2) {
        n = cr_recv(fd, buf + have, sizeof buf - 1 - have, 0, 2.0);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
    }
    cr_assert_gt(n, 0, "two answers before the rest: %zd", n);
    const char *rest = "st: a\r\nConnection: close\r\n\r\n";
    cr_assert_eq(cr_send_all(fd, rest, strlen(rest), 1.0), (ssize_t)strlen(rest));
    while ((n = cr_recv(fd, buf + have, sizeof buf - 1 - have, 0, 2.0)) > 0)
        have += (size_t)n;
    cr_assert_eq(n, 0, "the server closes after Connection: close");
    buf[have] = 0;
    cr_assert_eq(count_responses(buf), 3, "%s", buf);
    cr_assert(strstr(buf, "Connection: close"));
    close(fd);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* Three pipelined requests (one with a body, one split across sends) get
 * three answers in order, and Connection: close is honoured. */
Test(server, http_pipelined_and_partial_requests)
{
    RUN_EXPECT(pipelined_main, NULL, 0);
}

static int http10_keepalive_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, http_handler, NULL, NULL, &srv), 0);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 1.0);
    const char *req = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
    static char buf[2048];
    for (int i = 0; i < 2; i++) { /* the connection stays usable: ab -k's pattern */
        cr_assert_eq(cr_send_all(fd, req, strlen(req), 1.0), (ssize_t)strlen(req));
        ssize_t n = cr_recv(fd, buf, sizeof buf - 1, 0, 1.0);
        cr_assert_gt(n, 0);
        buf[n] = 0;
        cr_assert(strstr(buf, "\r\nConnection: keep-alive\r\n"), "%s", buf);
        cr_assert(strstr(buf, "\r\nDate: ") && strstr(buf, "\r\nServer: "), "%s", buf);
        cr_assert_eq(count_responses(buf), 1, "%s", buf);
    }
    close(fd);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

static int http_lenient_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, http_handler, NULL, NULL, &srv), 0);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 1.0);
    /* Empty lines before a request (RFC 9112 2.2), header names in any case,
     * and a Connection list with odd spacing: two answers, then the close. */
    const char *reqs = "\r\n\r\n\r\nGET / HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 2\r\n\r\nhi"
                       "\r\nGET / HTTP/1.1\r\nHOST: a\r\nCONNECTION:  Foo ,\tClose \r\n\r\n";
    cr_assert_eq(cr_send_all(fd, reqs, strlen(reqs), 1.0), (ssize_t)strlen(reqs));
    static char buf[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = cr_recv(fd, buf + have, sizeof buf - 1 - have, 0, 2.0)) > 0)
        have += (size_t)n;
    cr_assert_eq(n, 0, "the server closes after Connection: close");
    buf[have] = 0;
    cr_assert_eq(count_responses(buf), 2, "%s", buf);
    cr_assert_null(strstr(buf, " 400 "), "%s", buf);
    cr_assert(strstr(buf, "Connection: close"), "%s", buf);
    close(fd);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* The example server ignores empty lines before a request and matches header
 * names and Connection tokens case-insensitively. */
Test(server, http_empty_lines_and_header_case)
{
    RUN_EXPECT(http_lenient_main, NULL, 0);
}

/* HTTP/1.0 with Connection: keep-alive is answered "Connection: keep-alive"
 * and kept open (ab -k hung when the answer did not say so). */
Test(server, http10_keep_alive_is_announced)
{
    RUN_EXPECT(http10_keepalive_main, NULL, 0);
}

struct curl_job {
    int port;
    int pipefd[2];
    char out[4096];
    int status;
};

static void *run_curl(void *p)
{
    struct curl_job *j = p;
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "curl -s -v --max-time 5 http://127.0.0.1:%d/ http://127.0.0.1:%d/again 2>&1",
             j->port, j->port);
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(j->out, 1, sizeof j->out - 1, f) : 0;
    j->out[n] = 0;
    j->status = f ? pclose(f) : -1;
    (void)!write(j->pipefd[1], "x", 1);
    return NULL;
}

static int curl_main(void *arg, void **result)
{
    (void)result;
    struct curl_job *j = arg;
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, http_handler, NULL, NULL, &srv), 0);
    j->port = cr_server_port(srv);
    cr_assert_eq(pipe2(j->pipefd, O_CLOEXEC), 0);
    pthread_t th;
    pthread_create(&th, NULL, run_curl, j);
    char c;
    cr_assert_eq(cr_read(j->pipefd[0], &c, 1, -1, 10.0), 1); /* curl is done */
    pthread_join(th, NULL);
    close(j->pipefd[0]);
    close(j->pipefd[1]);
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* curl gets "Hello, world!" twice over one kept-alive connection. */
Test(server, http_answers_curl)
{
    if (system("command -v curl >/dev/null 2>&1") != 0)
        cr_skip_test("curl is not installed (apt-get install curl)");
    struct curl_job j = {0};
    RUN_EXPECT(curl_main, &j, 0);
    cr_assert_eq(j.status, 0, "curl failed: %s", j.out);
    cr_assert_eq(count_responses(j.out), 2, "%s", j.out);
    cr_assert(strstr(j.out, "Re-using existing connection") || strstr(j.out, "left intact"),
              "keep-alive: %s", j.out);
}

static int flood_handler(cr_stream *s, void *arg)
{
    (void)arg;
    static char chunk[1 << 20];
    for (;;) { /* a client that never reads: drain holds us back */
        if (cr_stream_write(s, chunk, sizeof chunk) < 0)
            return -EIO;
        int rc = cr_stream_drain(s);
        if (rc < 0)
            return rc;
    }
}

static int slow_client_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    cr_server_opts o = {.stream = {.high_water = 256 * 1024}};
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, flood_handler, NULL, &o, &srv), 0);
    int fd = cr_connect_tcp("127.0.0.1", cr_server_port(srv), 1.0);
    while (cr_server_connections(srv) < 1)
        cr_sleep(0.001);
    /* Wait until the flood has stalled: data reached us and our receive
     * queue stopped growing, so the handler is parked in drain with a send
     * in the kernel. (Should this look too early on a slow machine, the
     * test only covers less; what it asserts holds either way.) */
    for (int stable = 0, prev = -1, i = 0; stable < 5 && i < 5000; i++) {
        int q = 0;
        cr_assert_eq(ioctl(fd, FIONREAD, &q), 0);
        stable = q > 0 && q == prev ? stable + 1 : 0;
        prev = q;
        cr_sleep(0.002);
    }
    /* Shutdown cancels it; the stream is aborted with its send in flight. */
    cr_assert_eq(cr_server_shutdown(srv, 0.02), 1);
    cr_assert_eq(cr_server_free(srv), 0);
    /* The client sees the data that was sent, then EOF or a reset. */
    static char buf[1 << 16];
    ssize_t n;
    while ((n = cr_recv(fd, buf, sizeof buf, 0, 2.0)) > 0)
        ;
    cr_assert(n == 0 || n == -ECONNRESET, "n %zd", n);
    close(fd);
    return 0;
}

/* A client that never reads: the handler is held by drain (bounded memory),
 * and shutdown aborts it with a send still in the kernel — no leak, no UAF. */
Test(server, slow_client_shutdown_aborts_inflight_send)
{
    RUN_NO_FD_LEAK(slow_client_main, NULL);
}

static int emfile_server_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    enum { N = 5 };
    cr_server *srv;
    cr_assert_eq(cr_start_server(NULL, "127.0.0.1", 0, echo_handler, NULL, NULL, &srv), 0);
    int c[N];
    struct rlimit old;
    connect_out_of_fds(c, N, cr_server_port(srv), &old);
    cr_acceptor_stats st;
    /* Wait for the accept to hit the limit (it does at the loop's next look). */
    for (int i = 0; i < 5000; i++) {
        cr_acceptor_get_stats(cr_server_acceptor(srv), &st);
        if (st.emfile >= 1)
            break;
        cr_sleep(0.001);
    }
    cr_assert_geq(st.emfile, 1);
    cr_assert_eq(cr_server_connections(srv), 0);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    /* Accepting resumes by itself after the back-off: every client is echoed. */
    for (int i = 0; i < N; i++) {
        char b[2];
        cr_assert_eq(cr_send_all(c[i], "e", 1, 1.0), 1);
        cr_assert_eq(cr_recv(c[i], b, 1, 0, 1.0), 1, "client %d", i);
        close(c[i]);
    }
    cr_assert_geq(cr_server_shutdown(srv, 1.0), 0);
    cr_assert_eq(cr_server_free(srv), 0);
    return 0;
}

/* A server out of fds keeps running: EMFILE is counted, accepting backs off
 * and resumes by itself once fds are available again. */
Test(server, survives_emfile_and_resumes)
{
    RUN_NO_FD_LEAK(emfile_server_main, NULL);
}
