/* SPDX-License-Identifier: MIT */
/*
 * loop.h — struct cr_loop, composed of the core modules' sub-structs, the
 * backend and the resource list; the loop's own calls (loop.c, run.c,
 * current.c). Loop thread only, except where a call says otherwise.
 */
#ifndef CORING_CORE_LOOP_H
#define CORING_CORE_LOOP_H

#include "backend/backend.h"
#include "core/debug.h"
#include "core/resource.h"
#include "core/task.h"
#include <pthread.h>

typedef struct cr__stats {
    uint64_t iterations, switches;
    uint64_t tasks_created, tasks_finished;
    uint64_t enobufs; /* counted by the I/O layer's buffer pool */
} cr__stats;

struct cr_loop {
    cr__backend be;       /* the kernel seam (backend/backend.h) */
    bool running, closed, stopping;
    bool flush_wanted;    /* a resource's flush hook has work (cr__loop_want_flush) */
    pthread_t owner;
    bool has_owner;

    cr__queue ready;
    cr__timer_heap timers;
    void *sched_sp;       /* the loop's own context while a task runs */
    cr__task *current;

    cr__list futures;     /* every live future and task (cr_future.all), newest first */

    /* The core modules' own state: each module initialises and touches
     * only its sub-struct. */
    struct cr__task_state tasks;   /* task.c */
    struct cr__stack_pool stacks;  /* stack.c */
    struct cr__debug_state dbg;    /* debug.c */

    cr__stats stats;
    void *san_fake, *san_fiber; /* sanitizer fiber state (san.h) */
    const void *san_stack_lo;
    size_t san_stack_size;

    /* The resource list (core/resource.h): head of the pushed list, or
     * CR__RES_SEALED once closing began (the list is then in `sealed`). */
    _Atomic(cr__resource *) resources;
    cr__resource *sealed;

    /* Each subsystem's per-loop state, created on first use and registered
     * as a resource; only its own module looks inside. */
    struct cr__signals *signals;      /* os/signal.c */
    struct cr__io_state *io;          /* io/iostate.c: I/O objects, buffers */
    struct cr__xq *_Atomic xq;        /* thread/xthread.c: the cross-thread inbox */
    struct cr__tick *tick;            /* core/tick.c: the housekeeping tick */
};
#define CR__RES_SEALED ((cr__resource *)1)

CR_HIDDEN extern __thread cr_loop *cr__tls_running;
CR_HIDDEN int cr__loop_check(cr_loop *l); /* -ESHUTDOWN if closed, -EINVAL if NULL */
CR_HIDDEN void cr__loop_schedule(cr_loop *l, cr__handle *h);
/* A resource left work for its flush hook (resource.h): the loop runs the
 * flush hooks before its next poll (and only then: a turn with nothing to
 * flush does not walk the resources). */
static inline void cr__loop_want_flush(cr_loop *l) { l->flush_wanted = true; }
/* tick.c's tick: every resource's tick hook, in registration order. */
CR_HIDDEN void cr__loop_run_tick_hooks(cr_loop *l);
CR_HIDDEN int cr__loop_run_until(cr_loop *l, cr_future *fut); /* fut NULL = until stop */
/* Running a loop (run.c drives these for cr_run's clean-up turn). */
CR_HIDDEN int cr__loop_begin_run(cr_loop *l);
CR_HIDDEN void cr__loop_end_run(cr_loop *l);
CR_HIDDEN int cr__loop_run_while(cr_loop *l, bool (*done)(cr_loop *l));
/* current.c: swap the thread's current loop; forget l everywhere (free). */
CR_HIDDEN cr_loop *cr__tls_loop_swap(cr_loop *l);
CR_HIDDEN extern __thread cr_loop *cr__tls_loop;
CR_HIDDEN extern __thread cr_loop *cr__tls_auto;

#endif
