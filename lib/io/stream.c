/* SPDX-License-Identifier: MIT */
/*
 * stream.c — asyncio streams: one cr_stream is a connection's reader and
 * writer.
 *
 * Reading: a multishot recv (bufring.c) hands each chunk to stream_sink, which
 * copies it into the stream's linear buffer and gives the provided buffer
 * straight back, so buffers are never held by slow readers. Once `pause_at`
 * bytes wait unread the recv is paused (peer sees TCP back-pressure): memory
 * per connection stays bounded by the limit plus one chunk in flight.
 *
 * Writing: write() appends and never suspends; the bytes leave at the loop's
 * next turn. One send is in flight at a time (byte order holds) from `wb`,
 * which must not move while the kernel reads it, so new data goes to `pb`;
 * the two swap when `wb` is fully sent. On io_uring a send is send_op. On
 * epoll the stream is "enlisted" on the loop's flush list instead, and
 * flush_all makes the send(2) before the next poll (until then wb
 * may still grow and move: nothing points into it); only what the socket
 * does not take goes through send_op, which waits for writability.
 *
 * Zero copy (read_buf / write_buf): a reader parked in read_buf is handed the
 * provided buffer itself (the sink keeps it); write_buf sends straight from it
 * when nothing else is queued and gives it back to the ring when the send is
 * done. At most one view per stream is with the user; while it is, the other
 * read calls return -EBUSY. A view of data already in `rb` pins `rb`: the sink
 * never moves or reallocates a pinned `rb`, it moves on to a fresh one.
 * Zero-copy sends pin a provided buffer while the peer reads, so they are
 * only used while at least half the ring is free (slow peers cannot starve
 * the other connections); otherwise write_buf copies.
 *
 * Buffers: rb and the write buffers exist only while they hold bytes. A
 * page-sized buffer comes from the loop's stream-buffer cache (bufpool.c) at
 * the first byte and goes back there when it is empty and the stream goes
 * idle: rb when a reader parks with nothing unread (and rb is not pinned),
 * wb and pb when everything queued was sent. So a parked connection holds no
 * buffer of its own on either backend, and a busy one takes and puts a warm
 * cached page per request, never a malloc. A buffer of exactly CR__SBUF_SIZE
 * bytes is a cached page; a larger one (grown by a big message) is malloc's,
 * and one above 64 KiB stays with the stream until it is freed (giving it
 * back would make every big message fault its pages in again).
 *
 * Lifetime: refs = the user's handle + one while a send is in the kernel
 * (or the stream is enlisted).
 * The memory goes when refs reach 0, or at loop close (which closes the fd).
 *
 * Loop thread only.
 */
#include "io/io.h"
#include "io/tls.h"
#include "core/park.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct wbuf {
    char *p;
    size_t off, len, cap;
};

/* A task in drain(): any number may wait on one writer (asyncio 3.12). The
 * node lives on the waiter's stack; a wake unlinks it, a timeout or cancel
 * unlinks it on the way out. */
struct drainer {
    cr__waiter *w;
    struct drainer *next;
    bool linked;
};

/* Laid out by heat: an echo-like request touches the first five cache lines
 * (reader; reader state; sender; the send op, on io_uring only; the write
 * buffers, unless the request was zero-copy: wq) and nothing after them. At
 * hundreds of connections per loop each line is a cache miss per request
 * (the kernel's work between two requests evicts them), so a
 * field read on every request belongs up here, and one that is not stays
 * below: rd_cap is written only by cr_stream_read, pinned_rb read only while
 * a view into rb is out, abort_tm looked at only after cr_stream_abort. */
struct cr_stream {
    /* -- reader, hot -- */
    cr__waiter *reader;
    cr_buf *rd_view;   /* a parked cr_stream_read_buf's view: filled after its wake */
    char *rd_buf;      /* a parked cr_stream_read's buffer: the sink fills it directly;
                        * for a parked read_buf, the bytes the sink handed over */
    size_t rd_got, roff, rlen;
    cr_mrecv *rx;      /* NULL once closing */
    int refs;
    int view_bid;      /* the user's view's provided buffer, or -1: a view into rb;
                        * while a read_buf is parked, what the sink handed over */
    /* -- reader state, per call -- */
    cr_loop *loop;
    char *rb;
    size_t rcap;
    int64_t timeout_ns; /* per call, for reads/drain/wait_closed; -1 = none */
    size_t pause_at, limit;
    int fd;
    int werr;
    bool view_out;     /* a view is with the user (read_buf until release/write_buf) */
    bool want_eof, eof_sent;
    bool closing, close_sent, closed;
    bool aborted;      /* cr_stream_abort: queued data is dropped; abort_tm may be armed */
    /* -- sender, hot (own line: streams are allocated 64-aligned) -- */
    _Alignas(64) bool sending; /* send_op is with the backend (refs holds one) */
    bool enlisted;     /* on the loop's flush list (refs holds one): epoll */
    bool wq;           /* wb or pb may hold unsent bytes. When false both are
                        * empty, and a zero-copy request never reads their line */
    int zc_bid;        /* a send straight from this provided buffer, or -1 */
    const char *zc_p;
    size_t zc_off, zc_len;
    struct drainer *drainers;
    size_t high;
    cr_stream *flush_next; /* the flush list's link, while enlisted */
    cr__tls *tls;      /* TLS hook: set by start_tls; then the sink feeds it (tls.c) */
    cr__op send_op;    /* a line of its own */
    struct wbuf wb, pb; /* wb: being sent; pb: appended meanwhile */
    /* -- cold -- */
    size_t low;        /* drain's low-water mark: read only while drainers wait */
    size_t rd_cap;     /* rd_buf's capacity (cr_stream_read only) */
    char *pinned_rb;   /* the rb a view points into; freed on release if rb moved on */
    size_t pinned_cap; /* its capacity (which allocator it came from) */
    cr__waiter *closer;
    cr__io_obj obj;
    cr__timer abort_tm; /* abort's grace for an in-flight send (cr_stream_abort) */
};

