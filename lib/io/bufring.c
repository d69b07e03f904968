/*
 * bufring.c — the loop's I/O state: its provided-buffer ring, the list of live
 * I/O objects that loop close frees, and multishot recv on top of the ring.
 *
 * Invariants:
 *  - A buffer is either in the ring (the kernel may fill it) or "held": queued
 *    in a cr_mrecv or in a reader's hands. held counts the latter; a buffer
 *    goes back only through cr__bufring_put.
 *  - A cr_mrecv's op is in the kernel while `armed`; its memory lives until the
 *    CQE without IORING_CQE_F_MORE (or until loop close, after the ring is gone).
 *  - ENOBUFS never reaches a reader: the recv goes on the starved list and is
 *    re-armed when a buffer comes back (or at once if one already has).
 *  - A reader that does not read holds at most max_queued buffers: past that the
 *    recv is cancelled (paused) and re-armed when the reader catches up.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- per-loop state and live objects ---- */

struct cr__io_state *cr__io_state(cr_loop *l)
{
    if (!l->io) {
        l->io = calloc(1, sizeof *l->io);
        if (l->io) {
            l->io->count = 1024;
            l->io->size = 4096;
        }
    }
    return l->io;
}

void cr__io_obj_add(cr_loop *l, cr__io_obj *o, void (*destroy)(cr__io_obj *))
{
    struct cr__io_state *s = l->io; /* callers made it with cr__io_state */
    o->destroy = destroy;
    o->prev = NULL;
    o->next = s->live;
    if (s->live)
        s->live->prev = o;
    s->live = o;
}

void cr__io_obj_del(cr_loop *l, cr__io_obj *o)
{
    struct cr__io_state *s = l->io;
    if (o->prev)
        o->prev->next = o->next;
    else if (s->live == o)
        s->live = o->next;
    if (o->next)
        o->next->prev = o->prev;
    o->prev = o->next = NULL;
}

void cr__io_loop_close(cr_loop *l)
{
    struct cr__io_state *s = l->io;
    if (!s)
        return;
    while (s->live) {
        cr__io_obj *o = s->live;
        cr__io_obj_del(l, o);
        o->destroy(o);
    }
    if (s->br)
        munmap(s->br, s->br_bytes);
    if (s->mem)
        munmap(s->mem, (size_t)s->count * s->size);
    free(s);
    l->io = NULL;
}

/* ---- parking with a user-space deadline ---- */

static void waiter_fire(cr__timer *tm)
{
    cr__waiter *w = CR_CONTAINER_OF(tm, cr__waiter, tm);
    *w->slot = NULL; /* the object is alive: freeing it would have woken us */
    cr__task_wake(w->t, -ETIMEDOUT);
}

static void waiter_cancel(cr__task *t, void *ctx)
{
    cr__waiter *w = ctx;
    if (*w->slot == w)
        *w->slot = NULL;
    cr__timer_disarm(t->f.loop, &w->tm);
    cr__task_wake(t, -ECANCELED);
}

int cr__park_until(cr__waiter **slot, int64_t deadline_ns)
{
    cr__task *t = cr__current();
    if (t->must_cancel) {
        cr__consume_cancel(t);
        return -ECANCELED;
    }
    cr__waiter w = {.t = t, .slot = slot};
    cr__timer_init(&w.tm, waiter_fire);
    if (deadline_ns >= 0) {
        if (deadline_ns <= cr__now_ns())
            return -ETIMEDOUT;
        int rc = cr__timer_arm(t->f.loop, &w.tm, deadline_ns);
        if (rc < 0)
            return rc;
    }
    *slot = &w;
    int rc = cr__park_nocheck(waiter_cancel, &w);
    /* Whoever woke us emptied the slot and disarmed the timer; the object may
     * be gone already, so neither is touched here. */
    if (rc == -ECANCELED)
        cr__consume_cancel(t);
    return rc;
}

void cr__wake_slot(cr__waiter **slot, int rc)
{
    cr__waiter *w = *slot;
    if (w) {
        *slot = NULL;
        cr__timer_disarm(w->t->f.loop, &w->tm);
        cr__task_wake(w->t, rc);
    }
}

/* ---- the provided-buffer ring ---- */

