/*
 * internal.h — the structures behind the opaque public types, and the
 * cr__ functions the subsystems call on each other. Nothing here is exported
 * from libcoring.so (everything is hidden); tests link the static archive and
 * may include this header to reach the fault-injection seams.
 *
 * Rules every file keeps:
 *  1. A loop's ready queue, timers, stacks and ring are touched only by the
 *     thread running it.
 *  2. Completing a future never runs user code inline: it only *schedules*
 *     (pushes handles on the ready queue). Internal on_done hooks may do
 *     bookkeeping and wake tasks, nothing else.
 *  3. A parked task's stack may hold memory the kernel or another structure
 *     points at (waiter nodes, I/O buffers). A park only returns once nothing
 *     points there any more.
 */
#ifndef CORING_INTERNAL_H
#define CORING_INTERNAL_H

#include "coring.h"
#include "backend/backend.h"
#include "core/resource.h"
#include "thread/mpsc.h" /* issue 3 */
#include <pthread.h>
#include <errno.h>
#include <stdatomic.h>

#define CR_HIDDEN __attribute__((visibility("hidden")))
#define CR_LIKELY(x) __builtin_expect(!!(x), 1)
#define CR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CR_CONTAINER_OF(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

/* ------------------------------------------------------------ handles ---- */

/* Anything that can sit on the ready queue. */
typedef struct cr__handle cr__handle;
struct cr__handle {
    cr__handle *next;
    void (*run)(cr__handle *h);
    void (*drop)(cr__handle *h); /* loop closed before it ran; NULL = nothing to free */
};

typedef struct cr__queue {
    cr__handle *head, *tail;
    size_t n;
} cr__queue;

static inline void cr__queue_push(cr__queue *q, cr__handle *h)
{
    h->next = NULL;
    if (q->tail)
        q->tail->next = h;
    else
        q->head = h;
    q->tail = h;
    q->n++;
}

static inline cr__handle *cr__queue_pop(cr__queue *q)
{
    cr__handle *h = q->head;
    if (h) {
        q->head = h->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    }
    return h;
}

/* -------------------------------------------------------------- timers ---- */

typedef struct cr__timer cr__timer;
struct cr__timer {
    int64_t when;       /* CLOCK_MONOTONIC ns */
    uint64_t seq;       /* FIFO among equal deadlines */
    size_t idx;         /* position in the heap; CR__TIMER_IDLE when not armed */
    void (*fire)(cr__timer *t);
    void (*drop)(cr__timer *t); /* loop closed while armed; NULL = nothing to free */
};
#define CR__TIMER_IDLE ((size_t)-1)

/* Heap entries carry their key, so sifting reads one contiguous array instead
 * of timers scattered over a hundred thousand task stacks. */
typedef struct cr__timer_ent {
    int64_t when;
    uint64_t seq;
    cr__timer *t;
} cr__timer_ent;

typedef struct cr__timer_heap {
    cr__timer_ent *v;
    size_t n, cap;
    uint64_t seq;
} cr__timer_heap;

CR_HIDDEN int cr__timer_arm(cr_loop *l, cr__timer *t, int64_t when);
CR_HIDDEN void cr__timer_disarm(cr_loop *l, cr__timer *t);
CR_HIDDEN cr__timer *cr__timer_peek(cr_loop *l);
CR_HIDDEN void cr__timer_heap_free(cr__timer_heap *h);
static inline bool cr__timer_armed(const cr__timer *t) { return t->idx != CR__TIMER_IDLE; }
static inline void cr__timer_init(cr__timer *t, void (*fire)(cr__timer *))
{
    t->idx = CR__TIMER_IDLE;
    t->fire = fire;
    t->drop = NULL;
}
CR_HIDDEN int64_t cr__now_ns(void);

/* ------------------------------------------------------------- futures ---- */

enum { CR__PENDING = 0, CR__DONE = 1, CR__CANCELLED = 2 };

/* A registration on a future. While registered it is linked through h.next
 * in the future's list; when the future completes the list is detached and
 * each node's on_done is called (rule 2). */
typedef struct cr__cb cr__cb;
struct cr__cb {
    cr__handle h;
    void (*on_done)(cr__cb *cb);
    void (*dispose)(cr__cb *cb); /* future freed/abandoned while registered */
    cr_future *fut;
    cr_future_cb fn; /* user callbacks */
    void *arg;
};