static size_t unread(const cr_stream *s) { return s->rlen - s->roff; }

/* ---- buffers: a cached page when CR__SBUF_SIZE, malloc's when larger ---- */

static inline void buf_drop(cr_stream *s, char *p, size_t cap)
{
    if (cap == CR__SBUF_SIZE)
        cr__sbuf_put(s->loop, p);
    else if (p)
        free(p);
}

/* p (capacity cap, may be NULL) grown to ncap bytes, its first keep kept. */
static char *buf_grow_slow(cr_stream *s, char *p, size_t cap, size_t keep, size_t ncap)
{
    if (cap != CR__SBUF_SIZE)
        return realloc(p, ncap);
    char *q = malloc(ncap);
    if (!q)
        return NULL;
    memcpy(q, p, keep);
    cr__sbuf_put(s->loop, p);
    return q;
}

static inline char *buf_grow(cr_stream *s, char *p, size_t cap, size_t keep, size_t ncap)
{
    if (!p && ncap == CR__SBUF_SIZE)
        return cr__sbuf_get(s->loop);
    return buf_grow_slow(s, p, cap, keep, ncap);
}

/* The reader is about to park with nothing unread: rb goes back (unless a
 * view pins it). The next byte takes a warm page from the loop's cache. */
/* Buffers above this stay with an idle stream (wb_release says why). */
#define KEEP_ABOVE ((size_t)64 * 1024)

static inline void rb_release(cr_stream *s)
{
    if (!s->rb || s->rcap > KEEP_ABOVE)
        return; /* a big rb stays: see wb_release */
    if (s->view_out && s->view_bid < 0 && s->pinned_rb == s->rb)
        return; /* pinned by the user's view */
    buf_drop(s, s->rb, s->rcap);
    s->rb = NULL;
    s->rcap = s->roff = s->rlen = 0;
}

/* Everything queued was sent: the write buffers go back — up to KEEP_ABOVE
 * bytes. A bigger one (a big message) stays with the stream, as every buffer
 * did before the cache: handed back to malloc it is above glibc's mmap
 * threshold, so the next big message would mmap it afresh and fault in each
 * of its pages (~10-50 us each on these VMs): echoing 1 MiB messages fell
 * from ~1,400 to ~70 MB/s. Smaller ones are reused warm from malloc's heap
 * or the page cache. */
static inline void wb_release(cr_stream *s)
{
    if (s->wb.cap <= KEEP_ABOVE) {
        buf_drop(s, s->wb.p, s->wb.cap);
        s->wb = (struct wbuf){0};
    }
    if (s->pb.p && s->pb.cap <= KEEP_ABOVE) { /* pb: written while a send was in flight */
        buf_drop(s, s->pb.p, s->pb.cap);
        s->pb = (struct wbuf){0};
    }
}
static size_t unsent(const cr_stream *s)
{
    return (s->wq ? s->wb.len - s->wb.off + s->pb.len : 0) +
           (s->zc_bid >= 0 ? s->zc_len - s->zc_off : 0);
}

static void wake_drainers(cr_stream *s)
{
    struct drainer *d;
    while ((d = s->drainers)) {
        s->drainers = d->next;
        d->linked = false;
        cr__wake_slot(&d->w, 0);
    }
}

static void stream_destroy(cr__io_obj *o)
{
    cr_stream *s = CR_CONTAINER_OF(o, cr_stream, obj);
    cr__timer_disarm(s->loop, &s->abort_tm);
    if (!s->closed && s->fd >= 0)
        close(s->fd); /* loop closed with the stream open: never leak the fd */
    if (s->pinned_rb && s->pinned_rb != s->rb)
        buf_drop(s, s->pinned_rb, s->pinned_cap);
    if (s->tls)
        cr__tls_free(s->tls); /* TLS hook */
    buf_drop(s, s->rb, s->rcap);
    buf_drop(s, s->wb.p, s->wb.cap);
    buf_drop(s, s->pb.p, s->pb.cap);
    free(s);
}

static void unref(cr_stream *s)
{
    if (--s->refs == 0) {
        cr__io_obj_del(s->loop, &s->obj);
        stream_destroy(&s->obj);
    }
}

#define CR__GONE (-EOWNERDEAD) /* internal: the stream was freed while we waited */

/* Parks on *slot holding a reference, so that a cr_stream_free by another
 * task cannot free s under a waiter. Returns CR__GONE if that happened:
 * then s is gone and must not be touched. *direct (may be NULL) gets what the
 * sink copied straight into a parked reader's buffer. */
static inline __attribute__((always_inline)) int park_ref(cr_stream *s, cr__waiter **slot, int64_t deadline, size_t *direct)
{
    s->refs++;
    int rc = cr__park_slot(slot, deadline);
    int kept = -1; /* a provided buffer the sink handed a parked read_buf */
    if (slot == &s->reader) {
        if (s->rd_view && s->rd_got) {
            s->rd_view->data = s->rd_buf;
            s->rd_view->len = s->rd_got;
            s->rd_view->bid = kept = s->view_bid;
        }
        if (direct)
            *direct = s->rd_got;
        s->rd_buf = NULL;
        s->rd_view = NULL;
        s->rd_got = 0;
    }
    if (--s->refs == 0) {
        if (kept >= 0) /* nobody will take it now: back to the ring */
            cr__bufring_put(s->loop, kept);
        cr__io_obj_del(s->loop, &s->obj);
        stream_destroy(&s->obj);
        return CR__GONE;
    }
    return rc;
}

/* ---- reading ---- */

/* Room for len more bytes at rb + rlen. A pinned rb (a view points into it)
 * is never moved: unread data goes to a fresh buffer instead. */
