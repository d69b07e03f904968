/* SPDX-License-Identifier: MIT */
/*
 * Description: choosing the backend — cr_loop_opts.backend and CORING_BACKEND
 * force one, cr_loop_backend() names it, an automatic fallback says why in
 * debug mode; a real TCP echo (multishot accept, multishot recv into the
 * buffer pool, send, connect) on a forced epoll loop; and a child process
 * under a seccomp filter that refuses io_uring (EPERM, ENOSYS, or only
 * enter/register) runs the same echo on epoll, while forcing io_uring there
 * fails with one clear line; on epoll, a filter that refuses epoll_pwait2
 * leaves timed waits on epoll_wait; with its result arrays unable to grow
 * (a test seam), epoll refuses a submit with -ENOMEM and loses nothing.
 * Real sockets on 127.0.0.1 only.
 */
#include "io-helpers.h"
#include "core/internal.h"
#include "seccomp-helpers.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* ---- a TCP echo through the backend, with plain error returns (it also
 * runs in a forked child where Criterion's asserts must not be used) ---- */

#define ECHO_BYTES (256 * 1024)

struct echo {
    int lfd, port;
    int err; /* the server task's first failure */
};

static int echo_server(void *arg, void **result)
{
    (void)result;
    struct echo *e = arg;
    cr_acceptor *a;
    int rc = cr_acceptor_new(cr_get_running_loop(NULL), e->lfd, &a);
    if (rc < 0)
        return e->err = rc;
    int fd = cr_acceptor_next(a, 5.0);
    cr_acceptor_free(a);
    if (fd < 0)
        return e->err = fd;
    cr_mrecv *m;
    if ((rc = cr_mrecv_new(cr_get_running_loop(NULL), fd, 0, &m)) < 0) {
        close(fd);
        return e->err = rc;
    }
    for (;;) {
        cr_buf b;
        ssize_t n = cr_mrecv_next(m, &b, 5.0);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        ssize_t w = cr_send_all(fd, b.data, b.len, 5.0);
        cr_mrecv_release(m, &b);
        if (w < 0) {
            rc = (int)w;
            break;
        }
    }
    cr_mrecv_free(m);
    cr_close(fd);
    return rc < 0 ? (e->err = rc) : 0;
}

/* 0 if a client's bytes come back intact over a server task, on `want`. */
static int echo_main(void *arg, void **result)
{
    (void)result;
    const char *want = arg;
    if (strcmp(cr_loop_backend(cr_get_running_loop(NULL)), want))
        return -ENOTSUP;
    struct echo e = {.lfd = cr_listen_tcp("127.0.0.1", 0, 16)};
    if (e.lfd < 0)
        return e.lfd;
    e.port = cr_local_port(e.lfd);
    cr_task *srv = cr_create_task(echo_server, &e);
    int c = cr_connect_tcp("127.0.0.1", e.port, 5.0);
    if (c < 0)
        return c;
    static char out[ECHO_BYTES], in[ECHO_BYTES];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7 + 1);
    /* Send in pieces while reading back, so neither side's buffers fill. */
    size_t sent = 0, got = 0;
    int rc = 0;
    while (got < sizeof in && rc == 0) {
        if (sent < sizeof out) {
            size_t n = sizeof out - sent < 16384 ? sizeof out - sent : 16384;
            ssize_t w = cr_send_all(c, out + sent, n, 5.0);
            if (w < 0)
                rc = (int)w;
            else
                sent += (size_t)w;
        }
        while (rc == 0 && got < sent) {
            ssize_t r = cr_recv(c, in + got, sizeof in - got, 0, 5.0);
            if (r <= 0)
                rc = r < 0 ? (int)r : -EPIPE;
            else
                got += (size_t)r;
        }
    }
    if (rc == 0 && memcmp(in, out, sizeof in))
        rc = -EBADMSG;
    cr_shutdown(c, SHUT_WR);
    int src = cr_await(srv, NULL);
    cr_future_unref(srv);
    cr_close(c);
    close(e.lfd);
    if (rc == 0 && e.err)
        rc = e.err;
    return rc ? rc : src;
}

