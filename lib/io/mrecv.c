/* SPDX-License-Identifier: MIT */
/*
 * mrecv.c — multishot recv into provided buffers: one long-lived op per
 * socket that delivers each chunk as it arrives, either to a sink (streams)
 * or to a queue a task reads (cr_mrecv_next).
 *
 * Invariants:
 *  - The op is with the backend while armed; the cr_mrecv's memory lives
 *    until the completion without CR__OPF_MORE (or until loop close, after
 *    the backend is gone).
 *  - ENOBUFS never reaches a reader: the recv goes on the starved list and is
 *    re-armed when a buffer comes back (or at once if one already has).
 *  - A reader that does not read holds at most max_queued buffers: past that
 *    the recv is cancelled (paused) and re-armed when the reader catches up.
 *
 * States (enum cr__mrecv_state in io.h; whether the op is with the backend
 * is ms.armed, orthogonal to them):
 *
 *               reader behind: pause (cancel the op)
 *   RECEIVING ───────────────────────────────────────▶ PAUSED
 *     ▲  ▲  │  ◀─────────────────────────────────────────┘
 *     │  │  │      reader caught up: resume (re-arm once the op has ended)
 *     │  │  │
 *     │  │  └─ final completion with ENOBUFS, pool empty ─▶ STARVED
 *     │  └──────────────── a buffer comes back: re-arm ──────┘
 *     │
 *     └─ final completion otherwise: re-arm at once
 *
 *   RECEIVING / PAUSED / STARVED ── EOF or error ──▶ ENDED (sticky)
 *   any ── cr_mrecv_free ──▶ CLOSING ── final completion ──▶ freed
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void mrecv_complete(cr__op *op, int res, unsigned flags);
static void mrecv_arm(cr_mrecv *m);

/* A buffer came back to the pool while we were STARVED. */
static void mrecv_fed(cr__buf_waiter *w)
{
    cr_mrecv *m = CR_CONTAINER_OF(w, cr_mrecv, starve);
    if (m->state != CR__MR_STARVED)
        return;
    m->state = CR__MR_RECEIVING;
    if (!m->ms.armed) {
        m->loop->io->rearms++;
        mrecv_arm(m);
    }
}

/* The recv ended for the reader: EOF (err 0) or a sticky error. */
static void mrecv_end(cr_mrecv *m, int err)
{
    if (err && !m->err)
        m->err = err;
    if (!err)
        m->eof = true;
    if (m->state == CR__MR_STARVED)
        cr__list_del(&m->starve.link);
    if (m->state != CR__MR_CLOSING)
        m->state = CR__MR_ENDED;
}

static void mrecv_send_cancel(cr_mrecv *m) { cr__mshot_cancel(&m->loop->be, &m->ms); }

static void mrecv_changed(cr_mrecv *m)
{
    if (m->state == CR__MR_CLOSING)
        return; /* the owner let go: nobody to tell */
    cr__wake_slot(&m->waiter, 0);
    if (m->notify)
        m->notify(m->sink_ctx);
}

static void mrecv_arm(cr_mrecv *m)
{
    int rc = cr__mshot_arm(&m->loop->be, &m->ms);
    if (rc < 0) {
        mrecv_end(m, rc);
        mrecv_changed(m);
    }
}

static void mrecv_destroy(cr__io_obj *o)
{
    cr_mrecv *m = CR_CONTAINER_OF(o, cr_mrecv, obj);
    free(m->q);
    free(m);
}

static void enqueue(cr_mrecv *m, int bid, unsigned len)
{
    if (m->qlen == m->qcap) {
        unsigned cap = m->qcap ? m->qcap * 2 : 16;
        struct cr__chunk *q = malloc(cap * sizeof *q);
        if (!q) {
            cr__bufring_put(m->loop, bid);
            mrecv_end(m, -ENOMEM);
            return;
        }
        for (unsigned i = 0; i < m->qlen; i++)
            q[i] = m->q[(m->qhead + i) % m->qcap];
        free(m->q);
        m->q = q;
        m->qcap = cap;
        m->qhead = 0;
    }
    m->q[(m->qhead + m->qlen) % m->qcap] = (struct cr__chunk){bid, len};
    m->qlen++;
    if (m->qlen >= m->max_queued)
        cr__mrecv_pause(m);
}

