/* SPDX-License-Identifier: MIT */
/*
 * tick.h — the loop's housekeeping tick (tick.c).
 * Loop thread only.
 */
#ifndef CORING_CORE_TICK_H
#define CORING_CORE_TICK_H

#include "backend/backend.h"
#include <stdbool.h>
#include <stdint.h>

#define CR__TICK_NS 100000000 /* 100 ms: the trims' period */

struct cr__tick_state {
    cr__op op;     /* the timerfd's read: in the backend while `inflight` */
    uint64_t buf;  /* what the read returns (the expiry count) */
    int fd;        /* the timerfd, or -1 until first wanted */
    bool armed;    /* the timerfd is set: the hooks run within a period */
    bool inflight;
};

/* Loop creation: no timerfd yet. */
CR_HIDDEN void cr__tick_init(cr_loop *l);
/* Every resource's tick hook runs once, about CR__TICK_NS from the first
 * want after the last tick (later ones within that period add nothing). A
 * hook that still has work wants again. Never shortens a blocking wait. */
CR_HIDDEN void cr__tick_want(cr_loop *l);
/* Loop close, after the backend is gone: the timerfd is closed. */
CR_HIDDEN void cr__tick_free(cr_loop *l);

#endif
