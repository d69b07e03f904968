/* SPDX-License-Identifier: MIT */
/*
 * common.h — what every internal header shares: visibility, branch hints,
 * CR_CONTAINER_OF, and the rules every file keeps. Nothing here is exported
 * from libcoring.so (everything is hidden); tests link the static archive and
 * may include this header to reach the fault-injection seams.
 *
 * Rules every file keeps:
 *  1. A loop's ready queue, timers, stacks and ring are touched only by the
 *     thread running it.
 *  2. Completing a future never runs user code inline: it only *schedules*
 *     (pushes handles on the ready queue). Internal on_done hooks may do
 *     bookkeeping and wake tasks, nothing else.
 *  3. A parked task's stack may hold memory the kernel or another structure
 *     points at (waiter nodes, I/O buffers). A park only returns once nothing
 *     points there any more.
 */
#ifndef CORING_COMMON_H
#define CORING_COMMON_H

#include "coring.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef CR_HIDDEN
#define CR_HIDDEN __attribute__((visibility("hidden")))
#endif
#define CR_LIKELY(x) __builtin_expect(!!(x), 1)
#define CR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CR_CONTAINER_OF(p, T, m) ((T *)((char *)(p) - offsetof(T, m)))

#endif
