/* SPDX-License-Identifier: MIT */
/*
 * Description: bad arguments and misuse are answered with a documented
 * negative errno, never a hang, an overflow or a use after free (
 * items 9–15), and a sweep over the public API: NULL where not allowed,
 * NaN/infinite/huge times and sizes, a closed loop, outside a task, twice.
 * docs/errors.md lists the answers. Meant to pass under ASan+UBSan.
 */
#include "io-helpers.h"
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

/* ---- 9 ---- */

static int sleeps_forever(void *arg, void **result)
{
    (void)arg, (void)result;
    return cr_sleep_ns(INT64_MAX);
}

static int sleep_max_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_task *t = cr_create_task(sleeps_forever, NULL);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep_ns(1000), 0, "other sleeps still end");
    cr_assert_eq(cr_sleep(1e-6), 0);
    cr_assert_not(cr_future_done(t));
    cr_cancel(t);
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_future_unref(t);
    return 0;
}

/* cr_sleep_ns(INT64_MAX) sleeps forever without stalling the other sleeps. */
Test(misuse, sleep_ns_int64_max_does_not_stall_the_loop, HANG_GUARD(10))
{
    RUN_EXPECT(sleep_max_main, NULL, 0);
}

/* ---- 10 ---- */

static int lock_waiter(void *arg, void **result)
{
    (void)result;
    return cr_lock_acquire(arg);
}

static int lock_free_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_lock *l = cr_lock_new();
    cr_assert_eq(cr_lock_acquire(l), 0);
    cr_task *w = cr_create_task(lock_waiter, l);
    cr_assert_eq(cr_sleep(0), 0); /* w is queued on l */
    cr_assert_eq(cr_lock_free(l), -EBUSY, "a waiter links through it");
    cr_cancel(w);
    cr_assert_eq(cr_await(w, NULL), -ECANCELED);
    cr_future_unref(w);
    cr_assert_eq(cr_lock_release(l), 0);
    cr_assert_eq(cr_lock_free(l), 0);
    cr_assert_eq(cr_lock_free(NULL), 0);
    return 0;
}

/* cr_lock_free with a queued waiter is -EBUSY and frees nothing. */
Test(misuse, lock_free_with_waiter_is_ebusy)
{
    RUN_EXPECT(lock_free_main, NULL, 0);
}

/* ---- 11 ---- */

