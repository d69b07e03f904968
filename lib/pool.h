/*
 * pool.h — private to pool.c and tothread.c: a job on the work-stealing pool.
 */
#ifndef CORING_POOL_H
#define CORING_POOL_H

#include "internal.h"

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

#endif