struct cr_future {
    uint32_t refs;
    uint8_t state;
    uint8_t is_task;
    int err;            /* 0 = result, < 0 = error; -ECANCELED when cancelled */
    void *value;
    cr_loop *loop;      /* NULL once the loop is closed */
    uint8_t retrieved;  /* issue 4 (debug): the error was read by someone */
    cr__cb *cb_head, *cb_tail;
    cr_future *all_prev, *all_next; /* the loop's list of live futures */
};

CR_HIDDEN void cr__future_init(cr_future *f, cr_loop *l);
CR_HIDDEN void cr__future_abandon(cr_future *f); /* loop close: detach, cancel quietly */
CR_HIDDEN void cr__future_add_cb(cr_future *f, cr__cb *cb);
CR_HIDDEN bool cr__future_remove_cb(cr_future *f, cr__cb *cb);
/* Complete f (state CR__DONE or CR__CANCELLED) and schedule its callbacks. */
CR_HIDDEN void cr__future_complete(cr_future *f, int state, int err, void *value);

/* --------------------------------------------------------------- stacks ---- */

typedef struct cr__stack {
    char *lo, *hi; /* usable [lo, hi); the guard is just below lo */
    size_t size;
} cr__stack;

CR_HIDDEN int cr__stack_get(cr_loop *l, size_t size, cr__stack *out);
CR_HIDDEN void cr__stack_put(cr_loop *l, cr__stack *s);
CR_HIDDEN void cr__stack_pool_free(cr_loop *l);
/* Every ~100 ms: drop the pages of free stacks beyond stack_cache that stayed
 * unused for a whole period. Cheap to call often. */
CR_HIDDEN void cr__stack_trim(cr_loop *l, int64_t now);
CR_HIDDEN void cr__stack_thread_init(void); /* alt signal stack + SIGSEGV hook */
CR_HIDDEN size_t cr__stack_round(size_t size);
/* Test seam: >0 forces the guard to use mprotect instead of MADV_GUARD_INSTALL. */
CR_HIDDEN extern int cr__stack_force_mprotect;

/* ---------------------------------------------------------------- tasks ---- */

enum { CR__T_CREATED, CR__T_READY, CR__T_RUNNING, CR__T_PARKED, CR__T_DONE };

typedef struct cr__task cr__task;
typedef void (*cr__cancel_hook)(cr__task *t, void *ctx);

struct cr__task {
    cr_future f;              /* first: a task is a future */
    cr__handle run;           /* its place on the ready queue */
    void *sp;                 /* saved context while not running */
    cr__stack stack;
    cr_task_fn fn;
    void *arg;
    char *name;               /* NULL = "Task-<id>" */
    uint64_t id;
    int state;
    int cancelling;           /* asyncio's cancel-request count */
    bool must_cancel;         /* a cancel not yet delivered to the body */
    int wake_rc;              /* what the current park returns */
    cr__cancel_hook on_cancel; /* set while parked: how to interrupt the wait */
    void *cancel_ctx;
    size_t stack_size;
    void *san_fake, *san_fiber; /* sanitizer fiber state (san.h) */
    /* wait.c: the waiter nodes of the current wait; each registered node
     * holds a reference on its future until the wait returns. A loop closed
     * while the task is inside the wait releases them (cr__wait_abandon). */
    cr__cb *holds;
    size_t nholds;
    bool holds_heap; /* holds was malloc'd */
    /* issue 4 (debug): what the task is parked on, for cr_dump_tasks; set by
     * park sites, static strings only, NULL = unspecified. */
    const char *waiting_on;
};

static inline cr__task *cr__as_task(cr_future *f) { return (cr__task *)f; }

/* The running task of this thread (NULL on the loop's own stack). */
CR_HIDDEN cr__task *cr__current(void);
/* Park the current task until cr__task_wake; returns the wake code. If the
 * task is cancelled while parked, `hook(t, ctx)` is called (it may wake the
 * task with -ECANCELED, or start an interruption and wake it later); hook
 * NULL = wake with -ECANCELED at once. A cancel already pending is NOT
 * delivered here: suspending calls deliver it on entry, through cr__enter. */
CR_HIDDEN int cr__park_nocheck(cr__cancel_hook hook, void *ctx);
CR_HIDDEN void cr__task_wake(cr__task *t, int rc);
/* Re-queue the current task behind everything ready and switch away;
 * -ECANCELED if a cancel arrived meanwhile. */
