/*
 * Description: bad arguments and misuse are answered with a documented
 * negative errno, never a hang, an overflow or a use after free (issue 12,
 * items 9–15), and a sweep over the public API: NULL where not allowed,
 * NaN/infinite/huge times and sizes, a closed loop, outside a task, twice.
 * docs/errors.md lists the answers. Meant to pass under ASan+UBSan.
 */
#include "io-helpers.h"
#include <limits.h>
#include <math.h>
#include <pthread.h>
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
Test(misuse, sleep_ns_int64_max_does_not_stall_the_loop, .timeout = 10)
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
Test(misuse, stream_write_huge_length_is_refused, .timeout = 10)
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
Test(misuse, tsfuture_wait_nan_is_einval, .timeout = 10)
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