static int huge_write_main(void *arg, void **result)
{
    (void)arg, (void)result;
    int p[2];
    tcp_pair(p);
    cr_stream *s;
    cr_assert_eq(cr_stream_new(cr_get_running_loop(NULL), p[0], NULL, &s), 0);
    static const char small[16];
    cr_assert_eq(cr_stream_write(s, small, sizeof small), (ssize_t)sizeof small);
    cr_assert_eq(cr_stream_write(s, small, SIZE_MAX), -EINVAL, "count beyond ssize_t");
    cr_assert_eq(cr_stream_write(s, small, (size_t)1 << 63), -EINVAL);
    cr_assert_eq(cr_stream_write(s, small, SIZE_MAX / 2), -ENOMEM, "would wrap: refused");
    cr_assert_eq(cr_stream_write(s, small, sizeof small), (ssize_t)sizeof small,
                 "the stream still works");
    char buf[32];
    size_t got = 0;
    while (got < 32) {
        ssize_t n = cr_recv(p[1], buf + got, sizeof buf - got, 0, 5.0);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_stream_close(s);
    cr_assert_eq(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    close(p[1]);
    return 0;
}

/* cr_stream_write with a length that would wrap or spin is refused. */
Test(misuse, stream_write_huge_length_is_refused, HANG_GUARD(10))
{
    RUN_EXPECT(huge_write_main, NULL, 0);
}

/* ---- 12 ---- */

static int never_ends(void *arg, void **result)
{
    (void)arg, (void)result;
    return cr_sleep(INFINITY);
}

/* cr_tsfuture_wait(f, NaN) is -EINVAL instead of a hang. */
Test(misuse, tsfuture_wait_nan_is_einval, HANG_GUARD(10))
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_tsfuture *f;
    cr_assert_eq(cr_run_coroutine_threadsafe(l, never_ends, NULL, &f), 0);
    cr_assert_eq(cr_tsfuture_wait(f, NAN), -EINVAL);
    cr_assert_eq(cr_tsfuture_wait(f, 0), -ETIMEDOUT);
    cr_assert_eq(cr_tsfuture_wait(NULL, 0), -EINVAL);
    cr_tsfuture_cancel(f);
    cr_assert_eq(cr_tsfuture_wait(f, INFINITY), 0, "+inf: until done");
    cr_tsfuture_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- 13 ---- */

static int ran;
static void mark(void *arg)
{
    (void)arg;
    ran++;
}

static int far_future_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_handle *h1, *h2, *h3;
    ran = 0;
    cr_assert_eq(cr_call_at(l, 1e300, mark, NULL, &h1), 0);
    cr_assert_eq(cr_call_at(l, INFINITY, mark, NULL, &h2), 0);
    cr_assert_eq(cr_call_later(l, 1e300, mark, NULL, &h3), 0);
    cr_assert_eq(cr_call_at(l, INFINITY, mark, NULL, NULL), 0, "no handle: nothing leaks");
    cr_assert_eq(cr_call_at(l, NAN, mark, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_sleep(0.002), 0);
    cr_assert_eq(ran, 0, "never is never");
    cr_assert(cr_handle_cancel(h1));
    cr_assert(cr_handle_cancel(h2));
    cr_handle_release(h1);
    cr_handle_release(h2);
    cr_handle_release(h3); /* released, not cancelled: still never runs */
    cr_timeout_scope *to = cr_timeout_at(1e300);
    cr_assert_not_null(to);
    cr_assert_eq(cr_timeout_reschedule(to, INFINITY), 0);
    cr_assert_eq(cr_timeout_reschedule(to, NAN), -EINVAL);
    cr_assert_eq(cr_sleep(0.001), 0);
    cr_assert_eq(cr_timeout_end(to, 0), 0);
    to = cr_timeout(1e300);
    cr_assert_eq(cr_sleep(0.001), 0);
    cr_assert_eq(cr_timeout_end(to, 0), 0);
    /* the far past is due at once, in deadline order */
    cr_assert_eq(cr_call_at(l, -1e300, mark, NULL, NULL), 0);
    cr_assert_eq(cr_sleep(0.001), 0);
    cr_assert_eq(ran, 1);
    return 0;
}

/* call_at / call_later / timeout_at with huge or infinite times never run;
 * NaN is -EINVAL; no undefined float→int conversion on the way. */
Test(misuse, far_times_are_never_and_nan_is_einval)
{
    RUN_EXPECT(far_future_main, NULL, 0);
}

/* ---- 14 ---- */

/* cr_strerror(INT_MIN) is a text, not a negation of INT_MIN. */
Test(misuse, strerror_int_min)
{
    cr_assert_str_eq(cr_strerror(INT_MIN), "Unknown error");
    cr_assert_str_eq(cr_strerror(0), "Success");
    cr_assert_not_null(cr_strerror(-EINVAL));
}

/* ---- 15 ---- */

/* cr_acceptor_new(-1) answers -EBADF, as its header says. */
Test(misuse, acceptor_new_bad_fd_is_ebadf)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_acceptor *a = (cr_acceptor *)1;
    cr_assert_eq(cr_acceptor_new(l, -1, &a), -EBADF);
    cr_assert_null(a);
    cr_assert_eq(cr_acceptor_new(l, 0, NULL), -EINVAL);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- the sweep (docs/errors.md is its table) ---- */

/* Each row: a call and the answer docs/errors.md gives for it. Mismatches are
 * collected so one run lists them all. */
static char SWEEP_BAD[8192];
#define ROW(call, want)                                                           \
    do {                                                                          \
        long got_ = (long)(call);                                                 \
        if (got_ != (long)(want))                                                 \
            snprintf(SWEEP_BAD + strlen(SWEEP_BAD), sizeof SWEEP_BAD - strlen(SWEEP_BAD), \
                     "\n  %s:%d %s = %ld, want %ld", __FILE__, __LINE__, #call,   \
                     got_, (long)(want));                                         \
    } while (0)
#define SWEEP_DONE() cr_assert_str_eq(SWEEP_BAD, "", "%s", SWEEP_BAD)

static int noop_task(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}
static void noop_cb(void *arg) { (void)arg; }
static void noop_fcb(cr_future *f, void *arg) { (void)f, (void)arg; }
static void noop_sig(int sig, void *arg) { (void)sig, (void)arg; }

/* NULL where a call needs an object, from inside a task: -EINVAL (or the
 * documented neutral answer of a query: false, 0, NULL). */
static int null_sweep_main(void *arg, void **result)
{
    (void)arg, (void)result;
    void *v;
    cr_loop *l = cr_get_running_loop(NULL);
    ROW(cr_loop_new(NULL, NULL), -EINVAL);
    ROW(cr_loop_close(NULL), -EINVAL);
    ROW(cr_loop_free(NULL), 0);
    ROW(cr_loop_run_until_complete(l, NULL, NULL), -EINVAL);
    ROW(cr_call_soon(NULL, noop_cb, NULL, NULL), -EINVAL);
    ROW(cr_call_soon(l, NULL, NULL, NULL), -EINVAL);
    ROW(cr_call_later(l, 1, NULL, NULL, NULL), -EINVAL);
    ROW(cr_call_at(NULL, 1, noop_cb, NULL, NULL), -EINVAL);
    ROW(cr_handle_cancel(NULL), false);
    ROW(cr_future_ref(NULL), NULL);
    ROW(cr_future_set_result(NULL, NULL), -EINVAL);
    ROW(cr_future_set_error(NULL, -EIO), -EINVAL);
    ROW(cr_cancel(NULL), false);
    ROW(cr_future_done(NULL), false);
    ROW(cr_future_result(NULL, &v), -EINVAL);
    ROW(cr_future_exception(NULL), -EINVAL);
    ROW(cr_future_add_done_callback(NULL, noop_fcb, NULL), -EINVAL);
    ROW(cr_loop_create_task(l, NULL, NULL, NULL, (cr_task **)&v), -EINVAL);
    ROW(cr_loop_create_task(l, noop_task, NULL, NULL, NULL), -EINVAL);
    ROW(cr_ensure_future(NULL, NULL, NULL), NULL);
    ROW(cr_task_get_name(NULL), NULL);
    ROW(cr_task_set_name(NULL, "x"), -EINVAL);
    ROW(cr_task_cancelling(NULL), -EINVAL);
    ROW(cr_task_uncancel(NULL), -EINVAL);
    ROW(cr_await(NULL, &v), -EINVAL);
    ROW(cr_gather(NULL, 1, NULL, NULL, 0), -EINVAL);
    ROW(cr_wait(NULL, 1, -1, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), -EINVAL);
    ROW(cr_wait_for(NULL, 1, &v), -EINVAL);
    ROW(cr_shield(NULL), NULL);
    ROW(cr_as_completed_next(NULL, NULL), -EINVAL);
    ROW(cr_lock_acquire(NULL), -EINVAL);
    ROW(cr_lock_release(NULL), -EINVAL);
    ROW(cr_lock_locked(NULL), false);
    ROW(cr_event_set(NULL), -EINVAL);
    ROW(cr_event_wait(NULL), -EINVAL);
    ROW(cr_event_free(NULL), 0);
    ROW(cr_semaphore_acquire(NULL), -EINVAL);
    ROW(cr_semaphore_release(NULL), -EINVAL);
    ROW(cr_condition_wait(NULL), -EINVAL);
    ROW(cr_condition_notify(NULL, 1), -EINVAL);
    ROW(cr_barrier_new(0), NULL);
    ROW(cr_barrier_wait(NULL), -EINVAL);
    ROW(cr_queue_new(NULL, NULL), -EINVAL);
    ROW(cr_queue_put(NULL, NULL), -EINVAL);
    ROW(cr_queue_get(NULL, &v), -EINVAL);
    ROW(cr_queue_put_nowait(NULL, NULL), -EINVAL);
    ROW(cr_queue_get_nowait(NULL, &v), -EINVAL);
    ROW(cr_task_group_new(NULL), -EINVAL);
    ROW(cr_task_group_create_task(NULL, noop_task, NULL, NULL, NULL), -EINVAL);
    ROW(cr_task_group_wait(NULL), -EINVAL);
    ROW(cr_timeout_reschedule(NULL, 1), -EINVAL);
    ROW(cr_timeout_end(NULL, 0), -EINVAL);
    ROW(cr_timeout_when(NULL), -1);
    ROW(cr_call_soon_threadsafe(NULL, noop_cb, NULL), -EINVAL);
    ROW(cr_run_coroutine_threadsafe(NULL, noop_task, NULL, NULL), -EINVAL);
    ROW(cr_tsfuture_wait(NULL, 0), -EINVAL);
    ROW(cr_tsfuture_result(NULL, &v), -EINVAL);
    ROW(cr_pool_submit(NULL, noop_cb, NULL), -EINVAL);
    ROW(cr_stream_read(NULL, &v, 1), -EINVAL);
    ROW(cr_stream_write(NULL, "x", 1), -EINVAL);
    ROW(cr_stream_drain(NULL), -EINVAL);
    ROW(cr_stream_set_timeout(NULL, 1), -EINVAL);
    ROW(cr_acceptor_next(NULL, 1), -EINVAL);
    ROW(cr_add_signal_handler(l, SIGUSR1, NULL, NULL), -EINVAL);
    ROW(cr_add_signal_handler(l, 0, noop_sig, NULL), -EINVAL);
    ROW(cr_add_signal_handler(l, SIGKILL, noop_sig, NULL), -EINVAL);
    ROW(cr_dump_tasks(l, NULL), -EINVAL);
    SWEEP_DONE();
    return 0;
}

/* NULL (and other impossible objects) are -EINVAL, never a crash. */
Test(misuse, sweep_null_arguments)
{
    RUN_EXPECT(null_sweep_main, NULL, 0);
}

/* Suspending calls outside a task: -EPERM; scopes outside a task: NULL. */
Test(misuse, sweep_outside_a_task)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *f = cr_future_new(l);
    cr_lock *lk = cr_lock_new();
    cr_event *e = cr_event_new();
    cr_task_group *g;
    void *v;
    ROW(cr_sleep(0), -EPERM);
    ROW(cr_sleep_ns(1), -EPERM);
    ROW(cr_await(f, &v), -EPERM);
    ROW(cr_wait_for(f, 1, &v), -EPERM);
    ROW(cr_gather(&f, 1, NULL, NULL, 0), -EPERM);
    ROW(cr_wait(&f, 1, 1, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), -EPERM);
    ROW(cr_lock_acquire(lk), -EPERM);
    ROW(cr_event_wait(e), -EPERM);
    ROW(cr_task_group_new(&g), -EPERM);
    ROW(cr_timeout(1), NULL);
    ROW(cr_create_task(noop_task, NULL), NULL);
    ROW(cr_current_task(), NULL);
    ROW(cr_get_running_loop(NULL), NULL);
    ROW(cr_future_new(NULL), NULL);
    ROW(cr_future_result(f, &v), -EAGAIN);
    SWEEP_DONE();
    cr_event_free(e);
    cr_lock_free(lk);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* A closed loop: every call that would use it answers -ESHUTDOWN. */
Test(misuse, sweep_closed_loop)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_loop_close(l), 0);
    cr_task *t;
    cr_tsfuture *tf;
    cr_acceptor *a;
    cr_stream *s;
    ROW(cr_loop_close(l), 0);
    ROW(cr_loop_is_closed(l), true);
    ROW(cr_loop_run_forever(l), -ESHUTDOWN);
    ROW(cr_loop_run_until_complete(l, f, NULL), -ESHUTDOWN);
    ROW(cr_call_soon(l, noop_cb, NULL, NULL), -ESHUTDOWN);
    ROW(cr_call_later(l, 1, noop_cb, NULL, NULL), -ESHUTDOWN);
    ROW(cr_call_at(l, 1, noop_cb, NULL, NULL), -ESHUTDOWN);
    ROW(cr_loop_create_task(l, noop_task, NULL, NULL, &t), -ESHUTDOWN);
    ROW(cr_future_new(l), NULL);
    ROW(cr_set_event_loop(l), -ESHUTDOWN);
    ROW(cr_call_soon_threadsafe(l, noop_cb, NULL), -ESHUTDOWN);
    ROW(cr_run_coroutine_threadsafe(l, noop_task, NULL, &tf), -ESHUTDOWN);
    ROW(cr_add_signal_handler(l, SIGUSR1, noop_sig, NULL), -ESHUTDOWN);
    ROW(cr_acceptor_new(l, 0, &a), -ESHUTDOWN);
    ROW(cr_stream_new(l, dup(0), NULL, &s), -ESHUTDOWN);
    ROW(cr_future_set_result(f, NULL), -EALREADY); /* closing cancelled it */
    ROW(cr_future_cancelled(f), true);
    SWEEP_DONE();
    cr_future_unref(f);
    cr_assert_eq(cr_loop_free(l), 0);
}

