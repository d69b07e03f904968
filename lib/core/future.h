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

struct cr_future {
    uint32_t refs;
    uint8_t state;
    uint8_t is_task;
    int err;            /* 0 = result, < 0 = error; -ECANCELED when cancelled */
    void *value;
    cr_loop *loop;      /* NULL once the loop is closed */
    uint8_t retrieved;  /* issue 4 (debug): the error was read by someone */
    cr__cb *cb_head, *cb_tail;
    cr__list all;       /* on the loop's list of live futures */
};

CR_HIDDEN void cr__future_init(cr_future *f, cr_loop *l);
CR_HIDDEN void cr__future_abandon(cr_future *f); /* loop close: detach, cancel quietly */
CR_HIDDEN void cr__future_add_cb(cr_future *f, cr__cb *cb);
CR_HIDDEN bool cr__future_remove_cb(cr_future *f, cr__cb *cb);
/* Complete f (state CR__DONE or CR__CANCELLED) and schedule its callbacks. */
CR_HIDDEN void cr__future_complete(cr_future *f, int state, int err, void *value);

#endif
