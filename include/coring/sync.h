/* coring/sync.h — Event, Semaphore, Condition, Barrier, Queue, TaskGroup,
 * timeouts, signals, subprocesses, debug mode (issue 4).
 * Included by <coring.h>; do not include directly.
 *
 * Shared rules for everything here (on top of coring.h's conventions):
 *  - FIFO-fair: waiters are served in arrival order, by hand-off (what a waiter
 *    was granted is never taken by a task that arrives later).
 *  - Cancellation-safe: a waiter cancelled while still queued is removed and
 *    takes nothing (-ECANCELED). One already granted keeps the grant; the
 *    cancel is delivered at its next suspending call.
 *  - An object belongs to the thread of its first use (wait, set, put...);
 *    calls from any other thread return -EPERM. Not thread-safe: use it from
 *    tasks and callbacks of loops on that one thread.
 *  - _free on an object that still has waiters returns -EBUSY and frees
 *    nothing; NULL is a no-op returning 0.
 */
#ifndef CORING_SYNC_H
#define CORING_SYNC_H
#ifndef CORING_H
#error "include <coring.h>"
#endif

#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- event ---- */

/* asyncio.Event. */
typedef struct cr_event cr_event;
CR_API cr_event *cr_event_new(void);                  /* NULL: out of memory */
CR_API int cr_event_free(cr_event *e);                /* -EBUSY with waiters */
/* Sets the flag and wakes every waiter (in FIFO order). Idempotent. */
CR_API int cr_event_set(cr_event *e);
CR_API int cr_event_clear(cr_event *e);
CR_API bool cr_event_is_set(const cr_event *e);
/* Suspends until the flag is set; 0 at once if it already is. A waiter woken by
 * set() returns 0 even if clear() ran before it resumed. */
CR_API int cr_event_wait(cr_event *e);

/* ------------------------------------------------------------ semaphore ---- */

/* asyncio.Semaphore / BoundedSemaphore. */
typedef struct cr_semaphore cr_semaphore;
/* NULL: out of memory. */
CR_API cr_semaphore *cr_semaphore_new(unsigned value);
/* Bounded: release() beyond the initial value returns -EOVERFLOW. */
CR_API cr_semaphore *cr_bounded_semaphore_new(unsigned value);
CR_API int cr_semaphore_free(cr_semaphore *s);
/* Suspends while the value is 0 (or earlier waiters are queued). */
CR_API int cr_semaphore_acquire(cr_semaphore *s);
/* Hands one unit to the first waiter, or increments the value.
 * -EOVERFLOW: a bounded semaphore released more often than acquired. */
CR_API int cr_semaphore_release(cr_semaphore *s);
/* True if acquire() would suspend. */
CR_API bool cr_semaphore_locked(const cr_semaphore *s);
CR_API unsigned cr_semaphore_value(const cr_semaphore *s);

/* ------------------------------------------------------------ condition ---- */

/* asyncio.Condition, over a cr_lock. */
typedef struct cr_condition cr_condition;
/* lock NULL: the condition makes (and owns) its own. A given lock is borrowed
 * and must outlive the condition. */
CR_API cr_condition *cr_condition_new(cr_lock *lock);
CR_API int cr_condition_free(cr_condition *c);
CR_API cr_lock *cr_condition_lock(cr_condition *c); /* borrowed */
CR_API int cr_condition_acquire(cr_condition *c);  /* suspends; = cr_lock_acquire */
CR_API int cr_condition_release(cr_condition *c);  /* -EPERM if not locked */
CR_API bool cr_condition_locked(const cr_condition *c);
/* Releases the lock, suspends until notified, re-acquires the lock. The lock is
 * held again on EVERY return, -ECANCELED included (as in asyncio). -EPERM if
 * the lock is not held. A notified waiter that is cancelled before it returns
 * passes its notification on to the next waiter, so no notify is lost. */
CR_API int cr_condition_wait(cr_condition *c);
/* Waits until pred(arg) is true (checked first, then after every wake-up).
 * Lock held on every return. Returns 0 or wait's error. */
CR_API int cr_condition_wait_for(cr_condition *c, bool (*pred)(void *arg), void *arg);
/* Wake up to n waiters (FIFO). -EPERM if the lock is not held. */
CR_API int cr_condition_notify(cr_condition *c, unsigned n);
CR_API int cr_condition_notify_all(cr_condition *c);

/* -------------------------------------------------------------- barrier ---- */

