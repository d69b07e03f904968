/* SPDX-License-Identifier: MIT */
/*
 * iostate.c — the loop's I/O state: created on the first I/O object or
 * buffer request and registered as a resource, it keeps the list of live
 * heap I/O objects (acceptors, multishot recvs, streams, servers) that loop
 * close must free, and the provided buffers' memory (bufpool.c).
 *
 * Invariant: every heap I/O object whose op may still be with the backend is
 * on the live list; at loop close (after the backend is gone) each one's
 * destroy closes its fds and frees it without touching the backend.
 *
 * Loop thread only.
 */
#include "io/io.h"
#include "core/tick.h"
#include <stdlib.h>
#include <sys/mman.h>

static void io_close(cr_loop *l, cr__resource *r, enum cr__close_stage stage);
static void io_release(cr_loop *l, cr__resource *r);
static void io_tick(cr_loop *l, cr__resource *r);
static bool io_before_block(cr_loop *l, cr__resource *r);
static void io_flush(cr_loop *l, cr__resource *r);

static const struct cr__resource_ops io_ops = {
    .name = "I/O objects and buffers",
    .close = io_close,
    .release = io_release,
    .tick = io_tick,
    .before_block = io_before_block,
    .flush = io_flush,
    .end_run = io_flush,
};

/* Before the next poll (asked for by kick_send), when the loop stops running,
 * and at close while the backend still runs: the sends streams left for the
 * loop's turn (epoll). */
static void io_flush(cr_loop *l, cr__resource *r)
{
    (void)l;
    struct cr__io_state *s = CR_CONTAINER_OF(r, struct cr__io_state, res);
    if (s->flush)
        s->flush_fn(s); /* stream.c's: it listed them */
}

/* About to sleep, on the loop's stack: a trim asked for meanwhile (a flag
 * set by a put, bufpool.c) gets its tick armed. */
static bool io_before_block(cr_loop *l, cr__resource *r)
{
    if (CR_CONTAINER_OF(r, struct cr__io_state, res)->sbufs.trim_wanted)
        cr__tick_want(l);
    return false;
}

/* Housekeeping: the stream-buffer cache's trim (bufpool.c). */
static void io_tick(cr_loop *l, cr__resource *r)
{
    (void)l;
    cr__sbuf_trim(&CR_CONTAINER_OF(r, struct cr__io_state, res)->sbufs);
}

struct cr__io_state *cr__io_state(cr_loop *l)
{
    if (l->io)
        return l->io;
    struct cr__io_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->count = 1024;
    s->size = 4096;
    cr__list_init(&s->live);
    cr__list_init(&s->starved);
    if (cr__resource_add(l, &s->res, &io_ops, false) < 0) {
        free(s);
        return NULL;
    }
    l->io = s;
    return s;
}

void cr__io_obj_add(cr_loop *l, cr__io_obj *o, void (*destroy)(cr__io_obj *))
{
    struct cr__io_state *s = l->io; /* callers made it with cr__io_state */
    o->destroy = destroy;
    cr__list_push_front(&s->live, &o->link);
}

void cr__io_obj_del(cr_loop *l, cr__io_obj *o)
{
    (void)l;
    cr__list_del(&o->link);
}

/* Loop close, once the backend is gone (stage FREE): the kernel no longer
 * holds any op of these objects nor any buffer, so they go without a word
 * to it: fds closed, memory freed. */
static void io_close(cr_loop *l, cr__resource *r, enum cr__close_stage stage)
{
    struct cr__io_state *s = CR_CONTAINER_OF(r, struct cr__io_state, res);
    if (stage != CR__CLOSE_FREE) {
        io_flush(l, r); /* the backend still runs: what was written goes out */
        return;
    }
    s->flush = NULL; /* its streams are freed below, sent or not */
    cr__list *n;
    while ((n = cr__list_first(&s->live))) {
        cr__io_obj *o = CR_CONTAINER_OF(n, cr__io_obj, link);
        cr__io_obj_del(l, o);
        o->destroy(o);
    }
    cr__sbuf_pool_free(s); /* the streams gave their buffers back above */
    if (s->mem)
        munmap(s->mem, (size_t)s->count * s->size);
    s->mem = NULL;
}

static void io_release(cr_loop *l, cr__resource *r)
{
    free(CR_CONTAINER_OF(r, struct cr__io_state, res));
    l->io = NULL;
}

