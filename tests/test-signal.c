/* SPDX-License-Identifier: MIT */
/*
 * Description: signal handlers through signalfd on the ring — a signal sent
 * to the process (from a task or another thread) while tasks sleep runs the
 * handler as a loop callback; removal restores the mask; bad arguments; a
 * handler added after the pool's threads exist (they block the signal; the
 * loop sleeps waiting for it); and cr_run's SIGINT: first cancels main, a
 * second stops at once.
 */
#include "helpers.h"
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

static tlog LOG;
static cr_event *EV;

/* Each test starts from the default dispositions: a shell that runs the
 * suite in the background (`bash .ci/run &`, nohup, some CI runners) hands
 * it SIGINT and SIGQUIT ignored, an ignored signal is discarded even while
 * blocked for a signalfd, and cr_run rightly leaves an ignored SIGINT alone
 * (asyncio does the same) — the SIGINT tests would then wait forever. */
static void default_dispositions(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

TestSuite(signal, .init = default_dispositions);

static void on_signal(int sig, void *arg)
{
    tlog_add(&LOG, "sig%d:%s", sig, (const char *)arg);
    cr_event_set(EV);
}

static int sleeper(void *arg, void **r)
{
    (void)r;
    int rc = cr_sleep(PINT(arg) / 1000.0);
    tlog_add(&LOG, "slept%d:%d", PINT(arg), rc);
    return rc;
}

static bool blocked(int sig)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

static int from_task_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    EV = cr_event_new();
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, on_signal, "usr1"), 0);
    cr_assert(blocked(SIGUSR1));
    /* 0.5 s and 0.6 s: far longer than delivering one signal takes, even under TSan */
    cr_task *s[2] = {cr_create_task(sleeper, IPTR(500)), cr_create_task(sleeper, IPTR(600))};
    cr_sleep(0); /* exact: both sleep now */
    kill(getpid(), SIGUSR1);
    tlog_add(&LOG, "sent");
    cr_assert_eq(cr_event_wait(EV), 0);
    tlog_add(&LOG, "woke");
    cr_gather(s, 2, NULL, NULL, 0);
    cr_future_unref(s[0]);
    cr_future_unref(s[1]);
    cr_assert_eq(cr_remove_signal_handler(l, SIGUSR1), 0);
    cr_assert_not(blocked(SIGUSR1), "the mask is restored");
    cr_assert_eq(cr_remove_signal_handler(l, SIGUSR1), -ENOENT);
    cr_event_free(EV);
    return 0;
}

/* A signal raised while tasks sleep runs the handler from the loop; the
 * sleepers are not disturbed. */
Test(signal, handler_runs_from_the_loop_while_tasks_sleep)
{
    RUN_EXPECT(from_task_main, NULL, 0);
    LOG_EQ(&LOG, "sent sig10:usr1 woke slept500:0 slept600:0");
}

static void *thread_kill(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR2);
    return NULL;
}

static int from_thread_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    EV = cr_event_new();
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR2, on_signal, "first"), 0);
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR2, on_signal, "usr2"), 0, "replaces");
    pthread_t th; /* created after the handler: inherits the blocked mask */
    pthread_create(&th, NULL, thread_kill, NULL);
    int rc = cr_event_wait(EV);
    pthread_join(th, NULL);
    cr_event_free(EV);
    return rc;
}

/* A signal sent by another thread reaches the handler. */
Test(signal, signal_from_another_thread)
{
    RUN_EXPECT(from_thread_main, NULL, 0);
    LOG_EQ(&LOG, "sig12:usr2");
    cr_assert_not(blocked(SIGUSR2), "closing the loop restores the mask");
}

static int noop_job(void *arg, void **r)
{
    (void)arg, (void)r;
    return 0;
}

/* Waits ~100 ms, then signals the process: late enough that a loop with
 * nothing else to do has gone to sleep (or, wrongly, spun) meanwhile. The
 * delay paces the stimulus; nothing below depends on it being long enough. */
static void *late_kill(void *arg)
{
    struct timespec d = {0, 100 * 1000 * 1000};
    nanosleep(&d, NULL);
    kill(getpid(), PINT(arg));
    return NULL;
}

static int after_pool_main(void *arg, void **r)
{
    (void)arg, (void)r;
    cr_loop *l = cr_get_running_loop(NULL);
    /* The pool's workers (and the loop's cross-thread inbox) exist before
     * the handler blocks SIGUSR1 here. */
    cr_assert_eq(cr_to_thread(noop_job, NULL, NULL), 0);
    EV = cr_event_new();
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, on_signal, "usr1"), 0);
    for (int i = 0; i < 3; i++) { /* each would end the process, had a worker taken it */
        kill(getpid(), SIGUSR1);
        cr_assert_eq(cr_event_wait(EV), 0);
        cr_event_clear(EV);
    }
    /* Now nothing but the watched signal keeps the loop up: it sleeps. */
    struct cr_loop_stats before, after;
    cr_loop_stats(l, &before);
    pthread_t th;
    pthread_create(&th, NULL, late_kill, IPTR(SIGUSR1));
    cr_assert_eq(cr_event_wait(EV), 0);
    cr_loop_stats(l, &after);
    pthread_join(th, NULL);
    cr_assert_lt(after.iterations - before.iterations, 50, "%llu loop turns while waiting (asleep: a few)",
                 (unsigned long long)(after.iterations - before.iterations));
    cr_assert_eq(cr_remove_signal_handler(l, SIGUSR1), 0);
    cr_event_free(EV);
    return 0;
}

