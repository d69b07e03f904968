/* SPDX-License-Identifier: MIT */
/*
 * future.h — the future behind cr_future and the registrations on it
 * (future.c). Loop thread only.
 */
#ifndef CORING_CORE_FUTURE_H
#define CORING_CORE_FUTURE_H

#include "core/handle.h"
#include "core/list.h"

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

/* What a subtype of future (the task) adds. The base type calls these
 * instead of knowing its subtypes; a plain future has none (kind NULL). */
struct cr__future_kind {
    void (*free)(cr_future *f);             /* the last reference went */
    void (*cancel)(cr_future *f);           /* cr_cancel of a pending f */
    const char *(*name)(const cr_future *f); /* for reports */
};

/* 72 bytes, no holes: every task carries one (a million sleepers: 8 MB per
 * 8 bytes here). */
struct cr_future {
    uint32_t refs;
    uint8_t state;
    uint8_t is_task;
    uint8_t retrieved;  /* the error was read by someone (debug reports) */
    int err;            /* 0 = result, < 0 = error; -ECANCELED when cancelled */
    void *value;
    const struct cr__future_kind *kind;
    cr__cb *cb_head, *cb_tail;
    cr__list all;       /* on the loop's list of live futures */
    cr_loop *loop;      /* NULL once the loop is closed. Last: in a task it
                         * shares the cache line of the fields a wake touches
                         * (task.h) */
};

CR_HIDDEN void cr__future_init(cr_future *f, cr_loop *l);
CR_HIDDEN void cr__future_abandon(cr_future *f); /* loop close: detach, cancel quietly */
CR_HIDDEN void cr__future_add_cb(cr_future *f, cr__cb *cb);
CR_HIDDEN bool cr__future_remove_cb(cr_future *f, cr__cb *cb);
/* Complete f (state CR__DONE or CR__CANCELLED) and schedule its callbacks. */
CR_HIDDEN void cr__future_complete(cr_future *f, int state, int err, void *value);

#endif