struct wrong_thread {
    cr_loop *l;
    cr_future *f;
    int rc[6];
};

static void *from_other_thread(void *arg)
{
    struct wrong_thread *w = arg;
    cr_task *t;
    w->rc[0] = cr_call_soon(w->l, noop_cb, NULL, NULL);
    w->rc[1] = cr_loop_create_task(w->l, noop_task, NULL, NULL, &t);
    w->rc[2] = cr_loop_run_forever(w->l);
    w->rc[3] = cr_call_later(w->l, 1, noop_cb, NULL, NULL);
    w->rc[4] = cr_add_signal_handler(w->l, SIGUSR1, noop_sig, NULL);
    w->rc[5] = cr_call_soon_threadsafe(w->l, noop_cb, NULL); /* the one that may */
    return NULL;
}

static int wrong_thread_main(void *arg, void **result)
{
    (void)result;
    struct wrong_thread *w = arg;
    w->l = cr_get_running_loop(NULL);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, from_other_thread, w), 0);
    pthread_join(th, NULL); /* blocks the loop: the thread needs nothing from it */
    return 0;
}

/* Another thread: loop calls are -EPERM, except the threadsafe ones. */
Test(misuse, sweep_wrong_thread)
{
    struct wrong_thread w = {0};
    RUN_EXPECT(wrong_thread_main, &w, 0);
    ROW(w.rc[0], -EPERM);
    ROW(w.rc[1], -EPERM);
    ROW(w.rc[2], -EPERM);
    ROW(w.rc[3], -EPERM);
    ROW(w.rc[4], -EPERM);
    ROW(w.rc[5], 0);
    SWEEP_DONE();
}