/* ---- choosing ---- */

/* A loop says which backend it runs on; the option forces one over the env. */
Test(backend, option_forces_and_loop_names_it)
{
    cr_loop *l;
    cr_loop_opts o = {.backend = CR_BACKEND_EPOLL};
    setenv("CORING_BACKEND", "uring", 1);
    cr_assert_eq(cr_loop_new(&l, &o), 0);
    cr_assert_str_eq(cr_loop_backend(l), "epoll");
    cr_loop_free(l);
    setenv("CORING_BACKEND", "epoll", 1);
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_str_eq(cr_loop_backend(l), "epoll");
    cr_loop_free(l);
    cr_assert_null(cr_loop_backend(NULL));
}

/* An unknown backend, by option or by env, fails the loop with a line. */
Test(backend, unknown_backend_is_einval)
{
    cr_loop *l;
    cr_loop_opts o = {.backend = 9};
    cr_assert_eq(cr_loop_new(&l, &o), -EINVAL);
    cr_assert(strstr(cr_setup_error(), "backend"), "%s", cr_setup_error());
    setenv("CORING_BACKEND", "kqueue", 1);
    cr_assert_eq(cr_loop_new(&l, NULL), -EINVAL);
    cr_assert(strstr(cr_setup_error(), "CORING_BACKEND=kqueue"), "%s", cr_setup_error());
}

/* io_uring refused in AUTO mode: the loop runs on epoll, and debug mode
 * says which and why in one line at loop creation. */
Test(backend, auto_falls_back_and_says_why)
{
    SKIP_IF_HOST_REFUSES_IO_URING();
    unsetenv("CORING_BACKEND");
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int saved = dup(2);
    cr_assert_eq(dup2(p[1], 2), 2);
    cr__uring_set_fault(-EPERM);
    cr_loop *l;
    cr_loop_opts o = {.flags = CR_LOOP_DEBUG};
    int rc = cr_loop_new(&l, &o);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(cr_loop_backend(l), "epoll");
    cr_assert_str_eq(cr_setup_error(), "", "a fallback is not a failure");
    cr_loop_free(l);
    char buf[512] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    cr_assert_gt(n, 0);
    cr_assert(strstr(buf, "EPERM") && strstr(buf, "using epoll"), "%s", buf);
    cr_assert_eq(strchr(buf, '\n'), buf + n - 1, "one line: %s", buf);
}

/* The full op mix of a server works on a forced epoll loop. */
Test(backend, tcp_echo_on_epoll)
{
    setenv("CORING_BACKEND", "epoll", 1);
    RUN_EXPECT(echo_main, "epoll", 0);
}

/* ---- the epoll backend's costs and fd reuse ---- */

static int pingpong_main(void *arg, void **result)
{
    (void)result;
    unsigned long *ctl_delta = arg;
    cr_loop *l = cr_get_running_loop(NULL);
    int p[2];
    tcp_pair(p);
    cr_mrecv *m[2];
    cr_assert_eq(cr_mrecv_new(l, p[0], 0, &m[0]), 0);
    cr_assert_eq(cr_mrecv_new(l, p[1], 0, &m[1]), 0);
    char msg[64] = "ping";
    unsigned long before = 0;
    for (int i = 0; i < 201; i++) {
        if (i == 1)
            before = cr__epoll_ctl_calls(&l->be); /* after each fd's first wait */
        for (int side = 0; side < 2; side++) {
            cr_assert_eq(cr_send(p[side], msg, sizeof msg, 0, 1.0), (ssize_t)sizeof msg);
            cr_buf b;
            cr_assert_eq(cr_mrecv_next(m[!side], &b, 1.0), (ssize_t)sizeof msg);
            cr_mrecv_release(m[!side], &b);
        }
    }
    *ctl_delta = cr__epoll_ctl_calls(&l->be) - before;
    cr_mrecv_free(m[0]);
    cr_mrecv_free(m[1]);
    close(p[0]);
    close(p[1]);
    return 0;
}

