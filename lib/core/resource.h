/* SPDX-License-Identifier: MIT */
/*
 * resource.h — the loop's resource list: how a subsystem joins a loop
 * instead of the loop calling it by name (libuv's handle queue and
 * uv_ref/uv_unref are the model).
 *
 * A subsystem that needs per-loop state (I/O objects and buffers, signal
 * watches, the cross-thread inbox) embeds one cr__resource in that state and
 * registers it on first use. The loop then reaches it only through the
 * hooks below: loop close and cr_loop_free walk the list stage by stage, and
 * the "nothing can ever happen" check (-EDEADLK) asks every resource whether
 * it keeps the loop alive.
 *
 * Rules:
 *  1. A resource keeps the loop alive while `keeps_alive` is set, or while
 *     its `alive` hook (for state other threads change) says so. Nothing else
 *     does, except strong backend ops in flight and armed timers.
 *  2. Close runs in stages, each over the whole list in registration order:
 *     REFUSE (before anything: stop taking work from other threads, drop
 *     what they queued), DETACH (tasks and futures are gone; the backend
 *     still runs: stop watches, close fds), FREE (the backend is gone, so
 *     the kernel holds no memory of ours: free buffers and objects).
 *     `release` runs at cr_loop_free, after every close; it frees the
 *     resource itself.
 *  3. Registration may happen from any thread (the inbox is created by the
 *     first thread that posts to a loop): a lock-free push. Close seals the
 *     list; a registration after that fails with -ESHUTDOWN. Walking is the
 *     loop thread's.
 */
#ifndef CORING_CORE_RESOURCE_H
#define CORING_CORE_RESOURCE_H

#include "coring.h"
#include <stdbool.h>

typedef struct cr__resource cr__resource;

enum cr__close_stage { CR__CLOSE_REFUSE, CR__CLOSE_DETACH, CR__CLOSE_FREE };

struct cr__resource_ops {
    const char *name;
    void (*close)(cr_loop *l, cr__resource *r, enum cr__close_stage stage);
    void (*release)(cr_loop *l, cr__resource *r); /* cr_loop_free; NULL: nothing */
    /* Optional loop-phase hooks, on the loop thread: */
    bool (*alive)(cr_loop *l, cr__resource *r);        /* rule 1, dynamic part */
    void (*flush)(cr_loop *l, cr__resource *r);        /* phase 1, before the poll after a
                                                        * cr__loop_want_flush: work left
                                                        * for the loop's turn */
    bool (*before_block)(cr_loop *l, cr__resource *r); /* true: do not block now */
    void (*after_block)(cr_loop *l, cr__resource *r);
    void (*drain)(cr_loop *l, cr__resource *r);        /* phase 3b: bring work in */
    void (*end_run)(cr_loop *l, cr__resource *r);      /* the loop stops running */
    void (*tick)(cr_loop *l, cr__resource *r);         /* housekeeping (tick.c) */
};

struct cr__resource {
    cr__resource *next;
    const struct cr__resource_ops *ops;
    bool keeps_alive; /* rule 1 (uv_ref) */
};

/* Any thread. -ESHUTDOWN once the loop's list is sealed (closing). */
int cr__resource_add(cr_loop *l, cr__resource *r, const struct cr__resource_ops *ops,
                     bool keeps_alive);

/* Does a resource other than `self` keep the loop alive by its flag (rule 1)?
 * Alive hooks are not asked: they may act (read a signalfd). For a resource
 * that must know whether it alone keeps the loop up. Loop thread. */
bool cr__resources_keep_alive(cr_loop *l, const cr__resource *self);

#endif
