/* SPDX-License-Identifier: MIT */
/*
 * subprocess.c — asyncio.create_subprocess_exec with raw pipes or streams;
 * waiting on a pidfd polled through the backend, then reaping with
 * waitid(P_PIDFD).
 *
 * Where pidfd_open is refused (ENOSYS: before Linux 5.3, gVisor; EPERM: a
 * seccomp profile such as older Docker defaults), a watcher thread per child
 * stands in for it (asyncio's ThreadedChildWatcher): it blocks in
 * waitid(WEXITED | WNOWAIT), which sees the exit without reaping, then makes
 * an eventfd readable; the loop polls that eventfd where it would poll the
 * pidfd, and reaps with waitid(P_PID). The child stays a zombie until we
 * reap it, so its pid cannot be recycled while kill(2) may still name it.
 *
 * Owns: the child (until reaped), its pidfd (or its watch), the parent's ends
 * of its pipes, and the streams made on STREAM pipes.
 *
 * Invariants:
 *  - No zombie, ever: a child is reaped by wait(), or by free() (SIGKILL, then
 *    a blocking waitid, which returns at once for a killed child).
 *  - Signals go through the pidfd, so a signal can never hit a recycled pid;
 *    without one, kill(2) is used only before we reap, which nobody else does.
 *  - A watch is shared by p and its thread (two references; the last frees
 *    it). The eventfd is p's: free() closes it under the watch's lock, and
 *    the thread writes to it only under that lock and only while it is open,
 *    so no fd outlives free() and no write can reach a recycled number.
 *  - Reads/writes/polls are cr__io single-shot ops (cancel-safe, rule 3); busy
 *    counts tasks inside one, and free() refuses (-EBUSY) while it is > 0.
 *  - Pipe fds are O_CLOEXEC in the parent; only the child's dup2'd copies
 *    survive its exec.
 *  - STREAM pipes are Unix socket pairs, so a cr_stream (multishot recv,
 *    MSG_NOSIGNAL sends, shutdown for write_eof) works on them unchanged. The
 *    parent's end is made one-way (shutdown of the other direction) so it
 *    behaves like a pipe. Once streams[i] exists it owns fds[i] (fds[i] is
 *    then only a borrowed copy of the number) and every read/write of that
 *    pipe goes through it, so no byte can be read around its buffer.
 *  - Streams are I/O objects of one loop, freed by that loop's close. While p
 *    has streams it sits on the loop's live list (obj) so that a loop closed
 *    first forgets them in p instead of leaving p with dangling pointers.
 *
 * Loop thread only.
 */
#include "core/systhread.h"
#include "io/io.h"
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

/* The stand-in for a pidfd: readable (efd) once the child has exited. */
struct exit_watch {
    pthread_mutex_t mu; /* guards efd */
    atomic_int refs;    /* p's and the watcher thread's */
    pid_t pid;
    int efd;            /* -1 once p is freed */
};

