/* SPDX-License-Identifier: MIT */
/*
 * Description: the asyncio surface added this round — aborting a TaskGroup
 * from its owner, asyncio.Runner (several runs on one loop, then close),
 * current_task(loop), ensure_future onto a given loop, cancel with a message
 * the cancelled task reads, the loop's exception handler, task-local
 * variables inherited by copy.
 */
#include "helpers.h"
#include <math.h>

/* ---- TaskGroup abort ---- */

struct abort_s {
    tlog log;
};

static int child_sleeps(void *arg, void **result)
{
    (void)result;
    struct abort_s *s = arg;
    int rc = cr_sleep(10);
    tlog_add(&s->log, "child:%s", rc == -ECANCELED ? "cancelled" : "?");
    return rc;
}

static int leaf(void *arg, void **result)
{
    (void)arg, (void)result;
    return 0;
}

static int abort_main(void *arg, void **result)
{
    (void)result;
    struct abort_s *s = arg;
    cr_task_group *g;
    cr_assert_eq(cr_task_group_new(&g), 0);
    cr_assert_eq(cr_task_group_create_task(g, child_sleeps, s, NULL, NULL), 0);
    cr_assert_eq(cr_task_group_create_task(g, child_sleeps, s, NULL, NULL), 0);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_task_group_abort(g), 0);
    cr_assert_eq(cr_task_group_abort(g), -EALREADY);
    cr_assert_eq(cr_task_group_create_task(g, leaf, NULL, NULL, NULL), -ESHUTDOWN);
    cr_assert_eq(cr_task_group_wait(g), 0, "an abort on purpose is not an error");
    cr_assert_eq(cr_task_cancelling(cr_current_task()), 0, "the parent was not cancelled");
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_task_group_abort(g), -ESHUTDOWN);
    cr_task_group_free(g);
    tlog_add(&s->log, "parent:done");
    return 0;
}

/* cr_task_group_abort cancels the children, not the parent; wait() returns 0. */
Test(surface, taskgroup_abort_from_owner)
{
    struct abort_s s = {{{0}}};
    RUN_EXPECT(abort_main, &s, 0);
    LOG_EQ(&s.log, "child:cancelled child:cancelled parent:done");
    cr_assert_eq(cr_task_group_abort(NULL), -EINVAL);
}

/* ---- Runner ---- */

static int counter;

static int bump(void *arg, void **result)
{
    (void)arg;
    counter++;
    *result = IPTR(counter);
    return 0;
}

static int background(void *arg, void **result)
{
    (void)result;
    tlog *log = arg;
    int rc = cr_sleep(INFINITY);
    tlog_add(log, "background:%s", rc == -ECANCELED ? "cancelled" : "?");
    return rc;
}

static int start_background(void *arg, void **result)
{
    (void)result;
    cr_task *t = cr_create_task(background, arg);
    cr_future_unref(t); /* fire and forget: it outlives this run */
    return cr_sleep(0);
}

static int fails(void *arg, void **result)
{
    (void)arg, (void)result;
    return -EIO;
}

static int nested_run(void *arg, void **result)
{
    (void)result;
    return cr_runner_run(arg, bump, NULL, NULL);
}

/* A Runner runs several mains on one loop, keeps tasks between runs, and
 * cancels them at close. */
Test(surface, runner_several_runs_then_close)
{
    cr_runner *r;
    tlog log = {{0}};
    counter = 0;
    cr_assert_eq(cr_runner_new(&r, NULL), 0);
    cr_loop *l = cr_runner_get_loop(r);
    cr_assert_not_null(l);
    void *v;
    cr_assert_eq(cr_runner_run(r, bump, NULL, &v), 0);
    cr_assert_eq(PINT(v), 1);
    cr_assert_eq(cr_runner_run(r, start_background, &log, NULL), 0);
    cr_assert_eq(cr_runner_run(r, bump, NULL, &v), 0);
    cr_assert_eq(PINT(v), 2);
    cr_assert_eq(cr_runner_get_loop(r), l, "one loop for every run");
    cr_assert_eq(cr_runner_run(r, fails, NULL, NULL), -EIO);
    cr_assert_eq(cr_runner_run(r, nested_run, r, NULL), -EBUSY, "no run inside a run");
    cr_assert_eq(cr_runner_run(r, NULL, NULL, NULL), -EINVAL);
    cr_assert_str_eq(log.buf, "");
    cr_assert_eq(cr_runner_close(r), 0);
    LOG_EQ(&log, "background:cancelled");
    cr_assert_eq(cr_runner_close(NULL), 0);
}

