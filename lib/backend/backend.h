/* SPDX-License-Identifier: MIT */
/*
 * backend.h — the one seam between coring and the kernel's I/O interfaces.
 *
 * Everything above this line (io/, os/, thread/, core/) describes an
 * operation in a cr__op and hands it to the loop's backend; the backend
 * starts it and, later, calls op->complete(op, res, flags) from its poll —
 * never from inside submit or cancel. Only lib/backend/ includes liburing or
 * calls epoll.
 *
 * The contract every backend keeps (the visible semantics above the seam):
 *  - submit: 0 and exactly one final completion later (a completion without
 *    CR__OPF_MORE), or a negative errno and no completion at all.
 *  - Multishot ops (ACCEPT_MULTI, RECV_MULTI) complete many times with
 *    CR__OPF_MORE and end with one completion without it.
 *  - cancel: asks for an early end; the op still completes once more (with
 *    -ECANCELED, or with its result if that won the race). Idempotent per
 *    arming (see cr__mshot below).
 *  - RECV_MULTI takes its memory from the loop's buffer pool
 *    (cr__be_bufs_register): a completion with CR__OPF_BUFFER carries the
 *    buffer id in flags >> CR__OPF_BID_SHIFT; -ENOBUFS means the pool ran dry.
 *  - poll: submits what is queued, waits at most timeout_ns (< 0: no limit,
 *    0: not at all) and dispatches completions; one kernel wait per call.
 *  - An op marked `weak` does not keep the loop alive: only strong ops are
 *    counted in `inflight` (a watch on a signalfd or an eventfd is weak; the
 *    resource that owns it says whether the loop must stay up).
 *
 * Threads: the loop's thread only (io_uring's SINGLE_ISSUER).
 */
#ifndef CORING_BACKEND_H
#define CORING_BACKEND_H

#include "coring.h"
#include "core/trace.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef CR_HIDDEN
#define CR_HIDDEN __attribute__((visibility("hidden")))
#endif

enum cr__opcode {
    CR__OP_SOCKET,       /* a.sock */
    CR__OP_ACCEPT,       /* fd, a.acc (addr, addrlen*) */
    CR__OP_CONNECT,      /* fd, a.acc (addr, len in a.acc.len) */
    CR__OP_RECV,         /* fd, a.rw */
    CR__OP_SEND,         /* fd, a.rw (MSG_NOSIGNAL is the caller's) */
    CR__OP_RECVMSG,      /* fd, a.rw.buf = struct msghdr * */
    CR__OP_SENDMSG,      /* fd, a.rw.buf = struct msghdr * */
    CR__OP_SHUTDOWN,     /* fd, a.rw.flags = how */
    CR__OP_CLOSE,        /* fd */
    CR__OP_OPENAT,       /* fd = dirfd, a.path */
    CR__OP_READ,         /* fd, a.rw (off; (uint64_t)-1: the file position) */
    CR__OP_WRITE,        /* fd, a.rw */
    CR__OP_FSYNC,        /* fd, a.rw.flags: CR__FSYNC_DATA */
    CR__OP_STATX,        /* fd = dirfd, a.path */
    CR__OP_SPLICE,       /* fd = fd_in, a.splice */
    CR__OP_POLL,         /* fd, a.rw.flags = poll events; res = revents */
    CR__OP_ACCEPT_MULTI, /* fd: a listener; res = a new fd per completion */
    CR__OP_RECV_MULTI,   /* fd: a stream socket; data in pool buffers */
    CR__OP_COUNT
};

#define CR__FSYNC_DATA 1u

/* Completion flags. The values are io_uring's, so its backend passes CQE
 * flags through untouched (checked in uring.c). */
#define CR__OPF_BUFFER 1u /* res bytes are in buffer flags >> CR__OPF_BID_SHIFT */
#define CR__OPF_MORE 2u   /* more completions of this op follow */
#define CR__OPF_BID_SHIFT 16

typedef struct cr__op cr__op;
struct cr__op {
    void (*complete)(cr__op *op, int res, unsigned flags);
    uint8_t code;   /* enum cr__opcode */
    bool weak;      /* does not keep the loop alive */
    bool counted;   /* backend: counted in inflight */
    bool tried;     /* a SEND whose caller's cr__be_send_now just saw EAGAIN:
                     * epoll waits for writability without trying again */
    int fd;
    union {
        struct {
            void *buf;
            size_t len;
            uint64_t off;
            int flags;
        } rw;
        struct {
            void *addr;
            socklen_t *lenp; /* ACCEPT */
            socklen_t len;   /* CONNECT */
        } acc;
        struct {
            int domain, type, protocol;
        } sock;
        struct {
            const char *path;
            int flags;
            unsigned mode, mask; /* OPENAT: mode; STATX: mask */
            void *out;           /* STATX: struct statx * */
        } path;
        struct {
            int64_t off_in, off_out;
            int fd_out;
            unsigned len, flags;
        } splice;
    } a;
    void *be_link[2]; /* the backend's own (e.g. a per-fd wait list) */
};

static inline void cr__op_init(cr__op *op, int code, int fd,
                               void (*complete)(cr__op *, int, unsigned))
{
    op->complete = complete;
    op->code = (uint8_t)code;
    op->weak = false;
    op->counted = false;
    op->tried = false;
    op->fd = fd;
}

typedef struct cr__backend cr__backend;

typedef struct cr__be_stats {
    uint64_t enters, submitted, completions, overflows;
} cr__be_stats;