/* A busy connection costs no epoll_ctl per message: 400 messages each way
 * through multishot recvs and sends, not one epoll_ctl after the first. */
Test(backend, busy_connection_costs_no_epoll_ctl)
{
    setenv("CORING_BACKEND", "epoll", 1);
    unsigned long delta = ~0ul;
    RUN_EXPECT(pingpong_main, &delta, 0);
    cr_assert_eq(delta, 0, "%lu epoll_ctl calls while busy", delta);
}

#define SERVE_ROUNDS 300

/* A client on its own thread, plain blocking syscalls: a message, then the
 * answer, SERVE_ROUNDS times. */
static void *serve_client(void *arg)
{
    int fd = *(int *)arg;
    char msg[64] = "req", got[64];
    for (int i = 0; i < SERVE_ROUNDS; i++) {
        cr_assert_eq(send(fd, msg, sizeof msg, MSG_NOSIGNAL), (ssize_t)sizeof msg);
        for (size_t n = 0; n < sizeof got;) {
            ssize_t k = recv(fd, got + n, sizeof got - n, 0);
            cr_assert_gt(k, 0);
            n += (size_t)k;
        }
    }
    return NULL;
}

static int serve_main(void *arg, void **result)
{
    (void)result;
    uint64_t *enters = arg;
    cr_loop *l = cr_get_running_loop(NULL);
    int p[2];
    tcp_pair(p);
    cr_mrecv *m;
    cr_assert_eq(cr_mrecv_new(l, p[0], 0, &m), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, serve_client, &p[1]), 0);
    struct cr_loop_stats before, after;
    size_t got = 0;
    while (got < (size_t)SERVE_ROUNDS * 64) {
        cr_buf b;
        ssize_t n = cr_mrecv_next(m, &b, 5.0);
        cr_assert_gt(n, 0, "%s", cr_strerror((int)n));
        if (got == 0)
            cr_loop_stats(l, &before); /* after the first wait: the fd is set up */
        got += (size_t)n;
        cr_assert_eq(cr_send(p[0], b.data, (size_t)n, MSG_NOSIGNAL, 5.0), n);
        cr_mrecv_release(m, &b);
    }
    cr_loop_stats(l, &after);
    *enters = after.enters - before.enters;
    pthread_join(th, NULL);
    cr_mrecv_free(m);
    close(p[0]);
    close(p[1]);
    return 0;
}

/* A served request costs one epoll wait: the send's completion, known at
 * submit, is delivered without an epoll_wait(0) of its own (the wait that
 * follows the served request blocks for the next one). Without that, every
 * request cost two. */
Test(backend, served_request_costs_one_epoll_wait)
{
    setenv("CORING_BACKEND", "epoll", 1);
    uint64_t enters = ~0ull;
    RUN_EXPECT(serve_main, &enters, 0);
    cr_assert_leq(enters, SERVE_ROUNDS * 5 / 4, "%llu epoll waits for %d requests",
                  (unsigned long long)enters, SERVE_ROUNDS);
}

#define SENDS 100

static int sends_main(void *arg, void **result)
{
    (void)result;
    uint64_t *enters = arg;
    cr_loop *l = cr_get_running_loop(NULL);
    int p[2], q[2];
    tcp_pair(p);
    tcp_pair(q);
    cr_mrecv *m; /* armed on a quiet socket: the loop has an fd to look at */
    cr_assert_eq(cr_mrecv_new(l, q[0], 0, &m), 0);
    cr_assert_eq(cr_sleep(0), 0);
    struct cr_loop_stats before, after;
    cr_loop_stats(l, &before);
    char msg[64] = "x";
    for (int i = 0; i < SENDS; i++) /* each completes at submit; nobody answers */
        cr_assert_eq(cr_send(p[0], msg, sizeof msg, MSG_NOSIGNAL, 5.0), (ssize_t)sizeof msg);
    cr_loop_stats(l, &after);
    *enters = after.enters - before.enters;
    cr_mrecv_free(m);
    for (int i = 0; i < 2; i++)
        close(p[i]), close(q[i]);
    return 0;
}