static int twice_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_future *f = cr_future_new(NULL);
    cr_lock *lk = cr_lock_new();
    cr_task_group *g;
    ROW(cr_future_set_result(f, NULL), 0);
    ROW(cr_future_set_result(f, NULL), -EALREADY);
    ROW(cr_future_set_error(f, -EIO), -EALREADY);
    cr_future *f2 = cr_future_new(NULL);
    ROW(cr_future_set_error(f2, 5), -EINVAL); /* an error must be negative */
    ROW(cr_future_set_error(f2, 0), -EINVAL);
    cr_future_unref(f2);
    ROW(cr_cancel(f), false);
    ROW(cr_lock_release(lk), -EPERM);
    ROW(cr_task_group_new(&g), 0);
    ROW(cr_task_group_wait(g), 0);
    ROW(cr_task_group_wait(g), -EALREADY);
    ROW(cr_task_group_create_task(g, noop_task, NULL, NULL, NULL), -ESHUTDOWN);
    cr_task_group_free(g);
    cr_timeout_scope *to = cr_timeout(0);
    ROW(cr_sleep(1), -ECANCELED);
    ROW(cr_timeout_reschedule(to, 1), -EALREADY);
    ROW(cr_timeout_end(to, -ECANCELED), -ETIMEDOUT);
    ROW(cr_run(noop_task, NULL, NULL), -EBUSY);
    ROW(cr_loop_close(cr_get_running_loop(NULL)), -EBUSY);
    ROW(cr_loop_free(cr_get_running_loop(NULL)), -EBUSY);
    ROW(cr_loop_run_forever(cr_get_running_loop(NULL)), -EBUSY);
    SWEEP_DONE();
    cr_lock_free(lk);
    cr_future_unref(f);
    return 0;
}