/* asyncio.Barrier. The broken-barrier error is -EPIPE. */
typedef struct cr_barrier cr_barrier;
CR_API cr_barrier *cr_barrier_new(unsigned parties); /* parties >= 1, else NULL */
CR_API int cr_barrier_free(cr_barrier *b);
/* Suspends until `parties` tasks have called it; returns the caller's arrival
 * index (0 .. parties-1, the last arrival gets parties-1 and releases all).
 * -EPIPE if the barrier is or becomes broken (abort/reset) while waiting.
 * A waiter cancelled while waiting leaves the barrier (its place is freed) and
 * does not break it. */
CR_API int cr_barrier_wait(cr_barrier *b);
/* Every current waiter gets -EPIPE; the barrier is empty and usable again. */
CR_API int cr_barrier_reset(cr_barrier *b);
/* Breaks the barrier: every waiter, current and future, gets -EPIPE until
 * reset(). */
CR_API int cr_barrier_abort(cr_barrier *b);
CR_API unsigned cr_barrier_parties(const cr_barrier *b);
CR_API unsigned cr_barrier_n_waiting(const cr_barrier *b);
CR_API bool cr_barrier_broken(const cr_barrier *b);

/* ---------------------------------------------------------------- queue ---- */

/* asyncio.Queue / LifoQueue / PriorityQueue. Items are void * the queue does
 * not own (unless free_item is given). Errors:
 *   -EAGAIN     put_nowait on a full queue, get_nowait on an empty one
 *   -ESHUTDOWN  put after shutdown; get after shutdown once the queue is empty
 *               (immediately after an immediate shutdown)
 *   -EOVERFLOW  task_done called more times than items were put */
typedef struct cr_queue cr_queue;
enum { CR_QUEUE_FIFO = 0, CR_QUEUE_LIFO = 1, CR_QUEUE_PRIORITY = 2 };
/* Priority order: cmp(a, b) < 0 means a comes out first. cmp NULL: the items
 * are integers (intptr_t), smallest first. Equal items keep FIFO order. */
typedef int (*cr_queue_cmp)(const void *a, const void *b);
typedef struct cr_queue_opts {
    int kind;                     /* CR_QUEUE_* */
    size_t maxsize;               /* 0 = unbounded */
    cr_queue_cmp cmp;             /* CR_QUEUE_PRIORITY only */
    void (*free_item)(void *item); /* items dropped by free / immediate shutdown */
} cr_queue_opts;
/* opts NULL: unbounded FIFO. -EINVAL on an unknown kind. */
CR_API int cr_queue_new(cr_queue **out, const cr_queue_opts *opts);
CR_API int cr_queue_free(cr_queue *q); /* -EBUSY with waiters or joiners */
CR_API int cr_queue_put(cr_queue *q, void *item);       /* suspends while full */
CR_API int cr_queue_get(cr_queue *q, void **item);      /* suspends while empty */
CR_API int cr_queue_put_nowait(cr_queue *q, void *item);
CR_API int cr_queue_get_nowait(cr_queue *q, void **item);
CR_API size_t cr_queue_size(const cr_queue *q);
CR_API size_t cr_queue_maxsize(const cr_queue *q);
CR_API bool cr_queue_empty(const cr_queue *q);
CR_API bool cr_queue_full(const cr_queue *q);
/* One item fully processed; join() returns when every put item is done. */
CR_API int cr_queue_task_done(cr_queue *q);
CR_API int cr_queue_join(cr_queue *q); /* suspends */
/* asyncio Queue.shutdown(immediate). Blocked putters get -ESHUTDOWN. Graceful
 * (immediate false): getters drain what is left, then get -ESHUTDOWN.
 * Immediate: the items are dropped (free_item, and counted as done for join)
 * and every getter gets -ESHUTDOWN at once. Idempotent (an immediate shutdown
 * after a graceful one still drops what is left). */
CR_API int cr_queue_shutdown(cr_queue *q, bool immediate);

/* ----------------------------------------------------------- task group ---- */

/* asyncio.TaskGroup — structured concurrency:
 *
 *     cr_task_group *g;
 *     if ((rc = cr_task_group_new(&g)) < 0) return rc;   // parent = this task
 *     cr_task_group_create_task(g, child, arg, NULL, NULL);
 *     ...
 *     rc = cr_task_group_wait(g);  // ALWAYS: waits for every child
 *     // cr_task_group_errors(g, ...) lists every child failure
 *     cr_task_group_free(g);
 *
 * The first child that fails (any error but -ECANCELED) cancels every other
 * child and, if the parent is not yet inside wait(), the parent too (its
 * pending await returns -ECANCELED; wait() takes that cancel back). Cancelling
 * the parent while it is inside wait() cancels every child. */