int cr_loop_set_buffers(cr_loop *loop, unsigned count, unsigned size)
{
    if (!loop || count == 0 || count > 32768 || (count & (count - 1)) || size == 0)
        return -EINVAL;
    int rc = cr__loop_check(loop);
    if (rc < 0)
        return rc;
    struct cr__io_state *s = cr__io_state(loop);
    if (!s)
        return -ENOMEM;
    if (s->registered)
        return -EBUSY;
    s->count = count;
    s->size = size;
    return 0;
}

int cr_loop_buffer_stats(cr_loop *loop, cr_bufring_stats *out)
{
    if (!loop || !out)
        return -EINVAL;
    struct cr__io_state *s = cr__io_state(loop);
    if (!s)
        return -ENOMEM;
    out->enobufs = s->enobufs;
    out->rearms = s->rearms;
    out->in_use = s->held;
    out->count = s->count;
    out->size = s->size;
    return 0;
}

int cr__bufring_ready(cr_loop *l)
{
    struct cr__io_state *s = cr__io_state(l);
    if (!s)
        return -ENOMEM;
    if (s->registered)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    s->br_bytes = ((size_t)s->count * sizeof(struct io_uring_buf) + page - 1) & ~(size_t)(page - 1);
    s->br = mmap(NULL, s->br_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->br == MAP_FAILED) {
        s->br = NULL;
        return -ENOMEM;
    }
    s->mem = mmap(NULL, (size_t)s->count * s->size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->mem == MAP_FAILED) {
        s->mem = NULL;
        munmap(s->br, s->br_bytes);
        s->br = NULL;
        return -ENOMEM;
    }
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uintptr_t)s->br;
    reg.ring_entries = s->count;
    reg.bgid = CR__BGID;
    int rc = io_uring_register_buf_ring(&l->ring, &reg, 0);
    if (rc < 0) {
        munmap(s->br, s->br_bytes);
        munmap(s->mem, (size_t)s->count * s->size);
        s->br = NULL;
        s->mem = NULL;
        return rc;
    }
    s->mask = io_uring_buf_ring_mask(s->count);
    io_uring_buf_ring_init(s->br);
    for (unsigned i = 0; i < s->count; i++)
        io_uring_buf_ring_add(s->br, cr__bufring_data(s, i), s->size, i, s->mask, i);
    io_uring_buf_ring_advance(s->br, s->count);
    s->registered = true;
    return 0;
}

static void mrecv_arm(cr_mrecv *m);

void cr__bufring_put(cr_loop *l, int bid)
{
    struct cr__io_state *s = l->io;
    io_uring_buf_ring_add(s->br, cr__bufring_data(s, bid), s->size, bid, s->mask, 0);
    io_uring_buf_ring_advance(s->br, 1);
    s->held--;
    /* Buffers are back: every recv that ran dry may go on. Re-arming all of
     * them costs one SQE each per returned buffer at worst, and only while the
     * ring is exhausted; a recv with no data pending takes no buffer. */
    cr_mrecv *m = s->starved;
    s->starved = NULL;
    while (m) {
        cr_mrecv *next = m->next_starved;
        m->next_starved = NULL;
        m->starved = false;
        if (!m->armed && !m->closing && !m->paused && !m->eof && !m->err) {
            s->rearms++;
            mrecv_arm(m);
        }
        m = next;
    }
}

/* ---- multishot recv ---- */

static void mrecv_complete(cr__op *op, int res, unsigned flags);

static void mrecv_send_cancel(cr_mrecv *m)
{
    if (!m->armed || m->cancel_sent)
        return;
    struct io_uring_sqe *sqe = cr__ring_sqe(m->loop, NULL);
    if (!sqe)
        return;
    io_uring_prep_cancel(sqe, &m->op, 0);
    m->cancel_sent = true;
}

static void mrecv_changed(cr_mrecv *m)
{
    if (m->closing)
        return; /* the owner let go: nobody to tell */
    cr__wake_slot(&m->waiter, 0);
    if (m->notify)
        m->notify(m->sink_ctx);
}

