/* SPDX-License-Identifier: MIT */
/*
 * io-internal.h — what the I/O files (bufring.c, net.c, fs.c, stream.c,
 * server.c) share: the per-loop I/O state, the list of live I/O objects that
 * loop close frees, and the multishot recv that streams build on.
 *
 * Loop thread only.
 */
#ifndef CORING_IO_INTERNAL_H
#define CORING_IO_INTERNAL_H

#include "core/internal.h"

/* Every heap I/O object whose ops may still be in the kernel is on its loop's
 * live list; cr_loop_close (after the ring is gone) calls destroy on those
 * left, which closes their fds and frees them without touching the ring. */
typedef struct cr__io_obj cr__io_obj;
struct cr__io_obj {
    cr__list link; /* on the loop's live list */
    void (*destroy)(cr__io_obj *o);
};

typedef struct cr_mrecv cr_mrecv;

/* The loop's cache of stream buffers (bufpool.c): page-sized, page-aligned
 * buffers that streams take for their read and write buffers when bytes
 * arrive or are written, and give back when they are empty and the stream
 * goes idle. free[] is a LIFO stack: its top entries are warm (their page is
 * resident), its bottom nclean entries were given back to the kernel
 * (MADV_DONTNEED) by the trim, which runs on the loop's housekeeping tick
 * (core/tick.c) while the cache holds more than a small reserve: after one
 * tick with no get at all, or else every CR__SBUF_BUSY_TICKS ticks (bufpool.c
 * says why). */
#define CR__SBUF_SIZE 4096
struct cr__sbuf_pool {
    cr_loop *loop;
    char **free;          /* capacity >= every page ever carved: puts never grow it */
    size_t nfree, cap, nclean;
    size_t low_water;     /* least nfree since the last trim (>= nclean) */
    bool took;            /* a get since the last tick: the loop is busy */
    unsigned busy_ticks;  /* busy ticks since the last trim (bufpool.c) */
    size_t carved;        /* pages ever carved: nfree of them are free */
    char *cur;            /* the chunk being carved */
    size_t left;          /* pages not yet carved in cur */
    char **chunks;        /* every chunk, unmapped at loop close */
    size_t nchunks, chunks_cap;
    /* A trim is asked for, one period from now, on the loop's tick: not a
     * timer, which, armed all through a busy period, would put a timeout on
     * every blocking wait (core/tick.c says what that cost). Only a flag:
     * puts may run on a lean task's stack, too small for the system calls
     * of arming, so iostate.c's before_block hook arms the tick from the
     * loop's own stack; an always-busy loop thus trims once it next sleeps. */
    bool trim_wanted;
};

struct cr__io_state {
    cr__resource res; /* on the loop's list (core/resource.h) */
    cr__list live;       /* cr__io_obj.link */
    /* the provided buffers (the backend's pool behind RECV_MULTI) */
    char *mem;
    unsigned count, size;
    unsigned held;       /* buffers out of the ring (queued or with a reader) */
    bool registered;
    cr__list starved;    /* cr__buf_waiter.link: stopped by ENOBUFS, waiting for buffers */
    uint64_t enobufs, rearms;
    struct cr__sbuf_pool sbufs; /* stream buffers (bufpool.c) */
    struct cr_stream *flush; /* epoll: streams owed a send(2) before the next poll (stream.c) */
    void (*flush_fn)(struct cr__io_state *io); /* stream.c's, set when it first lists one */
};

CR_HIDDEN struct cr__io_state *cr__io_state(cr_loop *l); /* NULL: out of memory */
/* The sends streams left for the loop's turn (epoll: kick_send in stream.c)
 * are made by io->flush_fn, on the loop's stack: the stream layer sets it,
 * so that iostate.c, below it, calls up without naming it. */
CR_HIDDEN void cr__io_obj_add(cr_loop *l, cr__io_obj *o, void (*destroy)(cr__io_obj *));
CR_HIDDEN void cr__io_obj_del(cr_loop *l, cr__io_obj *o);
/* Registers the buffer ring on first use. */
CR_HIDDEN int cr__bufring_ready(cr_loop *l);
CR_HIDDEN void cr__bufring_put(cr_loop *l, int bid);
/* Slow path of cr__sbuf_get (bufpool.c): carve a new page (mmap a chunk
 * when need be). */
