/*
 * debug.c — asyncio's debug mode and introspection: slow-task warnings,
 * failures nobody retrieved, cr_dump_tasks, per-loop counters.
 *
 * Owns: the loop's debug settings (debug, slow_ns, debug_fn/arg in cr_loop).
 * The core calls in through three cheap hooks: cr__debug_init (cr_loop_new),
 * cr__debug_slow (task.c, only when l->dbg.debug), cr__debug_unretrieved
 * (future.c, when a task is freed). Messages go to the debug handler, one
 * line each, never from inside a task switch that could re-enter the loop.
 *
 * Loop thread only.
 */
#include "core/internal.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SLOW_NS (100 * 1000 * 1000)

void cr__debug_init(cr_loop *l, const cr_loop_opts *opts)
{
    const char *env = getenv("CORING_DEBUG");
    l->dbg.debug = (opts && (opts->flags & CR_LOOP_DEBUG)) || (env && strcmp(env, "1") == 0);
    l->dbg.slow_ns = DEFAULT_SLOW_NS;
}

void cr__debug_log(cr_loop *l, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (l->dbg.debug_fn)
        l->dbg.debug_fn(msg, l->dbg.debug_arg);
    else
        fprintf(stderr, "coring: %s\n", msg);
}

void cr__debug_slow(cr_loop *l, cr__task *t, int64_t ran_ns)
{
    if (ran_ns > l->dbg.slow_ns)
        cr__debug_log(l, "task '%s' blocked the loop for %.1f ms (slow threshold %.1f ms)",
                      cr_task_get_name(&t->f), (double)ran_ns / 1e6, (double)l->dbg.slow_ns / 1e6);
}

void cr__debug_unretrieved(cr_future *f)
{
    cr_loop *l = f->loop;
    if (!l || !l->dbg.debug || !f->is_task || f->retrieved || f->state != CR__DONE || f->err >= 0)
        return;
    cr__debug_log(l, "task '%s' failed with %d (%s) and nobody retrieved the error",
                  cr_task_get_name(f), f->err, cr_strerror(f->err));
}

static int owner_ok(cr_loop *l)
{
    if (!l)
        return -EINVAL;
    if (l->has_owner && !pthread_equal(l->owner, pthread_self()))
        return -EPERM;
    return 0;
}

int cr_loop_set_debug(cr_loop *l, bool on)
{
    int rc = owner_ok(l);
    if (rc == 0)
        l->dbg.debug = on;
    return rc;
}

bool cr_loop_get_debug(const cr_loop *l) { return l && l->dbg.debug; }

int cr_loop_set_slow_callback_duration(cr_loop *l, double seconds)
{
    int rc = owner_ok(l);
    if (rc < 0)
        return rc;
    if (seconds < 0)
        return -EINVAL;
    l->dbg.slow_ns = cr__secs_to_ns(seconds);
    return 0;
}

int cr_loop_set_debug_handler(cr_loop *l, cr_debug_fn fn, void *arg)
{
    int rc = owner_ok(l);
    if (rc == 0) {
        l->dbg.debug_fn = fn;
        l->dbg.debug_arg = arg;
    }
    return rc;
}

static const char *state_name(const cr__task *t)
{
    switch (t->state) {
    case CR__T_CREATED: return "created";
    case CR__T_READY: return "ready";
    case CR__T_RUNNING: return "running";
    case CR__T_PARKED: return "waiting";
    default: return "done";
    }
}

int cr_dump_tasks(cr_loop *l, FILE *out)
{
    if (!l)
        l = cr__tls_running;
    int rc = owner_ok(l);
    if (rc < 0)
        return rc;
    if (!out)
        return -EINVAL;
    CR__LIST_FOR_EACH(p, &l->futures) {
        cr_future *f = CR_CONTAINER_OF(p, cr_future, all);
        if (!f->is_task || f->state != CR__PENDING)
            continue;
        cr__task *t = cr__as_task(f);
        fprintf(out, "%s %s", cr_task_get_name(f), state_name(t));
        if (t->state == CR__T_PARKED)
            fprintf(out, " on %s", t->waiting_on ? t->waiting_on : "?");
        if (t->cancelling)
            fprintf(out, " (cancelling %d)", t->cancelling);
        fputc('\n', out);
    }
    return 0;
}

int cr_loop_stats(cr_loop *l, struct cr_loop_stats *out)
{
    int rc = owner_ok(l);
    if (rc < 0)
        return rc;
    if (!out)
        return -EINVAL;
    const cr__stats *s = &l->stats;
    *out = (struct cr_loop_stats){
        .tasks_created = s->tasks_created,
        .tasks_finished = s->tasks_finished,
        .switches = s->switches,
        .sqes = l->be.stats.submitted,
        .cqes = l->be.stats.completions,
        .enters = l->be.stats.enters,
        .iterations = s->iterations,
        .cq_overflows = l->be.stats.overflows,
        .enobufs = s->enobufs,
    };
    return 0;
}
