/* SPDX-License-Identifier: MIT */
/*
 * signal.c — loop.add_signal_handler through a signalfd polled on the ring,
 * and cr_run's SIGINT handling (first: cancel main; second: stop at once).
 *
 * Owns (per loop, l->signals, created on first use): the signalfd, the set of
 * signals it reads, the mask they had before we blocked them, the handler
 * table, one POLL_ADD op on the ring, and a ready-queue handle that runs the
 * handlers.
 *
 * Invariants:
 *  - A handled signal is blocked in the loop's thread and read only through
 *    the signalfd, so it never interrupts anything: handlers run from the
 *    ready queue (never inside the signal, never in the CQE dispatch).
 *  - At most one poll op is in flight (armed); it is re-armed after each CQE
 *    while the set is not empty, and cancelled when the set empties, so an
 *    unwatched loop can still detect "nothing can ever happen" (-EDEADLK).
 *    The op lives in the state, which is freed only when the loop closes (no
 *    CQE is dispatched after that).
 *  - The poll op is weak (backend.h): the signal resource says whether the
 *    loop must stay up. It keeps the loop alive while a user handler is
 *    watched; a watch that only serves cr_run's SIGINT is a daemon and does
 *    not, so it never keeps a finished program's loop alive.
 *  - Before the loop declares "nothing can ever happen" it asks this
 *    resource (alive hook), which reads the signalfd: a signal already raised
 *    (a callback's raise(SIGINT)) is delivered, never lost to -EDEADLK.
 *  - Removing a signal first consumes any instance of it still pending, then
 *    restores the mask it had, so no stale signal takes the default action.
 *
 * Loop thread only (the signal mask is per thread).
 */
#include "core/internal.h"
#include "os/signal.h"
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define MAX_QUEUED 64

struct handler {
    cr_signal_cb fn;
    void *arg;
};

struct cr__signals {
    cr__resource res;        /* on the loop's list (core/resource.h) */
    cr_loop *loop;
    int fd;
    sigset_t set;            /* signals read through fd */
    sigset_t was_blocked;    /* of those, the ones blocked before us */
    struct handler h[_NSIG];
    cr__mshot poll;          /* the POLL op on fd */
    cr__handle run;          /* runs the queued handlers */
    bool run_queued;
    int queued[MAX_QUEUED];  /* signals arrived, FIFO; coalesced beyond */
    int nqueued;
    /* cr_run's SIGINT mode */
    bool sigint_mode;
    cr_task *main;
    int sigints;
    bool hard_stop;
};

static void drain_fd(struct cr__signals *s, bool deliver);

static void run_handlers(cr__handle *h)
{
    struct cr__signals *s = CR_CONTAINER_OF(h, struct cr__signals, run);
    s->run_queued = false;
    int n = s->nqueued, q[MAX_QUEUED];
    memcpy(q, s->queued, (size_t)n * sizeof *q);
    s->nqueued = 0;
    for (int i = 0; i < n; i++) {
        int sig = q[i];
        if (s->h[sig].fn) {
            s->h[sig].fn(sig, s->h[sig].arg); /* a user handler replaces cr_run's */
        } else if (sig == SIGINT && s->sigint_mode) {
            if (++s->sigints == 1 && s->main) {
                cr_cancel(s->main); /* asyncio: KeyboardInterrupt → cancel main */
            } else {
                s->hard_stop = true;
                cr_loop_stop(s->loop);
            }
        }
    }
}

static void arm(struct cr__signals *s);

static void poll_done(cr__op *op, int res, unsigned flags)
{
    (void)res, (void)flags;
    struct cr__signals *s = CR_CONTAINER_OF(op, struct cr__signals, poll.op);
    cr__mshot_ended(&s->poll, 0);
    drain_fd(s, true);
    arm(s);
}

static bool is_daemon(const struct cr__signals *s)
{
    if (!s->sigint_mode || s->h[SIGINT].fn)
        return false;
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGINT && sigismember(&s->set, sig) == 1)
            return false;
    return true;
}

static void arm(struct cr__signals *s)
{
    s->res.keeps_alive = !sigisemptyset(&s->set) && !is_daemon(s);
    if (s->poll.armed || sigisemptyset(&s->set))
        return;
    cr__mshot_arm(&s->loop->be, &s->poll);
}

/* The watched set or its daemon-ness changed: arm, or stop watching when
 * the set emptied (the poll's completion then re-arms if it must). */
static void refresh(struct cr__signals *s)
{
    arm(s);
    if (s->poll.armed && sigisemptyset(&s->set))
        cr__mshot_cancel(&s->loop->be, &s->poll);
}

/* Read every pending siginfo; queue them for the handlers (deliver) or drop. */
static void drain_fd(struct cr__signals *s, bool deliver)
{
    struct signalfd_siginfo si[8];
    ssize_t n;
    while ((n = read(s->fd, si, sizeof si)) > 0) {
        for (size_t i = 0; deliver && i < (size_t)n / sizeof *si; i++) {
            int sig = (int)si[i].ssi_signo;
            if (s->nqueued < MAX_QUEUED)
                s->queued[s->nqueued++] = sig;
        }
    }
    if (deliver && s->nqueued && !s->run_queued) {
        s->run_queued = true;
        cr__loop_schedule(s->loop, &s->run);
    }
}

static void signals_close(cr_loop *l, cr__resource *r, enum cr__close_stage stage);
static void signals_release(cr_loop *l, cr__resource *r);

/* The loop is about to give up (-EDEADLK): a signal already pending would
 * make something happen, so read it now. Queuing its handlers makes work
 * ready, which is what keeps the loop going. */