static bool rb_room(cr_stream *s, size_t len)
{
    if (s->rlen + len <= s->rcap)
        return true;
    if (!s->rb && len <= CR__SBUF_SIZE) {
        /* The usual first byte after a park: a warm page from the cache. */
        if (!(s->rb = cr__sbuf_get(s->loop)))
            return false;
        s->rcap = CR__SBUF_SIZE;
        return true;
    }
    size_t keep = unread(s);
    size_t cap = s->rcap ? s->rcap : CR__SBUF_SIZE;
    while (cap < keep + len)
        cap *= 2;
    if (s->pinned_rb && s->pinned_rb == s->rb) {
        char *p = buf_grow(s, NULL, 0, 0, cap);
        if (!p)
            return false;
        if (keep)
            memcpy(p, s->rb + s->roff, keep);
        s->pinned_cap = s->rcap; /* the view keeps the old one */
        s->rb = p;
        s->rcap = cap;
        s->roff = 0;
        s->rlen = keep;
        return true;
    }
    if (s->roff) {
        memmove(s->rb, s->rb + s->roff, keep);
        s->rlen = keep;
        s->roff = 0;
        if (keep + len <= s->rcap)
            return true;
    }
    char *p = buf_grow(s, s->rb, s->rcap, s->rlen, cap);
    if (!p)
        return false;
    s->rb = p;
    s->rcap = cap;
    return true;
}

/* Takes received plaintext; bid < 0: not a provided buffer (cannot be kept).
 * Inlined into both sinks: the plain one below and the TLS one's delivery. */
static inline __attribute__((always_inline)) int deliver(cr_stream *s, const char *data,
                                                         size_t len, int bid)
{
    if (s->reader && !s->rd_got && !unread(s)) {
        if (s->rd_view && bid >= 0) {
            /* Zero copy: the parked read_buf takes the provided buffer. It
             * is noted here and copied into the view (on the reader's
             * stack) only after the wake, when that stack is warm again:
             * writing it now was the dearest store of an echo request at
             * 500 connections (a cold stack line, docs/backends.md). */
            s->rd_buf = (char *)data;
            s->rd_got = len;
            s->view_bid = bid;
            return CR__SINK_KEPT;
        }
        if (s->rd_buf) {
            /* A reader waits with its own buffer; skip ours. */
            size_t k = len < s->rd_cap ? len : s->rd_cap;
            memcpy(s->rd_buf, data, k);
            s->rd_got = k;
            data += k;
            len -= k;
            if (!len)
                return CR__SINK_COPIED;
        }
    }
    if (!rb_room(s, len))
        return CR__SINK_FAILED;
    memcpy(s->rb + s->rlen, data, len);
    s->rlen += len;
    if (unread(s) >= s->pause_at)
        cr__mrecv_pause(s->rx);
    return CR__SINK_COPIED;
}

/* The recv's sink for a plain stream: no TLS hook on this path (a stream
 * turned TLS gets tls_sink instead, at cr__stream_attach_tls). */
static int stream_sink(void *ctx, const char *data, size_t len, int bid)
{
    return deliver(ctx, data, len, bid);
}

static void stream_notify(void *ctx)
{
    cr_stream *s = ctx;
    cr__wake_slot(&s->reader, 0);
}

static void consume(cr_stream *s, size_t n)
{
    s->roff += n;
    if (s->roff == s->rlen)
        s->roff = s->rlen = 0;
    if (s->rx && cr__mrecv_paused(s->rx) && unread(s) < s->pause_at)
        cr__mrecv_resume(s->rx);
}

/* Waits for more data (or EOF/error). Returns 0 when something may have
 * changed, or -ECANCELED / -ESHUTDOWN. `need` > limit lets readexactly grow. */
static int64_t call_deadline(const cr_stream *s)
{
    if (s->timeout_ns < 0)
        return -1;
    int64_t dl = cr__add_sat(cr__now_ns(), s->timeout_ns);
    return dl == CR__NEVER ? -1 : dl;
}

static inline __attribute__((always_inline)) int wait_more(cr_stream *s, size_t need, int64_t deadline, void *dbuf, size_t dcap,
                     size_t *direct)
{
    if (direct)
        *direct = 0;
    if (!s->rx)
        return -ESHUTDOWN;
    if (s->reader)
        return -EBUSY; /* one reader at a time */
    s->rd_buf = dbuf;
    if (dbuf)
        s->rd_cap = dcap; /* a cold line: only cr_stream_read's copy mode needs it */
    s->rd_got = 0;
    s->pause_at = need > s->limit ? need : s->limit;
    if (cr__mrecv_paused(s->rx) && unread(s) < s->pause_at)
        cr__mrecv_resume(s->rx);
    if (!unread(s))
        rb_release(s); /* parked with nothing pending: hold no buffer */
    int rc = park_ref(s, &s->reader, deadline, direct);
    if (rc == CR__GONE)
        return -ESHUTDOWN; /* s is gone: callers return at once on rc < 0 */
    s->pause_at = s->limit;
    return rc;
}

static int rstate(const cr_stream *s) /* 0 = more may come, 1 = EOF, <0 = error */
{
    if (!s->rx)
        return -ESHUTDOWN;
    if (s->tls) /* TLS hook: EOF is close_notify (or EOF at a record boundary) */
        return cr__tls_rstate(s->tls, s->rx->err, s->rx->eof);
    if (s->rx->err)
        return s->rx->err;
    return s->rx->eof ? 1 : 0;
}

static int reader_enter(cr_stream *s)
{
    if (!s)
        return -EINVAL;
    if (s->view_out)
        return -EBUSY; /* release the view first: it may pin rb */
    return cr__enter_here();
}

ssize_t cr_stream_read(cr_stream *s, void *buf, size_t n)
{
    int rc = reader_enter(s);
    if (rc < 0)
        return rc;
    if (!buf && n)
        return -EINVAL;
    int64_t dl = call_deadline(s);
    while (!unread(s)) {
        int st = rstate(s);
        if (st)
            return st < 0 ? st : 0;
        if (!n)
            return 0;
        size_t got;
        rc = wait_more(s, 1, dl, buf, n, &got);
        if (got) {
            /* Data landed in buf: it is returned even if a cancel raced in,
             * and the cancel is kept for the next suspending call. */
            if (rc == -ECANCELED)
                cr__current()->must_cancel = true;
            return (ssize_t)got;
        }
        if (rc < 0)
            return rc;
    }
    size_t k = unread(s) < n ? unread(s) : n;
    if (k)
        memcpy(buf, s->rb + s->roff, k);
    consume(s, k);
    return (ssize_t)k;
}