/* Sends that complete at submit, back to back, while a recv waits on
 * another fd: the loop looks at the epoll set on every other turn, not on
 * every turn (it must still look: that fd may be ready). */
Test(backend, owed_completions_skip_every_other_epoll_wait)
{
    setenv("CORING_BACKEND", "epoll", 1);
    uint64_t enters = ~0ull;
    RUN_EXPECT(sends_main, &enters, 0);
    cr_assert_geq(enters, SENDS / 2 - 1, "%llu epoll waits for %d sends: the set must still be looked at",
                  (unsigned long long)enters, SENDS);
    cr_assert_leq(enters, SENDS / 2 + 2, "%llu epoll waits for %d sends", (unsigned long long)enters, SENDS);
}

struct reuse {
    int fd;
    ssize_t got;
};

static int reader(void *arg, void **result)
{
    (void)result;
    struct reuse *r = arg;
    char c;
    r->got = cr_recv(r->fd, &c, 1, 0, 2.0);
    return 0;
}

/* Waits on fd (the reader parks first), then sends it a byte. */
static ssize_t read_after_wait(int fd, int peer)
{
    struct reuse r = {.fd = fd, .got = -EINPROGRESS};
    cr_task *t = cr_create_task(reader, &r);
    cr_sleep(0); /* the reader runs, finds nothing and parks in the backend */
    cr_assert_eq(r.got, -EINPROGRESS, "the reader waits");
    cr_assert_eq(send(peer, "x", 1, 0), 1);
    cr_await(t, NULL);
    cr_future_unref(t);
    return r.got;
}

static int reuse_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2], q[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
    cr_assert_eq(read_after_wait(p[0], p[1]), 1);
    int old = p[0];
    close(p[0]); /* behind coring's back: the kernel drops it from the epoll set */
    close(p[1]);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, q), 0);
    cr_assert(q[0] == old || q[1] == old, "the number comes back (lowest free fd)");
    int fd = q[0] == old ? q[0] : q[1], peer = q[0] == old ? q[1] : q[0];
    cr_assert_eq(read_after_wait(fd, peer), 1, "a wait on the reused number is woken");
    close(q[0]);
    close(q[1]);
    return 0;
}

/* An fd closed with close(2) and its number reused for a new socket: a wait
 * on the new socket still wakes (registration re-checked when idle). */
Test(backend, fd_reused_behind_our_back)
{
    setenv("CORING_BACKEND", "epoll", 1);
    RUN_EXPECT(reuse_main, NULL, 0);
}

/* ---- sends queue behind a waiting send (epoll's fast path skips the
 * fd's record only while nothing waits to write on it) ---- */

#define ORDER_CHUNK (64 * 1024)

struct sender {
    int fd;
    char *buf; /* ORDER_CHUNK bytes, all the sender's own letter */
    ssize_t sent;
};

static int sender(void *arg, void **result)
{
    (void)result;
    struct sender *s = arg;
    s->sent = cr_send(s->fd, s->buf, ORDER_CHUNK, MSG_NOSIGNAL, 5.0);
    return 0;
}