/* Twice, or in the wrong state: -EALREADY, -EPERM, -EBUSY, -ESHUTDOWN. */
Test(misuse, sweep_twice_and_wrong_state)
{
    RUN_EXPECT(twice_main, NULL, 0);
}

static int sizes_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_future *f = cr_future_new(NULL);
    ROW(cr_sleep(-1), 0);
    ROW(cr_sleep(-INFINITY), 0);
    ROW(cr_sleep_ns(INT64_MIN), 0);
    ROW(cr_wait(&f, 0, -1, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), -EINVAL);
    ROW(cr_wait(&f, 1, -1, 99, NULL, NULL, NULL, NULL), -EINVAL);
    ROW(cr_wait(&f, 1, 0, CR_ALL_COMPLETED, NULL, NULL, NULL, NULL), 0);
    ROW(cr_wait_for(f, 0, NULL), -ETIMEDOUT);
    ROW(cr_gather(&f, 0, NULL, NULL, 0), 0);
    ROW(cr_call_later(l, 1e300, noop_cb, NULL, NULL), 0);
    ROW(cr_call_later(l, -1e300, noop_cb, NULL, NULL), 0);
    ROW(cr_loop_set_slow_callback_duration(l, NAN), -EINVAL);
    ROW(cr_loop_set_slow_callback_duration(l, -1), -EINVAL);
    ROW(cr_loop_set_slow_callback_duration(l, INFINITY), 0);
    ROW(cr_stream_read((cr_stream *)NULL, NULL, 1), -EINVAL);
    cr_pool *p;
    cr_assert_eq(cr_pool_new(&p, NULL), 0);
    ROW(cr_pool_shutdown(p, NAN, false), -EINVAL);
    ROW(cr_pool_shutdown(p, INFINITY, false), 0);
    ROW(cr_pool_free(p), 0);
    int fds[2];
    tcp_pair(fds);
    char c;
    ROW(cr_recv(fds[0], &c, 1, 0, NAN), -EINVAL);
    ROW(cr_send_all(fds[0], "x", 1, NAN), -EINVAL);
    ROW(cr_connect_tcp("127.0.0.1", 1, NAN), -EINVAL);
    ROW(cr_accept(fds[0], NULL, NULL, NAN), -EINVAL);
    ROW(cr_read(fds[0], &c, 1, -1, NAN), -EINVAL);
    cr_stream *s;
    cr_assert_eq(cr_stream_new(l, fds[0], NULL, &s), 0);
    ROW(cr_stream_set_timeout(s, NAN), -EINVAL);
    ROW(cr_stream_set_timeout(s, INFINITY), 0);
    ROW(cr_stream_write(s, "x", (size_t)SSIZE_MAX + 1), -EINVAL);
    ROW(cr_stream_write(s, NULL, 1), -EINVAL);
    ROW(cr_stream_read(s, NULL, 1), -EINVAL);
    ROW(cr_stream_readuntil(s, NULL, 1, &c, 1, NULL), -EINVAL);
    ROW(cr_stream_readuntil(s, "\n", 0, &c, 1, NULL), -EINVAL);
    cr_buf v;
    ROW(cr_stream_readuntil_buf(s, NULL, 1, 0, &v), -EINVAL);
    ROW(cr_stream_readuntil_buf(s, "\n", 0, SIZE_MAX, &v), -EINVAL);
    ROW(cr_stream_readuntil_buf(s, "\n", 1, 0, NULL), -EINVAL);
    cr_stream_close(s);
    ROW(cr_stream_write(s, "x", 1), -ESHUTDOWN);
    ROW(cr_stream_wait_closed(s), 0);
    cr_stream_free(s);
    close(fds[1]);
    SWEEP_DONE();
    cr_future_unref(f);
    return 0;
}

