/* SPDX-License-Identifier: MIT */
/* coring/thread.h — the thread pool, to_thread, run_coroutine_threadsafe, call_soon_threadsafe, loops per core.
 * Included by <coring.h>; may also be included on its own.
 *
 * Threads and loops. A loop belongs to the thread that runs it. Other threads
 * reach it only through the calls below marked THREAD-SAFE: each pushes a node
 * on the loop's lock-free queue (no lock, no syscall unless the loop may be
 * asleep, and then at most one eventfd write per wakeup). The loop drains that
 * queue once per iteration, in FIFO order per producer.
 *
 * When does a loop with nothing to do stop waiting? cr_loop_run_forever returns
 * 0 and run_until_complete returns -EDEADLK when nothing can ever happen: no
 * ready work, no timer, no I/O, an empty cross-thread queue, and no *external
 * waker*. External wakers are (a) every cr_to_thread/cr_run_in_executor job
 * still out on a pool, (b) every cr_loop_hold() not yet matched by
 * cr_loop_unhold(). A loop that must wait for foreign submissions (a server
 * loop fed by other threads) holds itself: cr_loop_hold(loop) before running.
 *
 * Submitting to a closed (or closing) loop or pool returns -ESHUTDOWN and the
 * caller keeps ownership of what it passed: fn is not called, arg not touched.
 * Submissions accepted before a loop closes are dropped by the close: a
 * call_soon_threadsafe callback never runs; a run_coroutine_threadsafe future
 * completes with -ESHUTDOWN (if the task had not started) or -ECANCELED.
 * A post racing with the close is one or the other, never lost. Closing is
 * safe while other threads post; *freeing* is not: cr_loop_free only once no
 * thread will call these functions on that loop again (pool jobs excepted:
 * they keep what they need alive).
 *
 * Ordering: callbacks and coroutines posted by one thread run in the order
 * it posted them; posts from different threads interleave.
 */
/* Standalone: <coring.h> comes first and includes every subject header in
 * order (this one among them); the guard below then skips the rest. */
#include <coring.h>
#ifndef CORING_THREAD_H
#define CORING_THREAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------- into a loop from any thread */

/** THREAD-SAFE. Runs fn(arg) on loop's thread at its next iteration.
 * -EINVAL (NULL loop/fn), -ESHUTDOWN (loop closed or closing), -ENOMEM. */
CR_API int cr_call_soon_threadsafe(cr_loop *loop, cr_callback fn, void *arg);
/** THREAD-SAFE. cr_loop_stop, from any thread. Errors as above. */
CR_API int cr_loop_stop_threadsafe(cr_loop *loop);
/** THREAD-SAFE. Count an external waker: while held, an idle loop waits for
 * foreign submissions instead of returning (see the rule above). unhold
 * returns -EINVAL if the loop is not held; the last unhold wakes the loop so
 * it can notice it is idle. -ESHUTDOWN on a closed loop. */
CR_API int cr_loop_hold(cr_loop *loop);
CR_API int cr_loop_unhold(cr_loop *loop);

/** A future that any thread may wait on (asyncio's concurrent.futures.Future). */
typedef struct cr_tsfuture cr_tsfuture;
typedef void (*cr_tsfuture_cb)(cr_tsfuture *f, void *arg);

/** THREAD-SAFE. Runs fn(arg) as a new task on loop. If out is not NULL it gets
 * a thread-safe future (one reference, the caller's: cr_tsfuture_unref) that
 * completes with the task's outcome. -EINVAL, -ESHUTDOWN, -ENOMEM; on error
 * nothing was queued and *out is NULL. */
CR_API int cr_run_coroutine_threadsafe(cr_loop *loop, cr_task_fn fn, void *arg,
                                       cr_tsfuture **out);
/** All THREAD-SAFE. */
CR_API cr_tsfuture *cr_tsfuture_ref(cr_tsfuture *f);
/** Dropping the last reference of a pending future is allowed (the task runs on). */
CR_API void cr_tsfuture_unref(cr_tsfuture *f);
/** Blocks the calling thread until f is done or `timeout` seconds passed
 * (timeout < 0: no limit). 0 when done, -ETIMEDOUT, -EINVAL; -EDEADLK if
 * called on the thread running f's loop while f is pending (it could never
 * complete). */
CR_API int cr_tsfuture_wait(cr_tsfuture *f, double timeout);
/** 0 and *value (may be NULL) for a result, the error, -ECANCELED, or -EAGAIN
 * if not done. Does not block. */
CR_API int cr_tsfuture_result(cr_tsfuture *f, void **value);
CR_API bool cr_tsfuture_done(cr_tsfuture *f);
CR_API bool cr_tsfuture_cancelled(cr_tsfuture *f);
/** Cancels f at once (waiters wake, result is -ECANCELED) and asks f's loop to
 * cancel the task. true if f was pending. */
