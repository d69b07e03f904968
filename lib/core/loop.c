/*
 * loop.c — the event loop: one per OS thread, on one io_uring.
 *
 * One iteration is four named phases:
 *
 *   1. poll_ring      submit queued SQEs and reap CQEs in ONE io_uring_enter;
 *                     it blocks (until the nearest timer) only when nothing
 *                     is ready, and is skipped when there is nothing to
 *                     submit or reap.
 *   2. (dispatch)     each CQE's op completes: tasks are made ready.
 *   3. expire_timers  due timers fire (they only schedule).
 *   3b. drain_threadsafe  move what other threads queued (xthread.c) onto the
 *                     ready queue (each producer thread's posts in order).
 *   4. run_ready      run what was ready when the phase began; anything made
 *                     ready while it runs waits for the next iteration, so
 *                     cr_sleep(0) lets every ready task run and I/O is polled
 *                     between turns.
 *
 * The loop runs on the thread's own stack; tasks run on theirs and switch
 * back here (sched_sp) when they park or finish.
 *
 * Loop thread only, except cr_loop_new (any thread; the first thread that
 * runs a loop owns it from then on).
 */
#include "core/internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__thread cr_loop *cr__tls_running;
static __thread cr_loop *tls_loop;       /* set_event_loop / get_event_loop */
static pthread_key_t auto_loop_key;
static pthread_once_t auto_loop_once = PTHREAD_ONCE_INIT;
static bool auto_key_made;

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
    int rc = cr__ring_init(l, opts);
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->stack_size = cr__stack_round(opts && opts->stack_size ? opts->stack_size : 64 * 1024);
    l->stack_cache = opts && opts->stack_cache ? opts->stack_cache : 1024;
    cr__debug_init(l, opts); /* issue 4 */
    if ((rc = cr__xq_init(l)) < 0) {
        cr__ring_exit(l);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
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

static int poll_ring(cr_loop *l)
{
    int64_t timeout = -1;
    if (l->ready.n || l->stopping) {
        timeout = 0;
    } else {
        cr__timer *t = cr__timer_peek(l);
        if (t) {
            timeout = t->when - cr__now_ns();
            if (timeout <= 0)
                timeout = 0;
        } else if (!l->inflight && !l->sq_pending && !cr__xq_keeps_alive(l)) {
            return -EDEADLK; /* nothing ready, no timer, no I/O, no other thread
                                owes us anything: nothing can ever happen */
        }
    }
    /* Before blocking, tell producers we may sleep and re-check their queue
     * (xthread.c): either they see the flag and wake us, or we see their node. */
    bool slept = timeout != 0;
    if (slept)
        cr__stack_trim(l, cr__now_ns()); /* about to sleep: a good moment */
    if (slept && cr__xq_prepare_sleep(l))
        timeout = 0;
    int rc = cr__ring_poll(l, timeout);
    if (slept)
        cr__xq_after_sleep(l);
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
        h->run(h);
    }
}

static int iterate(cr_loop *l)
{
    l->stats.iterations++;
    int rc = poll_ring(l);
    if (rc < 0)
        return rc;
    expire_timers(l);
    cr__xq_drain(l); /* drain_threadsafe */
    run_ready(l);
    return 0;
}

/* ---- running ---- */

