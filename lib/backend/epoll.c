/* SPDX-License-Identifier: MIT */
/*
 * epoll.c — the epoll backend: the same ops as io_uring (backend.h), done as
 * "try the syscall now; on EAGAIN wait for readiness and try again", for
 * kernels or sandboxes (seccomp, gVisor-like policies) that refuse io_uring.
 *
 * Owns: the epoll fd; one record per fd number with three FIFO queues of
 * waiting ops (readable, writable, POLL), a cache line each, in slabs of 64
 * by fd; a bit per fd saying its write queue is not empty; the "done" array
 * of completions owed to ops that finished at submit or were cancelled; the kick list of
 * records to work on at the next poll without an event; the free list of
 * provided-buffer ids behind RECV_MULTI.
 *
 * How an op runs:
 *  - submit tries the syscall at once (recv/send family with MSG_DONTWAIT,
 *    read/write with RWF_NOWAIT) unless older ops already wait on the same
 *    fd and direction (FIFO, like a socket's own wait queue). A result goes
 *    to the done array and is delivered by the next poll (never inside
 *    submit or cancel: backend.h). EAGAIN queues the op on its fd's record.
 *  - send_now is that first try without an op, for the stream layer (its
 *    sends are made by the loop before each poll): EAGAIN comes back to the
 *    caller, which then submits a SEND marked `tried`, queued at once.
 *  - Each fd is in the epoll set edge-triggered with IN|OUT|RDHUP, so a busy
 *    fd costs no epoll_ctl per request. Edge-triggered is safe because an op
 *    only waits after its own syscall saw EAGAIN, and a record's queue is
 *    worked until EAGAIN again (or a per-poll bound, then it is kicked).
 *  - Multishot ops (ACCEPT_MULTI, RECV_MULTI) sit at the head of the read
 *    queue and complete with CR__OPF_MORE each time the socket yields; they
 *    are kicked at submit, so the first pass runs in the next poll.
 *  - Regular files cannot be polled (epoll_ctl: EPERM). A read/write is
 *    tried with RWF_NOWAIT at submit (page-cache hits finish there); what
 *    would block, and fsync/statx/openat always, goes to the file helpers
 *    (up to 4 threads, started on demand), whose results come back through
 *    an eventfd in the epoll set and are delivered from poll.
 *
 * Invariants:
 *  - op->be_link[0] links an op in one queue (a record's, or the helpers');
 *    be_link[1] says where it is: the record queue it waits in, DONE_TAG
 *    (its final completion is owed: a cancel changes nothing),
 *    HELPER_QUEUED / HELPER_RUNNING (with the file helpers), or NULL (not
 *    ours). cancel decides from be_link[1] alone.
 *  - Results never need memory: the done array has a slot for every live
 *    op (reserved at submit, which refuses with -ENOMEM if it cannot), and
 *    the helpers' array one for every op they hold (reserved by offload,
 *    which otherwise runs the op on the loop thread).
 *  - While the done array or the kick list is not empty, poll does not block
 *    and b->pending > 0, so the loop does not take itself for dead
 *    (-EDEADLK) while completions are owed.
 *  - Records are allocated on first use (a slab of 64 at a time) and live
 *    until exit: a pointer to one stays valid across complete() callbacks
 *    that submit or close, and an fd number's record is always the same, so
 *    the epoll event carries the record's address instead of the number.
 *  - wbusy's bit for fd is set exactly while fd's write queue is not empty
 *    (q_push and q_remove keep it). A SEND/SENDMSG on an fd whose bit is
 *    clear is tried at submit without looking at the record: nothing can be
 *    queued ahead of it.
 *  - fd reuse: an fd closed with close(2) behind our back leaves epoll by
 *    itself, so a record's registration is re-checked (EPOLL_CTL_ADD,
 *    EEXIST = still there) whenever an op starts waiting on an idle record.
 *    A busy fd (a multishot recv armed, sends queued) is never re-checked.
 *
 * Threads: the loop's thread, except the file helpers: they touch only the
 * struct helpers (under its mutex), be_link[] of the ops handed to them
 * (under the same mutex) and those ops' own arguments and buffers.
 */
#include "backend/backend.h"
#include "core/systhread.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define QR 0 /* waits for readable */
#define QW 1 /* waits for writable */
#define QP 2 /* POLL ops: any event re-checks them */

#define EP_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)
#define EV_READ (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP)
#define EV_WRITE (EPOLLOUT | EPOLLERR | EPOLLHUP)
#define MAX_EVENTS 256
/* Completions one queue may produce per poll before it yields to the rest
 * (a fast sender must not keep one multishot recv looping forever). A
 * listener takes all it can: its queue is bounded by the backlog, and
 * io_uring's multishot accept also posts every pending connection at once
 * (a budget here made a burst of 200 connects wait 7 slow iterations). */
#define QUEUE_BUDGET 32
#define ACCEPT_BUDGET 4096

struct opq {
    cr__op *head, *tail;
};

/* One cache line, aligned: a readiness event touches this line and the op
 * at the head of a queue, nothing else of ours (the epoll event carries the
 * record's address). q[] comes first so that rec_of() can find a queue's
 * record and direction from the queue's address alone. */
struct fdrec {
    struct opq q[3];
    struct fdrec *kick_next;
    int fd;
    uint16_t kick;               /* EPOLL* bits to work on at the next poll */
    bool kicked : 1;             /* on the kick list */
    bool kick_blind : 1;         /* kicked without an event: no hint what is there */
    bool reg : 1;                /* we added it to the epoll set */
    bool connect_unset_nb : 1;   /* CONNECT set O_NONBLOCK: clear it when done */
};
#define REC_ALIGN 64
_Static_assert(sizeof(struct fdrec) == REC_ALIGN, "a record is one cache line");
_Static_assert(offsetof(struct fdrec, q) == 0, "rec_of() finds the record from a queue");
_Static_assert(((EV_READ | EV_WRITE | EPOLLIN) & ~0xffffu) == 0, "kick bits fit in uint16_t");