static void mrecv_arm(cr_mrecv *m)
{
    struct io_uring_sqe *sqe = cr__ring_sqe(m->loop, &m->op);
    if (!sqe) {
        m->err = -EIO;
        mrecv_changed(m);
        return;
    }
    io_uring_prep_recv_multishot(sqe, m->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = CR__BGID;
    m->armed = true;
    m->cancel_sent = false;
}

static void mrecv_destroy(cr__io_obj *o)
{
    cr_mrecv *m = CR_CONTAINER_OF(o, cr_mrecv, obj);
    free(m->q);
    free(m);
}

static void mrecv_unstarve(cr_mrecv *m)
{
    struct cr__io_state *s = m->loop->io;
    if (!m->starved)
        return;
    for (cr_mrecv **pp = &s->starved; *pp; pp = &(*pp)->next_starved) {
        if (*pp == m) {
            *pp = m->next_starved;
            break;
        }
    }
    m->next_starved = NULL;
    m->starved = false;
}

static void enqueue(cr_mrecv *m, int bid, unsigned len)
{
    if (m->qlen == m->qcap) {
        unsigned cap = m->qcap ? m->qcap * 2 : 16;
        struct cr__chunk *q = malloc(cap * sizeof *q);
        if (!q) {
            cr__bufring_put(m->loop, bid);
            m->err = -ENOMEM;
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
    cr_mrecv *m = CR_CONTAINER_OF(op, cr_mrecv, op);
    struct cr__io_state *s = m->loop->io;
    bool starve = false;
    if (flags & IORING_CQE_F_BUFFER) {
        int bid = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
        s->held++;
        if (res <= 0 || m->closing || m->err) {
            cr__bufring_put(m->loop, bid);
        } else if (m->sink) {
            /* The sink copies it out (the buffer goes straight back) or keeps
             * it for a zero-copy reader, who gives it back. */
            int kept = m->sink(m->sink_ctx, cr__bufring_data(s, bid), (size_t)res, bid);
            if (kept == CR__SINK_FAILED)
                m->err = -ENOMEM;
            if (kept != CR__SINK_KEPT)
                cr__bufring_put(m->loop, bid);
        } else {
            enqueue(m, bid, (unsigned)res);
        }
    }
    if (res == 0) {
        m->eof = true;
    } else if (res == -ENOBUFS) {
        s->enobufs++;
        starve = true;
    } else if (res < 0 && res != -ECANCELED && !m->err) {
        m->err = res;
    }
    if (!(flags & IORING_CQE_F_MORE)) {
        m->armed = false;
        m->cancel_sent = false;
        if (m->closing) {
            cr__io_obj_del(m->loop, &m->obj);
            mrecv_destroy(&m->obj);
            return;
        }
        if (m->eof || m->err || m->paused) {
            /* stays down: the reader sees it, or resume re-arms */
        } else if (starve && s->held >= s->count) {
            m->starved = true;
            m->next_starved = s->starved;
            s->starved = m;
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
    m->op.complete = mrecv_complete;
    m->loop = l;
    m->fd = fd;
    m->max_queued = max_queued ? max_queued : 16;
    cr__io_obj_add(l, &m->obj, mrecv_destroy);
    mrecv_arm(m);
    return 0;
}

void cr__mrecv_pause(cr_mrecv *m)
{
    if (m->paused)
        return;
    m->paused = true;
    mrecv_unstarve(m);
    mrecv_send_cancel(m);
}

void cr__mrecv_resume(cr_mrecv *m)
{
    if (!m->paused)
        return;
    m->paused = false;
    if (!m->armed && !m->closing && !m->eof && !m->err) {
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
    for (;;) {
        if (m->qlen) {
            struct cr__chunk c = m->q[m->qhead];
            m->qhead = (m->qhead + 1) % m->qcap;
            m->qlen--;
            out->bid = c.bid;
            out->len = c.len;
            out->data = cr__bufring_data(m->loop->io, c.bid);
            if (m->paused && m->qlen <= m->max_queued / 2)
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
    m->closing = true;
    mrecv_unstarve(m);
    while (m->qlen) {
        cr__bufring_put(m->loop, m->q[m->qhead].bid);
        m->qhead = (m->qhead + 1) % m->qcap;
        m->qlen--;
    }
    cr__wake_slot(&m->waiter, -ESHUTDOWN);
    if (m->armed) {
        mrecv_send_cancel(m); /* freed at the final CQE */
        return;
    }
    cr__io_obj_del(m->loop, &m->obj);
    mrecv_destroy(&m->obj);
}
