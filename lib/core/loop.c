/* SPDX-License-Identifier: MIT */
/*
 * loop.c — the event loop: one per OS thread, on one backend (io_uring, or
 * whatever lib/backend/ chose).
 *
 * One iteration is four named phases:
 *
 *   1. poll_backend   flush what tasks left for the turn (resources' flush
 *                     hooks), submit queued ops and reap completions in ONE kernel
 *                     wait; it blocks (until the nearest timer) only when
 *                     nothing is ready, and is skipped when there is nothing
 *                     to submit or reap.
 *   2. (dispatch)     each completion's op completes: tasks are made ready.
 *   3. expire_timers  due timers fire (they only schedule).
 *   3b. drain_inboxes resources with a drain hook (the cross-thread inbox)
 *                     move what other threads queued onto the ready queue.
 *   4. run_ready      run what was ready when the phase began; anything made
 *                     ready while it runs waits for the next iteration, so
 *                     cr_sleep(0) lets every ready task run and I/O is polled
 *                     between turns.
 *
 * The loop knows no subsystem by name: subsystems join it as resources
 * (core/resource.h), and it reaches them only through their hooks — to close
 * them, to ask whether they keep it alive, and around the blocking wait.
 *
 * The loop runs on the thread's own stack; tasks run on theirs and switch
 * back here (sched_sp) when they park or finish.
 *
 * Loop thread only, except cr_loop_new (any thread; the first thread that
 * runs a loop owns it from then on) and cr__resource_add (any thread).
 */
#include "core/internal.h"
#include "core/trace.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__thread cr_loop *cr__tls_running;
__thread cr_loop *cr__tls_loop; /* set_event_loop / get_event_loop (current.c) */
__thread cr_loop *cr__tls_auto; /* the loop get_event_loop made, freed at thread exit */

const char *cr_version(void) { return CORING_VERSION_STRING; }

int cr__loop_check(cr_loop *l)
{
    if (!l)
        return -EINVAL;
    if (l->closed)
        return -ESHUTDOWN;
    if (l->has_owner && !pthread_equal(l->owner, pthread_self()))
        return -EPERM;
    return 0;
}

void cr__loop_schedule(cr_loop *l, cr__handle *h) { cr__queue_push(&l->ready, h); }

/* ---- the resource list (core/resource.h) ---- */

int cr__resource_add(cr_loop *l, cr__resource *r, const struct cr__resource_ops *ops,
                     bool keeps_alive)
{
    r->ops = ops;
    r->keeps_alive = keeps_alive;
    cr__resource *head = atomic_load_explicit(&l->resources, memory_order_acquire);
    do {
        if (head == CR__RES_SEALED)
            return -ESHUTDOWN;
        r->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&l->resources, &head, r, memory_order_release,
                                                    memory_order_acquire));
    return 0;
}

static cr__resource *res_first(cr_loop *l)
{
    cr__resource *r = atomic_load_explicit(&l->resources, memory_order_acquire);
    return r == CR__RES_SEALED ? l->sealed : r;
}

#define FOR_EACH_RESOURCE(l, r) for (cr__resource *r = res_first(l); r; r = r->next)

void cr__loop_run_tick_hooks(cr_loop *l)
{
    FOR_EACH_RESOURCE(l, r)
    if (r->ops->tick)
        r->ops->tick(l, r);
}

/* Rule 1 of resource.h: does any resource keep the loop alive? */
static bool resources_alive(cr_loop *l)
{
    FOR_EACH_RESOURCE(l, r)
    if (r->keeps_alive || (r->ops->alive && r->ops->alive(l, r)))
        return true;
    return false;
}

bool cr__resources_keep_alive(cr_loop *l, const cr__resource *self)
{
    FOR_EACH_RESOURCE(l, r)
    if (r != self && r->keeps_alive)
        return true;
    return false;
}

static void close_stage(cr_loop *l, enum cr__close_stage stage)
{
    FOR_EACH_RESOURCE(l, r)
    if (r->ops->close)
        r->ops->close(l, r, stage);
}

