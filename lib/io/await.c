/* SPDX-License-Identifier: MIT */
/*
 * await.c — the awaitable single-shot operation: a task describes one
 * kernel operation, submits it through its loop's backend and parks until
 * the completion, with an optional deadline and cancel-safety.
 *
 * Invariants (internal rule 3):
 *  - The op and whatever it points at live on the task's stack; the task
 *    stays parked until the backend has delivered the op's final completion,
 *    even when it is cancelled or its deadline passes (those only ask the
 *    backend to cancel). Only then does cr__io_wait return.
 *  - A result that won the race against a cancel or a deadline is returned
 *    (and an fd it produced is closed if the task was cancelled meanwhile:
 *    cr__io_fd_result).
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <string.h>

static void io_complete(cr__op *op, int res, unsigned flags)
{
    struct cr__io *io = CR_CONTAINER_OF(op, struct cr__io, op);
    io->res = res;
    io->flags = flags;
    io->done = true;
    cr__timer_disarm(io->loop, &io->deadline);
    cr__task_wake(io->task, 0);
}

/* Ask the backend to cancel io; the task stays parked until io's completion. */
static void io_send_cancel(struct cr__io *io)
{
    if (io->cancel_sent || io->done)
        return;
    cr__be_cancel(&io->loop->be, &io->op);
    io->cancel_sent = true;
}

static void io_on_cancel(cr__task *t, void *ctx)
{
    (void)t;
    io_send_cancel(ctx);
}

static void io_on_deadline(cr__timer *tm)
{
    struct cr__io *io = CR_CONTAINER_OF(tm, struct cr__io, deadline);
    io->timed_out = true;
    io_send_cancel(io);
}

int cr__io_begin(struct cr__io *io, int code, int fd)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    memset(io, 0, sizeof *io);
    cr__op_init(&io->op, code, fd, io_complete);
    io->task = t;
    io->loop = t->f.loop;
    cr__timer_init(&io->deadline, io_on_deadline);
    return 0;
}

int cr__io_wait(struct cr__io *io, int64_t deadline_ns)
{
    if (deadline_ns == CR__BAD_DEADLINE)
        return -EINVAL; /* a NaN timeout; nothing was submitted */
    int rc = cr__be_submit(&io->loop->be, &io->op);
    if (rc < 0)
        return rc;
    if (deadline_ns >= 0 && cr__timer_arm(io->loop, &io->deadline, deadline_ns) < 0)
        io_send_cancel(io); /* cannot time it: fail it rather than wait forever */
    /* Rule 3: the kernel may write into this stack until io->done. */
    io->task->waiting_on = "io";
    while (!io->done)
        cr__park_nocheck(io_on_cancel, io);
    if (io->res == -ECANCELED) {
        if (io->task->must_cancel) {
            cr__consume_cancel(io->task);
            return -ECANCELED;
        }
        if (io->timed_out)
            return -ETIMEDOUT;
    }
    return io->res;
}
