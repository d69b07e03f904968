/* SPDX-License-Identifier: MIT */
/*
 * coring — Python's asyncio, rebuilt as a C library for Linux on io_uring.
 *
 * Conventions (they hold for every function below unless it says otherwise):
 *
 *  - Errors are negative errno values, returned. errno is never the channel.
 *    A function that returns a pointer returns NULL on failure; where the
 *    reason matters there is an `_ex` variant that returns the code.
 *  - Cancellation is -ECANCELED, timeouts are -ETIMEDOUT.
 *  - Misuse codes: -EPERM   awaiting outside a task / wrong thread,
 *                  -EBUSY   cr_run inside a running loop, closing a running loop,
 *                  -ESHUTDOWN the loop is closed,
 *                  -EALREADY  a second result on a future,
 *                  -EAGAIN    reading the result of a future that is not done,
 *                  -EINVAL    a bad argument (NULL, empty set, unknown flag).
 *  - Times (every `double` of seconds, and cr_sleep_ns) follow one rule:
 *      NaN            -EINVAL (NULL from a call that returns a pointer);
 *      +inf           never: wait forever, a callback that never runs;
 *      huge finite    saturates to never (now + it would pass int64 ns);
 *                     nothing ever overflows;
 *      negative       "no timeout" where a call documents < 0 as none
 *                     (timeouts, CR_NO_TIMEOUT, timeout scopes); otherwise a
 *                     delay in the past: due at once, ordered by deadline
 *                     (cr_call_later(-2) runs before cr_call_later(-1)).
 *    docs/errors.md lists every call's answers to bad arguments.
 *  - "Suspends" marks a call that parks the calling task. It may only be made
 *    from inside a task, and returns -ECANCELED if the task is cancelled there.
 *
 * Ownership — one rule: every cr_future * / cr_task * a function *returns* carries
 * one reference that belongs to the caller; drop it with cr_future_unref() when
 * done. Pointers passed *in* are borrowed. The loop keeps its own reference to a
 * task until the task finishes, so "fire and forget" is create + unref at once.
 *
 * Threads: a loop and everything on it (futures, tasks, locks, timers) belong to
 * the one OS thread that runs the loop. The functions marked "thread-safe" may be
 * called from any thread; nothing else may.
 */
#ifndef CORING_H
#define CORING_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORING_VERSION_MAJOR 0
#define CORING_VERSION_MINOR 1
#define CORING_VERSION_PATCH 0
#define CORING_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define CR_API __attribute__((visibility("default")))
#else
#define CR_API
#endif

typedef struct cr_loop cr_loop;
/** A task is a future that runs a function on its own coroutine stack, so the
 * two share one type: every cr_future_* call accepts a task. */
typedef struct cr_future cr_future;
typedef struct cr_future cr_task;
typedef struct cr_handle cr_handle;
typedef struct cr_lock cr_lock;
typedef struct cr_as_completed cr_as_completed;

/** A task body. Return 0 (or any value >= 0) and optionally set *result for a
 * result; return a negative errno for an error; return -ECANCELED to end
 * cancelled. `result` is never NULL. */
typedef int (*cr_task_fn)(void *arg, void **result);
/** A done callback: always called from the loop, never inline. */
typedef void (*cr_future_cb)(cr_future *fut, void *arg);
/** A plain callback for call_soon / call_later / call_at. */
typedef void (*cr_callback)(void *arg);

CR_API const char *cr_version(void);
/** Like strerror() for the negative codes coring returns; never NULL. */
CR_API const char *cr_strerror(int err);

/* ---------------------------------------------------------------- loops ---- */

enum {
    CR_LOOP_SQPOLL = 1u << 0,          /* kernel thread polls the SQ */
    CR_LOOP_NO_DEFER_TASKRUN = 1u << 1, /* use COOP_TASKRUN even if DEFER exists */
    CR_LOOP_NO_SINGLE_ISSUER = 1u << 2,
    CR_LOOP_DEBUG = 1u << 3,           /* debug mode (see coring/sync.h) */
};

typedef struct cr_loop_opts {
    unsigned ring_entries; /* SQ size; 0 = 256 */
    size_t stack_size;     /* default task stack; 0 = 64 KiB (rounded to pages) */
    unsigned stack_cache;  /* stacks kept resident for reuse; 0 = 1024 */
    unsigned flags;        /* CR_LOOP_* */
    unsigned backend;      /* CR_BACKEND_*; 0 = AUTO (CORING_BACKEND, else probe) */
    unsigned stack_class;  /* CR_STACK_*: the class of tasks that ask for none;
                              0 = stacks of stack_size (docs/memory.md) */
} cr_loop_opts;