/* A handler added after the thread pool started gets the process's signals
 * (the workers block them: one that did not would take the signal and die
 * of it), and a loop that then waits only for a signal sleeps until it
 * comes (it used to spin, and on io_uring never saw the signal at all). */
Test(signal, handler_added_after_the_pool_started, HANG_GUARD(20))
{
    RUN_EXPECT(after_pool_main, NULL, 0);
    LOG_EQ(&LOG, "sig10:usr1 sig10:usr1 sig10:usr1 sig10:usr1");
}

static void nop(int sig, void *arg) { (void)sig, (void)arg; }

/* Bad signals and NULL handlers are -EINVAL; a closed loop -ESHUTDOWN;
 * after the last handler goes, an idle loop can end again. */
Test(signal, errors_and_idle_loop_after_remove)
{
    cr_loop *l;
    cr_assert_eq(cr_loop_new(&l, NULL), 0);
    cr_assert_eq(cr_add_signal_handler(l, SIGKILL, nop, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(l, SIGSTOP, nop, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(l, 0, nop, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(l, 1000, nop, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, NULL, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(NULL, SIGUSR1, nop, NULL), -EINVAL);
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, nop, NULL), 0);
    cr_assert_eq(cr_remove_signal_handler(l, SIGUSR1), 0);
    cr_assert_eq(cr_loop_run_forever(l), 0, "no watch left: nothing can happen, returns");
    cr_loop_close(l);
    cr_assert_eq(cr_add_signal_handler(l, SIGUSR1, nop, NULL), -ESHUTDOWN);
    cr_loop_free(l);
}

static int sigint_once(void *arg, void **r)
{
    (void)arg, (void)r;
    kill(getpid(), SIGINT);
    int rc = cr_sleep(10);
    tlog_add(&LOG, "main:%d", rc);
    return rc;
}

/* cr_run: the first SIGINT cancels main; cr_run reports -EINTR. */
Test(signal, first_sigint_cancels_main)
{
    RUN_EXPECT(sigint_once, NULL, -EINTR);
    LOG_EQ(&LOG, "main:-125");
    cr_assert_not(blocked(SIGINT));
}

/* The same with the pool's threads made before cr_run watches SIGINT (a
 * program that sized its executor first): Ctrl-C still cancels main. They
 * used to take SIGINT at its default action, and the process died of it. */
Test(signal, first_sigint_cancels_main_with_a_pool_made_before)
{
    cr_pool *p;
    cr_assert_eq(cr_pool_new(&p, NULL), 0);
    RUN_EXPECT(sigint_once, NULL, -EINTR);
    LOG_EQ(&LOG, "main:-125");
    cr_assert_eq(cr_pool_free(p), 0);
}

static int stubborn(void *arg, void **r)
{
    (void)arg, (void)r;
    kill(getpid(), SIGINT);
    for (;;) {
        int rc = cr_sleep(10);
        tlog_add(&LOG, "main:%d", rc);
        if (rc == -ECANCELED)
            kill(getpid(), SIGINT); /* ignores the cancel; a second SIGINT */
    }
    return 0;
}

/* A second SIGINT stops the loop at once, even if main ignores its cancel. */
Test(signal, second_sigint_stops_at_once)
{
    RUN_EXPECT(stubborn, NULL, -EINTR);
    LOG_EQ(&LOG, "main:-125");
    cr_assert_not(blocked(SIGINT));
}

static int quick(void *arg, void **r)
{
    (void)arg, (void)r;
    return cr_sleep(0);
}

/* Without SIGINT, cr_run behaves as before and leaves SIGINT alone. */
Test(signal, cr_run_without_sigint_is_unchanged)
{
    RUN_EXPECT(quick, NULL, 0);
    cr_assert_not(blocked(SIGINT));
}

static int own_sigint(void *arg, void **r)
{
    (void)arg, (void)r;
    EV = cr_event_new();
    cr_add_signal_handler(cr_get_running_loop(NULL), SIGINT, on_signal, "mine");
    kill(getpid(), SIGINT);
    int rc = cr_event_wait(EV);
    cr_event_free(EV);
    return rc;
}

/* A SIGINT handler of the program's own replaces cr_run's behaviour. */
Test(signal, own_sigint_handler_wins)
{
    RUN_EXPECT(own_sigint, NULL, 0);
    LOG_EQ(&LOG, "sig2:mine");
    cr_assert_not(blocked(SIGINT));
}