struct done {
    cr__op *op;
    int res;
    unsigned flags;
};

/* The file helpers: blocking file work (a read that missed the page cache,
 * fsync, openat, statx) runs here, as libuv's pool does it, so a slow disk
 * never stalls the loop. Up to MAX_HELPERS threads, started on demand; they
 * share one queue. Everything in this struct, and be_link[] of an op handed
 * to them, is under mu. A helper posts results to `out` and writes the
 * eventfd (in the loop's epoll set) when `out` goes non-empty. `out` has room
 * for every op the helpers hold (offload grows it before it hands one over,
 * or runs the op itself if it cannot), so a helper never allocates: a
 * finished op always has a place to go. */
#define MAX_HELPERS 4
struct helpers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    cr__op *head, *tail;    /* queued, linked through be_link[0] */
    struct done *out;       /* finished, for the loop to take */
    unsigned nout, out_cap;
    unsigned nqueued;       /* ops in the queue, not yet taken by a helper */
    unsigned nthreads, idle;
    bool stop;
    int efd;
    pthread_t th[MAX_HELPERS];
};

struct ep {
    int epfd;
    struct helpers *h;      /* NULL until the first blocking file op */
    unsigned offloaded;     /* ops with the helpers */
    bool no_pwait2;         /* epoll_pwait2 missing or refused: ms timeouts */
    bool waited;            /* the last poll asked the kernel for events */
    /* Records by fd number, in slabs of SLAB: fd's is slabs[fd / SLAB][fd %
     * SLAB], so neighbouring fds' records are neighbouring cache lines. */
    struct fdrec **slabs;
    unsigned nslabs;
    /* Bit fd % SLAB of wbusy[fd / SLAB]: fd's write queue is not empty. A
     * send on an fd whose bit is clear is tried at once without touching
     * its record (one line of bits for 512 fds, where records are a line
     * each). */
    uint64_t *wbusy;
    struct done *done;      /* final completions owed, for the next poll */
    unsigned ndone, done_cap;
    unsigned live;          /* ops started and not yet ended: done_cap >= live */
    struct fdrec *kick_head, *kick_tail;
    unsigned waiting;       /* ops in record queues */
    unsigned *free_bids;    /* provided buffers not lent to a recv */
    unsigned nfree;
    unsigned long ctls;     /* epoll_ctl calls made (tests pin the cost rule) */
};

static char done_tag, queued_tag, running_tag;
#define DONE_TAG ((void *)&done_tag)
#define HELPER_QUEUED ((void *)&queued_tag)   /* with the helpers, not started */
#define HELPER_RUNNING ((void *)&running_tag) /* a helper runs it: its result wins */
static char helper_key;
#define HELPER_KEY ((void *)&helper_key)      /* epoll data.ptr of the helpers' eventfd */

static inline struct ep *E(cr__backend *b) { return b->impl; }

/* ---- records, queues, the done array ---- */

#define SLAB 64 /* records per slab: 4 KiB; also the bits in a wbusy word */

/* fd's record, or NULL if its slab was never needed (nothing ever waited on
 * a number near it: then there is nothing to reset or fail either). */
static inline struct fdrec *rec_find(const struct ep *e, int fd)
{
    unsigned s = (unsigned)fd / SLAB;
    return fd >= 0 && s < e->nslabs && e->slabs[s] ? &e->slabs[s][(unsigned)fd % SLAB] : NULL;
}

static struct fdrec *rec_get(struct ep *e, int fd)
{
    unsigned s = (unsigned)fd / SLAB;
    if (s >= e->nslabs) {
        unsigned n = e->nslabs ? e->nslabs : 1;
        while (n <= s)
            n *= 2;
        struct fdrec **v = realloc(e->slabs, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + e->nslabs, 0, (n - e->nslabs) * sizeof *v);
        e->slabs = v;
        uint64_t *w = realloc(e->wbusy, n * sizeof *w);
        if (!w)
            return NULL; /* slabs grew, nslabs did not: the next call tries again */
        memset(w + e->nslabs, 0, (n - e->nslabs) * sizeof *w);
        e->wbusy = w;
        e->nslabs = n;
    }
    if (!e->slabs[s]) {
        struct fdrec *v = aligned_alloc(REC_ALIGN, SLAB * sizeof *v);
        if (!v)
            return NULL;
        memset(v, 0, SLAB * sizeof *v);
        for (unsigned i = 0; i < SLAB; i++)
            v[i].fd = (int)(s * SLAB + i);
        e->slabs[s] = v;
    }
    return &e->slabs[s][(unsigned)fd % SLAB];
}

/* The record a queue belongs to, and which of its queues it is. */
static inline struct fdrec *rec_of(const struct opq *q, int *qi)
{
    uintptr_t a = (uintptr_t)q;
    *qi = (int)((a & (REC_ALIGN - 1)) / sizeof *q);
    return (struct fdrec *)(a & ~(uintptr_t)(REC_ALIGN - 1));
}

/* Are sends waiting on fd (its write queue not empty)? */
static inline bool w_busy(const struct ep *e, int fd)
{
    unsigned s = (unsigned)fd / SLAB;
    return s < e->nslabs && (e->wbusy[s] >> ((unsigned)fd % SLAB) & 1);
}

/* A queue went from empty to not, or back: keep wbusy in step. */
static void q_edge(struct ep *e, struct opq *q)
{
    int qi;
    struct fdrec *r = rec_of(q, &qi);
    if (qi == QW)
        e->wbusy[(unsigned)r->fd / SLAB] ^= (uint64_t)1 << ((unsigned)r->fd % SLAB);
}