/* ---- current_task(loop), ensure_future(loop=) ---- */

static int current_main(void *arg, void **result)
{
    (void)result;
    cr_loop *other = arg;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_assert_eq(cr_loop_current_task(l), cr_current_task());
    cr_assert_null(cr_loop_current_task(other), "another loop runs no task here");
    cr_assert_null(cr_loop_current_task(NULL));
    return 0;
}

static void check_in_callback(void *arg)
{
    int *seen = arg;
    *seen = cr_loop_current_task(cr_get_running_loop(NULL)) == NULL;
}

static int callback_main(void *arg, void **result)
{
    (void)result;
    cr_assert_eq(cr_call_soon(cr_get_running_loop(NULL), check_in_callback, arg, NULL), 0);
    return cr_sleep(0);
}

/* current_task(loop): the task running on loop; NULL in a callback or for a
 * loop not running here. */
Test(surface, current_task_of_a_loop)
{
    cr_loop *other;
    cr_assert_eq(cr_loop_new(&other, NULL), 0);
    RUN_EXPECT(current_main, other, 0);
    int seen = 0;
    RUN_EXPECT(callback_main, &seen, 0);
    cr_assert_eq(seen, 1);
    cr_assert_eq(cr_loop_free(other), 0);
}

/* ensure_future onto a loop that is not running: a task of that loop, or the
 * future itself; another loop's future is -EINVAL. */
Test(surface, ensure_future_onto_a_given_loop)
{
    cr_loop *l, *m;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_loop_new(&m, NULL), 0);
    counter = 0;
    cr_future *t, *f2, *same;
    cr_assert_eq(cr_loop_ensure_future(l, NULL, bump, NULL, &t), 0);
    cr_assert(cr_is_task(t));
    cr_assert_eq(cr_future_get_loop(t), l);
    void *v;
    cr_assert_eq(cr_loop_run_until_complete(l, t, &v), 0);
    cr_assert_eq(PINT(v), 1);
    cr_future *f = cr_future_new(l);
    cr_assert_eq(cr_loop_ensure_future(l, f, NULL, NULL, &same), 0);
    cr_assert_eq(same, f);
    cr_assert_eq(cr_loop_ensure_future(m, f, NULL, NULL, &f2), -EINVAL);
    cr_assert_null(f2);
    cr_assert_eq(cr_loop_ensure_future(l, f, bump, NULL, &f2), -EINVAL, "exactly one");
    cr_assert_eq(cr_loop_ensure_future(l, NULL, NULL, NULL, &f2), -EINVAL);
    cr_future_unref(same);
    cr_future_unref(f);
    cr_future_unref(t);
    cr_assert_eq(cr_loop_close(m), 0);
    cr_assert_eq(cr_loop_ensure_future(m, NULL, bump, NULL, &f2), -ESHUTDOWN);
    cr_assert_eq(cr_loop_free(m), 0);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- cancel(msg) ---- */

struct msg_s {
    char seen[64];
};

static int reads_its_message(void *arg, void **result)
{
    (void)result;
    struct msg_s *s = arg;
    int rc = cr_sleep(10);
    const char *m = cr_task_cancel_message(cr_current_task());
    snprintf(s->seen, sizeof s->seen, "%s:%s", rc == -ECANCELED ? "cancelled" : "?", m ? m : "(none)");
    return rc;
}