typedef struct cr_task_group cr_task_group;
/* Must be called from the task that will call wait(): -EPERM otherwise. */
CR_API int cr_task_group_new(cr_task_group **out);
/* Creates a task in the group. out may be NULL (the group keeps its own
 * reference); *out is the caller's reference. -ESHUTDOWN once the group is
 * aborting (a child failed / parent cancelled) or has been waited for. */
CR_API int cr_task_group_create_task(cr_task_group *g, cr_task_fn fn, void *arg,
                                     const cr_task_opts *opts, cr_task **out);
/* Suspends until every child is done (the parent being cancelled meanwhile
 * cancels the children and still waits for them). Returns the first child
 * error if any child failed, else -ECANCELED if the parent was cancelled from
 * outside the group, else 0. Call it exactly once; -EALREADY after. */
CR_API int cr_task_group_wait(cr_task_group *g);
/* Every child error (not cancellations) in the order they happened: copies
 * up to cap into errs (may be NULL), returns how many there are. */
CR_API size_t cr_task_group_errors(const cr_task_group *g, int *errs, size_t cap);
/* Frees the group. With children still running (wait() not called) they are
 * cancelled and left to finish on their own. */
CR_API void cr_task_group_free(cr_task_group *g);

/* -------------------------------------------------------------- timeout ---- */

/* asyncio.timeout() / timeout_at(): a scope around any number of awaits.
 *
 *     cr_timeout_scope *to = cr_timeout(0.5);          // NULL: not in a task / ENOMEM
 *     int rc = body();                            // awaits return -ECANCELED
 *     rc = cr_timeout_end(to, rc);                // ... turned into -ETIMEDOUT
 *
 * When the deadline passes the task is cancelled (cr_cancel). cr_timeout_end
 * turns that cancellation into -ETIMEDOUT — only that one: a cancel from
 * anywhere else stays -ECANCELED, and nested scopes each claim only their own
 * (asyncio 3.11's cancelling/uncancel protocol). Scopes must end in LIFO
 * order, from the task that opened them. */
typedef struct cr_timeout_scope cr_timeout_scope;
CR_API cr_timeout_scope *cr_timeout(double seconds);  /* seconds < 0: no deadline */
CR_API cr_timeout_scope *cr_timeout_at(double when);  /* loop time; < 0: none */
/* New deadline (loop time; < 0: none). -EALREADY once it has expired. */
CR_API int cr_timeout_reschedule(cr_timeout_scope *to, double when);
CR_API double cr_timeout_when(const cr_timeout_scope *to); /* -1: none */
CR_API bool cr_timeout_expired(const cr_timeout_scope *to);
/* Ends and frees the scope; returns rc, or -ETIMEDOUT if the scope's own
 * expiry caused it. -EPERM (scope kept) if called from another task. */
CR_API int cr_timeout_end(cr_timeout_scope *to, int rc);

/* -------------------------------------------------------------- signals ---- */

/* loop.add_signal_handler. The signal is blocked in the calling thread and
 * read through a signalfd polled on the loop's ring; handlers run as loop
 * callbacks (never inside the signal), in registration order. One handler per
 * signal: adding again replaces it. Signals are per process: block them in
 * every thread (create threads after this call, which they inherit) or some
 * other thread may take the default action.
 * -EINVAL: bad signal (SIGKILL, SIGSTOP, out of range), NULL fn.
 * Loop thread (or before the loop runs, the thread that will run it). */
typedef void (*cr_signal_cb)(int sig, void *arg);
CR_API int cr_add_signal_handler(cr_loop *loop, int sig, cr_signal_cb fn, void *arg);
/* 0 if removed (the signal's previous mask is restored), -ENOENT if none. */
CR_API int cr_remove_signal_handler(cr_loop *loop, int sig);

/* ---------------------------------------------------------- subprocesses ---- */