ssize_t cr_stream_readexactly(cr_stream *s, void *buf, size_t n, size_t *got)
{
    if (got)
        *got = 0;
    int rc = reader_enter(s);
    if (rc < 0)
        return rc;
    if (!buf && n)
        return -EINVAL;
    int64_t dl = call_deadline(s);
    while (unread(s) < n) {
        int st = rstate(s);
        if (st) {
            size_t k = unread(s);
            if (k)
                memcpy(buf, s->rb + s->roff, k);
            consume(s, k);
            if (got)
                *got = k;
            return st < 0 ? st : CR_EINCOMPLETE;
        }
        if ((rc = wait_more(s, n, dl, NULL, 0, NULL)) < 0)
            return rc;
    }
    if (n)
        memcpy(buf, s->rb + s->roff, n);
    consume(s, n);
    if (got)
        *got = n;
    return (ssize_t)n;
}

/* The first sep[0..m) in h[0..n), or NULL. glibc's memmem sets up a 256-entry
 * shift table on every call, which for the short separators and short
 * buffers readuntil sees (a CRLF, an HTTP header block) cost more than the
 * search: 1% of an HTTP server's CPU. memchr finds each candidate first byte
 * with SIMD; a separator that keeps almost matching (a run of its first
 * byte) costs one memchr per candidate, as a byte loop would. */
static const char *find_sep(const char *h, size_t n, const char *sep, size_t m)
{
    if (m > n)
        return NULL;
    const char *last = h + (n - m); /* the last place sep can start */
    for (const char *p = h; p <= last; p++) {
        p = memchr(p, sep[0], (size_t)(last - p) + 1);
        if (!p)
            return NULL;
        if (!memcmp(p + 1, sep + 1, m - 1))
            return p;
    }
    return NULL;
}

/* Waits until sep is among the buffered bytes. Returns the length of the
 * bytes up to and including it (still buffered, at rb + roff); CR_ELIMIT if
 * more than the limit precedes it or the whole exceeds cap (the data stays);
 * CR_EINCOMPLETE at EOF first, *left = the bytes buffered then; or an error. */
static ssize_t until(cr_stream *s, const char *sep, size_t seplen, size_t cap, size_t *left)
{
    /* asyncio's limit bounds the data before the separator; cap bounds the
     * whole line, separator included. */
    size_t from = 0; /* where the separator may still start */
    int64_t dl = call_deadline(s);
    for (;;) {
        size_t have = unread(s);
        if (have >= seplen) {
            const char *hit = find_sep(s->rb + s->roff + from, have - from, sep, seplen);
            if (hit) {
                size_t before = (size_t)(hit - (s->rb + s->roff));
                size_t len = before + seplen;
                if (before > s->limit || len > cap)
                    return CR_ELIMIT; /* the data stays buffered */
                return (ssize_t)len;
            }
            from = have - seplen + 1;
        }
        if (from > s->limit || have >= cap)
            return CR_ELIMIT; /* the separator can no longer start in time */
        int st = rstate(s);
        if (st) {
            if (st < 0)
                return st;
            *left = have;
            return CR_EINCOMPLETE;
        }
        /* Room for limit bytes and the separator before the recv pauses. */
        int rc = wait_more(s, s->limit + seplen, dl, NULL, 0, NULL);
        if (rc < 0)
            return rc;
    }
}

ssize_t cr_stream_readuntil(cr_stream *s, const void *sep, size_t seplen, void *buf,
                            size_t cap, size_t *got)
{
    if (got)
        *got = 0;
    int rc = reader_enter(s);
    if (rc < 0)
        return rc;
    if (!sep || !seplen || !buf)
        return -EINVAL;
    size_t left = 0;
    ssize_t n = until(s, sep, seplen, cap, &left);
    size_t k = n >= 0 ? (size_t)n : n == CR_EINCOMPLETE ? (left < cap ? left : cap) : 0;
    if (k) { /* rb may never have been allocated */
        memcpy(buf, s->rb + s->roff, k);
        consume(s, k);
    }
    if (got)
        *got = k;
    return n;
}

/* Hands the next k buffered bytes out as a view into rb, consumed now but
 * pinned (never moved) until released. */
static void rb_view(cr_stream *s, size_t k, cr_buf *out)
{
    out->data = s->rb + s->roff;
    out->len = k;
    s->roff += k;
    s->pinned_rb = s->rb;
    s->pinned_cap = s->rcap;
    s->view_out = true;
    s->view_bid = -1;
    if (s->rx && cr__mrecv_paused(s->rx) && unread(s) < s->pause_at)
        cr__mrecv_resume(s->rx);
}

/* The start of a call that hands out a view: out is emptied, except while a
 * view is already out (-EBUSY: out may be that very view, left intact). */
static int view_enter(cr_stream *s, cr_buf *out)
{
    if (!out)
        return -EINVAL;
    if (s && s->view_out)
        return -EBUSY;
    out->data = NULL;
    out->len = 0;
    out->bid = -1;
    return reader_enter(s);
}

ssize_t cr_stream_readuntil_buf(cr_stream *s, const void *sep, size_t seplen, size_t cap,
                                cr_buf *out)
{
    int rc = view_enter(s, out);
    if (rc < 0)
        return rc;
    if (!sep || !seplen)
        return -EINVAL;
    if (!cap)
        cap = SIZE_MAX; /* bounded by the stream's limit alone */
    size_t left = 0;
    ssize_t n = until(s, sep, seplen, cap, &left);
    size_t k = n >= 0 ? (size_t)n : n == CR_EINCOMPLETE ? (left < cap ? left : cap) : 0;
    if (k)
        rb_view(s, k, out);
    return n;
}

