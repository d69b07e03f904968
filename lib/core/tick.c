/* SPDX-License-Identifier: MIT */
/*
 * tick.c — the loop's housekeeping tick: runs the resources' `tick` hooks
 * (resource.h) about once a period while one of them wants it, from a
 * timerfd read through the backend like any other fd.
 *
 * Why not a timer on the loop's heap: the earliest armed timer becomes the
 * timeout of every blocking wait (epoll_pwait2's, or io_uring_enter's), and
 * a wait with a timeout arms and cancels a kernel hrtimer each time. A busy
 * server blocks between most requests, so a trim timer that is always armed
 * under load (the stream-buffer cache's) cost 3-5% of the server's CPU per
 * request on epoll and 7-10% on io_uring, in a paired run against a build
 * without it (HTTP, 50 connections; docs/backends.md). A timerfd set once a
 * period costs one timerfd_settime and one read per period instead, and the
 * waits block with no timeout.
 *
 * Invariants: `armed` means the timerfd is set and its read is in the
 * backend (so the hooks will run); the two are set and cleared together; the read is weak (housekeeping never keeps
 * a loop alive). If the timerfd cannot be made or set (fd limit), or its
 * read fails, wants are dropped: housekeeping is skipped, never anything a
 * user waits for.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include "core/resource.h"
#include "core/tick.h"
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* Created at the first want and registered as a resource, so that the loop
 * knows nothing of it: its release (cr_loop_free, after the backend is gone
 * and with it the read) closes the timerfd. */
struct cr__tick {
    cr__resource res;
    cr_loop *loop;
    cr__op op;     /* the timerfd's read: in the backend while `armed` */
    uint64_t buf;  /* what the read returns (the expiry count) */
    int fd;        /* the timerfd */
    bool armed;    /* the timerfd is set and read: the hooks run within a period */
    bool broken;   /* its read failed: wants are dropped from then on */
};

static void tick_release(cr_loop *l, cr__resource *r)
{
    struct cr__tick *t = CR_CONTAINER_OF(r, struct cr__tick, res);
    close(t->fd);
    free(t);
    l->tick = NULL;
}

static const struct cr__resource_ops tick_ops = {
    .name = "housekeeping tick",
    .release = tick_release,
};

static void tick_done(cr__op *op, int res, unsigned flags)
{
    (void)flags;
    struct cr__tick *t = CR_CONTAINER_OF(op, struct cr__tick, op);
    cr_loop *l = t->loop;
    t->armed = false;
    /* The loop is closing (its resources are sealed, their state going):
     * nothing to keep tidy any more. */
    if (res == -ECANCELED || l->closed ||
        atomic_load_explicit(&l->resources, memory_order_acquire) == CR__RES_SEALED)
        return;
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        /* A read that fails would fail at once again: re-arming it would
         * keep the loop from ever sleeping. Housekeeping stops instead. */
        t->broken = true;
        return;
    }
    cr__loop_run_tick_hooks(l);
}

static struct cr__tick *tick_get(cr_loop *l)
{
    if (l->tick)
        return l->tick;
    struct cr__tick *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if ((t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        free(t);
        return NULL;
    }
    t->loop = l;
    if (cr__resource_add(l, &t->res, &tick_ops, false) < 0) {
        close(t->fd);
        free(t);
        return NULL;
    }
    return l->tick = t;
}

void cr__tick_want(cr_loop *l)
{
    struct cr__tick *t = l->tick;
    if (t && (t->armed || t->broken))
        return;
    if (!t && !(t = tick_get(l)))
        return;
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = CR__TICK_NS}};
    if (timerfd_settime(t->fd, 0, &its, NULL) < 0)
        return;
    cr__op_init(&t->op, CR__OP_READ, t->fd, tick_done);
    t->op.a.rw.buf = &t->buf;
    t->op.a.rw.len = sizeof t->buf;
    t->op.a.rw.off = (uint64_t)-1; /* no offset: preadv2 says ESPIPE to 0 */
    t->op.a.rw.flags = 0;
    t->op.weak = true;
    if (cr__be_submit(&l->be, &t->op) == 0)
        t->armed = true;
}
