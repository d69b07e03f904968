/* SPDX-License-Identifier: MIT */
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
 *    cancelled or timed-out caller returns at once and merely detaches. This
 *    is cr_to_thread's life cycle, shared through cr__pjob (pool.h,
 *    tothread.c), with a different ending: whoever sees the job last frees it
 *    and any result nobody took (gai_destroy), not leaked.
 *  - The caller's buffers (gai_wait) are touched on the loop thread only
 *    (gai_deliver); the worker touches only the request fields, res and rc.
 *
 * Threads: cr_getaddrinfo/cr_getnameinfo from a task on its loop thread;
 * gai_work on a pool worker; cr_freeaddrinfo and cr_eai_to_errno anywhere.
 */
#include "io/io.h"
#include "thread/pool.h"
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
        return CR_ENONAME;
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
    cr__pjob_wait w;
    struct addrinfo *res;
    char *host, *serv; /* getnameinfo: the caller's buffers */
    size_t hostlen, servlen;
};

struct gai_job {
    cr__pjob pj;             /* the life cycle (tothread.c); pj.rc: the lookup's */
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
    char strings[];
};

static void gai_destroy(cr__pjob *pj)
{
    struct gai_job *j = CR_CONTAINER_OF(pj, struct gai_job, pj);
    if (j->res)
        freeaddrinfo(j->res);
    free(j);
}

/* Worker: the lookup (skipped by the life cycle if the caller left first). */
static void gai_work(cr__pjob *pj)
{
    struct gai_job *j = CR_CONTAINER_OF(pj, struct gai_job, pj);
    errno = 0;
    int eai;
    if (j->nameinfo)
        eai = getnameinfo((struct sockaddr *)&j->sa, j->salen, j->host, j->hostlen,
                          j->port, j->servlen, j->ni_flags);
    else
        eai = getaddrinfo(j->host, j->port, j->has_hints ? &j->hints : NULL, &j->res);
    if (eai != 0) {
        j->res = NULL;
        pj->rc = cr_eai_to_errno(eai, errno); /* errno: this worker's, for EAI_SYSTEM */
    }
}

/* Loop thread: the job is back and its caller still waits. */
static void gai_deliver(cr__pjob *pj, cr__pjob_wait *pw)
{
    struct gai_job *j = CR_CONTAINER_OF(pj, struct gai_job, pj);
    struct gai_wait *w = CR_CONTAINER_OF(pw, struct gai_wait, w);
    w->res = j->res;
    j->res = NULL; /* the caller's now */
    if (j->nameinfo && pj->rc == 0) {
        if (w->hostlen)
            memcpy(w->host, j->host, j->hostlen);
        if (w->servlen)
            memcpy(w->serv, j->port, j->servlen);
    }
}

/* Queues j on t's loop's executor and parks until it is back, the deadline
 * or a cancel. Takes j in every case. w->rc, w->res etc. are set once done. */
static int submit_and_wait(cr__task *t, struct gai_job *j, struct gai_wait *w,
                           int64_t deadline_ns)
{
    j->pj.work = gai_work;
    j->pj.deliver = gai_deliver;
    j->pj.destroy = gai_destroy;
    return cr__pjob_await(t, NULL, &j->pj, &w->w, deadline_ns,
                          j->nameinfo ? "getnameinfo" : "getaddrinfo");
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