/** Which kernel interface a loop runs on (docs/backends.md). AUTO: the
 * CORING_BACKEND environment variable (uring|epoll) if set, else io_uring when
 * the kernel and the seccomp policy allow it, else epoll. Forcing io_uring
 * where it is refused fails cr_loop_new and cr_setup_error() says why. */
enum {
    CR_BACKEND_AUTO = 0,
    CR_BACKEND_URING = 1,
    CR_BACKEND_EPOLL = 2,
};

/** asyncio.new_event_loop. opts may be NULL. On failure returns a negative
 * errno and, when the backend cannot be set up (a forced io_uring that is
 * refused), cr_setup_error() says why. */
CR_API int cr_loop_new(cr_loop **out, const cr_loop_opts *opts);
/** Closes (if not yet) and frees. -EBUSY if running. NULL is a no-op. Tasks still
 * pending are finished as cancelled without running their bodies further. */
CR_API int cr_loop_free(cr_loop *loop);
/** asyncio loop.close(): tears down the ring; later calls get -ESHUTDOWN. */
CR_API int cr_loop_close(cr_loop *loop);
CR_API bool cr_loop_is_running(const cr_loop *loop);
CR_API bool cr_loop_is_closed(const cr_loop *loop);
/** Runs until cr_loop_stop(). */
CR_API int cr_loop_run_forever(cr_loop *loop);
/** Asks a running loop to return after the current iteration. */
CR_API void cr_loop_stop(cr_loop *loop);
/** Runs until `fut` is done; returns its error, or 0 and *result (may be NULL). */
CR_API int cr_loop_run_until_complete(cr_loop *loop, cr_future *fut, void **result);
/** The loop's monotonic clock. */
CR_API double cr_loop_time(const cr_loop *loop);
CR_API int64_t cr_loop_time_ns(const cr_loop *loop);
/** One line naming why the last cr_loop_new on this thread failed ("" if none). */
CR_API const char *cr_setup_error(void);
/** The backend loop runs on: "io_uring" or "epoll" (NULL for a NULL loop). */
CR_API const char *cr_loop_backend(const cr_loop *loop);

/** What a loop got from the kernel, after set-up's fallbacks (docs/backends.md;
 * tools/coring-info prints it; debug mode logs it at loop start). */
typedef struct cr_loop_features {
    const char *backend;     /* "io_uring" or "epoll" */
    unsigned ring_flags;     /* IORING_SETUP_* granted (io_uring; 0 on epoll) */
    bool single_issuer;      /* io_uring SINGLE_ISSUER */
    bool defer_taskrun;      /* io_uring DEFER_TASKRUN (else COOP_TASKRUN) */
    bool sqpoll;             /* io_uring SQPOLL */
    bool multishot_accept;   /* in the kernel (else emulated: epoll) */
    bool multishot_recv;     /* in the kernel (else emulated: epoll) */
    bool buffer_rings;       /* kernel provided-buffer rings (else a user-space pool) */
    bool recv_bundles;       /* io_uring RECVSEND_BUNDLE offered (not used yet) */
    bool ns_timeouts;        /* waits take ns deadlines (io_uring; epoll_pwait2) */
    bool guard_pages;        /* stack guards by MADV_GUARD_INSTALL (else mprotect) */
} cr_loop_features;
/** Fills *out; -EINVAL on NULL. Any thread that owns the loop. */
CR_API int cr_loop_get_features(const cr_loop *loop, cr_loop_features *out);
/** The same as one line of text ("io_uring: single_issuer defer_taskrun ...");
 * returns its length as snprintf does, or -EINVAL. */
CR_API int cr_loop_features_str(const cr_loop *loop, char *buf, size_t len);

/** Per OS thread. get_event_loop creates (and sets) one if the thread has none;
 * NULL only if that fails. */
CR_API int cr_set_event_loop(cr_loop *loop);
CR_API cr_loop *cr_get_event_loop(void);
/** The loop running on this thread, or NULL with *err = -EPERM (err may be NULL). */
CR_API cr_loop *cr_get_running_loop(int *err);

/** asyncio.run: new loop, run fn as the main task, cancel what is left when it
 * returns, wait for those, close the loop. Returns main's error or 0 with
 * *result (result may be NULL). -EBUSY if called inside a running loop. */
