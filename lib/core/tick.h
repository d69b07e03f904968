/* SPDX-License-Identifier: MIT */
/*
 * tick.h — the loop's housekeeping tick (tick.c).
 * Loop thread only.
 */
#ifndef CORING_CORE_TICK_H
#define CORING_CORE_TICK_H

#include "coring.h"

#define CR__TICK_NS 100000000 /* 100 ms: the trims' period */

/* Every resource's tick hook (resource.h) runs once, about CR__TICK_NS after
 * the first want since the last tick (later ones within that period add
 * nothing). A hook that still has work wants again. Never shortens a
 * blocking wait. Makes system calls (and, the first time, allocates): call
 * it from the loop's own stack (a before_block hook), not a lean task's. */
CR_HIDDEN void cr__tick_want(cr_loop *l);

#endif