static int msg_main(void *arg, void **result)
{
    (void)result;
    struct msg_s *s = arg;
    cr_task *t = cr_create_task(reads_its_message, s);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_null(cr_task_cancel_message(t));
    cr_assert(cr_cancel_msg(t, "first"));
    cr_assert(cr_cancel_msg(t, "shutting down"), "the latest message wins");
    cr_assert_eq(cr_await(t, NULL), -ECANCELED);
    cr_assert_str_eq(cr_task_cancel_message(t), "shutting down");
    cr_assert_not(cr_cancel_msg(t, "late"), "done: nothing to cancel");
    cr_assert_str_eq(cr_task_cancel_message(t), "shutting down");
    cr_future *f = cr_future_new(NULL);
    cr_assert(cr_cancel_msg(f, "plain"));
    cr_assert_null(cr_task_cancel_message(f), "a plain future keeps no message");
    cr_future_unref(f);
    cr_future_unref(t);
    return 0;
}

/* cancel(msg): the cancelled task reads the message of the latest request. */
Test(surface, cancel_message_reaches_the_task)
{
    struct msg_s s = {{0}};
    RUN_EXPECT(msg_main, &s, 0);
    cr_assert_str_eq(s.seen, "cancelled:shutting down");
}

/* ---- the exception handler ---- */

struct exc_s {
    tlog log;
    cr_loop *loop;
};

static void record_exc(cr_loop *l, const cr_exception_context *c, void *arg)
{
    struct exc_s *s = arg;
    cr_assert_eq(l, s->loop);
    tlog_add(&s->log, "[%s|%d|%s|%s]", c->message, c->error, c->task_name ? c->task_name : "-",
             c->future ? "f" : "-");
}

static int fail_eio(void *arg, void **result)
{
    (void)arg, (void)result;
    return -EIO;
}

static int exc_main(void *arg, void **result)
{
    (void)result;
    struct exc_s *s = arg;
    cr_loop *l = cr_get_running_loop(NULL);
    s->loop = l;
    void *got;
    cr_assert_null(cr_loop_get_exception_handler(l, &got), "the default");
    cr_assert_eq(cr_loop_set_exception_handler(l, record_exc, s), 0);
    cr_assert_eq(cr_loop_get_exception_handler(l, &got), record_exc);
    cr_assert_eq(got, s);
    /* a task whose error nobody reads: reported when it goes */
    cr_task_opts o = {.name = "forgotten"};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, fail_eio, NULL, &o, &t), 0);
    cr_future_unref(t);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_eq(cr_sleep(0), 0);
    /* a plain future too (not only tasks, not only in debug mode) */
    cr_future *f = cr_future_new(NULL);
    cr_future_set_error(f, -ENOENT);
    cr_future_unref(f);
    /* read errors are not reported; nor are cancellations */
    f = cr_future_new(NULL);
    cr_future_set_error(f, -EBADF);
    cr_assert_eq(cr_future_exception(f), -EBADF);
    cr_future_unref(f);
    f = cr_future_new(NULL);
    cr_cancel(f);
    cr_future_unref(f);
    /* call_exception_handler reaches the handler as it is */
    cr_exception_context c = {.message = "custom", .error = -EPIPE};
    cr_assert_eq(cr_loop_call_exception_handler(l, &c), 0);
    cr_assert_eq(cr_loop_call_exception_handler(l, NULL), -EINVAL);
    cr_assert_eq(cr_loop_call_exception_handler(NULL, &c), -EINVAL);
    /* silenced */
    cr_assert_eq(cr_loop_set_exception_handler(l, cr_exception_ignore, NULL), 0);
    f = cr_future_new(NULL);
    cr_future_set_error(f, -EIO);
    cr_future_unref(f);
    cr_assert_eq(cr_loop_set_exception_handler(l, NULL, NULL), 0);
    cr_assert_null(cr_loop_get_exception_handler(l, NULL));
    return 0;
}

/* Errors nobody retrieved (tasks and plain futures, always) go to the loop's
 * exception handler; cr_exception_ignore silences them. */