static bool rec_idle(const struct fdrec *r)
{
    return !r->q[QR].head && !r->q[QW].head && !r->q[QP].head;
}

static void q_push(struct ep *e, struct opq *q, cr__op *op)
{
    op->be_link[0] = NULL;
    op->be_link[1] = q;
    if (q->tail) {
        q->tail->be_link[0] = op;
    } else {
        q->head = op;
        q_edge(e, q);
    }
    q->tail = op;
    e->waiting++;
}

static void q_remove(struct ep *e, struct opq *q, cr__op *op)
{
    cr__op *prev = NULL;
    for (cr__op *o = q->head; o; prev = o, o = o->be_link[0]) {
        if (o != op)
            continue;
        if (prev)
            prev->be_link[0] = o->be_link[0];
        else
            q->head = o->be_link[0];
        if (q->tail == o)
            q->tail = prev;
        op->be_link[0] = op->be_link[1] = NULL;
        e->waiting--;
        if (!q->head)
            q_edge(e, q);
        return;
    }
}

/* Every op owes one final completion, and each sits in `done` at most once,
 * so room for one per live op means push_done never allocates: a result
 * always has a place, even when memory has run out. ep_submit makes the room
 * before it starts an op, and refuses the op (-ENOMEM) if it cannot. */
static bool fail_growth; /* test seam (cr__epoll_fail_growth) */

void cr__epoll_fail_growth(bool on) { fail_growth = on; }

static void *grow(void *p, size_t size) { return fail_growth ? NULL : realloc(p, size); }

static int done_reserve(struct ep *e)
{
    if (__builtin_expect(e->live < e->done_cap, 1))
        return 0;
    unsigned cap = e->done_cap ? e->done_cap * 2 : 64;
    struct done *v = grow(e->done, cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    e->done = v;
    e->done_cap = cap;
    return 0;
}

static void started(cr__backend *b, cr__op *op)
{
    cr__be_started(b, op);
    E(b)->live++;
}

/* A final completion to deliver from the next poll. */
static void push_done(cr__backend *b, cr__op *op, int res)
{
    struct ep *e = E(b);
    /* Room was made when op started (done_reserve): ndone < live <= done_cap. */
    e->done[e->ndone++] = (struct done){op, res, 0};
    op->be_link[0] = NULL;
    op->be_link[1] = DONE_TAG;
    b->pending++;
}

static void kick(struct ep *e, struct fdrec *r, unsigned events)
{
    r->kick |= (uint16_t)events;
    if (r->kicked)
        return;
    r->kicked = true;
    r->kick_next = NULL;
    if (e->kick_tail)
        e->kick_tail->kick_next = r;
    else
        e->kick_head = r;
    e->kick_tail = r;
}

/* Deliver a completion now (from poll only). */
static void finish(cr__backend *b, cr__op *op, int res, unsigned flags)
{
    if (!(flags & CR__OPF_MORE)) {
        cr__be_ended(b, op);
        E(b)->live--;
    }
    b->stats.completions++;
    op->complete(op, res, flags);
}

/* Every op still waiting on r ends with err (its fd is gone). */
static void rec_fail_all(cr__backend *b, struct fdrec *r, int err)
{
    struct ep *e = E(b);
    for (int i = 0; i < 3; i++) {
        cr__op *op;
        while ((op = r->q[i].head)) {
            q_remove(e, &r->q[i], op);
            push_done(b, op, err);
        }
    }
}

/* fd is a new file (we just made it, or it was just closed): whatever we
 * knew about the number belongs to a dead file. */
static void rec_reset(cr__backend *b, int fd)
{
    struct ep *e = E(b);
    struct fdrec *r = rec_find(e, fd);
    if (!r)
        return;
    rec_fail_all(b, r, -EBADF);
    r->reg = false;
    r->connect_unset_nb = false;
}

/* Make sure the file now behind r->fd is in the epoll set. */
static int rec_register(struct ep *e, struct fdrec *r)
{
    struct epoll_event ev = {.events = EP_EVENTS, .data.ptr = r};
    e->ctls++;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, r->fd, &ev) == 0 || errno == EEXIST) {
        r->reg = true;
        return 0;
    }
    return -errno;
}

static int set_nonblock(int fd, bool *was_blocking)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (was_blocking)
        *was_blocking = !(fl & O_NONBLOCK);
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* ---- the operations: one attempt each; -EAGAIN means "wait" ---- */

static int neg(long rc) { return rc < 0 ? -errno : (int)rc; }

static int rw_file(cr__op *op, bool nowait)
{
    struct iovec iov = {op->a.rw.buf, op->a.rw.len};
    off_t off = (off_t)op->a.rw.off; /* -1: the file position */
    int fl = nowait ? RWF_NOWAIT : 0;
    ssize_t n = op->code == CR__OP_READ ? preadv2(op->fd, &iov, 1, off, fl)
                                        : pwritev2(op->fd, &iov, 1, off, fl);
    return neg(n);
}

/* READ/WRITE: RWF_NOWAIT makes the attempt non-blocking without touching
 * the file's flags (pipes, sockets, eventfd, signalfd on recent kernels).
 * A file type without RWF_NOWAIT support gets O_NONBLOCK once instead. */
static int try_rw(cr__op *op)
{
    int rc = rw_file(op, true);
    if (rc != -EOPNOTSUPP)
        return rc;
    if ((rc = set_nonblock(op->fd, NULL)) < 0)
        return rc;
    return rw_file(op, false);
}

/* MSG_WAITALL on a stream: keep reading until len (progress in a.rw.off,
 * which RECV does not otherwise use). */
