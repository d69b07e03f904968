/* SPDX-License-Identifier: MIT */
/*
 * uring.c — the io_uring backend: set-up (probing and degrading one flag at a
 * time, with a one-line explanation when io_uring is refused), the
 * operation table that turns a cr__op into an SQE, the single
 * submit-and-wait of each loop iteration, CQE dispatch, and the provided-
 * buffer ring behind RECV_MULTI.
 *
 * Invariants:
 *  - Every SQE with a non-zero user_data names a live cr__op, which stays
 *    alive until its last CQE (one without IORING_CQE_F_MORE) is dispatched.
 *    Cancel requests carry user_data 0: their own CQEs are skipped.
 *  - b->inflight counts strong ops still owed a final CQE (backend.h).
 *  - Only the loop's thread calls anything here (SINGLE_ISSUER).
 */
#include "backend/backend.h"
#include "backend/uring-compat.h"
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(CR__OPF_BUFFER == IORING_CQE_F_BUFFER, "completion flags are io_uring's");
_Static_assert(CR__OPF_MORE == IORING_CQE_F_MORE, "completion flags are io_uring's");
_Static_assert(CR__OPF_BID_SHIFT == IORING_CQE_BUFFER_SHIFT, "completion flags are io_uring's");

#define BGID 0x4352 /* the loop's one provided-buffer group */

struct uring {
    struct io_uring ring;
    unsigned flags;      /* IORING_SETUP_* granted */
    unsigned feat;       /* IORING_FEAT_* the kernel reported */
    bool has_socket_op;  /* IORING_OP_SOCKET: 5.19, as multishot accept */
    bool has_send_zc;    /* IORING_OP_SEND_ZC: 6.0, as multishot recv */
    bool enabled;        /* R_DISABLED ring enabled on its thread */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    unsigned br_mask;
};

static inline struct uring *U(cr__backend *b) { return b->impl; }

static int fault_next_setup;
static bool pretend_old_kernel; /* test seam: the probe finds no 6.0 opcodes */

void cr__uring_pretend_old_kernel(bool on) { pretend_old_kernel = on; }

void cr__uring_set_fault(int err) { fault_next_setup = err; }

unsigned cr__uring_setup_flags(const cr__backend *b)
{
    return b->ops == &cr__uring_ops ? ((struct uring *)b->impl)->flags : 0;
}

static int read_sysctl_int(const char *path)
{
    FILE *f = fopen(path, "r");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

/* One line naming why io_uring_setup failed with `err`. */
static void explain(int err)
{
    int disabled = read_sysctl_int("/proc/sys/kernel/io_uring_disabled");
    struct rlimit rl;
    switch (-err) {
    case EPERM:
    case EACCES:
        if (disabled == 2)
            cr__set_setup_error("io_uring is disabled on this system (sysctl "
                                "kernel.io_uring_disabled=2)");
        else if (disabled == 1)
            cr__set_setup_error("io_uring is restricted to the group in "
                                "kernel.io_uring_group (sysctl kernel.io_uring_disabled=1)");
        else
            cr__set_setup_error("io_uring_setup refused with EPERM: a seccomp filter or "
                                "container policy blocks io_uring");
        break;
    case ENOSYS:
        cr__set_setup_error("this kernel has no io_uring (ENOSYS: built without "
                            "CONFIG_IO_URING, or a seccomp filter hides it)");
        break;
    case ENOMEM:
        if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            cr__set_setup_error("io_uring_setup: out of memory; RLIMIT_MEMLOCK is %llu "
                                "bytes (kernels before 5.12 charge rings to it: raise "
                                "`ulimit -l`) or use a smaller ring_entries",
                                (unsigned long long)rl.rlim_cur);
        else
            cr__set_setup_error("io_uring_setup: out of memory");
        break;
    default:
        cr__set_setup_error("io_uring_setup failed: %s", strerror(-err));
    }
}

/* Flags we would like, in the order we give them up on an older kernel. */
static const unsigned optional_flags[] = {
    IORING_SETUP_DEFER_TASKRUN, IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, IORING_SETUP_R_DISABLED,
};

static int setup(struct uring *u, const cr_loop_opts *opts)
{
    unsigned entries = opts && opts->ring_entries ? opts->ring_entries : 256;
    unsigned uflags = opts ? opts->flags : 0;
    unsigned want = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED;
    if (uflags & CR_LOOP_SQPOLL) {
        want |= IORING_SETUP_SQPOLL;
    } else {
        if (!(uflags & CR_LOOP_NO_SINGLE_ISSUER))
            want |= IORING_SETUP_SINGLE_ISSUER;
        if ((want & IORING_SETUP_SINGLE_ISSUER) && !(uflags & CR_LOOP_NO_DEFER_TASKRUN))
            want |= IORING_SETUP_DEFER_TASKRUN;
        else
            want |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
    }
    if (fault_next_setup) {
        int err = fault_next_setup;
        fault_next_setup = 0;
        explain(err);
        return err;
    }
    for (;;) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = want | IORING_SETUP_CQSIZE;
        p.cq_entries = entries * 4;
        int rc = io_uring_queue_init_params(entries, &u->ring, &p);
        if (rc == 0) {
            u->flags = p.flags;
            u->feat = p.features;
            u->enabled = !(p.flags & IORING_SETUP_R_DISABLED);
            return 0;
        }
        if (rc != -EINVAL) {
            explain(rc);
            return rc;
        }
        /* Degrade: drop the newest flag we still ask for. */
        bool dropped = false;
        for (size_t i = 0; i < sizeof optional_flags / sizeof *optional_flags; i++) {
            if (want & optional_flags[i]) {
                want &= ~optional_flags[i];
                if (optional_flags[i] == IORING_SETUP_DEFER_TASKRUN)
                    want |= IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
                dropped = true;
                break;
            }
        }
        if (!dropped) {
            explain(rc);
            return rc;
        }
    }
}

