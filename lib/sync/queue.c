/* SPDX-License-Identifier: MIT */
/*
 * queue.c — asyncio.Queue, LifoQueue and PriorityQueue for tasks of one loop.
 *
 * Owns: the items (an array used as a ring for FIFO, a stack for LIFO, a
 * binary heap for priority), the getter/putter/joiner wait queues.
 *
 * Invariants (they make the queue FIFO-fair without re-checks):
 *  - getters are queued only while the queue is empty: put() hands its item
 *    straight to the first getter instead of storing it;
 *  - putters are queued only while the queue is full: get() takes an item and
 *    moves the first putter's item in, in the same step;
 *  - so a newcomer never overtakes a queued waiter, and a waiter cancelled
 *    while queued (not granted) has given or taken nothing.
 *  - unfinished counts items put and not yet task_done()'d.
 *
 * Loop thread only (the thread of first use; others get -EPERM).
 */
#include "core/internal.h"
#include "sync/waitq.h"
#include <stdlib.h>

struct qent {
    void *item;
    uint64_t seq; /* FIFO order among equal priorities */
};

struct cr_queue {
    cr_queue_opts o;
    struct qent *v;
    size_t cap, n, head; /* FIFO ring: v[(head + i) % cap] */
    uint64_t seq;
    size_t unfinished;
    bool shutdown;
    cr__owner owner;
    cr__waitq getters, putters, joiners;
};

int cr_queue_new(cr_queue **out, const cr_queue_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    cr_queue_opts o = {.kind = CR_QUEUE_FIFO};
    if (opts)
        o = *opts;
    if (o.kind < CR_QUEUE_FIFO || o.kind > CR_QUEUE_PRIORITY)
        return -EINVAL;
    cr_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    q->o = o;
    *out = q;
    return 0;
}

/* ---- storage ---- */

static bool prio_less(cr_queue *q, const struct qent *a, const struct qent *b)
{
    int c = q->o.cmp ? q->o.cmp(a->item, b->item)
                     : ((intptr_t)a->item > (intptr_t)b->item) - ((intptr_t)a->item < (intptr_t)b->item);
    return c < 0 || (c == 0 && a->seq < b->seq);
}

static void heap_swap(struct qent *v, size_t i, size_t j)
{
    struct qent t = v[i];
    v[i] = v[j];
    v[j] = t;
}

static int store_grow(cr_queue *q)
{
    size_t cap = q->cap ? q->cap * 2 : 8;
    struct qent *v = malloc(cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < q->n; i++) /* unroll the FIFO ring; others start at 0 */
        v[i] = q->v[(q->head + i) % q->cap];
    free(q->v);
    q->v = v;
    q->cap = cap;
    q->head = 0;
    return 0;
}