static int order_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    tcp_pair(p);
    /* Fill p[0]'s send side (and p[1]'s receive side) behind coring's back. */
    static char junk[ORDER_CHUNK], b[ORDER_CHUNK], as[ORDER_CHUNK], bs[ORDER_CHUNK];
    memset(junk, '.', sizeof junk);
    memset(as, 'A', sizeof as);
    memset(bs, 'B', sizeof bs);
    size_t filled = 0;
    for (;;) {
        ssize_t n = send(p[0], junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            cr_assert(errno == EAGAIN || errno == EWOULDBLOCK);
            break;
        }
        filled += (size_t)n;
    }
    struct sender first = {.fd = p[0], .buf = as, .sent = -EINPROGRESS};
    cr_task *t = cr_create_task(sender, &first);
    cr_sleep(0); /* it runs, gets EAGAIN and waits for p[0] to be writable */
    cr_assert_eq(first.sent, -EINPROGRESS, "the first send waits");
    /* Room opens (the reads ACK at once on loopback), but the loop has not
     * seen the edge yet: a second send must still go after the first. */
    for (size_t got = 0; got < filled;) {
        ssize_t n = recv(p[1], b, sizeof b < filled - got ? sizeof b : filled - got, 0);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    struct sender second = {.fd = p[0], .buf = bs, .sent = -EINPROGRESS};
    sender(&second, NULL);
    cr_await(t, NULL);
    cr_future_unref(t);
    cr_assert_gt(first.sent, 0, "%s", cr_strerror((int)first.sent));
    cr_assert_gt(second.sent, 0, "%s", cr_strerror((int)second.sent));
    size_t total = (size_t)first.sent + (size_t)second.sent;
    for (size_t got = 0; got < total;) {
        ssize_t n = recv(p[1], b, sizeof b < total - got ? sizeof b : total - got, 0);
        cr_assert_gt(n, 0);
        for (ssize_t i = 0; i < n; i++, got++)
            cr_assert_eq(b[i], got < (size_t)first.sent ? 'A' : 'B', "byte %zu out of order", got);
    }
    close(p[0]);
    close(p[1]);
    return 0;
}

/* On epoll, a send that waits for room keeps its place: a second send on
 * the same socket, submitted after room opened but before the loop saw it,
 * goes after it (its bytes follow the first's). (io_uring makes no such
 * promise for two sends in flight on one socket.) */
Test(backend, send_behind_a_waiting_send_keeps_its_order)
{
    setenv("CORING_BACKEND", "epoll", 1);
    RUN_EXPECT(order_main, NULL, 0);
}

/* ---- blocking file work stays off the loop ---- */

static int fifo_opener(void *arg, void **result)
{
    (void)result;
    return cr_openat(AT_FDCWD, arg, O_RDONLY, 0, CR_NO_TIMEOUT);
}

static int fifo_main(void *arg, void **result)
{
    (void)result;
    const char *path = arg;
    cr_task *t = cr_create_task(fifo_opener, (void *)path);
    /* The open blocks until a writer comes. The loop must go on meanwhile:
     * this task runs, and a non-blocking writer open succeeds as soon as the
     * reader is inside open() (ENXIO before that). */
    int w = -1;
    for (int i = 0; i < 5000 && w < 0; i++) {
        cr_assert_eq(cr_sleep(0.001), 0);
        w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    }
    cr_assert_geq(w, 0, "the reader's open never started");
    void *res;
    int fd = cr_await(t, &res);
    cr_future_unref(t);
    cr_assert_geq(fd, 0, "%s", cr_strerror(fd));
    close(fd);
    close(w);
    return 0;
}

/* An openat that blocks (a FIFO without a writer) does not stall the loop:
 * io_uring punts it to its workers, epoll to its file helpers. */
