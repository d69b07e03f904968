/* SPDX-License-Identifier: MIT */
/*
 * task.h — tasks (a task is a future), parking and waking (task.c), the
 * waits' hold-list (wait.c) and the park-with-deadline slot waiter (park.c).
 * Loop thread only.
 */
#ifndef CORING_CORE_TASK_H
#define CORING_CORE_TASK_H

#include "core/future.h"
#include "core/stack.h"
#include "core/timer.h"

enum { CR__T_CREATED, CR__T_READY, CR__T_RUNNING, CR__T_PARKED, CR__T_DONE };

typedef struct cr__task cr__task;
typedef void (*cr__cancel_hook)(cr__task *t, void *ctx);

/* 224 bytes (a lean slot keeps 256 for it): every
 * default task parked anywhere costs its stack page plus this, so fields are
 * packed without holes and sanitizer-only state exists only in those builds
 * (docs/memory.md).
 *
 * Laid out by heat: waking a parked task, queueing it and switching to it
 * read and write only the second cache line (f.loop, run, sp, wake_rc, state,
 * on_cancel/cancel_ctx, waiting_on). A server with
 * hundreds of connections per loop finds each task's lines cold at every
 * request (the kernel's work between two requests evicts them), so every
 * line here is a miss per request; future.h puts f.loop last for this. */
struct cr__task {
    cr_future f;              /* first: a task is a future (f.loop ends at 72) */
    /* -- hot: wake, schedule, switch (with f.loop and waiting_on: one line) -- */
    cr__handle run;           /* its place on the ready queue */
    void *sp;                 /* saved context while not running */
    int wake_rc;              /* what the current park returns */
    uint8_t state;            /* CR__T_* */
    bool must_cancel;         /* a cancel not yet delivered to the body */
    bool in_stack;            /* a lean task: this struct lives in its stack slot */
    uint8_t stack_class;      /* what cr_task_opts asked for (taken at first run;
                               * out of range: 0, the default, as stack.c reads it) */
    cr__cancel_hook on_cancel; /* set while parked: how to interrupt the wait */
    void *cancel_ctx;
    /* -- warm: every suspending call -- */
    /* What the task is parked on, for cr_dump_tasks; set by park sites,
     * static strings only, NULL = unspecified. */
    const char *waiting_on;
    /* -- cold -- */
    cr__stack stack;
    cr_task_fn fn;
    void *arg;
    char *name;               /* NULL = "Task-<id>" */
    char *cancel_msg;         /* the latest cr_cancel_msg's text (asyncio's msg) */
    struct cr__ctx *ctx;      /* task-local variables (context.c); NULL = none set */
    uint64_t id;
    int cancelling;           /* asyncio's cancel-request count */
    uint32_t stack_size;      /* what cr_task_opts asked for (taken at first run;
                               * larger than any stack may be: clamped, refused) */
#ifdef __SANITIZE_ADDRESS__
    void *san_fake;           /* ASan's fake stack for this task (san.h) */
#endif
#ifdef __SANITIZE_THREAD__
    void *san_fiber;          /* TSan's fiber for this task (san.h) */
#endif
    /* Set by a wait that holds something (references on futures, memory)
     * until it returns: how to let go of it if the loop closes while the
     * task is still inside the wait (cr__task_abandon). NULL otherwise. */
    void (*abandon)(cr__task *t, void *ctx);
    void *abandon_ctx;
};

/* The hot line: bytes 64..127 (f.loop through waiting_on), one cache line
 * when the struct is 64-byte aligned (lean slots; heap tasks: taskmem.c). */
_Static_assert(offsetof(cr__task, f.loop) == 64 && offsetof(cr__task, waiting_on) == 120,
               "a wake, a run and a park touch one line of a task");

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
/* Loop teardown of a task that never finished: its stack back to its pool
 * (a lean slot holding the struct goes back with it, in cr__task_free), its
 * TSan fiber destroyed. (t->f.loop may already be NULL.) */
CR_HIDDEN void cr__task_release_stack(cr_loop *l, cr__task *t);
/* context.c: give a new task a copy of the creating task's variables. */
CR_HIDDEN int cr__ctx_inherit(cr__task *child);
/* The last reference went. A heap struct goes back to its taskmem slot, a
 * lean task's stack slot (holding t) to its stack pool. */
CR_HIDDEN void cr__task_free(cr__task *t);
/* Loop teardown, for a task that will never resume: drop what its current
 * wait holds (references, a heap node array). Stack still mapped. */
static inline void cr__task_abandon(cr__task *t)
{
    if (t->abandon)
        t->abandon(t, t->abandon_ctx);
}

/* park.c: a task waiting on an object (a stream, an acceptor, a recv). The
 * object's slot holds the parked task itself (a cr__waiter is only ever a
 * cr__task behind an opaque type), so a wake reads the task's hot line and
 * nothing of its stack; a deadline's timer and the slot's address live on
 * the parked task's stack, reached through cancel_ctx only when the park has
 * a deadline or is cancelled. Whoever wakes it (cr__wake_slot, the deadline,
 * a cancel) clears the slot and disarms the timer, so after the park neither
 * side touches the other: an object may be freed right after waking its
 * waiters with -ESHUTDOWN. */
typedef struct cr__waiter cr__waiter;
/* Parks on *slot (which must be empty) until cr__wake_slot, the deadline
 * (-ETIMEDOUT) or a cancel (-ECANCELED, consumed). deadline_ns < 0: none. */
CR_HIDDEN int cr__park_until(cr__waiter **slot, int64_t deadline_ns);
CR_HIDDEN void cr__wake_slot(cr__waiter **slot, int rc);


/* Heap task structs: 64-byte aligned 256-byte slots in 1 MiB blocks
 * (taskmem.c owns every field). */
struct cr__taskmem {
    cr__list all, room; /* every block; those with a free slot (zeroed: not yet used) */
    unsigned nblocks;
    void *cache;        /* the last freed slots, LIFO, linked through their first word */
    unsigned ncache;
};
#define CR__TASKMEM_CACHE 256 /* freed slots kept in front of the blocks */
CR_HIDDEN void *cr__taskmem_get_slow(struct cr__taskmem *p, bool *zeroed);
CR_HIDDEN void cr__taskmem_put_slow(struct cr__taskmem *p, void *slot);

/* NULL: out of memory. *zeroed: the slot is all zero bytes already. The
 * cache's pop and push are inline: a spawn+run+join is ~150 ns. */
static inline void *cr__taskmem_get(struct cr__taskmem *p, bool *zeroed)
{
    void *c = p->cache;
    if (c) {
        p->cache = *(void **)c;
        p->ncache--;
        *zeroed = false;
        return c;
    }
    return cr__taskmem_get_slow(p, zeroed);
}

/* p: the task's loop's, or NULL once the task is detached from it (any
 * thread then). */
static inline void cr__taskmem_put(struct cr__taskmem *p, void *slot)
{
#ifndef __SANITIZE_ADDRESS__ /* ASan: straight to free(), to see every use after it */
    if (p && p->ncache < CR__TASKMEM_CACHE) {
        *(void **)slot = p->cache;
        p->cache = slot;
        p->ncache++;
        return;
    }
#endif
    cr__taskmem_put_slow(p, slot);
}
CR_HIDDEN void cr__taskmem_free(struct cr__taskmem *p); /* loop close: orphans what is live */

/* The loop's task bookkeeping (task.c owns every field but mem). */
struct cr__task_state {
    struct cr__taskmem mem; /* heap task structs */
    size_t ntasks;        /* unfinished tasks */
    uint64_t next_task_id;
};

#endif