int cr_loop_new(cr_loop **out, const cr_loop_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (opts && (opts->flags & ~(unsigned)(CR_LOOP_SQPOLL | CR_LOOP_NO_DEFER_TASKRUN |
                                           CR_LOOP_NO_SINGLE_ISSUER | CR_LOOP_DEBUG)))
        return -EINVAL;
    cr_loop *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    char why[300] = "";
    int rc = cr__be_init(&l->be, opts, why, sizeof why);
    if (rc < 0) {
        free(l);
        return rc;
    }
    atomic_init(&l->resources, NULL);
    cr__list_init(&l->futures);
    l->stacks.stack_size = cr__stack_round(opts && opts->stack_size ? opts->stack_size : 64 * 1024);
    l->stacks.stack_cache = opts && opts->stack_cache ? opts->stack_cache : 1024;
    l->stacks.default_class = opts ? opts->stack_class : 0;
    cr__debug_init(l, opts);
    if (l->dbg.debug) {
        /* Debug mode says at start, in one line, which backend the loop got,
         * why, and what the kernel granted (no handler yet: stderr). */
        char feat[300];
        cr_loop_features_str(l, feat, sizeof feat);
        cr__debug_log(l, "backend: %s; features: %s", why, feat);
    }
    *out = l;
    return 0;
}

const char *cr_loop_backend(const cr_loop *l) { return l ? cr__be_name(&l->be) : NULL; }

int cr_loop_get_features(const cr_loop *l, cr_loop_features *out)
{
    if (!l || !out || !l->be.ops)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    out->backend = cr__be_name(&l->be);
    if (l->be.ops->features)
        l->be.ops->features(&l->be, out);
    out->guard_pages = cr__stack_guard_pages();
    return 0;
}

int cr_loop_features_str(const cr_loop *l, char *buf, size_t len)
{
    cr_loop_features f;
    if (!buf && len)
        return -EINVAL;
    int rc = cr_loop_get_features(l, &f);
    if (rc < 0)
        return rc;
    return snprintf(buf, len, "%s:%s%s%s%s%s%s%s%s guard_pages=%s", f.backend,
                    f.single_issuer ? " single_issuer" : "",
                    f.defer_taskrun ? " defer_taskrun" : "", f.sqpoll ? " sqpoll" : "",
                    f.multishot_accept ? " multishot_accept" : " multishot_accept=emulated",
                    f.multishot_recv ? " multishot_recv" : " multishot_recv=emulated",
                    f.buffer_rings ? " buffer_rings" : " buffer_rings=user_space",
                    f.recv_bundles ? " recv_bundles" : "", f.ns_timeouts ? " ns_timeouts" : "",
                    f.guard_pages ? "madvise" : "mprotect");
}

bool cr_loop_is_running(const cr_loop *l) { return l && l->running; }
bool cr_loop_is_closed(const cr_loop *l) { return l && l->closed; }

int64_t cr_loop_time_ns(const cr_loop *l)
{
    (void)l;
    return cr__now_ns();
}

double cr_loop_time(const cr_loop *l) { return (double)cr_loop_time_ns(l) / 1e9; }

/* ---- the phases ---- */

static int poll_backend(cr_loop *l)
{
    /* What tasks left for the loop's turn goes to the kernel first (epoll's
     * stream sends: one send(2) per stream per turn, on this stack); it may
     * make tasks ready (a drain that waited), so before the timeout below. */
    if (l->flush_wanted) {
        l->flush_wanted = false;
        FOR_EACH_RESOURCE(l, r)
        if (r->ops->flush)
            r->ops->flush(l, r);
    }
    int64_t timeout = -1;
    if (l->ready.n || l->stopping) {
        timeout = 0;
    } else {
        cr__timer *t = cr__timer_peek(l);
        if (t) {
            int64_t now = cr__now_ns();
            /* Compared, not subtracted first: a deadline far in the past
             * (call_later(-inf)) would overflow the difference. */
            timeout = t->when <= now ? 0 : t->when - now;
        } else if (!cr__be_busy(&l->be) && !resources_alive(l)) {
            return -EDEADLK; /* nothing ready, no timer, no I/O, no resource
                                keeps us: nothing can ever happen */
        }
        if (l->ready.n)
            timeout = 0; /* an alive hook brought work in (a pending signal) */
    }
    /* Before blocking, resources get a say (the inbox tells producers we may
     * sleep and re-checks their queues: either they see the flag and wake us,
     * or it sees their node and we do not block). */
    bool blocks = timeout != 0;
    if (blocks) {
        cr__stack_trim(l, cr__now_ns()); /* about to sleep: a good moment */
        FOR_EACH_RESOURCE(l, r)
        if (r->ops->before_block && r->ops->before_block(l, r))
            timeout = 0;
    }
    int rc = cr__be_poll(&l->be, timeout);
    if (blocks) {
        FOR_EACH_RESOURCE(l, r)
        if (r->ops->after_block)
            r->ops->after_block(l, r);
    }
    return rc;
}

