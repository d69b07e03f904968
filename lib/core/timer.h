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

/* Heap entries carry their key, so sifting reads one contiguous array instead
 * of timers scattered over a hundred thousand task stacks. */
typedef struct cr__timer_ent {
    int64_t when;
    uint64_t seq;
    cr__timer *t;
} cr__timer_ent;

typedef struct cr__timer_heap {
    cr__timer_ent *v;
    size_t n, cap;
    uint64_t seq;
} cr__timer_heap;

CR_HIDDEN int cr__timer_arm(cr_loop *l, cr__timer *t, int64_t when);
CR_HIDDEN void cr__timer_disarm(cr_loop *l, cr__timer *t);
/* Room for n armed timers, so arming up to n never reallocates: called when a
 * lean task is created (task.c), on the creator's stack, because glibc's
 * realloc can take ~3 KiB of stack, more than a lean task has. */
CR_HIDDEN int cr__timer_reserve(cr_loop *l, size_t n);
CR_HIDDEN cr__timer *cr__timer_peek(cr_loop *l);
CR_HIDDEN void cr__timer_heap_free(cr__timer_heap *h);
static inline bool cr__timer_armed(const cr__timer *t) { return t->idx != CR__TIMER_IDLE; }
static inline void cr__timer_init(cr__timer *t, void (*fire)(cr__timer *))
{
    t->idx = CR__TIMER_IDLE;
    t->fire = fire;
    t->drop = NULL;
}
CR_HIDDEN int64_t cr__now_ns(void);


static inline int64_t cr__secs_to_ns(double s)
{
    if (!(s > 0)) /* also NaN: converting it to an integer is undefined */
        return 0;
    if (s > 9.2e9)
        return INT64_MAX / 2;
    return (int64_t)(s * 1e9);
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
