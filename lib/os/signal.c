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
 *  - A watch that only serves cr_run's SIGINT is a daemon: it is not counted
 *    in loop->inflight (taken off after arming, put back just before its CQE
 *    is accounted), so it never keeps a finished program's loop alive.
 *  - Removing a signal first consumes any instance of it still pending, then
 *    restores the mask it had, so no stale signal takes the default action.
 *
 * Loop thread only (the signal mask is per thread).
 */
#include "core/internal.h"
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
    cr_loop *loop;
    int fd;
    sigset_t set;            /* signals read through fd */
    sigset_t was_blocked;    /* of those, the ones blocked before us */
    struct handler h[_NSIG];
    cr__op op;
    bool armed, armed_daemon, cancel_sent;
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
    struct cr__signals *s = CR_CONTAINER_OF(op, struct cr__signals, op);
    if (s->armed_daemon)
        s->loop->inflight++; /* dispatch already took one off for this CQE */
    s->armed = s->armed_daemon = s->cancel_sent = false;
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
    if (s->armed || sigisemptyset(&s->set))
        return;
    struct io_uring_sqe *sqe = cr__ring_sqe(s->loop, &s->op);
    if (!sqe)
        return;
    io_uring_prep_poll_add(sqe, s->fd, POLLIN);
    s->armed = true;
    s->armed_daemon = is_daemon(s);
    if (s->armed_daemon)
        s->loop->inflight--;
}

/* The watched set or its daemon-ness changed: arm, or re-arm via a cancel
 * (the poll's CQE then re-arms with the new settings). */
static void refresh(struct cr__signals *s)
{
    if (!s->armed) {
        arm(s);
        return;
    }
    if (s->cancel_sent || (!sigisemptyset(&s->set) && is_daemon(s) == s->armed_daemon))
        return;
    struct io_uring_sqe *sqe = cr__ring_sqe(s->loop, NULL);
    if (!sqe)
        return;
    io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&s->op);
    s->cancel_sent = true;
    if (s->armed_daemon) {
        /* Count it again until its CQE: the cancel's own CQE can come first,
         * and the loop must not conclude that nothing is left to wait for. */
        s->armed_daemon = false;
        s->loop->inflight++;
    }
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
    s->op.complete = poll_done;
    s->run.run = run_handlers;
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

void cr__signals_close(cr_loop *l)
{
    struct cr__signals *s = l->signals;
    if (!s)
        return;
    for (int sig = 1; sig < _NSIG; sig++)
        unwatch(s, sig);
    close(s->fd);
    cr_future_unref(s->main);
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
