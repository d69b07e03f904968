/*
 * resolve.c — name resolution (asyncio's loop.getaddrinfo / getnameinfo):
 * getaddrinfo(3) and getnameinfo(3) block (files, DNS), so they run on the
 * loop's executor, the thread pool, while the calling task is parked.
 *
 * Owns: struct gai_job (heap) and, until it is handed to a caller, the
 * addrinfo list getaddrinfo returned (getnameinfo: the names, in the job).
 *
 * Invariants:
 *  - The job is never on the caller's stack and the caller never frees it: a
 *    cancelled or timed-out caller returns at once and merely detaches
 *    (task/wait = NULL). The job always comes back to the loop (run, skipped
 *    because its caller left before it started, or handed back by a pool
 *    shutdown), and whoever sees it last frees it and any result nobody took:
 *    the loop (gai_back / gai_back_drop) or, if the loop is closed, the worker.
 *  - While the job is out it counts as an external waker of its loop (an idle
 *    loop waits for it instead of reporting -EDEADLK), exactly like a
 *    cr_to_thread job. This is tothread.c's life cycle with a different
 *    ending: the result is freed by the job, not leaked.
 *  - `wait` (and what it points to) is touched on the loop thread only; the worker touches
 *    only the request fields, res, rc and the atomic state.
 *
 * Threads: cr_getaddrinfo/cr_getnameinfo from a task on its loop thread;
 * gai_run/gai_handed_back
 * on a pool worker; cr_freeaddrinfo and cr_eai_to_errno anywhere.
 */
#include "io-internal.h"
#include "pool.h"
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

int cr_eai_to_errno(int eai, int sys_errno)
{
    switch (eai) {
    case 0:
        return 0;
    case EAI_NONAME:   /* name or service not known */
    case EAI_NODATA:   /* the name has no address */
    case EAI_ADDRFAMILY: /* ... of the requested family */
        return -ENXIO;
    case EAI_AGAIN:    /* DNS temporarily unreachable / no answer in time */
        return -EAGAIN;
    case EAI_FAIL:     /* a non-recoverable DNS failure */
        return -EIO;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_SOCKTYPE:
        return -ESOCKTNOSUPPORT;
    case EAI_SERVICE:  /* the service is not available for the socket type */
        return -EPROTONOSUPPORT;
    case EAI_BADFLAGS:
        return -EINVAL;
    case EAI_OVERFLOW:
        return -ENAMETOOLONG;
    case EAI_SYSTEM:
        return sys_errno > 0 ? -sys_errno : -EIO;
    default:
        return -EIO;
    }
}

void cr_freeaddrinfo(struct addrinfo *res)
{
    if (res)
        freeaddrinfo(res);
}

/* What the parked caller reads: on its stack, reached only through job->wait. */
struct gai_wait {
    cr__task *task;
    cr__timer deadline;
    struct gai_job *job;
    struct addrinfo *res;
    char *host, *serv; /* getnameinfo: the caller's buffers */
    size_t hostlen, servlen;
    int rc;
    bool done;
};

enum { GAI_QUEUED, GAI_RUNNING, GAI_ABANDONED };

struct gai_job {
    cr__job job;
    _Atomic int state;       /* QUEUED → RUNNING (worker) or → ABANDONED (loop) */
    cr__xnode back;          /* the completion, posted to the loop */
    cr__xq *xq;              /* a reference: the loop may be freed before we finish */
    struct gai_wait *wait;   /* loop thread only; NULL once the caller left */
    bool nameinfo;           /* getnameinfo rather than getaddrinfo */
    /* host/port point into strings[]: getaddrinfo's request (copies of the
     * caller's), or getnameinfo's output buffers (hostlen/servlen bytes). */
    char *host, *port;
    /* getaddrinfo */
    struct addrinfo hints;
    bool has_hints;
    struct addrinfo *res;
    /* getnameinfo: the address in */
    struct sockaddr_storage sa;
    socklen_t salen;
    int ni_flags;
    size_t hostlen, servlen;
    int rc;
    char strings[];
};

