/* SPDX-License-Identifier: MIT */
/*
 * Description: FIFO, LIFO and priority queues — ordering, maxsize with
 * blocking put/get served FIFO, nowait errors, cancellation while waiting,
 * task_done/join, graceful and immediate shutdown.
 */
#include "helpers.h"
#include <stdlib.h>

static tlog LOG;
static cr_queue *Q;

static cr_queue *mkq(int kind, size_t max, cr_queue_cmp cmp)
{
    cr_queue *q;
    cr_queue_opts o = {.kind = kind, .maxsize = max, .cmp = cmp};
    cr_assert_eq(cr_queue_new(&q, &o), 0);
    return q;
}

static void drain(cr_queue *q, tlog *l)
{
    void *v;
    while (cr_queue_get_nowait(q, &v) == 0)
        tlog_add(l, "%d", PINT(v));
}

static int by_abs_desc(const void *a, const void *b)
{
    int x = abs(PINT(a)), y = abs(PINT(b));
    return (y > x) - (y < x);
}

static int order_main(void *arg, void **r)
{
    (void)arg, (void)r;
    int in[] = {3, 1, 4, 1, 5, -9, 2, 6};
    cr_queue *qs[] = {mkq(CR_QUEUE_FIFO, 0, NULL), mkq(CR_QUEUE_LIFO, 0, NULL),
                      mkq(CR_QUEUE_PRIORITY, 0, NULL), mkq(CR_QUEUE_PRIORITY, 0, by_abs_desc)};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 8; i++)
            cr_assert_eq(cr_queue_put(qs[k], IPTR(in[i])), 0);
        cr_assert_eq(cr_queue_size(qs[k]), 8);
        drain(qs[k], &LOG);
        tlog_add(&LOG, "|");
        cr_assert_eq(cr_queue_free(qs[k]), 0);
    }
    return 0;
}

/* Each kind hands items out in its order; priority ties stay FIFO. */
Test(queue, fifo_lifo_priority_order)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(order_main, NULL, 0);
    LOG_EQ(&LOG, "3 1 4 1 5 -9 2 6 | 6 2 -9 5 1 4 1 3 | -9 1 1 2 3 4 5 6 | -9 6 5 4 3 2 1 1 |");
}

static int putter(void *arg, void **r)
{
    (void)r;
    int rc = cr_queue_put(Q, arg);
    tlog_add(&LOG, "p%d:%d", PINT(arg), rc);
    return rc;
}

static int getter(void *arg, void **r)
{
    (void)r;
    void *v = IPTR(-1);
    int rc = cr_queue_get(Q, &v);
    tlog_add(&LOG, "g%d:%d=%d", PINT(arg), rc, PINT(v));
    return rc;
}

static void reap(cr_task **t, int n)
{
    cr_gather(t, n, NULL, NULL, CR_RETURN_EXCEPTIONS);
    for (int i = 0; i < n; i++)
        cr_future_unref(t[i]);
}

static int blocking_main(void *arg, void **r)
{
    (void)arg, (void)r;
    Q = mkq(CR_QUEUE_FIFO, 2, NULL);
    cr_assert_eq(cr_queue_put_nowait(Q, IPTR(10)), 0);
    cr_assert_eq(cr_queue_put_nowait(Q, IPTR(11)), 0);
    cr_assert(cr_queue_full(Q));
    cr_assert_eq(cr_queue_put_nowait(Q, IPTR(99)), -EAGAIN, "full");
    cr_task *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = cr_create_task(putter, IPTR(20 + i));
    cr_sleep(0);
    cr_cancel(p[1]); /* a queued putter cancelled: its item never enters */
    void *v;
    for (int i = 0; i < 4 && cr_queue_get(Q, &v) == 0; i++)
        tlog_add(&LOG, "%d", PINT(v));
    reap(p, 3);
    cr_assert(cr_queue_empty(Q));
    cr_assert_eq(cr_queue_get_nowait(Q, &v), -EAGAIN, "empty");
    cr_task *g[3];
    for (int i = 0; i < 3; i++)
        g[i] = cr_create_task(getter, IPTR(i));
    cr_sleep(0);
    cr_cancel(g[0]); /* a queued getter cancelled: takes nothing */
    cr_queue_put(Q, IPTR(30));
    cr_queue_put(Q, IPTR(31));
    cr_queue_put(Q, IPTR(32)); /* nobody waits: stays */
    reap(g, 3);
    cr_assert_eq(cr_queue_size(Q), 1);
    drain(Q, &LOG);
    cr_assert_eq(cr_queue_free(Q), 0);
    return 0;
}

/* Blocked putters and getters are served FIFO; cancelled ones take/give nothing. */
Test(queue, blocking_is_fifo_fair_and_cancel_safe)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(blocking_main, NULL, 0);
    LOG_EQ(&LOG, "10 11 20 22 p21:-125 p20:0 p22:0 g0:-125=0 g1:0=30 g2:0=31 32");
}