ssize_t cr_stream_readline(cr_stream *s, void *buf, size_t cap)
{
    size_t got;
    ssize_t n = cr_stream_readuntil(s, "\n", 1, buf, cap, &got);
    return n == CR_EINCOMPLETE ? (ssize_t)got : n;
}

bool cr_stream_at_eof(const cr_stream *s)
{
    if (s && s->tls && s->rx) /* TLS hook */
        return !unread(s) && rstate(s) == 1;
    return s && !unread(s) && (!s->rx || s->rx->eof);
}

/* ---- writing ---- */

static void start_close(cr_stream *s);

static void send_complete(cr__op *op, int res, unsigned flags);

/* Gives a zero-copy send's provided buffer back to the ring. */
static void zc_drop(cr_stream *s)
{
    if (s->zc_bid >= 0) {
        cr__bufring_put(s->loop, s->zc_bid);
        s->zc_bid = -1;
    }
}

static void flush_all(struct cr__io_state *io);

/* send_op takes n bytes at p. false: it could not be submitted (werr set, a
 * zero-copy buffer given back); true: it is with the backend, sending set
 * (the caller accounts for the reference the op holds). */
static inline __attribute__((always_inline)) bool submit_send(cr_stream *s, const char *p, size_t n,
                                                              bool tried)
{
    s->send_op.tried = tried;
    s->send_op.a.rw.buf = (void *)p;
    s->send_op.a.rw.len = n;
    int rc = cr__be_submit(&s->loop->be, &s->send_op);
    if (rc < 0) {
        s->werr = rc;
        zc_drop(s);
        return false;
    }
    s->sending = true;
    return true;
}

/* Starts sending what is queued, if no send is under way. On io_uring the
 * send is an op, submitted with the loop's next wait. On epoll (whose submit
 * would make the send(2) at once) the stream goes on the loop's flush list
 * instead, and flush_all makes the send(2) on the loop's stack just
 * before the next poll: no op, no completion to deliver, and what the task
 * writes meanwhile goes out in the same send (pipelined answers: one send
 * per batch). What the socket does not take goes through send_op, which
 * waits for writability. */
static inline __attribute__((always_inline)) void kick_send(cr_stream *s)
{
    const char *p;
    size_t n;
    if (s->sending || s->enlisted || s->closed)
        return;
    if (s->zc_bid >= 0) {
        p = s->zc_p + s->zc_off;
        n = s->zc_len - s->zc_off;
    } else {
        if (!s->wq || s->wb.off == s->wb.len)
            return;
        p = s->wb.p + s->wb.off;
        n = s->wb.len - s->wb.off;
    }
    if (s->loop->be.ops->send_now) {
        struct cr__io_state *io = s->loop->io;
        s->enlisted = true;
        s->flush_next = io->flush;
        io->flush = s;
        io->flush_fn = flush_all;
        s->refs++;
        cr__loop_want_flush(s->loop);
        return;
    }
    if (submit_send(s, p, n, false))
        s->refs++;
}

/* Nothing is queued to send any more: finish a write_eof or a close. */
static void writer_idle(cr_stream *s)
{
    if (s->want_eof && !s->eof_sent && !s->closed) {
        s->eof_sent = true;
        shutdown(s->fd, SHUT_WR); /* never blocks */
    }
    if (s->closing && !s->close_sent)
        start_close(s);
}

#define ABORT_GRACE_NS 100000000 /* 100 ms */

/* An aborted stream's send outlived its cancel: end it by force. */
static void abort_fire(cr__timer *tm)
{
    cr_stream *s = CR_CONTAINER_OF(tm, cr_stream, abort_tm);
    if (s->sending && !s->closed)
        shutdown(s->fd, SHUT_RDWR);
}

/* A send failed (err < 0): what was queued is dropped, never sent. */
static void drop_unsent(cr_stream *s, int err)
{
    s->werr = err;
    s->wb.off = s->wb.len = 0;
    s->pb.len = 0;
    s->wq = false;
    zc_drop(s);
}

/* What a send of res bytes (or its error) leaves queued: the shared part of
 * a SEND's completion and of the loop's send for an enlisted stream. */
static void send_advance(cr_stream *s, int res)
{
    if (res < 0) {
        drop_unsent(s, res == -ECANCELED || s->aborted ? -ECONNABORTED : res);
    } else {
        if (s->zc_bid >= 0) {
            /* wb was empty while a provided buffer went out; what was
             * written meanwhile is in pb and swaps in below. */
            s->zc_off += (size_t)res;
            if (s->zc_off == s->zc_len)
                zc_drop(s);
        } else {
            s->wb.off += (size_t)res;
        }
        if (s->zc_bid >= 0 || !s->wq) {
            /* a zero-copy send goes on, or one ended with nothing queued */
        } else if (s->wb.off == s->wb.len && !s->pb.len) {
            if (s->wb.p)
                wb_release(s); /* all sent, nothing queued: the writer is idle */
            s->wb.off = s->wb.len = 0;
            s->wq = false;
        } else if (s->wb.off == s->wb.len) {
            struct wbuf t = s->wb;
            s->wb = s->pb;
            s->pb = t;
            s->pb.off = s->pb.len = 0;
        }
    }
    if (s->aborted && !s->werr) {
        /* The cancel ended the send with what it had moved (res > 0): the
         * rest is dropped, not sent again. */
        s->werr = -ECONNABORTED;
        s->wb.off = s->wb.len = 0;
        zc_drop(s);
    }
}

/* The end of a send, either way: drainers, a pending write_eof or close. */
static void send_after(cr_stream *s)
{
    if (s->drainers && (s->werr || unsent(s) <= s->low))
        wake_drainers(s);
    if (!s->sending && !s->enlisted)
        writer_idle(s);
}