static void expire_timers(cr_loop *l)
{
    cr__timer *t = cr__timer_peek(l);
    if (!t)
        return;
    int64_t now = cr__now_ns();
    cr__stack_trim(l, now);
    while ((t = cr__timer_peek(l)) && t->when <= now) {
        cr__timer_disarm(l, t);
        t->fire(t);
    }
}

static void run_ready(cr_loop *l)
{
    for (size_t n = l->ready.n; n; n--) {
        cr__handle *h = cr__queue_pop(&l->ready);
        h->ops->run(h);
    }
}

static void drain_inboxes(cr_loop *l)
{
    FOR_EACH_RESOURCE(l, r)
    if (r->ops->drain)
        r->ops->drain(l, r);
}

static int iterate(cr_loop *l)
{
    l->stats.iterations++;
    CR_TRACE2(loop_iteration, l->stats.iterations, l->ready.n);
    int rc = poll_backend(l);
    if (rc < 0)
        return rc;
    expire_timers(l);
    drain_inboxes(l);
    run_ready(l);
    return 0;
}

/* ---- running ---- */

int cr__loop_begin_run(cr_loop *l)
{
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (l->running || cr__tls_running)
        return -EBUSY;
    rc = cr__be_bind_thread(&l->be);
    if (rc < 0)
        return rc;
    if (!l->has_owner) {
        l->owner = pthread_self();
        l->has_owner = true;
    }
    cr__stack_thread_init();
    l->running = true;
    cr__tls_running = l;
    return 0;
}

void cr__loop_end_run(cr_loop *l)
{
    FOR_EACH_RESOURCE(l, r)
    if (r->ops->end_run)
        r->ops->end_run(l, r);
    l->running = false;
    l->stopping = false;
    cr__tls_running = NULL;
}

int cr__loop_run_while(cr_loop *l, bool (*done)(cr_loop *l))
{
    int rc = 0;
    while (rc == 0 && !done(l)) {
        rc = iterate(l);
    }
    return rc;
}

static bool stop_requested(cr_loop *l) { return l->stopping; }

int cr_loop_run_forever(cr_loop *l)
{
    bool pre_stopped = l && l->stopping;
    int rc = cr__loop_begin_run(l);
    if (rc < 0)
        return rc;
    if (pre_stopped) {
        l->stopping = false;
        rc = iterate(l);
    } else {
        rc = cr__loop_run_while(l, stop_requested);
        if (rc == -EDEADLK)
            rc = 0; /* nothing left to do is a clean end for run_forever */
    }
    cr__loop_end_run(l);
    return rc;
}

void cr_loop_stop(cr_loop *l)
{
    if (l)
        l->stopping = true;
}

static void stop_on_done(cr__cb *cb) { cb->fut->loop->stopping = true; }

int cr__loop_run_until(cr_loop *l, cr_future *fut)
{
    if (!fut)
        return cr_loop_run_forever(l);
    /* The loop's own state first: closing detached fut from l (fut->loop is
     * NULL), and a closed loop must say so, not "another loop's future". */
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (fut->loop != l)
        return -EINVAL;
    rc = cr__loop_begin_run(l);
    if (rc < 0)
        return rc;
    cr__cb cb = {.on_done = stop_on_done};
    if (fut->state == CR__PENDING) {
        cr__future_add_cb(fut, &cb);
        rc = cr__loop_run_while(l, stop_requested);
        if (fut->state == CR__PENDING)
            cr__future_remove_cb(fut, &cb);
    }
    cr__loop_end_run(l);
    return rc;
}

