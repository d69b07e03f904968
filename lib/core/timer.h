/* SPDX-License-Identifier: MIT */
/*
 * timer.h — the loop's user-space timers (timer.c) and the conversions of
 * user times to nanoseconds. Loop thread only, except the conversions.
 */
#ifndef CORING_CORE_TIMER_H
#define CORING_CORE_TIMER_H

#include "core/common.h"
#include <time.h>

typedef struct cr__timer cr__timer;
struct cr__timer {
    int64_t when;       /* CLOCK_MONOTONIC ns */
    uint64_t seq;       /* FIFO among equal deadlines */
    size_t idx;         /* position in the heap; CR__TIMER_IDLE when not armed */
    void (*fire)(cr__timer *t);
    void (*drop)(cr__timer *t); /* loop closed while armed; NULL = nothing to free */
};
#define CR__TIMER_IDLE ((size_t)-1)

/* Heap entries carry their deadline, so sifting reads one contiguous array
 * instead of timers scattered over a hundred thousand task stacks. The arm
 * order that breaks ties stays in the timer (t->seq): equal deadlines are
 * rare, and every move writes t->idx anyway, so a tie reads a line the sift
 * touches regardless. 16 bytes, not 24: a million sleepers' heap (the array
 * doubles) is 16-32 MB instead of 24-48 MB. */
typedef struct cr__timer_ent {
    int64_t when;
    cr__timer *t;
} cr__timer_ent;

typedef struct cr__timer_heap {
    cr__timer_ent *v;
    size_t n, cap;
    uint64_t seq;
} cr__timer_heap;

CR_HIDDEN int cr__timer_arm(cr_loop *l, cr__timer *t, int64_t when);
/* Takes an armed t out of the heap; callers use cr__timer_disarm. */
CR_HIDDEN void cr__timer_remove(cr_loop *l, cr__timer *t);
/* Room for n armed timers, so arming up to n never reallocates: called when a
 * lean task is created (task.c), on the creator's stack, because glibc's
 * realloc can take ~3 KiB of stack, more than a lean task has. */
CR_HIDDEN int cr__timer_reserve(cr_loop *l, size_t n);
CR_HIDDEN cr__timer *cr__timer_peek(cr_loop *l);
CR_HIDDEN void cr__timer_heap_free(cr__timer_heap *h);
static inline bool cr__timer_armed(const cr__timer *t) { return t->idx != CR__TIMER_IDLE; }
/* Inline because most calls find t idle (every I/O and park without a
 * deadline disarms on completion): the check costs less than the call. */
static inline void cr__timer_disarm(cr_loop *l, cr__timer *t)
{
    if (cr__timer_armed(t))
        cr__timer_remove(l, t);
}
static inline void cr__timer_init(cr__timer *t, void (*fire)(cr__timer *))
{
    t->idx = CR__TIMER_IDLE;
    t->fire = fire;
    t->drop = NULL;
}
CR_HIDDEN int64_t cr__now_ns(void);


/*
 * The one rule for times (coring.h, "Times"; docs/core.md):
 *  - NaN is a bad argument: -EINVAL (a pointer-returning call: NULL).
 *  - +inf means never: wait forever, a callback that never runs.
 *  - A finite time too far away to represent (now + it overflows int64 ns,
 *    ~292 years) saturates to never; nothing ever overflows.
 *  - A negative delay is "already due" (0), except where the API documents
 *    < 0 as "no timeout"; an absolute time in the past is due at once.
 * CR__NEVER is the deadline of "never": cr__timer_arm leaves such a timer
 * unarmed, so it neither fires nor keeps the loop alive.
 */
#define CR__NEVER INT64_MAX
#define CR__BAD_DEADLINE INT64_MIN /* cr__deadline's answer for NaN */

/* Seconds → ns for a relative delay: NaN → -1 (callers check isnan first),
 * <= 0 → 0, too large (or +inf) → CR__NEVER. */
static inline int64_t cr__secs_to_ns(double s)
{
    if (!(s > 0)) /* also NaN: converting it to an integer is undefined */
        return 0;
    if (s >= 9.2e9)
        return CR__NEVER;
    return (int64_t)(s * 1e9);
}

/* now + ns, saturating at CR__NEVER (and at INT64_MIN + 1 for very negative). */
static inline int64_t cr__add_sat(int64_t now, int64_t ns)
{
    int64_t r;
    if (ns == CR__NEVER || __builtin_add_overflow(now, ns, &r))
        return ns > 0 ? CR__NEVER : INT64_MIN + 1;
    return r;
}

/* A relative delay (seconds, may be negative: then in the past, so deadlines
 * keep their order) → an absolute deadline on the loop's clock. NaN → -EINVAL. */
static inline int cr__delay_deadline(int64_t now, double s, int64_t *out)
{
    if (s != s)
        return -EINVAL;
    if (s >= 9.2e9) {
        *out = CR__NEVER;
        return 0;
    }
    if (s <= -9.2e9) {
        *out = INT64_MIN + 1;
        return 0;
    }
    *out = cr__add_sat(now, (int64_t)(s * 1e9));
    return 0;
}

/* An absolute time on the loop's clock (seconds) → ns. NaN → -EINVAL; +inf
 * or beyond int64 → CR__NEVER; -inf or far past → INT64_MIN + 1. */
static inline int cr__when_to_ns(double when, int64_t *out)
{
    if (when != when)
        return -EINVAL;
    if (when >= 9.2e9)
        *out = CR__NEVER;
    else if (when <= -9.2e9)
        *out = INT64_MIN + 1;
    else
        *out = (int64_t)(when * 1e9);
    return 0;
}

/* The absolute time `timeout` seconds from now on clock clk, for
 * pthread_cond_timedwait / pthread_timedjoin_np (pool.c, tsfuture.c). */
static inline struct timespec cr__timespec_in(clockid_t clk, double timeout)
{
    struct timespec dl;
    clock_gettime(clk, &dl);
    int64_t ns = cr__secs_to_ns(timeout);
    dl.tv_sec += ns / 1000000000;
    dl.tv_nsec += ns % 1000000000;
    if (dl.tv_nsec >= 1000000000) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000;
    }
    return dl;
}

#endif
