/* SPDX-License-Identifier: MIT */
/*
 * loopgroup.c — one loop per core: N threads, each with its own loop and
 * ring, started together and stopped together.
 *
 * Owns: struct cr_loop_group and its threads. Each thread creates, runs,
 * closes and frees its own loop (a loop belongs to one thread); the group
 * only talks to the loops through their thread-safe door (xthread.c).
 *
 * Invariant: a loop is held (cr_loop_hold) from its creation until
 * cr_loop_group_stop, so an idle loop waits for foreign submissions.
 *
 * Threads: start/stop from any thread that is not one of the group's.
 */
#include "core/cpus.h"
#include "core/systhread.h"
#include "core/internal.h"
#include <stdlib.h>
#include <unistd.h>

struct member {
    struct cr_loop_group *g;
    pthread_t th;
    cr_loop *loop;
    int rc;
    bool started;
};

struct cr_loop_group {
    unsigned n;
    cr_task_fn main;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned ready; /* members whose loop exists (or failed), under mu */
    struct member *m;
};

/* The task cancellation asyncio.run does at exit, for a loop we own. */
static void cancel_leftovers(cr_loop *l)
{
    for (;;) {
        size_t n = cr_all_tasks(l, NULL, 0);
        if (!n)
            return;
        cr_task **ts = malloc(n * sizeof *ts);
        if (!ts)
            return; /* close will finish them as cancelled */
        n = cr_all_tasks(l, ts, n);
        for (size_t i = 0; i < n; i++)
            cr_future_ref(ts[i]);
        for (size_t i = 0; i < n; i++)
            cr_cancel(ts[i]);
        for (size_t i = 0; i < n; i++) {
            cr_loop_run_until_complete(l, ts[i], NULL);
            cr_future_unref(ts[i]);
        }
        free(ts);
    }
}

static void *member_main(void *p)
{
    struct member *m = p;
    struct cr_loop_group *g = m->g;
    cr_loop *l = NULL;
    int rc = cr_loop_new(&l, NULL);
    if (rc == 0) {
        cr_set_event_loop(l);
        cr_loop_hold(l);
        cr_task *t;
        if ((rc = cr_loop_create_task(l, g->main, g->arg, NULL, &t)) == 0)
            cr_future_unref(t);
    }
    pthread_mutex_lock(&g->mu);
    m->loop = rc == 0 ? l : NULL;
    m->rc = rc;
    g->ready++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (rc < 0) {
        cr_loop_free(l);
        return NULL;
    }
    m->rc = cr_loop_run_forever(l);
    cancel_leftovers(l);
    cr_set_event_loop(NULL);
    cr_loop_free(l);
    return NULL;
}

unsigned cr_loop_group_size(const cr_loop_group *g) { return g ? g->n : 0; }

cr_loop *cr_loop_group_loop(const cr_loop_group *g, unsigned i)
{
    return g && i < g->n ? g->m[i].loop : NULL;
}

static void stop_member(struct member *m)
{
    if (m->loop) {
        cr_loop_stop_threadsafe(m->loop);
        cr_loop_unhold(m->loop);
    }
}

int cr_loop_group_stop(cr_loop_group *g)
{
    if (!g)
        return -EINVAL;
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].started)
            stop_member(&g->m[i]);
    int rc = 0;
    for (unsigned i = 0; i < g->n; i++) {
        if (!g->m[i].started)
            continue;
        pthread_join(g->m[i].th, NULL);
        if (rc == 0 && g->m[i].rc < 0)
            rc = g->m[i].rc;
    }
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g->m);
    free(g);
    return rc;
}

int cr_loop_group_start(cr_loop_group **out, unsigned n, cr_task_fn main, void *arg)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!main || n > 4096)
        return -EINVAL;
    if (!n)
        n = cr__usable_cpus();
    cr_loop_group *g = calloc(1, sizeof *g);
    if (!g || !(g->m = calloc(n, sizeof *g->m))) {
        free(g);
        return -ENOMEM;
    }
    g->n = n;
    g->main = main;
    g->arg = arg;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    unsigned started = 0;
    int rc = 0;
    for (unsigned i = 0; i < n; i++) {
        g->m[i].g = g;
        if ((rc = cr__thread_start(&g->m[i].th, NULL, member_main, &g->m[i])) < 0)
            break;
        g->m[i].started = true;
        started++;
    }
    pthread_mutex_lock(&g->mu);
    while (g->ready < started)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    for (unsigned i = 0; i < started && rc == 0; i++)
        if (g->m[i].rc < 0)
            rc = g->m[i].rc;
    if (rc < 0) {
        cr_loop_group_stop(g);
        return rc;
    }
    *out = g;
    return 0;
}