static int worker(void *arg, void **r)
{
    (void)arg, (void)r;
    void *v;
    while (cr_queue_get(Q, &v) == 0) {
        cr_sleep(0.001);
        tlog_add(&LOG, "done%d", PINT(v));
        cr_queue_task_done(Q);
    }
    return 0;
}

static int join_main(void *arg, void **r)
{
    (void)arg, (void)r;
    Q = mkq(CR_QUEUE_FIFO, 0, NULL);
    cr_assert_eq(cr_queue_join(Q), 0, "nothing unfinished");
    cr_assert_eq(cr_queue_task_done(Q), -EOVERFLOW);
    cr_task *w = cr_create_task(worker, NULL);
    for (int i = 0; i < 3; i++)
        cr_queue_put(Q, IPTR(i));
    cr_assert_eq(cr_queue_join(Q), 0);
    tlog_add(&LOG, "joined");
    cr_cancel(w);
    cr_await(w, NULL);
    cr_future_unref(w);
    cr_assert_eq(cr_queue_free(Q), 0);
    return 0;
}

/* join returns once every put item was task_done'd; too many task_done is an error. */
Test(queue, task_done_and_join)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(join_main, NULL, 0);
    LOG_EQ(&LOG, "done0 done1 done2 joined");
}

static int drainer(void *arg, void **r)
{
    (void)arg, (void)r;
    void *v;
    int rc;
    while ((rc = cr_queue_get(Q, &v)) == 0)
        tlog_add(&LOG, "%d", PINT(v));
    tlog_add(&LOG, "end:%d", rc);
    return 0;
}

static int shutdown_main(void *arg, void **r)
{
    bool immediate = arg != NULL;
    (void)r;
    Q = mkq(CR_QUEUE_FIFO, 2, NULL);
    cr_task *g = cr_create_task(getter, IPTR(0)); /* gets 1 */
    cr_sleep(0);
    cr_queue_put(Q, IPTR(1));
    cr_queue_put(Q, IPTR(2));
    cr_queue_put(Q, IPTR(3));
    cr_task *p = cr_create_task(putter, IPTR(4)); /* blocks: full */
    cr_sleep(0);
    cr_assert_eq(cr_queue_shutdown(Q, immediate), 0);
    cr_assert_eq(cr_queue_put_nowait(Q, IPTR(5)), -ESHUTDOWN);
    cr_task *d = cr_create_task(drainer, NULL);
    cr_task *all[] = {g, p, d};
    reap(all, 3);
    if (immediate) {
        cr_assert_eq(cr_queue_task_done(Q), 0); /* item 1, the getter's */
        cr_assert_eq(cr_queue_join(Q), 0, "dropped items count as done");
        cr_assert_eq(cr_queue_task_done(Q), -EOVERFLOW);
    }
    cr_assert_eq(cr_queue_free(Q), 0);
    return 0;
}

/* Graceful shutdown: putters refused, getters drain, then -ESHUTDOWN. */
Test(queue, graceful_shutdown_drains_then_errors)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(shutdown_main, NULL, 0);
    LOG_EQ(&LOG, "g0:0=1 p4:-108 2 3 end:-108");
}

/* Immediate shutdown: the items are dropped and getters fail at once. */
Test(queue, immediate_shutdown_drops_items)
{
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(shutdown_main, IPTR(1), 0);
    LOG_EQ(&LOG, "g0:0=1 p4:-108 end:-108");
}

static int nfreed;
static void count_free(void *p)
{
    free(p);
    nfreed++;
}

static int busy_main(void *arg, void **r)
{
    (void)arg, (void)r;
    Q = mkq(CR_QUEUE_FIFO, 0, NULL);
    cr_task *g = cr_create_task(getter, IPTR(7));
    cr_sleep(0);
    cr_assert_eq(cr_queue_free(Q), -EBUSY, "a getter waits");
    cr_cancel(g);
    cr_await(g, NULL);
    cr_future_unref(g);
    cr_assert_eq(cr_queue_free(Q), 0);
    cr_queue *q;
    cr_queue_opts o = {.kind = CR_QUEUE_LIFO, .free_item = count_free};
    cr_assert_eq(cr_queue_new(&q, &o), 0);
    cr_queue_put(q, malloc(8));
    cr_queue_put(q, malloc(8));
    cr_queue_free(q);
    cr_assert_eq(nfreed, 2);
    return 0;
}

/* Bad use: unknown kind, free with waiters (-EBUSY); free_item owns leftovers. */
Test(queue, errors_and_item_ownership)
{
    cr_queue *q;
    cr_queue_opts o = {.kind = 42};
    cr_assert_eq(cr_queue_new(&q, &o), -EINVAL);
    cr_assert_eq(cr_queue_new(NULL, NULL), -EINVAL);
    cr_assert_eq(cr_queue_new(&q, NULL), 0);
    cr_assert_eq(cr_queue_get(q, NULL), -EPERM, "not in a task");
    cr_queue_free(q);
    memset(&LOG, 0, sizeof LOG);
    RUN_EXPECT(busy_main, NULL, 0);
}