static void send_complete(cr__op *op, int res, unsigned flags)
{
    (void)flags;
    cr_stream *s = CR_CONTAINER_OF(op, cr_stream, send_op);
    s->sending = false;
    if (s->aborted) /* only an abort arms it; its line is cold otherwise */
        cr__timer_disarm(s->loop, &s->abort_tm);
    send_advance(s, res);
    if (!s->werr)
        kick_send(s);
    send_after(s);
    unref(s);
}

/* One enlisted stream's send(2), on the loop's stack: as a SEND's
 * completion would, except that a partial send (the socket is full) hands
 * the rest to send_op, which waits for writability. */
static void flush_one(cr_stream *s)
{
    s->enlisted = false;
    if (!s->closed && !s->werr) {
        bool zc = s->zc_bid >= 0;
        const char *p = zc ? s->zc_p + s->zc_off : s->wb.p + s->wb.off;
        size_t n = zc ? s->zc_len - s->zc_off : s->wb.len - s->wb.off;
        ssize_t k = n ? cr__be_send_now(&s->loop->be, s->fd, p, n) : 0;
        if (k != -EAGAIN)
            send_advance(s, (int)k); /* an error drops what was queued */
        if (!s->werr && (k == -EAGAIN || (size_t)k < n)) {
            if (k > 0) {
                p += k;
                n -= (size_t)k;
            }
            /* tried: epoll waits at once, the socket said "full" */
            if (submit_send(s, p, n, true))
                return; /* the op takes over the list's reference */
        }
        if (!s->werr)
            kick_send(s); /* what was swapped in (pb) */
    }
    send_after(s);
    unref(s);
}

/* io->flush_fn: before the next poll, when the loop stops, at close. */
static void flush_all(struct cr__io_state *io)
{
    cr_stream *s;
    while ((s = io->flush)) {
        io->flush = s->flush_next;
        flush_one(s);
    }
}