/* asyncio.create_subprocess_exec. No zombie ever: wait() reaps, and freeing a
 * child that was never reaped kills it (SIGKILL) and reaps it.
 *
 * Each of the child's stdin/stdout/stderr is one of:
 *  INHERIT  ours.                     DEVNULL  /dev/null.
 *  STDOUT   (stderr only) into the child's stdout.
 *  PIPE     an OS pipe; the parent uses the raw calls below (read/write/fd).
 *  STREAM   a connected Unix socket pair (what libuv and Node.js give their
 *           children); the parent reads and writes it as a coring stream:
 *           cr_subprocess_stdout(p) → cr_stream_readline(...), and
 *           cr_stream_write + cr_stream_drain + cr_stream_write_eof into
 *           cr_subprocess_stdin(p). The raw calls work too (through the
 *           stream). Writes never raise SIGPIPE. The child sees a socket, not
 *           a FIFO: it reads and writes it like a pipe, but opening
 *           /dev/stdin (or /proc/self/fd/N) fails with ENXIO there — use PIPE
 *           for such programs. */
typedef struct cr_subprocess cr_subprocess;
struct cr_stream;      /* coring/io.h */
struct cr_stream_opts;
enum { CR_SUBPROCESS_INHERIT = 0, CR_SUBPROCESS_PIPE = 1, CR_SUBPROCESS_DEVNULL = 2,
       CR_SUBPROCESS_STDOUT = 3 /* stderr only: into stdout */,
       CR_SUBPROCESS_STREAM = 4 };
typedef struct cr_subprocess_opts {
    int stdin_mode, stdout_mode, stderr_mode; /* CR_SUBPROCESS_* */
    const char *cwd;                          /* NULL: ours */
    char *const *envp;                        /* NULL: ours */
    /* Options of the STREAM pipes' streams (reader limit, drain marks);
     * NULL = the defaults. Copied. */
    const struct cr_stream_opts *stream_opts;
} cr_subprocess_opts;
/* Starts argv[0] (searched in PATH) with argv. -ENOENT if not found, other
 * spawn errors as their errno. Loop thread, inside or outside a task. */
CR_API int cr_create_subprocess_exec(cr_subprocess **out, const char *const *argv,
                                     const cr_subprocess_opts *opts);
/* asyncio.create_subprocess_shell: runs cmd with /bin/sh -c, same opts and
 * errors (-EINVAL for a NULL cmd). The shell interprets cmd as given: quote
 * anything that comes from outside. The child is the shell, so signals (and
 * the kill in cr_subprocess_free) reach the shell, not what it started
 * unless cmd ends in `exec prog ...`. Loop thread, inside or outside a task. */
CR_API int cr_create_subprocess_shell(cr_subprocess **out, const char *cmd,
                                      const cr_subprocess_opts *opts);
CR_API pid_t cr_subprocess_pid(const cr_subprocess *p);
/* The pipe fds (-1 when not a pipe, or closed): 0 stdin, 1 stdout, 2 stderr.
 * Borrowed: use cr_subprocess_close_pipe to close. */
CR_API int cr_subprocess_fd(const cr_subprocess *p, int which);
/* Closes the parent's end of a pipe (a STREAM pipe: cr_stream_close, so what
 * is buffered for stdin is still sent first; the stream pointer stays valid,
 * closed, until cr_subprocess_free). -EBADF if not open. */
CR_API int cr_subprocess_close_pipe(cr_subprocess *p, int which);
/* Suspends: one read of up to n bytes from stdout (1) or stderr (2); 0 = EOF.
 * On a STREAM pipe it is cr_stream_read on its stream. */
CR_API ssize_t cr_subprocess_read(cr_subprocess *p, int which, void *buf, size_t n);
/* Suspends: writes all n bytes to stdin; -EPIPE if the child closed it.
 * PIPE: writing to a closed pipe raises SIGPIPE (ignore it if that can
 * happen). STREAM: cr_stream_write + cr_stream_drain on its stream (no
 * SIGPIPE; the child closing its end is -EPIPE or -ECONNRESET). */
CR_API ssize_t cr_subprocess_write(cr_subprocess *p, const void *buf, size_t n);

/* The stream of a STREAM pipe (0 stdin, 1 stdout, 2 stderr), made at the
 * first call on the running loop, then the same one each time. Borrowed: it
 * belongs to p and stays valid until cr_subprocess_free (or until its loop
 * closes); do not cr_stream_free it. A task parked on it when p is freed is
 * woken with -ESHUTDOWN.
 * Errors: -EINVAL bad p/which/out; -ENOTSOCK the pipe is not a STREAM pipe
 * (PIPE: use the raw calls); -EBADF not opened, or closed before a stream was
 * made; -EPERM no running loop on this thread, or not the loop of p's other
 * streams; -ENOMEM (then that pipe is closed: the stream had taken its fd).
 * Loop thread, inside or outside a task. */