CR_HIDDEN char *cr__sbuf_carve(cr_loop *l);
/* The loop's tick (iostate.c's hook): the trim's period is over. */
CR_HIDDEN void cr__sbuf_trim(struct cr__sbuf_pool *p);
#define CR__SBUF_RESERVE 16 /* warm pages kept through a trim */
#define CR__SBUF_BUSY_TICKS 10 /* a busy loop trims once a second (10 ticks) */

/* A CR__SBUF_SIZE buffer for a stream, or NULL (out of memory). Inline: a
 * busy connection takes one or two per request (the warmest page on top). */
static inline char *cr__sbuf_get(cr_loop *l)
{
    struct cr__sbuf_pool *p = &l->io->sbufs; /* streams made the I/O state */
    p->took = true;
    if (__builtin_expect(!p->nfree, 0))
        return cr__sbuf_carve(l);
    char *b = p->free[--p->nfree];
    if (p->low_water > p->nfree) { /* nclean <= low_water: one test, usually */
        p->low_water = p->nfree;
        if (p->nclean > p->nfree)
            p->nclean = p->nfree; /* a given-back page: it faults in again */
    }
    return b;
}

/* Gives back a buffer from cr__sbuf_get. Never allocates (safe on a lean
 * task's stack): its page stays warm for the next get until the trim. */
static inline void cr__sbuf_put(cr_loop *l, char *b)
{
    struct cr__sbuf_pool *p = &l->io->sbufs;
    p->free[p->nfree++] = b; /* cap covers every carved page */
    if (p->nfree - p->nclean > CR__SBUF_RESERVE)
        p->trim_wanted = true;
}
/* Loop close, after every stream is gone: the chunks are unmapped. */
CR_HIDDEN void cr__sbuf_pool_free(struct cr__io_state *s);
/* Test seam: the bytes of buffers a stream holds (read, write, pinned). */
CR_HIDDEN size_t cr__stream_buffer_bytes(const cr_stream *s);
static inline char *cr__bufring_data(struct cr__io_state *s, int bid)
{
    return s->mem + (size_t)bid * s->size;
}

/* Deadline helper: timeout seconds (< 0, +inf or beyond int64 ns = none) →
 * absolute ns or -1; NaN → CR__BAD_DEADLINE, which cr__io_wait and
 * cr__park_until answer with -EINVAL (timer.h: the one rule for times). */
static inline int64_t cr__deadline(double timeout)
{
    if (timeout != timeout)
        return CR__BAD_DEADLINE;
    if (timeout < 0)
        return -1;
    int64_t dl = cr__add_sat(cr__now_ns(), cr__secs_to_ns(timeout));
    return dl == CR__NEVER ? -1 : dl;
}



/* ---- multishot recv (bufring.c) ---- */

/* Something waiting for the pool to have buffers again (bufpool.c calls fed
 * once a buffer comes back; the waiter is off the list by then). */
typedef struct cr__buf_waiter cr__buf_waiter;
struct cr__buf_waiter {
    cr__list link;
    void (*fed)(cr__buf_waiter *w);
};
CR_HIDDEN void cr__bufpool_wait(cr_loop *l, cr__buf_waiter *w);

/* A sink takes a chunk as it arrives (stream.c). It returns CR__SINK_COPIED
 * (the data was copied out: the buffer goes straight back to the ring),
 * CR__SINK_KEPT (the sink keeps buffer `bid` and returns it later with
 * cr__bufring_put: zero-copy reads) or CR__SINK_FAILED (out of memory). */
enum { CR__SINK_FAILED = 0, CR__SINK_COPIED = 1, CR__SINK_KEPT = 2 };
typedef int (*cr__mrecv_sink)(void *ctx, const char *data, size_t len, int bid);

struct cr__chunk {
    int bid;
    unsigned len;
};

/* The first cache line holds what a CQE touches (streams allocate it 64-byte
 * aligned); the rest is for queueing readers, starvation and teardown. */
/* Why a multishot recv is (not) receiving; whether its op is with the
 * backend is ms.armed. The diagram is in mrecv.c. */
enum cr__mrecv_state {
    CR__MR_RECEIVING, /* armed, or about to be re-armed */
    CR__MR_PAUSED,    /* the reader is behind: op cancelled, resume re-arms */
    CR__MR_STARVED,   /* the pool ran dry: on its waiter list */
    CR__MR_ENDED,     /* EOF or an error (sticky, the reader sees it) */
    CR__MR_CLOSING,   /* its owner let go: freed at the op's final completion */
};