Test(backend, blocking_open_does_not_stall_the_loop)
{
    char dir[] = "/tmp/coring-be-XXXXXX", path[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fifo", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    RUN_EXPECT(fifo_main, path, 0);
    unlink(path);
    rmdir(dir);
}

/* ---- under seccomp ---- */

/* A filter answering err to io_uring's syscalls (setup too unless
 * allow_setup), allowing everything else. */
static int refuse_io_uring(int err, bool allow_setup)
{
    const long all[] = {__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register};
    return allow_setup ? seccomp_refuse(err, all + 1, 2) : seccomp_refuse(err, all, 3);
}

/* In a child under the filter: the echo runs on epoll (AUTO), and a forced
 * io_uring fails naming the cause. Exit status: 0, or the failed step. */
static int child_under_seccomp(int err, bool allow_setup)
{
    unsetenv("CORING_BACKEND");
    if (refuse_io_uring(err, allow_setup) < 0)
        return 10;
    if (syscall(__NR_io_uring_setup, 1, NULL) != -1 || (errno != err && !allow_setup))
        return 11; /* the filter is not in force */
    if (cr_run(echo_main, "epoll", NULL) != 0)
        return 12;
    cr_loop *l;
    cr_loop_opts o = {.backend = CR_BACKEND_URING};
    if (cr_loop_new(&l, &o) != -err)
        return 13;
    const char *why = cr_setup_error();
    if (!strstr(why, "io_uring") || strchr(why, '\n'))
        return 14;
    if (!allow_setup && err == EPERM && !strstr(why, "seccomp"))
        return 15;
    if (allow_setup && !strstr(why, "io_uring_enter"))
        return 16;
    return 0;
}

static void expect_child_ok(int err, bool allow_setup)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(child_under_seccomp(err, allow_setup));
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child died: status %#x", st);
    cr_assert_eq(WEXITSTATUS(st), 0, "child failed at step %d", WEXITSTATUS(st));
}

/* seccomp refuses io_uring with EPERM (a container's default profile). */
Test(backend, seccomp_eperm_runs_on_epoll)
{
    SKIP_IF_HOST_REFUSES_IO_URING();
    expect_child_ok(EPERM, false);
}

/* seccomp hides io_uring (ENOSYS, as on a kernel built without it). */
Test(backend, seccomp_enosys_runs_on_epoll)
{
    expect_child_ok(ENOSYS, false);
}

/* Set-up allowed, enter and register refused: the probe catches it. */
Test(backend, seccomp_enter_only_runs_on_epoll)
{
    SKIP_IF_HOST_REFUSES_IO_URING();
    expect_child_ok(EPERM, true);
}

/* On epoll, a seccomp profile that refuses epoll_pwait2 (EPERM: written
 * before the call existed; ENOSYS: one that answers so for calls it does not
 * know) costs the loop its ns timeouts, nothing else: timed waits and the
 * echo still run, on epoll_wait. */
static int without_pwait2_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int rc = cr_sleep(0.002); /* a blocking wait with a timeout */
    if (rc < 0)
        return rc;
    if ((rc = echo_main("epoll", NULL)) < 0)
        return rc;
    cr_loop_features f;
    cr_loop_get_features(cr_get_running_loop(NULL), &f);
    return f.ns_timeouts ? -EPROTO : 0; /* it fell back, and says so */
}

static void epoll_without_pwait2(int err)
{
    const long nrs[] = {__NR_epoll_pwait2};
    cr_assert_eq(seccomp_refuse(err, nrs, 1), 0);
    setenv("CORING_BACKEND", "epoll", 1);
    RUN_EXPECT(without_pwait2_main, NULL, 0);
}

Test(backend, epoll_pwait2_refused_eperm)
{
    epoll_without_pwait2(EPERM);
}

Test(backend, epoll_pwait2_refused_enosys)
{
    epoll_without_pwait2(ENOSYS);
}

/* A kernel whose io_uring lacks what coring's I/O stands on (multishot recv
 * and provided-buffer rings, Linux 6.0) is passed over for epoll, and the
 * whole suite then runs there; forcing io_uring fails with one line saying
 * which kernel is needed. */