CR_HIDDEN int cr__yield(void);
/* Entry check for suspending calls: -EPERM outside a task; -ECANCELED (and
 * consumes it) if a cancel is pending. */
CR_HIDDEN int cr__enter(cr__task **out);
/* Consume a delivered cancel (when a park site reports -ECANCELED). */
static inline void cr__consume_cancel(cr__task *t) { t->must_cancel = false; }
/* Loop teardown of a task that never finished: its stack back to l's pool,
 * its TSan fiber destroyed. (t->f.loop may already be NULL.) */
CR_HIDDEN void cr__task_release_stack(cr_loop *l, cr__task *t);
/* Task structs are recycled per loop (spawn is a hot path). */
CR_HIDDEN void cr__task_free(cr__task *t);
CR_HIDDEN void cr__task_cache_free(cr_loop *l);
/* Loop teardown, for a task that will never resume: drop what its current
 * wait holds (references, a heap node array). Stack still mapped. */
CR_HIDDEN void cr__wait_abandon(cr__task *t);

/* park.c: a task waiting on an object (a stream, an acceptor, a recv): it lives on the task's stack and the
 * object's slot points at it. Whoever wakes it (cr__wake_slot, the deadline,
 * a cancel) clears the slot and disarms the timer, so after the park neither
 * side touches the other: an object may be freed right after waking its
 * waiters with -ESHUTDOWN. */
typedef struct cr__waiter cr__waiter;
struct cr__waiter {
    cr__task *t;
    cr__waiter **slot;
    cr__timer tm;
};
/* Parks on *slot (which must be empty) until cr__wake_slot, the deadline
 * (-ETIMEDOUT) or a cancel (-ECANCELED, consumed). deadline_ns < 0: none. */
CR_HIDDEN int cr__park_until(cr__waiter **slot, int64_t deadline_ns);
CR_HIDDEN void cr__wake_slot(cr__waiter **slot, int rc);

/* --------------------------------------------------------------- loops ---- */

typedef struct cr__stats {
    uint64_t iterations, switches;
    uint64_t tasks_created, tasks_finished;
    uint64_t enobufs; /* issue 4: counted by the I/O layer's buffer rings */
} cr__stats;

struct cr_loop {
    cr__backend be;       /* the kernel seam (backend/backend.h) */
    bool running, closed, stopping;
    pthread_t owner;
    bool has_owner;

    cr__queue ready;
    cr__timer_heap timers;
    void *sched_sp;       /* the loop's own context while a task runs */
    cr__task *current;

    cr_future *futures;   /* every live future and task (for all_tasks, close) */
    void *task_cache;     /* freed task structs, linked through their first word */
    unsigned ntask_cache;
    size_t ntasks;        /* unfinished tasks */
    uint64_t next_task_id;

    /* stack pool (stack.c) */
    size_t stack_size;
    unsigned stack_cache;
    char **free_stacks;   /* LIFO; [0, nclean) have had their pages dropped */
    size_t nfree, free_cap;
    size_t nclean;        /* bottom entries already trimmed */
    size_t low_water;     /* least nfree since the last trim check */
    int64_t next_trim;    /* loop time of the next trim check */
    struct cr__slab *slabs;

    cr__stats stats;
    void *san_fake, *san_fiber; /* sanitizer fiber state (san.h) */
    const void *san_stack_lo;
    size_t san_stack_size;

    /* ---- issue 4: debug mode and signals (debug.c, signal.c) ---- */
    bool debug;
    int64_t slow_ns;            /* debug: warn when a task runs longer */
    cr_debug_fn debug_fn;       /* NULL: stderr */
    void *debug_arg;

    /* The resource list (core/resource.h): head of the pushed list, or
     * CR__RES_SEALED once closing began (the list is then in `sealed`). */
    _Atomic(cr__resource *) resources;
    cr__resource *sealed;

    /* Each subsystem's per-loop state, created on first use and registered
     * as a resource; only its own module looks inside. */
    struct cr__signals *signals;      /* os/signal.c */
    struct cr__io_state *io;          /* io/iostate.c: I/O objects, buffers */
    struct cr__xq *_Atomic xq;        /* thread/xthread.c: the cross-thread inbox */
};
#define CR__RES_SEALED ((cr__resource *)1)