CR_API int cr_run(cr_task_fn fn, void *arg, void **result);

/** asyncio.Runner: one loop for several runs, then close (cr_run is one run).
 * new: a loop with opts (may be NULL). run: fn as a new "main" task, run until
 * it is done, its outcome returned (0 and *result, or its error); tasks it
 * leaves behind stay for later runs; SIGINT as cr_run; -EBUSY inside a running
 * loop. close: cancel what is left, wait for it, close and free the loop and
 * the runner (NULL: no-op); -EBUSY from inside a run. get_loop: borrowed.
 * All from the thread that first ran it (-EPERM otherwise). */
typedef struct cr_runner cr_runner;
CR_API int cr_runner_new(cr_runner **out, const cr_loop_opts *opts);
CR_API int cr_runner_run(cr_runner *r, cr_task_fn fn, void *arg, void **result);
CR_API cr_loop *cr_runner_get_loop(const cr_runner *r);
CR_API int cr_runner_close(cr_runner *r);

/** call_soon / call_later / call_at. Callbacks run from the loop in FIFO order
 * (call_later/at: by deadline, FIFO among equal deadlines; a negative delay
 * is a deadline in the past, +inf never comes, NaN is -EINVAL). If `out` is not
 * NULL it receives a handle owned by the caller: cancel with cr_handle_cancel,
 * release with cr_handle_release (releasing does not cancel). */
CR_API int cr_call_soon(cr_loop *loop, cr_callback fn, void *arg, cr_handle **out);
CR_API int cr_call_later(cr_loop *loop, double delay, cr_callback fn, void *arg,
                         cr_handle **out);
CR_API int cr_call_at(cr_loop *loop, double when, cr_callback fn, void *arg,
                      cr_handle **out);
/** Returns true if the callback had not run yet and now never will. */
CR_API bool cr_handle_cancel(cr_handle *h);
CR_API bool cr_handle_cancelled(const cr_handle *h);
CR_API void cr_handle_release(cr_handle *h);

/* -------------------------------------------------------------- futures ---- */

/** A new pending future on `loop` (NULL = the running loop). */
CR_API cr_future *cr_future_new(cr_loop *loop);
CR_API cr_future *cr_future_ref(cr_future *f);
CR_API void cr_future_unref(cr_future *f);

/** Exactly once: a second call returns -EALREADY and changes nothing. err must be
 * negative. Callbacks and waiters are scheduled in registration order. */
CR_API int cr_future_set_result(cr_future *f, void *value);
CR_API int cr_future_set_error(cr_future *f, int err);
/** asyncio cancel(): true if f was pending (a task: the cancel was requested). */
CR_API bool cr_cancel(cr_future *f);
/** asyncio cancel(msg): as cr_cancel; a task keeps msg (copied; the latest
 * request's wins) for cr_task_cancel_message. A plain future ignores msg. */
CR_API bool cr_cancel_msg(cr_future *f, const char *msg);

CR_API bool cr_future_done(const cr_future *f);
CR_API bool cr_future_cancelled(const cr_future *f);
/** 0 and *value for a result; the error (-ECANCELED if cancelled); -EAGAIN if
 * not done. value may be NULL. */
CR_API int cr_future_result(const cr_future *f, void **value);
/** The error code of a done future (0 for a result); -EAGAIN if pending. */
CR_API int cr_future_exception(const cr_future *f);
CR_API cr_loop *cr_future_get_loop(const cr_future *f);

/** Done callbacks run from the loop (scheduled when f completes, or at once-ish
 * — next turn — if it is already done). */
CR_API int cr_future_add_done_callback(cr_future *f, cr_future_cb fn, void *arg);
/** Removes every registration of (fn, arg) not yet scheduled; returns the count. */
CR_API int cr_future_remove_done_callback(cr_future *f, cr_future_cb fn, void *arg);

/* ---------------------------------------------------------------- tasks ---- */

/** Stack classes (docs/memory.md). A parked task costs the pages its stack
 * touched plus its struct (256 B on the heap; in the slot for LEAN).
 *  - 8K, 16K, 64K: guarded stacks of that size (a 4 KiB guard below the two
 *    small ones, 16 KiB below 64K), carved from shared slabs.
 *  - LEAN: a 1 KiB slot, struct included (~750 bytes of stack), four to a
 *    page, no guard page: an overflow is caught by a canary checked at every
 *    park and resume, reported by task name, and the process aborts. The slot
 *    is held from creation to the last unref (a created or finished task
 *    costs its 1 KiB too). Only for
 *    shallow bodies: no stdio, no resolver, no deep recursion. Under ASan/TSan
 *    it is a guarded 16 KiB stack (their frames are far larger). */