CR_API bool cr_tsfuture_cancel(cr_tsfuture *f);
/** fn(f, arg) runs once f is done: on the thread that completes it (usually
 * f's loop thread; the cancelling thread for a cancel), or at once on the
 * calling thread if f is already done. It must not block. -EINVAL, -ENOMEM. */
CR_API int cr_tsfuture_add_done_callback(cr_tsfuture *f, cr_tsfuture_cb fn, void *arg);

/* ------------------------------------------------------------ the pool ---- */

/** A work-stealing thread pool: one Chase-Lev deque per worker plus a shared
 * lock-free injector; idle workers spin briefly, then sleep on a futex; a
 * submission wakes at most one sleeper. */
typedef struct cr_pool cr_pool;
typedef struct cr_pool_opts {
    unsigned workers; /* 0 = one per usable CPU (affinity mask, cgroup quota) */
    unsigned spin;    /* idle polls before sleeping; 0 = 200 */
} cr_pool_opts;

/** opts may be NULL. -EINVAL, -ENOMEM, -EAGAIN (thread creation failed). */
CR_API int cr_pool_new(cr_pool **out, const cr_pool_opts *opts);
/** The process-wide pool the loops use by default (created on first use with
 * one worker per usable CPU: the affinity mask, capped by the cgroup CPU quota,
 * as a container sets them; lives until exit). NULL only if creation failed. */
CR_API cr_pool *cr_pool_default(void);
/** THREAD-SAFE. Runs fn(arg) on a worker, fire and forget. -EINVAL,
 * -ESHUTDOWN (shut down: fn will not run), -ENOMEM. */
CR_API int cr_pool_submit(cr_pool *pool, cr_callback fn, void *arg);
/** THREAD-SAFE. Stops taking work (later submissions get -ESHUTDOWN). Jobs
 * already queued are run (cancel_queued false) or handed back at once
 * (cancel_queued true: a to_thread caller gets -ECANCELED, a cr_pool_submit
 * callback is not run). Then waits up to `timeout` seconds (< 0: no limit)
 * for the workers to exit: 0 when all are joined, -ETIMEDOUT if one is still
 * running a job (call again later). -EINVAL for the default pool. */
CR_API int cr_pool_shutdown(cr_pool *pool, double timeout, bool cancel_queued);
/** Shuts down (running what is queued, no time limit) and frees. NULL is a
 * no-op; -EINVAL for the default pool. No loop may still use the pool. */
CR_API int cr_pool_free(cr_pool *pool);
CR_API unsigned cr_pool_workers(const cr_pool *pool);

/** Loop thread. The pool cr_to_thread uses on this loop (NULL = the default). */
CR_API int cr_loop_set_default_executor(cr_loop *loop, cr_pool *pool);

/** Suspends. asyncio.to_thread: runs fn(arg, &result) on the loop's executor
 * and returns its return value (>= 0, with *result) or its negative error.
 * Cancelling the caller returns -ECANCELED at once; a function not yet
 * started never runs; one already running finishes on its thread and its
 * result is dropped (if *result owns
 * memory, it leaks: pass ownership through arg instead if that matters).
 * -EPERM outside a task, -ESHUTDOWN if the pool is shut down. result may be
 * NULL. */
CR_API int cr_to_thread(cr_task_fn fn, void *arg, void **result);
/** Suspends. loop.run_in_executor: the same on `pool` (NULL = the loop's). */
CR_API int cr_run_in_executor(cr_pool *pool, cr_task_fn fn, void *arg, void **result);

/* ------------------------------------------------------- one loop per core */

/** N threads, each running its own loop, each started with the task main(arg)
 * (arg is shared; a task finds its own loop with cr_get_running_loop). The
 * loops are held (they wait for work) until cr_loop_group_stop. */
typedef struct cr_loop_group cr_loop_group;
/** n 0 = one per usable CPU (as for the pool). Returns once every loop exists. -EINVAL, -ENOMEM,
 * -EAGAIN, or the first loop's setup error. */
CR_API int cr_loop_group_start(cr_loop_group **out, unsigned n, cr_task_fn main, void *arg);
CR_API unsigned cr_loop_group_size(const cr_loop_group *g);
/** Loop i (borrowed; valid until stop), NULL if out of range. */
CR_API cr_loop *cr_loop_group_loop(const cr_loop_group *g, unsigned i);
/** Not from one of g's loops. Stops every loop, cancels the tasks left on each
 * and waits for them, closes the loops, joins the threads and frees g.
 * Returns 0 or the first loop's error. NULL is -EINVAL. */
CR_API int cr_loop_group_stop(cr_loop_group *g);

#ifdef __cplusplus
}
#endif

#endif