/* Some seccomp filters (container runtimes' defaults among them) let
 * io_uring_setup through and refuse io_uring_enter or io_uring_register. One
 * call of each that changes nothing tells: on the fresh ring, enter answers
 * EBADFD (still disabled) or 0, and unregistering buffers never registered
 * answers ENXIO; a filter answers EPERM/EACCES/ENOSYS instead. */
static int probe_syscalls(struct uring *u)
{
    if (syscall(__NR_io_uring_enter, u->ring.ring_fd, 0, 0, 0, NULL, 0) < 0 &&
        (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
        int err = -errno;
        cr__set_setup_error("io_uring_enter refused with %s: a seccomp filter or container "
                            "policy blocks io_uring (set-up itself was allowed)",
                            err == -ENOSYS ? "ENOSYS" : "EPERM");
        return err;
    }
    if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_UNREGISTER_BUFFERS, NULL, 0) < 0 &&
        (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
        int err = -errno;
        cr__set_setup_error("io_uring_register refused with %s: a seccomp filter or container "
                            "policy blocks io_uring (set-up itself was allowed)",
                            err == -ENOSYS ? "ENOSYS" : "EPERM");
        return err;
    }
    return 0;
}

static int uring_init(cr__backend *b, const cr_loop_opts *opts)
{
    struct uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    int rc = setup(u, opts);
    if (rc == 0 && (rc = probe_syscalls(u)) < 0)
        io_uring_queue_exit(&u->ring);
    if (rc < 0) {
        free(u);
        return rc;
    }
    b->impl = u;
    /* What the kernel can do beyond set-up: opcodes that arrived with the
     * multishot variants we use (their flags cannot be probed directly). */
    struct io_uring_probe *pr = io_uring_get_probe_ring(&u->ring);
    if (pr) {
        u->has_socket_op = io_uring_opcode_supported(pr, IORING_OP_SOCKET);
        u->has_send_zc = io_uring_opcode_supported(pr, IORING_OP_SEND_ZC);
        io_uring_free_probe(pr);
    }
    if (pretend_old_kernel)
        u->has_socket_op = u->has_send_zc = false;
    /* Streams and servers stand on multishot accept, multishot recv and
     * provided-buffer rings (Linux 5.19 / 6.0). Without them io_uring cannot
     * serve coring's I/O: refuse it with one line, so an automatic choice
     * falls back to epoll and a forced one fails saying why. */
    if (!u->has_socket_op || !u->has_send_zc) {
        io_uring_queue_exit(&u->ring);
        free(u);
        b->impl = NULL;
        cr__set_setup_error("io_uring on this kernel lacks multishot recv and provided-buffer "
                            "rings (Linux 6.0 or later): coring's I/O needs them");
        return -EOPNOTSUPP;
    }
    return 0;
}