static void gai_free(struct gai_job *j)
{
    if (j->res)
        freeaddrinfo(j->res);
    cr__xq_unref(j->xq);
    free(j);
}

/* Worker: tell the loop; if it is closed, nobody waits any more. */
static void gai_post(struct gai_job *j)
{
    if (cr__xq_post(j->xq, &j->back) < 0)
        gai_free(j);
}

static void gai_run(cr__job *jb)
{
    struct gai_job *j = CR_CONTAINER_OF(jb, struct gai_job, job);
    int queued = GAI_QUEUED;
    if (atomic_compare_exchange_strong_explicit(&j->state, &queued, GAI_RUNNING,
                                                memory_order_acq_rel, memory_order_acquire)) {
        errno = 0;
        int eai;
        if (j->nameinfo)
            eai = getnameinfo((struct sockaddr *)&j->sa, j->salen, j->host, j->hostlen,
                              j->port, j->servlen, j->ni_flags);
        else
            eai = getaddrinfo(j->host, j->port, j->has_hints ? &j->hints : NULL, &j->res);
        if (eai != 0) {
            j->res = NULL;
            j->rc = cr_eai_to_errno(eai, errno); /* errno: this worker's, for EAI_SYSTEM */
        }
    } else {
        j->rc = -ECANCELED; /* its caller left before it started: skip the lookup */
    }
    gai_post(j);
}

static void gai_handed_back(cr__job *jb) /* a pool shutdown handed it back unrun */
{
    struct gai_job *j = CR_CONTAINER_OF(jb, struct gai_job, job);
    j->rc = -ECANCELED;
    gai_post(j);
}

/* Loop thread: the job is back. */
static void gai_back(cr__handle *h)
{
    struct gai_job *j = CR_CONTAINER_OF(h, struct gai_job, back.h);
    cr__xq_waker_add(j->xq, -1);
    struct gai_wait *w = j->wait;
    if (w) {
        w->rc = j->rc;
        w->res = j->res;
        j->res = NULL; /* the caller's now */
        if (j->nameinfo && j->rc == 0) {
            if (w->hostlen)
                memcpy(w->host, j->host, j->hostlen);
            if (w->servlen)
                memcpy(w->serv, j->port, j->servlen);
        }
        w->done = true;
        cr__timer_disarm(w->task->f.loop, &w->deadline);
        cr__task_wake(w->task, 0);
    }
    gai_free(j);
}

static void gai_back_drop(cr__handle *h) { gai_free(CR_CONTAINER_OF(h, struct gai_job, back.h)); }

/* Loop thread: the caller leaves (cancel or deadline); the job runs on alone. */
static void gai_detach(struct gai_wait *w, int rc)
{
    struct gai_job *j = w->job;
    int queued = GAI_QUEUED;
    atomic_compare_exchange_strong_explicit(&j->state, &queued, GAI_ABANDONED,
                                            memory_order_acq_rel, memory_order_relaxed);
    j->wait = NULL;
    cr__task_wake(w->task, rc);
}

static void gai_on_cancel(cr__task *t, void *ctx)
{
    struct gai_wait *w = ctx;
    cr__timer_disarm(t->f.loop, &w->deadline);
    gai_detach(w, -ECANCELED);
}

static void gai_on_deadline(cr__timer *tm)
{
    gai_detach(CR_CONTAINER_OF(tm, struct gai_wait, deadline), -ETIMEDOUT);
}

/* Queues j on t's loop's executor and parks until it is back, the deadline
 * or a cancel. Takes j in every case. w->rc, w->res etc. are set once done. */