static bool signals_alive(cr_loop *l, cr__resource *r)
{
    (void)l;
    struct cr__signals *s = CR_CONTAINER_OF(r, struct cr__signals, res);
    if (sigisemptyset(&s->set))
        return false;
    drain_fd(s, true);
    return s->run_queued;
}

static const struct cr__handle_ops run_ops = {.run = run_handlers};

static const struct cr__resource_ops signals_ops = {
    .name = "signals",
    .close = signals_close,
    .release = signals_release,
    .alive = signals_alive,
};

static struct cr__signals *get_state(cr_loop *l)
{
    if (l->signals)
        return l->signals;
    struct cr__signals *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    sigemptyset(&s->set);
    sigemptyset(&s->was_blocked);
    s->fd = signalfd(-1, &s->set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        free(s);
        return NULL;
    }
    s->loop = l;
    cr__op_init(&s->poll.op, CR__OP_POLL, s->fd, poll_done);
    s->poll.op.a.rw.flags = POLLIN;
    s->poll.op.weak = true; /* the resource says whether we keep the loop */
    s->run.ops = &run_ops;
    if (cr__resource_add(l, &s->res, &signals_ops, false) < 0) {
        close(s->fd);
        free(s);
        return NULL;
    }
    l->signals = s;
    return s;
}

static int watch(cr_loop *l, int sig)
{
    struct cr__signals *s = get_state(l);
    if (!s)
        return -ENOMEM;
    if (sigismember(&s->set, sig))
        return 0;
    sigset_t cur, one;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    if (sigismember(&cur, sig))
        sigaddset(&s->was_blocked, sig);
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    sigaddset(&s->set, sig);
    if (signalfd(s->fd, &s->set, 0) < 0) {
        int err = -errno;
        sigdelset(&s->set, sig);
        if (!sigismember(&s->was_blocked, sig))
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        return err;
    }
    return 0;
}

static void unwatch(struct cr__signals *s, int sig)
{
    if (!sigismember(&s->set, sig))
        return;
    /* Consume what is pending of this signal only (others stay queued). */
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&one, NULL, &zero) > 0)
        ;
    sigdelset(&s->set, sig);
    signalfd(s->fd, &s->set, 0);
    if (!sigismember(&s->was_blocked, sig))
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    sigdelset(&s->was_blocked, sig);
}

static bool bad_signal(int sig)
{
    return sig <= 0 || sig >= _NSIG || sig == SIGKILL || sig == SIGSTOP;
}

int cr_add_signal_handler(cr_loop *l, int sig, cr_signal_cb fn, void *arg)
{
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (bad_signal(sig) || !fn)
        return -EINVAL;
    if ((rc = watch(l, sig)) < 0)
        return rc;
    l->signals->h[sig] = (struct handler){fn, arg};
    refresh(l->signals);
    return 0;
}

int cr_remove_signal_handler(cr_loop *l, int sig)
{
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (bad_signal(sig))
        return -EINVAL;
    struct cr__signals *s = l->signals;
    if (!s || !s->h[sig].fn)
        return -ENOENT;
    s->h[sig].fn = NULL;
    if (!(sig == SIGINT && s->sigint_mode))
        unwatch(s, sig);
    refresh(s);
    return 0;
}

/* Loop close, while the backend still runs: restore every signal's mask. The
 * poll op's memory stays until release (the backend is gone by then). */
static void signals_close(cr_loop *l, cr__resource *r, enum cr__close_stage stage)
{
    struct cr__signals *s = CR_CONTAINER_OF(r, struct cr__signals, res);
    if (stage != CR__CLOSE_DETACH)
        return;
    for (int sig = 1; sig < _NSIG; sig++)
        unwatch(s, sig);
    cr_future_unref(s->main);
    s->main = NULL;
    s->res.keeps_alive = false;
    (void)l;
}

static void signals_release(cr_loop *l, cr__resource *r)
{
    struct cr__signals *s = CR_CONTAINER_OF(r, struct cr__signals, res);
    close(s->fd);
    free(s);
    l->signals = NULL;
}

/* ---- cr_run's SIGINT ---- */

int cr__sigint_start(cr_loop *l, cr_task *main_task)
{
    /* Only in the main thread (as asyncio.run), and only when nobody else
     * handles SIGINT: default disposition, not blocked. */
    if (gettid() != getpid())
        return -EPERM;
    struct sigaction sa;
    sigset_t cur;
    if (sigaction(SIGINT, NULL, &sa) < 0 || sa.sa_handler != SIG_DFL)
        return -EEXIST;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    if (sigismember(&cur, SIGINT))
        return -EEXIST;
    int rc = watch(l, SIGINT);
    if (rc < 0)
        return rc;
    struct cr__signals *s = l->signals;
    s->sigint_mode = true;
    s->main = cr_future_ref(main_task);
    refresh(s);
    return 0;
}

bool cr__sigint_stop(cr_loop *l)
{
    struct cr__signals *s = l->signals;
    return s && s->sigint_mode && s->hard_stop;
}

int cr__sigint_end(cr_loop *l, int rc)
{
    struct cr__signals *s = l->signals;
    if (!s || !s->sigint_mode)
        return rc;
    bool interrupted = s->hard_stop || (s->sigints && rc == -ECANCELED);
    s->sigint_mode = false;
    if (!s->h[SIGINT].fn)
        unwatch(s, SIGINT);
    cr_future_unref(s->main);
    s->main = NULL;
    refresh(s);
    return interrupted ? -EINTR : rc;
}