static int try_recv(cr__op *op)
{
    int flags = op->a.rw.flags | MSG_DONTWAIT;
    if (!(flags & MSG_WAITALL))
        return neg(recv(op->fd, op->a.rw.buf, op->a.rw.len, flags));
    flags &= ~MSG_WAITALL;
    char *p = op->a.rw.buf;
    size_t got = (size_t)op->a.rw.off;
    while (got < op->a.rw.len) {
        ssize_t n = recv(op->fd, p + got, op->a.rw.len - got, flags);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                op->a.rw.off = got;
                return -EAGAIN;
            }
            return got ? (int)got : -errno;
        }
        got += (size_t)n;
    }
    return (int)got;
}

static int try_poll(cr__op *op)
{
    struct pollfd p = {.fd = op->fd, .events = (short)op->a.rw.flags};
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EAGAIN;
    return p.revents & POLLNVAL ? -EBADF : p.revents;
}

/* The connect was started at submit; has it finished? */
static int connect_result(cr__op *op)
{
    struct pollfd p = {.fd = op->fd, .events = POLLOUT};
    if (poll(&p, 1, 0) == 0)
        return -EAGAIN; /* a stale or unrelated edge */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

static void connect_done(struct ep *e, cr__op *op)
{
    struct fdrec *r = rec_find(e, op->fd);
    if (r && r->connect_unset_nb) {
        /* The socket goes back to blocking, as io_uring leaves it. */
        int fl = fcntl(op->fd, F_GETFL);
        if (fl >= 0)
            fcntl(op->fd, F_SETFL, fl & ~O_NONBLOCK);
        r->connect_unset_nb = false;
    }
}

/* SPLICE: which side stops it? Wait for that one (-EAGAIN with *qfd set). */
static int try_splice(cr__op *op, int *wait_fd, int *wait_q)
{
    loff_t oin = op->a.splice.off_in, oout = op->a.splice.off_out;
    ssize_t n = splice(op->fd, oin < 0 ? NULL : &oin, op->a.splice.fd_out, oout < 0 ? NULL : &oout,
                       op->a.splice.len, op->a.splice.flags | SPLICE_F_NONBLOCK);
    if (n >= 0)
        return (int)n;
    if (errno != EAGAIN)
        return -errno;
    struct pollfd p[2] = {{.fd = op->fd, .events = POLLIN}, {.fd = op->a.splice.fd_out, .events = POLLOUT}};
    poll(p, 2, 0);
    if (!(p[0].revents) || (p[1].revents)) {
        *wait_fd = op->fd;
        *wait_q = QR;
    } else {
        *wait_fd = op->a.splice.fd_out;
        *wait_q = QW;
    }
    return -EAGAIN;
}

static int try_accept(cr__backend *b, cr__op *op)
{
    int fd = accept4(op->fd, op->a.acc.addr, op->a.acc.lenp, SOCK_CLOEXEC);
    if (fd < 0)
        return -errno;
    rec_reset(b, fd);
    return fd;
}

/* One attempt of a waiting single-shot op (from submit or poll). */
static int try_op(cr__backend *b, cr__op *op, bool first, int *wait_fd, int *wait_q)
{
    switch (op->code) {
    case CR__OP_ACCEPT:
        return try_accept(b, op);
    case CR__OP_CONNECT:
        if (!first)
            return connect_result(op);
        {
            int rc = neg(connect(op->fd, op->a.acc.addr, op->a.acc.len));
            return rc == -EINPROGRESS ? -EAGAIN : rc;
        }
    case CR__OP_RECV:
        return try_recv(op);
    case CR__OP_SEND:
        return neg(send(op->fd, op->a.rw.buf, op->a.rw.len, op->a.rw.flags | MSG_DONTWAIT));
    case CR__OP_RECVMSG:
        return neg(recvmsg(op->fd, op->a.rw.buf, op->a.rw.flags | MSG_DONTWAIT));
    case CR__OP_SENDMSG:
        return neg(sendmsg(op->fd, op->a.rw.buf, op->a.rw.flags | MSG_DONTWAIT));
    case CR__OP_READ:
    case CR__OP_WRITE:
        return try_rw(op);
    case CR__OP_POLL:
        return try_poll(op);
    case CR__OP_SPLICE:
        return try_splice(op, wait_fd, wait_q);
    default:
        return -EINVAL;
    }
}

static int queue_of(const cr__op *op)
{
    switch (op->code) {
    case CR__OP_CONNECT:
    case CR__OP_SEND:
    case CR__OP_SENDMSG:
    case CR__OP_WRITE:
        return QW;
    case CR__OP_POLL:
        return QP;
    default:
        return QR;
    }
}

/* Ops that never wait for readiness: done at submit, on this thread. */
static int run_sync(cr__backend *b, cr__op *op)
{
    int fd = op->fd, rc;
    switch (op->code) {
    case CR__OP_SOCKET:
        rc = neg(socket(op->a.sock.domain, op->a.sock.type, op->a.sock.protocol));
        rec_reset(b, rc);
        return rc;
    case CR__OP_SHUTDOWN:
        return neg(shutdown(fd, op->a.rw.flags));
    case CR__OP_CLOSE: {
        struct ep *e = E(b);
        struct fdrec *r = rec_find(e, fd);
        if (r) {
            rec_fail_all(b, r, -EBADF);
            /* DEL first: a dup of this file elsewhere would keep it in the set. */
            if (r->reg) {
                e->ctls++;
                epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
            }
            r->reg = false;
            r->connect_unset_nb = false;
        }
        return neg(close(fd));
    }
    case CR__OP_OPENAT:
        rc = neg(openat(fd, op->a.path.path, op->a.path.flags, (mode_t)op->a.path.mode));
        rec_reset(b, rc);
        return rc;
    case CR__OP_FSYNC:
        return neg(op->a.rw.flags & CR__FSYNC_DATA ? fdatasync(fd) : fsync(fd));
    case CR__OP_STATX:
        return neg(statx(fd, op->a.path.path, op->a.path.flags, op->a.path.mask, op->a.path.out));
    default:
        return -EINVAL;
    }
}

/* ---- the file helpers ---- */

/* Blocking work, on a helper thread: only errno and the op's own memory. */
static int run_blocking(cr__op *op)
{
    switch (op->code) {
    case CR__OP_READ:
    case CR__OP_WRITE:
        return rw_file(op, false);
    case CR__OP_FSYNC:
        return neg(op->a.rw.flags & CR__FSYNC_DATA ? fdatasync(op->fd) : fsync(op->fd));
    case CR__OP_STATX:
        return neg(statx(op->fd, op->a.path.path, op->a.path.flags, op->a.path.mask, op->a.path.out));
    case CR__OP_OPENAT:
        return neg(openat(op->fd, op->a.path.path, op->a.path.flags, (mode_t)op->a.path.mode));
    default:
        return -EINVAL;
    }
}

static void *helper_main(void *arg)
{
    struct helpers *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->head && !h->stop) {
            h->idle++;
            pthread_cond_wait(&h->cv, &h->mu);
            h->idle--;
        }
        if (h->stop)
            break; /* the loop is closing: what is still queued is dropped */
        cr__op *op = h->head;
        h->head = op->be_link[0];
        if (!h->head)
            h->tail = NULL;
        h->nqueued--;
        op->be_link[1] = HELPER_RUNNING;
        pthread_mutex_unlock(&h->mu);
        int res = run_blocking(op);
        pthread_mutex_lock(&h->mu);
        /* Room was made by offload: nout < out_cap. */
        bool wake = h->nout == 0;
        h->out[h->nout++] = (struct done){op, res, 0};
        op->be_link[1] = DONE_TAG;
        if (wake) {
            uint64_t one = 1;
            while (write(h->efd, &one, sizeof one) < 0 && errno == EINTR)
                ;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* Another helper thread, the asynchronous signals blocked in it
 * (core/systhread.h says why). */
static int helper_spawn(struct helpers *h)
{
    int rc = cr__thread_start(&h->th[h->nthreads], NULL, helper_main, h);
    if (rc == 0)
        h->nthreads++;
    return rc;
}

static struct helpers *helpers_get(struct ep *e)
{
    if (e->h)
        return e->h;
    struct helpers *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = HELPER_KEY};
    if (h->efd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, h->efd, &ev) < 0) {
        if (h->efd >= 0)
            close(h->efd);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    e->h = h;
    return h;
}

/* Hand op to the helpers; false if they cannot be had (then do it here). */
static bool offload(cr__backend *b, cr__op *op)
{
    struct ep *e = E(b);
    struct helpers *h = helpers_get(e);
    if (!h)
        return false;
    pthread_mutex_lock(&h->mu);
    /* More queued than idle helpers to take them (a woken helper counts as
     * idle until it runs): one more thread, up to the cap. A helper stuck in
     * a long call (a FIFO open) so never holds up the others' work. */
    if (h->nqueued + 1 > h->idle && h->nthreads < MAX_HELPERS)
        helper_spawn(h);
    if (h->nthreads == 0) {
        pthread_mutex_unlock(&h->mu);
        return false;
    }
    /* Room in `out` for this op's result beside every other op the helpers
     * hold (e->offloaded: queued, running, or finished and not yet reaped). */
    if (h->out_cap < e->offloaded + 1) {
        unsigned cap = h->out_cap ? h->out_cap * 2 : 16;
        struct done *v = grow(h->out, cap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&h->mu);
            return false; /* then it runs here, on the loop thread */
        }
        h->out = v;
        h->out_cap = cap;
    }
    op->be_link[0] = NULL;
    op->be_link[1] = HELPER_QUEUED;
    if (h->tail)
        h->tail->be_link[0] = op;
    else
        h->head = op;
    h->tail = op;
    h->nqueued++;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    e->offloaded++;
    e->waiting++; /* so a busy iteration still looks at the eventfd */
    return true;
}