static int submit_and_wait(cr__task *t, struct gai_job *j, struct gai_wait *w,
                           int64_t deadline_ns)
{
    cr_loop *l = t->f.loop;
    cr_pool *pool = cr__xq_executor(l->xq);
    if (!pool && !(pool = cr_pool_default())) {
        free(j);
        return -ENOMEM;
    }
    atomic_init(&j->state, GAI_QUEUED);
    j->job.run = gai_run;
    j->job.cancel = gai_handed_back;
    j->back.home = NULL;
    j->back.h.run = gai_back;
    j->back.h.drop = gai_back_drop;
    j->xq = cr__xq_ref(l->xq);
    w->task = t;
    w->job = j;
    cr__timer_init(&w->deadline, gai_on_deadline);
    j->wait = w;
    int rc;
    if (deadline_ns >= 0 && (rc = cr__timer_arm(l, &w->deadline, deadline_ns)) < 0) {
        gai_free(j);
        return rc;
    }
    cr__xq_waker_add(l->xq, 1); /* the loop must wait for our completion */
    if ((rc = cr__pool_push(pool, &j->job, true)) < 0) {
        cr__xq_waker_add(l->xq, -1);
        cr__timer_disarm(l, &w->deadline);
        gai_free(j);
        return rc;
    }
    /* From here only gai_back and the detach paths touch j on this thread,
     * and each of them unlinks w (rule 3) before waking us. */
    t->waiting_on = j->nameinfo ? "getnameinfo" : "getaddrinfo";
    rc = cr__park_nocheck(gai_on_cancel, w);
    if (!w->done) {
        if (rc == -ECANCELED)
            cr__consume_cancel(t);
        return rc < 0 ? rc : -ECANCELED;
    }
    return w->rc;
}

int cr__getaddrinfo_until(const char *host, const char *port, const struct addrinfo *hints,
                          struct addrinfo **res, int64_t deadline_ns)
{
    if (res)
        *res = NULL;
    if (!res || (!host && !port))
        return -EINVAL;
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    size_t hl = host ? strlen(host) + 1 : 0, pl = port ? strlen(port) + 1 : 0;
    struct gai_job *j = calloc(1, sizeof *j + hl + pl);
    if (!j)
        return -ENOMEM;
    if (host)
        j->host = memcpy(j->strings, host, hl);
    if (port)
        j->port = memcpy(j->strings + hl, port, pl);
    if (hints) {
        /* Only the fields getaddrinfo reads from hints; the pointers must be NULL. */
        j->hints.ai_flags = hints->ai_flags;
        j->hints.ai_family = hints->ai_family;
        j->hints.ai_socktype = hints->ai_socktype;
        j->hints.ai_protocol = hints->ai_protocol;
        j->has_hints = true;
    }
    struct gai_wait w = {0};
    if ((rc = submit_and_wait(t, j, &w, deadline_ns)) < 0)
        return rc;
    *res = w.res;
    return 0;
}

int cr_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
                   struct addrinfo **res)
{
    return cr__getaddrinfo_until(host, port, hints, res, -1);
}

int cr_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, size_t hostlen,
                   char *serv, size_t servlen, int flags)
{
    if (!sa || salen == 0 || salen > sizeof(struct sockaddr_storage) || (!host && hostlen) ||
        (!serv && servlen) || (!hostlen && !servlen))
        return -EINVAL;
    cr__task *t;
    int rc = cr__enter(&t);
    if (rc < 0)
        return rc;
    /* No name is longer than NI_MAXHOST / NI_MAXSERV: a bigger buffer gains
     * nothing, so the job's copies are capped there. */
    size_t hl = hostlen < NI_MAXHOST ? hostlen : NI_MAXHOST;
    size_t sl = servlen < NI_MAXSERV ? servlen : NI_MAXSERV;
    struct gai_job *j = calloc(1, sizeof *j + hl + sl);
    if (!j)
        return -ENOMEM;
    j->nameinfo = true;
    memcpy(&j->sa, sa, salen);
    j->salen = salen;
    j->ni_flags = flags;
    j->host = hl ? j->strings : NULL;
    j->hostlen = hl;
    j->port = sl ? j->strings + hl : NULL;
    j->servlen = sl;
    struct gai_wait w = {.host = host, .hostlen = hostlen, .serv = serv, .servlen = servlen};
    return submit_and_wait(t, j, &w, -1);
}