struct cr_subprocess {
    pid_t pid;
    int pidfd;                /* the pidfd, or watch->efd */
    struct exit_watch *watch; /* NULL when pidfd is a real pidfd */
    int fds[3];
    bool reaped;
    int returncode;
    int busy;
    /* STREAM pipes */
    int modes[3];
    cr_stream *streams[3];
    cr_stream_opts sopts;
    bool has_sopts;
    cr_loop *loop;   /* the streams' loop; NULL while there are none */
    cr__io_obj obj;  /* on loop's live list while loop != NULL */
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* ---- without pidfd: a watcher thread per child ---- */

static void watch_unref(struct exit_watch *w)
{
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

/* Any thread: blocks until the child exits (or is reaped by free(): then
 * ECHILD), without reaping it, and says so on the eventfd. */
static void *watch_main(void *arg)
{
    struct exit_watch *w = arg;
    siginfo_t si;
    while (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
        ;
    uint64_t one = 1;
    pthread_mutex_lock(&w->mu);
    if (w->efd >= 0) {
        ssize_t n = write(w->efd, &one, sizeof one);
        (void)n; /* an eventfd write of 1 cannot fail short of overflow */
    }
    pthread_mutex_unlock(&w->mu);
    watch_unref(w);
    return NULL;
}

/* pidfd_open was refused: start the watcher. 0, or a negative errno (then
 * nothing is left behind). */
static int watch_start(cr_subprocess *p)
{
    struct exit_watch *w = malloc(sizeof *w);
    if (!w)
        return -ENOMEM;
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        int e = -errno;
        free(w);
        return e;
    }
    w->pid = p->pid;
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->refs, 2);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 * 1024); /* it only calls waitid and write */
    pthread_t th; /* the asynchronous signals blocked in it (core/systhread.h) */
    int e = cr__thread_start(&th, &a, watch_main, w);
    pthread_attr_destroy(&a);
    if (e) {
        close(w->efd);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return e;
    }
    p->watch = w;
    p->pidfd = w->efd;
    return 0;
}

/* The child's id for waitid: its pidfd, or its pid under a watch. */
static int reap(cr_subprocess *p, siginfo_t *si, int options)
{
    if (p->watch)
        return waitid(P_PID, (id_t)p->pid, si, options);
    return waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, si, options);
}

static int signal_child(cr_subprocess *p, int sig)
{
    if (p->watch)
        return kill(p->pid, sig); /* not reaped yet: the pid is still ours */
    return (int)syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0);
}

/* Sets up child fd `target` per mode. pipes[] gets the parent's end. */
static int plan_fd(posix_spawn_file_actions_t *fa, int target, int mode, int *parent_end,
                   int *child_end)
{
    int p[2];
    switch (mode) {
    case CR_SUBPROCESS_INHERIT:
        return 0;
    case CR_SUBPROCESS_DEVNULL:
        return -posix_spawn_file_actions_addopen(fa, target, "/dev/null", O_RDWR, 0);
    case CR_SUBPROCESS_PIPE:
        if (pipe2(p, O_CLOEXEC) < 0)
            return -errno;
        *parent_end = target == 0 ? p[1] : p[0];
        *child_end = target == 0 ? p[0] : p[1];
        return -posix_spawn_file_actions_adddup2(fa, *child_end, target);
    case CR_SUBPROCESS_STREAM:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
            return -errno;
        *parent_end = p[0];
        *child_end = p[1];
        /* One-way like a pipe: stdin's reader sees EOF at once (no recv sits
         * in the kernel for nothing), and nothing can be written back into
         * the child's stdout/stderr. */
        shutdown(p[0], target == 0 ? SHUT_RD : SHUT_WR);
        return -posix_spawn_file_actions_adddup2(fa, *child_end, target);
    case CR_SUBPROCESS_STDOUT:
        return target == 2 ? -posix_spawn_file_actions_adddup2(fa, 1, 2) : -EINVAL;
    default:
        return -EINVAL;
    }
}

int cr_create_subprocess_exec(cr_subprocess **out, const char *const *argv,
                              const cr_subprocess_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!argv || !argv[0])
        return -EINVAL;
    cr_subprocess_opts o = {0};
    if (opts)
        o = *opts;
    cr_subprocess *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pidfd = -1;
    int child[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++)
        p->fds[i] = -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int modes[3] = {o.stdin_mode, o.stdout_mode, o.stderr_mode};
    memcpy(p->modes, modes, sizeof modes);
    if (o.stream_opts) {
        p->sopts = *o.stream_opts;
        p->has_sopts = true;
    }
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = plan_fd(&fa, i, modes[i], &p->fds[i], &child[i]);
    if (rc == 0 && o.cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, o.cwd);
    if (rc == 0) {
        rc = -posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv,
                           o.envp ? o.envp : environ);
    }
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 3; i++)
        close_fd(&child[i]);
    if (rc == 0) {
        p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
        if (p->pidfd < 0)
            rc = errno == ENOSYS || errno == EPERM ? watch_start(p) : -errno;
        if (rc < 0) {
            kill(p->pid, SIGKILL); /* cannot watch it: do not leave it behind */
            waitpid(p->pid, NULL, 0);
        }
    }
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            close_fd(&p->fds[i]);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int cr_create_subprocess_shell(cr_subprocess **out, const char *cmd,
                               const cr_subprocess_opts *opts)
{
    if (!cmd) {
        if (out)
            *out = NULL;
        return -EINVAL;
    }
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    return cr_create_subprocess_exec(out, argv, opts);
}