/* Completions the helpers posted: delivered now (from poll). */
static void helpers_reap(cr__backend *b)
{
    struct ep *e = E(b);
    struct helpers *h = e->h;
    uint64_t v;
    while (read(h->efd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    /* `out` stays the helpers' (its room is reserved, see offload): take its
     * entries a batch at a time into our own frame, and deliver them outside
     * the lock (a completion may offload again). Until it is seen empty: a
     * helper writes the eventfd only when it finds `out` empty. */
    struct done batch[32];
    unsigned n;
    do {
        pthread_mutex_lock(&h->mu);
        n = h->nout < 32 ? h->nout : 32;
        if (n) {
            memcpy(batch, h->out, n * sizeof batch[0]);
            h->nout -= n;
            memmove(h->out, h->out + n, h->nout * sizeof batch[0]); /* rare: > 32 at once */
        }
        pthread_mutex_unlock(&h->mu);
        for (unsigned i = 0; i < n; i++) {
            cr__op *op = batch[i].op;
            op->be_link[1] = NULL;
            e->offloaded--;
            e->waiting--;
            if (op->code == CR__OP_OPENAT && batch[i].res >= 0)
                rec_reset(b, batch[i].res);
            finish(b, op, batch[i].res, 0);
        }
    } while (n == 32);
}

/* An op still queued with the helpers comes back (cancel); false if a
 * helper already has it. */
static bool helpers_take_back(struct ep *e, cr__op *op)
{
    struct helpers *h = e->h;
    bool taken = false;
    pthread_mutex_lock(&h->mu);
    if (op->be_link[1] == HELPER_QUEUED) {
        cr__op *prev = NULL;
        for (cr__op *o = h->head; o; prev = o, o = o->be_link[0]) {
            if (o != op)
                continue;
            if (prev)
                prev->be_link[0] = o->be_link[0];
            else
                h->head = o->be_link[0];
            if (h->tail == o)
                h->tail = prev;
            h->nqueued--;
            taken = true;
            break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (taken) {
        e->offloaded--;
        e->waiting--;
    }
    return taken;
}

static void helpers_stop(struct ep *e)
{
    struct helpers *h = e->h;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->th[i], NULL);
    close(h->efd);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h->out);
    free(h);
    e->h = NULL;
}

/* op could not finish now: park it on fd's queue qi. */
static int wait_on(cr__backend *b, int fd, int qi, cr__op *op)
{
    struct ep *e = E(b);
    struct fdrec *r = rec_get(e, fd);
    if (!r)
        return -ENOMEM;
    if (rec_idle(r)) {
        int rc = rec_register(e, r);
        if (rc < 0)
            return rc;
    }
    q_push(e, &r->q[qi], op);
    return 0;
}

static int ep_submit(cr__backend *b, cr__op *op)
{
    struct ep *e = E(b);
    int rc0 = done_reserve(e);
    if (rc0 < 0)
        return rc0;
    switch (op->code) {
    case CR__OP_SOCKET:
    case CR__OP_SHUTDOWN:
    case CR__OP_CLOSE:
        started(b, op);
        push_done(b, op, run_sync(b, op));
        return 0;
    case CR__OP_OPENAT:
    case CR__OP_FSYNC:
    case CR__OP_STATX:
        /* May wait for the disk (or a FIFO's other end): the helpers. */
        started(b, op);
        if (!offload(b, op))
            push_done(b, op, run_sync(b, op));
        return 0;
    case CR__OP_ACCEPT_MULTI:
    case CR__OP_RECV_MULTI: {
        if (op->fd < 0)
            return -EBADF;
        struct fdrec *r = rec_get(e, op->fd);
        if (!r)
            return -ENOMEM;
        int rc = 0;
        if (op->code == CR__OP_ACCEPT_MULTI && (rc = set_nonblock(op->fd, NULL)) < 0)
            return rc;
        if (rec_idle(r) && (rc = rec_register(e, r)) < 0)
            return rc;
        started(b, op);
        q_push(e, &r->q[QR], op);
        kick(e, r, EPOLLIN); /* whatever is there already: the next poll takes it */
        r->kick_blind = true;
        return 0;
    }
    case CR__OP_ACCEPT:
    case CR__OP_CONNECT:
    case CR__OP_RECV:
    case CR__OP_SEND:
    case CR__OP_RECVMSG:
    case CR__OP_SENDMSG:
    case CR__OP_READ:
    case CR__OP_WRITE:
    case CR__OP_POLL:
    case CR__OP_SPLICE:
        break;
    default:
        return -EINVAL;
    }
    started(b, op);
    int qi = queue_of(op), wfd = op->fd;
    if (op->fd < 0) {
        push_done(b, op, -EBADF);
        return 0;
    }
    if (op->code == CR__OP_SEND && op->tried) {
        /* Its caller's send_now saw EAGAIN a moment ago: wait at once. */
        op->tried = false;
        int rc = wait_on(b, wfd, qi, op);
        if (rc < 0)
            push_done(b, op, rc);
        return 0;
    }
    if ((op->code == CR__OP_SEND || op->code == CR__OP_SENDMSG) && !w_busy(e, op->fd)) {
        /* The common case of a server's answer: nothing queued ahead of it,
         * so try it now, and look at the fd's record only if it must wait. */
        int rc = try_op(b, op, true, &wfd, &qi);
        if (rc == -EAGAIN && (rc = wait_on(b, wfd, qi, op)) == 0)
            return 0;
        push_done(b, op, rc);
        return 0;
    }
    struct fdrec *r = rec_get(e, op->fd);
    if (!r) {
        push_done(b, op, -ENOMEM);
        return 0;
    }
    /* Older ops wait in this direction: keep the order (a CONNECT or SPLICE
     * never queues behind, it has its own first step). */
    if (r->q[qi].head && op->code != CR__OP_CONNECT && op->code != CR__OP_SPLICE &&
        op->code != CR__OP_POLL) {
        if (op->code == CR__OP_RECV)
            op->a.rw.off = 0;
        q_push(e, &r->q[qi], op);
        return 0;
    }
    int rc = 0;
    if (op->code == CR__OP_ACCEPT)
        rc = set_nonblock(op->fd, NULL);
    else if (op->code == CR__OP_CONNECT) {
        bool was_blocking = false;
        rc = set_nonblock(op->fd, &was_blocking);
        r->connect_unset_nb = was_blocking;
    }
    else if (op->code == CR__OP_RECV)
        op->a.rw.off = 0;
    if (rc == 0)
        rc = try_op(b, op, true, &wfd, &qi);
    if (rc == -EAGAIN) {
        rc = wait_on(b, wfd, qi, op);
        if (rc == 0)
            return 0;
        if (rc == -EPERM && (op->code == CR__OP_READ || op->code == CR__OP_WRITE)) {
            /* A regular file said "later" (not in the page cache, or a write
             * that would wait): it cannot be polled, so a helper does it. */
            if (offload(b, op))
                return 0;
            rc = rw_file(op, false);
        }
    }
    if (op->code == CR__OP_CONNECT)
        connect_done(e, op);
    push_done(b, op, rc);
    return 0;
}

static void ep_cancel(cr__backend *b, cr__op *op)
{
    struct ep *e = E(b);
    if (e->h && e->offloaded) {
        if (helpers_take_back(e, op)) {
            push_done(b, op, -ECANCELED);
            return;
        }
        pthread_mutex_lock(&e->h->mu); /* a helper may be writing be_link[1] */
        void *where = op->be_link[1];
        pthread_mutex_unlock(&e->h->mu);
        if (where == HELPER_RUNNING || where == DONE_TAG)
            return; /* a helper has it: its result wins */
    }
    void *where = op->be_link[1];
    if (!where || where == DONE_TAG)
        return; /* its result is already owed: that wins */
    q_remove(e, where, op);
    int res = -ECANCELED;
    if (op->code == CR__OP_RECV && (op->a.rw.flags & MSG_WAITALL) && op->a.rw.off)
        res = (int)op->a.rw.off; /* what a MSG_WAITALL recv already took is not lost */
    if (op->code == CR__OP_CONNECT)
        connect_done(e, op);
    push_done(b, op, res);
}

/* ---- multishot steps: 1 = go on with the queue, 0 = stop (EAGAIN) ---- */

static int step_accept_multi(cr__backend *b, struct opq *q, cr__op *op)
{
    int fd = accept4(op->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        rec_reset(b, fd);
        finish(b, op, fd, CR__OPF_MORE);
        return 1;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK)
        return 0;
    if (err == EINTR || err == ECONNABORTED)
        return 1; /* that connection is gone; the next may be there */
    /* EMFILE & co end the op, as io_uring's multishot accept does: the
     * acceptor backs off and re-arms. */
    q_remove(E(b), q, op);
    finish(b, op, -err, 0);
    return 1;
}

/* `hinted`: this pass follows an epoll event without RDHUP/HUP. Then a short
 * read means the socket is drained (anything arriving later, EOF included,
 * raises a new edge) and the recv that would only say EAGAIN is skipped:
 * one syscall less per message on a busy connection. */
static int step_recv_multi(cr__backend *b, struct opq *q, cr__op *op, bool hinted)
{
    struct ep *e = E(b);
    if (!e->nfree) {
        /* Dry pool: end with ENOBUFS only if data is actually waiting (a
         * quiet socket holds no buffer, as with io_uring). */
        char c;
        ssize_t n = recv(op->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        q_remove(e, q, op);
        finish(b, op, n > 0 ? -ENOBUFS : n == 0 ? 0 : -errno, 0);
        return 1;
    }
    unsigned bid = e->free_bids[--e->nfree];
    ssize_t n = recv(op->fd, b->buf_mem + (size_t)bid * b->buf_size, b->buf_size, MSG_DONTWAIT);
    if (n > 0) {
        finish(b, op, (int)n, CR__OPF_BUFFER | CR__OPF_MORE | (bid << CR__OPF_BID_SHIFT));
        return !(hinted && (size_t)n < b->buf_size);
    }
    int err = n < 0 ? errno : 0;
    e->free_bids[e->nfree++] = bid;
    if (err == EAGAIN || err == EWOULDBLOCK)
        return 0;
    if (err == EINTR)
        return 1;
    q_remove(e, q, op);
    finish(b, op, -err, 0); /* 0: the peer's EOF */
    return 1;
}

/* Work one queue of r until EAGAIN; false if the budget ran out first. */
static bool run_queue(cr__backend *b, struct fdrec *r, int qi, bool hinted)
{
    struct ep *e = E(b);
    struct opq *q = &r->q[qi];
    int budget = q->head && q->head->code == CR__OP_ACCEPT_MULTI ? ACCEPT_BUDGET : QUEUE_BUDGET;
    for (; budget > 0; budget--) {
        cr__op *op = q->head;
        if (!op)
            return true;
        if (op->code == CR__OP_ACCEPT_MULTI || op->code == CR__OP_RECV_MULTI) {
            int go = op->code == CR__OP_ACCEPT_MULTI ? step_accept_multi(b, q, op)
                                                      : step_recv_multi(b, q, op, hinted);
            if (!go)
                return true;
            continue;
        }
        int wfd = r->fd, wq = qi;
        int res = try_op(b, op, false, &wfd, &wq);
        if (res == -EAGAIN) {
            if (wfd == r->fd && wq == qi)
                return true;
            /* A splice now waits on its other side. */
            q_remove(e, q, op);
            if (wait_on(b, wfd, wq, op) == 0)
                continue;
            res = -EAGAIN;
        }
        q_remove(e, q, op);
        if (op->code == CR__OP_CONNECT)
            connect_done(e, op);
        finish(b, op, res, 0);
    }
    return false;
}

/* POLL ops are independent of each other: finish every one that is ready. */
static void run_polls(cr__backend *b, struct fdrec *r)
{
    struct ep *e = E(b);
    struct opq *q = &r->q[QP];
    cr__op *ready = NULL;
    for (cr__op *op = q->head, *next; op; op = next) {
        next = op->be_link[0];
        int res = try_poll(op);
        if (res == -EAGAIN)
            continue;
        q_remove(e, q, op);
        op->be_link[0] = ready; /* a private list: cancel sees DONE_TAG and leaves it */
        op->be_link[1] = DONE_TAG;
        op->a.rw.off = (uint64_t)(unsigned)res;
        ready = op;
    }
    while (ready) {
        cr__op *op = ready;
        ready = op->be_link[0];
        op->be_link[0] = op->be_link[1] = NULL;
        finish(b, op, (int)(unsigned)op->a.rw.off, 0);
    }
}

/* ---- poll ---- */

static int wait_events(cr__backend *b, struct epoll_event *ev, int64_t timeout_ns)
{
    struct ep *e = E(b);
    b->stats.enters++;
    if (!e->no_pwait2) {
        struct timespec ts, *tsp = NULL;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        int n = epoll_pwait2(e->epfd, ev, MAX_EVENTS, tsp, NULL);
        if (n >= 0 || (errno != ENOSYS && errno != EPERM))
            return n;
        /* ENOSYS: before 5.11, or a seccomp allow-list that answers ENOSYS
         * for calls it does not know. EPERM: an allow-list written before the
         * call existed (the kernel itself never answers EPERM here). Either
         * way: epoll_wait, milliseconds rounded up. */
        e->no_pwait2 = true;
    }
    int ms = -1;
    if (timeout_ns >= 0)
        ms = timeout_ns / 1000000 >= INT_MAX ? INT_MAX : (int)((timeout_ns + 999999) / 1000000);
    return epoll_wait(e->epfd, ev, MAX_EVENTS, ms);
}

static int ep_poll(cr__backend *b, int64_t timeout_ns)
{
    struct ep *e = E(b);
    struct epoll_event ev[MAX_EVENTS];
    bool owed = e->ndone || e->kick_head;
    if (owed)
        timeout_ns = 0;
    int n = 0;
    /* A busy iteration with nothing waiting on any fd asks the kernel nothing.
     * Nor does one that only delivers what is owed right after a poll that
     * did ask (the completions of sends made at submit, typically): a server
     * would otherwise pay an epoll_wait(0) per turn on top of the one that
     * blocks, where io_uring's one enter both submits and reaps. Every
     * other poll at least looks, so no fd starves behind a stream of owed
     * completions. */
    bool look = (timeout_ns != 0 || e->waiting) && !(owed && e->waited);
    e->waited = look;
    if (look) {
        n = wait_events(b, ev, timeout_ns);
        if (n < 0) {
            if (errno != EINTR) {
                b->pending = e->ndone + (e->kick_head != NULL);
                return -errno;
            }
            n = 0;
        }
    }
    bool reap = false;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == HELPER_KEY) {
            reap = true;
            continue;
        }
        kick(e, ev[i].data.ptr, ev[i].events); /* records live until exit */
    }
    /* Completions owed from submit and cancel, oldest first; those their
     * callbacks add wait for the next poll. */
    unsigned nd = e->ndone;
    for (unsigned i = 0; i < nd; i++) {
        struct done d = e->done[i];
        d.op->be_link[1] = NULL;
        finish(b, d.op, d.res, d.flags);
    }
    if (nd) {
        memmove(e->done, e->done + nd, (e->ndone - nd) * sizeof *e->done);
        e->ndone -= nd;
    }
    if (reap)
        helpers_reap(b);
    /* Records with events (or kicked at submit); kicks made meanwhile run
     * at the next poll. */
    struct fdrec *r = e->kick_head;
    e->kick_head = e->kick_tail = NULL;
    while (r) {
        struct fdrec *next = r->kick_next;
        unsigned m = r->kick;
        bool blind = r->kick_blind;
        bool hinted = !blind && !(m & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
        r->kick = 0;
        r->kicked = false;
        r->kick_blind = false;
        bool all = true;
        if (m & EV_READ)
            all &= run_queue(b, r, QR, hinted);
        if (m & EV_WRITE)
            all &= run_queue(b, r, QW, false);
        if (r->q[QP].head)
            run_polls(b, r);
        if (!all) {
            kick(e, r, m); /* budget spent: the rest next time */
            r->kick_blind |= blind;
        }
        r = next;
    }
    b->pending = e->ndone + (e->kick_head != NULL);
    return 0;
}

/* ---- set-up ---- */

static int ep_init(cr__backend *b, const cr_loop_opts *opts)
{
    (void)opts; /* ring_entries and the io_uring flags mean nothing here */
    struct ep *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = -errno;
        cr__set_setup_error("epoll_create1 failed: %s", strerror(-err));
        free(e);
        return err;
    }
    b->impl = e;
    return 0;
}

static void ep_exit(cr__backend *b)
{
    struct ep *e = E(b);
    helpers_stop(e); /* before the memory their ops point at goes */
    close(e->epfd);
    for (unsigned i = 0; i < e->nslabs; i++)
        free(e->slabs[i]);
    free(e->slabs);
    free(e->wbusy);
    free(e->done);
    free(e->free_bids);
    free(e);
    b->impl = NULL;
}

static int ep_bind_thread(cr__backend *b)
{
    (void)b;
    return 0;
}

static int ep_bufs_register(cr__backend *b, char *mem, unsigned count, unsigned size)
{
    struct ep *e = E(b);
    unsigned *v = malloc(count * sizeof *v);
    if (!v)
        return -ENOMEM;
    /* A stack: the lowest ids go out first, like a fresh buffer ring. */
    for (unsigned i = 0; i < count; i++)
        v[i] = count - 1 - i;
    free(e->free_bids);
    e->free_bids = v;
    e->nfree = count;
    b->buf_mem = mem;
    b->buf_count = count;
    b->buf_size = size;
    return 0;
}

static void ep_buf_recycle(cr__backend *b, unsigned bid)
{
    struct ep *e = E(b);
    e->free_bids[e->nfree++] = bid;
}

unsigned long cr__epoll_ctl_calls(const cr__backend *b)
{
    return b->ops == &cr__epoll_ops ? ((const struct ep *)b->impl)->ctls : 0;
}

/* The send submit would have tried at once, without the op: streams call it
 * first (no op to fill, no completion to deliver from the next poll). */
static ssize_t ep_send_now(cr__backend *b, int fd, const void *p, size_t n)
{
    if (fd < 0)
        return -EBADF;
    if (w_busy(E(b), fd))
        return -EAGAIN; /* older sends wait: the op queues behind them */
    ssize_t k = send(fd, p, n < (1u << 30) ? n : (1u << 30), MSG_DONTWAIT | MSG_NOSIGNAL);
    return k < 0 ? -errno : k; /* EWOULDBLOCK is EAGAIN on Linux */
}

/* Multishot ops and the buffer pool are emulated in user space here. */
static void ep_features(const cr__backend *b, cr_loop_features *out)
{
    const struct ep *e = b->impl;
    out->ns_timeouts = !e->no_pwait2;
}

const struct cr__backend_ops cr__epoll_ops = {
    .name = "epoll",
    .init = ep_init,
    .exit = ep_exit,
    .bind_thread = ep_bind_thread,
    .submit = ep_submit,
    .cancel = ep_cancel,
    .poll = ep_poll,
    .bufs_register = ep_bufs_register,
    .buf_recycle = ep_buf_recycle,
    .features = ep_features,
    .send_now = ep_send_now,
};
