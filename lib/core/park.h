/* SPDX-License-Identifier: MIT */
/*
 * park.h — the fast path of cr__park_until (park.c), inline: a park with no
 * deadline on an object's slot, from the calling read down to the switch in
 * the caller's own frame.
 *
 * Why inline: at hundreds of connections a loop, each line a request touches
 * on its task's stack is a cache miss (the kernel's work between two requests
 * evicts it), and every frame between a read and the context switch spans
 * more of the stack: cr_stream_read_buf -> cr__park_until -> cr__park_nocheck
 * -> the switch touched four lines of it, one frame fewer touches three
 * (docs/backends.md measures it). The behaviour is cr__park_until's exactly;
 * a deadline or a bad one goes to it.
 *
 * Loop thread only, inside a task.
 */
#ifndef CORING_CORE_PARK_H
#define CORING_CORE_PARK_H

#include "core/switch.h"

/* The hook of an untimed park (park.c): ctx is the slot. */
CR_HIDDEN void cr__park_cancel_slot(cr__task *t, void *ctx);

/* cr__park_until, with the untimed case in the caller's frame. */
static inline __attribute__((always_inline)) int cr__park_slot(cr__waiter **slot, int64_t deadline_ns)
{
    cr_loop *l = cr__tls_running;
    if (deadline_ns >= 0 || deadline_ns == CR__BAD_DEADLINE)
        return cr__park_until(slot, deadline_ns); /* which comes back here for no deadline */
    cr__task *t = l->current;
    if (t->must_cancel) {
        cr__consume_cancel(t);
        return -ECANCELED;
    }
    *slot = (cr__waiter *)(void *)t;
    if (!t->waiting_on)
        t->waiting_on = "object"; /* a stream, an acceptor, a recv, a server */
    int rc = cr__park_switch(l, t, cr__park_cancel_slot, slot);
    if (rc == -ECANCELED)
        cr__consume_cancel(t);
    return rc;
}

#endif
