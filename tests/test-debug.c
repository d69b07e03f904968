/* SPDX-License-Identifier: MIT */
/*
 * Description: debug mode and introspection — slow-task warnings naming the
 * task, failures nobody retrieved, CORING_DEBUG=1, cr_dump_tasks, the loop
 * counters, and -EPERM for calls from a thread that does not own the loop.
 */
#include "helpers.h"
#include <pthread.h>
#include <stdlib.h>

static tlog MSGS;

static void capture(const char *msg, void *arg)
{
    (void)arg;
    tlog_add(&MSGS, "[%s]", msg);
}

static cr_loop *debug_loop(void)
{
    cr_loop *l;
    cr_loop_opts o = {.flags = CR_LOOP_DEBUG};
    cr_assert_eq(cr_loop_new(&l, &o), 0);
    cr_assert(cr_loop_get_debug(l));
    cr_assert_eq(cr_loop_set_debug_handler(l, capture, NULL), 0);
    return l;
}

static int hog(void *arg, void **r)
{
    (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    int64_t t0 = cr_loop_time_ns(l);
    while (cr_loop_time_ns(l) - t0 < PINT(arg) * 1000000LL)
        ; /* blocks the loop on purpose */
    return 0;
}

static void run_task(cr_loop *l, cr_task_fn fn, void *arg, const char *name)
{
    cr_task_opts o = {.name = name};
    cr_task *t;
    cr_assert_eq(cr_loop_create_task(l, fn, arg, &o, &t), 0);
    cr_loop_run_until_complete(l, t, NULL);
    cr_future_unref(t);
}

/* A task that holds the loop past the threshold is reported by name. */
Test(debug, slow_task_is_named)
{
    cr_loop *l = debug_loop();
    /* 0.5 s: a quick task's first step (a stack, under TSan a fiber costing
     * milliseconds) stays far below it even on a slow, loaded machine. */
    cr_assert_eq(cr_loop_set_slow_callback_duration(l, 0.5), 0);
    cr_assert_eq(cr_loop_set_slow_callback_duration(l, -1), -EINVAL);
    run_task(l, hog, IPTR(0), "quick");
    LOG_EQ(&MSGS, "");
    run_task(l, hog, IPTR(600), "hog");
    cr_assert(strstr(MSGS.buf, "task 'hog' blocked the loop for"), "%s", MSGS.buf);
    cr_assert_eq(cr_loop_set_debug(l, false), 0);
    memset(&MSGS, 0, sizeof MSGS);
    run_task(l, hog, IPTR(600), "hog2");
    LOG_EQ(&MSGS, "");
    cr_loop_free(l);
}

static int fails(void *arg, void **r)
{
    (void)r;
    return PINT(arg);
}

static int spawner(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    cr_task *t;
    cr_task_opts o = {.name = "forgotten"};
    cr_loop_create_task(l, fails, IPTR(-EIO), &o, &t);
    cr_future_unref(t); /* fire and forget: nobody will read its error */
    o.name = "awaited";
    cr_loop_create_task(l, fails, IPTR(-ENOENT), &o, &t);
    cr_assert_eq(cr_await(t, NULL), -ENOENT);
    cr_future_unref(t);
    o.name = "cancelled";
    cr_loop_create_task(l, fails, IPTR(-ECANCELED), &o, &t);
    cr_future_unref(t);
    o.name = "gathered";
    cr_loop_create_task(l, fails, IPTR(-EBADF), &o, &t);
    int err;
    cr_gather(&t, 1, NULL, &err, CR_RETURN_EXCEPTIONS);
    cr_future_unref(t);
    return cr_sleep(0.001);
}

/* Only the failure nobody read is reported; cancellation is not a failure. */
Test(debug, unretrieved_failure_is_reported)
{
    cr_loop *l = debug_loop();
    /* Only failure reports are asked about here: a slow machine's slow-task
     * warning (default 100 ms) would name the other tasks too. */
    cr_assert_eq(cr_loop_set_slow_callback_duration(l, 100), 0);
    run_task(l, spawner, NULL, "main");
    cr_assert(strstr(MSGS.buf, "task 'forgotten' failed with -5"), "%s", MSGS.buf);
    cr_assert_null(strstr(MSGS.buf, "awaited"), "%s", MSGS.buf);
    cr_assert_null(strstr(MSGS.buf, "cancelled"), "%s", MSGS.buf);
    cr_assert_null(strstr(MSGS.buf, "gathered"), "%s", MSGS.buf);
    cr_loop_free(l);
}

/* CORING_DEBUG=1 turns debug mode on for new loops. */
Test(debug, env_variable_enables_debug)
{
    cr_loop *l;
    setenv("CORING_DEBUG", "1", 1);
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert(cr_loop_get_debug(l));
    cr_loop_free(l);
    setenv("CORING_DEBUG", "0", 1);
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_not(cr_loop_get_debug(l));
    cr_loop_free(l);
}

static cr_event *EV;
static cr_queue *Q;

static int waits_event(void *a, void **r) { (void)a, (void)r; return cr_event_wait(EV); }
static int waits_queue(void *a, void **r) { (void)a, (void)r; return cr_queue_get(Q, NULL); }
static int sleeps(void *a, void **r) { (void)a, (void)r; return cr_sleep(10); }

static int dump_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    EV = cr_event_new();
    cr_queue_new(&Q, NULL);
    cr_task *t[3];
    cr_task_opts o = {.name = "ev"};
    cr_loop_create_task(l, waits_event, NULL, &o, &t[0]);
    o.name = "q";
    cr_loop_create_task(l, waits_queue, NULL, &o, &t[1]);
    o.name = "zz";
    cr_loop_create_task(l, sleeps, NULL, &o, &t[2]);
    cr_sleep(0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(cr_dump_tasks(l, f), 0);
    fclose(f);
    cr_assert(strstr(buf, "ev waiting on event\n"), "%s", buf);
    cr_assert(strstr(buf, "q waiting on queue get\n"), "%s", buf);
    cr_assert(strstr(buf, "zz waiting on sleep\n"), "%s", buf);
    cr_assert(strstr(buf, "main running\n"), "%s", buf);
    free(buf);
    for (int i = 0; i < 3; i++) {
        cr_cancel(t[i]);
        cr_await(t[i], NULL);
        cr_future_unref(t[i]);
    }
    cr_event_free(EV);
    cr_queue_free(Q);
    return 0;
}

/* cr_dump_tasks lists each task with its state and what it waits on. */
Test(debug, dump_tasks_names_what_each_waits_on)
{
    RUN_EXPECT(dump_main, NULL, 0);
}

static int yields(void *a, void **r)
{
    (void)a, (void)r;
    for (int i = 0; i < 3; i++)
        cr_sleep(0);
    return 0;
}

struct th {
    cr_loop *l;
    int dump, stats, task, soon;
};

static void *from_other_thread(void *arg)
{
    struct th *x = arg;
    struct cr_loop_stats s;
    cr_task *t;
    x->dump = cr_dump_tasks(x->l, stderr);
    x->stats = cr_loop_stats(x->l, &s);
    x->task = cr_loop_create_task(x->l, yields, NULL, NULL, &t);
    x->soon = cr_call_soon(x->l, NULL, NULL, NULL);
    return NULL;
}

/* The counters add up; a foreign thread gets -EPERM from loop-only calls. */
Test(debug, stats_and_wrong_thread)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    run_task(l, yields, NULL, "y");
    struct cr_loop_stats s;
    cr_assert_eq(cr_loop_stats(l, &s), 0);
    cr_assert_eq(s.tasks_created, 1);
    cr_assert_eq(s.tasks_finished, 1);
    cr_assert_eq(s.switches, 4, "start + 3 yields");
    cr_assert_geq(s.iterations, 4);
    cr_assert_eq(s.cq_overflows, 0);
    cr_assert_eq(cr_loop_stats(NULL, &s), -EINVAL);
    cr_assert_eq(cr_loop_stats(l, NULL), -EINVAL);
    struct th x = {.l = l};
    pthread_t th;
    pthread_create(&th, NULL, from_other_thread, &x);
    pthread_join(th, NULL);
    cr_assert_eq(x.dump, -EPERM);
    cr_assert_eq(x.stats, -EPERM);
    cr_assert_eq(x.task, -EPERM);
    cr_assert_eq(x.soon, -EINVAL); /* NULL fn is checked first */
    cr_loop_free(l);
}