int cr_loop_run_until_complete(cr_loop *l, cr_future *fut, void **result)
{
    if (result)
        *result = NULL;
    if (!fut)
        return -EINVAL;
    cr_future_ref(fut);
    int rc = cr__loop_run_until(l, fut);
    if (rc == 0)
        rc = cr_future_result(fut, result);
    cr_future_unref(fut);
    return rc;
}

/* ---- closing ---- */

int cr_loop_close(cr_loop *l)
{
    if (!l)
        return -EINVAL;
    if (l->closed)
        return 0;
    if (l->running)
        return -EBUSY;
    /* 0. Seal the resource list; other threads: refuse new submissions,
     *    drop what they queued. */
    l->sealed = atomic_exchange_explicit(&l->resources, CR__RES_SEALED, memory_order_acq_rel);
    close_stage(l, CR__CLOSE_REFUSE);
    /* 1. What was scheduled but never ran. */
    cr__handle *h;
    while ((h = cr__queue_pop(&l->ready)))
        if (h->ops->drop)
            h->ops->drop(h);
    /* 2. Timers still armed (sleeping tasks' timers live on their stacks). */
    while (l->timers.n) {
        cr__timer *t = l->timers.v[l->timers.n - 1].t;
        cr__timer_disarm(l, t);
        if (t->drop)
            t->drop(t);
    }
    cr__timer_heap_free(&l->timers);
    /* 3. Every live future: detach its callbacks (stacks are still mapped, so
     *    waiter nodes on them can be walked), cancel it quietly, and drop the
     *    loop's reference to unfinished tasks. Hold a reference meanwhile so a
     *    dispose that unrefs another future cannot free one under our feet. */
    size_t n = 0;
    CR__LIST_FOR_EACH(p, &l->futures)
        n++;
    cr_future **all = n ? malloc(n * sizeof *all) : NULL;
    size_t i = 0;
    if (all)
        CR__LIST_FOR_EACH(p, &l->futures)
            all[i++] = cr_future_ref(CR_CONTAINER_OF(p, cr_future, all));
    /* First detach every callback list, THEN free stacks: a list may run
     * through waiter nodes on another task's stack, and an odd-sized stack is
     * munmap'd (a cached one zeroed) when it goes back (rule 3). */
    for (i = 0; all && i < n; i++)
        cr__future_abandon(all[i]);
    for (i = 0; all && i < n; i++) {
        cr_future *f = all[i];
        if (!f->is_task || cr__as_task(f)->state == CR__T_DONE)
            continue;
        cr__task *t = cr__as_task(f);
        cr__task_abandon(t);         /* reads nodes on its stack: before the put */
        cr__task_release_stack(l, t); /* f->loop is NULL now: name the loop */
        t->state = CR__T_DONE;
        cr_future_unref(f); /* the loop's own */
    }
    for (i = 0; all && i < n; i++)
        cr_future_unref(all[i]);
    free(all);
    cr__list_init(&l->futures); /* every future was detached (abandon unlinks it) */
    l->tasks.ntasks = 0;
    close_stage(l, CR__CLOSE_DETACH); /* watches and fds, while the backend runs */
    cr__be_exit(&l->be);
    close_stage(l, CR__CLOSE_FREE); /* the kernel holds none of their memory now */
    cr__taskmem_free(&l->tasks.mem);
    cr__stack_pool_free(l);
    l->closed = true;
    return 0;
}

int cr_loop_free(cr_loop *l)
{
    if (!l)
        return 0;
    if (l->running)
        return -EBUSY;
    cr_loop_close(l);
    for (cr__resource *r = l->sealed, *next; r; r = next) {
        next = r->next; /* release frees r */
        if (r->ops->release)
            r->ops->release(l, r);
    }
    if (cr__tls_loop == l)
        cr__tls_loop = NULL;
    if (cr__tls_auto == l)
        cr__tls_auto = NULL;
    free(l);
    return 0;
}