pid_t cr_subprocess_pid(const cr_subprocess *p) { return p ? p->pid : -1; }

int cr_subprocess_fd(const cr_subprocess *p, int which)
{
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    return p->fds[which];
}

int cr_subprocess_close_pipe(cr_subprocess *p, int which)
{
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    if (p->fds[which] < 0)
        return -EBADF;
    if (p->streams[which]) {
        /* The stream owns the fd: it sends what is buffered, then closes. */
        cr_stream_close(p->streams[which]);
        p->fds[which] = -1;
        return 0;
    }
    close_fd(&p->fds[which]);
    return 0;
}

/* ---- STREAM pipes ---- */

/* Loop close destroys the streams (closing their fds) after the ring is gone:
 * p, which outlives the loop, must forget them. */
static void forget_streams(cr__io_obj *o)
{
    cr_subprocess *p = CR_CONTAINER_OF(o, cr_subprocess, obj);
    for (int i = 0; i < 3; i++) {
        if (p->streams[i]) {
            p->streams[i] = NULL;
            p->fds[i] = -1;
        }
    }
    p->loop = NULL;
}

int cr_subprocess_stream(cr_subprocess *p, int which, cr_stream **out)
{
    if (out)
        *out = NULL;
    if (!p || which < 0 || which > 2 || !out)
        return -EINVAL;
    if (p->streams[which]) {
        *out = p->streams[which];
        return 0;
    }
    if (p->modes[which] == CR_SUBPROCESS_PIPE)
        return -ENOTSOCK; /* an OS pipe: multishot recv and send need a socket */
    if (p->modes[which] != CR_SUBPROCESS_STREAM || p->fds[which] < 0)
        return -EBADF;
    cr_loop *l = cr__tls_running;
    if (!l || (p->loop && p->loop != l))
        return -EPERM;
    cr_stream *s;
    /* cr_stream_new owns the fd from here, even on error (then it is closed). */
    int rc = cr_stream_new(l, p->fds[which], p->has_sopts ? &p->sopts : NULL, &s);
    if (rc < 0) {
        p->fds[which] = -1;
        return rc;
    }
    if (!p->loop) {
        p->loop = l;
        cr__io_obj_add(l, &p->obj, forget_streams); /* io state exists: the stream made it */
    }
    p->streams[which] = s;
    *out = s;
    return 0;
}

static cr_stream *stream_or_null(cr_subprocess *p, int which)
{
    cr_stream *s;
    return cr_subprocess_stream(p, which, &s) == 0 ? s : NULL;
}

cr_stream *cr_subprocess_stdin(cr_subprocess *p) { return stream_or_null(p, 0); }
cr_stream *cr_subprocess_stdout(cr_subprocess *p) { return stream_or_null(p, 1); }
cr_stream *cr_subprocess_stderr(cr_subprocess *p) { return stream_or_null(p, 2); }

/* One single-shot op through the backend, counted in busy. */
static int one_io(cr_subprocess *p, int code, int fd, void *buf, size_t n)
{
    struct cr__io io;
    int rc = cr__io_begin(&io, code, fd);
    if (rc < 0)
        return rc;
    if (code == CR__OP_POLL) {
        io.op.a.rw.flags = POLLIN;
    } else {
        io.op.a.rw.buf = buf;
        io.op.a.rw.len = n > (1u << 30) ? 1u << 30 : n;
        io.op.a.rw.off = (uint64_t)-1; /* the pipe's own position */
    }
    p->busy++;
    rc = cr__io_wait(&io, -1);
    p->busy--;
    return rc;
}