static int store_push(cr_queue *q, void *item)
{
    if (q->n == q->cap) {
        int rc = store_grow(q);
        if (rc < 0)
            return rc;
    }
    struct qent e = {item, q->seq++};
    if (q->o.kind == CR_QUEUE_FIFO) {
        q->v[(q->head + q->n) % q->cap] = e;
    } else if (q->o.kind == CR_QUEUE_LIFO) {
        q->v[q->n] = e;
    } else {
        size_t i = q->n;
        q->v[i] = e;
        while (i && prio_less(q, &q->v[i], &q->v[(i - 1) / 2])) {
            heap_swap(q->v, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    }
    q->n++;
    return 0;
}

static void *store_pop(cr_queue *q)
{
    void *item;
    q->n--;
    if (q->o.kind == CR_QUEUE_FIFO) {
        item = q->v[q->head].item;
        q->head = (q->head + 1) % q->cap;
    } else if (q->o.kind == CR_QUEUE_LIFO) {
        item = q->v[q->n].item;
    } else {
        item = q->v[0].item;
        q->v[0] = q->v[q->n];
        for (size_t i = 0;;) {
            size_t l = 2 * i + 1, r = l + 1, m = i;
            if (l < q->n && prio_less(q, &q->v[l], &q->v[m]))
                m = l;
            if (r < q->n && prio_less(q, &q->v[r], &q->v[m]))
                m = r;
            if (m == i)
                break;
            heap_swap(q->v, i, m);
            i = m;
        }
    }
    return item;
}

static bool is_full(const cr_queue *q) { return q->o.maxsize && q->n >= q->o.maxsize; }

/* ---- put / get ---- */

static void item_added(cr_queue *q)
{
    q->unfinished++;
}

/* Put without waiting; the caller checked !full (or a getter is waiting). */
static int do_put(cr_queue *q, void *item)
{
    if (cr__wq_first(&q->getters)) {
        /* Invariant: getters wait only on an empty queue: hand it over. */
        cr__wq_grant_first(&q->getters, 0, item);
        item_added(q);
        return 0;
    }
    int rc = store_push(q, item);
    if (rc == 0)
        item_added(q);
    return rc;
}

/* Take an item (queue not empty) into *out (if wanted) and let the first
 * putter in. */
static int do_get(cr_queue *q, void **out)
{
    void *item = store_pop(q);
    cr__wnode *p = cr__wq_first(&q->putters);
    if (p && store_push(q, p->item) == 0) {
        item_added(q);
        cr__wq_grant_first(&q->putters, 0, p->item);
    }
    if (out)
        *out = item;
    return 0;
}

static int check(cr_queue *q)
{
    return q ? cr__owner_check(&q->owner) : -EINVAL;
}

/* A suspending call's entry: in a task (*t), not cancelled, on q's loop. */
static int enter(cr_queue *q, cr__task **t)
{
    int rc = cr__enter(t);
    return rc < 0 ? rc : check(q);
}

int cr_queue_put_nowait(cr_queue *q, void *item)
{
    int rc = check(q);
    if (rc < 0)
        return rc;
    if (q->shutdown)
        return -ESHUTDOWN;
    if (is_full(q) || cr__wq_first(&q->putters))
        return -EAGAIN;
    return do_put(q, item);
}

int cr_queue_get_nowait(cr_queue *q, void **item)
{
    if (item)
        *item = NULL;
    int rc = check(q);
    if (rc < 0)
        return rc;
    if (!q->n)
        return q->shutdown ? -ESHUTDOWN : -EAGAIN;
    return do_get(q, item);
}

int cr_queue_put(cr_queue *q, void *item)
{
    cr__task *t;
    int rc = enter(q, &t);
    if (rc < 0)
        return rc;
    if (q->shutdown)
        return -ESHUTDOWN;
    if (!is_full(q) && !cr__wq_first(&q->putters))
        return do_put(q, item);
    cr__wnode w = {.item = item};
    return cr__wq_wait(&q->putters, t, &w, "queue put");
}

int cr_queue_get(cr_queue *q, void **item)
{
    if (item)
        *item = NULL;
    cr__task *t;
    int rc = enter(q, &t);
    if (rc < 0)
        return rc;
    if (q->n)
        return do_get(q, item);
    if (q->shutdown)
        return -ESHUTDOWN;
    cr__wnode w;
    rc = cr__wq_wait(&q->getters, t, &w, "queue get");
    if (rc == 0 && item)
        *item = w.item;
    return rc;
}

size_t cr_queue_size(const cr_queue *q) { return q ? q->n : 0; }
size_t cr_queue_maxsize(const cr_queue *q) { return q ? q->o.maxsize : 0; }
bool cr_queue_empty(const cr_queue *q) { return !q || q->n == 0; }
bool cr_queue_full(const cr_queue *q) { return q && is_full(q); }

/* ---- task_done / join ---- */

int cr_queue_task_done(cr_queue *q)
{
    int rc = check(q);
    if (rc < 0)
        return rc;
    if (q->unfinished == 0)
        return -EOVERFLOW;
    if (--q->unfinished == 0)
        cr__wq_grant_all(&q->joiners, 0);
    return 0;
}

int cr_queue_join(cr_queue *q)
{
    cr__task *t;
    int rc = enter(q, &t);
    if (rc < 0)
        return rc;
    if (q->unfinished == 0)
        return 0;
    cr__wnode w;
    return cr__wq_wait(&q->joiners, t, &w, "queue join");
}

/* ---- shutdown / free ---- */

static void drop_items(cr_queue *q)
{
    while (q->n) {
        void *it = store_pop(q);
        if (q->o.free_item)
            q->o.free_item(it);
        if (q->unfinished)
            q->unfinished--;
    }
    if (q->unfinished == 0)
        cr__wq_grant_all(&q->joiners, 0);
}

int cr_queue_shutdown(cr_queue *q, bool immediate)
{
    int rc = check(q);
    if (rc < 0)
        return rc;
    q->shutdown = true;
    if (immediate)
        drop_items(q);
    /* Getters only wait on an empty queue, so in both modes they are done. */
    cr__wq_grant_all(&q->getters, -ESHUTDOWN);
    cr__wq_grant_all(&q->putters, -ESHUTDOWN);
    return 0;
}

int cr_queue_free(cr_queue *q)
{
    if (!q)
        return 0;
    if (q->getters.n || q->putters.n || q->joiners.n)
        return -EBUSY;
    if (q->o.free_item)
        while (q->n)
            q->o.free_item(store_pop(q));
    free(q->v);
    free(q);
    return 0;
}
