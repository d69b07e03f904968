/* SPDX-License-Identifier: MIT */
/*
 * pool.c — the work-stealing thread pool behind cr_to_thread.
 *
 * Owns: struct cr_pool, its worker threads, their Chase-Lev deques (deque.c)
 * and the injector, a Vyukov MPSC queue (mpsc.h) that any thread pushes on
 * and whichever worker holds `inj_lock` drains, moving a batch into its own
 * deque so that idle workers can steal from it.
 *
 * Invariants:
 *  - Submitters count themselves in the injector's gate while pushing (even
 *    onto their own deque); shutdown closes it and waits for them, so after
 *    that nothing new arrives.
 *  - Parking (no lost wakeups): an idle worker reads `epoch`, counts itself
 *    in `nsleeping` (seq_cst), re-checks for work and mode, and only then
 *    futex-waits on `epoch`. A submitter pushes, fences, and if some worker
 *    sleeps and none is spinning, bumps `epoch` and wakes ONE. A worker that
 *    finds more work than it takes wakes one more (the wake chains).
 *  - A job is run or cancelled exactly once, by one worker (or, should a
 *    race ever leave one behind, by shutdown after the join).
 *  - Shutdown without cancel_queued runs every job submitted before it: a
 *    worker leaves only when a look taken after it read the mode finds no
 *    work.
 *
 * Threads: cr_pool_submit, cr_pool_shutdown, cr_pool_default from any thread.
 * cr_to_thread / cr_run_in_executor (lib/tothread.c) submit through
 * cr__pool_push from a loop thread.
 */
#include "core/cpus.h"
#include "core/systhread.h"
#include "core/internal.h"
#include "thread/deque.h"
#include "thread/pool.h"
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BATCH 16 /* jobs a worker moves from the injector to its deque at once */

enum { MODE_RUN, MODE_DRAIN, MODE_CANCEL };

struct worker {
    cr__deque dq;
    cr_pool *pool;
    pthread_t th;
    unsigned idx;
    bool started, joined;
    uint32_t rng;
};

struct cr_pool {
    cr__mpsc inj;
    cr__gate gate;
    _Atomic int inj_lock;
    _Alignas(64) _Atomic uint32_t epoch;
    _Atomic int nsleeping, nspinning;
    _Atomic int mode;
    unsigned n, spin;
    bool is_default;
    pthread_mutex_t shut_mu; /* serialises shutdown callers */
    struct worker *w;
};

static __thread struct worker *tls_worker;
/* A loop thread defers its wakeup to the end of the loop phase that submitted
 * (cr__pool_flush), so a burst of to_thread calls in one iteration costs at
 * most one futex wake, as a burst of I/O costs one io_uring_enter. */
static __thread cr_pool *tls_defer;

/* ---- futex parking ---- */

static void futex_wait(_Atomic uint32_t *addr, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static void notify_one(cr_pool *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->nspinning, memory_order_seq_cst) == 0 &&
        atomic_load_explicit(&p->nsleeping, memory_order_seq_cst) > 0) {
        atomic_fetch_add_explicit(&p->epoch, 1, memory_order_seq_cst);
        futex_wake(&p->epoch, 1);
    }
}

