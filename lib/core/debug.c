/* SPDX-License-Identifier: MIT */
/*
 * debug.c — asyncio's debug mode: its settings, the one place its messages
 * go (cr__debug_log: the user's handler or stderr, one line each), and the
 * loop's counters (cr_loop_stats).
 *
 * Owns: the loop's debug sub-struct (l->dbg). The reports themselves are made
 * where the facts are: slow tasks in task.c, failures nobody retrieved in
 * future.c, cr_dump_tasks in task.c. This file knows no task.
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

void cr__debug_lean_binding(cr_loop *l)
{
    if (!l->dbg.debug || l->dbg.lean_bind_told)
        return;
    l->dbg.lean_bind_told = true;
    const char *who = cr__lazy_bound_object();
    if (who)
        cr__debug_log(l,
                      "lean tasks: %s binds functions lazily; the first call of each through "
                      "its PLT needs more stack than a lean task has (link with -Wl,-z,now or "
                      "run with LD_BIND_NOW=1; docs/memory.md)",
                      who);
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

/* ---- the exception handler (asyncio's loop.set_exception_handler) ---- */

void cr_loop_default_exception_handler(cr_loop *l, const cr_exception_context *c, void *arg)
{
    (void)arg;
    if (!l || !c || !c->message)
        return;
    if (c->error)
        cr__debug_log(l, "%s: %d (%s)", c->message, c->error, cr_strerror(c->error));
    else
        cr__debug_log(l, "%s", c->message);
}

void cr_exception_ignore(cr_loop *l, const cr_exception_context *c, void *arg)
{
    (void)l, (void)c, (void)arg;
}

int cr_loop_set_exception_handler(cr_loop *l, cr_exception_handler fn, void *arg)
{
    int rc = cr__loop_owner_ok(l);
    if (rc < 0)
        return rc;
    l->dbg.exc_fn = fn;
    l->dbg.exc_arg = fn ? arg : NULL;
    return 0;
}

cr_exception_handler cr_loop_get_exception_handler(const cr_loop *l, void **arg)
{
    if (arg)
        *arg = l ? l->dbg.exc_arg : NULL;
    return l ? l->dbg.exc_fn : NULL;
}

int cr_loop_call_exception_handler(cr_loop *l, const cr_exception_context *c)
{
    int rc = cr__loop_owner_ok(l);
    if (rc < 0)
        return rc;
    if (!c || !c->message)
        return -EINVAL;
    if (l->dbg.exc_fn)
        l->dbg.exc_fn(l, c, l->dbg.exc_arg);
    else
        cr_loop_default_exception_handler(l, c, NULL);
    return 0;
}

int cr__loop_owner_ok(cr_loop *l)
{
    if (!l)
        return -EINVAL;
    if (l->has_owner && !pthread_equal(l->owner, pthread_self()))
        return -EPERM;
    return 0;
}

int cr_loop_set_debug(cr_loop *l, bool on)
{
    int rc = cr__loop_owner_ok(l);
    if (rc == 0)
        l->dbg.debug = on;
    return rc;
}

bool cr_loop_get_debug(const cr_loop *l) { return l && l->dbg.debug; }

int cr_loop_set_slow_callback_duration(cr_loop *l, double seconds)
{
    int rc = cr__loop_owner_ok(l);
    if (rc < 0)
        return rc;
    if (!(seconds >= 0))
        return -EINVAL; /* negative or NaN */
    l->dbg.slow_ns = cr__secs_to_ns(seconds);
    return 0;
}

int cr_loop_set_debug_handler(cr_loop *l, cr_debug_fn fn, void *arg)
{
    int rc = cr__loop_owner_ok(l);
    if (rc == 0) {
        l->dbg.debug_fn = fn;
        l->dbg.debug_arg = arg;
    }
    return rc;
}

int cr_loop_stats(cr_loop *l, struct cr_loop_stats *out)
{
    int rc = cr__loop_owner_ok(l);
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