/* ---- issue 4: hooks the core calls into debug.c / signal.c ---- */
CR_HIDDEN void cr__debug_init(cr_loop *l, const cr_loop_opts *opts);
CR_HIDDEN void cr__debug_log(cr_loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
CR_HIDDEN void cr__debug_slow(cr_loop *l, cr__task *t, int64_t ran_ns);
CR_HIDDEN void cr__debug_unretrieved(cr_future *f); /* f about to be freed */
/* cr_run's SIGINT handling: start before the main task runs, stop after. */
CR_HIDDEN int cr__sigint_start(cr_loop *l, cr_task *main_task);
CR_HIDDEN bool cr__sigint_stop(cr_loop *l); /* true if a second SIGINT stopped the loop */
/* Restores SIGINT; returns -EINTR if SIGINT ended the run, else rc. */
CR_HIDDEN int cr__sigint_end(cr_loop *l, int rc);

CR_HIDDEN extern __thread cr_loop *cr__tls_running;
CR_HIDDEN int cr__loop_check(cr_loop *l); /* -ESHUTDOWN if closed, -EINVAL if NULL */
CR_HIDDEN void cr__loop_schedule(cr_loop *l, cr__handle *h);
CR_HIDDEN int cr__loop_run_until(cr_loop *l, cr_future *fut); /* fut NULL = until stop */
/* Running a loop (run.c drives these for cr_run's clean-up turn). */
CR_HIDDEN int cr__loop_begin_run(cr_loop *l);
CR_HIDDEN void cr__loop_end_run(cr_loop *l);
CR_HIDDEN int cr__loop_run_while(cr_loop *l, bool (*done)(cr_loop *l));
/* current.c: swap the thread's current loop; forget l everywhere (free). */
CR_HIDDEN cr_loop *cr__tls_loop_swap(cr_loop *l);
CR_HIDDEN void cr__loop_forget(cr_loop *l);


/* ------------------------------------- cross-thread queue (xthread.c) ---- */

/* A node other threads push on a loop's MPSC queue. Once drained, `h` goes on
 * the ready queue and runs (or is dropped, if the loop closes) like any
 * handle. */
typedef struct cr__xnode cr__xnode;
struct cr__xnode {
    cr__mpsc_node link;
    cr__handle h;
    void *home; /* the lane whose cache it came from (cr__xq_block_*), or NULL */
};
typedef struct cr__xq cr__xq;

/* The loop's inbox, created (and registered as a resource) by the first
 * thread that needs it; NULL when out of memory or the loop is closing. */
CR_HIDDEN cr__xq *cr__xq_get(cr_loop *l);
/* Any thread: -ESHUTDOWN once the queue is closed (n untouched, caller keeps it). */
CR_HIDDEN int cr__xq_post(cr__xq *q, cr__xnode *n);
CR_HIDDEN cr__xq *cr__xq_ref(cr__xq *q);
CR_HIDDEN void cr__xq_unref(cr__xq *q);
CR_HIDDEN void cr__xq_waker_add(cr__xq *q, long d); /* external waker count */
CR_HIDDEN cr_pool *cr__xq_executor(cr__xq *q);
/* Node blocks of CR__XQ_BLOCK bytes starting with a cr__xnode, recycled
 * through the posting thread's lane instead of malloc/free. alloc: the
 * posting thread (NULL on ENOMEM; home set); free: the loop thread, from the
 * node's run/drop handler; unpost: the posting thread, when its post failed. */
#define CR__XQ_BLOCK 64
CR_HIDDEN void *cr__xq_block_alloc(cr__xq *q);
CR_HIDDEN void cr__xq_block_free(void *b);
CR_HIDDEN void cr__xq_block_unpost(void *b);
CR_HIDDEN size_t cr__xq_lanes(cr_loop *l); /* test seam: lanes on the list */
CR_HIDDEN void cr__pool_flush(void); /* wake the pool this thread deferred (pool.c) */

static inline int64_t cr__secs_to_ns(double s)
{
    if (!(s > 0)) /* also NaN: converting it to an integer is undefined */
        return 0;
    if (s > 9.2e9)
        return INT64_MAX / 2;
    return (int64_t)(s * 1e9);
}


/* The absolute time `timeout` seconds from now on clock clk, for
 * pthread_cond_timedwait / pthread_timedjoin_np (pool.c, tsfuture.c). */
#include <time.h>
static inline struct timespec cr__timespec_in(clockid_t clk, double timeout)
{
    struct timespec dl;
    clock_gettime(clk, &dl);
    int64_t ns = cr__secs_to_ns(timeout);
    dl.tv_sec += ns / 1000000000;
    dl.tv_nsec += ns % 1000000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    return dl;
}

#endif
