/* SPDX-License-Identifier: MIT */
/*
 * acceptor.c — cr_acceptor: one multishot accept on a listening socket,
 * queueing the new fds for cr_acceptor_next or for a server (server.c).
 *
 * Invariants:
 *  - The op lives until its completion without CR__OPF_MORE; fds that
 *    arrive after cr_acceptor_free are closed, never leaked.
 *  - Out of fds or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the accept
 *    stops and backs off (1 ms doubling to 100 ms) instead of spinning.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <stdlib.h>
#include <unistd.h>

struct cr_acceptor {
    cr__mshot ms; /* the multishot accept */
    cr__io_obj obj;
    cr_loop *loop;
    int lfd;
    int *q; /* FIFO of accepted fds */
    unsigned qhead, qlen, qcap;
    int err;
    bool closing;
    bool out_of_fds;  /* EMFILE & co seen: back off when the op ends */
    cr__timer backoff;
    int64_t backoff_ns;
    cr__waiter *waiter;
    cr_acceptor_stats st;
    void (*notify)(void *ctx); /* servers: an fd is queued */
    void *notify_ctx;
};

static void acc_complete(cr__op *op, int res, unsigned flags);

static void acc_arm(cr_acceptor *a)
{
    int rc = cr__mshot_arm(&a->loop->be, &a->ms);
    if (rc < 0)
        a->err = rc;
}

static void acc_cancel(cr_acceptor *a) { cr__mshot_cancel(&a->loop->be, &a->ms); }

static void acc_destroy(cr__io_obj *o)
{
    cr_acceptor *a = CR_CONTAINER_OF(o, cr_acceptor, obj);
    while (a->qlen) {
        close(a->q[a->qhead]);
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qlen--;
    }
    free(a->q);
    free(a);
}

static void acc_backoff_fire(cr__timer *tm)
{
    cr_acceptor *a = CR_CONTAINER_OF(tm, cr_acceptor, backoff);
    if (!a->ms.armed && !a->closing) {
        a->st.rearms++;
        acc_arm(a);
    }
}

static bool acc_push(cr_acceptor *a, int fd)
{
    if (a->qlen == a->qcap) {
        unsigned cap = a->qcap ? a->qcap * 2 : 16;
        int *q = malloc(cap * sizeof *q);
        if (!q)
            return false;
        for (unsigned i = 0; i < a->qlen; i++)
            q[i] = a->q[(a->qhead + i) % a->qcap];
        free(a->q);
        a->q = q;
        a->qcap = cap;
        a->qhead = 0;
    }
    a->q[(a->qhead + a->qlen) % a->qcap] = fd;
    a->qlen++;
    return true;
}

static void acc_complete(cr__op *op, int res, unsigned flags)
{
    cr_acceptor *a = CR_CONTAINER_OF(op, cr_acceptor, ms.op);
    bool more = flags & CR__OPF_MORE;
    if (res >= 0) {
        if (a->closing || !acc_push(a, res))
            close(res); /* nobody will take it */
        else
            a->st.accepted++;
    } else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        /* Out of fds or memory: retrying at once would spin. Stop (if the
         * kernel did not), then back off. */
        a->st.emfile++;
        a->out_of_fds = true;
        if (more)
            acc_cancel(a);
    } else if (!more && (res == -EBADF || res == -EINVAL || res == -ENOTSOCK)) {
        a->err = res; /* the listener is gone: the waiter sees it */
    }
    if (cr__mshot_ended(&a->ms, flags)) {
        if (a->closing) {
            cr__io_obj_del(a->loop, &a->obj);
            acc_destroy(&a->obj);
            return;
        }
        if (a->err) {
            /* dead */
        } else if (a->out_of_fds) {
            a->out_of_fds = false;
            a->backoff_ns = a->backoff_ns ? a->backoff_ns * 2 : 1000000;
            if (a->backoff_ns > 100000000)
                a->backoff_ns = 100000000;
            cr__timer_arm(a->loop, &a->backoff, cr__now_ns() + a->backoff_ns);
        } else {
            a->st.rearms++;
            acc_arm(a);
        }
    }
    if (res >= 0)
        a->backoff_ns = 0; /* accepting again: the next EMFILE starts at 1 ms */
    cr__wake_slot(&a->waiter, 0);
    if (a->notify && (a->qlen || a->err))
        a->notify(a->notify_ctx);
}

int cr_acceptor_new(cr_loop *loop, int lfd, cr_acceptor **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (lfd < 0)
        return -EBADF;
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    if (!cr__io_state(loop))
        return -ENOMEM;
    cr_acceptor *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    cr__op_init(&a->ms.op, CR__OP_ACCEPT_MULTI, lfd, acc_complete);
    a->loop = loop;
    a->lfd = lfd;
    cr__timer_init(&a->backoff, acc_backoff_fire);
    cr__io_obj_add(loop, &a->obj, acc_destroy);
    acc_arm(a);
    *out = a;
    return 0;
}

int cr__acceptor_pop(cr_acceptor *a)
{
    if (a->qlen) {
        int fd = a->q[a->qhead];
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qlen--;
        return fd;
    }
    return a->err ? a->err : -EAGAIN;
}

void cr__acceptor_set_notify(cr_acceptor *a, void (*fn)(void *), void *ctx)
{
    a->notify = fn;
    a->notify_ctx = ctx;
}

int cr_acceptor_next(cr_acceptor *a, double timeout)
{
    cr__task *t;
    if (!a)
        return -EINVAL;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (a->waiter)
        return -EBUSY;
    int64_t deadline = cr__deadline(timeout);
    if (deadline == CR__BAD_DEADLINE)
        return -EINVAL; /* NaN, even when something is ready (one rule) */
    for (;;) {
        int fd = cr__acceptor_pop(a);
        if (fd != -EAGAIN)
            return fd;
        rc = cr__park_until(&a->waiter, deadline);
        if (rc < 0)
            return rc;
    }
}

void cr_acceptor_kick(cr_acceptor *a)
{
    if (!a || a->closing || a->ms.armed || !cr__timer_armed(&a->backoff))
        return;
    cr__timer_disarm(a->loop, &a->backoff);
    a->st.rearms++;
    acc_arm(a);
}

void cr_acceptor_get_stats(const cr_acceptor *a, cr_acceptor_stats *out)
{
    if (a && out)
        *out = a->st;
}

void cr_acceptor_free(cr_acceptor *a)
{
    if (!a)
        return;
    a->closing = true;
    cr__timer_disarm(a->loop, &a->backoff);
    while (a->qlen) {
        close(a->q[a->qhead]);
        a->qhead = (a->qhead + 1) % a->qcap;
        a->qlen--;
    }
    cr__wake_slot(&a->waiter, -ESHUTDOWN);
    if (a->ms.armed) {
        acc_cancel(a); /* freed at the final CQE */
        return;
    }
    cr__io_obj_del(a->loop, &a->obj);
    acc_destroy(&a->obj);
}