Test(backend, io_uring_without_multishot_falls_back_to_epoll)
{
    SKIP_IF_HOST_REFUSES_IO_URING();
    cr__uring_pretend_old_kernel(true);
    setenv("CORING_BACKEND", "auto", 1);
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_str_eq(cr_loop_backend(l), "epoll");
    cr_loop_free(l);
    cr_loop_opts o = {.backend = CR_BACKEND_URING};
    cr_assert_eq(cr_loop_new(&l, &o), -EOPNOTSUPP);
    cr_assert(strstr(cr_setup_error(), "Linux 6.0"), "%s", cr_setup_error());
    cr_assert_null(strchr(cr_setup_error(), '\n'), "one line");
    cr__uring_pretend_old_kernel(false);
    cr_assert_eq(cr_loop_new(&l, &o), 0, "the seam is off again");
    cr_loop_free(l);
}

/* ---- out of memory while results are owed ---- */

#define OOM_PAIRS 300

static int recv_one(void *arg, void **result)
{
    char c;
    ssize_t n = cr_recv(PINT(arg), &c, 1, 0, 10.0);
    if (n < 0)
        return (int)n;
    *result = IPTR(n);
    return 0;
}

static int oom_main(void *arg, void **result)
{
    (void)arg;
    (void)result;
    static int sp[OOM_PAIRS][2];
    static cr_task *t[OOM_PAIRS];
    /* One op first, so that the room for results exists (64 slots) whatever
     * else this loop did or did not submit before: then the refusal comes
     * after some receives, not at the first. */
    int warm[2];
    char c;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, warm), 0);
    cr_assert_eq(write(warm[1], "w", 1), 1);
    cr_assert_eq(cr_recv(warm[0], &c, 1, 0, 5.0), 1);
    close(warm[0]);
    close(warm[1]);
    cr__epoll_fail_growth(true);
    /* Waiting receives, one more each turn, until the room reserved for
     * their results runs out: that submit is refused, the others wait on. */
    int refused = -1;
    for (int i = 0; i < OOM_PAIRS && refused < 0; i++) {
        cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[i]), 0);
        cr_assert_not_null(t[i] = cr_create_task(recv_one, IPTR(sp[i][0])));
        cr_sleep(0);
        if (cr_future_done((cr_future *)t[i])) {
            cr_assert_eq(cr_await(t[i], NULL), -ENOMEM, "refused, not crashed");
            refused = i;
        }
    }
    cr_assert_geq(refused, 1, "the room ran out after some receives were waiting (%d)", refused);
    cr__epoll_fail_growth(false);
    /* Room again: every waiting receive gets its byte, nothing was lost. */
    for (int i = 0; i < refused; i++)
        cr_assert_eq(write(sp[i][1], "x", 1), 1);
    for (int i = 0; i < refused; i++) {
        void *got = NULL;
        cr_assert_eq(cr_await(t[i], &got), 0, "receive %d", i);
        cr_assert_eq(PINT(got), 1, "receive %d got its byte", i);
    }
    for (int i = 0; i <= refused; i++) {
        cr_future_unref(t[i]);
        close(sp[i][0]);
        close(sp[i][1]);
    }
    /* A file op the helpers cannot take (their array cannot grow either)
     * runs on the loop thread instead, and still succeeds. */
    char path[] = "/tmp/coring-oom-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    cr__epoll_fail_growth(true);
    cr_assert_eq(cr_fsync(fd, false, 5.0), 0, "run on the loop thread");
    cr__epoll_fail_growth(false);
    cr_assert_eq(cr_fsync(fd, false, 5.0), 0);
    close(fd);
    return 0;
}

/* Memory running out where the epoll backend would have grown its result
 * arrays: a submit is refused with -ENOMEM, a file op runs on the loop
 * thread, and every op already waiting still completes (before, the backend
 * aborted the process when a result had nowhere to go). */
Test(backend, out_of_memory_refuses_a_submit_and_loses_nothing)
{
    setenv("CORING_BACKEND", "epoll", 1);
    RUN_NO_FD_LEAK(oom_main, NULL);
}