static void uring_features(const cr__backend *b, cr_loop_features *out)
{
    const struct uring *u = b->impl;
    out->ring_flags = u->flags;
    out->single_issuer = u->flags & IORING_SETUP_SINGLE_ISSUER;
    out->defer_taskrun = u->flags & IORING_SETUP_DEFER_TASKRUN;
    out->sqpoll = u->flags & IORING_SETUP_SQPOLL;
    out->multishot_accept = u->has_socket_op;
    out->multishot_recv = u->has_send_zc;
    out->buffer_rings = u->has_socket_op; /* registered buffer rings: 5.19 */
    out->recv_bundles = u->feat & IORING_FEAT_RECVSEND_BUNDLE;
    out->ns_timeouts = true;
}

static int uring_bind_thread(cr__backend *b)
{
    struct uring *u = U(b);
    if (u->enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    u->enabled = true;
    return 0;
}

static void uring_exit(cr__backend *b)
{
    struct uring *u = U(b);
    io_uring_queue_exit(&u->ring);
    if (u->br)
        munmap(u->br, u->br_bytes);
    free(u);
    b->impl = NULL;
}

/* An SQE; flushes the SQ when full (an extra enter, only under bursts). */
static struct io_uring_sqe *get_sqe(cr__backend *b)
{
    struct uring *u = U(b);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (__builtin_expect(!!(!sqe), 0)) {
        b->stats.enters++;
        if (io_uring_submit(&u->ring) < 0)
            return NULL;
        b->pending = 0;
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

/* The operation table: one cr__op → one SQE. Kept out of line, so that the
 * hot path below (a stream's SEND, measured with callgrind) does not pay
 * for this switch's register saves. */
static __attribute__((noinline)) int prep(struct io_uring_sqe *sqe, cr__op *op)
{
    int fd = op->fd;
    switch (op->code) {
    case CR__OP_SOCKET:
        io_uring_prep_socket(sqe, op->a.sock.domain, op->a.sock.type, op->a.sock.protocol, 0);
        break;
    case CR__OP_ACCEPT:
        io_uring_prep_accept(sqe, fd, op->a.acc.addr, op->a.acc.lenp, SOCK_CLOEXEC);
        break;
    case CR__OP_CONNECT:
        io_uring_prep_connect(sqe, fd, op->a.acc.addr, op->a.acc.len);
        break;
    case CR__OP_RECV:
        io_uring_prep_recv(sqe, fd, op->a.rw.buf, op->a.rw.len, op->a.rw.flags);
        break;
    case CR__OP_SEND:
        io_uring_prep_send(sqe, fd, op->a.rw.buf, op->a.rw.len, op->a.rw.flags);
        break;
    case CR__OP_RECVMSG:
        io_uring_prep_recvmsg(sqe, fd, op->a.rw.buf, (unsigned)op->a.rw.flags);
        break;
    case CR__OP_SENDMSG:
        io_uring_prep_sendmsg(sqe, fd, op->a.rw.buf, (unsigned)op->a.rw.flags);
        break;
    case CR__OP_SHUTDOWN:
        io_uring_prep_shutdown(sqe, fd, op->a.rw.flags);
        break;
    case CR__OP_CLOSE:
        io_uring_prep_close(sqe, fd);
        break;
    case CR__OP_OPENAT:
        io_uring_prep_openat(sqe, fd, op->a.path.path, op->a.path.flags, op->a.path.mode);
        break;
    case CR__OP_READ:
        io_uring_prep_read(sqe, fd, op->a.rw.buf, (unsigned)op->a.rw.len, op->a.rw.off);
        break;
    case CR__OP_WRITE:
        io_uring_prep_write(sqe, fd, op->a.rw.buf, (unsigned)op->a.rw.len, op->a.rw.off);
        break;
    case CR__OP_FSYNC:
        io_uring_prep_fsync(sqe, fd, op->a.rw.flags & CR__FSYNC_DATA ? IORING_FSYNC_DATASYNC : 0);
        break;
    case CR__OP_STATX:
        io_uring_prep_statx(sqe, fd, op->a.path.path, op->a.path.flags, op->a.path.mask,
                            op->a.path.out);
        break;
    case CR__OP_SPLICE:
        io_uring_prep_splice(sqe, fd, op->a.splice.off_in, op->a.splice.fd_out,
                             op->a.splice.off_out, op->a.splice.len, op->a.splice.flags);
        break;
    case CR__OP_POLL:
        io_uring_prep_poll_add(sqe, fd, (unsigned)op->a.rw.flags);
        break;
    case CR__OP_ACCEPT_MULTI:
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_CLOEXEC);
        break;
    case CR__OP_RECV_MULTI:
        io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BGID;
        break;
    default:
        io_uring_prep_nop(sqe); /* keep the SQ consistent; report the misuse */
        io_uring_sqe_set_data(sqe, NULL);
        return -EINVAL;
    }
    return 0;
}

static int uring_submit(cr__backend *b, cr__op *op)
{
    struct io_uring_sqe *sqe = get_sqe(b);
    if (!sqe)
        return -EIO; /* the ring is broken */
    if (__builtin_expect(op->code == CR__OP_SEND, 1)) {
        io_uring_prep_send(sqe, op->fd, op->a.rw.buf, op->a.rw.len, op->a.rw.flags);
    } else {
        int rc = prep(sqe, op);
        if (rc < 0)
            return rc;
    }
    io_uring_sqe_set_data(sqe, op);
    cr__be_started(b, op);
    return 0;
}

/* Ask the kernel to end op early; its own CQE still comes. */
static void uring_cancel(cr__backend *b, cr__op *op)
{
    struct io_uring_sqe *sqe = get_sqe(b);
    if (!sqe)
        return; /* ring broken: the completion will still come when it closes */
    io_uring_prep_cancel(sqe, op, 0);
    io_uring_sqe_set_data(sqe, NULL);
    b->pending++;
}

static void dispatch(cr__backend *b)
{
    struct uring *u = U(b);
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&u->ring, head, cqe)
    {
        cr__op *op = io_uring_cqe_get_data(cqe);
        n++;
        if (!op)
            continue;
        if (!(cqe->flags & IORING_CQE_F_MORE))
            cr__be_ended(b, op);
        CR_TRACE3(op_complete, op, op->code, cqe->res);
        /* complete() may queue SQEs but never reaps, so the ring head is ours. */
        op->complete(op, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&u->ring, n);
    b->stats.completions += n;
    if (u->ring.cq.koverflow)
        b->stats.overflows = *u->ring.cq.koverflow;
}

static int uring_poll(cr__backend *b, int64_t timeout_ns)
{
    struct uring *u = U(b);
    int rc = 0;
    if (timeout_ns == 0) {
        /* Busy iteration: enter only if there is something to submit or a
         * completion we might be owed (DEFER_TASKRUN posts them only on entry). */
        if (b->pending || b->inflight) {
            b->stats.enters++;
            rc = io_uring_submit_and_get_events(&u->ring);
        }
    } else {
        struct io_uring_cqe *cqe = NULL;
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns > 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        b->stats.enters++;
        rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, tsp, NULL);
    }
    b->pending = 0;
    if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
        rc = 0;
    dispatch(b);
    return rc < 0 ? rc : 0;
}

/* ---- the provided-buffer ring ---- */

static int uring_bufs_register(cr__backend *b, char *mem, unsigned count, unsigned size)
{
    struct uring *u = U(b);
    long page = sysconf(_SC_PAGESIZE);
    size_t bytes = ((size_t)count * sizeof(struct io_uring_buf) + page - 1) & ~(size_t)(page - 1);
    struct io_uring_buf_ring *br =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED)
        return -ENOMEM;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (uintptr_t)br;
    reg.ring_entries = count;
    reg.bgid = BGID;
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0) {
        munmap(br, bytes);
        return rc;
    }
    u->br = br;
    u->br_bytes = bytes;
    u->br_mask = io_uring_buf_ring_mask(count);
    io_uring_buf_ring_init(br);
    for (unsigned i = 0; i < count; i++)
        io_uring_buf_ring_add(br, mem + (size_t)i * size, size, (unsigned short)i, u->br_mask, (int)i);
    io_uring_buf_ring_advance(br, (int)count);
    b->buf_mem = mem;
    b->buf_count = count;
    b->buf_size = size;
    return 0;
}

static void uring_buf_recycle(cr__backend *b, unsigned bid)
{
    struct uring *u = U(b);
    io_uring_buf_ring_add(u->br, b->buf_mem + (size_t)bid * b->buf_size, b->buf_size,
                          (unsigned short)bid, u->br_mask, 0);
    io_uring_buf_ring_advance(u->br, 1);
}

const struct cr__backend_ops cr__uring_ops = {
    .name = "io_uring",
    .init = uring_init,
    .exit = uring_exit,
    .bind_thread = uring_bind_thread,
    .submit = uring_submit,
    .cancel = uring_cancel,
    .poll = uring_poll,
    .bufs_register = uring_bufs_register,
    .buf_recycle = uring_buf_recycle,
    .features = uring_features,
};