Test(surface, exception_handler_sees_unretrieved_errors)
{
    struct exc_s s = {{{0}}, NULL};
    RUN_EXPECT(exc_main, &s, 0);
    LOG_EQF(&s.log,
            "[task 'forgotten' failed with %d (Input/output error) and nobody retrieved the "
            "error|%d|forgotten|f] [a future failed with %d (No such file or directory) and "
            "nobody retrieved the error|%d|-|f] [custom|%d|-|-]",
            -EIO, -EIO, -ENOENT, -ENOENT, -EPIPE);
}

static void debug_capture(const char *msg, void *arg) { tlog_add(arg, "%s", msg); }

/* The default handler writes one line through the debug handler, outside
 * debug mode too. */
Test(surface, default_exception_handler_reports_always)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    tlog log = {{0}};
    cr_assert_not(cr_loop_get_debug(l));
    cr_assert_eq(cr_loop_set_debug_handler(l, debug_capture, &log), 0);
    cr_future *f = cr_future_new(l);
    cr_future_set_error(f, -EIO);
    cr_future_unref(f);
    cr_exception_context c = {.message = "hello", .error = -EPIPE};
    cr_assert_eq(cr_loop_call_exception_handler(l, &c), 0);
    LOG_EQF(&log, "a future failed with %d (Input/output error) and nobody retrieved the error "
                  "hello: %d (Broken pipe)", -EIO, -EPIPE);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- task-local variables ---- */

static cr_context_var REQ = {"request", "none"};

struct ctx_s {
    tlog log;
    cr_future *go;
};

static int ctx_child(void *arg, void **result)
{
    (void)result;
    struct ctx_s *s = arg;
    tlog_add(&s->log, "child-start:%s", (char *)cr_context_var_get(&REQ));
    cr_assert_eq(cr_context_var_set(&REQ, "child", NULL), 0);
    cr_await(s->go, NULL); /* the parent sets its own meanwhile */
    tlog_add(&s->log, "child-end:%s", (char *)cr_context_var_get(&REQ));
    return 0;
}

static int ctx_main(void *arg, void **result)
{
    (void)result;
    struct ctx_s *s = arg;
    tlog_add(&s->log, "main:%s", (char *)cr_context_var_get(&REQ));
    void *old;
    cr_assert_eq(cr_context_var_set(&REQ, "r1", &old), 0);
    cr_assert_str_eq(old, "none");
    cr_task *c = cr_create_task(ctx_child, s); /* copies r1 */
    cr_assert_eq(cr_context_var_set(&REQ, "r2", &old), 0);
    cr_assert_str_eq(old, "r1");
    cr_assert_eq(cr_sleep(0), 0);
    cr_future_set_result(s->go, NULL);
    cr_assert_eq(cr_await(c, NULL), 0);
    tlog_add(&s->log, "main:%s", (char *)cr_context_var_get(&REQ));
    cr_assert_eq(cr_context_var_set(&REQ, old, NULL), 0); /* reset */
    tlog_add(&s->log, "main:%s", (char *)cr_context_var_get(&REQ));
    cr_future_unref(c);
    return 0;
}

/* A task starts with a copy of its creator's variables; sets stay local. */
Test(surface, task_local_variables_inherited_by_copy)
{
    struct ctx_s s = {{{0}}, NULL};
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    s.go = cr_future_new(l);
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, ctx_main, &s, NULL, &t), 0);
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    LOG_EQ(&s.log, "main:none child-start:r1 child-end:child main:r2 main:r1");
    cr_assert_str_eq(cr_context_var_get(&REQ), "none", "outside a task: the default");
    cr_assert_eq(cr_context_var_set(&REQ, "x", NULL), -EPERM);
    cr_assert_eq(cr_context_var_set(NULL, "x", NULL), -EINVAL);
    cr_future_unref(t);
    cr_future_unref(s.go);
    cr_assert_eq(cr_loop_free(l), 0);
}

/* ---- eager start ---- */

static tlog ELOG;

