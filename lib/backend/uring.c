/*
 * ring.c — the one place that enters the kernel: io_uring setup (probing and
 * degrading one flag at a time), handing out SQEs, the single submit-and-wait
 * of each loop iteration, and dispatching CQEs to their operations.
 *
 * Invariants:
 *  - Every SQE with a non-zero user_data names a live cr__op, which stays
 *    alive until its last CQE (one without IORING_CQE_F_MORE) is dispatched.
 *  - loop->inflight counts ops still owed a final CQE; the loop uses it to
 *    decide whether a non-blocking poll is worth a syscall.
 *  - Only the loop's thread calls anything here (SINGLE_ISSUER).
 */
#include "core/internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static __thread char setup_error[256];
static int fault_next_setup;

const char *cr_setup_error(void) { return setup_error; }

void cr__set_setup_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(setup_error, sizeof setup_error, fmt, ap);
    va_end(ap);
}

void cr__ring_set_fault(int err) { fault_next_setup = err; }

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

int cr__ring_init(cr_loop *l, const cr_loop_opts *opts)
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
    setup_error[0] = 0;
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
        int rc = io_uring_queue_init_params(entries, &l->ring, &p);
        if (rc == 0) {
            l->ring_flags = p.flags;
            l->ring_ready = true;
            l->ring_enabled = !(p.flags & IORING_SETUP_R_DISABLED);
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

int cr__ring_bind_thread(cr_loop *l)
{
    if (l->ring_enabled)
        return 0;
    /* liburing 2.3 declares io_uring_enable_rings but does not export it. */
    if (syscall(__NR_io_uring_register, l->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    l->ring_enabled = true;
    return 0;
}

void cr__ring_exit(cr_loop *l)
{
    if (l->ring_ready) {
        io_uring_queue_exit(&l->ring);
        l->ring_ready = false;
    }
}

struct io_uring_sqe *cr__ring_sqe(cr_loop *l, cr__op *op)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    if (CR_UNLIKELY(!sqe)) {
        /* SQ full: submit what is queued (an extra enter, only under bursts). */
        l->stats.enters++;
        if (io_uring_submit(&l->ring) < 0)
            return NULL;
        l->sq_pending = 0;
        sqe = io_uring_get_sqe(&l->ring);
        if (!sqe)
            return NULL;
    }
    io_uring_sqe_set_data(sqe, op);
    if (op)
        l->inflight++;
    l->sq_pending++;
    l->stats.sqes++;
    return sqe;
}

static void dispatch(cr_loop *l)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    io_uring_for_each_cqe(&l->ring, head, cqe)
    {
        cr__op *op = io_uring_cqe_get_data(cqe);
        n++;
        if (!op)
            continue;
        if (!(cqe->flags & IORING_CQE_F_MORE))
            l->inflight--;
        /* complete() may queue SQEs but never reaps, so the ring head is ours. */
        op->complete(op, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&l->ring, n);
    l->stats.cqes += n;
}

int cr__ring_poll(cr_loop *l, int64_t timeout_ns)
{
    int rc = 0;
    if (timeout_ns == 0) {
        /* Busy iteration: enter only if there is something to submit or a
         * completion we might be owed (DEFER_TASKRUN posts them only on entry). */
        if (l->sq_pending || l->inflight) {
            l->stats.enters++;
            rc = io_uring_submit_and_get_events(&l->ring);
        }
    } else {
        struct io_uring_cqe *cqe = NULL;
        struct __kernel_timespec ts, *tsp = NULL;
        if (timeout_ns > 0) {
            ts.tv_sec = timeout_ns / 1000000000;
            ts.tv_nsec = timeout_ns % 1000000000;
            tsp = &ts;
        }
        l->stats.enters++;
        rc = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
    }
    l->sq_pending = 0;
    if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
        rc = 0;
    dispatch(l);
    return rc < 0 ? rc : 0;
}

/* ---- awaitable single-shot I/O ---- */

static void io_complete(cr__op *op, int res, unsigned flags)
{
    struct cr__io *io = CR_CONTAINER_OF(op, struct cr__io, op);
    io->res = res;
    io->flags = flags;
    io->done = true;
    cr__timer_disarm(io->loop, &io->deadline);
    cr__task_wake(io->task, 0);
}

/* Ask the kernel to cancel io; the task stays parked until io's own CQE. */
static void io_send_cancel(struct cr__io *io)
{
    if (io->cancel_sent || io->done)
        return;
    struct io_uring_sqe *sqe = cr__ring_sqe(io->loop, NULL);
    if (!sqe)
        return; /* ring broken: the completion will still come when it closes */
    io_uring_prep_cancel(sqe, io, 0);
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

struct io_uring_sqe *cr__io_prep(struct cr__io *io, int *err)
{
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    memset(io, 0, sizeof *io);
    io->op.complete = io_complete;
    io->task = t;
    io->loop = t->f.loop;
    cr__timer_init(&io->deadline, io_on_deadline);
    struct io_uring_sqe *sqe = cr__ring_sqe(io->loop, &io->op);
    if (!sqe)
        *err = -EIO;
    return sqe;
}

int cr__io_wait(struct cr__io *io, int64_t deadline_ns)
{
    if (deadline_ns >= 0 && cr__timer_arm(io->loop, &io->deadline, deadline_ns) < 0)
        io_send_cancel(io); /* cannot time it: fail it rather than wait forever */
    /* Rule 3: the kernel may write into this stack until io->done. */
    io->task->waiting_on = "io"; /* issue 4 */
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
