/* SPDX-License-Identifier: MIT */
/* coring/process.h — the loop and the operating system: signal handlers,
 * subprocesses (with their pipes as raw fds or as coring streams), and
 * asyncio's debug mode and introspection (slow tasks, task dumps, counters).
 * Included by <coring.h>; may also be included on its own.
 */
/* Standalone: <coring.h> comes first and includes every subject header in
 * order (this one among them); the guard below then skips the rest. */
#include <coring.h>
#ifndef CORING_PROCESS_H
#define CORING_PROCESS_H

#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* -------------------------------------------------------------- signals ---- */

/** loop.add_signal_handler. The signal is blocked in the calling thread and
 * read through a signalfd polled on the loop's ring; handlers run as loop
 * callbacks (never inside the signal), in registration order. One handler per
 * signal: adding again replaces it. Signals are per process: block them in
 * every thread (create threads after this call, which they inherit) or some
 * other thread may take the default action.
 * -EINVAL: bad signal (SIGKILL, SIGSTOP, out of range), NULL fn.
 * Loop thread (or before the loop runs, the thread that will run it). */
typedef void (*cr_signal_cb)(int sig, void *arg);
CR_API int cr_add_signal_handler(cr_loop *loop, int sig, cr_signal_cb fn, void *arg);
/** 0 if removed (the signal's previous mask is restored), -ENOENT if none. */
CR_API int cr_remove_signal_handler(cr_loop *loop, int sig);

/* ---------------------------------------------------------- subprocesses ---- */

/** asyncio.create_subprocess_exec. No zombie ever: wait() reaps, and freeing a
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
/** Starts argv[0] (searched in PATH) with argv. -ENOENT if not found, other
 * spawn errors as their errno. Loop thread, inside or outside a task. */
CR_API int cr_create_subprocess_exec(cr_subprocess **out, const char *const *argv,
                                     const cr_subprocess_opts *opts);
/** asyncio.create_subprocess_shell: runs cmd with /bin/sh -c, same opts and
 * errors (-EINVAL for a NULL cmd). The shell interprets cmd as given: quote
 * anything that comes from outside. The child is the shell, so signals (and
 * the kill in cr_subprocess_free) reach the shell, not what it started
 * unless cmd ends in `exec prog ...`. Loop thread, inside or outside a task. */
CR_API int cr_create_subprocess_shell(cr_subprocess **out, const char *cmd,
                                      const cr_subprocess_opts *opts);
CR_API pid_t cr_subprocess_pid(const cr_subprocess *p);
/** The pipe fds (-1 when not a pipe, or closed): 0 stdin, 1 stdout, 2 stderr.
 * Borrowed: use cr_subprocess_close_pipe to close. */
CR_API int cr_subprocess_fd(const cr_subprocess *p, int which);
/** Closes the parent's end of a pipe (a STREAM pipe: cr_stream_close, so what
 * is buffered for stdin is still sent first; the stream pointer stays valid,
 * closed, until cr_subprocess_free). -EBADF if not open. */
CR_API int cr_subprocess_close_pipe(cr_subprocess *p, int which);
/** Suspends: one read of up to n bytes from stdout (1) or stderr (2); 0 = EOF.
 * On a STREAM pipe it is cr_stream_read on its stream. */
CR_API ssize_t cr_subprocess_read(cr_subprocess *p, int which, void *buf, size_t n);
/** Suspends: writes all n bytes to stdin; -EPIPE if the child closed it.
 * PIPE: writing to a closed pipe raises SIGPIPE (ignore it if that can
 * happen). STREAM: cr_stream_write + cr_stream_drain on its stream (no
 * SIGPIPE; the child closing its end is -EPIPE or -ECONNRESET). */
CR_API ssize_t cr_subprocess_write(cr_subprocess *p, const void *buf, size_t n);

/** The stream of a STREAM pipe (0 stdin, 1 stdout, 2 stderr), made at the
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
/** The same, NULL on any error. */
CR_API struct cr_stream *cr_subprocess_stdin(cr_subprocess *p);
CR_API struct cr_stream *cr_subprocess_stdout(cr_subprocess *p);
CR_API struct cr_stream *cr_subprocess_stderr(cr_subprocess *p);
/** Suspends until the child exits, reaps it: *returncode (may be NULL) = exit
 * status, or -signal if a signal killed it (asyncio's returncode). */