ssize_t cr_subprocess_read(cr_subprocess *p, int which, void *buf, size_t n)
{
    if (!p || (which != 1 && which != 2) || (!buf && n))
        return -EINVAL;
    if (p->fds[which] < 0)
        return -EBADF;
    if (p->modes[which] == CR_SUBPROCESS_STREAM) {
        cr_stream *s;
        int rc = cr_subprocess_stream(p, which, &s);
        if (rc < 0)
            return rc;
        p->busy++;
        ssize_t r = cr_stream_read(s, buf, n);
        p->busy--;
        return r;
    }
    return one_io(p, CR__OP_READ, p->fds[which], buf, n);
}

ssize_t cr_subprocess_write(cr_subprocess *p, const void *buf, size_t n)
{
    if (!p || (!buf && n))
        return -EINVAL;
    if (p->fds[0] < 0)
        return -EBADF;
    if (p->modes[0] == CR_SUBPROCESS_STREAM) {
        cr_stream *s;
        int rc = cr_subprocess_stream(p, 0, &s);
        if (rc < 0)
            return rc;
        cr__task *t;
        if ((rc = cr__enter(&t)) < 0) /* suspends, like the raw path: same checks */
            return rc;
        p->busy++;
        ssize_t r = cr_stream_write(s, buf, n);
        if (r >= 0 && (rc = cr_stream_drain(s)) < 0)
            r = rc;
        p->busy--;
        return r;
    }
    size_t done = 0;
    while (done < n) {
        int rc = one_io(p, CR__OP_WRITE, p->fds[0], (char *)buf + done, n - done);
        if (rc < 0)
            return rc;
        done += (size_t)rc;
    }
    return (ssize_t)done;
}

static void note_exit(cr_subprocess *p, const siginfo_t *si)
{
    p->reaped = true;
    p->returncode = si->si_code == CLD_EXITED ? si->si_status : -si->si_status;
}

int cr_subprocess_wait(cr_subprocess *p, int *returncode)
{
    if (!p)
        return -EINVAL;
    while (!p->reaped) {
        int rc = one_io(p, CR__OP_POLL, p->pidfd, NULL, 0); /* readable = exited */
        if (rc < 0)
            return rc;
        if (p->reaped)
            break; /* another waiter reaped it meanwhile */
        siginfo_t si = {0};
        if (reap(p, &si, WEXITED | WNOHANG) < 0)
            return -errno;
        if (si.si_pid)
            note_exit(p, &si);
    }
    if (returncode)
        *returncode = p->returncode;
    return 0;
}

bool cr_subprocess_returncode(const cr_subprocess *p, int *returncode)
{
    if (!p || !p->reaped)
        return false;
    if (returncode)
        *returncode = p->returncode;
    return true;
}

int cr_subprocess_send_signal(cr_subprocess *p, int sig)
{
    if (!p)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
    if (signal_child(p, sig) < 0)
        return -errno;
    return 0;
}

int cr_subprocess_terminate(cr_subprocess *p) { return cr_subprocess_send_signal(p, SIGTERM); }
int cr_subprocess_kill(cr_subprocess *p) { return cr_subprocess_send_signal(p, SIGKILL); }

/* ---- communicate ---- */

struct pump {
    cr_subprocess *p;
    int which;
    const char *in;
    size_t inlen;
    char *buf;
    size_t len, cap;
};