CR_API int cr_subprocess_stream(cr_subprocess *p, int which, struct cr_stream **out);
/* The same, NULL on any error. */
CR_API struct cr_stream *cr_subprocess_stdin(cr_subprocess *p);
CR_API struct cr_stream *cr_subprocess_stdout(cr_subprocess *p);
CR_API struct cr_stream *cr_subprocess_stderr(cr_subprocess *p);
/* Suspends until the child exits, reaps it: *returncode (may be NULL) = exit
 * status, or -signal if a signal killed it (asyncio's returncode). */
CR_API int cr_subprocess_wait(cr_subprocess *p, int *returncode);
/* asyncio communicate: writes input (then closes stdin), reads stdout/stderr
 * to EOF into malloc'd buffers (*out / *err, NUL-terminated, caller frees;
 * pass NULL to discard), waits. Pipes not opened are skipped. STREAM pipes
 * go through their streams (anything already buffered in a stdout/stderr
 * stream is part of *out / *err). The child closing stdin early is not an
 * error (-EPIPE/-ECONNRESET are ignored, as asyncio does). */
CR_API int cr_subprocess_communicate(cr_subprocess *p, const void *input, size_t inlen,
                                     char **out, size_t *outlen, char **err,
                                     size_t *errlen, int *returncode);
/* -ESRCH once it has been reaped. */
CR_API int cr_subprocess_send_signal(cr_subprocess *p, int sig);
CR_API int cr_subprocess_terminate(cr_subprocess *p); /* SIGTERM */
CR_API int cr_subprocess_kill(cr_subprocess *p);      /* SIGKILL */
/* true and *returncode once reaped (asyncio returncode is not None). */
CR_API bool cr_subprocess_returncode(const cr_subprocess *p, int *returncode);
/* Kills + reaps a child never waited for; closes the pipes and frees their
 * streams. -EBUSY if a task is still inside wait/read/write/communicate on it
 * (a task inside a cr_stream_* call on one of its streams is woken with
 * -ESHUTDOWN instead). Loop thread (any thread if p never made a stream). */
CR_API int cr_subprocess_free(cr_subprocess *p);

/* ----------------------------------------------------- debug + introspection */

/* Debug mode: CR_LOOP_DEBUG in cr_loop_opts.flags, the environment variable
 * CORING_DEBUG=1 at cr_loop_new, or cr_loop_set_debug. It reports, through the
 * loop's debug handler (default: one line on stderr):
 *  - a task that ran longer than the slow threshold (default 0.1 s) between
 *    two suspensions, naming it;
 *  - a task that failed (error other than -ECANCELED) and is freed without
 *    anyone having read the error (cr_await, cr_future_result/exception,
 *    cr_gather, a task group). */
typedef void (*cr_debug_fn)(const char *msg, void *arg);
CR_API int cr_loop_set_debug(cr_loop *loop, bool on);
CR_API bool cr_loop_get_debug(const cr_loop *loop);
CR_API int cr_loop_set_slow_callback_duration(cr_loop *loop, double seconds);
/* fn NULL restores the stderr default. */
CR_API int cr_loop_set_debug_handler(cr_loop *loop, cr_debug_fn fn, void *arg);

/* One line per unfinished task: "name state [waiting on what]". */
CR_API int cr_dump_tasks(cr_loop *loop, FILE *out);

struct cr_loop_stats {
    uint64_t tasks_created, tasks_finished;
    uint64_t switches;      /* task switch-ins */
    uint64_t sqes, cqes;    /* SQEs queued / CQEs reaped */
    uint64_t enters;        /* io_uring_enter calls */
    uint64_t iterations;    /* loop turns */
    uint64_t cq_overflows;  /* the kernel's CQ overflow counter */
    uint64_t enobufs;       /* buffer-ring exhaustion (kept by the I/O layer) */
};
/* Copies the loop's counters (cumulative since cr_loop_new). Loop thread (or
 * while the loop is not running). -EINVAL on NULL. */
CR_API int cr_loop_stats(cr_loop *loop, struct cr_loop_stats *out);

#ifdef __cplusplus
}
#endif

#endif