enum { CR_STACK_DEFAULT = 0, CR_STACK_LEAN, CR_STACK_8K, CR_STACK_16K, CR_STACK_64K };
#define CR_HAVE_STACK_CLASSES 1 /* for code that builds against older coring too */

typedef struct cr_task_opts {
    const char *name;     /* copied; NULL = "Task-N" */
    size_t stack_size;    /* 0 = the loop's default */
    /* asyncio 3.12's eager start (eager_task_factory): on the loop running on
     * this thread, the body runs at once, inside the create call, until it
     * first suspends; a body that never suspends ends before the call returns
     * and is never scheduled. Elsewhere (loop not running) it starts as usual. */
    bool eager;
    unsigned stack_class; /* CR_STACK_*, used when stack_size is 0; 0 = the loop's */
} cr_task_opts;

/** asyncio.create_task on the running loop. The body never runs at once: new
 * tasks start at the next loop turn, in creation order. NULL on failure. */
CR_API cr_task *cr_create_task(cr_task_fn fn, void *arg);
/** Same on an explicit loop (which need not be running); opts may be NULL. */
CR_API int cr_loop_create_task(cr_loop *loop, cr_task_fn fn, void *arg,
                               const cr_task_opts *opts, cr_task **out);
/** asyncio.ensure_future: a future stays itself (a new reference); a function
 * becomes a task on the running loop. Exactly one of fut/fn is non-NULL. */
CR_API cr_future *cr_ensure_future(cr_future *fut, cr_task_fn fn, void *arg);
/** ensure_future(…, loop=loop) on a given loop, which need not be running:
 * *out gets fut (a new reference; -EINVAL if fut is of another loop) or a new
 * task of loop running fn. Exactly one of fut/fn; -ESHUTDOWN if closed. */
CR_API int cr_loop_ensure_future(cr_loop *loop, cr_future *fut, cr_task_fn fn, void *arg,
                                 cr_future **out);

CR_API bool cr_is_task(const cr_future *f);
CR_API cr_task *cr_current_task(void); /* borrowed; NULL outside a task */
/** asyncio.current_task(loop): the task running on loop, if loop is the one
 * running on this thread; else NULL. Borrowed. */
CR_API cr_task *cr_loop_current_task(const cr_loop *loop);
/** Pending tasks of loop (NULL = running), up to cap, as borrowed pointers;
 * returns how many exist (which may exceed cap). */
CR_API size_t cr_all_tasks(cr_loop *loop, cr_task **out, size_t cap);
CR_API const char *cr_task_get_name(const cr_task *t);
CR_API int cr_task_set_name(cr_task *t, const char *name);
/** asyncio Task.cancelling / uncancel: the count of pending cancel requests. */
CR_API int cr_task_cancelling(const cr_task *t);
CR_API int cr_task_uncancel(cr_task *t);
/** The message of the latest cr_cancel_msg on t (CancelledError's args), or
 * NULL; borrowed, valid while t lives and is not cancelled again. The
 * cancelled task reads it with cr_task_cancel_message(cr_current_task()). */
CR_API const char *cr_task_cancel_message(const cr_task *t);

/** Task-local variables (asyncio's contextvars as tasks see them). Declare one
 * per variable, statically: `static cr_context_var REQ = {"request", NULL};`.
 * Each task has its own value; a task created from another task starts with
 * a copy of its creator's values (create_task copies the context), so later
 * sets in either are not seen by the other. Values are borrowed pointers.
 * get: the current task's value, else the default (also outside a task).
 * set: -EPERM outside a task, -EINVAL (NULL var), -ENOMEM; *old (may be NULL)
 * gets the previous value, to restore it (ContextVar.reset). */
typedef struct cr_context_var {
    const char *name;
    void *default_value;
} cr_context_var;
CR_API void *cr_context_var_get(const cr_context_var *var);
CR_API int cr_context_var_set(const cr_context_var *var, void *value, void **old);

/* --------------------------------------------------------- awaiting (suspends) */

/** Sleep. cr_sleep(0) (or < 0) yields: every task already ready runs first.
 * NaN: -EINVAL; +inf (or INT64_MAX ns): until cancelled. */