static void cpu_relax(void)
{
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- finding work ---- */

static cr__job *as_job(cr__mpsc_node *n) { return n ? CR_CONTAINER_OF(n, cr__job, link) : NULL; }

static bool work_visible(cr_pool *p)
{
    if (cr__mpsc_nonempty(&p->inj))
        return true;
    for (unsigned i = 0; i < p->n; i++)
        if (cr__deque_size(&p->w[i].dq) > 0)
            return true;
    return false;
}

/* Takes one job from the injector and parks up to BATCH-1 more in our deque. */
static cr__job *from_injector(struct worker *w)
{
    cr_pool *p = w->pool;
    if (!cr__mpsc_nonempty(&p->inj) ||
        atomic_exchange_explicit(&p->inj_lock, 1, memory_order_acquire))
        return NULL;
    cr__job *first = as_job(cr__mpsc_pop(&p->inj));
    for (int i = 1; first && i < BATCH; i++) {
        cr__job *j = as_job(cr__mpsc_pop(&p->inj));
        if (!j)
            break;
        if (cr__deque_push(&w->dq, j) < 0) {
            j->run(j); /* cannot grow the deque: run it here rather than lose it */
            break;
        }
    }
    atomic_store_explicit(&p->inj_lock, 0, memory_order_release);
    return first;
}

static cr__job *steal_any(struct worker *w)
{
    cr_pool *p = w->pool;
    w->rng = w->rng * 1103515245u + 12345u;
    unsigned start = (w->rng >> 16) % p->n;
    for (int round = 0; round < 2; round++) {
        bool aborted = false;
        for (unsigned k = 0; k < p->n; k++) {
            struct worker *v = &p->w[(start + k) % p->n];
            if (v == w)
                continue;
            void *x = cr__deque_steal(&v->dq);
            if (x == CR__DQ_ABORT)
                aborted = true;
            else if (x)
                return x;
        }
        if (!aborted)
            break;
    }
    return NULL;
}

static cr__job *find_work(struct worker *w)
{
    cr__job *j = cr__deque_take(&w->dq);
    if (!j && (j = from_injector(w)) &&
        (cr__deque_size(&w->dq) > 0 || cr__mpsc_nonempty(&w->pool->inj)))
        notify_one(w->pool); /* more than we can run: wake a thief (the chain) */
    if (!j)
        j = steal_any(w);
    return j;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    cr_pool *p = w->pool;
    tls_worker = w;
    for (;;) {
        cr__job *j = find_work(w);
        if (j) {
            if (atomic_load_explicit(&p->mode, memory_order_acquire) == MODE_CANCEL)
                j->cancel(j);
            else
                j->run(j);
            continue;
        }
        /* Shutting down: leave only if nothing is left, judged by a look
         * taken AFTER reading the mode. find_work's look came before it, and
         * a submitter may have pushed its last jobs in between (this thread
         * preempted there); the mode's acquire shows every push that came
         * before shutdown, so this second look cannot miss them. */
        if (atomic_load_explicit(&p->mode, memory_order_acquire) != MODE_RUN &&
            !work_visible(p))
            break;
        /* Spin a little: a job often follows the last one closely. */
        atomic_fetch_add_explicit(&p->nspinning, 1, memory_order_seq_cst);
        bool found = false;
        for (unsigned i = 0; i < p->spin && !(found = work_visible(p)); i++)
            cpu_relax();
        atomic_fetch_sub_explicit(&p->nspinning, 1, memory_order_seq_cst);
        if (found)
            continue;
        uint32_t e = atomic_load_explicit(&p->epoch, memory_order_seq_cst);
        atomic_fetch_add_explicit(&p->nsleeping, 1, memory_order_seq_cst);
        if (!work_visible(p) && atomic_load_explicit(&p->mode, memory_order_seq_cst) == MODE_RUN)
            futex_wait(&p->epoch, e);
        atomic_fetch_sub_explicit(&p->nsleeping, 1, memory_order_seq_cst);
    }
    tls_worker = NULL;
    return NULL;
}

/* ---- submitting ---- */

void cr__pool_flush(void)
{
    cr_pool *p = tls_defer;
    if (p) {
        tls_defer = NULL;
        notify_one(p);
    }
}

/* defer: the caller is a loop thread that will call cr__pool_flush before it
 * blocks or returns. */
int cr__pool_push(cr_pool *p, cr__job *j, bool defer)
{
    int shard = cr__gate_enter(&p->gate);
    if (shard < 0)
        return -ESHUTDOWN;
    struct worker *w = tls_worker;
    /* A job submitted from one of our workers stays local (LIFO, cache-warm). */
    if (!(w && w->pool == p && cr__deque_push(&w->dq, j) == 0))
        cr__mpsc_push(&p->inj, &j->link);
    cr__gate_leave(&p->gate, shard);
    if (!defer) {
        notify_one(p);
    } else if (tls_defer != p) {
        cr__pool_flush(); /* another pool was pending: one at a time */
        tls_defer = p;
    }
    return 0;
}

static int pool_push(cr_pool *p, cr__job *j) { return cr__pool_push(p, j, false); }

struct plain_job {
    cr__job job;
    cr_callback fn;
    void *arg;
};

static void plain_run(cr__job *j)
{
    struct plain_job *pj = CR_CONTAINER_OF(j, struct plain_job, job);
    pj->fn(pj->arg);
    free(pj);
}

static void plain_cancel(cr__job *j) { free(CR_CONTAINER_OF(j, struct plain_job, job)); }

int cr_pool_submit(cr_pool *p, cr_callback fn, void *arg)
{
    if (!p || !fn)
        return -EINVAL;
    struct plain_job *pj = malloc(sizeof *pj);
    if (!pj)
        return -ENOMEM;
    pj->job.run = plain_run;
    pj->job.cancel = plain_cancel;
    pj->fn = fn;
    pj->arg = arg;
    int rc = pool_push(p, &pj->job);
    if (rc < 0)
        free(pj);
    return rc;
}

/* ---- life cycle ---- */

int cr_pool_new(cr_pool **out, const cr_pool_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    unsigned n = opts && opts->workers ? opts->workers : cr__usable_cpus();
    if (n > 1024)
        return -EINVAL;
    cr_pool *p = calloc(1, sizeof *p);
    struct worker *w = p ? calloc(n, sizeof *w) : NULL;
    if (!w) {
        free(p);
        return -ENOMEM;
    }
    cr__mpsc_init(&p->inj);
    cr__gate_init(&p->gate);
    pthread_mutex_init(&p->shut_mu, NULL);
    p->n = n;
    p->spin = opts && opts->spin ? opts->spin : 50;
    p->w = w;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        w[i].pool = p;
        w[i].idx = i;
        w[i].rng = 2654435761u * (i + 1);
        rc = cr__deque_init(&w[i].dq, 256);
    }
    for (unsigned i = 0; i < n && rc == 0; i++) {
        rc = cr__thread_start(&w[i].th, NULL, worker_main, &w[i]);
        if (rc == 0)
            w[i].started = true;
    }
    if (rc < 0) {
        cr_pool_shutdown(p, -1, true);
        for (unsigned i = 0; i < n; i++)
            cr__deque_free(&w[i].dq);
        pthread_mutex_destroy(&p->shut_mu);
        free(w);
        free(p);
        return rc == -EAGAIN || rc == -ENOMEM ? rc : -EAGAIN;
    }
    *out = p;
    return 0;
}