CR_API int cr_subprocess_wait(cr_subprocess *p, int *returncode);
/** asyncio communicate: writes input (then closes stdin), reads stdout/stderr
 * to EOF into malloc'd buffers (*out / *err, NUL-terminated, caller frees;
 * pass NULL to discard), waits. Pipes not opened are skipped. STREAM pipes
 * go through their streams (anything already buffered in a stdout/stderr
 * stream is part of *out / *err). The child closing stdin early is not an
 * error (-EPIPE/-ECONNRESET are ignored, as asyncio does). */
CR_API int cr_subprocess_communicate(cr_subprocess *p, const void *input, size_t inlen,
                                     char **out, size_t *outlen, char **err,
                                     size_t *errlen, int *returncode);
/** -ESRCH once it has been reaped. */
CR_API int cr_subprocess_send_signal(cr_subprocess *p, int sig);
CR_API int cr_subprocess_terminate(cr_subprocess *p); /* SIGTERM */
CR_API int cr_subprocess_kill(cr_subprocess *p);      /* SIGKILL */
/** true and *returncode once reaped (asyncio returncode is not None). */
CR_API bool cr_subprocess_returncode(const cr_subprocess *p, int *returncode);
/** Kills + reaps a child never waited for; closes the pipes and frees their
 * streams. -EBUSY if a task is still inside wait/read/write/communicate on it
 * (a task inside a cr_stream_* call on one of its streams is woken with
 * -ESHUTDOWN instead). Loop thread (any thread if p never made a stream). */
CR_API int cr_subprocess_free(cr_subprocess *p);

/* ----------------------------------------------------- debug + introspection */

/** Debug mode: CR_LOOP_DEBUG in cr_loop_opts.flags, the environment variable
 * CORING_DEBUG=1 at cr_loop_new, or cr_loop_set_debug. It reports, through the
 * loop's debug handler (default: one line on stderr), a task that ran longer
 * than the slow threshold (default 0.1 s) between two suspensions, naming it.
 * Errors nobody retrieved are reported in and out of debug mode, through the
 * exception handler below (whose default writes through the debug handler). */
typedef void (*cr_debug_fn)(const char *msg, void *arg);
CR_API int cr_loop_set_debug(cr_loop *loop, bool on);
CR_API bool cr_loop_get_debug(const cr_loop *loop);
CR_API int cr_loop_set_slow_callback_duration(cr_loop *loop, double seconds);
/** fn NULL restores the stderr default. */
CR_API int cr_loop_set_debug_handler(cr_loop *loop, cr_debug_fn fn, void *arg);

/** asyncio's loop exception handler. coring calls it, always (not only in
 * debug mode), for an error nobody retrieved: a future or task that ended with
 * an error other than -ECANCELED and is freed without anyone having read it
 * (cr_await, cr_future_result/exception, cr_gather, a task group). The
 * default handler writes one line through the debug handler (default:
 * stderr): "task 'NAME' failed with -5 (Input/output error) and nobody
 * retrieved the error". To silence it, set cr_exception_ignore. */
typedef struct cr_exception_context {
    const char *message;   /* what happened; never NULL when coring calls */
    int error;             /* the negative errno, or 0 */
    cr_future *future;     /* may be NULL; valid only during the call (it is
                              being freed: do not keep or ref it) */
    const char *task_name; /* the task's name, or NULL for a plain future */
} cr_exception_context;
typedef void (*cr_exception_handler)(cr_loop *loop, const cr_exception_context *ctx,
                                     void *arg);
/** fn NULL restores the default. -EINVAL (NULL loop), -EPERM (another thread). */
CR_API int cr_loop_set_exception_handler(cr_loop *loop, cr_exception_handler fn, void *arg);
/** The handler set (NULL: the default); *arg (may be NULL) gets its arg. */
CR_API cr_exception_handler cr_loop_get_exception_handler(const cr_loop *loop, void **arg);
/** Calls the loop's handler (or the default) with ctx: loop.call_exception_handler.
 * -EINVAL if loop, ctx or ctx->message is NULL; -EPERM from another thread. */
CR_API int cr_loop_call_exception_handler(cr_loop *loop, const cr_exception_context *ctx);
/** The default handler, for a custom one to chain to. */
CR_API void cr_loop_default_exception_handler(cr_loop *loop, const cr_exception_context *ctx,
                                              void *arg);
/** A handler that reports nothing. */
CR_API void cr_exception_ignore(cr_loop *loop, const cr_exception_context *ctx, void *arg);

/** One line per unfinished task: "name state [waiting on what]". */
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
/** Copies the loop's counters (cumulative since cr_loop_new). Loop thread (or
 * while the loop is not running). -EINVAL on NULL. */
CR_API int cr_loop_stats(cr_loop *loop, struct cr_loop_stats *out);

#ifdef __cplusplus
}
#endif

#endif