static void mrecv_complete(cr__op *op, int res, unsigned flags)
{
    cr_mrecv *m = CR_CONTAINER_OF(op, cr_mrecv, ms.op);
    struct cr__io_state *s = m->loop->io;
    bool starve = false;
    if (flags & CR__OPF_BUFFER) {
        int bid = (int)(flags >> CR__OPF_BID_SHIFT);
        s->held++;
        if (res <= 0 || m->state == CR__MR_CLOSING || m->err) {
            cr__bufring_put(m->loop, bid);
        } else if (m->sink) {
            /* The sink copies it out (the buffer goes straight back) or keeps
             * it for a zero-copy reader, who gives it back. */
            int kept = m->sink(m->sink_ctx, cr__bufring_data(s, bid), (size_t)res, bid);
            if (kept == CR__SINK_FAILED)
                mrecv_end(m, -ENOMEM);
            if (kept != CR__SINK_KEPT)
                cr__bufring_put(m->loop, bid);
        } else {
            enqueue(m, bid, (unsigned)res);
        }
    }
    if (res == 0) {
        mrecv_end(m, 0);
    } else if (res == -ENOBUFS) {
        s->enobufs++;
        starve = true;
    } else if (res < 0 && res != -ECANCELED && !m->err) {
        mrecv_end(m, res);
    }
    if (cr__mshot_ended(&m->ms, flags)) {
        if (m->state == CR__MR_CLOSING) {
            cr__io_obj_del(m->loop, &m->obj);
            mrecv_destroy(&m->obj);
            return;
        }
        if (m->state == CR__MR_ENDED || m->state == CR__MR_PAUSED) {
            /* stays down: the reader sees it, or resume re-arms */
        } else if (starve && s->held >= s->count) {
            m->state = CR__MR_STARVED;
            cr__bufpool_wait(m->loop, &m->starve);
        } else {
            /* The kernel ended it without an error (or ENOBUFS raced with a
             * buffer coming back, or someone else cancelled it): go on. */
            s->rearms++;
            mrecv_arm(m);
        }
    }
    mrecv_changed(m);
}

int cr__mrecv_init(cr_mrecv *m, cr_loop *l, int fd, unsigned max_queued)
{
    int rc = cr__bufring_ready(l);
    if (rc < 0)
        return rc;
    memset(m, 0, sizeof *m);
    cr__op_init(&m->ms.op, CR__OP_RECV_MULTI, fd, mrecv_complete);
    m->loop = l;
    m->fd = fd;
    m->max_queued = max_queued ? max_queued : 16;
    m->state = CR__MR_RECEIVING;
    cr__list_init(&m->starve.link);
    m->starve.fed = mrecv_fed;
    cr__io_obj_add(l, &m->obj, mrecv_destroy);
    mrecv_arm(m);
    return 0;
}

void cr__mrecv_pause(cr_mrecv *m)
{
    if (m->state == CR__MR_STARVED)
        cr__list_del(&m->starve.link);
    else if (m->state != CR__MR_RECEIVING)
        return;
    m->state = CR__MR_PAUSED;
    mrecv_send_cancel(m);
}

void cr__mrecv_resume(cr_mrecv *m)
{
    if (m->state != CR__MR_PAUSED)
        return;
    m->state = CR__MR_RECEIVING;
    if (!m->ms.armed) {
        m->loop->io->rearms++;
        mrecv_arm(m);
    }
}

void cr__mrecv_kick_for_test(cr_mrecv *m) { mrecv_send_cancel(m); }

int cr_mrecv_new(cr_loop *loop, int fd, unsigned max_queued, cr_mrecv **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    cr_mrecv *m = aligned_alloc(_Alignof(cr_mrecv), sizeof *m);
    if (!m)
        return -ENOMEM;
    rc = cr__mrecv_init(m, loop, fd, max_queued);
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

ssize_t cr_mrecv_next(cr_mrecv *m, cr_buf *out, double timeout)
{
    cr__task *t;
    if (!m || !out)
        return -EINVAL;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    if (m->waiter)
        return -EBUSY;
    int64_t deadline = cr__deadline(timeout);
    if (deadline == CR__BAD_DEADLINE)
        return -EINVAL; /* NaN, even when something is ready (one rule) */
    for (;;) {
        if (m->qlen) {
            struct cr__chunk c = m->q[m->qhead];
            m->qhead = (m->qhead + 1) % m->qcap;
            m->qlen--;
            out->bid = c.bid;
            out->len = c.len;
            out->data = cr__bufring_data(m->loop->io, c.bid);
            if (m->state == CR__MR_PAUSED && m->qlen <= m->max_queued / 2)
                cr__mrecv_resume(m);
            return (ssize_t)c.len;
        }
        if (m->err)
            return m->err;
        if (m->eof)
            return 0;
        rc = cr__park_until(&m->waiter, deadline);
        if (rc < 0)
            return rc;
    }
}

void cr_mrecv_release(cr_mrecv *m, cr_buf *b)
{
    if (!m || !b || b->bid < 0)
        return;
    cr__bufring_put(m->loop, b->bid);
    b->bid = -1;
    b->data = NULL;
    b->len = 0;
}

void cr_mrecv_free(cr_mrecv *m)
{
    if (!m)
        return;
    if (m->state == CR__MR_STARVED)
        cr__list_del(&m->starve.link);
    m->state = CR__MR_CLOSING;
    while (m->qlen) {
        cr__bufring_put(m->loop, m->q[m->qhead].bid);
        m->qhead = (m->qhead + 1) % m->qcap;
        m->qlen--;
    }
    cr__wake_slot(&m->waiter, -ESHUTDOWN);
    if (m->ms.armed) {
        mrecv_send_cancel(m); /* freed at the final CQE */
        return;
    }
    cr__io_obj_del(m->loop, &m->obj);
    mrecv_destroy(&m->obj);
}