static int begin_run(cr_loop *l)
{
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    if (l->running || cr__tls_running)
        return -EBUSY;
    rc = cr__ring_bind_thread(l);
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

static void end_run(cr_loop *l)
{
    cr__xq_end_run(l); /* wakeups deferred to the end of a phase (pool.c) */
    l->running = false;
    l->stopping = false;
    cr__tls_running = NULL;
}

typedef bool (*until_fn)(cr_loop *l);

static int run_while(cr_loop *l, until_fn done)
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
    int rc = begin_run(l);
    if (rc < 0)
        return rc;
    if (pre_stopped) {
        l->stopping = false;
        rc = iterate(l);
    } else {
        rc = run_while(l, stop_requested);
        if (rc == -EDEADLK)
            rc = 0; /* nothing left to do is a clean end for run_forever */
    }
    end_run(l);
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
    if (fut->loop != l)
        return -EINVAL;
    int rc = begin_run(l);
    if (rc < 0)
        return rc;
    cr__cb cb = {.on_done = stop_on_done};
    if (fut->state == CR__PENDING) {
        cr__future_add_cb(fut, &cb);
        rc = run_while(l, stop_requested);
        if (fut->state == CR__PENDING)
            cr__future_remove_cb(fut, &cb);
    }
    end_run(l);
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
    /* 0. Other threads: refuse new submissions, drop what they queued. */
    cr__xq_close(l);
    /* 1. What was scheduled but never ran. */
    cr__handle *h;
    while ((h = cr__queue_pop(&l->ready)))
        if (h->drop)
            h->drop(h);
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
    for (cr_future *f = l->futures; f; f = f->all_next)
        n++;
    cr_future **all = n ? malloc(n * sizeof *all) : NULL;
    size_t i = 0;
    for (cr_future *f = l->futures; f && all; f = f->all_next)
        all[i++] = cr_future_ref(f);
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
        cr__wait_abandon(t);         /* reads nodes on its stack: before the put */
        cr__task_release_stack(l, t); /* f->loop is NULL now: name the loop */
        t->state = CR__T_DONE;
        cr_future_unref(f); /* the loop's own */
    }
    for (i = 0; all && i < n; i++)
        cr_future_unref(all[i]);
    free(all);
    l->futures = NULL;
    l->ntasks = 0;
    cr__signals_close(l); /* issue 4: before the ring goes */
    cr__ring_exit(l);
    cr__io_loop_close(l); /* after the ring: the kernel no longer holds their memory */
    cr__task_cache_free(l);
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
    cr__xq_release(l);
    if (tls_loop == l)
        tls_loop = NULL;
    if (auto_key_made && pthread_getspecific(auto_loop_key) == l)
        pthread_setspecific(auto_loop_key, NULL);
    free(l);
    return 0;
}

/* ---- per-thread loops ---- */

static void free_auto_loop(void *p) { cr_loop_free(p); }
static void make_auto_key(void)
{
    auto_key_made = pthread_key_create(&auto_loop_key, free_auto_loop) == 0;
}

int cr_set_event_loop(cr_loop *loop)
{
    if (loop && loop->closed)
        return -ESHUTDOWN;
    tls_loop = loop;
    return 0;
}

cr_loop *cr_get_event_loop(void)
{
    if (cr__tls_running)
        return cr__tls_running;
    if (!tls_loop) {
        cr_loop *l;
        if (cr_loop_new(&l, NULL) < 0)
            return NULL;
        pthread_once(&auto_loop_once, make_auto_key);
        pthread_setspecific(auto_loop_key, l); /* freed when the thread exits */
        tls_loop = l;
    }
    return tls_loop;
}

cr_loop *cr_get_running_loop(int *err)
{
    if (err)
        *err = cr__tls_running ? 0 : -EPERM;
    return cr__tls_running;
}

/* ---- asyncio.run ---- */

static bool no_tasks_left(cr_loop *l) { return l->ntasks == 0; }

