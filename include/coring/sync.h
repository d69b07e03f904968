/* SPDX-License-Identifier: MIT */
/* coring/sync.h — asyncio's synchronisation toolbox for tasks: Event,
 * Semaphore, Condition, Barrier, Queue, TaskGroup, timeout scopes. (The Lock
 * is in <coring.h>.) Included by <coring.h>; may also be included on its own.
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
/* Standalone: <coring.h> comes first and includes every subject header in
 * order (this one among them); the guard below then skips the rest. */
#include <coring.h>
#ifndef CORING_SYNC_H
#define CORING_SYNC_H

#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- event ---- */

/** asyncio.Event. */
typedef struct cr_event cr_event;
CR_API cr_event *cr_event_new(void);                  /* NULL: out of memory */
CR_API int cr_event_free(cr_event *e);                /* -EBUSY with waiters */
/** Sets the flag and wakes every waiter (in FIFO order). Idempotent. */
CR_API int cr_event_set(cr_event *e);
CR_API int cr_event_clear(cr_event *e);
CR_API bool cr_event_is_set(const cr_event *e);
/** Suspends until the flag is set; 0 at once if it already is. A waiter woken by
 * set() returns 0 even if clear() ran before it resumed. */
CR_API int cr_event_wait(cr_event *e);

/* ------------------------------------------------------------ semaphore ---- */

/** asyncio.Semaphore / BoundedSemaphore. */
typedef struct cr_semaphore cr_semaphore;
/** NULL: out of memory. */
CR_API cr_semaphore *cr_semaphore_new(unsigned value);
/** Bounded: release() beyond the initial value returns -EOVERFLOW. */
CR_API cr_semaphore *cr_bounded_semaphore_new(unsigned value);
CR_API int cr_semaphore_free(cr_semaphore *s);
/** Suspends while the value is 0 (or earlier waiters are queued). */
CR_API int cr_semaphore_acquire(cr_semaphore *s);
/** Hands one unit to the first waiter, or increments the value.
 * -EOVERFLOW: a bounded semaphore released more often than acquired. */
CR_API int cr_semaphore_release(cr_semaphore *s);
/** True if acquire() would suspend. */
CR_API bool cr_semaphore_locked(const cr_semaphore *s);
CR_API unsigned cr_semaphore_value(const cr_semaphore *s);

/* ------------------------------------------------------------ condition ---- */

/** asyncio.Condition, over a cr_lock. */
typedef struct cr_condition cr_condition;
/** lock NULL: the condition makes (and owns) its own. A given lock is borrowed
 * and must outlive the condition. */
CR_API cr_condition *cr_condition_new(cr_lock *lock);
CR_API int cr_condition_free(cr_condition *c);
CR_API cr_lock *cr_condition_lock(cr_condition *c); /* borrowed */
CR_API int cr_condition_acquire(cr_condition *c);  /* suspends; = cr_lock_acquire */
CR_API int cr_condition_release(cr_condition *c);  /* -EPERM if not locked */
CR_API bool cr_condition_locked(const cr_condition *c);
/** Releases the lock, suspends until notified, re-acquires the lock. The lock is
 * held again on EVERY return, -ECANCELED included (as in asyncio). -EPERM if
 * the lock is not held. A notified waiter that is cancelled before it returns
 * passes its notification on to the next waiter, so no notify is lost. */
CR_API int cr_condition_wait(cr_condition *c);
/** Waits until pred(arg) is true (checked first, then after every wake-up).
 * Lock held on every return. Returns 0 or wait's error. */
CR_API int cr_condition_wait_for(cr_condition *c, bool (*pred)(void *arg), void *arg);
/** Wake up to n waiters (FIFO). -EPERM if the lock is not held. */
CR_API int cr_condition_notify(cr_condition *c, unsigned n);
CR_API int cr_condition_notify_all(cr_condition *c);

/* -------------------------------------------------------------- barrier ---- */

/** asyncio.Barrier. The broken-barrier error is -EPIPE. */
typedef struct cr_barrier cr_barrier;
CR_API cr_barrier *cr_barrier_new(unsigned parties); /* parties >= 1, else NULL */
CR_API int cr_barrier_free(cr_barrier *b);
/** Suspends until `parties` tasks have called it; returns the caller's arrival
 * index (0 .. parties-1, the last arrival gets parties-1 and releases all).
 * -EPIPE if the barrier is or becomes broken (abort/reset) while waiting.
 * A waiter cancelled while waiting leaves the barrier (its place is freed) and
 * does not break it. */
CR_API int cr_barrier_wait(cr_barrier *b);
/** Every current waiter gets -EPIPE; the barrier is empty and usable again. */
CR_API int cr_barrier_reset(cr_barrier *b);
/** Breaks the barrier: every waiter, current and future, gets -EPIPE until
 * reset(). */
CR_API int cr_barrier_abort(cr_barrier *b);
CR_API unsigned cr_barrier_parties(const cr_barrier *b);
CR_API unsigned cr_barrier_n_waiting(const cr_barrier *b);
CR_API bool cr_barrier_broken(const cr_barrier *b);

/* ---------------------------------------------------------------- queue ---- */

/** asyncio.Queue / LifoQueue / PriorityQueue. Items are void * the queue does
 * not own (unless free_item is given). Errors:
 *   -EAGAIN     put_nowait on a full queue, get_nowait on an empty one
 *   -ESHUTDOWN  put after shutdown; get after shutdown once the queue is empty
 *               (immediately after an immediate shutdown)
 *   -EOVERFLOW  task_done called more times than items were put */
