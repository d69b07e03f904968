/* SPDX-License-Identifier: MIT */
/*
 * systhread.h — the one way coring starts an OS thread: the pool's workers,
 * a loop group's loops, the epoll backend's file helpers, a subprocess's
 * watcher. A leaf header (like trace.h), so the backend below the core can
 * use it too.
 *
 * Why: cr_add_signal_handler reads signals from a signalfd, which only sees a
 * process-directed signal that every thread blocks; the kernel hands such a
 * signal to any thread that does not, and the default action of most ends the
 * process. A thread inherits its creator's mask, and coring's threads are
 * often made before the handler is added (the first cr_to_thread starts the
 * pool), so each starts with the asynchronous signals blocked. Left as they
 * were: the fault signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS),
 * which go to the thread that faulted whatever the mask and skip a handler
 * if blocked (coring's stack-overflow report, a user's); and SIGPROF, which
 * a sampling profiler (gperftools, ITIMER_PROF) must be able to deliver to
 * every thread, or the pool's and a loop group's work would never show.
 *
 * A loop run on such a thread can still watch a signal: its own handler
 * blocks it there too and reads it from its own signalfd.
 *
 * Any thread; owns nothing.
 */
#ifndef CORING_CORE_SYSTHREAD_H
#define CORING_CORE_SYSTHREAD_H

#include <pthread.h>
#include <signal.h>

/* pthread_create(th, attr, fn, arg) with the asynchronous signals (all but
 * those above) blocked in the new thread. 0 or a negative errno. */
static inline int cr__thread_start(pthread_t *th, const pthread_attr_t *attr,
                                   void *(*fn)(void *), void *arg)
{
    sigset_t async, old;
    sigfillset(&async);
    static const int keep[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGPROF};
    for (unsigned i = 0; i < sizeof keep / sizeof *keep; i++)
        sigdelset(&async, keep[i]);
    pthread_sigmask(SIG_BLOCK, &async, &old);
    int e = pthread_create(th, attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -e;
}

#endif
