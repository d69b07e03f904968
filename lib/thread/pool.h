/* SPDX-License-Identifier: MIT */
/*
 * pool.h — private to pool.c and tothread.c: a job on the work-stealing pool.
 */
#ifndef CORING_POOL_H
#define CORING_POOL_H

#include "core/internal.h"
#include "thread/inbox.h"

typedef struct cr__job cr__job;
struct cr__job {
    cr__mpsc_node link;
    void (*run)(cr__job *j);
    void (*cancel)(cr__job *j); /* shutdown handed it back unrun */
};

/* Any thread: queue j (on the caller's own deque if it is one of p's
 * workers). -ESHUTDOWN once p is shut down (j untouched). defer: the caller
 * is a loop thread that will call cr__pool_flush before it blocks or returns,
 * so a burst of submissions costs at most one worker wakeup. */
CR_HIDDEN int cr__pool_push(cr_pool *p, cr__job *j, bool defer);

/* ---- a task's cancel-safe job on the pool (tothread.c; used by resolve.c) ----
 *
 * The life cycle cr_to_thread and cr_getaddrinfo share. The job is a heap
 * record that embeds cr__pjob; the waiting task keeps a cr__pjob_wait on its
 * stack. A cancel (or the deadline) returns at once and merely detaches the
 * task (pj->wait = NULL); a job not started by then never runs `work`. The
 * job always comes back to the loop (run, skipped, or handed back by a pool
 * shutdown) and whoever sees it last frees it: the loop, or the worker if the
 * loop is closed by then. While out it counts as an external waker of its
 * loop, so an idle loop waits for it instead of reporting -EDEADLK. */
typedef struct cr__pjob cr__pjob;
typedef struct cr__pjob_wait cr__pjob_wait;

struct cr__pjob {
    cr__job job;
    _Atomic int state;    /* QUEUED → RUNNING (worker) or → ABANDONED (loop) */
    cr__xnode back;       /* the completion, posted to the loop */
    cr__xq *xq;           /* a reference: the loop may be freed before we finish */
    cr__pjob_wait *wait;  /* loop thread only; NULL once the task left */
    int rc;               /* work's result; -ECANCELED if it never ran */
    /* Worker: do the job and set rc. Not called if the task left first. */
    void (*work)(cr__pjob *pj);
    /* Loop thread, the task still waits (w->rc already set): hand the result
     * over (take ownership of it). Optional. */
    void (*deliver)(cr__pjob *pj, cr__pjob_wait *w);
    /* Any thread: free the record and any result nobody took. */
    void (*destroy)(cr__pjob *pj);
};

struct cr__pjob_wait {
    cr__task *task;
    cr__pjob *job;
    cr__timer deadline;
    int rc;
    bool done;
};

/* Task t (the caller) on its loop thread: queue pj (work/deliver/destroy
 * set) on pool (NULL: the loop's executor, else the default pool) and park
 * until it is back (→ w->rc), deadline_ns (absolute, < 0: none; →
 * -ETIMEDOUT) or a cancel (→ -ECANCELED). waiting_on names the wait for
 * cr_dump_tasks (may be NULL). Takes pj in every case, errors included. */
CR_HIDDEN int cr__pjob_await(cr__task *t, cr_pool *pool, cr__pjob *pj, cr__pjob_wait *w,
                             int64_t deadline_ns, const char *waiting_on);

#endif