typedef struct cr_queue cr_queue;
enum { CR_QUEUE_FIFO = 0, CR_QUEUE_LIFO = 1, CR_QUEUE_PRIORITY = 2 };
/** Priority order: cmp(a, b) < 0 means a comes out first. cmp NULL: the items
 * are integers (intptr_t), smallest first. Equal items keep FIFO order. */
typedef int (*cr_queue_cmp)(const void *a, const void *b);
typedef struct cr_queue_opts {
    int kind;                     /* CR_QUEUE_* */
    size_t maxsize;               /* 0 = unbounded */
    cr_queue_cmp cmp;             /* CR_QUEUE_PRIORITY only */
    void (*free_item)(void *item); /* items dropped by free / immediate shutdown */
} cr_queue_opts;
/** opts NULL: unbounded FIFO. -EINVAL on an unknown kind. */
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
/** One item fully processed; join() returns when every put item is done. */
CR_API int cr_queue_task_done(cr_queue *q);
CR_API int cr_queue_join(cr_queue *q); /* suspends */
/** asyncio Queue.shutdown(immediate). Blocked putters get -ESHUTDOWN. Graceful
 * (immediate false): getters drain what is left, then get -ESHUTDOWN.
 * Immediate: the items are dropped (free_item, and counted as done for join)
 * and every getter gets -ESHUTDOWN at once. Idempotent (an immediate shutdown
 * after a graceful one still drops what is left). */
CR_API int cr_queue_shutdown(cr_queue *q, bool immediate);

/* ----------------------------------------------------------- task group ---- */

/** asyncio.TaskGroup — structured concurrency:
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
 * the parent while it is inside wait() cancels every child. A cancel from
 * outside while the group fails: wait() returns the child error and the
 * parent's next suspending call returns -ECANCELED. */
typedef struct cr_task_group cr_task_group;
/** Must be called from the task that will call wait(): -EPERM otherwise. */
CR_API int cr_task_group_new(cr_task_group **out);
/** Creates a task in the group; any task (a child too) or callback of the
 * group's loop may call it. out may be NULL (the group keeps its own
 * reference); *out is the caller's reference. -ESHUTDOWN once the group is
 * aborting (a child failed / parent cancelled) or has been waited for;
 * -EPERM from another thread. */
CR_API int cr_task_group_create_task(cr_task_group *g, cr_task_fn fn, void *arg,
                                     const cr_task_opts *opts, cr_task **out);
/** Suspends until every child is done (the parent being cancelled meanwhile
 * cancels the children and still waits for them). Returns the first child
 * error if any child failed, else -ECANCELED if the parent was cancelled from
 * outside the group, else 0. Call it exactly once; -EALREADY after. */
CR_API int cr_task_group_wait(cr_task_group *g);
/** Aborts the group on purpose (what raising inside `async with TaskGroup()`
 * does in asyncio): every child is cancelled, no child may be added
 * (-ESHUTDOWN), and the parent is NOT cancelled. wait() must still be called:
 * it waits for the children and returns the first child error if one failed
 * before its cancel landed, else 0. -EALREADY if the group is already
 * aborting, -ESHUTDOWN once waited for, -EPERM from another thread. Any task
 * or callback of the group's loop may call it. */
CR_API int cr_task_group_abort(cr_task_group *g);
/** Every child error (not cancellations) in the order they happened: copies
 * up to cap into errs (may be NULL), returns how many there are. */
CR_API size_t cr_task_group_errors(const cr_task_group *g, int *errs, size_t cap);
/** Frees the group. With children still running (wait() not called) they are
 * cancelled and left to finish on their own. */
CR_API void cr_task_group_free(cr_task_group *g);

/* -------------------------------------------------------------- timeout ---- */

/** asyncio.timeout() / timeout_at(): a scope around any number of awaits.
 *
 *     cr_timeout_scope *to = cr_timeout(0.5);          // NULL: not in a task / ENOMEM
 *     int rc = body();                            // awaits return -ECANCELED
 *     rc = cr_timeout_end(to, rc);                // ... turned into -ETIMEDOUT
 *
 * When the deadline passes the task is cancelled (cr_cancel). cr_timeout_end
 * turns that cancellation into -ETIMEDOUT — only that one: a cancel from
 * anywhere else stays -ECANCELED, and nested scopes each claim only their own
 * (asyncio 3.11's cancelling/uncancel protocol). Scopes must end in LIFO
 * order, from the task that opened them; any task of the loop may
 * reschedule one. NaN: NULL / -EINVAL; +inf: never expires. */
typedef struct cr_timeout_scope cr_timeout_scope;
CR_API cr_timeout_scope *cr_timeout(double seconds);  /* seconds < 0: no deadline */
CR_API cr_timeout_scope *cr_timeout_at(double when);  /* loop time; < 0: none */
/** New deadline (loop time; < 0: none), from any task or callback of the
 * scope's loop (-EPERM from another thread). -EALREADY once it has expired. */
CR_API int cr_timeout_reschedule(cr_timeout_scope *to, double when);
/** The deadline exactly as given (timeout(): loop time + seconds); -1: none. */
CR_API double cr_timeout_when(const cr_timeout_scope *to);
CR_API bool cr_timeout_expired(const cr_timeout_scope *to);
/** Ends and frees the scope; returns rc, or -ETIMEDOUT if the scope's own
 * expiry caused it. -EPERM (scope kept) if called from another task. */
CR_API int cr_timeout_end(cr_timeout_scope *to, int rc);

#ifdef __cplusplus
}
#endif

#endif