static int eager_body(void *arg, void **result)
{
    tlog_add(&ELOG, "%s:1", (char *)arg);
    int rc = cr_sleep(0);
    tlog_add(&ELOG, "%s:2", (char *)arg);
    *result = arg;
    return rc;
}

static int never_suspends(void *arg, void **result)
{
    (void)arg;
    tlog_add(&ELOG, "quick");
    *result = IPTR(42);
    return 0;
}

static int nests(void *arg, void **result)
{
    (void)arg, (void)result;
    tlog_add(&ELOG, "outer:1");
    cr_task_opts o = {.eager = true};
    cr_task *inner;
    cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), eager_body, "inner", &o, &inner), 0);
    tlog_add(&ELOG, "outer:2");
    int rc = cr_await(inner, NULL);
    cr_future_unref(inner);
    return rc;
}

static void eager_from_callback(void *arg)
{
    cr_task **out = arg;
    cr_task_opts o = {.eager = true};
    cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), eager_body, "cb", &o, out), 0);
    tlog_add(&ELOG, "callback-returns");
}

static int eager_main(void *arg, void **result)
{
    (void)arg, (void)result;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_task_opts eager = {.eager = true};
    cr_task *t, *lazy, *q, *n, *c = NULL;
    /* from a task: the body runs inside the create call, up to its first await */
    cr_assert_eq(cr_loop_create_task(l, eager_body, "e", &eager, &t), 0);
    tlog_add(&ELOG, "created-e");
    cr_assert_eq(cr_loop_create_task(l, eager_body, "lazy", NULL, &lazy), 0);
    tlog_add(&ELOG, "created-lazy");
    void *v;
    cr_assert_eq(cr_await(t, &v), 0);
    cr_assert_str_eq(v, "e");
    cr_assert_eq(cr_await(lazy, NULL), 0);
    /* a body that never suspends is done when the call returns */
    cr_assert_eq(cr_loop_create_task(l, never_suspends, NULL, &eager, &q), 0);
    cr_assert(cr_future_done(q), "finished without being scheduled");
    cr_assert_eq(cr_future_result(q, &v), 0);
    cr_assert_eq(PINT(v), 42);
    /* nested: an eager task that starts another eagerly */
    cr_assert_eq(cr_loop_create_task(l, nests, NULL, &eager, &n), 0);
    tlog_add(&ELOG, "created-outer");
    cr_assert_eq(cr_await(n, NULL), 0);
    /* from a callback */
    cr_assert_eq(cr_call_soon(l, eager_from_callback, &c, NULL), 0);
    cr_assert_eq(cr_sleep(0), 0);
    cr_assert_not_null(c);
    cr_assert_eq(cr_await(c, NULL), 0);
    cr_future_unref(t);
    cr_future_unref(lazy);
    cr_future_unref(q);
    cr_future_unref(n);
    cr_future_unref(c);
    return 0;
}

/* Eager start (asyncio 3.12): the body runs at once up to its first await,
 * from a task, nested, or from a callback; a body that never suspends is done
 * before create returns. */
Test(surface, eager_task_start)
{
    memset(&ELOG, 0, sizeof ELOG);
    RUN_EXPECT(eager_main, NULL, 0);
    LOG_EQ(&ELOG, "e:1 created-e created-lazy e:2 lazy:1 lazy:2 quick "
                  "outer:1 inner:1 outer:2 created-outer inner:2 "
                  "cb:1 callback-returns cb:2");
}

/* On a loop that is not running, an eager task starts as usual, at the next turn. */
Test(surface, eager_on_idle_loop_starts_as_usual)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    memset(&ELOG, 0, sizeof ELOG);
    cr_task_opts o = {.eager = true};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, never_suspends, NULL, &o, &t), 0);
    cr_assert_not(cr_future_done(t));
    LOG_EQ(&ELOG, "");
    cr_assert_eq(cr_loop_run_until_complete(l, t, NULL), 0);
    LOG_EQ(&ELOG, "quick");
    cr_future_unref(t);
    cr_assert_eq(cr_loop_free(l), 0);
}