static cr_pool *default_pool;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void make_default(void)
{
    cr_pool *p;
    if (cr_pool_new(&p, NULL) == 0) {
        p->is_default = true;
        default_pool = p;
    }
}

cr_pool *cr_pool_default(void)
{
    pthread_once(&default_once, make_default);
    return default_pool;
}

unsigned cr_pool_workers(const cr_pool *p) { return p ? p->n : 0; }

static int join_all(cr_pool *p, double timeout)
{
    struct timespec dl;
    if (timeout >= 0)
        dl = cr__timespec_in(CLOCK_REALTIME, timeout);
    int rc = 0;
    for (unsigned i = 0; i < p->n; i++) {
        struct worker *w = &p->w[i];
        if (!w->started || w->joined)
            continue;
        int e = timeout < 0 ? pthread_join(w->th, NULL) : pthread_timedjoin_np(w->th, NULL, &dl);
        if (e == 0)
            w->joined = true;
        else
            rc = -ETIMEDOUT;
    }
    return rc;
}

int cr_pool_shutdown(cr_pool *p, double timeout, bool cancel_queued)
{
    if (!p || p->is_default || timeout != timeout)
        return -EINVAL;
    if (timeout >= 9.2e9)
        timeout = -1; /* +inf, or beyond any clock: no limit */
    if (tls_worker && tls_worker->pool == p)
        return -EDEADLK; /* a worker cannot join itself */
    pthread_mutex_lock(&p->shut_mu);
    cr__gate_close(&p->gate);
    int want = cancel_queued ? MODE_CANCEL : MODE_DRAIN;
    int mode = atomic_load_explicit(&p->mode, memory_order_acquire);
    if (mode < want)
        atomic_store_explicit(&p->mode, want, memory_order_seq_cst);
    atomic_fetch_add_explicit(&p->epoch, 1, memory_order_seq_cst);
    futex_wake(&p->epoch, INT_MAX);
    int rc = join_all(p, timeout);
    if (rc == 0) {
        /* Every worker is gone. Nothing should be left; if a race left
         * something, a drain runs it here rather than lose it, and a cancel
         * hands it back. */
        bool run = atomic_load_explicit(&p->mode, memory_order_relaxed) == MODE_DRAIN;
        cr__job *j;
        while ((j = as_job(cr__mpsc_pop(&p->inj))))
            run ? j->run(j) : j->cancel(j);
        for (unsigned i = 0; i < p->n; i++)
            while ((j = cr__deque_take(&p->w[i].dq)))
                run ? j->run(j) : j->cancel(j);
    }
    pthread_mutex_unlock(&p->shut_mu);
    return rc;
}

int cr_pool_free(cr_pool *p)
{
    if (!p)
        return 0;
    int rc = cr_pool_shutdown(p, -1, false);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < p->n; i++)
        cr__deque_free(&p->w[i].dq);
    pthread_mutex_destroy(&p->shut_mu);
    free(p->w);
    free(p);
    return 0;
}