/* Laid out by heat: a chunk's completion reads the fields before `ms` and
 * the op's first 16 bytes (complete, code, fd: all the epoll backend reads of
 * a queued multishot op, and the completion's dispatch on io_uring), one
 * cache line (asserted below): at hundreds of connections a loop, each line
 * is a miss per request. */
struct cr_mrecv {
    _Alignas(64) cr_loop *loop;
    cr__mrecv_sink sink;
    void *sink_ctx;
    void (*notify)(void *ctx); /* something changed (data, EOF, error) */
    cr__waiter *waiter;
    int err;             /* sticky: 0, or the socket's error */
    bool eof;
    uint8_t state;       /* enum cr__mrecv_state (mrecv.c has the diagram) */
    cr__mshot ms;        /* the multishot recv */
    /* -- colder -- */
    cr__io_obj obj;
    int fd;
    unsigned max_queued;
    struct cr__chunk *q; /* FIFO ring of received chunks */
    unsigned qhead, qlen, qcap;
    cr__buf_waiter starve; /* on the pool's list while STARVED */
};

_Static_assert(offsetof(struct cr_mrecv, ms.op.fd) + sizeof(int) <= 64,
               "a chunk's completion reads one line of a cr_mrecv");

CR_HIDDEN int cr__mrecv_init(cr_mrecv *m, cr_loop *l, int fd, unsigned max_queued);
/* Pause (cancels the op) / resume (re-arms) reception: sink back-pressure. */
CR_HIDDEN void cr__mrecv_pause(cr_mrecv *m);
CR_HIDDEN void cr__mrecv_resume(cr_mrecv *m);
static inline bool cr__mrecv_paused(const cr_mrecv *m) { return m->state == CR__MR_PAUSED; }
/* Test seam: cancel the op as if the kernel had ended it (no F_MORE). */
CR_HIDDEN void cr__mrecv_kick_for_test(cr_mrecv *m);

/* ---- the acceptor (acceptor.c), for servers (server.c) ---- */

/* Pop a queued fd without suspending; -EAGAIN if none (or the error). */
CR_HIDDEN int cr__acceptor_pop(cr_acceptor *a);
/* fn(ctx) runs when an fd is queued or the acceptor fails. */
CR_HIDDEN void cr__acceptor_set_notify(cr_acceptor *a, void (*fn)(void *), void *ctx);

/* ---- hostname resolution (resolve.c) ---- */

struct addrinfo;
/* cr_getaddrinfo with a deadline (absolute ns, < 0 = none): -ETIMEDOUT when it
 * passes; the lookup runs on alone and frees its own result. */
CR_HIDDEN int cr__getaddrinfo_until(const char *host, const char *port,
                                    const struct addrinfo *hints, struct addrinfo **res,
                                    int64_t deadline_ns);


/* ---- the awaitable single-shot op (await.c) ---- */

/* Usage:
 *     CR__IO_START(io, CR__OP_RECV, fd);      // declares io; returns on error
 *     io.op.a.rw.buf = buf; ...               // the op's arguments
 *     return cr__io_wait(&io, deadline_ns);   // submit and park; -1: no deadline
 */
struct cr__io {
    cr__op op;
    cr__task *task;
    cr_loop *loop;
    cr__timer deadline;
    int res;
    unsigned flags;
    bool done, cancel_sent, timed_out;
};
/* Entry check (cr__enter) and set-up; -EPERM outside a task, -ECANCELED. */
CR_HIDDEN int cr__io_begin(struct cr__io *io, int code, int fd);
CR_HIDDEN int cr__io_wait(struct cr__io *io, int64_t deadline_ns);

#define CR__IO_START(io, code, fd)                                               \
    struct cr__io io;                                                            \
    do {                                                                         \
        int io_err_ = cr__io_begin(&io, (code), (fd));                           \
        if (io_err_ < 0)                                                         \
            return io_err_;                                                      \
    } while (0)

/* The op produced an fd: if the task was cancelled meanwhile, nobody will
 * own it, so close it and report the cancel. */
#include <unistd.h>
static inline int cr__io_fd_result(struct cr__io *io, int res)
{
    if (res >= 0 && io->task->must_cancel) {
        close(res);
        cr__consume_cancel(io->task);
        return -ECANCELED;
    }
    return res;
}

#endif