struct cr__backend_ops {
    const char *name;
    /* Set up; on failure a negative errno and cr_setup_error() says why. */
    int (*init)(cr__backend *b, const cr_loop_opts *opts);
    void (*exit)(cr__backend *b);
    int (*bind_thread)(cr__backend *b); /* the first thread that runs the loop */
    int (*submit)(cr__backend *b, cr__op *op);
    void (*cancel)(cr__backend *b, cr__op *op);
    int (*poll)(cr__backend *b, int64_t timeout_ns);
    /* The buffer pool of RECV_MULTI: count buffers of size bytes at mem. */
    int (*bufs_register)(cr__backend *b, char *mem, unsigned count, unsigned size);
    void (*buf_recycle)(cr__backend *b, unsigned bid);
    /* What the kernel granted (the backend's fields of cr_loop_features). */
    void (*features)(const cr__backend *b, cr_loop_features *out);
    /* NULL, or a send(2) done for the caller at once (cr__be_send_now). */
    ssize_t (*send_now)(cr__backend *b, int fd, const void *p, size_t n);
};

struct cr__backend {
    const struct cr__backend_ops *ops;
    void *impl;          /* the backend's own state */
    unsigned inflight;   /* strong ops still owed a final completion */
    unsigned pending;    /* ops queued since the last poll (not yet seen by the kernel) */
    cr__be_stats stats;
    char *buf_mem;       /* the registered pool: buffer bid at buf_mem + bid * buf_size */
    unsigned buf_count, buf_size;
};

/* Chooses and sets up l's backend (opts, then CORING_BACKEND, then probing);
 * why[] gets one line saying which and why, for debug mode's log. */
CR_HIDDEN int cr__be_init(cr__backend *b, const cr_loop_opts *opts, char *why, size_t whylen);
CR_HIDDEN void cr__be_exit(cr__backend *b);
CR_HIDDEN void cr__set_setup_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline int cr__be_submit(cr__backend *b, cr__op *op)
{
    CR_TRACE3(op_submit, op, op->code, op->fd);
    return b->ops->submit(b, op);
}
static inline void cr__be_cancel(cr__backend *b, cr__op *op) { b->ops->cancel(b, op); }
/* Sends now, in the caller, where the backend would make the syscall at
 * submit anyway (epoll): bytes sent (maybe fewer than n), a negative errno,
 * or -EAGAIN (the socket is full, or older sends wait on fd: submit a SEND
 * with op->tried set, it waits its turn). -EOPNOTSUPP where sends are ops
 * (io_uring batches them with its wait). No op, no completion: the caller
 * does the bookkeeping a completion would have done. At most 1 GiB a call. */
static inline ssize_t cr__be_send_now(cr__backend *b, int fd, const void *p, size_t n)
{
    return b->ops->send_now ? b->ops->send_now(b, fd, p, n) : -EOPNOTSUPP;
}
static inline int cr__be_poll(cr__backend *b, int64_t timeout_ns) { return b->ops->poll(b, timeout_ns); }
static inline int cr__be_bind_thread(cr__backend *b) { return b->ops->bind_thread(b); }
/* Something could still complete: a strong op in flight or one queued. */
static inline bool cr__be_busy(const cr__backend *b) { return b->inflight || b->pending; }
static inline const char *cr__be_name(const cr__backend *b) { return b->ops ? b->ops->name : "none"; }

/* Backend bookkeeping, for implementations: an op was started / ended. */
static inline void cr__be_started(cr__backend *b, cr__op *op)
{
    op->counted = !op->weak;
    b->inflight += op->counted;
    b->pending++;
    b->stats.submitted++;
}
static inline void cr__be_ended(cr__backend *b, cr__op *op)
{
    b->inflight -= op->counted;
    op->counted = false;
}

/* ---- a long-lived (multishot or re-armed) op: armed while in the kernel;
 * at most one cancel per arming. ---- */
typedef struct cr__mshot {
    cr__op op;
    bool armed, cancel_sent;
} cr__mshot;

static inline int cr__mshot_arm(cr__backend *b, cr__mshot *m)
{
    int rc = cr__be_submit(b, &m->op);
    if (rc == 0) {
        m->armed = true;
        m->cancel_sent = false;
    }
    return rc;
}

static inline void cr__mshot_cancel(cr__backend *b, cr__mshot *m)
{
    if (!m->armed || m->cancel_sent)
        return;
    cr__be_cancel(b, &m->op);
    m->cancel_sent = true;
}

/* In complete(): true (and disarmed) when this was the op's last completion. */
static inline bool cr__mshot_ended(cr__mshot *m, unsigned flags)
{
    if (flags & CR__OPF_MORE)
        return false;
    m->armed = m->cancel_sent = false;
    return true;
}

CR_HIDDEN extern const struct cr__backend_ops cr__uring_ops;
/* Test seam: the next io_uring set-up fails with err. */
CR_HIDDEN void cr__uring_set_fault(int err);
/* Test seam: io_uring's probe reports a kernel older than 6.0. */
CR_HIDDEN void cr__uring_pretend_old_kernel(bool on);
/* io_uring set-up flags granted (0 on another backend): tests and reports. */
CR_HIDDEN unsigned cr__uring_setup_flags(const cr__backend *b);

/* The epoll backend (epoll.c): the fallback where io_uring is refused. */
CR_HIDDEN extern const struct cr__backend_ops cr__epoll_ops;
/* epoll_ctl calls so far (0 on another backend): tests pin the cost rule. */
CR_HIDDEN unsigned long cr__epoll_ctl_calls(const cr__backend *b);
/* Test seam: the epoll backend's result arrays cannot grow (as if realloc
 * failed), to show a submit refused with -ENOMEM and a file op the helpers
 * cannot take run on the loop thread instead. Loop thread only. */
CR_HIDDEN void cr__epoll_fail_growth(bool on);

#endif