CR_API int cr_sleep(double seconds);
CR_API int cr_sleep_ns(int64_t ns);
/** Waits for f; 0 and *result (result may be NULL) or f's error. Cancelling the
 * caller cancels f, waits until f is done, then returns -ECANCELED. If f ends
 * cancelled, returns -ECANCELED without cancelling the caller. */
CR_API int cr_await(cr_future *f, void **result);

enum { CR_RETURN_EXCEPTIONS = 1u << 0 };
/** asyncio.gather. results[i] (results may be NULL) gets fs[i]'s result in
 * argument order. Without CR_RETURN_EXCEPTIONS the first error to happen is
 * returned as soon as it happens and the others keep running. With it, errors[i]
 * (may be NULL) gets each code (0 for a result) and the call returns 0.
 * Cancelling the caller cancels every child and returns -ECANCELED once they
 * are all done. n == 0 returns 0 at once. */
CR_API int cr_gather(cr_future *const *fs, size_t n, void **results, int *errors,
                     unsigned flags);

enum { CR_FIRST_COMPLETED = 1, CR_FIRST_EXCEPTION = 2, CR_ALL_COMPLETED = 3 };
/** asyncio.wait. timeout < 0 means none. Fills done[] and pending[] (each of
 * capacity n, either may be NULL) with borrowed pointers in argument order and
 * their counts. A timeout cancels nothing and is not an error (returns 0).
 * n == 0 is -EINVAL. Cancelling the caller cancels none of fs. */
CR_API int cr_wait(cr_future *const *fs, size_t n, double timeout, int return_when,
                   cr_future **done, size_t *ndone, cr_future **pending,
                   size_t *npending);
/** asyncio.wait_for. timeout < 0 means none; 0 means "only if already done". On
 * timeout cancels f, waits until f has really finished, returns -ETIMEDOUT (or
 * f's result, if f finished with one despite the cancel). */
CR_API int cr_wait_for(cr_future *f, double timeout, void **result);
/** asyncio.shield: a new future that mirrors f; cancelling it leaves f running.
 * Not a suspending call. */
CR_API cr_future *cr_shield(cr_future *f);

/** asyncio.as_completed: an iterator that yields fs in completion order. */
CR_API cr_as_completed *cr_as_completed_new(cr_future *const *fs, size_t n,
                                            double timeout);
/** Suspends until the next future is done; *out is borrowed. Returns 0,
 * -ETIMEDOUT (the overall timeout passed), or -ENOENT when all were yielded;
 * -EBUSY if another task is already waiting on this iterator. */
CR_API int cr_as_completed_next(cr_as_completed *it, cr_future **out);
CR_API void cr_as_completed_free(cr_as_completed *it);

/* ----------------------------------------------------------------- lock ---- */

/** asyncio.Lock: FIFO-fair; a waiter cancelled while waiting never takes it. */
CR_API cr_lock *cr_lock_new(void);
/** -EBUSY (nothing freed) while tasks wait for it; NULL is a no-op (0). */
CR_API int cr_lock_free(cr_lock *l);
CR_API int cr_lock_acquire(cr_lock *l);  /* suspends */
CR_API int cr_lock_release(cr_lock *l);  /* -EPERM if not locked */
CR_API bool cr_lock_locked(const cr_lock *l);

/** `async with lock:` — a scope guard that releases on every exit path:
 *
 *     {
 *         CR_LOCK_GUARD(g, lock);
 *         if (g.rc < 0)
 *             return g.rc;        // -ECANCELED: not acquired, nothing to release
 *         ... critical section ...
 *     }                           // released here
 */
typedef struct cr_lock_guard {
    cr_lock *lock;
    int rc; /* 0 if held */
} cr_lock_guard;
CR_API cr_lock_guard cr_lock_guard_acquire(cr_lock *l);
CR_API void cr_lock_guard_release(cr_lock_guard *g);
#define CR_LOCK_GUARD(name, lk)                                                  \
    cr_lock_guard name __attribute__((cleanup(cr_lock_guard_release))) =         \
        cr_lock_guard_acquire(lk)

#ifdef __cplusplus
}
#endif

/* The subsystems beyond the core, each in its own header. */
#include <coring/sync.h>
#include <coring/thread.h>
#include <coring/io.h>
#include <coring/process.h>
#include <coring/tls.h>

#endif /* CORING_H */