/* Lean tasks and lazy binding: debug mode names an object that binds its
 * functions lazily (this test binary is linked without -z now) once per
 * loop, at its first lean task; LD_BIND_NOW=1 silences it, as does a loop
 * not in debug mode. Sanitizer builds give lean tasks a 16 KiB guarded stack
 * instead, so there is nothing to warn about there. */
static int lean_body(void *a, void **r) { (void)a, (void)r; return cr_sleep(0); }

static int two_lean(void *a, void **r)
{
    (void)a, (void)r;
    cr_task_opts o = {.stack_class = CR_STACK_LEAN};
    cr_task *t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cr_loop_create_task(cr_get_running_loop(NULL), lean_body, NULL, &o, &t[i]), 0);
    int rc = cr_gather(t, 2, NULL, NULL, 0);
    for (int i = 0; i < 2; i++)
        cr_future_unref(t[i]);
    return rc;
}

static bool lean_is_lean(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
    return true;
#endif
}

Test(debug, lean_task_in_lazily_bound_program_is_named)
{
    unsetenv("LD_BIND_NOW");
    cr_loop *l = debug_loop();
    run_task(l, two_lean, NULL, "main");
    const char *hit = strstr(MSGS.buf, "binds functions lazily");
    if (!lean_is_lean()) {
        cr_assert_null(hit, "%s", MSGS.buf);
    } else {
        cr_assert(hit && strstr(MSGS.buf, "[lean tasks: the main program binds"), "%s", MSGS.buf);
        cr_assert_null(strstr(hit + 1, "binds functions lazily"), "once per loop: %s", MSGS.buf);
    }
    cr_loop_free(l);
}

Test(debug, lean_task_with_symbols_bound_at_load_says_nothing)
{
    setenv("LD_BIND_NOW", "1", 1); /* read once, at the first question */
    cr_loop *l = debug_loop();
    run_task(l, two_lean, NULL, "main");
    cr_assert_null(strstr(MSGS.buf, "lazily"), "%s", MSGS.buf);
    cr_loop_free(l);
}

Test(debug, lean_task_outside_debug_mode_says_nothing)
{
    unsetenv("LD_BIND_NOW");
    setenv("CORING_DEBUG", "0", 1);
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_loop_set_debug_handler(l, capture, NULL), 0);
    run_task(l, two_lean, NULL, "main");
    cr_assert_null(strstr(MSGS.buf, "lazily"), "%s", MSGS.buf);
    cr_loop_free(l);
}