int cr_run(cr_task_fn fn, void *arg, void **result)
{
    if (result)
        *result = NULL;
    if (!fn)
        return -EINVAL;
    if (cr__tls_running)
        return -EBUSY;
    cr_loop *l;
    int rc = cr_loop_new(&l, NULL);
    if (rc < 0) {
        fprintf(stderr, "coring: cannot start an event loop: %s\n", cr_setup_error());
        return rc;
    }
    cr_loop *prev = tls_loop;
    tls_loop = l;
    cr_task *main_task;
    cr_task_opts o = {.name = "main"};
    rc = cr_loop_create_task(l, fn, arg, &o, &main_task);
    if (rc == 0) {
        /* issue 4: the first SIGINT cancels main, a second stops at once. */
        cr__sigint_start(l, main_task);
        rc = cr_loop_run_until_complete(l, main_task, result);
        bool hard_stop = cr__sigint_stop(l); /* issue 4: skip the clean-up run */
        /* Cancel what main left behind and wait for it, as asyncio.run does. */
        for (cr_future *f = l->futures; f; f = f->all_next)
            if (f->is_task && f->state == CR__PENDING)
                cr_cancel(f);
        if (!hard_stop && l->ntasks && begin_run(l) == 0) {
            run_while(l, no_tasks_left);
            end_run(l);
        }
        rc = cr__sigint_end(l, rc); /* issue 4 */
        cr_future_unref(main_task);
    }
    tls_loop = prev;
    cr_loop_free(l);
    return rc;
}

/* ---- call_soon / call_later / call_at ---- */

struct cr_handle {
    cr__handle h;
    cr__timer timer;
    cr_loop *loop;
    cr_callback fn;
    void *arg;
    int refs;
    bool cancelled, ran;
};

static void handle_unref(cr_handle *h)
{
    if (--h->refs == 0)
        free(h);
}

static void handle_run(cr__handle *hh)
{
    cr_handle *h = CR_CONTAINER_OF(hh, cr_handle, h);
    if (!h->cancelled) {
        h->ran = true;
        h->fn(h->arg);
    }
    handle_unref(h);
}

static void handle_drop(cr__handle *hh) { handle_unref(CR_CONTAINER_OF(hh, cr_handle, h)); }

static void handle_fire(cr__timer *t)
{
    cr_handle *h = CR_CONTAINER_OF(t, cr_handle, timer);
    cr__loop_schedule(h->loop, &h->h);
}

static void handle_timer_drop(cr__timer *t) { handle_unref(CR_CONTAINER_OF(t, cr_handle, timer)); }

static int schedule(cr_loop *l, int64_t when, cr_callback fn, void *arg, cr_handle **out)
{
    if (out)
        *out = NULL;
    if (!fn)
        return -EINVAL;
    int rc = cr__loop_check(l);
    if (rc < 0)
        return rc;
    cr_handle *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = l;
    h->fn = fn;
    h->arg = arg;
    h->refs = out ? 2 : 1;
    h->h.run = handle_run;
    h->h.drop = handle_drop;
    cr__timer_init(&h->timer, handle_fire);
    h->timer.drop = handle_timer_drop;
    if (when < 0) {
        cr__loop_schedule(l, &h->h);
    } else if ((rc = cr__timer_arm(l, &h->timer, when)) < 0) {
        free(h);
        return rc;
    }
    if (out)
        *out = h;
    return 0;
}

int cr_call_soon(cr_loop *l, cr_callback fn, void *arg, cr_handle **out)
{
    return schedule(l, -1, fn, arg, out);
}

int cr_call_later(cr_loop *l, double delay, cr_callback fn, void *arg, cr_handle **out)
{
    return schedule(l, cr__now_ns() + cr__secs_to_ns(delay), fn, arg, out);
}

int cr_call_at(cr_loop *l, double when, cr_callback fn, void *arg, cr_handle **out)
{
    int64_t ns = when <= 0 ? 0 : (int64_t)(when * 1e9);
    return schedule(l, ns, fn, arg, out);
}

bool cr_handle_cancel(cr_handle *h)
{
    if (!h || h->cancelled || h->ran)
        return false;
    h->cancelled = true;
    if (cr__timer_armed(&h->timer)) {
        cr__timer_disarm(h->loop, &h->timer);
        handle_unref(h);
    }
    return true;
}

bool cr_handle_cancelled(const cr_handle *h) { return h && h->cancelled; }

void cr_handle_release(cr_handle *h)
{
    if (h)
        handle_unref(h);
}
