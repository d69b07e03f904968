/* SPDX-License-Identifier: MIT */
/*
 * timer.c — the loop's user-space timers: a binary min-heap ordered by
 * (deadline, arm order). The kernel never sees a timer; the loop passes only
 * the nearest deadline to its wait (ring.c).
 *
 * Each heap entry carries its deadline, so comparisons walk one contiguous
 * array; the timer itself (usually on a task's stack, somewhere in a hundred
 * thousand pages) is touched to record its index, which keeps disarm
 * O(log n), and to break a tie between equal deadlines by arm order.
 * Invariant: for every armed timer t, heap.v[t->idx].t == t.
 *
 * Touched only by the loop's thread.
 */
#include "core/internal.h"
#include <stdlib.h>
#include <time.h>

int64_t cr__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline bool before(const cr__timer_ent *a, const cr__timer_ent *b)
{
    return a->when < b->when || (a->when == b->when && a->t->seq < b->t->seq);
}

static inline void place(cr__timer_heap *h, size_t i, cr__timer_ent e)
{
    h->v[i] = e;
    e.t->idx = i;
}

static void sift_up(cr__timer_heap *h, size_t i)
{
    cr__timer_ent e = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&e, &h->v[p]))
            break;
        place(h, i, h->v[p]);
        i = p;
    }
    place(h, i, e);
}

static void sift_down(cr__timer_heap *h, size_t i)
{
    cr__timer_ent e = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &e))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, e);
}

int cr__timer_reserve(cr_loop *l, size_t n)
{
    cr__timer_heap *h = &l->timers;
    if (n <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    cr__timer_ent *v = realloc(h->v, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

int cr__timer_arm(cr_loop *l, cr__timer *t, int64_t when)
{
    cr__timer_heap *h = &l->timers;
    if (cr__timer_armed(t))
        cr__timer_disarm(l, t);
    t->when = when;
    if (when == CR__NEVER)
        return 0; /* never fires: not armed, so it keeps nothing alive */
    if (h->n == h->cap && cr__timer_reserve(l, h->n + 1) < 0)
        return -ENOMEM;
    t->seq = h->seq++;
    place(h, h->n++, (cr__timer_ent){when, t});
    sift_up(h, h->n - 1);
    return 0;
}

void cr__timer_remove(cr_loop *l, cr__timer *t)
{
    cr__timer_heap *h = &l->timers;
    size_t i = t->idx;
    t->idx = CR__TIMER_IDLE;
    cr__timer_ent last = h->v[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    if (i > 0 && before(&last, &h->v[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

cr__timer *cr__timer_peek(cr_loop *l)
{
    return l->timers.n ? l->timers.v[0].t : NULL;
}

void cr__timer_heap_free(cr__timer_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i].t->idx = CR__TIMER_IDLE;
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