static int pump_out(void *arg, void **r)
{
    (void)r;
    struct pump *m = arg;
    for (;;) {
        if (m->cap - m->len < 4096) {
            size_t cap = m->cap ? m->cap * 2 : 8192;
            char *b = realloc(m->buf, cap);
            if (!b)
                return -ENOMEM;
            m->buf = b;
            m->cap = cap;
        }
        ssize_t n = cr_subprocess_read(m->p, m->which, m->buf + m->len, m->cap - m->len - 1);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        m->len += (size_t)n;
    }
    m->buf[m->len] = 0;
    return 0;
}

static int pump_in(void *arg, void **r)
{
    (void)r;
    struct pump *m = arg;
    ssize_t n = m->inlen ? cr_subprocess_write(m->p, m->in, m->inlen) : 0;
    cr_subprocess_close_pipe(m->p, 0);
    /* asyncio ignores a child that closed its stdin (a socket may say RESET) */
    return n == -EPIPE || n == -ECONNRESET ? 0 : (int)(n < 0 ? n : 0);
}

int cr_subprocess_communicate(cr_subprocess *p, const void *input, size_t inlen, char **out,
                              size_t *outlen, char **err, size_t *errlen, int *returncode)
{
    if (out)
        *out = NULL;
    if (err)
        *err = NULL;
    if (outlen)
        *outlen = 0;
    if (errlen)
        *errlen = 0;
    if (!p || (!input && inlen))
        return -EINVAL;
    cr__task *self;
    int rc = cr__enter(&self);
    if (rc < 0)
        return rc;
    struct pump m[3] = {{p, 0, input, inlen, NULL, 0, 0}, {p, 1, 0, 0, 0, 0, 0}, {p, 2, 0, 0, 0, 0, 0}};
    cr_task *t[3];
    size_t n = 0;
    for (int i = 0; i < 3; i++) {
        if (p->fds[i] < 0)
            continue;
        t[n] = cr_create_task(i == 0 ? pump_in : pump_out, &m[i]);
        if (!t[n]) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    int errs[3] = {0};
    /* gather cancels and waits for every pump if we are cancelled. */
    int grc = n ? cr_gather(t, n, NULL, errs, CR_RETURN_EXCEPTIONS) : 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && errs[i] < 0)
            rc = errs[i];
        cr_future_unref(t[i]);
    }
    if (grc < 0)
        rc = grc;
    if (rc == 0)
        rc = cr_subprocess_wait(p, returncode);
    if (rc == 0 && out) {
        *out = m[1].buf ? m[1].buf : calloc(1, 1);
        m[1].buf = NULL;
        if (outlen)
            *outlen = m[1].len;
    }
    if (rc == 0 && err) {
        *err = m[2].buf ? m[2].buf : calloc(1, 1);
        m[2].buf = NULL;
        if (errlen)
            *errlen = m[2].len;
    }
    free(m[1].buf);
    free(m[2].buf);
    return rc;
}

int cr_subprocess_free(cr_subprocess *p)
{
    if (!p)
        return 0;
    if (p->busy)
        return -EBUSY;
    if (!p->reaped) {
        /* Never leave a zombie: kill, then reap (returns at once after KILL). */
        signal_child(p, SIGKILL);
        siginfo_t si;
        while (reap(p, &si, WEXITED) < 0 && errno == EINTR)
            ;
    }
    for (int i = 0; i < 3; i++) {
        if (p->streams[i]) {
            /* Closes it and wakes its waiters with -ESHUTDOWN; the memory goes
             * once the kernel and those waiters are done with it. */
            cr_stream_free(p->streams[i]);
            p->streams[i] = NULL;
            p->fds[i] = -1;
        }
    }
    if (p->loop)
        cr__io_obj_del(p->loop, &p->obj);
    for (int i = 0; i < 3; i++)
        close_fd(&p->fds[i]);
    if (p->watch) {
        pthread_mutex_lock(&p->watch->mu);
        close(p->watch->efd);
        p->watch->efd = -1;
        pthread_mutex_unlock(&p->watch->mu);
        watch_unref(p->watch);
    } else {
        close(p->pidfd);
    }
    free(p);
    return 0;
}