static int append(cr_stream *s, struct wbuf *b, const void *data, size_t len)
{
    /* Refused without trying: b->len + len must not wrap, the doubling below
     * must not overflow, and no buffer beyond 64 TiB fits any address space
     * this runs in (asking the allocator would only abort under ASan). */
    if (len > ((size_t)1 << 46) - b->len)
        return -ENOMEM;
    if (!b->p && len <= CR__SBUF_SIZE) {
        /* The usual first write after the writer went idle: a warm page. */
        if (!(b->p = cr__sbuf_get(s->loop)))
            return -ENOMEM;
        b->cap = CR__SBUF_SIZE;
    } else if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : CR__SBUF_SIZE;
        while (cap < b->len + len)
            cap *= 2;
        char *p = buf_grow(s, b->p, b->cap, b->len, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    s->wq = true;
    return 0;
}

ssize_t cr_stream_write(cr_stream *s, const void *data, size_t len)
{
    if (!s || (!data && len) || len > SSIZE_MAX)
        return -EINVAL; /* the count must fit the ssize_t returned */
    if (s->closing || s->want_eof)
        return -ESHUTDOWN;
    if (s->werr)
        return s->werr;
    if (!len)
        return 0;
    if (s->tls) /* TLS hook: encrypted, then queued through tx_reserve/commit */
        return cr__tls_write(s->tls, data, len);
    /* While a send is in flight the kernel reads wb: append to pb instead. */
    int rc = append(s, s->sending ? &s->pb : &s->wb, data, len);
    if (rc < 0)
        return rc;
    kick_send(s);
    return (ssize_t)len;
}

/* ---- zero copy ---- */

ssize_t cr_stream_read_buf(cr_stream *s, cr_buf *out)
{
    int rc = view_enter(s, out);
    if (rc < 0)
        return rc;
    int64_t dl = call_deadline(s);
    while (!unread(s)) {
        int st = rstate(s);
        if (st)
            return st < 0 ? st : 0;
        if (s->reader)
            return -EBUSY;
        size_t got;
        s->rd_view = out;
        rc = wait_more(s, 1, dl, NULL, 0, &got);
        if (got) {
            /* The sink handed over a provided buffer; as in read, a cancel
             * that raced in is kept for the next suspending call. */
            if (rc == -ECANCELED)
                cr__current()->must_cancel = true;
            s->view_out = true;
            s->view_bid = out->bid;
            return (ssize_t)out->len;
        }
        if (rc < 0)
            return rc;
    }
    /* Data arrived while nobody waited: a view into rb. */
    size_t k = unread(s);
    rb_view(s, k, out);
    return (ssize_t)k;
}

/* b must be the view the stream handed out (or an already empty cr_buf). */
static int view_check(const cr_stream *s, const cr_buf *b)
{
    if (!s || !b)
        return -EINVAL;
    if (!s->view_out || b->bid != s->view_bid || !b->data)
        return -EINVAL;
    return 0;
}

/* The user lets go of the view: its buffer goes back to the ring, or rb is
 * unpinned. */
static void view_put(cr_stream *s)
{
    if (s->view_bid >= 0) {
        cr__bufring_put(s->loop, s->view_bid);
    } else {
        if (s->pinned_rb != s->rb)
            buf_drop(s, s->pinned_rb, s->pinned_cap); /* rb moved on while pinned */
        else if (s->roff == s->rlen)
            s->roff = s->rlen = 0;
        s->pinned_rb = NULL;
    }
    s->view_out = false;
    s->view_bid = -1;
}

static void view_clear(cr_stream *s, cr_buf *b)
{
    s->view_out = false;
    s->view_bid = -1;
    b->data = NULL;
    b->len = 0;
    b->bid = -1;
}

int cr_stream_release_buf(cr_stream *s, cr_buf *b)
{
    if (b && !b->data && b->bid < 0)
        return 0; /* already released / handed to write_buf */
    int rc = view_check(s, b);
    if (rc < 0)
        return rc;
    view_put(s);
    view_clear(s, b);
    return 0;
}

ssize_t cr_stream_write_buf(cr_stream *s, cr_buf *b)
{
    int rc = view_check(s, b);
    if (rc < 0)
        return rc;
    size_t len = b->len;
    struct cr__io_state *io = s->loop->io;
    if (b->bid >= 0 && !s->tls && !s->sending && !s->enlisted && !s->closing && !s->want_eof &&
        !s->werr && !s->wq && io->held <= io->count / 2) {
        /* Nothing queued: send straight from the provided buffer. */
        s->zc_bid = b->bid;
        s->zc_p = b->data;
        s->zc_off = 0;
        s->zc_len = len;
        view_clear(s, b);
        kick_send(s);
        return s->werr ? s->werr : (ssize_t)len;
    }
    ssize_t n = cr_stream_write(s, b->data, len);
    cr_stream_release_buf(s, b);
    return n;
}

int cr_stream_drain(cr_stream *s)
{
    if (!s)
        return -EINVAL;
    int rc = cr__enter_here();
    if (rc < 0)
        return rc;
    if (unsent(s) > s->high) {
        int64_t dl = call_deadline(s); /* only now: it may read the clock */
        while (unsent(s) > s->low && !s->werr && !s->closed) {
            struct drainer d = {.next = s->drainers, .linked = true};
            s->drainers = &d;
            s->refs++; /* as park_ref: a free meanwhile cannot pull s away */
            rc = cr__park_until(&d.w, dl);
            if (d.linked) /* timed out or cancelled: leave the list */
                for (struct drainer **p = &s->drainers; *p; p = &(*p)->next)
                    if (*p == &d) {
                        *p = d.next;
                        break;
                    }
            if (--s->refs == 0) {
                cr__io_obj_del(s->loop, &s->obj);
                stream_destroy(&s->obj);
                return -ESHUTDOWN;
            }
            if (rc < 0)
                return rc;
        }
    }
    return s->werr;
}

int cr_stream_write_eof(cr_stream *s)
{
    if (!s)
        return -EINVAL;
    if (s->closing)
        return -ESHUTDOWN;
    if (s->tls && !s->want_eof)
        cr__tls_close_notify(s->tls); /* TLS hook: close_notify, then the FIN */
    s->want_eof = true;
    if (!s->sending && !s->enlisted)
        writer_idle(s);
    return 0;
}

/* ---- closing ---- */

/* The fd is closed with a plain close(2): a socket close never blocks (no
 * SO_LINGER here), and doing it through the ring would leave loop close unable
 * to tell whether a queued close ran. The cancel of the multishot recv is
 * already queued; the socket goes once the kernel drops that op's reference. */
static void start_close(cr_stream *s)
{
    s->close_sent = true;
    close(s->fd);
    s->closed = true;
    cr__wake_slot(&s->closer, 0);
    wake_drainers(s);
}

static void stop_reading(cr_stream *s)
{
    if (s->rx) {
        cr_mrecv_free(s->rx); /* cancels; queued before the close in the SQ */
        s->rx = NULL;
    }
    cr__wake_slot(&s->reader, -ESHUTDOWN);
}

static void close_stream(cr_stream *s, bool notify)
{
    if (!s || s->closing)
        return;
    if (s->tls && notify && !s->want_eof)
        cr__tls_close_notify(s->tls); /* TLS hook: a graceful close says so */
    s->closing = true;
    stop_reading(s);
    if (!s->sending && !s->enlisted)
        writer_idle(s);
}

void cr_stream_close(cr_stream *s) { close_stream(s, true); }

void cr_stream_abort(cr_stream *s)
{
    if (!s)
        return;
    s->aborted = true;
    if (s->sending && !s->closed) {
        /* The kernel still reads wb: cancel, and close once it lets go. A
         * send the kernel runs blocked in a worker (a peer that never reads)
         * ignores the cancel (-EALREADY); if the send has not ended after a
         * grace period, shutting the socket down makes it return, so an
         * abort cannot hang. (Not at once: a send not yet submitted, e.g. a
         * TLS alert, would be cut off before it left.) */
        cr__be_cancel(&s->loop->be, &s->send_op);
        if (!cr__timer_armed(&s->abort_tm))
            cr__timer_arm(s->loop, &s->abort_tm, cr__now_ns() + ABORT_GRACE_NS);
    }
    s->pb.len = 0;
    if (s->enlisted) /* not sent yet: none of it will be */
        drop_unsent(s, -ECONNABORTED);
    s->want_eof = false;
    close_stream(s, false);
}

int cr_stream_wait_closed(cr_stream *s)
{
    cr__task *t;
    if (!s)
        return -EINVAL;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    cr_stream_close(s);
    int64_t dl = call_deadline(s);
    while (!s->closed) {
        if (s->closer)
            return -EBUSY;
        if ((rc = park_ref(s, &s->closer, dl, NULL)) < 0)
            return rc == CR__GONE ? 0 : rc; /* freed: it was closed */
    }
    return 0;
}

void cr_stream_free(cr_stream *s)
{
    if (!s)
        return;
    if (s->view_out)
        view_put(s); /* the user's view dies with the handle */
    cr_stream_close(s);
    unref(s);
}

/* ---- making streams ---- */

int cr_stream_fd(const cr_stream *s) { return s ? s->fd : -EINVAL; }

int cr_stream_set_timeout(cr_stream *s, double timeout)
{
    if (!s || timeout != timeout)
        return -EINVAL;
    s->timeout_ns = timeout < 0 ? -1 : cr__secs_to_ns(timeout);
    return 0;
}

int cr_stream_new(cr_loop *loop, int fd, const cr_stream_opts *opts, cr_stream **out)
{
    if (!out) {
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    *out = NULL;
    if (fd < 0)
        return -EBADF;
    int rc = loop ? cr__loop_check(loop) : -EINVAL;
    cr_stream *s = NULL;
    if (rc == 0 && !cr__io_state(loop))
        rc = -ENOMEM;
    if (rc == 0 && !(s = aligned_alloc(_Alignof(cr_stream), sizeof *s)))
        rc = -ENOMEM;
    if (s)
        memset(s, 0, sizeof *s);
    if (rc == 0 && !(s->rx = aligned_alloc(_Alignof(cr_mrecv), sizeof *s->rx)))
        rc = -ENOMEM;
    if (rc == 0)
        rc = cr__mrecv_init(s->rx, loop, fd, 0);
    if (rc < 0) {
        if (s)
            free(s->rx);
        free(s);
        close(fd);
        return rc;
    }
    s->loop = loop;
    s->fd = fd;
    s->refs = 1;
    s->timeout_ns = -1;
    s->view_bid = -1;
    s->zc_bid = -1;
    s->limit = opts && opts->limit ? opts->limit : 64 * 1024;
    s->pause_at = s->limit;
    s->high = opts && opts->high_water ? opts->high_water : 64 * 1024;
    s->low = opts && opts->low_water ? opts->low_water : s->high / 4;
    if (s->low > s->high)
        s->low = s->high;
    cr__op_init(&s->send_op, CR__OP_SEND, s->fd, send_complete);
    cr__timer_init(&s->abort_tm, abort_fire);
    s->send_op.a.rw.flags = MSG_NOSIGNAL;
    s->rx->sink = stream_sink;
    s->rx->notify = stream_notify;
    s->rx->sink_ctx = s;
    cr__io_obj_add(loop, &s->obj, stream_destroy);
    *out = s;
    return 0;
}

static int open_fd(int fd, const cr_stream_opts *opts, cr_stream **out)
{
    if (fd < 0)
        return fd;
    return cr_stream_new(cr__tls_running, fd, opts, out);
}

int cr_open_connection(const char *host, int port, const cr_stream_opts *opts,
                       double timeout, cr_stream **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    return open_fd(cr_connect_tcp(host, port, timeout), opts, out);
}

int cr_open_unix_connection(const char *path, const cr_stream_opts *opts, double timeout,
                            cr_stream **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    return open_fd(cr_connect_unix(path, timeout), opts, out);
}

/* ---- TLS hooks (tls.c drives them; see io/tls.h) ----
 * Kept here because they touch the stream's buffers; nothing above depends on
 * them, and a stream without s->tls never reaches them. */

/* TLS hook: the recv's sink once the stream speaks TLS: ciphertext to
 * OpenSSL; plaintext comes back through cr__stream_deliver. */
static int tls_sink(void *ctx, const char *data, size_t len, int bid)
{
    (void)bid;
    return cr__tls_sink(((cr_stream *)ctx)->tls, data, len);
}

int cr__stream_deliver(cr_stream *s, const char *data, size_t len)
{
    return deliver(s, data, len, -1);
}

char *cr__stream_tx_reserve(cr_stream *s, size_t n)
{
    /* Same choice as cr_stream_write: never the buffer the kernel reads. */
    struct wbuf *b = s->sending ? &s->pb : &s->wb;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : CR__SBUF_SIZE;
        while (cap < b->len + n)
            cap *= 2;
        char *p = buf_grow(s, b->p, b->cap, b->len, cap);
        if (!p)
            return NULL;
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

/* TLS hook: records leave at once. With no send in flight, what TLS queued
 * is written now with send(2), not left for the ring: a queued op goes to
 * the kernel only when the loop's turn ends, and a turn that runs TLS steps
 * is long (a full handshake is ~0.3-0.5 ms of CPU), so a server flight, a
 * response or a close_notify would wait for every other handshake of the
 * turn while the peer sits idle. As a blocking server does it: one send per
 * flight or record batch, and a close that need not wait for a completion
 * before its close_notify and its close(2). What the socket does not take
 * (EAGAIN, a partial send) goes through the ring as before. */
static void tls_send_now(cr_stream *s)
{
    if (s->sending || s->closed || s->wb.off == s->wb.len)
        return;
    ssize_t k = send(s->fd, s->wb.p + s->wb.off, s->wb.len - s->wb.off,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k > 0) {
        s->wb.off += (size_t)k;
        if (s->wb.off == s->wb.len)
            s->wb.off = s->wb.len = 0;
    } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        drop_unsent(s, -errno); /* as a failed send's completion */
        wake_drainers(s);
    }
}

void cr__stream_tx_commit(cr_stream *s, size_t n)
{
    (s->sending ? &s->pb : &s->wb)->len += n; /* nothing ran since reserve */
    s->wq = true;
    tls_send_now(s);
    kick_send(s); /* what the socket did not take */
}

int cr__stream_attach_tls(cr_stream *s, cr__tls *t)
{
    if (s->tls || s->reader || s->view_out)
        return -EBUSY;
    if (s->closing || s->want_eof || !s->rx)
        return -ESHUTDOWN;
    s->tls = t;
    s->rx->sink = tls_sink;
    if (unread(s)) {
        /* The peer's first TLS bytes came in with the plain ones. */
        int rc = cr__tls_sink(t, s->rb + s->roff, unread(s));
        consume(s, unread(s));
        if (rc == CR__SINK_FAILED)
            return -ENOMEM;
    }
    return 0;
}

cr__tls *cr__stream_tls(const cr_stream *s) { return s ? s->tls : NULL; }

/* TLS hook (kTLS): whether a record sent now would overtake queued bytes. */
bool cr__stream_tx_idle(const cr_stream *s) { return !s->sending && !s->enlisted && !unsent(s); }

size_t cr__stream_buffer_bytes(const cr_stream *s)
{
    size_t n = s->rcap + s->wb.cap + s->pb.cap;
    if (s->pinned_rb && s->pinned_rb != s->rb)
        n += s->pinned_cap;
    return n;
}

void cr__stream_hold(cr_stream *s) { s->refs++; }
void cr__stream_put(cr_stream *s) { unref(s); }

int cr__stream_wait_raw(cr_stream *s, int64_t deadline)
{
    return wait_more(s, 1, deadline, NULL, 0, NULL);
}

int cr__stream_raw_state(const cr_stream *s)
{
    if (!s->rx)
        return -ESHUTDOWN;
    if (s->rx->err)
        return s->rx->err;
    return s->rx->eof ? 1 : 0;
}