/* Odd sizes and times: documented answers, no hang, no overflow. */
Test(misuse, sweep_sizes_and_times, HANG_GUARD(20))
{
    RUN_EXPECT(sizes_main, NULL, 0);
}

/* The rest of the surface with NULL objects: the I/O objects, subprocesses,
 * servers, the sync primitives' remaining calls, thread-safe futures and
 * pools. Void calls must simply return. */
static int null_more_main(void *arg, void **result)
{
    (void)arg, (void)result;
    void *v;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_buf b = {0};
    cr_acceptor_kick(NULL);
    cr_acceptor_free(NULL);
    cr_mrecv_release(NULL, &b);
    cr_mrecv_free(NULL);
    cr_stream_close(NULL);
    cr_stream_abort(NULL);
    cr_stream_free(NULL);
    cr_as_completed_free(NULL);
    cr_handle_release(NULL);
    cr_future_unref(NULL);
    cr_tsfuture_unref(NULL);
    cr_task_group_free(NULL);
    ROW(cr_mrecv_new(l, 0, 1, NULL), -EINVAL);
    ROW(cr_mrecv_next(NULL, &b, 1), -EINVAL);
    ROW(cr_stream_fd(NULL), -EINVAL);
    ROW(cr_stream_at_eof(NULL), false);
    ROW(cr_stream_read_buf(NULL, &b), -EINVAL);
    ROW(cr_stream_release_buf(NULL, NULL), -EINVAL);
    ROW(cr_stream_write_eof(NULL), -EINVAL);
    ROW(cr_stream_wait_closed(NULL), -EINVAL);
    ROW(cr_stream_new(l, -1, NULL, (cr_stream **)&v), -EBADF);
    ROW(cr_stream_new(l, 0, NULL, NULL), -EINVAL);
    ROW(cr_server_port(NULL), -EINVAL);
    ROW(cr_server_connections(NULL), 0);
    ROW(cr_server_acceptor(NULL), NULL);
    ROW(cr_server_shutdown(NULL, 1), -EINVAL);
    ROW(cr_server_free(NULL), 0);
    ROW(cr_subprocess_wait(NULL, NULL), -EINVAL);
    ROW(cr_subprocess_read(NULL, 1, &b, 1), -EINVAL);
    ROW(cr_subprocess_write(NULL, "x", 1), -EINVAL);
    ROW(cr_subprocess_kill(NULL), -EINVAL);
    ROW(cr_subprocess_returncode(NULL, NULL), false);
    ROW(cr_subprocess_free(NULL), 0);
    ROW(cr_loop_buffer_stats(l, NULL), -EINVAL);
    ROW(cr_loop_buffer_stats(NULL, NULL), -EINVAL);
    ROW(cr_event_clear(NULL), -EINVAL);
    ROW(cr_event_is_set(NULL), false);
    ROW(cr_semaphore_free(NULL), 0);
    ROW(cr_semaphore_locked(NULL), false);
    cr_condition *cv = cr_condition_new(NULL); /* NULL lock: its own */
    ROW(cv != NULL, true);
    ROW(cr_condition_free(cv), 0);
    ROW(cr_condition_free(NULL), 0);
    ROW(cr_condition_acquire(NULL), -EINVAL);
    ROW(cr_condition_release(NULL), -EINVAL);
    ROW(cr_condition_notify_all(NULL), -EINVAL);
    ROW(cr_barrier_free(NULL), 0);
    ROW(cr_barrier_reset(NULL), -EINVAL);
    ROW(cr_barrier_abort(NULL), -EINVAL);
    ROW(cr_queue_free(NULL), 0);
    ROW(cr_queue_size(NULL), 0);
    ROW(cr_queue_task_done(NULL), -EINVAL);
    ROW(cr_queue_join(NULL), -EINVAL);
    ROW(cr_queue_shutdown(NULL, false), -EINVAL);
    ROW(cr_task_group_errors(NULL, NULL, 0), 0);
    ROW(cr_timeout_expired(NULL), false);
    ROW(cr_tsfuture_ref(NULL), NULL);
    ROW(cr_tsfuture_done(NULL), false);
    ROW(cr_tsfuture_cancel(NULL), false);
    ROW(cr_tsfuture_add_done_callback(NULL, NULL, NULL), -EINVAL);
    ROW(cr_pool_new(NULL, NULL), -EINVAL);
    ROW(cr_pool_free(NULL), 0);
    ROW(cr_pool_shutdown(NULL, 1, false), -EINVAL);
    ROW(cr_pool_workers(NULL), 0);
    ROW(cr_loop_set_default_executor(NULL, NULL), -EINVAL);
    ROW(cr_run_in_executor(NULL, NULL, NULL, NULL), -EINVAL);
    ROW(cr_to_thread(NULL, NULL, NULL), -EINVAL);
    ROW(cr_loop_stop_threadsafe(NULL), -EINVAL);
    ROW(cr_loop_hold(NULL), -EINVAL);
    ROW(cr_loop_unhold(NULL), -EINVAL);
    ROW(cr_loop_stats(NULL, NULL), -EINVAL);
    ROW(cr_loop_set_debug(NULL, true), -EINVAL);
    ROW(cr_loop_set_debug_handler(NULL, NULL, NULL), -EINVAL);
    ROW(cr_remove_signal_handler(l, SIGUSR2), -ENOENT);
    ROW(cr_remove_signal_handler(NULL, SIGUSR2), -EINVAL);
    ROW(cr_getaddrinfo(NULL, NULL, NULL, NULL), -EINVAL);
    SWEEP_DONE();
    return 0;
}

/* Every other public call given NULL answers its documented code or returns. */
Test(misuse, sweep_null_arguments_rest)
{
    RUN_EXPECT(null_more_main, NULL, 0);
}

static int sleeps_inf_alone(void *arg, void **result)
{
    (void)arg, (void)result;
    return cr_sleep(INFINITY);
}

/* A "never" timer keeps nothing alive: sleeping forever with nothing else
 * that could wake the task is a deadlock, answered -EDEADLK, not a hang. */
Test(misuse, sleep_forever_alone_is_edeadlk, HANG_GUARD(10))
{
    RUN_EXPECT(sleeps_inf_alone, NULL, -EDEADLK);
}
