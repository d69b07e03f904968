/* SPDX-License-Identifier: MIT */
/*
 * inbox.h — how the rest of coring reaches a loop from other threads: its
 * cross-thread inbox (xthread.c, lane.c) and the node blocks posted to it.
 * See xthread.c for the threads allowed on each call.
 */
#ifndef CORING_THREAD_INBOX_H
#define CORING_THREAD_INBOX_H

#include "core/loop.h"
#include "thread/mpsc.h"

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
 * thread that needs it; NULL (and *err) when out of memory or the loop is
 * closing (-ESHUTDOWN). */
CR_HIDDEN cr__xq *cr__xq_get(cr_loop *l, int *err); /* NULL: *err says why */
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

#endif
